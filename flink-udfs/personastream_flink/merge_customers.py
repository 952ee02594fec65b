"""Job ``merge_customers``: the operational database's customers and orders, as change data
capture streams them (Debezium envelopes on ``topic_cdc_customers`` / ``topic_cdc_orders``),
merged into the pipeline's customer tables.

No Python at run time, as ``land_events``: the change topics read in SQL, routed by ``op``:

- a customer read, inserted or updated: its account's attributes into the ``crm_*`` and
  ``marketing_consent`` columns of its profile (``profiles`` layout 3; rows of older layouts
  read those as null), the API's consent check reads them;
- an order read, inserted or updated: the order into its customer's purchase history
  (``orders_by_user``);
- a customer deleted: erased as ``DELETE /v1/users/{key}`` erases it: an erasure request
  (``source`` "cdc") on ``topic_user_erasures`` (the jobs clear their state of the customer),
  its rows deleted from every table keyed by customer, a tombstone of its live profile.

Ordering. Upserts are written with the change's commit time as their Cassandra timestamp
(``USING TIMESTAMP``), deletes with the time they run: the sinks run concurrently, and an
upsert of a change committed before the delete is shadowed by the delete in whichever order
the two reach Cassandra. The flip side: an account deleted and created again with the same id
within the job's lag keeps its new attributes only from its next change. As with the API's
erase, the request, the deletes and the tombstone are not ordered with each other nor with
the other jobs' writes: a job that writes a row of the customer before it reads the request
(about a second) leaves that row. An order deleted on its own (not through its customer) is
not removed from the history: its delete carries only the order id (default replica identity).

Submit with ``personastream jobs submit merge_customers``.
"""
from __future__ import annotations

from pyflink.common import Types
from pyflink.datastream import StreamExecutionEnvironment
from pyflink.table import StreamTableEnvironment

from personastream_contracts.cassandra import insert_statement
from personastream_contracts.identity import user_key_sql
from personastream_contracts.tables import user_tables
from personastream_flink import job_args, sql_template
from personastream_flink.rows import Output

JOB_NAME = "merge_customers"
ATTRIBUTES = Output("profiles", JOB_NAME)
ORDERS = Output("orders_by_user", JOB_NAME)
#: The erasure request's source (personastream_contracts.erasures.SOURCES).
ERASURE_SOURCE = "cdc"
#: The extra last field of an upserted row: the change's commit time (µs), its write time.
WRITTEN_AT = "written_at_us"


def job_arguments(settings, jars: list, job_name: str = JOB_NAME) -> list[str]:
    return [*job_args.arguments(settings, jars, job_name),
            "--customers-topic", settings.topic_cdc_customers,
            "--orders-topic", settings.topic_cdc_orders,
            "--live-profiles-topic", settings.topic_live_profiles]


def parse_args(argv: list[str]):
    p = job_args.parser(JOB_NAME, __doc__)
    p.add_argument("--customers-topic", required=True, help="changes of the customers table")
    p.add_argument("--orders-topic", required=True, help="changes of the orders table")
    p.add_argument("--live-profiles-topic", required=True,
                   help="live profiles (a deleted customer's gets a tombstone)")
    return p.parse_args(argv)


def upsert_statement(keyspace: str, output: Output) -> str:
    """The upsert of ``output``'s columns written at the row's last field (µs).

    >>> upsert_statement("ks", ORDERS)  # doctest: +NORMALIZE_WHITESPACE
    'INSERT INTO ks.orders_by_user (user_key, order_id, status, n_items, total, currency,
     placed_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) USING TIMESTAMP ?'
    """
    return f"{insert_statement(f'{keyspace}.{output.table_name}', output.columns)} " \
           "USING TIMESTAMP ?"


def delete_statements(keyspace: str) -> dict[str, str]:
    """Per table keyed by customer, the delete of a customer's rows.

    >>> delete_statements("ks")["profiles"]
    'DELETE FROM ks.profiles WHERE user_key = ?'
    """
    return {t.name: f"DELETE FROM {keyspace}.{t.name} WHERE user_key = ?" for t in user_tables()}


def _upserts(t_env: StreamTableEnvironment, table, output: Output):
    """``table``'s rows (``output``'s columns, then :data:`WRITTEN_AT`) as a stream of named
    rows of their types."""
    names = [*output.columns, WRITTEN_AT]
    if table.get_schema().get_field_names() != names:
        raise ValueError(f"the query of {output.table_name} selects "
                         f"{table.get_schema().get_field_names()}, expected {names}")
    return t_env.to_append_stream(table, Types.ROW_NAMED(
        names, [*output.row_type.get_field_types(), Types.LONG()]))


#: How the change tables read Debezium's JSON (``personastream_stack.cdc``: no inline schemas,
#: timestamps ISO-8601 in UTC); a field a change lacks (a delete's ``after``) is null, a record
#: that is not JSON fails the job.
CHANGE_FORMAT = {"format": "json", "json.timestamp-format.standard": "ISO-8601",
                 "json.fail-on-missing-field": "false", "json.ignore-parse-errors": "false"}


def build(env: StreamExecutionEnvironment, args, io) -> None:
    """Declare sources, queries and sinks on ``env``, reading and writing through ``io``."""
    t_env = StreamTableEnvironment.create(env)
    t_env.get_config().set("table.local-time-zone", "UTC")
    for source, topic in (("cdc_customers", args.customers_topic),
                          ("cdc_orders", args.orders_topic)):
        t_env.execute_sql(sql_template.render(f"{source}_source", fragments={
            "options": sql_template.options({**io.changes_options(topic), **CHANGE_FORMAT})}))
    # the customer changes read once, shared by the queries below (a query per sink would
    # each start a source of its own on the same consumer group)
    t_env.create_temporary_view("customer_changes", t_env.from_data_stream(
        t_env.to_data_stream(t_env.from_path("cdc_customers"))))
    after_key = user_key_sql("`after`.`account_id`", "CAST(NULL AS STRING)")

    attributes = _upserts(t_env, t_env.sql_query(sql_template.render(
        "customer_attributes", fragments={"user_key": after_key})), ATTRIBUTES)
    # stream: Row(user_key, crm_tier, ..., crm_updated_at, written_at_us), one per change
    io.execute_rows(attributes, upsert_statement(args.keyspace, ATTRIBUTES),
                    "cassandra_profiles_attributes")

    orders = _upserts(t_env, t_env.sql_query(sql_template.render(
        "orders_by_user", fragments={"user_key": after_key})), ORDERS)
    # stream: Row(user_key, order_id, status, ..., updated_at, written_at_us), one per change
    io.execute_rows(orders, upsert_statement(args.keyspace, ORDERS), "cassandra_orders_by_user")

    t_env.create_temporary_view("customer_deletes", t_env.sql_query(sql_template.render(
        "customer_deletes", fragments={"user_key": user_key_sql(
            "`before`.`account_id`", "CAST(NULL AS STRING)")})))
    # table: (user_key, deleted_at_ms), one per deleted customer
    io.publish_keyed(t_env, t_env.sql_query(sql_template.render(
        "erasure_requests", source=ERASURE_SOURCE)), args.erasures_topic, "kafka_user_erasures")
    deleted = t_env.to_append_stream(t_env.sql_query("SELECT user_key FROM customer_deletes"),
                                     Types.ROW_NAMED(["user_key"], [Types.STRING()]))
    for table, statement in delete_statements(args.keyspace).items():
        io.execute_rows(deleted, statement, f"cassandra_erase_{table}")
    io.publish_keyed(t_env, t_env.sql_query(sql_template.render("live_profile_tombstones")),
                     args.live_profiles_topic, "kafka_live_profile_tombstones")


def main(argv: list[str] | None = None) -> None:
    job_args.run(build, parse_args, argv)


if __name__ == "__main__":
    main()

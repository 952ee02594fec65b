"""Job ``merge_customers``: the operational database's customers and orders, as change data
capture streams them (Debezium envelopes on ``topic_cdc_customers`` / ``topic_cdc_orders``),
merged into the pipeline's customer tables.

Each change's row images are read as maps of text, typed and checked in SQL against the
table's contract (:mod:`personastream_contracts.captures`), then routed by ``op``:

- a customer read, inserted or updated: its account's attributes into the ``crm_*`` and
  ``marketing_consent`` columns of its profile, its whole row as JSON (values as text) into
  ``crm_record`` (``profiles`` layout 4; rows of older layouts read those as null), the API's
  consent check reads them. A column added to ``customers`` while the job runs is in ``crm_record`` from
  the next change of each account, with no restart;
- an order read, inserted or updated: the order into its customer's purchase history
  (``orders_by_user``);
- a customer deleted: erased as ``DELETE /v1/users/{key}`` erases it: an erasure request
  (``source`` "cdc") on ``topic_user_erasures`` (the jobs clear their state of the customer),
  its rows deleted from every table keyed by customer, a tombstone of it on the live
  profiles and the offers topics (the API's copies);
- a change that breaks the contract (a value out of its rules, a column whose type changed, no
  key or commit time): a dead letter with reason ``invalid_change`` naming the column and the
  rule, with the change as the job read it; the profile keeps what it had, the job goes on.
  Only these rows reach Python (to build the dead letter); a valid change is SQL throughout.
  A record that is not a JSON object fails the job (Debezium's JSON converter writes none).

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

import json
import time

from pyflink.common import Types
from pyflink.datastream import MapFunction, RuntimeContext, StreamExecutionEnvironment
from pyflink.table import StreamTableEnvironment

from personastream_contracts import captures, deadletters
from personastream_contracts.cassandra import insert_statement
from personastream_contracts.formats import iso_ms
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
            "--live-profiles-topic", settings.topic_live_profiles,
            "--offers-topic", settings.topic_offers,
            "--deadletter-topic", settings.topic_events_deadletter]


def parse_args(argv: list[str]):
    p = job_args.parser(JOB_NAME, __doc__)
    p.add_argument("--customers-topic", required=True, help="changes of the customers table")
    p.add_argument("--orders-topic", required=True, help="changes of the orders table")
    p.add_argument("--live-profiles-topic", required=True,
                   help="live profiles (a deleted customer's gets a tombstone)")
    p.add_argument("--offers-topic", required=True,
                   help="offers of promotions (a deleted customer's get a tombstone)")
    p.add_argument("--deadletter-topic", required=True,
                   help="dead letters (changes that break their table's contract)")
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


#: How the change tables read Debezium's JSON (``personastream_stack.cdc``: no inline schemas):
#: a field a change lacks (a delete's ``after``) is null; a record that is not a JSON object
#: fails the job.
CHANGE_FORMAT = {"format": "json", "json.fail-on-missing-field": "false",
                 "json.ignore-parse-errors": "false"}


class ChangeDeadLetter(MapFunction):
    """A change that breaks its table's contract, ``Row(op, before, after, ts_us,
    violations)``, as a dead letter (JSON, reason ``invalid_change``), counted in metric
    ``invalid_changes``."""

    def __init__(self, table: str):
        self.table = table
        self.invalid = None

    def open(self, runtime_context: RuntimeContext) -> None:
        self.invalid = runtime_context.get_metrics_group().counter("invalid_changes")

    def map(self, value) -> str:
        self.invalid.inc()
        change = {"op": value.op, "before": value.before, "after": value.after,
                  "source": {"ts_us": value.ts_us}}
        return json.dumps(change_deadletter(self.table, change, value.ts_us, value.violations),
                          separators=(",", ":"))


def change_deadletter(table: str, change: dict, ts_us: int | None, failures: str) -> dict:
    """The dead letter of a ``change`` of ``table`` (as the job read it: values as text)
    committed at ``ts_us`` (its ``received_at``; now if it has none) with
    :func:`~personastream_contracts.captures.violations_sql`'s ``failures``.

    >>> from personastream_contracts.captures import US
    >>> letter = change_deadletter("customers", {"op": "u"}, 1_767_225_600_000_000,
    ...                            f"/after/birth_year{US}type{US}'abc' is not an integer")
    >>> letter["reason"]["message"], letter["received_at"], letter["payload"]
    ("customers change: 'abc' is not an integer", '2026-01-01T00:00:00.000Z', '{"op":"u"}')
    """
    at_ms = ts_us // 1000 if ts_us is not None else int(time.time() * 1000)
    return deadletters.deadletter(captures.violations(failures, table),
                                  payload=json.dumps(change, separators=(",", ":")),
                                  received_at=iso_ms(at_ms))


def declare_changes(t_env: StreamTableEnvironment, capture: captures.Capture, topic: str,
                    io) -> str:
    """Declare ``capture``'s change table on ``topic`` and the view ``<table>_changes`` of its
    changes read once (every query of the view shares one source), typed and checked; its
    name."""
    source, view = f"cdc_{capture.table}", f"{capture.table[:-1]}_changes"
    t_env.execute_sql(sql_template.render("captured_changes_source", fragments={
        "name": source,
        "options": sql_template.options({**io.changes_options(topic), **CHANGE_FORMAT})}))
    t_env.create_temporary_view(view, t_env.from_data_stream(t_env.to_data_stream(
        t_env.sql_query(sql_template.render("captured_changes", fragments={
            "source": source, "violations": captures.violations_sql(capture)})))))
    return view


def valid_rows(t_env: StreamTableEnvironment, capture: captures.Capture, query: str):
    """The rows of ``query`` (``customer_attributes`` or ``orders_by_user``) over the changes of
    ``capture`` that keep its contract: its typed columns, keyed by the customer."""
    return t_env.sql_query(sql_template.render(query, fragments={
        "user_key": user_key_sql(capture.user_sql(), "CAST(NULL AS STRING)"),
        "columns": capture.columns_sql()}))


def build(env: StreamExecutionEnvironment, args, io) -> None:
    """Declare sources, queries and sinks on ``env``, reading and writing through ``io``."""
    t_env = StreamTableEnvironment.create(env)
    t_env.get_config().set("table.local-time-zone", "UTC")
    invalid = []
    for capture, topic in ((captures.CUSTOMERS, args.customers_topic),
                           (captures.ORDERS, args.orders_topic)):
        view = declare_changes(t_env, capture, topic, io)
        invalid.append(t_env.to_data_stream(t_env.sql_query(sql_template.render(
            "invalid_changes", fragments={"changes": view}))).map(
            ChangeDeadLetter(capture.table), output_type=Types.STRING()).name(
            f"invalid_{capture.table}_changes"))
    io.write_strings(invalid[0].union(*invalid[1:]), args.deadletter_topic,
                     "kafka_events_deadletter")

    for capture, output, query, sink in (
            (captures.CUSTOMERS, ATTRIBUTES, "customer_attributes", "cassandra_profiles_attributes"),
            (captures.ORDERS, ORDERS, "orders_by_user", "cassandra_orders_by_user")):
        rows = _upserts(t_env, valid_rows(t_env, capture, query), output)
        # stream: Row(user_key, <output's columns>, written_at_us), one per valid change
        io.execute_rows(rows, upsert_statement(args.keyspace, output), sink)

    t_env.create_temporary_view("customer_deletes", t_env.sql_query(sql_template.render(
        "customer_deletes", fragments={"user_key": user_key_sql(
            captures.CUSTOMERS.user_sql("before"), "CAST(NULL AS STRING)")})))
    # table: (user_key, deleted_at_ms), one per deleted customer
    io.publish_keyed(t_env, t_env.sql_query(sql_template.render(
        "erasure_requests", source=ERASURE_SOURCE)), args.erasures_topic, "kafka_user_erasures")
    deleted = t_env.to_append_stream(t_env.sql_query("SELECT user_key FROM customer_deletes"),
                                     Types.ROW_NAMED(["user_key"], [Types.STRING()]))
    for table, statement in delete_statements(args.keyspace).items():
        io.execute_rows(deleted, statement, f"cassandra_erase_{table}")
    for topic, sink in ((args.live_profiles_topic, "kafka_live_profile_tombstones"),
                        (args.offers_topic, "kafka_offer_tombstones")):
        io.publish_keyed(t_env, t_env.sql_query(sql_template.render("customer_tombstones")),
                         topic, sink)


def main(argv: list[str] | None = None) -> None:
    job_args.run(build, parse_args, argv)


if __name__ == "__main__":
    main()

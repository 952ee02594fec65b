"""Job ``attribute_experiments``: exposures and outcomes per experiment and variant, counted as
events arrive, upserted into Cassandra ``experiment_results``.

No Python at run time, as ``land_events``: Flink SQL from the Kafka sources to Flink's
Cassandra sink. A customer's variant is the assignment hash of (experiment, customer) as a SQL
expression (:func:`personastream_models.experiments.assignment_sql`, the API's :func:`assign` in
SQL), for the experiments published when the job was submitted (resubmit it after publishing
one); the variant an event reports is not trusted. A customer is exposed to a recommendations
experiment by its first impression under it, to a promotions experiment (``promotion_banner``)
when ``evaluate_promotions`` makes it an offer or holds one back (its exposure records, topic
``experiments.exposures``), so both variants are exposed alike; a banner's impressions and
clicks (schemas 1-1-0) count under the experiment of their ``offer_id``. Steps
(``sql/experiment_*.sql``)::

    events_enriched
      -> experiment_events     impressions/clicks under an experiment or of an offer,
                               add_to_carts, purchases: Row(user_key, event_type, experiment,
                               offer_id, received_ms, revenue, pt)
    experiments.exposures
      -> exposure_records      offers made or held out: Row(experiment, user_key, offer_id,
                               received_ms, pt)
      -> experiment_offers     each offer once: Row(experiment, offer_id)
    experiment_exposures       first impression under, or exposure record of, each
                               (experiment, customer), variant by hash
      -> experiment_facts      exposures; impressions and clicks (a banner's by its offer);
                               add_to_carts and purchases of exposed customers received at or
                               after their exposure (inner joins)
      -> experiment_results    running totals per (experiment, variant), one row per fact

Idempotent: each row is an upsert of the totals, written at the group's fact count (its
Cassandra write time, which only grows), so concurrent writes land in order and a restart from
a checkpoint rewrites the same values. The join keeps a customer's exposures and outcomes for
``--attribution-ttl-days`` (an outcome later than that after exposure is not attributed).

Submit with ``personastream jobs submit attribute_experiments``.
"""
from __future__ import annotations

from pyflink.common import Types
from pyflink.datastream import StreamExecutionEnvironment

from personastream_contracts.cassandra import insert_statement
from personastream_contracts.identity import user_key_sql
from personastream_flink import job_args, job_io, sql_template
from personastream_flink.rows import Output
from personastream_models import experiments

JOB_NAME = "attribute_experiments"
OUTPUT = Output("experiment_results", JOB_NAME)
#: The extra last field of a result row: its Cassandra write time (the group's fact count).
WRITTEN_AT = "written_at_us"


def job_arguments(settings, jars: list, job_name: str = JOB_NAME) -> list[str]:
    return [*job_args.arguments(settings, jars, job_name),
            "--exposures-topic", settings.topic_experiment_exposures]


def parse_args(argv: list[str]):
    p = job_args.parser(JOB_NAME, __doc__)
    p.add_argument("--exposures-topic", required=True,
                   help="evaluate_promotions' exposures to promotions experiments")
    p.add_argument("--attribution-ttl-days", type=int, default=90,
                   help="how long after exposure an outcome is attributed (the join's state)")
    return p.parse_args(argv)


def upsert_statement(keyspace: str) -> str:
    """The upsert of a result row written at its last field.

    >>> upsert_statement("ks")  # doctest: +ELLIPSIS
    'INSERT INTO ks.experiment_results (experiment, variant, ..., updated_at) VALUES (?, ..., ?) USING TIMESTAMP ?'
    """
    return f"{insert_statement(f'{keyspace}.experiment_results', OUTPUT.columns)} " \
           "USING TIMESTAMP ?"


def build(env: StreamExecutionEnvironment, args, io) -> None:
    """Declare source, queries and sink on ``env``, reading and writing through ``io``."""
    t_env = job_io.table_env(env, io)
    t_env.execute_sql(sql_template.render("experiment_exposure_records", fragments={
        "options": sql_template.options(io.records_options(args.exposures_topic))}))
    variant = experiments.assignment_sql(experiments.load_all(simulations=True), "experiment",
                                         "user_key")
    views = {
        "experiment_events": {"user_key": user_key_sql("user_id", "anonymous_id")},
        "experiment_offers": {},
        "experiment_exposures": {"variant": variant},
        "experiment_facts": {"variant": variant, "ttl": f"{int(args.attribution_ttl_days)} d"},
    }
    for name, fragments in views.items():
        t_env.create_temporary_view(name, t_env.sql_query(
            sql_template.render(name, fragments=fragments)))
    results = t_env.sql_query(sql_template.render("experiment_results"))
    names = [*OUTPUT.columns, WRITTEN_AT]
    if results.get_schema().get_field_names() != names:
        raise ValueError(f"experiment_results.sql selects {results.get_schema().get_field_names()}"
                         f", expected {names} (the table's columns, then {WRITTEN_AT})")
    rows = t_env.to_append_stream(results, Types.ROW_NAMED(
        names, [*OUTPUT.row_type.get_field_types(), Types.LONG()]))
    # stream: Row(experiment, variant, exposed_customers, ..., updated_at, written_at_us)
    io.execute_rows(rows, upsert_statement(args.keyspace), "cassandra_experiment_results")


def main(argv: list[str] | None = None) -> None:
    job_args.run(build, parse_args, argv)


if __name__ == "__main__":
    main()

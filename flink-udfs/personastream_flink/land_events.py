"""Job ``land_events``: enriched events from Kafka, keyed by identity, upserted into Cassandra.

No Python at run time: the Kafka source in SQL (table typed from the event schemas), the
identity rule as a SQL expression, Flink's Cassandra sink (concurrent writes, complete before
each checkpoint). Submit with ``personastream jobs submit land_events``.
"""
from __future__ import annotations

from pyflink.datastream import StreamExecutionEnvironment

from personastream_contracts.identity import user_key_sql
from personastream_flink import job_args, job_io, sql_template
from personastream_flink.rows import Output

JOB_NAME = "land_events"
OUTPUT = Output("events_by_user", JOB_NAME)


def job_arguments(settings, jars: list, job_name: str = JOB_NAME) -> list[str]:
    return job_args.arguments(settings, jars, job_name)


def parse_args(argv: list[str]):
    return job_args.parser(JOB_NAME, __doc__).parse_args(argv)


def build(env: StreamExecutionEnvironment, args, io) -> None:
    """Declare source, query and sink on ``env``, reading and writing through ``io``."""
    t_env = job_io.table_env(env, io)
    landed = job_io.table_rows(t_env, t_env.sql_query(sql_template.render(
        "land_events", fragments={"user_key": user_key_sql("user_id", "anonymous_id")})), OUTPUT)
    # stream: Row(user_key, received_at, event_id, event_type, ...), one per event
    io.write_rows(landed, OUTPUT, "cassandra_events_by_user")


def main(argv: list[str] | None = None) -> None:
    job_args.run(build, parse_args, argv)


if __name__ == "__main__":
    main()

"""Job ``land_events``: enriched events from Kafka, keyed by identity, upserted into Cassandra.

Kafka source in SQL (table typed from the event schemas), one Python UDF (``user_key``), a
Python Cassandra writer. Submit with ``personastream jobs submit land_events``.
"""
from __future__ import annotations

import sys

from pyflink.datastream import StreamExecutionEnvironment
from pyflink.table import StreamTableEnvironment

from personastream_flink import job_args, sql_template
from personastream_flink.cassandra_sink import CassandraUpsert, write_to_cassandra
from personastream_flink.event_table import source_ddl
from personastream_flink.identity import user_key_udf

JOB_NAME = "land_events"
TABLE = "events_by_user"
COLUMNS = ["user_key", "received_at", "event_id", "event_type", "item_id", "category", "brand",
           "price", "query", "page_url", "country", "device_type", "landed_at"]
KEY_COLUMNS = ["user_key", "received_at", "event_id"]


def job_arguments(settings, jars: list, job_name: str = JOB_NAME) -> list[str]:
    return job_args.arguments(settings, jars, job_name)


def parse_args(argv: list[str]):
    return job_args.parser(JOB_NAME, __doc__).parse_args(argv)


def build(env: StreamExecutionEnvironment, args) -> None:
    """Declare source, query and sink on ``env``."""
    t_env = StreamTableEnvironment.create(env)
    t_env.get_config().set("table.local-time-zone", "UTC")
    t_env.create_temporary_function("user_key", user_key_udf)
    t_env.execute_sql(source_ddl(args.topic, args.bootstrap_servers, args.group_id))
    landed = t_env.to_data_stream(t_env.sql_query(sql_template.render("land_events")))
    writer = CassandraUpsert(args.cassandra_hosts.split(","), args.cassandra_port,
                             args.cassandra_local_dc, args.keyspace, TABLE, COLUMNS, KEY_COLUMNS)
    write_to_cassandra(landed, writer, "cassandra_events_by_user")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    env = job_args.environment(args)
    build(env, args)
    env.execute(args.job_name)


if __name__ == "__main__":
    main()

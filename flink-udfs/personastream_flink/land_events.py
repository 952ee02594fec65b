"""Job ``land_events``: enriched events from Kafka, keyed by identity, upserted into Cassandra.

Kafka source in SQL (table typed from the event schemas), one Python UDF (``user_key``), a
Python Cassandra writer. Submit with ``personastream jobs submit land_events``.
"""
from __future__ import annotations

import argparse
import sys

from pyflink.common import Configuration
from pyflink.datastream import StreamExecutionEnvironment
from pyflink.datastream.connectors.base import Sink
from pyflink.table import StreamTableEnvironment

from personastream_flink import sql_template
from personastream_flink.cassandra_sink import CassandraUpsert
from personastream_flink.event_table import source_ddl
from personastream_flink.identity import user_key_udf

JOB_NAME = "land_events"
TABLE = "events_by_user"
COLUMNS = ["user_key", "received_at", "event_id", "event_type", "item_id", "category", "brand",
           "price", "query", "page_url", "country", "device_type", "landed_at"]
KEY_COLUMNS = ["user_key", "received_at", "event_id"]
DISCARDING_SINK = "org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink"


def job_arguments(settings, jars: list, job_name: str = JOB_NAME) -> list[str]:
    """The job parameters, from settings (the job itself reads no files or environment)."""
    from personastream.stack.cassandra import keyspace

    return ["--job-name", job_name, "--group-id", job_name,
            "--bootstrap-servers", settings.kafka_bootstrap_servers,
            "--topic", settings.topic_events_enriched,
            "--cassandra-hosts", settings.cassandra_hosts,
            "--cassandra-port", str(settings.cassandra_port),
            "--cassandra-local-dc", settings.cassandra_local_dc,
            "--keyspace", keyspace(settings),
            "--jars", ";".join(f"file://{j}" for j in jars)]


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog=JOB_NAME, description=__doc__)
    p.add_argument("--job-name", default=JOB_NAME, help="Flink job name (one per instance)")
    p.add_argument("--bootstrap-servers", required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--group-id", default=JOB_NAME)
    p.add_argument("--cassandra-hosts", required=True)
    p.add_argument("--cassandra-port", type=int, default=9042)
    p.add_argument("--cassandra-local-dc", required=True)
    p.add_argument("--keyspace", required=True)
    p.add_argument("--jars", required=True, help="';'-separated connector jar URLs")
    return p.parse_args(argv)


def build(env: StreamExecutionEnvironment, args: argparse.Namespace) -> None:
    """Declare source, query and sink on ``env``."""
    t_env = StreamTableEnvironment.create(env)
    t_env.get_config().set("table.local-time-zone", "UTC")
    t_env.create_temporary_function("user_key", user_key_udf)
    t_env.execute_sql(source_ddl(args.topic, args.bootstrap_servers, args.group_id))
    landed = t_env.to_data_stream(t_env.sql_query(sql_template.render("land_events")))
    writer = CassandraUpsert(args.cassandra_hosts.split(","), args.cassandra_port,
                             args.cassandra_local_dc, args.keyspace, TABLE, COLUMNS, KEY_COLUMNS)
    landed.process(writer).name("cassandra_events_by_user").sink_to(Sink(DISCARDING_SINK))


def main(argv: list[str] | None = None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    env = StreamExecutionEnvironment.get_execution_environment(
        Configuration().set_string("pipeline.jars", args.jars))
    build(env, args)
    env.execute(args.job_name)


if __name__ == "__main__":
    main()

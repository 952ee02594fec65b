"""Job ``assign_segments``: customer segments by online clustering (River k-means).

The same per-minute activity as ``build_profiles`` (Flink SQL) feeds each customer's totals;
their behaviour vector goes to one clusterer from a model spec in ``models/``; the segment id
and the distance to its centre are upserted into the customer's ``profiles`` row. Late events
are dead-lettered by ``build_profiles``; here they are left out of the windows like there.
Submit with ``personastream jobs submit assign_segments``.
"""
from __future__ import annotations

import sys

from pyflink.common import Types
from pyflink.datastream import StreamExecutionEnvironment
from pyflink.table import StreamTableEnvironment

from personastream_flink import job_args, sql_template
from personastream_flink.cassandra_sink import CassandraUpsert, write_to_cassandra
from personastream_flink.event_table import source_ddl
from personastream_flink.segmentation import (ALL_CUSTOMERS, SEGMENT_FIELDS, SEGMENT_TYPE,
                                              VECTOR_TYPE, AssignSegment, BehaviourVector)
from personastream_flows.processors.ingest.event_ingest import user_key

JOB_NAME = "assign_segments"
TABLE = "profiles"


def job_arguments(settings, jars: list, job_name: str = JOB_NAME) -> list[str]:
    return [*job_args.arguments(settings, jars, job_name),
            "--allowed-lateness-s", str(settings.profiles_allowed_lateness_s),
            "--idle-timeout-s", str(settings.source_idle_timeout_s),
            "--clusterer", settings.segments_clusterer,
            "--clusterer-version", settings.segments_clusterer_version]


def parse_args(argv: list[str]):
    p = job_args.parser(JOB_NAME, __doc__)
    p.add_argument("--allowed-lateness-s", type=int, required=True)
    p.add_argument("--idle-timeout-s", type=int, required=True)
    p.add_argument("--clusterer", required=True, help="model spec name in models/")
    p.add_argument("--clusterer-version", default="", help="empty: the latest")
    return p.parse_args(argv)


def build(env: StreamExecutionEnvironment, args) -> None:
    """Declare source, per-minute activity, vectors, clustering and the profile upserts."""
    t_env = StreamTableEnvironment.create(env)
    t_env.get_config().set("table.local-time-zone", "UTC")
    t_env.get_config().set("table.exec.source.idle-timeout", f"{args.idle_timeout_s} s")
    t_env.execute_sql(source_ddl(args.topic, args.bootstrap_servers, args.group_id,
                                 time_column="client_ts_ms", watermark_s=args.allowed_lateness_s))
    t_env.execute_sql(sql_template.render("on_time_events"))
    activity = t_env.to_data_stream(t_env.sql_query(sql_template.render("user_activity_per_minute")))
    # stream: Row(user_id, anonymous_id, first_ms, last_ms, n_events, views, ...), per minute
    vectors = (activity.key_by(lambda r: user_key(r.user_id, r.anonymous_id),
                               key_type=Types.STRING())
               .process(BehaviourVector(args.clusterer, args.clusterer_version),
                        output_type=VECTOR_TYPE).name("behaviour_vector"))
    # stream: Row(user_key, features as JSON), the customer's vector after each minute
    segments = (vectors.key_by(lambda r: ALL_CUSTOMERS, key_type=Types.STRING())
                .process(AssignSegment(args.clusterer, args.clusterer_version),
                         output_type=SEGMENT_TYPE).name("assign_segment"))
    # stream: Row(user_key, segment_id, segment_distance, segment_model)
    writer = CassandraUpsert(args.cassandra_hosts.split(","), args.cassandra_port,
                             args.cassandra_local_dc, args.keyspace, TABLE, SEGMENT_FIELDS,
                             ["user_key"])
    write_to_cassandra(segments, writer, "cassandra_profiles_segment")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    env = job_args.environment(args)
    build(env, args)
    env.execute(args.job_name)


if __name__ == "__main__":
    main()

"""Job ``assign_segments``: customer segments by online k-means, following model placements.

The same per-minute activity as ``build_profiles`` (Flink SQL) feeds each customer's totals;
their behaviour vector goes to the clusterers of a model spec in ``models/``. The model control
topic, broadcast to the clustering task, says which spec versions are live and in shadow
(``personastream models promote customer_segments 2-0-0``): each running version's clusterer
learns every vector, and the live version's segment id, the distance to its centre and the
version (``segment_model``) are upserted into the customer's ``profiles`` row and published to
``--segments-topic`` (JSON, keyed by ``user_key``; ``evaluate_promotions`` reads it for the
``segment`` condition of a promotion rule). Until the topic
has a record of the model the job runs ``--clusterer-version`` (setting
``segments_clusterer_version``). Late events are dead-lettered by ``build_profiles``; here they
are left out of the windows like there. Submit with ``personastream jobs submit
assign_segments``.
"""
from __future__ import annotations

from pyflink.common import Types
from pyflink.datastream import DataStream, StreamExecutionEnvironment
from pyflink.table import StreamTableEnvironment

from personastream_flink import job_args, job_io
from personastream_flink.erasure import keyed_with_erasures
from personastream_flink.placements import PLACEMENTS
from personastream_flink.segmentation import (ALL_CUSTOMERS, OUTPUT, VECTOR_TYPE, AssignSegment,
                                              BehaviourVector)

JOB_NAME = "assign_segments"


def job_arguments(settings, jars: list, job_name: str = JOB_NAME) -> list[str]:
    return [*job_args.arguments(settings, jars, job_name),
            "--control-topic", settings.topic_models_control,
            "--segments-topic", settings.topic_customer_segments,
            "--allowed-lateness-s", str(settings.profiles_allowed_lateness_s),
            "--idle-timeout-s", str(settings.source_idle_timeout_s),
            "--clusterer", settings.segments_clusterer,
            "--clusterer-version", settings.segments_clusterer_version]


def parse_args(argv: list[str]):
    p = job_args.parser(JOB_NAME, __doc__)
    p.add_argument("--control-topic", default="",
                   help="model placements (compacted); required to run the job, not to build "
                        "behaviour_vectors alone (as `models train` does)")
    p.add_argument("--segments-topic", default="",
                   help="where each assignment is published too; required to run the job")
    p.add_argument("--allowed-lateness-s", type=int, required=True)
    p.add_argument("--idle-timeout-s", type=int, required=True)
    p.add_argument("--clusterer", required=True, help="model spec name in models/")
    p.add_argument("--clusterer-version", default="", help="empty: the latest")
    return p.parse_args(argv)


def table_env(env: StreamExecutionEnvironment, args, io) -> StreamTableEnvironment:
    """The job's table environment: ``events_enriched`` by the client's time."""
    return job_io.table_env(env, io, time_column="client_ts_ms",
                            watermark_s=args.allowed_lateness_s,
                            idle_timeout_s=args.idle_timeout_s)


def behaviour_vectors(env: StreamExecutionEnvironment, args, io,
                      t_env: StreamTableEnvironment | None = None) -> DataStream:
    """Each customer's behaviour vector after each minute of their activity (what the clusterer
    learns from; ``models train`` fits initial centres on the same vectors)."""
    t_env = t_env or table_env(env, args, io)
    activity = job_io.user_activity(t_env)
    # stream: Row(user_id, anonymous_id, first_ms, last_ms, n_events, views, ...), per minute,
    # keyed by user_key
    return (keyed_with_erasures(env, io, activity)
            .process(BehaviourVector(args.clusterer, args.clusterer_version),
                     output_type=VECTOR_TYPE).name("behaviour_vector"))


def build(env: StreamExecutionEnvironment, args, io) -> None:
    """Declare source, per-minute activity, vectors, clustering (following the placements on
    the control topic), the profile upserts and their records on ``env``, reading and writing
    through ``io``."""
    if not args.segments_topic:
        raise ValueError(f"{JOB_NAME} publishes each segment: --segments-topic is required "
                         "(resubmit it with `personastream jobs submit assign_segments`)")
    t_env = table_env(env, args, io)
    vectors = behaviour_vectors(env, args, io, t_env)
    # stream: Row(user_key, features as JSON), the customer's vector after each minute
    placements = io.control(env).broadcast(PLACEMENTS)
    segments = (vectors.key_by(lambda r: ALL_CUSTOMERS, key_type=Types.STRING())
                .connect(placements)
                .process(AssignSegment(args.clusterer, args.clusterer_version),
                         output_type=OUTPUT.row_type).name("assign_segment")
                .uid("assign_segment"))
    # stream: Row(user_key, segment_id, segment_distance, segment_model)
    io.write_rows(segments, OUTPUT, "cassandra_profiles_segment")
    io.publish_rows(t_env, segments, OUTPUT, args.segments_topic, "kafka_customer_segments")


def main(argv: list[str] | None = None) -> None:
    job_args.run(build, parse_args, argv)


if __name__ == "__main__":
    main()

"""Job ``score_trends``: views per item and minute, scored by a detector per item.

Raw events are windowed in Flink SQL; the detector (from a model spec in ``models/``) sees
one row per item and window and lives in keyed state. The model control topic, broadcast to
every task, says which spec versions are live and in shadow (``personastream models
promote``). Every scored window is upserted into Cassandra ``item_trends`` and, as the item's
latest, into ``item_latest_trend`` (partition ``bucket = 'all'``: the API reads every item's
current trend in one query); those above the live spec's threshold also go to Kafka
``trends.anomalies``. Views that arrive after their window closed are dead-lettered (reason
``late_event``). The windows are keyed by item in Java (``keyed.keyed_table``) and the detectors
run in the TaskManager's JVM (``job_args.thread_mode``): 2.5x the events/s of a Python process
and ``key_by(lambda)`` (README, Measurements). Submit with
``personastream jobs submit score_trends``.
"""
from __future__ import annotations

from pyflink.common import Types
from pyflink.datastream import StreamExecutionEnvironment

from personastream_contracts.tables import LATEST_TREND_BUCKET
from personastream_flink import job_args, job_io, late_events, sql_template
from personastream_flink.keyed import keyed_table
from personastream_flink.placements import PLACEMENTS
from personastream_flink.rows import Output
from personastream_flink.trend_scoring import OUTPUT, ScoreItemViews

JOB_NAME = "score_trends"
LATEST = Output("item_latest_trend", JOB_NAME)


def job_arguments(settings, jars: list, job_name: str = JOB_NAME) -> list[str]:
    return [*job_args.arguments(settings, jars, job_name),
            "--anomalies-topic", settings.topic_trends_anomalies,
            "--deadletter-topic", settings.topic_events_deadletter,
            "--control-topic", settings.topic_models_control,
            "--window-s", str(settings.trends_window_s),
            "--watermark-s", str(settings.trends_watermark_s),
            "--idle-timeout-s", str(settings.source_idle_timeout_s),
            "--detector", settings.trends_detector,
            "--detector-version", settings.trends_detector_version]


def parse_args(argv: list[str]):
    p = job_args.parser(JOB_NAME, __doc__)
    p.add_argument("--anomalies-topic", required=True)
    p.add_argument("--deadletter-topic", required=True)
    p.add_argument("--control-topic", required=True, help="model placements (compacted)")
    p.add_argument("--window-s", type=int, required=True)
    p.add_argument("--watermark-s", type=int, required=True)
    p.add_argument("--idle-timeout-s", type=int, required=True)
    p.add_argument("--detector", required=True, help="model spec name in models/")
    p.add_argument("--detector-version", default="", help="empty: the latest")
    return p.parse_args(argv)


def build(env: StreamExecutionEnvironment, args, io) -> None:
    """Declare source, windows, scoring and sinks on ``env``, reading and writing through
    ``io``. Only the scoring is Python: the latest trend and the anomalies are projections of
    the scored rows in SQL."""
    job_args.thread_mode(env)
    t_env = job_io.table_env(env, io, time_column="received_at_ms", watermark_s=args.watermark_s,
                             idle_timeout_s=args.idle_timeout_s)
    job_io.timed_events(t_env, job_io.window_closed(args.window_s))
    window = sql_template.interval(args.window_s)
    views = keyed_table(t_env, t_env.sql_query(
        sql_template.render("item_views_per_window", fragments={"window": window})), "item_id")
    # keyed stream: Row(item_id, window_start, window_end, views), one per item and window
    placements = io.control(env).broadcast(PLACEMENTS)
    scored = (views.connect(placements)
              .process(ScoreItemViews(args.detector, args.detector_version),
                       output_type=OUTPUT.row_type).name("score_item_views")
              .uid("score_item_views"))
    # stream: Row(item_id, window_start, window_end, views, score, flagged, model, ...)
    io.write_rows(scored, OUTPUT, "cassandra_item_trends")
    t_env.create_temporary_view("scored_windows", t_env.from_data_stream(scored))
    latest = t_env.sql_query(sql_template.render("latest_trends", bucket=LATEST_TREND_BUCKET))
    io.write_rows(job_io.table_rows(t_env, latest, LATEST), LATEST, "cassandra_item_latest_trend")
    flagged = t_env.to_data_stream(t_env.sql_query(sql_template.render("anomalies")))
    # only flagged windows reach Python here: the row's one column, its JSON, as the record
    io.write_strings(flagged.map(lambda row: row[0], output_type=Types.STRING()),
                     args.anomalies_topic, "kafka_trends_anomalies")
    late_events.dead_letter(t_env, args, io, "/received_at")


def main(argv: list[str] | None = None) -> None:
    job_args.run(build, parse_args, argv)


if __name__ == "__main__":
    main()

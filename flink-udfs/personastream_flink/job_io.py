"""What the jobs read and write: the enriched-events table, per-minute user activity, the
model control stream, the Cassandra writer and the Kafka string sink, built from the jobs'
common parameters."""
from __future__ import annotations

from pyflink.common import WatermarkStrategy
from pyflink.common.serialization import SimpleStringSchema
from pyflink.datastream import DataStream, StreamExecutionEnvironment
from pyflink.datastream.connectors.kafka import (DeliveryGuarantee, KafkaOffsetsInitializer,
                                                 KafkaRecordSerializationSchema, KafkaSink,
                                                 KafkaSource)
from pyflink.table import Schema, StreamTableEnvironment

from personastream_flink import sql_template
from personastream_flink.cassandra_sink import CassandraUpsert
from personastream_flink.event_table import source_ddl


def table_env(env: StreamExecutionEnvironment, args, time_column: str | None = None,
              watermark_s: int = 0) -> StreamTableEnvironment:
    """A table environment in UTC with ``events_enriched`` declared (with its rowtime when
    ``time_column`` is given; a partition silent for ``args.idle_timeout_s`` does not hold the
    watermark back)."""
    t_env = StreamTableEnvironment.create(env)
    t_env.get_config().set("table.local-time-zone", "UTC")
    if time_column is not None:
        t_env.get_config().set("table.exec.source.idle-timeout", f"{args.idle_timeout_s} s")
    t_env.execute_sql(source_ddl(args.topic, args.bootstrap_servers, args.group_id,
                                 time_column=time_column, watermark_s=watermark_s))
    return t_env


#: The lateness rule of the profile and segment jobs: an event at or behind the watermark.
BEHIND_WATERMARK = "event_time <= CURRENT_WATERMARK(event_time)"


def window_closed(window_s: int) -> str:
    """The lateness rule of a job counting product views in tumbling windows of ``window_s``
    (epoch-aligned, the job's time zone being UTC): a view whose window's last millisecond is
    at or behind the watermark, as the window operator judges it.

    >>> "TO_TIMESTAMP_LTZ(event_ms - MOD(event_ms, 60000) + 59999, 3) <=" in window_closed(60)
    True
    """
    ms = int(window_s) * 1000
    return (f"event_type = 'product_view' AND TO_TIMESTAMP_LTZ(event_ms - MOD(event_ms, {ms}) "
            f"+ {ms - 1}, 3) <= CURRENT_WATERMARK(event_time)")


def timed_events(t_env: StreamTableEnvironment, late: str) -> None:
    """Declare the view ``events_timed``: ``events_enriched`` with ``late`` (the SQL condition
    ``late``, evaluated once) and the rowtime ``rowtime`` carrying the source's watermarks.

    A job's windows and its late events both read this view, so they share one Kafka source and
    one watermark: each event is on time or late, never both nor neither (two queries on
    ``events_enriched`` would each get their own source, whose watermarks differ)."""
    flagged = t_env.sql_query(sql_template.render("events_flagged", fragments={"late": late}))
    schema = Schema.new_builder().column_by_metadata("rowtime", "TIMESTAMP_LTZ(3)") \
        .watermark("rowtime", "SOURCE_WATERMARK()").build()
    t_env.create_temporary_view("events_timed",
                                t_env.from_data_stream(t_env.to_data_stream(flagged), schema))


def user_activity(t_env: StreamTableEnvironment) -> DataStream:
    """Per user id, anonymous id and minute of event time: counts, spend, item events and CRM
    updates (``sql/user_activity_per_minute.sql``) of the events on time by
    :data:`BEHIND_WATERMARK` (declares ``events_timed``)."""
    timed_events(t_env, BEHIND_WATERMARK)
    return t_env.to_data_stream(t_env.sql_query(sql_template.render("user_activity_per_minute")))


def control_stream(env: StreamExecutionEnvironment, args) -> DataStream:
    """The model control topic from its start (it is compacted: the latest placement of each
    model), as JSON strings; it carries no event time and never holds a watermark back."""
    source = KafkaSource.builder().set_bootstrap_servers(args.bootstrap_servers) \
        .set_topics(args.control_topic).set_group_id(f"{args.group_id}.control") \
        .set_starting_offsets(KafkaOffsetsInitializer.earliest()) \
        .set_value_only_deserializer(SimpleStringSchema()).build()
    return env.from_source(source, WatermarkStrategy.no_watermarks(), "kafka_models_control") \
        .uid("kafka_models_control")


def cassandra_writer(args, table: str, columns: list[str],
                     key_columns: list[str]) -> CassandraUpsert:
    return CassandraUpsert(args.cassandra_hosts.split(","), args.cassandra_port,
                           args.cassandra_local_dc, args.keyspace, table, columns, key_columns)


def kafka_sink(args, topic: str) -> KafkaSink:
    """At-least-once sink of JSON strings to ``topic``."""
    return KafkaSink.builder().set_bootstrap_servers(args.bootstrap_servers) \
        .set_record_serializer(KafkaRecordSerializationSchema.builder().set_topic(topic)
                               .set_value_serialization_schema(SimpleStringSchema()).build()) \
        .set_delivery_guarantee(DeliveryGuarantee.AT_LEAST_ONCE).build()

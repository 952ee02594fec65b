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
from pyflink.table import StreamTableEnvironment

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


def user_activity(t_env: StreamTableEnvironment) -> DataStream:
    """Per user id, anonymous id and minute of event time: counts, spend, item events and CRM
    updates (``sql/user_activity_per_minute.sql``); events behind the watermark are left out."""
    t_env.execute_sql(sql_template.render("on_time_events"))
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

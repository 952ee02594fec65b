"""What the jobs read and write, behind one seam: a job's ``build(env, args, io)`` declares its
topology on ``io``'s sources and sinks, so the same topology runs on Kafka and Cassandra
(:class:`KafkaCassandra`, what ``main`` uses) or on files in a unit test or offline run
(:class:`personastream_flink.testing.FileIO`).

An ``io`` gives:

- ``events_options``: the connector options of the ``events_enriched`` table (the table itself,
  its columns, JSON format and watermark, is declared here, the same for every ``io``);
- ``control(env)``: the model control records (JSON strings), broadcast to the jobs that follow
  model placements;
- ``erasures(env)``: the erasure requests (JSON strings) of the jobs that keep state about
  customers (:mod:`personastream_flink.erasure`);
- ``promotions(env, t_env)``, ``anomalies(env)``: the promotion control records and the trends job's
  flagged windows (JSON strings), broadcast in ``evaluate_promotions``;
- ``write_rows(stream, output, name)``: upsert each row of ``stream`` into ``output``'s table
  (:class:`~personastream_flink.rows.Output`);
- ``write_json_rows(t_env, stream, output, name)``: the same for a stream of
  ``Output.json_row`` (each row one JSON string);
- ``write_strings(stream, topic, name)``: publish each string of ``stream`` to ``topic``;
- ``publish_rows(t_env, stream, output, topic, name)``: publish each row of ``stream`` to the
  compacted ``topic``, keyed by ``output``'s partition key (the latest row per key);
- ``publish_json_rows(t_env, stream, topic, name)``: the same for a stream of
  ``Output.json_row``, each JSON string the record's value as it is;
- ``changes_options(topic)``: the connector options of a change data capture topic's table
  (Debezium envelopes, read committed);
- ``records_options(topic)``: the connector options of a table over a topic of JSON records a
  job wrote (e.g. ``experiments.exposures``, read by ``attribute_experiments``);
- ``execute_rows(stream, statement, name)``: run the CQL ``statement`` once per row of
  ``stream``, its bind markers taking the row's fields in order (e.g. a delete);
- ``publish_keyed(t_env, table, topic, name)``: publish each row ``(key, value)`` of the Flink
  ``table`` to ``topic`` (both strings; a null value is a tombstone).

Also here: the per-minute user activity and the lateness rules the windowed jobs share.
"""
from __future__ import annotations

from pyflink.common import Duration, Types, WatermarkStrategy
from pyflink.common.serialization import SimpleStringSchema
from pyflink.datastream import DataStream, KeyedStream, StreamExecutionEnvironment
from pyflink.datastream.connectors.kafka import (DeliveryGuarantee, KafkaOffsetsInitializer,
                                                 KafkaRecordSerializationSchema, KafkaSink,
                                                 KafkaSource)
from pyflink.table import DataTypes, Schema, StreamTableEnvironment
from pyflink.table.expressions import col

from personastream_contracts.cassandra import insert_json_statement, insert_statement
from personastream_contracts.identity import user_key
from personastream_flink import sql_template
from personastream_flink.event_table import customer_activity, kafka_options, source_ddl
from personastream_flink.rows import Output

#: Writes in flight per Cassandra sink task; each completes before the checkpoint that covers
#: its row (the sink waits for them when it snapshots).
MAX_CONCURRENT_WRITES = 256
#: How long the sink waits for a write slot (or, at a checkpoint, for every write in flight)
#: before it fails the task, which then restarts from its last checkpoint with a new driver
#: session. The connector's default is forever: after a kill -9 of Cassandra, land_events was
#: once RUNNING for 10 min writing nothing, its writes never completing.
WRITE_SLOT_TIMEOUT_S = 30


class KafkaCassandra:
    """The production seam: events from Kafka, control records from the compacted control
    topic, rows upserted into Cassandra, strings published to Kafka (at least once)."""

    def __init__(self, args):
        self.args = args

    @property
    def events_options(self) -> dict[str, str]:
        a = self.args
        return kafka_options(a.topic, a.bootstrap_servers, a.group_id)

    def control(self, env: StreamExecutionEnvironment) -> DataStream:
        """The model control topic from its start (it is compacted: the latest placement of each
        model), as JSON strings; it carries no event time and never holds a watermark back."""
        a = self.args
        if not a.control_topic:  # e.g. a run declared before the job followed placements
            raise ValueError(f"{a.job_name} follows model placements: --control-topic is "
                             "required (resubmit it with `personastream jobs submit`)")
        return self._strings(env, a.control_topic, "control", KafkaOffsetsInitializer.earliest(),
                             "kafka_models_control")

    def erasures(self, env: StreamExecutionEnvironment) -> DataStream:
        """Erasure requests (JSON strings) from the consumer group's offsets (its first run:
        the topic's start), committed with each checkpoint as the events' are."""
        return self._strings(env, self.args.erasures_topic, "erasures",
                             _committed_else_earliest(), "kafka_user_erasures")

    def promotions(self, env: StreamExecutionEnvironment,
                   t_env: StreamTableEnvironment) -> DataStream:
        """The promotions control topic from its start (compacted: each promotion's latest
        state), as JSON strings, for ``evaluate_promotions``; a tombstone (a removed
        promotion) as ``{"promotion": name, "removed": true}`` (SQL's raw format reads a null
        value, where the string deserializer of :meth:`_strings` fails)."""
        t_env.execute_sql(sql_template.render("keyed_topic", fragments={
            "name": "promotions_control_records", "options": sql_template.options({
                "connector": "kafka", "topic": self.args.promotions_topic,
                "properties.bootstrap.servers": self.args.bootstrap_servers,
                "properties.group.id": f"{self.args.group_id}.promotions",
                "scan.startup.mode": "earliest-offset"})}))
        return t_env.to_data_stream(t_env.sql_query(
            sql_template.render("promotions_control"))).map(
                lambda row: row[0], output_type=Types.STRING())

    def anomalies(self, env: StreamExecutionEnvironment) -> DataStream:
        """The trends job's flagged windows (JSON strings) from the consumer group's offsets
        (its first run: the topic's start), for ``evaluate_promotions``."""
        return self._strings(env, self.args.anomalies_topic, "anomalies",
                             _committed_else_earliest(), "kafka_trends_anomalies")

    def _strings(self, env: StreamExecutionEnvironment, topic: str, group_suffix: str,
                 starting_offsets: KafkaOffsetsInitializer, name: str) -> DataStream:
        """A side topic's values as strings, read by the job's group with ``group_suffix``;
        no event time, so it never holds a watermark back."""
        a = self.args
        source = KafkaSource.builder().set_bootstrap_servers(a.bootstrap_servers) \
            .set_topics(topic).set_group_id(f"{a.group_id}.{group_suffix}") \
            .set_starting_offsets(starting_offsets) \
            .set_value_only_deserializer(SimpleStringSchema()).build()
        return env.from_source(source, WatermarkStrategy.no_watermarks(), name).uid(name)

    def write_rows(self, stream: DataStream, output: Output, name: str) -> None:
        """Flink's Cassandra sink (Java, asynchronous, at most :data:`MAX_CONCURRENT_WRITES` in
        flight, all complete before a checkpoint, none stuck longer than
        :data:`WRITE_SLOT_TIMEOUT_S`): idempotent upserts of the rows' columns."""
        from pyflink.datastream.connectors.cassandra import CassandraSink

        a = self.args
        CassandraSink.add_sink(stream) \
            .set_query(insert_statement(f"{a.keyspace}.{output.table_name}", output.columns)) \
            .set_host(a.cassandra_hosts.split(",")[0], a.cassandra_port) \
            .set_max_concurrent_requests(MAX_CONCURRENT_WRITES,
                                         Duration.of_seconds(WRITE_SLOT_TIMEOUT_S)) \
            .build().name(name).uid(name)

    def write_json_rows(self, t_env: StreamTableEnvironment, stream: DataStream, output: Output,
                        name: str) -> None:
        """:meth:`write_rows` for a stream of :meth:`Output.json_row
        <personastream_flink.rows.Output.json_row>`: Cassandra reads each row from its JSON
        (``INSERT ... JSON``); the JSON is picked from the pair in Java."""
        self.execute_rows(_json_values(t_env, stream), insert_json_statement(
            f"{self.args.keyspace}.{output.table_name}"), name)

    def publish_json_rows(self, t_env: StreamTableEnvironment, stream: DataStream, topic: str,
                          name: str) -> None:
        """:meth:`publish_rows` for a stream of :meth:`Output.json_row
        <personastream_flink.rows.Output.json_row>`: each row's JSON the record's value, its
        key the record's key. The sink runs in a task of its own (see :meth:`publish_rows`)."""
        self.publish_keyed(t_env, t_env.from_data_stream(stream.rescale()), topic, name)

    def changes_options(self, topic: str) -> dict[str, str]:
        """The change topic from the consumer group's offsets (its first run: the topic's
        start, the connector's snapshot), committed records only (Connect writes each batch of
        changes in a Kafka transaction)."""
        a = self.args
        return {**kafka_options(topic, a.bootstrap_servers, a.group_id),
                "properties.isolation.level": "read_committed"}

    def records_options(self, topic: str) -> dict[str, str]:
        """A topic of JSON records from the consumer group's offsets (its first run: the
        topic's start), committed with each checkpoint as the events' are."""
        a = self.args
        return kafka_options(topic, a.bootstrap_servers, a.group_id)

    def execute_rows(self, stream: DataStream, statement: str, name: str) -> None:
        """Flink's Cassandra sink running ``statement`` (any CQL with bind markers) per row,
        with the limits of :meth:`write_rows`."""
        from pyflink.datastream.connectors.cassandra import CassandraSink

        a = self.args
        CassandraSink.add_sink(stream).set_query(statement) \
            .set_host(a.cassandra_hosts.split(",")[0], a.cassandra_port) \
            .set_max_concurrent_requests(MAX_CONCURRENT_WRITES,
                                         Duration.of_seconds(WRITE_SLOT_TIMEOUT_S)) \
            .build().name(name).uid(name)

    def publish_keyed(self, t_env: StreamTableEnvironment, table, topic: str, name: str) -> None:
        """Flink's Kafka sink (at least once): each row's ``key`` and ``value`` as raw strings,
        a null value as a tombstone; partitioned by the key as Kafka's own producer does
        (murmur2), where the jobs' and the API's records of that key go."""
        t_env.execute_sql(sql_template.render("keyed_topic", fragments={
            "name": name, "options": sql_template.options({
                "connector": "kafka", "topic": topic,
                "properties.bootstrap.servers": self.args.bootstrap_servers,
                "sink.delivery-guarantee": "at-least-once"})}))
        statements = t_env.create_statement_set()
        statements.add_insert(name, table)
        statements.attach_as_datastream()

    def write_strings(self, stream: DataStream, topic: str, name: str) -> None:
        sink = KafkaSink.builder().set_bootstrap_servers(self.args.bootstrap_servers) \
            .set_record_serializer(KafkaRecordSerializationSchema.builder().set_topic(topic)
                                   .set_value_serialization_schema(SimpleStringSchema()).build()) \
            .set_delivery_guarantee(DeliveryGuarantee.AT_LEAST_ONCE).build()
        stream.sink_to(sink).name(name)

    def publish_rows(self, t_env: StreamTableEnvironment, stream: DataStream, output: Output,
                     topic: str, name: str) -> None:
        """Flink's upsert-kafka sink (Java, at least once): each row as JSON (timestamps
        ISO-8601, UTC), its key the partition key's text (e.g. ``user_key``). The sink runs in
        a task of its own (``rescale``: subtask i of ``stream`` to subtask i of the sink, so a
        key's rows stay in order), not chained to the Python operator that makes the rows (in
        thread mode chained work holds its interpreter: 157-213 events/s chained, 230-286
        not, ``bench jobs --events 20000``, live_activity)."""
        t_env.execute_sql(f"""CREATE TEMPORARY TABLE {name} ({output.sql_columns}) WITH (
            'connector' = 'upsert-kafka', 'topic' = '{topic}',
            'properties.bootstrap.servers' = '{self.args.bootstrap_servers}',
            'key.format' = 'raw', 'value.format' = 'json',
            'value.json.timestamp-format.standard' = 'ISO-8601')""")
        statements = t_env.create_statement_set()
        statements.add_insert(name, t_env.from_data_stream(stream.rescale()).select(
            *(col(c).cast(DataTypes.TIMESTAMP(3)) if output.table.column(c).cql_type ==
              "timestamp" else col(c) for c in output.columns)))
        statements.attach_as_datastream()


def _committed_else_earliest() -> KafkaOffsetsInitializer:
    """The consumer group's committed offsets, else the earliest. Built in Java: PyFlink's
    ``KafkaOffsetResetStrategy`` names the class of the shaded SQL connector jar, and the jobs
    ship the plain connector with Kafka's own client."""
    from pyflink.java_gateway import get_gateway

    jvm = get_gateway().jvm
    initializer = jvm.org.apache.flink.connector.kafka.source.enumerator.initializer
    return KafkaOffsetsInitializer(initializer.OffsetsInitializer.committedOffsets(
        jvm.org.apache.kafka.clients.consumer.OffsetResetStrategy.EARLIEST))


def _json_values(t_env: StreamTableEnvironment, stream: DataStream) -> DataStream:
    """The JSON strings of a stream of ``Row(key, value)`` (:data:`~personastream_flink.rows.
    JSON_ROW_TYPE`), as one-field rows, picked in Java (a Table projection, no Python)."""
    return t_env.to_append_stream(t_env.from_data_stream(stream).select(col("value")),
                                  Types.ROW_NAMED(["value"], [Types.STRING()]))


def table_rows(t_env: StreamTableEnvironment, table, output: Output) -> DataStream:
    """The rows of ``table`` (its columns those of ``output``, in order) as a stream of named
    rows of ``output``'s types, for a sink that needs to know them (Flink's Cassandra sink)."""
    return t_env.to_append_stream(table, output.row_type)


def table_env(env: StreamExecutionEnvironment, io, time_column: str | None = None,
              watermark_s: int = 0, idle_timeout_s: int | None = None) -> StreamTableEnvironment:
    """A table environment in UTC with ``events_enriched`` declared on ``io`` (with its rowtime
    when ``time_column`` is given; a partition silent for ``idle_timeout_s`` does not hold the
    watermark back)."""
    t_env = StreamTableEnvironment.create(env)
    t_env.get_config().set("table.local-time-zone", "UTC")
    if time_column is not None and idle_timeout_s is not None:
        t_env.get_config().set("table.exec.source.idle-timeout", f"{idle_timeout_s} s")
    t_env.execute_sql(source_ddl(io.events_options, time_column=time_column,
                                 watermark_s=watermark_s))
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

    A job's windows and its late events both read this view, so they share one source and one
    watermark: each event is on time or late, never both nor neither (two queries on
    ``events_enriched`` would each get their own source, whose watermarks differ)."""
    flagged = t_env.sql_query(sql_template.render("events_flagged", fragments={"late": late}))
    schema = Schema.new_builder().column_by_metadata("rowtime", "TIMESTAMP_LTZ(3)") \
        .watermark("rowtime", "SOURCE_WATERMARK()").build()
    t_env.create_temporary_view("events_timed",
                                t_env.from_data_stream(t_env.to_data_stream(flagged), schema))


def user_activity(t_env: StreamTableEnvironment) -> KeyedStream:
    """Per user id, anonymous id and minute of event time: counts, spend, item events and CRM
    updates (``sql/user_activity_per_minute.sql``) of the events on time by
    :data:`BEHIND_WATERMARK` (declares ``events_timed``), keyed by the customer (``user_key``,
    for :func:`~personastream_flink.erasure.keyed_with_erasures`)."""
    timed_events(t_env, BEHIND_WATERMARK)
    return t_env.to_data_stream(t_env.sql_query(sql_template.render(
        "user_activity_per_minute", fragments={"customer_activity": customer_activity()}))) \
        .key_by(lambda r: user_key(r.user_id, r.anonymous_id), key_type=Types.STRING())

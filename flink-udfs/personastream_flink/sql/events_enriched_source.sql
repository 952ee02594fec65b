-- Enriched events as NiFi publishes them to Kafka (or the same JSON records from a file); the
-- columns come from the event schemas (personastream_flink.event_table), so a field added to a
-- schema appears here. The time fragment declares the rowtime and its watermark for jobs that
-- window; the options fragment, the connector (event_table.kafka_options or file_options).
CREATE TABLE events_enriched (
    {{columns}}{{time}}
) WITH (
    {{options}},
    'format' = 'json',
    'json.fail-on-missing-field' = 'false',
    'json.ignore-parse-errors' = 'false'
)

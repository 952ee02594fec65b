-- Enriched events as NiFi publishes them to Kafka; the columns come from the event schemas
-- (personastream_flink.event_table), so a field added to a schema appears here. The time
-- fragment declares the rowtime and its watermark for jobs that window.
CREATE TABLE events_enriched (
    {{columns}}{{time}}
) WITH (
    'connector' = 'kafka',
    'topic' = ${topic},
    'properties.bootstrap.servers' = ${bootstrap_servers},
    'properties.group.id' = ${group_id},
    'properties.auto.offset.reset' = 'earliest',
    'scan.startup.mode' = 'group-offsets',
    'format' = 'json',
    'json.fail-on-missing-field' = 'false',
    'json.ignore-parse-errors' = 'false'
)

-- Enriched events as NiFi publishes them to Kafka: one JSON document per record.
CREATE TABLE events_enriched (
    payload STRING
) WITH (
    'connector' = 'kafka',
    'topic' = ${topic},
    'properties.bootstrap.servers' = ${bootstrap_servers},
    'properties.group.id' = ${group_id},
    'properties.auto.offset.reset' = 'earliest',
    'scan.startup.mode' = 'group-offsets',
    'format' = 'raw'
)

-- A Kafka topic written as (key, value) strings, both raw: the key the record's (Kafka's own
-- partitioner hashes it, as the other producers of the topic do), a null value a tombstone.
-- The options fragment names the connector and topic (job_io.KafkaCassandra.publish_keyed).
CREATE TEMPORARY TABLE {{name}} (
    `key` STRING,
    `value` STRING
) WITH (
    {{options}},
    'key.format' = 'raw',
    'key.fields' = 'key',
    'value.format' = 'raw',
    'value.fields-include' = 'EXCEPT_KEY'
)

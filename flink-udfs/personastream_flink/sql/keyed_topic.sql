-- A Kafka topic as (key, value) strings, both raw: written, the key is the record's (Kafka's
-- own partitioner hashes it, as the other producers of the topic do) and a null value a
-- tombstone; read, a tombstone's value is NULL. The options fragment names the connector and
-- topic (job_io.KafkaCassandra.publish_keyed, promotions_control).
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

-- The promotions control topic (compacted, keyed by promotion): key and value as raw text, a
-- tombstone's value NULL. The options fragment: the Kafka connector's.
CREATE TEMPORARY TABLE promotions_control_records (
    `promotion` STRING,
    `record` STRING
) WITH (
    {{options}},
    'key.format' = 'raw',
    'key.fields' = 'promotion',
    'value.format' = 'raw',
    'value.fields-include' = 'EXCEPT_KEY'
)

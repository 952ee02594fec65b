-- Changes of the operational database's customers table as the Debezium connector writes them
-- (personastream_stack.cdc: JSON envelopes without schemas, timestamps ISO-8601 in UTC): op
-- 'r' (snapshot), 'c', 'u' with the whole row in `after`; 'd' with only the key in `before`
-- (the table's default replica identity); a tombstone after a delete is skipped by the format.
-- The options fragment names the connector (job_io: the Kafka topic, or a file in tests) and
-- the format (merge_customers.CHANGE_FORMAT).
CREATE TEMPORARY TABLE cdc_customers (
    `before` ROW<`account_id` STRING>,
    `after` ROW<`account_id` STRING, `tier` STRING, `birth_year` INT, `gender` STRING,
                `country` STRING, `marketing_consent` BOOLEAN,
                `consent_updated_at` TIMESTAMP_LTZ(6), `updated_at` TIMESTAMP_LTZ(6)>,
    `op` STRING,
    `source` ROW<`ts_us` BIGINT>
) WITH (
    {{options}}
)

-- A customer's account as it is after each snapshot read, insert or update: the static
-- attributes of its profile (the columns merge_customers writes to Cassandra profiles, in
-- table order), and the change's commit time in microseconds, the write's timestamp.
SELECT
    {{user_key}} AS user_key,
    `after`.`tier` AS crm_tier,
    `after`.`birth_year` AS crm_birth_year,
    `after`.`gender` AS crm_gender,
    `after`.`country` AS crm_country,
    `after`.`marketing_consent` AS marketing_consent,
    CAST(`after`.`consent_updated_at` AS TIMESTAMP(3)) AS consent_updated_at,
    CAST(`after`.`updated_at` AS TIMESTAMP(3)) AS crm_updated_at,
    `source`.`ts_us` AS written_at_us
FROM customer_changes
WHERE `op` IN ('r', 'c', 'u') AND {{user_key}} IS NOT NULL

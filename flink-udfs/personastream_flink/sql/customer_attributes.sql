-- A customer's account as it is after each snapshot read, insert or update that keeps the
-- contract: the static attributes of its profile (the columns merge_customers writes to
-- Cassandra profiles, in table order), typed from the change's text, the account's whole
-- row as a JSON object of text values (columns added to the table included), and the
-- change's commit time in microseconds, the write's timestamp.
SELECT
    {{user_key}} AS user_key,
    {{columns}},
    JSON_STRING(`after`) AS crm_record,
    ts_us AS written_at_us
FROM customer_changes
WHERE `op` IN ('r', 'c', 'u') AND violations = ''

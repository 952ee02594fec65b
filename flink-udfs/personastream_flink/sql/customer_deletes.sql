-- The customers deleted in the operational database (a delete carries only the key), and
-- when the delete was committed (epoch ms).
SELECT
    {{user_key}} AS user_key,
    ts_us / 1000 AS deleted_at_ms
FROM customer_changes
WHERE `op` = 'd' AND violations = ''

-- An order as it is after each snapshot read, insert or update that keeps the contract, in
-- its customer's purchase history (the columns of Cassandra orders_by_user, in table order,
-- typed from the change's text), and the change's commit time in microseconds, the write's
-- timestamp.
SELECT
    {{user_key}} AS user_key,
    {{columns}},
    ts_us AS written_at_us
FROM order_changes
WHERE `op` IN ('r', 'c', 'u') AND violations = ''

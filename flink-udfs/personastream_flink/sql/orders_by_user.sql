-- An order as it is after each snapshot read, insert or update, in its customer's purchase
-- history (the columns of Cassandra orders_by_user, in table order), and the change's commit
-- time in microseconds, the write's timestamp.
SELECT
    {{user_key}} AS user_key,
    `after`.`order_id` AS order_id,
    `after`.`status` AS status,
    `after`.`n_items` AS n_items,
    CAST(`after`.`total` AS DOUBLE) AS total,
    `after`.`currency` AS currency,
    CAST(`after`.`placed_at` AS TIMESTAMP(3)) AS placed_at,
    CAST(`after`.`updated_at` AS TIMESTAMP(3)) AS updated_at,
    `source`.`ts_us` AS written_at_us
FROM cdc_orders
WHERE `op` IN ('r', 'c', 'u') AND {{user_key}} IS NOT NULL AND `after`.`order_id` IS NOT NULL

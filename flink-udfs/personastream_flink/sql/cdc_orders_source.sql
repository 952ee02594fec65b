-- Changes of the operational database's orders table as the Debezium connector writes them
-- (as cdc_customers_source.sql; `total`, numeric(12,2), arrives as a decimal string).
CREATE TEMPORARY TABLE cdc_orders (
    `after` ROW<`order_id` STRING, `account_id` STRING, `status` STRING, `n_items` INT,
                `total` STRING, `currency` STRING, `placed_at` TIMESTAMP_LTZ(6),
                `updated_at` TIMESTAMP_LTZ(6)>,
    `op` STRING,
    `source` ROW<`ts_us` BIGINT>
) WITH (
    {{options}}
)

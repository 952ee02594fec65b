-- Running totals per experiment and variant, one row out per fact in (an OVER aggregate:
-- insert-only, so Flink's Cassandra sink can upsert it). written_at_us, the group's number of
-- facts so far, grows with every row of the group: the row's Cassandra write time, so a write
-- completing late never overwrites a newer one.
SELECT
    experiment, variant,
    COUNT(DISTINCT exposed_key) OVER w AS exposed_customers,
    CAST(SUM(impression) OVER w AS BIGINT) AS impressions,
    CAST(SUM(click) OVER w AS BIGINT) AS clicks,
    COUNT(DISTINCT clicker_key) OVER w AS clicking_customers,
    CAST(SUM(add_to_cart) OVER w AS BIGINT) AS add_to_carts,
    COUNT(DISTINCT carter_key) OVER w AS carting_customers,
    CAST(SUM(purchase) OVER w AS BIGINT) AS purchases,
    COUNT(DISTINCT buyer_key) OVER w AS converted_customers,
    CAST(SUM(revenue) OVER w AS DOUBLE) AS revenue,
    CAST(CURRENT_TIMESTAMP AS TIMESTAMP(3)) AS updated_at,
    COUNT(*) OVER w AS written_at_us
FROM (SELECT *, PROCTIME() AS fact_time FROM experiment_facts)
WINDOW w AS (PARTITION BY experiment, variant ORDER BY fact_time
             ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)

-- One row per user id, anonymous id and minute of event time: counts, spend, the item events
-- (ms, type, item, category, brand) and the CRM attribute updates, for the profile builder;
-- late events (events_timed.late) and the storefront's impressions and clicks
-- (event_table.customer_activity) are left out.
-- CHR(31) (unit separator) separates fields and U+001E (record separator) records of the two
-- lists (personastream_flink.profiles).
SELECT
    user_id,
    anonymous_id,
    MIN(event_ms) AS first_ms,
    MAX(event_ms) AS last_ms,
    COUNT(*) AS n_events,
    SUM(CASE WHEN event_type = 'product_view' THEN 1 ELSE 0 END) AS `views`,
    SUM(CASE WHEN event_type = 'add_to_cart' THEN 1 ELSE 0 END) AS carts,
    SUM(CASE WHEN event_type = 'purchase' THEN 1 ELSE 0 END) AS purchases,
    SUM(CASE WHEN event_type = 'purchase' THEN total ELSE 0 END) AS spend,
    LISTAGG(CASE WHEN item_id IS NOT NULL THEN CONCAT_WS(CHR(31), CAST(event_ms AS STRING),
        event_type, item_id, COALESCE(category, ''), COALESCE(brand, '')) END, U&'\001E')
        AS item_events,
    LISTAGG(CASE WHEN event_type = 'customer_update' THEN CONCAT(CAST(event_ms AS STRING),
        CHR(31), JSON_STRING(attributes)) END, U&'\001E') AS attribute_updates
FROM TABLE(TUMBLE(TABLE events_timed, DESCRIPTOR(rowtime), INTERVAL '1' MINUTE))
WHERE NOT late AND {{customer_activity}}
GROUP BY user_id, anonymous_id, window_start, window_end

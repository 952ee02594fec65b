-- Enriched events as they arrive, one row each, for the live_activity job (no windows and no
-- watermark: each event is folded at once, out-of-order ones by the fold itself). event_ms is
-- the client's time capped by receipt (event_table.TIME_COLUMNS, as in
-- build_profiles); items_json is a purchase's order lines as JSON. Impressions and clicks of
-- the storefront are left out (event_table.customer_activity), and so are events of no
-- customer (user_key, identity.user_key_sql, null).
SELECT
    {{user_key}} AS user_key,
    event_type,
    item_id,
    category,
    brand,
    {{event_ms}} AS event_ms,
    JSON_STRING(`items`) AS items_json
FROM events_enriched
WHERE {{customer_activity}} AND {{user_key}} IS NOT NULL

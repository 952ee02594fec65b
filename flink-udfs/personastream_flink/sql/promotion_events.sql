-- What evaluate_promotions reads, keyed by the customer: each enriched event (erased FALSE;
-- event_ms is the client's time capped by receipt, received_ms the ingest flow's receipt) and
-- each erasure request (erased TRUE, from the view erasure_requests_raw: the request's JSON in
-- column f0), in one stream so that one keyed function both follows the promotions and
-- forgets an erased customer.
SELECT
    {{user_key}} AS user_key,
    FALSE AS erased,
    event_id,
    event_type,
    item_id,
    category,
    brand,
    quantity,
    {{event_ms}} AS event_ms,
    COALESCE(received_at_ms, 0) AS received_ms,
    geo.country AS country,
    device.`type` AS device_type
FROM events_enriched
WHERE {{user_key}} IS NOT NULL
UNION ALL
SELECT
    JSON_VALUE(f0, '$.user_key') AS user_key,
    TRUE AS erased,
    CAST(NULL AS STRING) AS event_id,
    CAST(NULL AS STRING) AS event_type,
    CAST(NULL AS STRING) AS item_id,
    CAST(NULL AS STRING) AS category,
    CAST(NULL AS STRING) AS brand,
    CAST(NULL AS BIGINT) AS quantity,
    CAST(0 AS BIGINT) AS event_ms,
    CAST(0 AS BIGINT) AS received_ms,
    CAST(NULL AS STRING) AS country,
    CAST(NULL AS STRING) AS device_type
FROM erasure_requests_raw
WHERE JSON_VALUE(f0, '$.user_key') IS NOT NULL

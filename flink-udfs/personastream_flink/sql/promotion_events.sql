-- What evaluate_promotions reads, keyed by the customer, in one stream so that one keyed
-- function both follows the promotions and knows all of it: each enriched event (erased FALSE;
-- event_ms is the client's time capped by receipt, received_ms the ingest flow's receipt),
-- and the records about a customer that carry no event: each erasure request (erased TRUE,
-- from the view erasure_requests_raw: the request's JSON in column f0), each segment
-- assignment (segment_id), and each offer the job's ledger refused (refused_promotion;
-- event_id the offer's id, event_ms its issue time).
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
    device.`type` AS device_type,
    CAST(NULL AS INT) AS segment_id,
    CAST(NULL AS STRING) AS refused_promotion
FROM events_enriched
WHERE {{user_key}} IS NOT NULL
UNION ALL
SELECT
    user_key,
    erased,
    event_id,
    CAST(NULL AS STRING) AS event_type,
    CAST(NULL AS STRING) AS item_id,
    CAST(NULL AS STRING) AS category,
    CAST(NULL AS STRING) AS brand,
    CAST(NULL AS BIGINT) AS quantity,
    event_ms,
    CAST(0 AS BIGINT) AS received_ms,
    CAST(NULL AS STRING) AS country,
    CAST(NULL AS STRING) AS device_type,
    segment_id,
    refused_promotion
FROM (
    SELECT JSON_VALUE(f0, '$.user_key') AS user_key, TRUE AS erased,
           CAST(NULL AS STRING) AS event_id, CAST(0 AS BIGINT) AS event_ms,
           CAST(NULL AS INT) AS segment_id, CAST(NULL AS STRING) AS refused_promotion
    FROM erasure_requests_raw
    UNION ALL
    SELECT user_key, FALSE, CAST(NULL AS STRING), CAST(0 AS BIGINT), segment_id,
           CAST(NULL AS STRING)
    FROM customer_segment_records
    WHERE segment_id IS NOT NULL
    UNION ALL
    SELECT user_key, FALSE, offer_id, issued_ms, CAST(NULL AS INT), promotion
    FROM promotion_refusal_records
    WHERE promotion IS NOT NULL AND issued_ms IS NOT NULL
)
WHERE user_key IS NOT NULL

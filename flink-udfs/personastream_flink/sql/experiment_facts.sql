-- One row per thing an experiment counts, insert-only: a customer's exposure
-- (experiment_exposures); an impression or click (its variant from the assignment hash) under
-- an experiment, or of a banner's offer made under one (joined by offer_id); an add_to_cart or
-- purchase of an exposed customer received at or after the exposure (inner joins of
-- insert-only inputs; their state kept {{ttl}}).
SELECT
    experiment, variant, user_key, user_key AS exposed_key, 0 AS impression, 0 AS click,
    CAST(NULL AS STRING) AS clicker_key, 0 AS add_to_cart, CAST(NULL AS STRING) AS carter_key,
    0 AS purchase, CAST(NULL AS STRING) AS buyer_key, 0.0 AS revenue
FROM experiment_exposures
UNION ALL
SELECT
    experiment, variant, user_key, CAST(NULL AS STRING) AS exposed_key,
    CASE WHEN event_type = 'impression' THEN 1 ELSE 0 END AS impression,
    CASE WHEN event_type = 'click' THEN 1 ELSE 0 END AS click,
    CASE WHEN event_type = 'click' THEN user_key END AS clicker_key,
    0 AS add_to_cart, CAST(NULL AS STRING) AS carter_key,
    0 AS purchase, CAST(NULL AS STRING) AS buyer_key, 0.0 AS revenue
FROM (
    SELECT event_type, experiment, user_key, {{variant}} AS variant
    FROM (
        SELECT event_type, experiment, user_key
        FROM experiment_events
        WHERE event_type IN ('impression', 'click') AND experiment IS NOT NULL
        UNION ALL
        SELECT /*+ STATE_TTL('e' = '{{ttl}}', 'r' = '{{ttl}}') */
            e.event_type, r.experiment, e.user_key
        FROM experiment_events AS e
        JOIN experiment_offers AS r ON e.offer_id = r.offer_id
        WHERE e.event_type IN ('impression', 'click') AND e.experiment IS NULL
    )
)
WHERE variant IS NOT NULL
UNION ALL
SELECT /*+ STATE_TTL('o' = '{{ttl}}', 'x' = '{{ttl}}') */
    x.experiment, x.variant, o.user_key,
    CAST(NULL AS STRING) AS exposed_key, 0 AS impression, 0 AS click,
    CAST(NULL AS STRING) AS clicker_key,
    CASE WHEN o.event_type = 'add_to_cart' THEN 1 ELSE 0 END AS add_to_cart,
    CASE WHEN o.event_type = 'add_to_cart' THEN o.user_key END AS carter_key,
    CASE WHEN o.event_type = 'purchase' THEN 1 ELSE 0 END AS purchase,
    CASE WHEN o.event_type = 'purchase' THEN o.user_key END AS buyer_key,
    o.revenue AS revenue
FROM experiment_events AS o
JOIN experiment_exposures AS x
  ON o.user_key = x.user_key AND o.received_ms >= x.received_ms
WHERE o.event_type IN ('add_to_cart', 'purchase')

-- The events experiments count (impressions and clicks under an experiment or of a banner's
-- offer, add_to_carts and purchases), each with its customer (the contracts' identity rule),
-- the time ingest received it (ms) and a processing-time attribute: a customer's events share
-- a Kafka partition, so they are processed in the order they were received.
SELECT user_key, event_type, experiment, offer_id, received_ms, revenue, PROCTIME() AS pt
FROM (
    SELECT
        {{user_key}} AS user_key,
        event_type,
        experiment,
        offer_id,
        COALESCE(received_at_ms, 0) AS received_ms,
        CASE WHEN event_type = 'purchase' THEN COALESCE(total, 0.0) ELSE 0.0 END AS revenue
    FROM events_enriched
    WHERE event_type IN ('add_to_cart', 'purchase')
       OR (event_type IN ('impression', 'click')
           AND (experiment IS NOT NULL OR offer_id IS NOT NULL))
)
WHERE user_key IS NOT NULL

-- Events keyed by identity (the contracts' rule, as SQL: personastream_contracts.identity),
-- ready to upsert into Cassandra events_by_user. received_at is set once by the ingest flow
-- (UTC, ms), so a record published twice lands on the same row.
SELECT
    {{user_key}} AS user_key,
    TO_TIMESTAMP(received_at, 'yyyy-MM-dd''T''HH:mm:ss.SSS''Z''') AS received_at,
    event_id,
    event_type,
    item_id,
    category,
    brand,
    price,
    `query`,
    page_url,
    geo.country AS country,
    device.`type` AS device_type,
    CAST(CURRENT_TIMESTAMP AS TIMESTAMP(3)) AS landed_at
FROM events_enriched

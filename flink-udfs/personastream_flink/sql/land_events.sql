-- Events keyed by identity, ready to upsert into Cassandra events_by_user. received_at is set
-- once by the ingest flow (UTC, ms), so a record published twice lands on the same row.
SELECT
    user_key(JSON_VALUE(payload, '$.user_id'), JSON_VALUE(payload, '$.anonymous_id')) AS user_key,
    TO_TIMESTAMP(JSON_VALUE(payload, '$.received_at'), 'yyyy-MM-dd''T''HH:mm:ss.SSS''Z''')
        AS received_at,
    JSON_VALUE(payload, '$.event_id') AS event_id,
    JSON_VALUE(payload, '$.event_type') AS event_type,
    payload,
    CAST(CURRENT_TIMESTAMP AS TIMESTAMP(3)) AS landed_at
FROM events_enriched

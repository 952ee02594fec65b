-- Events keyed by identity, ready to upsert into Cassandra events_by_user.
SELECT
    user_key(JSON_VALUE(payload, '$.user_id'), JSON_VALUE(payload, '$.anonymous_id')) AS user_key,
    CAST(kafka_ts AS TIMESTAMP(3)) AS event_time,
    JSON_VALUE(payload, '$.event_id') AS event_id,
    JSON_VALUE(payload, '$.event_type') AS event_type,
    payload,
    CAST(CURRENT_TIMESTAMP AS TIMESTAMP(3)) AS landed_at
FROM events_enriched

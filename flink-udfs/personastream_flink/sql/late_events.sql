-- Events that arrived behind the watermark: too late for the windows, dead-lettered instead.
SELECT event_id, event_type, schema_version, user_id, anonymous_id, client_ts, received_at,
    event_ms, CAST(CURRENT_WATERMARK(event_time) AS STRING) AS watermark_time
FROM events_enriched
WHERE event_time <= CURRENT_WATERMARK(event_time)

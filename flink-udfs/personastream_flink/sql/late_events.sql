-- Events judged late by the job's rule (events_timed.late): too late for the windows,
-- dead-lettered instead.
SELECT event_id, event_type, schema_version, user_id, anonymous_id, item_id, client_ts,
    received_at, event_ms, CAST(CURRENT_WATERMARK(rowtime) AS STRING) AS watermark_time
FROM events_timed
WHERE late

-- Events at or after the watermark (the allowed lateness is the watermark's delay); the
-- others are late_events.
CREATE TEMPORARY VIEW on_time_events AS
SELECT * FROM events_enriched
WHERE CURRENT_WATERMARK(event_time) IS NULL OR event_time > CURRENT_WATERMARK(event_time)

-- Product views per item per tumbling window of event time (the ingest receipt time), views
-- whose window had closed left out (they are late_events); the heavy lifting on raw events
-- stays in Flink SQL, Python sees one row per item and window.
SELECT
    item_id,
    window_start,
    window_end,
    COUNT(*) AS `views`
FROM TABLE(TUMBLE(TABLE events_timed, DESCRIPTOR(rowtime), {{window}}))
WHERE event_type = 'product_view' AND NOT late
GROUP BY item_id, window_start, window_end

-- The enriched events with the job's lateness rule evaluated once, as `late` (a NULL
-- watermark, before the first one, is on time); job_io.timed_events turns them into the view
-- events_timed, which the job's windows and its late events both read.
SELECT *, COALESCE({{late}}, FALSE) AS late
FROM events_enriched

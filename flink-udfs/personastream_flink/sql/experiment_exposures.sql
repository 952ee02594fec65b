-- Each customer's first impression under each experiment (its exposure), with the variant the
-- assignment hash gives it (personastream_models.experiments.assignment_sql; null for an
-- experiment this job was not submitted with, dropped). Keep-first-row deduplication on
-- processing time: insert-only.
SELECT experiment, variant, user_key, received_ms
FROM (
    SELECT
        experiment,
        {{variant}} AS variant,
        user_key,
        received_ms,
        ROW_NUMBER() OVER (PARTITION BY experiment, user_key ORDER BY pt ASC) AS n
    FROM experiment_events
    WHERE event_type = 'impression'
)
WHERE n = 1 AND variant IS NOT NULL

-- Each customer's first exposure to each experiment, with the variant the assignment hash gives
-- it (personastream_models.experiments.assignment_sql; null for an experiment this job was not
-- submitted with, dropped): an impression under the experiment (recommendations), or the
-- promotions job's record of an offer made or held out (promotions: both variants exposed
-- alike, when an offer is or would have been made). Keep-first-row deduplication on
-- processing time: insert-only.
SELECT experiment, variant, user_key, received_ms
FROM (
    SELECT
        experiment,
        {{variant}} AS variant,
        user_key,
        received_ms,
        ROW_NUMBER() OVER (PARTITION BY experiment, user_key ORDER BY pt ASC) AS n
    FROM (
        SELECT experiment, user_key, received_ms, pt
        FROM experiment_events
        WHERE event_type = 'impression' AND experiment IS NOT NULL
        UNION ALL
        SELECT experiment, user_key, received_ms, pt
        FROM exposure_records
    )
)
WHERE n = 1 AND variant IS NOT NULL

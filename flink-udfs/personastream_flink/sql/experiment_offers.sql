-- Each offer made or held out under a promotions experiment, once (its exposure record is
-- published at least once: a replay may repeat it), by its deterministic offer_id: what a
-- banner's impression or click (impression, click 1-1-0: offer_id) is attributed by.
-- Keep-first-row deduplication on processing time: insert-only.
SELECT experiment, offer_id
FROM (
    SELECT experiment, offer_id,
        ROW_NUMBER() OVER (PARTITION BY offer_id ORDER BY pt ASC) AS n
    FROM exposure_records
    WHERE offer_id IS NOT NULL
)
WHERE n = 1

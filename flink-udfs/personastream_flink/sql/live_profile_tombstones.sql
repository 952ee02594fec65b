-- A tombstone of each deleted customer's live profile (its key, no value): every API worker
-- drops its copy, compaction removes the profile from the topic.
SELECT user_key AS `key`, CAST(NULL AS STRING) AS `value`
FROM customer_deletes

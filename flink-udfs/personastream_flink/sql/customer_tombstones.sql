-- A tombstone of each deleted customer (its key, no value), for the topics keyed by customer
-- that API workers follow into memory (live profiles, offers): every worker drops its copy,
-- compaction removes the customer's records from a compacted topic.
SELECT user_key AS `key`, CAST(NULL AS STRING) AS `value`
FROM customer_deletes

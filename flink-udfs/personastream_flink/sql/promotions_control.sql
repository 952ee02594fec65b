-- Each record of the promotions control topic (compacted, keyed by promotion) as its JSON
-- text; a tombstone (the promotion removed) as {"promotion": name, "removed": true}.
SELECT COALESCE(`value`, JSON_OBJECT('promotion' VALUE `key`, 'removed' VALUE TRUE))
FROM promotions_control_records
WHERE `key` IS NOT NULL

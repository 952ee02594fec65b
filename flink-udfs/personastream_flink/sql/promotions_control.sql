-- Each promotion control record as its JSON text; a tombstone (the promotion removed) as
-- {"promotion": name, "removed": true}.
SELECT COALESCE(`record`, JSON_OBJECT('promotion' VALUE `promotion`, 'removed' VALUE TRUE))
FROM promotions_control_records
WHERE `promotion` IS NOT NULL

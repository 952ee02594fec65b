-- An erasure request per deleted customer, keyed by the customer, its value the JSON of
-- personastream_contracts.erasures.erasure_value (a unit test compares the two).
SELECT
    user_key AS `key`,
    JSON_OBJECT('user_key' VALUE user_key, 'source' VALUE ${source},
                'requested_at_ms' VALUE deleted_at_ms) AS `value`
FROM customer_deletes

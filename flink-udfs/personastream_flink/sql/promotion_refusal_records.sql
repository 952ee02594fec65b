-- Offers that evaluate_promotions' ledger refused (a promotion's budget or per-promotion cap;
-- personastream_models.promotion_offers.refusal), read back by the same job so that a refused
-- offer stops counting against the customer's cap: one JSON record each, keyed by the
-- customer. The options name the connector (job_io: the Kafka topic, or a file in tests).
CREATE TEMPORARY TABLE promotion_refusal_records (
    user_key STRING,
    promotion STRING,
    offer_id STRING,
    issued_ms BIGINT
) WITH (
    {{options}},
    'format' = 'json',
    'json.fail-on-missing-field' = 'false',
    'json.ignore-parse-errors' = 'false'
)

-- The promotions job's exposures (evaluate_promotions; personastream_models.promotion_offers.
-- exposure): one JSON record per offer made, or held out, under a promotions experiment, keyed
-- by the customer. Only what the attribution reads; received_ms is the trigger's ingest time.
-- The options name the connector (job_io: the Kafka topic, or a file in tests).
CREATE TEMPORARY TABLE exposure_records (
    experiment STRING,
    user_key STRING,
    offer_id STRING,
    received_ms BIGINT,
    pt AS PROCTIME()
) WITH (
    {{options}},
    'format' = 'json',
    'json.fail-on-missing-field' = 'false',
    'json.ignore-parse-errors' = 'false'
)

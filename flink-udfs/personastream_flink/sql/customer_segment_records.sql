-- assign_segments' segments as evaluate_promotions reads them (a promotion rule's segment
-- condition): one JSON record per assignment, keyed by the customer, the live clusterer's
-- segment id. Only what the job reads. The options name the connector (job_io: the Kafka
-- topic, or a file in tests).
CREATE TEMPORARY TABLE customer_segment_records (
    user_key STRING,
    segment_id INT
) WITH (
    {{options}},
    'format' = 'json',
    'json.fail-on-missing-field' = 'false',
    'json.ignore-parse-errors' = 'false'
)

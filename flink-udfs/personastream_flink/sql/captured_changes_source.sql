-- Changes of a table of the operational database as the Debezium connector writes them
-- (personastream_stack.cdc: JSON envelopes without inline schemas), each read as its text,
-- `change`: the job types and checks the columns it takes with JSON functions
-- (personastream_contracts.captures), so that a change breaking the table's contract is
-- dead-lettered instead of failing the job, and a column added to the table flows through.
-- A tombstone after a delete has no value and is skipped. The options name the connector
-- (job_io: the Kafka topic, or a file in tests) and the raw format.
CREATE TEMPORARY TABLE {{name}} (`change` STRING) WITH (
    {{options}}
)

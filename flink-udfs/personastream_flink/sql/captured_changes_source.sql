-- Changes of a table of the operational database as the Debezium connector writes them
-- (personastream_stack.cdc: JSON envelopes without inline schemas), the row images and the
-- source as maps of text (a number or boolean as its JSON text): the job types and checks the
-- columns it takes (personastream_contracts.captures), so that a change breaking the table's
-- contract is dead-lettered instead of failing the job, and a column added to the table flows
-- through. A tombstone after a delete has no value and is skipped; a record that is not a
-- JSON object fails the job (the connector's converter writes none). The options name the
-- connector (job_io: the Kafka topic, or a file in tests) and the format.
CREATE TEMPORARY TABLE {{name}} (
    `before` MAP<STRING, STRING>,
    `after` MAP<STRING, STRING>,
    `op` STRING,
    `source` MAP<STRING, STRING>
) WITH (
    {{options}}
)

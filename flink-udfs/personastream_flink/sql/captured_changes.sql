-- Each change of one captured table with what every query of it needs: the operation (r
-- snapshot read, c, u, d), the commit time in microseconds, and the failures of the table's
-- contract ('' when the change keeps it; personastream_contracts.captures.violations_sql).
SELECT
    `change`,
    JSON_VALUE(`change`, '$.op') AS op,
    TRY_CAST(JSON_VALUE(`change`, '$.source.ts_us') AS BIGINT) AS ts_us,
    {{violations}} AS violations
FROM {{source}}
WHERE `change` IS NOT NULL

-- Each change of one captured table with what every query of it needs: its row images, the
-- operation (r snapshot read, c, u, d), the commit time in microseconds, and the failures of
-- the table's contract ('' when the change keeps it; captures.violations_sql).
SELECT
    `before`,
    `after`,
    `op`,
    TRY_CAST(`source`['ts_us'] AS BIGINT) AS ts_us,
    {{violations}} AS violations
FROM {{source}}

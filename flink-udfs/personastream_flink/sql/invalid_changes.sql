-- The changes of a captured table that break its contract, for dead letters: the change as
-- the job read it, its commit time (µs, null if it has none) and its failures.
SELECT `op`, `before`, `after`, ts_us, violations
FROM {{changes}}
WHERE violations <> ''

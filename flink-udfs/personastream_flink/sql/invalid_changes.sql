-- The changes of a captured table that break its contract, for dead letters: the change's
-- text, its commit time (µs, null if it has none) and its failures.
SELECT `change`, ts_us, violations
FROM {{changes}}
WHERE violations <> ''

"""How fast ``merge_customers`` reads captured changes into profile attributes: the job's reading
(row images as maps of text, typed and checked in SQL against the table's contract,
:mod:`personastream_contracts.captures`) beside Flink's ``json`` format with a typed schema
(:data:`TYPED_JSON`, how the job read them before it checked contracts: a change that broke
the schema failed the job, and columns added to the table were dropped).

Both read the same N Debezium change records of the seeded sample customers
(:func:`change_records`, as the connector writes them) from a file into a blackhole sink, in a
local PyFlink environment (one slot), alternating, ``repeat`` times each; the rate excludes the
fixed cost of a job (the same run on one record). The reading as first written (each record
as raw text, every field read with ``JSON_VALUE``, which parses the text again per call) did
9,850 changes/s against 212,962 for the typed schema in one run of this benchmark (0.05x);
maps parse each record once.

Example: ``personastream bench changes --changes 100000``
"""
from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable

from personastream_contracts import captures, operational
from personastream_contracts.identity import user_key_sql

Progress = Callable[[str], None]
T0_US = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z

#: The reading before contracts (the job's SQL at commit 9c57949): Flink's json format with
#: the captured columns typed in the table's schema.
TYPED_JSON = {
    "source": """CREATE TEMPORARY TABLE cdc_customers (
    `before` ROW<`account_id` STRING>,
    `after` ROW<`account_id` STRING, `tier` STRING, `birth_year` INT, `gender` STRING,
                `country` STRING, `marketing_consent` BOOLEAN,
                `consent_updated_at` TIMESTAMP_LTZ(6), `updated_at` TIMESTAMP_LTZ(6)>,
    `op` STRING,
    `source` ROW<`ts_us` BIGINT>
) WITH ('connector' = 'filesystem', 'path' = '{path}', 'format' = 'json',
        'json.timestamp-format.standard' = 'ISO-8601', 'json.fail-on-missing-field' = 'false',
        'json.ignore-parse-errors' = 'false')""",
    "attributes": """SELECT
    {user_key} AS user_key,
    `after`.`tier` AS crm_tier,
    `after`.`birth_year` AS crm_birth_year,
    `after`.`gender` AS crm_gender,
    `after`.`country` AS crm_country,
    `after`.`marketing_consent` AS marketing_consent,
    CAST(`after`.`consent_updated_at` AS TIMESTAMP(3)) AS consent_updated_at,
    CAST(`after`.`updated_at` AS TIMESTAMP(3)) AS crm_updated_at,
    `source`.`ts_us` AS written_at_us
FROM customer_changes
WHERE `op` IN ('r', 'c', 'u') AND {user_key} IS NOT NULL"""}
READINGS = ("typed_json", "contract")


def change_records(n: int, seed: int = 42) -> list[str]:
    """``n`` snapshot records of the seeded sample customers, as Debezium's JSON converter
    writes them (no inline schemas, timestamps ISO-8601 in UTC with microseconds).

    >>> record = json.loads(change_records(1)[0])
    >>> record["op"], record["after"]["account_id"], record["after"]["created_at"][-8:]
    ('r', 'user-0', '.000000Z')
    """
    iso = "%Y-%m-%dT%H:%M:%S.%fZ"
    records = []
    for i, customer in enumerate(operational.sample_customers(n, seed)):
        after = {**customer, "updated_at": customer["created_at"]}
        for column in ("consent_updated_at", "created_at", "updated_at"):
            after[column] = after[column].strftime(iso) if after[column] else None
        records.append(json.dumps({"before": None, "after": after, "op": "r",
                                   "source": {"ts_us": T0_US + i, "table": "customers"}},
                                  separators=(",", ":")))
    return records


def _environment():
    from pyflink.datastream import StreamExecutionEnvironment
    from pyflink.table import StreamTableEnvironment

    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(1)
    t_env = StreamTableEnvironment.create(env)
    t_env.get_config().set("table.local-time-zone", "UTC")
    return t_env


def _attributes(t_env, reading: str, path: Path):
    """The attribute rows of the changes in ``path`` as ``reading`` reads them (a Table)."""
    from personastream_flink import merge_customers

    if reading == "typed_json":
        t_env.execute_sql(TYPED_JSON["source"].format(path=path))
        t_env.create_temporary_view("customer_changes", t_env.from_data_stream(
            t_env.to_data_stream(t_env.from_path("cdc_customers"))))
        return t_env.sql_query(TYPED_JSON["attributes"].format(user_key=user_key_sql(
            "`after`.`account_id`", "CAST(NULL AS STRING)")))

    class _File:  # the job's seam for its change sources (job_io / testing.FileIO)
        @staticmethod
        def changes_options(topic: str) -> dict[str, str]:
            return {"connector": "filesystem", "path": str(path)}

    merge_customers.declare_changes(t_env, captures.CUSTOMERS, "cdc.customers", _File())
    return merge_customers.valid_rows(t_env, captures.CUSTOMERS, "customer_attributes")


def timed_run(reading: str, path: Path) -> float:
    """Seconds to read every change in ``path`` into a blackhole sink, job start included."""
    from pyflink.table import Schema, TableDescriptor

    t_env = _environment()
    table = _attributes(t_env, reading, path)
    t_env.create_temporary_table("sink", TableDescriptor.for_connector("blackhole").schema(
        Schema.new_builder().from_row_data_type(table.get_schema().to_row_data_type())
        .build()).build())
    started = time.monotonic()
    table.execute_insert("sink").wait()
    return time.monotonic() - started


def run(n_changes: int, repeat: int = 3, progress: Progress = print) -> dict:
    """Both readings on the same ``n_changes`` records, alternating; rates per reading."""
    with tempfile.TemporaryDirectory(prefix="bench-changes-") as folder:
        one, many = Path(folder) / "one.jsonl", Path(folder) / "many.jsonl"
        records = change_records(n_changes)
        one.write_text(records[0] + "\n")
        many.write_text("\n".join(records) + "\n")
        seconds: dict[str, dict[str, list[float]]] = {r: {"one": [], "many": []}
                                                      for r in READINGS}
        for round_ in range(repeat):
            for reading in READINGS:
                for size, path in (("one", one), ("many", many)):
                    seconds[reading][size].append(timed_run(reading, path))
                progress(f"round {round_ + 1}/{repeat} {reading}: {n_changes} changes in "
                         f"{seconds[reading]['many'][-1]:.1f} s (one change: "
                         f"{seconds[reading]['one'][-1]:.1f} s)")
    rates = {}
    for reading, runs in seconds.items():
        work = [m - o for m, o in zip(runs["many"], runs["one"])]
        rates[reading] = {"seconds": runs["many"], "fixed_s": runs["one"],
                          "changes_per_s": n_changes / statistics.median(work)}
    return {"changes": n_changes, "repeat": repeat, "readings": rates,
            "ratio": rates["contract"]["changes_per_s"] / rates["typed_json"]["changes_per_s"]}


def report(result: dict, command: str) -> str:
    lines = [f"merge_customers reading {result['changes']:,} customer changes into profile "
             f"attributes, local PyFlink, {result['repeat']} runs each (median; a job's fixed "
             "cost, its run on one change, subtracted):"]
    for reading, r in result["readings"].items():
        lines.append(f"  {reading:<11} {r['changes_per_s']:>9,.0f} changes/s   runs "
                     + ", ".join(f"{s:.1f}" for s in r["seconds"]) + " s, fixed "
                     + ", ".join(f"{s:.1f}" for s in r["fixed_s"]) + " s")
    lines.append(f"  contract / typed_json: {result['ratio']:.2f}x")
    lines.append(f"reproduce: {command}")
    return "\n".join(lines)

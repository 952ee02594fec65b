"""Change data capture's initial snapshot: how long Debezium takes to put a table of N customers
into Kafka, on the running PostgreSQL, Kafka Connect and Kafka (issue 17).

The run has a schema, connector, replication slot, publication and topics of its own
(``renamed`` settings), all removed afterwards. Its customers are the seeded sample
(``operational.sample_customers``), loaded with PostgreSQL's COPY; then the connector is
deployed and the clock runs from the deploy until every customer's snapshot record (``op``
"r") is committed in the customers topic.

Example: ``personastream bench cdc --customers 100000``
"""
from __future__ import annotations

import json
import time
import uuid
from typing import Callable

from confluent_kafka import KafkaException

from personastream_contracts import operational
from personastream_contracts.settings import renamed
from personastream_stack import cdc
from personastream_stack.kafka import admin_client, read_to_end, record_counts

POLL_S = 1.0
#: Give up when the snapshot has not grown for this long.
STALL_TIMEOUT_S = 120

Progress = Callable[[str], None]


def load_customers(settings, n_customers: int, seed: int) -> float:
    """COPY the seeded sample's ``n_customers`` into the run's ``customers``; seconds taken."""
    customers = operational.sample_customers(n_customers, seed)
    columns = list(customers[0])
    started = time.monotonic()
    with operational.connect(settings) as conn, conn.cursor() as cur:
        with cur.copy(f"COPY customers ({', '.join(columns)}) FROM STDIN") as copy:
            for row in customers:
                copy.write_row([row[c] for c in columns])
    return time.monotonic() - started


def snapshot_records(settings, topic: str) -> int:
    """The committed snapshot records (``op`` "r") in ``topic``."""
    return sum(1 for batch in read_to_end(settings, topic, timeout_s=30) for msg in batch
               if msg.value() and json.loads(msg.value()).get("op") == "r")


def wait_for_snapshot(settings, topic: str, n_customers: int, progress: Progress) -> float:
    """Seconds until ``n_customers`` snapshot records are committed in ``topic``."""
    started = last_growth = time.monotonic()
    seen = 0
    while True:
        try:
            offsets = record_counts(settings, [topic])[topic]  # records and markers
        except KafkaException:  # a topic just created has no leader yet
            offsets = seen
        now = time.monotonic()
        if offsets > seen:
            seen, last_growth = offsets, now
            progress(f"snapshot: {offsets:,} offsets in {topic} after {now - started:.1f}s")
        if offsets >= n_customers and snapshot_records(settings, topic) >= n_customers:
            return time.monotonic() - started
        if now - last_growth > STALL_TIMEOUT_S:
            raise TimeoutError(f"the snapshot stalled at {seen:,} offsets of {n_customers:,} "
                               f"customers in {topic}; see `personastream cdc status` and "
                               "`personastream stack logs connect`")
        time.sleep(POLL_S)


def run(settings, n_customers: int, seed: int = 42, progress: Progress = print) -> dict:
    """Load, snapshot, measure, clean up; the measurements."""
    if n_customers < 1:
        raise ValueError("--customers must be at least 1")
    run_settings = renamed(settings, f"bench_cdc_{uuid.uuid4().hex[:8]}")
    topic = cdc.table_topics(run_settings)["customers"]
    operational.ensure_schema(run_settings)
    try:
        progress(f"loading {n_customers:,} customers into schema {run_settings.postgres_schema}")
        load_s = load_customers(run_settings, n_customers, seed)
        progress(f"loaded in {load_s:.1f}s; deploying connector {run_settings.cdc_connector}")
        started = time.monotonic()
        cdc.deploy(run_settings)
        deploy_s = time.monotonic() - started
        snapshot_s = deploy_s + wait_for_snapshot(run_settings, topic, n_customers, progress)
    finally:
        _clean_up(run_settings)
    return {"customers": n_customers, "copy_s": round(load_s, 2), "deploy_s": round(deploy_s, 2),
            "snapshot_s": round(snapshot_s, 2),
            "snapshot_rows_per_s": round(n_customers / snapshot_s)}


def _clean_up(settings) -> None:
    from psycopg import sql

    cdc.remove(settings)
    with operational.connect(settings, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
            sql.Identifier(settings.postgres_schema)))
    admin = admin_client(settings)  # kept until its futures are done
    for future in admin.delete_topics(cdc.topics(settings), operation_timeout=30).values():
        future.result()


def report(result: dict, command: str) -> str:
    """The measurements as the lines `bench cdc` prints.

    >>> print(report({"customers": 10, "copy_s": 0.1, "deploy_s": 0.2, "snapshot_s": 2.0,
    ...               "snapshot_rows_per_s": 5}, "personastream bench cdc --customers 10"))
    ... # doctest: +NORMALIZE_WHITESPACE
    customers                 10
    COPY into PostgreSQL      0.1 s
    connector deploy (PUT)    0.2 s
    snapshot in Kafka         2.0 s from the deploy (5 rows/s)
    reproduce: personastream bench cdc --customers 10
    """
    return "\n".join([
        f"customers                 {result['customers']:,}",
        f"COPY into PostgreSQL      {result['copy_s']:.1f} s",
        f"connector deploy (PUT)    {result['deploy_s']:.1f} s",
        f"snapshot in Kafka         {result['snapshot_s']:.1f} s from the deploy "
        f"({result['snapshot_rows_per_s']:,} rows/s)",
        f"reproduce: {command}"])

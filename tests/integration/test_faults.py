"""Faults on the real servers (``make test-faults``, after the other integration tests: these
kill the shared servers). What the collector acknowledged is never lost; what a job consumed is
written once after its TaskManager crashes."""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter

import pytest
from cassandra.concurrent import execute_concurrent_with_args
from confluent_kafka import Consumer

from personastream_bench import jobs, traffic
from personastream_bench.load import process_tree
from personastream_contracts.cassandra import keyspace, session
from personastream_stack import flink_jobs, lifecycle
from personastream_stack.flink import rest_get

pytestmark = pytest.mark.faults


def kill_9(settings, component: str) -> None:
    """``kill -9`` of a local server and everything it started (its process group); return
    once its processes are gone (else `stack up` could still see them running)."""
    daemons = lifecycle.COMPONENTS[component](settings).daemons
    pids = [d.running_pid() for d in daemons]
    assert all(pids), f"{component} is not running"
    for group in {os.getpgid(pid) for pid in pids}:  # Flink's two daemons may share one
        os.killpg(group, signal.SIGKILL)
    wait_until(lambda: not any(d.running_pid() for d in daemons), timeout_s=30,
               what=f"the killed {component} processes to end")


def enriched_ids(settings, wanted: set[str], timeout_s: float) -> dict[str, int]:
    """How many times each of ``wanted`` is in the enriched topic, polled until all are (or
    ``timeout_s`` passed)."""
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap_servers,
                         "group.id": f"test-{uuid.uuid4()}", "auto.offset.reset": "earliest"})
    consumer.subscribe([settings.topic_events_enriched])
    seen: dict[str, int] = {}
    deadline = time.monotonic() + timeout_s
    try:
        while not wanted <= set(seen) and time.monotonic() < deadline:
            for msg in consumer.consume(1000, timeout=1):
                if msg.error() is None:
                    event_id = json.loads(msg.value())["event_id"]
                    seen[event_id] = seen.get(event_id, 0) + 1
    finally:
        consumer.close()
    return seen


def test_acknowledged_events_survive_kill_9_of_nifi_then_kafka(isolated):
    s = isolated.settings
    isolated.deploy_ingest()
    events = traffic.sample_events(n_events=3000, n_users=300, seed=31)
    bodies = [json.dumps(e).encode() for e in events[:2000]]  # single events, then batches
    bodies += [json.dumps(events[i:i + 50]).encode() for i in range(2000, 3000, 50)]
    answers = traffic.post_bodies(s.nifi_ingest_url, bodies, concurrency=16,
                                  headers_of=traffic.client_headers)
    kill_9(s, "nifi")  # right after the last answer: most are still in NiFi's queues
    kill_9(s, "kafka")
    acknowledged = set()
    for body, answer in zip(bodies, answers):
        if answer.status == 200:
            doc = json.loads(body)
            acknowledged.update(e["event_id"] for e in (doc if isinstance(doc, list) else [doc]))
    assert len(acknowledged) == len(events)

    lifecycle.up(s, only=("kafka", "nifi"))
    seen = enriched_ids(s, acknowledged, timeout_s=300)
    missing = acknowledged - set(seen)
    assert not missing, f"{len(missing)} acknowledged events never reached Kafka"


def test_landed_rows_exactly_once_after_kill_9_of_the_taskmanager(settings, healthy_stack):
    """land_events writes concurrently (Flink's Cassandra sink, many writes in flight); the
    TaskManager and its Python workers are killed mid-run, after a checkpoint, and a TaskManager
    started again: the job restarts from its last checkpoint and every event has its row, once.
    """
    flink = lifecycle.COMPONENTS["flink"](settings)
    job = jobs.JOBS_UNDER_TEST["land_events"]
    workload = land_events_workload(settings, n_events=200_000, seed=43)
    with jobs.isolated(settings, job.name) as (s, instance):
        jobs.produce(s, workload)
        info = flink_jobs.submit(s, job.name, instance=instance)

        def landed() -> int:
            return jobs.read_output(s, job, workload.user_keys).n_rows

        def checkpointed_and_landing() -> int:
            checkpoints = rest_get(s, f"/jobs/{info.job_id}/checkpoints")["counts"]["completed"]
            return landed() if checkpoints >= 1 else 0

        before_kill = wait_until(checkpointed_and_landing, timeout_s=180,
                                 what="a completed checkpoint and rows landing")
        taskmanager = next(d for d in flink.daemons if d.name == "taskmanager").running_pid()
        for pid in process_tree(taskmanager):  # the TaskManager and its Python workers
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        flink.start_taskmanager()
        wait_until(lambda: landed() >= workload.n_events, timeout_s=300,
                   what=f"{workload.n_events:,} rows after the restart")
        landed_ids = landed_event_ids(s, job, workload.user_keys)
        detail = rest_get(s, f"/jobs/{info.job_id}")
    assert before_kill < workload.n_events, "the job finished before the kill; send more events"
    assert landed_ids == sent_ids(workload)  # every event's row, exactly once
    assert detail["state"] == "RUNNING"  # the same job, restarted in place


def test_a_job_lost_with_its_jobmanager_is_reported_and_restarts_from_its_checkpoint(
        settings, healthy_stack):
    """kill -9 of the whole Flink cluster: once it is back, the JobManager knows no job, so
    `stack status` reports the declared job missing (exit 1); `jobs reconcile` finds its newest
    retained checkpoint on disk by the job's name and starts it from there: every event once."""
    job = jobs.JOBS_UNDER_TEST["land_events"]
    workload = land_events_workload(settings, n_events=60_000, seed=47)
    with jobs.isolated(settings, job.name) as (s, instance):
        jobs.produce(s, workload)
        first = flink_jobs.submit(s, job.name, instance=instance)
        flink_jobs.wait_checkpoint(s, first.job_id, after_ms=0, timeout_s=120)
        kill_9(s, "flink")  # JobManager and TaskManager, with their job history
        lifecycle.up(s, only=("flink",))
        degraded = {h.component: h for h in lifecycle.status(s)}["flink"].degraded
        status = subprocess.run([sys.executable, "-m", "personastream", "stack", "status"],
                                capture_output=True, text=True)
        # the default settings: the job's own topics and keyspace come from its declaration
        [(second, checkpoint)] = [r for r in flink_jobs.reconcile(settings)
                                  if r[0].name == first.name]
        wait_until(lambda: jobs.read_output(s, job, workload.user_keys).n_rows
                   >= workload.n_events, 300, f"{workload.n_events:,} rows")
        landed_ids = landed_event_ids(s, job, workload.user_keys)
        after = {h.component: h for h in lifecycle.status(s)}["flink"].degraded
    assert [p for p in degraded if first.name in p] == [f"{first.name} is not running"]
    assert status.returncode == 1 and f"degraded: {first.name} is not running" in status.stdout
    assert f"/{first.job_id}/chk-" in checkpoint
    assert second.job_id != first.job_id and not any(first.name in p for p in after)
    assert landed_ids == sent_ids(workload)  # every event's row, exactly once


def land_events_workload(settings, n_events: int, seed: int):
    """``n_events`` enriched events over 200 items and 10 windows, for land_events."""
    return jobs.build_workload(n_events=n_events, n_items=200, n_windows=10,
                               n_partitions=settings.kafka_partitions,
                               window_s=settings.trends_window_s,
                               watermark_s=settings.trends_watermark_s, seed=seed)


def landed_event_ids(s, job, user_keys) -> Counter:
    """How many rows each event has in the job's table."""
    with session(s) as cql:
        query = cql.prepare(f"SELECT event_id FROM {keyspace(s)}.{job.table} "
                            f"WHERE {job.partition_key} = ?")
        results = execute_concurrent_with_args(cql, query, [(k,) for k in user_keys])
        return Counter(r.event_id for _, rows in results for r in rows)


def sent_ids(workload) -> Counter:
    return Counter(json.loads(value)["event_id"] for _, value in
                   [*workload.records, *workload.closing])


def wait_until(value_of, timeout_s: float, what: str):
    """Poll ``value_of`` until it is truthy and return it; fail naming ``what`` after
    ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = value_of()
        if value:
            return value
        time.sleep(1)
    pytest.fail(f"timed out after {timeout_s:.0f}s waiting for {what}")

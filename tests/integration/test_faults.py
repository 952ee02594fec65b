"""Faults on the real servers (``make test-faults``, after the other integration tests: these
kill the shared servers). No command is run to recover: supervisord starts a killed server
again, its leftover workers are ended, and the reconciler resubmits a job its JobManager lost.
What the collector acknowledged is never lost; what a job consumed is written exactly once.
Each test adds a row to the table printed at the end (fault, recovery seconds, acknowledged,
landed, duplicates)."""
from __future__ import annotations

import dataclasses
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
import requests
from cassandra.concurrent import execute_concurrent_with_args
from confluent_kafka import Consumer, Producer

from personastream_bench import jobs, traffic
from personastream_bench.pipeline import job_lags
from personastream_contracts import declared_jobs
from personastream_contracts.cassandra import keyspace, session
from personastream_contracts.settings import resolve
from personastream_flink.trend_scoring import OUTPUT as TRENDS
from personastream_models import specs
from personastream_stack import flink_jobs, lifecycle
from personastream_stack.flink import rest_get
from personastream_stack.kafka import (admin_client, ensure_topics, group_read_everything,
                                       read_to_end)
from personastream_stack.process import cmdline, poll, port_open

wait_until = functools.partial(poll, interval_s=1.0)  # returns what the check did

pytestmark = pytest.mark.faults


def crash(settings, component: str, programs: tuple[str, ...] = ()) -> dict[str, int]:
    """``kill -9`` of a local server's processes (``programs``, default all but Flink's
    reconciler), not of the workers they started, as a crash would leave them; return the pids
    killed by program name once they are gone."""
    daemons = [d for d in lifecycle.COMPONENTS[component](settings).daemons
               if d.name in (programs or (component, "jobmanager", "taskmanager"))]
    killed = {d.name: d.running_pid() for d in daemons}
    assert all(killed.values()), f"{component} is not running: {killed}"
    for pid in killed.values():
        os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not any(cmdline(p) for p in killed.values()), 30,
               "the killed processes to end")
    return killed


def assert_restarted_without_leftovers(settings, component: str, killed: dict[str, int]):
    """Each killed program runs again under a new pid, and nothing of its old process group
    (each program leads one) is left."""
    daemons = {d.name: d for d in lifecycle.COMPONENTS[component](settings).daemons}
    wait_until(lambda: all(daemons[n].running_pid() not in (None, pid)
                           for n, pid in killed.items()), 120, f"{component} to run again")
    for group in killed.values():
        wait_until(lambda: not group_alive(group), 30, f"process group {group} to be ended")


def group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
        return True
    except ProcessLookupError:
        return False


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


def test_acknowledged_events_survive_kill_9_of_nifi_then_kafka(isolated, fault_table):
    s = isolated.settings
    isolated.deploy_ingest()
    events = traffic.sample_events(n_events=3000, n_users=300, seed=31)
    bodies = [json.dumps(e).encode() for e in events[:2000]]  # single events, then batches
    bodies += [json.dumps(events[i:i + 50]).encode() for i in range(2000, 3000, 50)]
    answers = traffic.post_bodies(s.nifi_ingest_url, bodies, concurrency=16,
                                  headers_of=traffic.client_headers)
    killed_at = time.monotonic()
    nifi = crash(s, "nifi")  # right after the last answer: most are still in NiFi's queues
    kafka = crash(s, "kafka")
    acknowledged = set()
    for body, answer in zip(bodies, answers):
        if answer.ok:
            doc = json.loads(body)
            acknowledged.update(e["event_id"] for e in (doc if isinstance(doc, list) else [doc]))
    assert len(acknowledged) == len(events)

    seen = enriched_ids(s, acknowledged, timeout_s=400)  # no command: they come back
    recovery_s = time.monotonic() - killed_at
    missing = acknowledged - set(seen)
    assert not missing, f"{len(missing)} acknowledged events never reached Kafka"
    assert_restarted_without_leftovers(s, "nifi", nifi)  # its Python workers too
    assert_restarted_without_leftovers(s, "kafka", kafka)
    fault_table.append(("kill -9 NiFi, then Kafka (to Kafka)", recovery_s, len(acknowledged),
                        len(seen), sum(n - 1 for n in seen.values())))


#: The share of a workload's events produced before its job starts; the rest is produced once
#: a checkpoint has completed and rows land, right before the fault, so that the fault hits the
#: job mid-run however fast it runs.
HEAD_SHARE = 0.3


def job_under_fault(settings, job_name: str, workload, inject, observe=None, collect=None):
    """Job ``job_name`` mid-run on ``workload`` (a checkpoint done, rows landing, the rest of
    the events just produced) when ``inject()`` breaks something; no command is run to recover.
    Returns the seconds from the fault until every expected row is written and the job
    RUNNING, and what ``collect(s)`` read then. ``observe(s, first_run)`` is called right after
    the fault and returns what to call once the job has recovered (before its cleanup)."""
    job = jobs.JOBS_UNDER_TEST[job_name]
    expected, keys = job.expected_rows(workload), job.partition_keys(workload)
    head = int(len(workload.records) * HEAD_SHARE)
    with jobs.isolated(settings, job.name) as (s, instance):
        jobs.produce(s, dataclasses.replace(workload, records=workload.records[:head], closing=[]))
        first = flink_jobs.submit(s, job.name, instance=instance)

        def written() -> int:
            return jobs.read_output(s, job, keys).n_rows

        def checkpointed_and_writing() -> int:
            checkpoints = rest_get(s, f"/jobs/{first.job_id}/checkpoints")["counts"]["completed"]
            return written() if checkpoints >= 1 else 0

        wait_until(checkpointed_and_writing, 180, "a completed checkpoint and rows")
        jobs.produce(s, dataclasses.replace(workload, records=workload.records[head:]))
        assert written() < expected, "the job wrote every row before the fault; send more events"
        started = time.monotonic()
        inject()
        after = observe(s, first) if observe is not None else None
        wait_until(lambda: _read_everything(s, first.name) and _landed_quietly(written) >= expected,
                   600, f"{expected:,} rows after the fault")
        wait_until(lambda: getattr(flink_jobs.active_job(s, first.name), "state", "") == "RUNNING",
                   300, f"{first.name} running")
        recovery_s = time.monotonic() - started
        collected = collect(s) if collect is not None else None
        if after is not None:
            after()
    return recovery_s, collected


#: Events of a land_events run under fault (:data:`HEAD_SHARE` of them before the job starts).
LAND_EVENTS_UNDER_FAULT = 300_000


def land_events_under_fault(settings, fault_table, fault: str, inject, seed: int,
                            observe=None) -> Counter:
    """:func:`job_under_fault` for land_events (:data:`LAND_EVENTS_UNDER_FAULT` events): every
    event must land once; returns how often each landed."""
    job = jobs.JOBS_UNDER_TEST["land_events"]
    workload = land_events_workload(settings, n_events=LAND_EVENTS_UNDER_FAULT, seed=seed)
    recovery_s, landed_ids = job_under_fault(
        settings, job.name, workload, inject, observe,
        collect=lambda s: landed_event_ids(s, job, workload.user_keys))
    fault_table.append((fault, recovery_s, workload.n_events, len(landed_ids),
                        sum(n - 1 for n in landed_ids.values())))
    assert landed_ids == sent_ids(workload)  # every event's row, exactly once
    return landed_ids


def _read_everything(s, name: str) -> bool:
    """Whether job ``name`` runs and has read every event: its sources report no record
    pending (Flink's metrics), or its consumer group has committed every event (after a
    restore the metric can stay at a stale value: 3,168 for 8 minutes once). Cassandra, a
    count over every row, is asked only then, not every second while the job catches up (it
    competed with the job's writes: recovery from kill -9 of the TaskManager took 123 s with
    a count every second, 64 s gated)."""
    try:
        run = flink_jobs.active_job(s, name)
        return (run is not None and run.state == "RUNNING"
                and (job_lags(s, {name: run.job_id})[name] == 0
                     or group_read_everything(s, name, s.topic_events_enriched)))
    except (requests.RequestException, KeyError):  # the JobManager restarting, the job's
        return False                                # vertices not listed yet


def _landed_quietly(landed) -> int:
    """Rows so far, 0 while Cassandra does not answer (it may be the server at fault)."""
    try:
        return landed()
    except Exception:  # noqa: BLE001 - NoHostAvailable, timeouts: not yet
        return 0


def test_landed_rows_exactly_once_after_kill_9_of_the_taskmanager(settings, healthy_stack,
                                                                  fault_table):
    """The TaskManager alone is killed (its PyFlink workers left orphaned, as in a crash):
    supervisord starts it again and ends the orphans, the JobManager stays, and the job
    restarts in place from its last checkpoint."""
    flink = {d.name: d for d in lifecycle.COMPONENTS["flink"](settings).daemons}
    jobmanager = flink["jobmanager"].running_pid()
    killed = {}
    land_events_under_fault(settings, fault_table, "kill -9 TaskManager",
                            lambda: killed.update(crash(settings, "flink", ("taskmanager",))),
                            seed=43)
    assert_restarted_without_leftovers(settings, "flink", killed)
    assert flink["jobmanager"].running_pid() == jobmanager  # kept, with its jobs


def test_a_job_lost_with_its_jobmanager_is_reported_then_resubmitted_from_its_checkpoint(
        settings, healthy_stack, fault_table):
    """kill -9 of the JobManager and the TaskManager: supervisord starts them again, knowing
    no job; `stack status` says the declared job is not running (exit 1) until the reconciler
    resubmits it from its newest retained checkpoint, found on disk by the job's name; then
    the reconciler samples its consumer lag again."""
    seen = {}

    def observe(s, first):
        def reported() -> bool:
            status = subprocess.run([sys.executable, "-m", "personastream", "stack", "status"],
                                    capture_output=True, text=True)
            if f"degraded: {first.name} is not running" in status.stdout:
                seen.update(first=first, status=status)
            return bool(seen)
        wait_until(reported, 120, "stack status to report the lost job")
        return lambda: seen.update(
            after=lifecycle.status(settings), restored=_restored_from(settings, first.name),
            lags=wait_until(lambda: declared_jobs.read_lags(declared_jobs.lags_path(s)).get(
                first.name), 60, "the reconciler to sample the job's lag"))

    land_events_under_fault(settings, fault_table, "kill -9 JobManager + TaskManager",
                            lambda: crash(settings, "flink", ("jobmanager", "taskmanager")),
                            seed=47, observe=observe)
    first = seen["first"]
    assert seen["status"].returncode == 1
    assert not any(first.name in p for h in seen["after"] for p in h.degraded)
    assert f"/{first.job_id}/chk-" in seen["restored"], seen["restored"]
    assert all(lag >= 0 for _, lag in seen["lags"])


def _restored_from(settings, name: str) -> str:
    """The checkpoint the active run of job ``name`` started from."""
    run = flink_jobs.active_job(settings, name)
    stats = rest_get(settings, f"/jobs/{run.job_id}/checkpoints")
    return (stats.get("latest", {}).get("restored") or {}).get("external_path", "")


def test_model_state_continues_from_the_checkpoint_when_the_jobmanager_is_lost(
        settings, healthy_stack, fault_table):
    """score_trends mid-run when the JobManager and TaskManager are killed: the reconciler
    restores it from its retained checkpoint, so each item's detector (its keyed state)
    continues where it was: every stored window's n_learned and score equal those of one
    uninterrupted pass of the same detector over the same series (a detector started afresh
    would count n_learned from 1 again). The table's counts are scored windows: expected,
    equal to the uninterrupted pass, and rows stored twice (none: one row per window)."""
    workload = jobs.build_workload(n_events=300_000, n_items=500, n_windows=120,
                                   n_partitions=settings.kafka_partitions,
                                   window_s=settings.trends_window_s,
                                   watermark_s=settings.trends_watermark_s, seed=59)

    def stored(s) -> dict:
        with session(s) as cql:
            query = cql.prepare(f"SELECT item_id, window_start, n_learned, score FROM "
                                f"{keyspace(s)}.{TRENDS.table_name} WHERE item_id = ?")
            results = execute_concurrent_with_args(cql, query, [(i,) for i in workload.item_ids])
            return {(r.item_id, workload.window_index(r.window_start)): (r.n_learned, r.score)
                    for _, rows in results for r in rows}

    recovery_s, rows = job_under_fault(
        settings, "score_trends", workload,
        lambda: crash(settings, "flink", ("jobmanager", "taskmanager")), collect=stored)
    spec = specs.load(settings.trends_detector, settings.trends_detector_version or None)
    uninterrupted = {(item, window): (columns["n_learned"], columns["score"]) for
                     item, window, _, columns in jobs.score_series(spec, workload.trend_series())}
    equal = sum(rows.get(key) == value for key, value in uninterrupted.items())
    fault_table.append(("kill -9 JobManager + TaskManager (score_trends: model state)",
                        recovery_s, len(uninterrupted), equal, 0))
    assert rows == uninterrupted


@pytest.mark.parametrize("fault", ["kill -9 Cassandra", "SIGSTOP Cassandra 30 s"])
def test_landed_rows_exactly_once_when_cassandra_fails(settings, healthy_stack, fault_table,
                                                        fault):
    """Cassandra killed (supervisord starts it again) or frozen for 30 s mid-run: the job's
    writes fail, it restarts from its last checkpoint until Cassandra answers, and every event
    lands once."""
    cassandra = lifecycle.COMPONENTS["cassandra"](settings).daemons[0]

    def inject():
        if fault.startswith("kill"):
            crash(settings, "cassandra")
        else:
            pid = cassandra.running_pid()
            os.kill(pid, signal.SIGSTOP)
            try:
                time.sleep(30)
            finally:
                os.kill(pid, signal.SIGCONT)

    land_events_under_fault(settings, fault_table, fault, inject, seed=53)


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


def test_three_kafka_brokers_lose_nothing_when_one_is_killed_under_load(fault_table):
    """A Kafka of its own, three KRaft nodes on loopback in a state directory of their own
    (replication 3, min.insync.replicas 2): one node is killed while an idempotent producer
    sends with acks=all; every acknowledged record is in the topic exactly once, and the node,
    started again by supervisord, catches up (every partition's ISR back to 3)."""
    base = 19092  # brokers 19092, 19094, 19096; controllers 19093, 19095, 19097; metrics
    busy = [p for p in range(base, base + 9) if port_open("127.0.0.1", p)]  # 19098-19100
    assert not busy, f"ports {busy} are taken; this test needs 19092-19100 free"
    state = Path(tempfile.mkdtemp(prefix="ps-kafka3-"))  # short: supervisord's socket path
    s = resolve(environ={**os.environ, "XDG_STATE_HOME": str(state)}, overrides={
        "local_components": "kafka",
        "kafka_bootstrap_servers": ",".join(f"127.0.0.1:{base + 2 * i}" for i in range(3)),
        "kafka_controller_port": base + 1, "kafka_metrics_port": base + 6,
        "kafka_replication_factor": 3,
        "kafka_min_insync_replicas": 2, "kafka_heap": "256m"})
    topic = "fault.three-brokers"
    try:
        kafka = lifecycle.COMPONENTS["kafka"](s)
        kafka.start()
        kafka.wait_healthy()
        ensure_topics(s, [topic])
        acked, failed = [], []
        producer = Producer({"bootstrap.servers": s.kafka_bootstrap_servers, "acks": "all",
                             "enable.idempotence": True, "linger.ms": 5})

        def delivered(err, msg):
            (failed if err else acked).append(err or int(msg.value()))

        killed_at, killed = None, {}
        start = time.monotonic()
        for n in range(60_000):  # 30 s at 2,000 records/s; node 2 killed after 10 s
            producer.produce(topic, str(n).encode(), key=str(n % 97).encode(),
                             on_delivery=delivered)
            producer.poll(0)
            if killed_at is None and time.monotonic() - start > 10:
                killed_at, killed = time.monotonic(), crash(s, "kafka", ("kafka-2",))
            time.sleep(max(0.0, start + n / 2000 - time.monotonic()))
        assert producer.flush(120) == 0

        def caught_up() -> bool:
            partitions = admin_client(s).list_topics(topic, timeout=5).topics[topic].partitions
            return all(len(p.isrs) == 3 for p in partitions.values())
        assert_restarted_without_leftovers(s, "kafka", killed)
        wait_until(caught_up, 180, "the killed node back in every partition's ISR")
        recovery_s = time.monotonic() - killed_at
        counts = Counter(int(m.value()) for batch in read_to_end(s, topic) for m in batch)
    finally:
        lifecycle.down(s, purge=True)
        shutil.rmtree(state, ignore_errors=True)
    fault_table.append(("kill -9 1 of 3 Kafka brokers (to Kafka)", recovery_s, len(acked),
                        len(counts), sum(n - 1 for n in counts.values())))
    assert failed == [] and len(acked) == 60_000
    assert all(counts[v] == 1 for v in acked)  # every acknowledged record, once

"""Benchmark of the Flink jobs on the running stack: raw events/s through each job, and the cost
of the trends UDF per scored window against a bare Python loop of the same detector.

Method, and why:

- **One workload for every job.** ``n_events`` enriched events as NiFi publishes them: seeded
  sample traffic (all six event types) through the real :class:`Ingestor`, one simulated request
  body of :data:`EVENTS_PER_BODY` events at a time, each body with its own receipt time
  (``received_at_ms``, the trends job's event time). The bodies' receipt times spread evenly
  over ``n_windows`` windows of ``trends_window_s``; product views and carts spread uniformly
  over ``n_items`` items. Last, one event per Kafka partition received after the last window
  plus the watermark: every window closes, so what the trends job must write is known in
  advance (one row per item and window with views).
- **Each job alone, on a backlog.** Each job runs as its own instance on its own topics and
  keyspace (as the integration tests do; removed afterwards, also on failure), with the whole
  workload already in Kafka: the benchmark measures how fast a job drains events, i.e. its
  capacity on this machine, not the latency of live traffic.
- **Time** runs from the moment every task of the job is RUNNING (Flink's subtask timestamps)
  to the write time of the job's last output row (Cassandra ``WRITETIME``, which the writer's
  driver sets when it writes the row). Both clocks are this machine's.
- **Completion** is polled on the rows the job's Cassandra sink took (``numRecordsIn`` of the
  sink named ``cassandra_<table>``, a Flink metric read over REST, which puts no load on
  Cassandra while the job runs), then checked in Cassandra with one
  aggregate query per known partition key (``COUNT``, ``MIN``/``MAX`` of ``WRITETIME``), never a
  table scan. Flink refreshes metrics every 10 s; that delays the check, not the measurement.
- **The trends UDF** against a bare loop: the same spec, feature set and ``score_then_learn``,
  one detector per item, over the same (item, window, views) series in window order, timed in
  plain Python (after a warm-up run, with the garbage collector paused as ``timeit`` does; median
  of ``repeats``), and once more with the job's own Cassandra upsert after each row. Flink's
  side: the job's wall time per scored window (everything: Kafka, JSON, windows, keyed state,
  Beam, the UDF, the write), and the busy time of the Flink task that runs the UDF, which also
  holds its keyed state access, the Beam transfer, the Cassandra writer and the anomalies sink
  chained to it. The scores Flink stored must equal the loop's.
"""
from __future__ import annotations

import datetime as dt
import gc
import itertools
import json
import logging
import math
import os
import random
import shutil
import statistics
import tempfile
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterator
from urllib.parse import urlparse

from cassandra.concurrent import execute_concurrent_with_args
from confluent_kafka import KafkaError, KafkaException, Producer

from personastream_bench import monitoring
from personastream_bench.load import git_archive
from personastream_bench.traffic import sample_events
from personastream_contracts import declared_jobs
from personastream_contracts.cassandra import (ensure_schema, insert_statement, keyspace, migrate,
                                               session)
from personastream_contracts.errors import PersonastreamError
from personastream_contracts.settings import Settings, renamed
from personastream_contracts.topics import pipeline_topics
from personastream_flink import land_events, live_activity
from personastream_flink.trend_scoring import OUTPUT as TRENDS
from personastream_flows.ingest.event_ingest import SCHEMA_DIR, Ingestor
from personastream_models import specs
from personastream_models.placement_scoring import VersionStates, score_window
from personastream_models.registry import Placement
from personastream_serving.catalogue import catalogue
from personastream_stack import flink_jobs
from personastream_stack.flink import rest_get
from personastream_stack.kafka import admin_client, ensure_topics

log = logging.getLogger(__name__)

T0_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z: simulated receipt times start here
N_USERS = 1000
EVENTS_PER_BODY = 100  # events per simulated request body; they share one receipt time
MAX_BODY_BYTES = 10_000_000
POLL_S = 2.0
REPORT_EVERY_S = 10.0
STALL_TIMEOUT_S = 180.0  # no output progress for this long: the job is stuck
STOP_TIMEOUT_S = 60.0
METRICS_INTERVAL_KEY = "metrics.fetcher.update-interval"
DEFAULT_METRICS_INTERVAL_MS = 10_000  # Flink's default for METRICS_INTERVAL_KEY
TERMINAL_STATES = {"CANCELED", "FAILED", "FINISHED"}
THIS_TREE = "this tree"
#: The jobs before issue 13 (one synchronous Python write per row, the identity a Python UDF,
#: the latest trend and the anomalies Python operators): the baseline of ``bench jobs``.
PREVIOUS_DESIGN = "66b29ab"
#: The folders whose packages a job runs (shipped to the workers for a baseline).
BASELINE_FOLDERS = ["flink-udfs", "contracts", "models"]

Progress = Callable[[str], None]


class BenchmarkError(PersonastreamError):
    """The benchmark could not prepare, run, check or clean up a job."""


# -- the workload ---------------------------------------------------------------------------

@dataclass
class Workload:
    """Enriched events as NiFi publishes them, and what each job must make of them."""

    records: list[tuple[bytes, bytes]]  # (key, value), in receipt-time order
    closing: list[tuple[bytes, bytes]]  # one per Kafka partition, produced last
    start_ms: int  # start of the first window (epoch ms)
    window_ms: int
    n_windows: int
    n_items: int
    seed: int
    views: dict[tuple[str, int], int]  # product views per (item, window index), windows closed
    user_keys: list[str]

    @property
    def n_events(self) -> int:
        return len(self.records) + len(self.closing)

    @property
    def n_product_views(self) -> int:
        return sum(self.views.values())

    @property
    def item_ids(self) -> list[str]:
        return sorted({item for item, _ in self.views})

    def window_start(self, index: int) -> dt.datetime:
        """Start of window ``index`` as Flink and Cassandra give it (naive UTC)."""
        return dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=self.start_ms
                                                      + index * self.window_ms)

    def window_index(self, start: dt.datetime) -> int:
        ms = (start - dt.datetime(1970, 1, 1)) // dt.timedelta(milliseconds=1)
        return (ms - self.start_ms) // self.window_ms

    def trend_series(self) -> list[tuple[str, int, int]]:
        """``(item_id, window index, views)`` in window order, as the trends job scores them."""
        return sorted(((item, w, n) for (item, w), n in self.views.items()),
                      key=lambda row: (row[1], row[0]))


def body_receipt_ms(body: int, n_bodies: int, start_ms: int, span_ms: int) -> int:
    """Receipt time of body ``body`` of ``n_bodies`` spread evenly over ``span_ms``.

    >>> [body_receipt_ms(b, 4, 0, 120_000) for b in range(4)]
    [0, 30000, 60000, 90000]
    """
    return start_ms + body * span_ms // n_bodies


def build_workload(n_events: int, n_items: int, n_windows: int, n_partitions: int,
                   window_s: int, watermark_s: int, seed: int,
                   progress: Progress = log.info) -> Workload:
    """Make ``n_events`` enriched records (``n_partitions`` of them closing events)."""
    if n_events <= n_partitions:
        raise BenchmarkError(f"n_events={n_events} must exceed the {n_partitions} closing events "
                             "(one per Kafka partition); pass more events")
    ingestor = Ingestor(SCHEMA_DIR, geoip_database=None, max_body_bytes=MAX_BODY_BYTES)
    window_ms = window_s * 1000
    start_ms = -(-T0_MS // window_ms) * window_ms  # windows are aligned to the epoch
    span_ms = n_windows * window_ms
    items = catalogue(n_items=n_items, seed=seed)
    rng = random.Random(seed)
    n_regular = n_events - n_partitions
    n_bodies = math.ceil(n_regular / EVENTS_PER_BODY)
    records: list[tuple[bytes, bytes]] = []
    views: dict[tuple[str, int], int] = {}
    user_keys: set[str] = set()
    started = time.monotonic()
    for body in range(n_bodies):
        received_at_ms = body_receipt_ms(body, n_bodies, start_ms, span_ms)
        size = min(EVENTS_PER_BODY, n_regular - body * EVENTS_PER_BODY)
        events = sample_events(size, N_USERS, seed=seed + body, start=_utc(received_at_ms))
        window = (received_at_ms - start_ms) // window_ms
        for event in events:
            if "item_id" in event:  # product views and carts: spread over n_items items
                item = rng.choice(items)
                event.update(item_id=item.item_id, category=item.category, brand=item.brand,
                             price=item.price)
            if event["event_type"] == "product_view":
                views[(event["item_id"], window)] = views.get((event["item_id"], window), 0) + 1
        records += _enrich(ingestor, events, received_at_ms, user_keys)
        if (body + 1) % max(1, n_bodies // 5) == 0:
            progress(f"enriched {len(records):,}/{n_regular:,} events "
                     f"({time.monotonic() - started:.0f}s)")
    # every partition's watermark passes the end of the last window
    closing_ms = start_ms + span_ms + watermark_s * 1000 + 1000
    page_views = [e for e in sample_events(20 * n_partitions + 20, N_USERS, seed=seed - 1,
                                           start=_utc(closing_ms))
                  if e["event_type"] == "page_view"][:n_partitions]
    if len(page_views) < n_partitions:
        raise BenchmarkError(f"sample traffic gave {len(page_views)} page views for "
                             f"{n_partitions} closing events; lower kafka_partitions")
    closing = _enrich(ingestor, page_views, closing_ms, user_keys)
    return Workload(records, closing, start_ms, window_ms, n_windows, n_items, seed, views,
                    sorted(user_keys))


def _utc(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc)


def _enrich(ingestor: Ingestor, events: list[dict], received_at_ms: int,
            user_keys: set[str]) -> list[tuple[bytes, bytes]]:
    source = {"ip": None, "user_agent": None, "content_type": None,
              "received_at_ms": received_at_ms}
    result = ingestor.process(json.dumps(events).encode(), source)
    if result.rejected or any(r.key is None for r in result.enriched):
        first = result.deadletters[0].value.get("reason") if result.deadletters else "no key"
        raise BenchmarkError(f"the ingest rejected {result.rejected} sample events "
                             f"(first: {first}); personastream_bench.traffic and the schemas "
                             "disagree")
    user_keys.update(r.key for r in result.enriched)
    return [(r.key.encode(), r.value_bytes()) for r in result.enriched]


def produce(settings: Settings, workload: Workload, progress: Progress = log.info) -> float:
    """Write the workload to the enriched topic (closing events last, one per partition);
    return the seconds it took."""
    topic = settings.topic_events_enriched
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap_servers,
                         "enable.idempotence": True, "linger.ms": 20})
    failures: list[KafkaError] = []

    def delivered(err, _msg) -> None:
        if err is not None:
            failures.append(err)

    started = time.monotonic()
    for key, value in workload.records:
        while True:
            try:
                producer.produce(topic, value=value, key=key, on_delivery=delivered)
                break
            except BufferError:  # the local queue is full: let deliveries drain it
                producer.poll(0.5)
    left = producer.flush(60)
    for partition, (key, value) in enumerate(workload.closing):
        producer.produce(topic, value=value, key=key, partition=partition, on_delivery=delivered)
    left += producer.flush(60)
    if left or failures:
        raise BenchmarkError(f"Kafka at {settings.kafka_bootstrap_servers} did not take "
                             f"{left + len(failures)} of {workload.n_events} records for {topic} "
                             f"(first error: {failures[0] if failures else 'flush timed out'})")
    seconds = time.monotonic() - started
    progress(f"produced {workload.n_events:,} records to {topic} in {seconds:.1f}s")
    return seconds


# -- the jobs -------------------------------------------------------------------------------

@dataclass(frozen=True)
class JobUnderTest:
    """How to benchmark a job of ``personastream_flink.catalog.JOBS``: the Cassandra table it
    writes through its sink ``cassandra_<table>`` (whose ``numRecordsIn`` tracks progress), that
    table's partition key and a column every row has (its ``WRITETIME`` is the write time), the
    partition keys and number of rows the workload must give, and the Python operator whose
    Flink task's busy time is reported as the UDF's (if any). ``rows`` is how output is counted
    per partition: rows, or for a job that upserts one row per key again and again, what the
    rows say they folded (``SUM(n_events)``: done when every event is in).
    """

    name: str
    table: str
    partition_key: str
    written_column: str
    partition_keys: Callable[[Workload], list[str]]
    expected_rows: Callable[[Workload], int]
    udf_operator: str | None = None
    rows: str = "COUNT(*)"

    @property
    def rows_written_metric(self) -> str:
        return f"cassandra_{self.table}.numRecordsIn"  # the job's sink, named after its table

    @property
    def first_write_known(self) -> bool:
        """Whether the table tells when the first row was written: not for a job that
        rewrites one row per key (``WRITETIME`` is each row's last write)."""
        return self.rows == "COUNT(*)"


JOBS_UNDER_TEST = {job.name: job for job in (
    JobUnderTest("land_events", land_events.OUTPUT.table_name,
                 land_events.OUTPUT.table.partition_key[0], "event_type",
                 partition_keys=lambda w: w.user_keys, expected_rows=lambda w: w.n_events),
    JobUnderTest("score_trends", TRENDS.table_name, TRENDS.table.partition_key[0], "score",
                 partition_keys=lambda w: w.item_ids, expected_rows=lambda w: len(w.views),
                 udf_operator="score_item_views"),  # the name score_trends.build gives it
    JobUnderTest("live_activity", live_activity.PROFILES.table_name,
                 live_activity.PROFILES.table.partition_key[0], "n_events",
                 partition_keys=lambda w: w.user_keys, expected_rows=lambda w: w.n_events,
                 udf_operator="update_live_profile", rows="SUM(n_events)"),
)}


@dataclass
class Output:
    """Rows of a job's table over the known partition keys, and when they were written."""

    n_rows: int
    first_written_s: float | None  # epoch seconds
    last_written_s: float | None


@dataclass
class JobRun:
    job: str
    design: str  # "this tree" or "baseline <rev>"
    flink_job_id: str
    table: str
    n_events: int
    n_rows: int
    seconds: float  # all tasks RUNNING -> last output row written
    first_row_s: float | None  # all tasks RUNNING -> first row written (None: not known)
    parallelism: int
    busy_s: dict[str, float | None]  # accumulated busy time per Flink task (vertex name)
    other_jobs: list[str]  # other Flink jobs seen running meanwhile (they share the machine)

    @property
    def events_per_s(self) -> float:
        return self.n_events / self.seconds

    @property
    def rows_per_s(self) -> float:
        return self.n_rows / self.seconds

    def task_busy_s(self, operator: str) -> tuple[str, float | None]:
        """The task whose name holds ``operator``, and its busy seconds."""
        for task, busy in self.busy_s.items():
            if operator in task:
                return task, busy
        raise BenchmarkError(f"no Flink task of {self.job} runs {operator!r}; tasks: "
                             f"{', '.join(self.busy_s)}")


@contextmanager
def isolated(settings: Settings, job: str, progress: Progress = log.info
             ) -> Iterator[tuple[Settings, str]]:
    """Own topics and keyspace for one run of ``job``, and its Flink instance name; on exit the
    job is cancelled and its topics, consumer group, keyspace and local checkpoints removed."""
    prefix = f"bench_{uuid.uuid4().hex[:8]}"
    s = renamed(settings, prefix)
    shared = [t for t in pipeline_topics(s) if not t.startswith(f"{prefix}.")]
    if shared:
        raise BenchmarkError(f"topics {shared} are not per-benchmark; name them by a topic_* "
                             "setting so that settings.renamed renames them")
    try:
        ensure_topics(s, pipeline_topics(s))
        ensure_schema(s)
        migrate(s)
        progress(f"{job}: topics {prefix}.*, keyspace {prefix}")
        yield s, prefix
    except BaseException:
        _remove(s, f"{job}_{prefix}", prefix, progress, raise_on_error=False)
        raise
    _remove(s, f"{job}_{prefix}", prefix, progress, raise_on_error=True)


def _remove(s: Settings, job_name: str, prefix: str, progress: Progress,
            raise_on_error: bool) -> None:
    job_ids: list[str] = []
    declared = declared_jobs.path_for(s)
    steps = [
        ("find Flink job", lambda: job_ids.extend(
            j.job_id for j in flink_jobs.list_jobs(s) if j.name == job_name)),
        ("cancel Flink job", lambda: _stop(s, job_ids)),
        ("withdraw its declaration", lambda: job_ids.extend(_withdraw(declared, job_name))),
        ("delete consumer group", lambda: _delete_group(s, job_name)),
        ("delete topics", lambda: _delete_topics(s, prefix)),
        ("drop keyspace", lambda: _drop_keyspace(s)),
        ("remove local checkpoints", lambda: _remove_checkpoints(s, job_ids)),
    ]
    problems = []
    for what, step in steps:
        try:
            step()
        except Exception as err:  # every step gets its turn; the problems are raised below
            problems.append(f"{what}: {type(err).__name__}: {err}")
    if not problems:
        progress(f"removed {job_name} and its topics, consumer group, keyspace, checkpoints")
        return
    message = (f"cleanup of {prefix} incomplete ({'; '.join(problems)}); remove its Flink job, "
               f"topics {prefix}.*, consumer group {job_name} and keyspace {prefix} by hand")
    if raise_on_error:
        raise BenchmarkError(message)
    log.warning(message)


def _withdraw(path, job_name: str) -> list[str]:
    """Withdraw the job's declaration; return the ids of its declared runs (their retained
    checkpoints go too, also those of runs a restarted JobManager no longer lists)."""
    runs = declared_jobs.read(path).get(job_name)
    declared_jobs.withdraw(path, [job_name])
    return runs.job_ids if runs else []


def _stop(s: Settings, job_ids: list[str]) -> None:
    active = [j.job_id for j in flink_jobs.list_jobs(s)
              if j.job_id in job_ids and j.state in flink_jobs.ACTIVE_STATES]
    for job_id in active:
        flink_jobs.cancel(s, job_id)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for job_id in active:
        while rest_get(s, f"/jobs/{job_id}")["state"] not in TERMINAL_STATES:
            if time.monotonic() > deadline:
                raise BenchmarkError(f"job {job_id} not cancelled within {STOP_TIMEOUT_S:.0f}s")
            time.sleep(1)


def _delete_group(s: Settings, group: str) -> None:
    admin = admin_client(s)
    try:
        admin.delete_consumer_groups([group], request_timeout=30)[group].result()
    except KafkaException as err:
        if err.args[0].code() != KafkaError.GROUP_ID_NOT_FOUND:  # never committed: nothing to do
            raise


def _delete_topics(s: Settings, prefix: str) -> None:
    admin = admin_client(s)
    existing = set(admin.list_topics(timeout=10).topics)
    topics = [t for t in pipeline_topics(s) if t.startswith(f"{prefix}.") and t in existing]
    for future in (admin.delete_topics(topics, operation_timeout=30).values() if topics else []):
        future.result()


def _drop_keyspace(s: Settings) -> None:
    with session(s) as cql:
        cql.execute(f"DROP KEYSPACE IF EXISTS {keyspace(s)}", timeout=60)


def cluster_config(s: Settings) -> dict[str, str]:
    """The JobManager's effective configuration."""
    return {e["key"]: e["value"] for e in rest_get(s, "/jobmanager/config")}


def _remove_checkpoints(s: Settings, job_ids: list[str]) -> None:
    """Checkpoints kept on cancel (the cluster retains them), when the cluster is local."""
    url = urlparse(cluster_config(s).get("state.checkpoints.dir", ""))
    if "flink" not in s.components or url.scheme != "file":
        return
    for job_id in job_ids:
        folder = Path(url.path) / job_id
        if folder.is_dir():
            shutil.rmtree(folder)


def job_detail(s: Settings, job_id: str) -> dict:
    detail = rest_get(s, f"/jobs/{job_id}")
    if detail["state"] != "RUNNING":
        root = (rest_get(s, f"/jobs/{job_id}/exceptions").get("root-exception") or "")[:3000]
        raise BenchmarkError(f"job {detail['name']} ({job_id}) is {detail['state']} during the "
                             f"benchmark; see {s.flink_rest_url}:\n{root}")
    return detail


def _running_since_s(s: Settings, job_id: str, vertices: list[dict]) -> float:
    """When the last task of the job turned RUNNING (epoch seconds)."""
    stamps = [sub["timestamps"]["RUNNING"]
              for v in vertices
              for sub in rest_get(s, f"/jobs/{job_id}/vertices/{v['id']}/subtasktimes")["subtasks"]]
    return max(stamps) / 1000


def vertex_metric(s: Settings, job_id: str, vertex_id: str, suffix: str) -> float | None:
    """:func:`declared_jobs.vertex_metric` on the cluster at ``s.flink_rest_url``."""
    return declared_jobs.vertex_metric(lambda path: rest_get(s, path), job_id, vertex_id, suffix)


def _rows_written(s: Settings, job_id: str, vertices: list[dict],
                  job: JobUnderTest) -> float | None:
    for v in vertices:
        value = vertex_metric(s, job_id, v["id"], job.rows_written_metric)
        if value is not None:
            return value
    return None


def read_output(s: Settings, job: JobUnderTest, keys: list[str]) -> Output:
    """Count the job's rows and their first and last write times, one query per key."""
    ks = keyspace(s)
    with session(s) as cql:
        query = cql.prepare(
            f"SELECT {job.rows} AS n, MIN(WRITETIME({job.written_column})) AS first_us, "
            f"MAX(WRITETIME({job.written_column})) AS last_us FROM {ks}.{job.table} "
            f"WHERE {job.partition_key} = ?")
        results = execute_concurrent_with_args(cql, query, [(k,) for k in keys], concurrency=64)
        rows = [result.one() for _, result in results]
    firsts = [r.first_us for r in rows if r.first_us is not None]
    lasts = [r.last_us for r in rows if r.last_us is not None]
    return Output(sum(r.n or 0 for r in rows), min(firsts) / 1e6 if firsts else None,
                  max(lasts) / 1e6 if lasts else None)


def measure(s: Settings, job: JobUnderTest, instance: str, workload: Workload,
            progress: Progress = log.info, stall_timeout_s: float = STALL_TIMEOUT_S,
            design: str = THIS_TREE, code: list[Path] | None = None) -> JobRun:
    """Start ``job`` (``code``: a previous design's packages) on the workload already in Kafka
    and time it until its output is complete."""
    expected, keys = job.expected_rows(workload), job.partition_keys(workload)
    if expected == 0:
        raise BenchmarkError(f"the workload gives {job.name} nothing to write; pass more events")
    info = flink_jobs.submit(s, job.name, instance=instance, code=code)
    vertices = job_detail(s, info.job_id)["vertices"]
    running_s = _running_since_s(s, info.job_id, vertices)
    progress(f"{job.name}: {info.name} RUNNING; waiting for {expected:,} rows in {job.table}")
    progress_at = reported_at = checked_at = time.monotonic()
    best, n_rows = -1.0, 0
    others: set[str] = set()
    while True:
        job_detail(s, info.job_id)
        others.update(_other_jobs(s, info.job_id))
        written = _rows_written(s, info.job_id, vertices, job)
        now = time.monotonic()
        if written is not None and written > best:
            best, progress_at = written, now
        # Cassandra is asked once the writer's counter says done (or, without it, now and then)
        if written is None and now - checked_at >= REPORT_EVERY_S or (written or 0) >= expected:
            n_rows, checked_at = read_output(s, job, keys).n_rows, now
            if n_rows > best:
                best, progress_at = n_rows, now
            if n_rows >= expected:
                break
        if now - reported_at >= REPORT_EVERY_S:
            progress(f"{job.name}: {max(best, n_rows):,.0f}/{expected:,} rows written after "
                     f"{time.time() - running_s:.0f}s")
            reported_at = now
        if now - progress_at > stall_timeout_s:
            raise BenchmarkError(f"{job.name}: no new rows in {job.table} for "
                                 f"{stall_timeout_s:.0f}s ({max(best, n_rows):,.0f} of "
                                 f"{expected:,}); see {s.flink_rest_url} job {info.job_id}")
        time.sleep(POLL_S)
    done = read_output(s, job, keys)
    if done.n_rows != expected:
        raise BenchmarkError(f"{job.name} wrote {done.n_rows:,} rows to {job.table}, expected "
                             f"{expected:,}: the workload and the job disagree")
    # busy times, once the metrics Flink caches are newer than the last write
    interval = cluster_config(s).get(METRICS_INTERVAL_KEY, "")
    time.sleep((int(interval) if interval.isdigit() else DEFAULT_METRICS_INTERVAL_MS) / 1000 + 1)
    busy = {}
    for v in vertices:
        ms = vertex_metric(s, info.job_id, v["id"], "accumulateBusyTimeMs")
        busy[v["name"]] = None if ms is None else ms / 1000
    return JobRun(job.name, design, info.job_id, job.table, workload.n_events, done.n_rows,
                  done.last_written_s - running_s,
                  done.first_written_s - running_s if job.first_write_known else None,
                  max(v["parallelism"] for v in vertices), busy, sorted(others))


def _other_jobs(s: Settings, job_id: str) -> list[str]:
    return [j.name for j in flink_jobs.list_jobs(s)
            if j.state in flink_jobs.ACTIVE_STATES and j.job_id != job_id]


# -- the trends UDF against a bare loop ------------------------------------------------------

@dataclass
class UdfCost:
    """Seconds to score the same windows: bare loop, bare loop + writes, Flink busy, Flink wall."""

    design: str
    spec: str
    n_windows: int
    n_items: int
    bare_s: float  # median of the repeats
    bare_runs_s: list[float]
    bare_with_writes_s: float
    flink_task: str
    flink_busy_s: float | None
    flink_wall_s: float
    n_scores_equal: int
    n_views_equal: int

    def us_per_window(self, seconds: float) -> float:
        return seconds / self.n_windows * 1e6


def score_series(spec: specs.ModelSpec, series: list[tuple[str, int, int]]
                 ) -> Iterator[tuple[str, int, int, dict]]:
    """The trends UDF's work on each ``(item_id, window, views)``, without Flink: the same
    :func:`~personastream_models.placement_scoring.score_window` per item, over the same dict
    the job keeps in its keyed state (with the spec's stand-in, if it has one); yields
    ``(item_id, window, views, scoring columns)``.

    >>> spec = specs.load("trends_detector", "3-5-0")
    >>> rows = list(score_series(spec, [("a", w, 5) for w in range(12)] + [("a", 12, 60)]))
    >>> {k: rows[-1][3][k] for k in ("score", "flagged", "n_learned", "scored_by")}
    {'score': 1.0, 'flagged': True, 'n_learned': 13, 'scored_by': '2-0-0'}

    A spike after 12 windows, flagged by 3-5-0's stand-in, 2-0-0.
    """
    placement = Placement.initial(spec.name, spec.version)
    spec_of = specs.loader(spec.name, spec)  # the spec, or its stand-in's
    states: dict[str, VersionStates] = {}
    for item_id, window, views in series:
        result = score_window(states.setdefault(item_id, {}), placement, spec_of, views)
        yield item_id, window, views, result.columns()


def _stored_trends(s: Settings, workload: Workload) -> dict[tuple[str, int], tuple[int, float]]:
    """``(views, score)`` per (item, window) as the trends job stored them."""
    with session(s) as cql:
        query = cql.prepare(f"SELECT item_id, window_start, views, score "
                            f"FROM {keyspace(s)}.{TRENDS.table_name} WHERE item_id = ?")
        results = execute_concurrent_with_args(cql, query, [(k,) for k in workload.item_ids],
                                               concurrency=64)
        return {(r.item_id, workload.window_index(r.window_start)): (r.views, r.score)
                for _, result in results for r in result}


def _bare_with_writes_s(s: Settings, spec: specs.ModelSpec, workload: Workload,
                        series: list[tuple[str, int, int]]) -> float:
    """The bare loop plus the job's synchronous Cassandra upsert of each scored row (same
    statement as the job's sink, same rows, so they overwrite)."""
    with session(s) as cql:
        insert = cql.prepare(insert_statement(f"{keyspace(s)}.{TRENDS.table_name}",
                                              TRENDS.columns))
        insert.is_idempotent = True
        started = time.perf_counter()
        for item_id, window, views, columns in score_series(spec, series):
            row = {"item_id": item_id, "window_start": workload.window_start(window),
                   "window_end": workload.window_start(window + 1), "views": views, **columns}
            cql.execute(insert, [row[c] for c in TRENDS.columns])
        return time.perf_counter() - started


def compare_trends_udf(s: Settings, workload: Workload, run: JobRun, repeats: int = 5,
                       progress: Progress = log.info) -> UdfCost:
    """Time the trends UDF's Python work in a bare loop over the series the job scored."""
    spec = specs.load(s.trends_detector, s.trends_detector_version or None)
    series = workload.trend_series()
    stored = _stored_trends(s, workload)
    scored = list(score_series(spec, series))  # untimed: warms up, and is compared below
    bare_runs = []
    gc_was_enabled = gc.isenabled()
    gc.disable()  # as timeit does: the benchmark's own heap (the workload) is not the UDF's
    try:
        for _ in range(repeats):
            started = time.perf_counter()
            for _ in score_series(spec, series):
                pass
            bare_runs.append(time.perf_counter() - started)
    finally:
        if gc_was_enabled:
            gc.enable()
    n_scores_equal = sum(stored.get((item, w), (None, None))[1] == columns["score"]
                         for item, w, _, columns in scored)
    n_views_equal = sum(stored.get((item, w), (None, None))[0] == views
                        for item, w, views in series)
    progress(f"trends UDF: bare loop {statistics.median(bare_runs):.3f}s over {len(series):,} "
             "windows; timing it again with the Cassandra upserts")
    with_writes_s = _bare_with_writes_s(s, spec, workload, series)
    task, busy_s = run.task_busy_s(JOBS_UNDER_TEST["score_trends"].udf_operator)
    return UdfCost(run.design, f"{spec.name} {spec.version}", len(series), len(workload.item_ids),
                   statistics.median(bare_runs), bare_runs, with_writes_s, task, busy_s,
                   run.seconds, n_scores_equal, n_views_equal)


# -- the whole benchmark ---------------------------------------------------------------------

@dataclass
class Report:
    n_events: int
    n_product_views: int
    n_items: int
    n_windows: int
    window_s: int
    n_user_keys: int
    seed: int
    runs: list[JobRun]
    trends_udf: list[UdfCost]
    seconds: float
    n_cpus: int
    taskmanagers: int  # registered with the JobManager when the benchmark started
    load_1m: float  # load average when the benchmark started
    other_jobs: list[str]  # other Flink jobs seen running at the start or during a run


def in_taskmanager_in_both(job: str, old_code: Path) -> bool:
    """Whether ``job``'s module calls ``thread_mode(`` (its Python in the TaskManager's JVM) both
    in this tree and in the previous design extracted at ``old_code``."""
    sources = [Path(land_events.__file__).with_name(f"{job}.py"),
               old_code / "flink-udfs" / "personastream_flink" / f"{job}.py"]
    return all(p.exists() and "thread_mode(" in p.read_text(encoding="utf-8") for p in sources)


def run(settings: Settings, job_names: list[str], n_events: int, n_items: int, n_windows: int,
        seed: int, repeats: int = 5, progress: Progress = log.info,
        baseline: str | None = PREVIOUS_DESIGN, parallelisms: list[int] | None = None,
        monitored: list[bool] = (True,)) -> Report:
    """Benchmark ``job_names`` one after the other on the same workload, each as ``baseline``'s
    code (if any) and as this tree's, at each of ``parallelisms`` (default: the setting's),
    with monitoring on and/or off (``monitored``; :mod:`personastream_bench.monitoring`)."""
    unknown = [n for n in job_names if n not in JOBS_UNDER_TEST]
    if unknown:
        raise BenchmarkError(f"no benchmark for {', '.join(unknown)}; choose among "
                             f"{', '.join(JOBS_UNDER_TEST)} or add a JobUnderTest")
    started = time.monotonic()
    load_1m = os.getloadavg()[0]
    taskmanagers = rest_get(settings, "/overview")["taskmanagers"]
    others = set(_other_jobs(settings, ""))
    workload = build_workload(n_events, n_items, n_windows, settings.kafka_partitions,
                              settings.trends_window_s, settings.trends_watermark_s, seed,
                              progress)
    progress(f"workload: {workload.n_events:,} events, {workload.n_product_views:,} product "
             f"views in {len(workload.views):,} (item, window) cells")
    with tempfile.TemporaryDirectory(prefix="bench-jobs-") as folder:
        designs: list[tuple[str, list[Path] | None]] = []
        if baseline:
            old = git_archive(baseline, BASELINE_FOLDERS, Path(folder))
            both = [n for n in job_names if in_taskmanager_in_both(n, old)]
            if both:
                raise BenchmarkError(
                    f"{', '.join(both)} runs its Python in the TaskManager's JVM (thread mode) "
                    f"in this tree and at {baseline}: a TaskManager's one embedded interpreter "
                    "imports a module once, so the second design would run the first's code. "
                    "Measure each design on a restarted Flink cluster (e.g. benchmarks/results/"
                    "live-activity-2026-12-06/ab.sh) or pass --baseline none")
            designs.append((f"baseline {baseline[:7]}", [old / f for f in BASELINE_FOLDERS]))
        designs.append((THIS_TREE, None))
        runs, udf = [], []
        for name in job_names:
            for (design, code), parallelism, on in itertools.product(
                    designs, parallelisms or [settings.flink_parallelism], monitored):
                if len(monitored) > 1:
                    monitoring.turn(settings, on, progress)
                run_design = monitoring.label(design, on)
                with isolated(replace(settings, flink_parallelism=parallelism), name,
                              progress) as (s, instance):
                    produce(s, workload, progress)
                    runs.append(measure(s, JOBS_UNDER_TEST[name], instance, workload, progress,
                                        design=run_design, code=code))
                    progress(f"{name} ({run_design}, parallelism {parallelism}): "
                             f"{runs[-1].n_rows:,} rows in {runs[-1].seconds:.1f}s")
                    if name == "score_trends":
                        udf.append(compare_trends_udf(s, workload, runs[-1], repeats, progress))
    if len(monitored) > 1:
        monitoring.turn(settings, True, progress)
    return Report(workload.n_events, workload.n_product_views, n_items, n_windows,
                  settings.trends_window_s, len(workload.user_keys), seed, runs, udf,
                  time.monotonic() - started, os.cpu_count() or 0, taskmanagers, load_1m,
                  sorted(others.union(*(r.other_jobs for r in runs))))

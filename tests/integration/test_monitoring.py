"""Prometheus scrapes every stage of the real stack; the pipeline's own measures reach it;
`stack status` summarizes them; alerts fire in Prometheus, reach Alertmanager and its log, and
resolve (issue 15)."""
from __future__ import annotations

import datetime as dt
import functools
import json
import subprocess
import sys
import threading
import time
import uuid

import nipyapi
import pytest
import requests
from confluent_kafka import Producer

from personastream_bench.traffic import sample_events
from personastream_contracts import declared_jobs
from personastream_contracts.deadletters import deadletter, error
from personastream_contracts.topics import deliver, producer_config
from personastream_flows.deploy import find_group
from personastream_stack import alert_log, flink_jobs
from personastream_stack.alerting import LAG_FLOOR_RECORDS
from personastream_stack.flink import Flink
from personastream_stack.pipeline_measures import profile_with_freshness
from personastream_stack.process import poll
from personastream_stack.prometheus import Prometheus, query

wait_until = functools.partial(poll, interval_s=2.0)  # returns what the check did

#: A metric each scrape job's servers export, proving that job's target is really scraped.
SIGNATURES = {
    "kafka": 'kafka_server_brokertopicmetrics_count{name="MessagesInPerSec"}',
    "cassandra": 'org_apache_cassandra_metrics_clientrequest_count{scope="Write"}',
    "flink": "flink_jobmanager_numRegisteredTaskManagers",
    "nifi": "nifi_amount_items_queued",
    "pipeline": "personastream_exporter_kafka_up == 1",
    "prometheus": "prometheus_tsdb_head_series",
}


def total(settings, promql: str) -> float:
    result = query(settings, promql)
    return sum(float(r["value"][1]) for r in result)


def produce(settings, topic: str, records: list[tuple[str, dict]]) -> None:
    producer = Producer(producer_config(settings))
    for key, value in records:
        assert deliver(producer, topic, key, json.dumps(value).encode(), 10) is None


def test_every_stage_is_scraped(settings, healthy_stack):
    jobs = {t["labels"]["job"] for t in Prometheus(settings).targets()}
    assert set(SIGNATURES) | {"api"} == jobs
    for job, promql in SIGNATURES.items():
        wait_until(lambda: query(settings, promql), 60, f"{promql} from the {job} target")
    down = query(settings, 'up{job!="api"} == 0')
    assert not down, down


def test_pipeline_measures_reach_prometheus(settings, healthy_stack):
    """Dead letters and live profiles written to the pipeline's topics move the exporter's
    counters and freshness histogram as Prometheus sees them."""
    letters = 'sum(personastream_events_deadlettered_total{reason="malformed_json"})'
    fresh = "sum(personastream_freshness_seconds_count)"
    fresh_sum = "sum(personastream_freshness_seconds_sum)"
    before = {q: total(settings, q) for q in (letters, fresh, fresh_sum)}
    now = dt.datetime.now(dt.timezone.utc)
    bad = error("malformed_json", "Expecting value: line 1 column 1", "")
    produce(settings, settings.topic_events_deadletter, [
        (f"dl-{i}", deadletter([bad], payload="{", received_at=now.isoformat()))
        for i in range(3)])
    produce(settings, settings.topic_live_profiles, [
        (f"monitoring-{uuid.uuid4().hex[:6]}", profile_with_freshness("monitoring", now, 2.0))
        for _ in range(4)])
    wait_until(lambda: total(settings, letters) >= before[letters] + 3, 60,
               "3 more malformed_json dead letters in Prometheus")
    wait_until(lambda: total(settings, fresh) >= before[fresh] + 4, 60,
               "4 more freshness observations in Prometheus")
    # the difference of two float sums: once 7.999999999999993 for 8.0 after `make demo`
    added = total(settings, fresh_sum) - before[fresh_sum]
    assert 4 * 2.0 - 1e-6 <= added < 4 * 2.0 + 1.0, added


def test_status_summarizes_the_last_minutes(settings, healthy_stack):
    done = subprocess.run([sys.executable, "-m", "personastream", "stack", "status"],
                          capture_output=True, text=True)
    summary = done.stdout.split(f"(Prometheus, {settings.prometheus_url}):")[-1]
    labels = [line.strip().split("  ")[0] for line in summary.strip().splitlines()]
    for label in ("events accepted", "dead-lettered", "freshness p99", "job lag",
                  "NiFi queued", "targets down", "alerts firing"):
        assert label in labels, (label, done.stdout)
    assert "did not answer" not in done.stdout


#: The label naming which instance of an alert a notification is about, by alert name; the
#: other alerts are about the whole pipeline (one instance, "").
INSTANCE_LABEL = {"ServerDown": "job", "DeclaredJobNotRunning": "job_name",
                  "JobLagGrowing": "job_name", "NiFiBackPressure": "component_name"}


def latest_notified(settings) -> dict[tuple[str, str], dict]:
    """The latest line of Alertmanager's log for each alert name and instance."""
    def instance(line: dict) -> str:
        return line["labels"].get(INSTANCE_LABEL.get(line["alertname"], ""), "")
    return {(line["alertname"], instance(line)): line for line in alert_log.read(settings)}


def notified(settings, alerts: set[tuple[str, str]], status: str, since: str = "") -> bool:
    """Whether the latest notification of each alert says ``status`` (resolved: since
    ``since``)."""
    latest = latest_notified(settings)
    return all(a in latest and latest[a]["status"] == status
               and (status == "firing" or latest[a]["ends_at"] >= since) for a in alerts)


@pytest.mark.faults
def test_alerts_fire_and_resolve(settings, healthy_stack):
    """Dead letters only, slow live profiles and a declared job that does not run: each alert
    fires (after its `for`), reaches Alertmanager's log, and resolves once the cause is gone;
    then the pipeline exporter stopped: ServerDown fires and resolves."""
    since = dt.datetime.now(dt.timezone.utc).isoformat()
    flink = Flink(settings)
    reconciler = next(d for d in flink.daemons if d.name == "reconciler")
    declared = declared_jobs.path_for(settings)
    probe_job = f"monitoring_probe_{uuid.uuid4().hex[:6]}"
    reconciler.terminate()  # it would resubmit the declared job that does not run
    try:
        declared_jobs.record(declared, probe_job, "land_events", "0" * 32)
        bad = error("malformed_json", "Expecting value: line 1 column 1", "")
        causes = {("DeadLetterShareHigh", ""), ("FreshnessSlow", ""),
                  ("DeclaredJobNotRunning", probe_job)}

        def provoke() -> bool:
            now = dt.datetime.now(dt.timezone.utc)
            produce(settings, settings.topic_events_deadletter,
                    [("dl", deadletter([bad], payload="{", received_at=now.isoformat()))])
            produce(settings, settings.topic_live_profiles,
                    [("monitoring-slow", profile_with_freshness("monitoring", now, 5.0))])
            return notified(settings, causes, "firing")
        wait_until(provoke, 420, f"{sorted(causes)} firing in Alertmanager's log", interval_s=10)
        firing = {r["metric"]["alertname"] for r in query(settings, 'ALERTS{alertstate="firing"}')}
        assert {name for name, _ in causes} <= firing, firing
    finally:
        declared_jobs.withdraw(declared, [probe_job])
        flink.start()  # the reconciler again
    wait_until(lambda: notified(settings, causes, "resolved", since), 420,
               f"{sorted(causes)} resolved", interval_s=10)

    exporter = next(d for d in Prometheus(settings).daemons if d.name == "pipeline-exporter")
    exporter.terminate()
    down = {("ServerDown", "pipeline")}
    try:
        wait_until(lambda: notified(settings, down, "firing"), 180,
                   "ServerDown firing for the stopped pipeline exporter", interval_s=5)
    finally:
        Prometheus(settings).start()
    wait_until(lambda: notified(settings, down, "resolved", since), 180, "ServerDown resolved",
               interval_s=5)


def set_queue(connection_id: str, name: str, threshold: int):
    """Rename a NiFi connection and set its back-pressure object threshold."""
    current = nipyapi.canvas.get_connection(connection_id)
    return nipyapi.nifi.ConnectionsApi().update_connection(
        id=connection_id, body=nipyapi.nifi.ConnectionEntity(
            revision=current.revision, source_type=current.source_type,
            destination_type=current.destination_type, component=nipyapi.nifi.ConnectionDTO(
                id=connection_id, name=name, back_pressure_object_threshold=threshold,
                source=current.component.source, destination=current.component.destination)))


@pytest.mark.faults
def test_nifi_back_pressure_fires_and_resolves(settings, isolated):
    """A test's own ingest flow: the queue in front of the collector's batching, its threshold
    lowered to 5 requests and its destination stopped, fills with 8 requests; NiFiBackPressure
    fires for that queue (renamed, so the alert is this test's own) and resolves once the
    destination runs again and drains it. (NiFi refuses to change a connection whose
    destination runs: the queue keeps its threshold until the fixture deletes the group.)"""
    since = dt.datetime.now(dt.timezone.utc).isoformat()
    isolated.deploy_ingest()
    group = find_group(isolated.group_name)
    (queue,) = [c for c in nipyapi.canvas.list_all_connections(group.id, descendants=False)
                if c.component.name == "stamped"]  # stamp_receipt -> batch_requests
    name = f"stamped_{isolated.uid}"
    full = {("NiFiBackPressure", name)}
    batching = nipyapi.canvas.get_processor(queue.component.destination.id, "id")
    nipyapi.canvas.schedule_processor(batching, False)
    try:
        set_queue(queue.id, name, 5)
        for event in sample_events(n_events=8, n_users=8, seed=15):
            resp = requests.post(isolated.settings.nifi_ingest_url, timeout=30,
                                 data=json.dumps(event).encode(),
                                 headers={"Content-Type": "application/json"})
            assert resp.status_code == 204, resp.text
        wait_until(lambda: notified(settings, full, "firing"), 180,
                   f"NiFiBackPressure firing for {name}", interval_s=5)
    finally:
        nipyapi.canvas.schedule_processor(batching, True)
    wait_until(lambda: notified(settings, full, "resolved", since), 120,
               f"NiFiBackPressure resolved for {name}", interval_s=5)


def scraped(settings, job_name: str, metric: str, operator: str = ".*",
            seconds: int = 30) -> list[tuple[float, float]]:
    """(scraped at, sum over the job's subtasks) of a Flink operator metric of a job, over the
    last ``seconds``."""
    promql = (f'flink_taskmanager_job_task_operator_{metric}{{job_name="{job_name}",'
              f'operator_name=~"{operator}"}}[{seconds}s]')
    sums: dict[float, float] = {}
    for series in query(settings, promql):
        for at, value in series["values"]:
            sums[float(at)] = sums.get(float(at), 0.0) + float(value)
    return sorted(sums.items())


class Backlog(threading.Thread):
    """Enriched events, as NiFi publishes them, produced to a job's topic so that what the job
    has yet to process (produced less what its Kafka source emitted, ``numRecordsOut`` as
    Prometheus scrapes it) is ``start + growth * t`` (t from the job's first report),
    whatever rate the job processes at: production keeps that far ahead of the last scraped
    count, extrapolated at the rate of the last :attr:`WINDOW_S` s.

    The job's lag (``pendingRecords``, what JobLagGrowing reads) is that less what the source
    has fetched ahead (~10,000 events of live_activity here: a MiB of each partition, and
    its queues), and it lags: Kafka's consumer reckons it from the log end offset of the
    fetch that brought the records it hands over. ``start`` fills that read-ahead, and
    ``fill`` more in the first :attr:`FILL_S` s keeps the lag from dipping while the job's
    fetches catch up with it (a dip holds the rule's ``deriv`` below 0 for a minute more).
    Steering production by the lag itself swings it by tens of thousands of events."""

    WINDOW_S = 15
    FILL_S = 25
    CHUNK = 500  # events enriched at a time (fresh receipt times)

    def __init__(self, settings, job_name: str, start: int, growth: float, fill: int = 0):
        super().__init__(daemon=True)
        from personastream_flows.ingest.event_ingest import SCHEMA_DIR, Ingestor

        self.settings, self.job_name, self.start_backlog, self.growth, self.fill = \
            settings, job_name, start, growth, fill
        self.ingestor = Ingestor(SCHEMA_DIR, geoip_database=None, max_body_bytes=10_000_000)
        self.producer = Producer(producer_config(settings, **{"linger.ms": 20}))
        self.produced = 0
        self.ready: list[tuple[bytes, bytes]] = []
        self.chunks = 0
        self.stopping = threading.Event()
        self.error: BaseException | None = None

    def preload(self) -> None:
        """The starting backlog, before the job runs (it reads from the earliest offsets)."""
        self._produce(self.start_backlog)
        assert self.producer.flush(30) == 0

    def _records(self) -> list[tuple[bytes, bytes]]:
        self.chunks += 1
        events = sample_events(n_events=self.CHUNK, n_users=500, seed=self.chunks)
        source = {"ip": None, "user_agent": None, "content_type": None,
                  "received_at_ms": int(time.time() * 1000)}
        result = self.ingestor.process(json.dumps(events).encode(), source)
        return [(r.key.encode(), r.value_bytes()) for r in result.enriched]

    def _produce(self, n: int) -> None:
        for _ in range(n):
            if not self.ready:
                self.ready = self._records()
            key, value = self.ready.pop()
            self.producer.produce(self.settings.topic_events_enriched, value=value, key=key)
        self.producer.poll(0)
        self.produced += n

    def run(self) -> None:
        try:
            began = emitted = None  # began: when the job first reported, the target's t = 0
            rate, asked = 0.0, 0.0
            while not self.stopping.wait(0.2):
                now = time.time()
                if now - asked >= 1:
                    asked = now
                    samples = scraped(self.settings, self.job_name, "numRecordsOut",
                                      "Source.*", self.WINDOW_S)
                    if samples:
                        began, emitted = began or now, samples[-1]
                        (t0, n0), (t1, n1) = samples[0], samples[-1]
                        rate = max(0.0, (n1 - n0) / (t1 - t0)) if t1 > t0 else rate
                if emitted is not None:
                    soon = now + 0.5
                    target = (self.start_backlog + self.growth * (soon - began) + emitted[1]
                              + rate * (soon - emitted[0])
                              + self.fill * min(1.0, (soon - began) / self.FILL_S))
                    self._produce(max(0, int(target) - self.produced))
        except BaseException as err:  # noqa: B036 - raised again by stop()
            self.error = err

    def stop(self) -> None:
        self.stopping.set()
        self.join(30)
        self.producer.flush(30)
        if self.error is not None:
            raise self.error


@pytest.mark.faults
def test_job_lag_growing_fires_and_resolves(settings, isolated):
    """A test's own live_activity job (the slowest, a few hundred events/s here), its topic
    fed faster than it processes (its lag starts above the rule's floor and grows by ~50
    events/s): JobLagGrowing fires for that job, and resolves once the events stop and the
    lag falls. The lag and the alert's states are printed (run with -s)."""
    since = dt.datetime.now(dt.timezone.utc).isoformat()
    s = isolated.settings
    job = f"live_activity_{isolated.uid}"
    behind = {("JobLagGrowing", job)}
    backlog = Backlog(s, job, start=15 * LAG_FLOOR_RECORDS, growth=50, fill=6000)
    backlog.preload()
    flink_jobs.submit(s, "live_activity", instance=isolated.uid)
    started = time.monotonic()
    backlog.start()
    try:
        wait_until(lambda: notified(settings, behind, "firing"), 300,
                   f"JobLagGrowing firing for {job}", interval_s=5)
        fired = time.monotonic()
        assert job in latest_notified(settings)[("JobLagGrowing", job)]["summary"]
    finally:
        backlog.stop()
        stopped = time.monotonic()
    wait_until(lambda: notified(settings, behind, "resolved", since), 180,
               f"JobLagGrowing resolved for {job}", interval_s=5)
    print(f"JobLagGrowing notified {fired - started:.0f} s after the job ran, resolved "
          f"{time.monotonic() - stopped:.0f} s after its {backlog.produced:,} events stopped")
    print_lag(settings, job, int(time.monotonic() - started))


def print_lag(settings, job: str, seconds: int) -> None:
    """A job's lag every scrape over the last ``seconds``, and when JobLagGrowing was pending
    and firing for it."""
    lags = scraped(settings, job, "pendingRecords", seconds=seconds)
    print("lag:", " ".join(f"{lag:,.0f}" for _, lag in lags))
    states = f'ALERTS{{alertname="JobLagGrowing",job_name="{job}"}}[{seconds}s]'
    for series in query(settings, states) if lags else []:
        (first, _), *_, (last, _) = series["values"]
        print(f"{series['metric']['alertstate']} from {float(first) - lags[0][0]:.0f} s to "
              f"{float(last) - lags[0][0]:.0f} s after the first lag")

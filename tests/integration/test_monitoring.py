"""Prometheus scrapes every stage of the real stack; the pipeline's own measures reach it;
`stack status` summarizes them; alerts fire in Prometheus, reach Alertmanager and its log, and
resolve (issue 15)."""
from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import time
import uuid

import pytest
from confluent_kafka import Producer

from personastream_contracts import declared_jobs
from personastream_contracts.deadletters import deadletter, error
from personastream_contracts.topics import deliver, producer_config
from personastream_stack import alert_log
from personastream_stack.flink import Flink
from personastream_stack.prometheus import Prometheus, query

#: A metric each scrape job's servers export, proving that job's target is really scraped.
SIGNATURES = {
    "kafka": 'kafka_server_brokertopicmetrics_count{name="MessagesInPerSec"}',
    "cassandra": 'org_apache_cassandra_metrics_clientrequest_count{scope="Write"}',
    "flink": "flink_jobmanager_numRegisteredTaskManagers",
    "nifi": "nifi_amount_items_queued",
    "pipeline": "personastream_exporter_kafka_up == 1",
    "prometheus": "prometheus_tsdb_head_series",
}


def wait_until(check, timeout_s: float, what: str, interval_s: float = 2.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}")


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
        (f"monitoring-{uuid.uuid4().hex[:6]}", profile(now, age_s=2.0)) for _ in range(4)])
    wait_until(lambda: total(settings, letters) >= before[letters] + 3, 60,
               "3 more malformed_json dead letters in Prometheus")
    wait_until(lambda: total(settings, fresh) >= before[fresh] + 4, 60,
               "4 more freshness observations in Prometheus")
    added = total(settings, fresh_sum) - before[fresh_sum]
    assert 4 * 2.0 <= added < 4 * 2.0 + 1.0, added


def profile(now: dt.datetime, age_s: float) -> dict:
    """A live profile record written now for an event ``age_s`` old (client time)."""
    def iso(t: dt.datetime) -> str:  # as Flink's JSON format writes a TIMESTAMP(3)
        return t.replace(tzinfo=None).isoformat(timespec="milliseconds")
    return {"user_key": "monitoring", "recent_items": [], "category_affinity": {},
            "brand_affinity": {}, "purchased": [], "n_events": 1,
            "updated_at": iso(now - dt.timedelta(seconds=age_s)), "written_at": iso(now)}


def test_status_summarizes_the_last_minutes(settings, healthy_stack):
    done = subprocess.run([sys.executable, "-m", "personastream", "stack", "status"],
                          capture_output=True, text=True)
    summary = done.stdout.split(f"(Prometheus, {settings.prometheus_url}):")[-1]
    labels = [line.strip().split("  ")[0] for line in summary.strip().splitlines()]
    for label in ("events accepted", "dead-lettered", "freshness p99", "job lag",
                  "NiFi queued", "targets down", "alerts firing"):
        assert label in labels, (label, done.stdout)
    assert "did not answer" not in done.stdout


def latest_notified(settings) -> dict[tuple[str, str], dict]:
    """The latest line of Alertmanager's log for each alert name (and instance, if any)."""
    return {(line["alertname"], line["labels"].get("job_name") or line["labels"].get("job")
             if line["alertname"] in ("ServerDown", "DeclaredJobNotRunning") else ""): line
            for line in alert_log.read(settings)}


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
                    [("monitoring-slow", profile(now, age_s=5.0))])
            return notified(settings, causes, "firing")
        wait_until(provoke, 420, f"{sorted(causes)} firing in Alertmanager's log", 10)
        firing = {r["metric"]["alertname"] for r in query(settings, 'ALERTS{alertstate="firing"}')}
        assert {name for name, _ in causes} <= firing, firing
    finally:
        declared_jobs.withdraw(declared, [probe_job])
        flink.start()  # the reconciler again
    wait_until(lambda: notified(settings, causes, "resolved", since), 420,
               f"{sorted(causes)} resolved", 10)

    exporter = next(d for d in Prometheus(settings).daemons if d.name == "pipeline-exporter")
    exporter.terminate()
    down = {("ServerDown", "pipeline")}
    try:
        wait_until(lambda: notified(settings, down, "firing"), 180,
                   "ServerDown firing for the stopped pipeline exporter", 5)
    finally:
        Prometheus(settings).start()
    wait_until(lambda: notified(settings, down, "resolved", since), 180, "ServerDown resolved", 5)

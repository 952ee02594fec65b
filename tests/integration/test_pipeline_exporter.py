"""The pipeline exporter on the real Kafka: records of every kind it measures, produced to a
test's own topics after it started, show in its /metrics; what was there before does not,
except the model placements (read from the start of their compacted topic)."""
import dataclasses
import json
import threading
import time

import orjson
import pytest
import requests
from confluent_kafka import Producer
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from personastream_bench.traffic import sample_events
from personastream_contracts.topics import deliver, producer_config
from personastream_flink.late_events import late_deadletter
from personastream_flows.ingest.event_ingest import SCHEMA_DIR, Ingestor
from personastream_models.registry import Placement
from personastream_stack import pipeline_exporter
from personastream_stack.process import free_port

WAIT_S = 30
SOURCE = {"ip": None, "user_agent": None, "content_type": None}


class Exporter:
    """The exporter of ``settings`` in a thread of this process, with a registry of its own."""

    def __init__(self, settings):
        self.settings, self.stop, self.error = settings, threading.Event(), None
        self.thread = threading.Thread(target=self._run, name="pipeline exporter", daemon=True)

    def _run(self) -> None:
        try:
            pipeline_exporter.run(self.settings, self.stop, CollectorRegistry())
        except BaseException as error:  # the test names it
            self.error = error

    def scrape(self) -> dict:
        """{(metric sample name, sorted label pairs): value} of its /metrics."""
        assert self.error is None, f"the exporter stopped: {self.error!r}"
        url = f"http://127.0.0.1:{self.settings.pipeline_exporter_port}/metrics"
        text = requests.get(url, timeout=5).text
        return {(s.name, tuple(sorted(s.labels.items()))): s.value
                for family in text_string_to_metric_families(text) for s in family.samples}

    def wait_for(self, what: str, done) -> dict:
        """The scrape once ``done`` of it, failing after :data:`WAIT_S` with the last one."""
        deadline = time.monotonic() + WAIT_S
        while True:
            try:
                scraped = self.scrape()
            except requests.ConnectionError:
                scraped = {}
            if done(scraped):
                return scraped
            assert time.monotonic() < deadline, f"no {what} within {WAIT_S}s: {scraped}"
            time.sleep(0.2)


@pytest.fixture
def exporter(isolated):
    running = Exporter(dataclasses.replace(isolated.settings, pipeline_exporter_port=free_port()))
    yield running
    running.stop.set()
    if running.thread.is_alive():
        running.thread.join(timeout=10)


def test_the_exporter_measures_what_reaches_the_topics_after_its_start(exporter):
    s = exporter.settings
    producer = Producer(producer_config(s))
    ingestor = Ingestor(SCHEMA_DIR, geoip_database=None, max_body_bytes=1 << 20)

    def send(topic: str, key: str, value: bytes | None) -> None:
        assert deliver(producer, topic, key, value, 30) is None

    def enrich(event: dict) -> bytes:
        result = ingestor.process(json.dumps(event).encode(),
                                           {**SOURCE, "received_at_ms": int(time.time() * 1000)})
        assert result.accepted == 1, result.deadletters[:1]
        return result.enriched[0].value_bytes()

    events = sample_events(n_events=60, n_users=5, seed=23)
    views = [e for e in events if e["event_type"] == "product_view"][:4]
    search = next(e for e in events if e["event_type"] == "search")
    trends = Placement.initial("trends_detector", "2-0-0")
    # before the start: counted only on the compacted control topic
    send(s.topic_events_enriched, "user:early", enrich(views.pop()))
    send(s.topic_models_control, "customer_segments",
         Placement.initial("customer_segments", "1-0-0").to_json().encode())
    send(s.topic_models_control, "trends_detector", trends.to_json().encode())

    exporter.thread.start()
    exporter.wait_for("Kafka up", lambda m: m.get(("personastream_exporter_kafka_up", ())) == 1)
    for view in views:
        send(s.topic_events_enriched, "user:u-1", enrich(view))
    send(s.topic_events_enriched, "user:u-2", enrich(search))
    for body in (b"{oops", b"[]"):
        letter = ingestor.process(body, {**SOURCE, "received_at_ms": 0}).deadletters[0]
        send(s.topic_events_deadletter, "unknown", letter.value_bytes())
    late = late_deadletter(json.loads(enrich(views[0])), 5, "2026-12-03 10:01:00",
                           "score_trends", "/received_at")
    send(s.topic_events_deadletter, "user:u-1", orjson.dumps(late))
    for flagged in (True, False, True):
        send(s.topic_trends_anomalies, "item-1", orjson.dumps({"item_id": "item-1",
                                                               "flagged": flagged}))
    send(s.topic_trends_anomalies, "item-1", b"not json")
    send(s.topic_models_control, "trends_detector",
         trends.with_shadow("3-4-0").to_json().encode())
    for updated, written in (("10:00:00.2", "10:00:00.6"), ("10:00:00", "10:00:02.5")):
        send(s.topic_live_profiles, "user:u-1", orjson.dumps({
            "user_key": "user:u-1", "updated_at": f"2026-12-03T{updated}",
            "written_at": f"2026-12-03T{written}", "n_events": 2}))

    expected = {
        ("personastream_events_accepted_total", (("event_type", "product_view"),)): 3.0,
        ("personastream_events_accepted_total", (("event_type", "search"),)): 1.0,
        ("personastream_events_accepted_total", (("event_type", "page_view"),)): 0.0,
        ("personastream_events_deadlettered_total",
         (("reason", "malformed_json"), ("source", "ingest"))): 1.0,
        ("personastream_events_deadlettered_total",
         (("reason", "empty_batch"), ("source", "ingest"))): 1.0,
        ("personastream_events_deadlettered_total",
         (("reason", "late_event"), ("source", "score_trends"))): 1.0,
        ("personastream_anomalies_flagged_total", ()): 2.0,
        ("personastream_exporter_bad_records_total", (("topic", s.topic_trends_anomalies),)): 1.0,
        ("personastream_model_version_info", (("model", "customer_segments"),
                                              ("placement", "live"), ("version", "1-0-0"))): 1.0,
        ("personastream_model_version_info", (("model", "trends_detector"),
                                              ("placement", "live"), ("version", "2-0-0"))): 1.0,
        ("personastream_model_version_info", (("model", "trends_detector"),
                                              ("placement", "shadow"), ("version", "3-4-0"))): 1.0,
        ("personastream_freshness_seconds_count", ()): 2.0,
        ("personastream_freshness_seconds_bucket", (("le", "0.5"),)): 1.0,
        ("personastream_freshness_seconds_bucket", (("le", "3.0"),)): 2.0,
    }
    scraped = exporter.wait_for("measures of every record", lambda m: all(
        m.get(k) == v for k, v in expected.items()))
    assert scraped[("personastream_freshness_seconds_sum", ())] == pytest.approx(2.9)
    assert len([k for k in scraped if k[0] == "personastream_model_version_info"]) == 3

    exporter.stop.set()
    exporter.thread.join(timeout=10)
    assert not exporter.thread.is_alive() and exporter.error is None

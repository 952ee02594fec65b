"""The pipeline exporter's measures from records made as the pipeline makes them (the real
ingest, dead-letter and placement builders), and its follower of the topics on a stand-in
consumer (no servers)."""
from __future__ import annotations

import dataclasses
import threading
import time

import orjson
import pytest
import requests
from confluent_kafka import OFFSET_BEGINNING, KafkaError, KafkaException
from prometheus_client import CollectorRegistry

from personastream_contracts.deadletter_replay import FIXED, STILL_FAILING, Letter, ledger_record
from personastream_contracts.deadletters import REASON_CODES, deadletter, error
from personastream_contracts.settings import resolve
from personastream_flink.late_events import late_deadletter
from personastream_models.registry import Placement
from personastream_stack.pipeline_exporter import Follower, run
from personastream_stack.pipeline_measures import Metrics, observe
from personastream_stack.process import free_port

SETTINGS = resolve(environ={})
ENRICHED, DEADLETTER = SETTINGS.topic_events_enriched, SETTINGS.topic_events_deadletter
ANOMALIES, CONTROL = SETTINGS.topic_trends_anomalies, SETTINGS.topic_models_control
PROFILES, REPLAYED_LEDGER = SETTINGS.topic_live_profiles, SETTINGS.topic_deadletters_replayed
T0_MS = 1_796_292_000_000


@pytest.fixture
def registry():
    return CollectorRegistry()


@pytest.fixture
def metrics(registry):
    return Metrics(SETTINGS, registry)


def value(registry, name: str, **labels) -> float | None:
    return registry.get_sample_value(name, labels)


def series(registry, name: str) -> dict:
    """{labels as a sorted tuple of pairs: value} of every sample of ``name``."""
    return {tuple(sorted(s.labels.items())): s.value for m in registry.collect()
            for s in m.samples if s.name == name}


def observe_all(topic: str, values: list, metrics, key: bytes | None = b"k") -> list:
    return [observe(topic, key, v, metrics) for v in values]


def test_accepted_events_are_counted_by_their_known_type(enrich, registry, metrics):
    events = [enrich.view("i-1", T0_MS + n) for n in range(3)]
    events += [enrich.event("search", T0_MS, query="boots") for _ in range(2)]
    events.append({**events[0], "event_type": "wishlist"})  # a type no schema knows
    assert observe_all(ENRICHED, [orjson.dumps(e) for e in events], metrics) == [None] * 6
    counts = series(registry, "personastream_events_accepted_total")
    assert counts == {(("event_type", t),): 0.0 for t in
                      ("add_to_cart", "click", "customer_update", "impression", "page_view",
                       "purchase")} | {
        (("event_type", "product_view"),): 3.0, (("event_type", "search"),): 2.0,
        (("event_type", "other"),): 1.0}


def test_dead_letters_are_counted_by_reason_and_who_dead_lettered_them(enrich, registry,
                                                                        metrics):
    source = {"ip": None, "user_agent": None, "content_type": None, "received_at_ms": T0_MS}
    ingest = [enrich.ingestor.process(body, source).deadletters[0].value_bytes()
              for body in (b"{oops", b"{oops", b"[]", b'{"event_type": "wishlist"}')]
    event = enrich.view("i-1", T0_MS)
    late = [orjson.dumps(late_deadletter(event, T0_MS, "2026-12-03 10:01:00", job, "/client_ts"))
            for job in ("build_profiles", "build_profiles", "score_trends", "score_trends_x")]
    unknown = deadletter([error("internal_error", "boom")], received_at=event["received_at"])
    unknown["reason"]["code"] = "from_a_newer_schema"
    assert observe_all(DEADLETTER, [*ingest, *late, orjson.dumps(unknown)], metrics) == [None] * 9
    counts = {k: v for k, v in series(registry, "personastream_events_deadlettered_total").items()
              if v}
    assert counts == {
        (("reason", "malformed_json"), ("source", "ingest")): 2.0,
        (("reason", "empty_batch"), ("source", "ingest")): 1.0,
        (("reason", "unknown_event_type"), ("source", "ingest")): 1.0,
        (("reason", "late_event"), ("source", "build_profiles")): 2.0,
        (("reason", "late_event"), ("source", "score_trends")): 1.0,
        (("reason", "late_event"), ("source", "other")): 1.0,
        (("reason", "other"), ("source", "ingest")): 1.0}
    assert len(series(registry, "personastream_events_deadlettered_total")) == \
        len(REASON_CODES) - 1 + 4  # ingest's reasons at 0 from the start, and those seen


def test_only_flagged_anomalies_are_counted(registry, metrics):
    window = {"item_id": "i-1", "window_start": "2026-12-03T10:00:00Z", "views": 60,
              "score": 0.99, "model": "trends_detector", "model_version": "2-0-0"}
    records = [orjson.dumps({**window, "flagged": flagged}) for flagged in (True, True, False)]
    assert observe_all(ANOMALIES, records, metrics) == [None] * 3
    assert value(registry, "personastream_anomalies_flagged_total") == 2.0


def test_replays_are_counted_by_outcome_and_the_letters_reason(registry, metrics):
    bad = error("schema_violation", "'item_id' is a required property", "", "required")
    letters = [Letter(DEADLETTER, 0, offset, deadletter(
        [bad], event={"event_id": f"e-{offset}", "event_type": "product_view"}, payload="{}",
        received_at="2026-12-03T10:00:00.000Z")) for offset in range(3)]
    records = [orjson.dumps(ledger_record(letter, outcome, changes=[], failure=None,
                                          replayed_at="2026-12-03T11:00:00.000Z",
                                          collector="http://127.0.0.1:9091/events"))
               for letter, outcome in zip(letters, (FIXED, FIXED, STILL_FAILING))]
    assert observe_all(REPLAYED_LEDGER, [*records, None], metrics) == [None] * 4
    assert series(registry, "personastream_deadletters_replayed_total") == {
        (("outcome", FIXED), ("reason", "schema_violation")): 2.0,
        (("outcome", STILL_FAILING), ("reason", "schema_violation")): 1.0}


def test_model_versions_follow_the_latest_placement_of_each_model(registry, metrics):
    def place(placement: Placement | None, model: str = "trends_detector"):
        record = placement.to_json().encode() if placement else None
        return observe(CONTROL, model.encode(), record, metrics)

    def placed() -> set:
        return {(dict(k)["model"], dict(k)["placement"], dict(k)["version"])
                for k, v in series(registry, "personastream_model_version_info").items()
                if v == 1.0}

    trends = Placement.initial("trends_detector", "2-0-0")
    place(trends)
    place(Placement.initial("customer_segments", "1-0-0"), "customer_segments")
    place(trends := trends.with_shadow("3-4-0"))
    assert placed() == {("trends_detector", "live", "2-0-0"),
                        ("trends_detector", "shadow", "3-4-0"),
                        ("customer_segments", "live", "1-0-0")}
    place(trends.promoted("3-4-0"))
    assert place(None, "customer_segments") is None  # a tombstone
    assert "not a model placement record" in observe(CONTROL, b"trends_detector", b"{}", metrics)
    assert placed() == {("trends_detector", "live", "3-4-0")}
    assert len(series(registry, "personastream_model_version_info")) == 1
    assert value(registry, "personastream_exporter_bad_records_total", topic=CONTROL) == 1.0


def profile(updated_at: str, written_at: str | None) -> bytes:
    return orjson.dumps({"user_key": "user:u-1", "recent_items": ["i-1"],
                         "category_affinity": {"shoes": 1.0}, "brand_affinity": None,
                         "purchased": [], "updated_at": updated_at, "n_events": 3,
                         "written_at": written_at})


def test_freshness_is_the_write_of_a_live_profile_after_its_newest_event(registry, metrics):
    records = [profile("2026-12-03T10:00:00.5", "2026-12-03T10:00:00.85"),   # 0.35 s
               profile("2026-12-03T10:00:00", "2026-12-03T10:00:01.2"),      # 1.2 s
               profile("2026-12-03T09:59:00.001", "2026-12-03T10:00:00.001"),  # 60 s
               profile("2026-12-03T10:00:02", "2026-12-03T10:00:01.9"),      # a clock ahead: 0
               None]                                                        # a tombstone
    assert observe_all(PROFILES, records, metrics) == [None] * 5
    assert "TypeError" in observe(PROFILES, b"k", profile("2026-12-03T10:00:00", None), metrics)

    def bucket(le: str) -> float:
        return value(registry, "personastream_freshness_seconds_bucket", le=le)

    assert value(registry, "personastream_freshness_seconds_count") == 4.0
    assert value(registry, "personastream_freshness_seconds_sum") == pytest.approx(61.55)
    assert [bucket(le) for le in ("0.05", "0.3", "0.5", "1.0", "1.5", "30.0", "60.0", "+Inf")] \
        == [1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 4.0, 4.0]


def test_bad_records_are_counted_per_topic_and_change_nothing_else(registry, metrics):
    faults = observe_all(ENRICHED, [b"{oops", b"[1, 2]", None, b"\xff"], metrics)
    faults += observe_all(DEADLETTER, [b'{"reason": "late"}', b'{"errors": []}'], metrics)
    faults.append(observe(ANOMALIES, None, b'"flagged"', metrics))
    assert all(faults), faults
    assert series(registry, "personastream_exporter_bad_records_total") == {
        (("topic", ENRICHED),): 4.0, (("topic", DEADLETTER),): 2.0, (("topic", ANOMALIES),): 1.0}
    assert not any(series(registry, "personastream_events_accepted_total").values())
    assert not any(series(registry, "personastream_events_deadlettered_total").values())
    assert value(registry, "personastream_anomalies_flagged_total") == 0.0


class Topic:
    def __init__(self, partitions: int):
        self.partitions = dict.fromkeys(range(partitions))
        self.error = None


class Message:
    def __init__(self, topic: str, value: bytes, error=None):
        self._topic, self._value, self._error = topic, value, error

    def topic(self):
        return self._topic

    def partition(self):
        return 0

    def offset(self):
        return 5

    def key(self):
        return b"k"

    def value(self):
        return self._value

    def error(self):
        return self._error


class StandInConsumer:
    """Kafka's topics as ``topics`` (None: Kafka down), each partition's end at 10 + its
    number, and ``batches`` to consume."""

    def __init__(self):
        self.topics: dict | None = {}
        self.assigned: list[tuple[str, int, int]] = []
        self.batches: list[list[Message]] = []

    def list_topics(self, timeout):
        if self.topics is None:
            raise KafkaException(KafkaError(KafkaError._TRANSPORT, "connection refused"))
        return type("Metadata", (), {"topics": self.topics})

    def get_watermark_offsets(self, tp, timeout):
        return 0, 10 + tp.partition

    def incremental_assign(self, partitions):
        self.assigned += [(tp.topic, tp.partition, tp.offset) for tp in partitions]

    def consume(self, n, timeout):
        return self.batches.pop(0) if self.batches else []


@pytest.fixture
def follower(metrics):
    consumer = StandInConsumer()
    return Follower(SETTINGS, metrics, consumer_factory=lambda config: consumer), consumer


def test_partitions_are_followed_from_their_end_once_and_control_from_its_start(follower,
                                                                               registry):
    follower, consumer = follower
    consumer.topics = None
    follower.sync()
    assert value(registry, "personastream_exporter_kafka_up") == 0.0
    consumer.topics = {ENRICHED: Topic(2), CONTROL: Topic(1), "unrelated": Topic(1)}
    follower.sync()
    follower.sync()
    assert consumer.assigned == [(ENRICHED, 0, 10), (ENRICHED, 1, 11),
                                 (CONTROL, 0, OFFSET_BEGINNING)]
    assert value(registry, "personastream_exporter_kafka_up") == 1.0
    consumer.topics[PROFILES] = Topic(1)  # created since
    follower.sync()
    assert consumer.assigned[3:] == [(PROFILES, 0, 10)]


def test_poll_measures_records_and_skips_errors_and_bad_ones(follower, registry):
    follower, consumer = follower
    flagged = orjson.dumps({"flagged": True})
    consumer.batches = [[Message(ANOMALIES, flagged), Message(ANOMALIES, b"nope"),
                         Message(ANOMALIES, None, error=KafkaError(KafkaError._TRANSPORT)),
                         Message(ANOMALIES, flagged)]]
    follower.poll()
    assert value(registry, "personastream_anomalies_flagged_total") == 2.0
    assert value(registry, "personastream_exporter_bad_records_total", topic=ANOMALIES) == 1.0


def test_the_exporter_serves_kafka_down_and_stops_when_told(registry, caplog):
    s = dataclasses.replace(SETTINGS, kafka_bootstrap_servers=f"127.0.0.1:{free_port()}",
                            pipeline_exporter_port=free_port())
    stop = threading.Event()
    thread = threading.Thread(target=run, args=(s, stop, registry), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while "does not answer" not in caplog.text:  # its first metadata request failed
        assert time.monotonic() < deadline and thread.is_alive(), caplog.text
        time.sleep(0.1)
    url = f"http://127.0.0.1:{s.pipeline_exporter_port}/metrics"
    assert "\npersonastream_exporter_kafka_up 0.0\n" in scrape(url)
    stop.set()
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert scrape(url) == ""  # the server is closed


def scrape(url: str) -> str:
    try:
        return requests.get(url, timeout=2).text
    except requests.ConnectionError:
        return ""

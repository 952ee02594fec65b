"""The trends job on real Kafka, Flink and Cassandra: a spike in one item's views is flagged,
steady items are not, and a restore from checkpoint continues the learned detectors."""
import calendar
import dataclasses
import json
import random
import time
import uuid

import pytest
from confluent_kafka import Producer

from personastream import flink_jobs
from personastream.sample_traffic import sample_events
from personastream.stack.cassandra import keyspace, session
from personastream_flows.processors.ingest.event_ingest import Ingestor, SCHEMA_DIR

MINUTE_MS = 60_000
T0_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z: event time is the ingest receipt time
STEADY_ITEMS = ("item-steady-1", "item-steady-2", "item-steady-3")
SPIKED = "item-spiking"


def enriched_views(item_id: str, n: int, minute: int, ingestor: Ingestor, seed: int) -> list:
    """``n`` product views of ``item_id`` received during ``minute``, enriched as NiFi does."""
    events = sample_events(n_events=n, n_users=50, seed=seed)
    for event in events:
        event.update(event_type="product_view", item_id=item_id, category="shoes")
        for key in ("page_url", "page_title", "quantity", "order_id", "items", "total",
                    "currency", "query", "results_count", "attributes"):
            event.pop(key, None)
        event.setdefault("user_id", None)
    source = {"ip": None, "user_agent": None, "content_type": None,
              "received_at_ms": T0_MS + minute * MINUTE_MS + 1_000}
    result = ingestor.process(json.dumps(events).encode(), source)
    assert result.rejected == 0, result.deadletters[:1]
    return result.enriched


def produce(settings, records) -> None:
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap_servers})
    for record in records:
        producer.produce(settings.topic_events_enriched, value=record.value_bytes(),
                         key=record.key.encode())
    assert producer.flush(30) == 0


def traffic(minutes: range, ingestor: Ingestor, expected: dict,
            spike_minute: int | None = None) -> list:
    """Records of steady views of every item, and of a spike; ``expected`` gets the counts."""
    rng = random.Random(minutes.start)
    records = []
    for minute in minutes:
        counts = {item: rng.randint(4, 6) for item in STEADY_ITEMS}
        counts[SPIKED] = 60 if minute == spike_minute else rng.randint(1, 2)
        for n, (item, views) in enumerate(counts.items()):
            records += enriched_views(item, views, minute, ingestor, minute * 10 + n)
            expected[(item, minute)] = views
    return records


def trend_rows(settings) -> dict:
    with session(settings) as cql:
        rows = cql.execute(f"SELECT * FROM {keyspace(settings)}.item_trends")
        return {(r.item_id, r.window_start): r for r in rows}


def wait_rows(settings, n_windows: int, timeout_s: float = 120) -> dict:
    """The scored windows once there are ``n_windows`` of them, or whatever there is after
    ``timeout_s`` (the caller's comparison then says which are missing)."""
    deadline = time.monotonic() + timeout_s
    while True:
        rows = trend_rows(settings)
        if len(rows) >= n_windows or time.monotonic() > deadline:
            return rows
        time.sleep(1)


@pytest.fixture
def trends(isolated):
    s = dataclasses.replace(isolated.settings, trends_window_s=60, trends_watermark_s=0)
    return dataclasses.replace(isolated, settings=s)


def test_spike_is_flagged_and_restore_continues_the_detectors(trends):
    s = trends.settings
    ingestor = Ingestor(SCHEMA_DIR, geoip_database=None, max_body_bytes=10_000_000)
    items = len(STEADY_ITEMS) + 1
    job = flink_jobs.submit(s, "score_trends", instance=trends.uid)

    # 40 steady minutes; the watermark closes a window once the next minute's events arrive
    expected: dict = {}
    produce(s, traffic(range(0, 40), ingestor, expected))
    before = wait_rows(s, 39 * items)
    time.sleep(12)  # at least one checkpoint (every 10 s) after those windows were scored
    flink_jobs.cancel(s, job.job_id)  # the job is killed mid-stream...
    checkpoint = flink_jobs.last_checkpoint(s, f"score_trends_{trends.uid}")

    # ...while traffic goes on, with a spike on one item at minute 50
    produce(s, traffic(range(40, 60), ingestor, expected, spike_minute=50))
    flink_jobs.submit(s, "score_trends", instance=trends.uid, restore_from=checkpoint)
    rows = wait_rows(s, 59 * items)

    views = {(item, (calendar.timegm(start.timetuple()) * 1000 - T0_MS) // MINUTE_MS): row.views
             for (item, start), row in rows.items()}
    closed = {k: v for k, v in expected.items() if k[1] < 59}
    assert views == closed  # every event counted once: none lost, none twice
    assert set(before) <= set(rows)
    learned = {}
    for (item, start), row in sorted(rows.items(), key=lambda kv: kv[0][1]):
        learned.setdefault(item, []).append(row.n_learned)
    for item, counts in learned.items():  # the detector continued: n_learned never restarts
        assert counts == list(range(1, len(counts) + 1)), item

    spiked = [r for (item, _), r in rows.items() if item == SPIKED and r.flagged]
    assert [r.views for r in spiked] == [60]
    steady_flags = [(item, r.window_start) for (item, _), r in rows.items()
                    if item in STEADY_ITEMS and r.flagged]
    assert steady_flags == []
    anomalies = [json.loads(v) for v in _read_anomalies(s)]
    assert [(a["item_id"], a["views"]) for a in anomalies] == [(SPIKED, 60)]


def _read_anomalies(settings) -> list[bytes]:
    from confluent_kafka import Consumer

    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap_servers,
                         "group.id": f"test-{uuid.uuid4()}", "auto.offset.reset": "earliest"})
    consumer.subscribe([settings.topic_trends_anomalies])
    out = []
    try:
        for _ in range(20):
            out += [m.value() for m in consumer.consume(100, timeout=0.5) if m.error() is None]
            if out:
                time.sleep(1)
                out += [m.value() for m in consumer.consume(100, timeout=0.5) if m.error() is None]
                return out
    finally:
        consumer.close()
    return out

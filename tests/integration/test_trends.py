"""The trends job on real Kafka, Flink and Cassandra: a spike in one item's views is flagged,
steady items are not, and a restore from checkpoint continues the learned detectors. The job
runs its default detector version, the best (4-1-0), with no promote: its stand-in (2-0-0)
scores an item's first 100 windows."""
import calendar
import dataclasses
import json
import time
import uuid

import pytest

from personastream_contracts.cassandra import keyspace, session
from personastream_flows.ingest.event_ingest import SCHEMA_DIR, Ingestor
from personastream_models import specs
from personastream_stack import flink_jobs


@pytest.fixture
def trends(isolated):
    s = dataclasses.replace(isolated.settings, trends_window_s=60, trends_watermark_s=0)
    return dataclasses.replace(isolated, settings=s)


def test_spike_is_flagged_and_restore_continues_the_detectors(trends, trend_traffic,
                                                             deadletters):
    tt = trend_traffic
    s = trends.settings
    ingestor = Ingestor(SCHEMA_DIR, geoip_database=None, max_body_bytes=10_000_000)
    items = len(tt.STEADY_ITEMS) + 1
    # 40 steady minutes, in Kafka before the job starts (see TrendTraffic.produce); the
    # watermark closes a window once the next minute's events arrive
    expected: dict = {}
    tt.produce(s, tt.traffic(range(0, 40), ingestor, expected))
    job = flink_jobs.submit(s, "score_trends", instance=trends.uid)
    before = tt.wait_rows(s, 39 * items)
    # a checkpoint taken after those windows were scored holds the detectors that scored them
    checkpoint = flink_jobs.wait_checkpoint(s, job.job_id, after_ms=int(time.time() * 1000))
    flink_jobs.cancel(s, job.job_id)  # the job is killed mid-stream...

    # ...while traffic goes on, with a spike on one item at minute 50
    tt.produce(s, tt.traffic(range(40, 60), ingestor, expected, spike_minute=50))
    flink_jobs.submit(s, "score_trends", instance=trends.uid, restore_from=checkpoint)
    rows = tt.wait_rows(s, 59 * items)

    views = _views_by_minute(tt, rows)
    closed = {k: v for k, v in expected.items() if k[1] < 59}
    assert views == closed  # every event counted once: none lost, none twice
    assert set(before) <= set(rows)
    learned = {}
    for (item, start), row in sorted(rows.items(), key=lambda kv: kv[0][1]):
        learned.setdefault(item, []).append(row.n_learned)
    for item, counts in learned.items():  # the detector continued: n_learned never restarts
        assert counts == list(range(1, len(counts) + 1)), item
    # the default version is live from the start; under 100 windows an item is scored by its
    # stand-in, and the row says so
    live = specs.load(s.trends_detector, s.trends_detector_version or None)
    assert (live.version, live.stand_in.version) == ("4-1-0", "2-0-0")
    assert {(r.model_version, r.scored_by) for r in rows.values()} == {("4-1-0", "2-0-0")}

    spiked = [r for (item, _), r in rows.items() if item == tt.SPIKED and r.flagged]
    assert [r.views for r in spiked] == [60]
    steady_flags = [(item, r.window_start) for (item, _), r in rows.items()
                    if item in tt.STEADY_ITEMS and r.flagged]
    assert steady_flags == []
    anomalies = [json.loads(v) for v in _read_anomalies(s)]
    assert [(a["item_id"], a["views"]) for a in anomalies] == [(tt.SPIKED, 60)]
    newest = {item: max(start for (i, start) in rows if i == item) for item, _ in rows}
    expected_latest = {item: (start, rows[(item, start)].views) for item, start in newest.items()}
    assert _latest_trends(s, expected_latest) == expected_latest  # one row per item: the newest

    # a view of minute 5 arriving now, long after its window closed: dead-lettered by the
    # job, and no window changed
    late = tt.enriched_views(tt.SPIKED, 1, 5, ingestor, seed=999)
    tt.produce(s, late)
    letters = [d for d in deadletters(s) if d["reason"]["code"] == "late_event"]
    assert [json.loads(d["payload"])["event_id"] for d in letters] == \
        [late[0].value["event_id"]]
    assert "score_trends" in letters[0]["reason"]["message"]
    assert letters[0]["reason"]["field"] == "/received_at"
    assert _views_by_minute(tt, tt.trend_rows(s)) == views


def _views_by_minute(tt, rows: dict) -> dict:
    """{(item, minute index from TrendTraffic.T0_MS): views} of scored windows."""
    return {(item, (calendar.timegm(start.timetuple()) * 1000 - tt.T0_MS) // tt.MINUTE_MS):
            row.views for (item, start), row in rows.items()}


def _latest_trends(settings, expected: dict, timeout_s: float = 30) -> dict:
    """item_latest_trend's partition 'all' as item -> (window_start, views), polled until it
    is ``expected`` (its sink runs beside item_trends') or ``timeout_s`` passed."""
    deadline = time.monotonic() + timeout_s
    with session(settings) as cql:
        while True:
            latest = {r.item_id: (r.window_start, r.views) for r in cql.execute(
                f"SELECT * FROM {keyspace(settings)}.item_latest_trend WHERE bucket = 'all'")}
            if latest == expected or time.monotonic() > deadline:
                return latest
            time.sleep(1)


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

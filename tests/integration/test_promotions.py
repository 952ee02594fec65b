"""Promotions on the real stack: a rule published and activated with the command line reaches
the running ``evaluate_promotions`` job (no restart); shoppers' views POSTed to NiFi become
offers in Cassandra, on the offers topic and in the API (``/v1/users/{key}/offers``, and in
``/v1/recommendations`` with the boost applied); after ``promotions pause`` no new offer is
made. The latency from each triggering event's ingest (NiFi's receipt) to its offer row in
Cassandra (the row's write time) and to its record on the topic (read by a consumer) is
printed, p50 and p99 against the 1 s goal (run with -s). Erasing a shopper deletes its offers
and makes the job forget its facts (its cap)."""
from __future__ import annotations

import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import time
import uuid

import pytest
import requests

from personastream_bench import traffic
from personastream_contracts.cassandra import keyspace, session
from personastream_contracts.settings import as_environ
from personastream_stack import flink_jobs
from personastream_stack.kafka import read_to_end

pytestmark = pytest.mark.integration

EPOCH = dt.datetime(1970, 1, 1)  # the driver's timestamps: naive UTC
GOAL_S = 1.0
N_SHOPPERS = 40
#: Other shoppers' events per second beside the measured ones (the load phase).
BACKGROUND_EVENTS_S = 50
#: p99 bound asserted (the goal is 1 s; a shared 2-core machine has pauses, the figures show).
BOUND_S = 5.0


def rule(name: str) -> dict:
    """Shoppers in Great Britain (ingest's geo of the test client) viewing an item of a
    category they like most: a banner, once a day each."""
    return {"name": name, "version": "1-0-0", "description": "integration test",
            "priority": 50, "start": "2025-01-01T00:00:00Z", "end": "2099-01-01T00:00:00Z",
            "conditions": [{"kind": "affinity", "dimension": "category", "min": 0.5},
                           {"kind": "geo", "countries": ["GB"]}],
            "action": {"kind": "ranking_boost", "target": "item", "boost": 1.0},
            "budget": {"max_offers": 1000},
            "frequency_caps": {"per_customer": {"max_offers": 1, "window_s": 86400}}}


def cli(settings, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "personastream", *args], capture_output=True,
                          text=True, env={**os.environ, **as_environ(settings)}, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def view(user: str, item: str) -> dict:
    return {"event_id": str(uuid.uuid4()), "event_type": "product_view", "schema_version": "1-0-0",
            "user_id": user, "anonymous_id": f"device-{user}",
            "client_ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "item_id": item, "category": "shoes", "brand": "acme", "price": 10.0}


class OfferRecords:
    """The offers topic from its end, each record with the wall time a consumer read it."""

    def __init__(self, settings):
        from confluent_kafka import Consumer, TopicPartition

        self.consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap_servers,
                                  "group.id": f"test-{uuid.uuid4().hex}",
                                  "enable.auto.commit": False, "fetch.wait.max.ms": 10})
        topic = settings.topic_offers
        meta = self.consumer.list_topics(topic, timeout=10).topics[topic]
        self.consumer.assign([TopicPartition(topic, p, 0) for p in meta.partitions])
        self.seen: dict[str, tuple[dict, float]] = {}

    def poll(self, timeout_s: float = 0.05) -> None:
        for msg in self.consumer.consume(500, timeout=timeout_s):
            if not msg.error() and msg.value():
                offer = json.loads(msg.value())
                self.seen.setdefault(offer["offer_id"], (offer, time.time()))


class Background:
    """Simulated shoppers' events POSTed to NiFi at ``events_s`` (batches of 10) from a thread,
    while the block runs."""

    def __init__(self, url: str, events_s: int):
        import threading

        self.url, self.events_s, self.sent = url, events_s, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        seed = 0
        while not self._stop.is_set():
            started = time.monotonic()
            seed += 1
            traffic.post_events(self.url, traffic.sample_events(10, 5, seed), batch_size=10)
            self.sent += 10
            self._stop.wait(max(0.0, 10 / self.events_s - (time.monotonic() - started)))

    def __enter__(self) -> "Background":
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        self._thread.join(30)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def test_offers_from_nifi_to_cassandra_topic_and_api_within_a_second(isolated, api, tmp_path,
                                                                     promoted):
    s = isolated.settings
    warm, *shoppers = promoted("shopper", N_SHOPPERS + 1)  # none held out of promotions
    isolated.deploy_ingest()
    flink_jobs.submit(s, "evaluate_promotions", instance=isolated.uid)
    name = f"test_offer_{isolated.uid}"
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(rule(name)))
    cli(s, "promotions", "publish", str(path))
    cli(s, "promotions", "activate", name)
    records = OfferRecords(s)
    ks = keyspace(s)
    with session(s) as cql:
        query = cql.prepare(f"SELECT offer_id, promotion, item_id, why, trigger_event_id, "
                            f"trigger_received_at, WRITETIME(why) AS written_us "
                            f"FROM {ks}.offers_by_user WHERE user_key = ?")

        def offers_of(user: str) -> list:
            return list(cql.execute(query, [user]))

        # the activation reaches the job as broadcast state: wait for a first offer
        deadline = time.monotonic() + 90
        while not offers_of(warm):
            assert time.monotonic() < deadline, "no offer 90 s after activating the rule"
            traffic.post_events(s.nifi_ingest_url, [view(warm, "item-1")], batch_size=1)
            time.sleep(1)

        def measure(shoppers: list[str], label: str) -> None:
            """One view per shopper, one at a time: each offer's own latency, printed."""
            to_row, to_topic = [], []
            for n, user in enumerate(shoppers):
                event = view(user, f"item-{n % 7}")
                traffic.post_events(s.nifi_ingest_url, [event], batch_size=1)
                deadline = time.monotonic() + 30
                while not (rows := offers_of(user)):
                    assert time.monotonic() < deadline, f"no offer for {user} in 30 s"
                    records.poll(0.01)
                row = rows[0]
                assert row.trigger_event_id == event["event_id"] and row.promotion == name
                received_ms = (row.trigger_received_at - EPOCH) // dt.timedelta(milliseconds=1)
                to_row.append(row.written_us / 1e6 - received_ms / 1000)
                while row.offer_id not in records.seen:
                    assert time.monotonic() < deadline, f"offer of {user} not on the topic in 30 s"
                    records.poll(0.01)
                to_topic.append(records.seen[row.offer_id][1] - received_ms / 1000)
            print(f"\nevaluate_promotions, {len(shoppers)} shoppers, one view each through NiFi, "
                  f"{label}:"
                  f"\n  ingest -> offer row in Cassandra: p50 {statistics.median(to_row):.3f}s "
                  f"p99 {percentile(to_row, 0.99):.3f}s max {max(to_row):.3f}s"
                  f"\n  ingest -> offer on the topic:     p50 {statistics.median(to_topic):.3f}s "
                  f"p99 {percentile(to_topic, 0.99):.3f}s max {max(to_topic):.3f}s"
                  f"  (goal {GOAL_S}s)")
            assert statistics.median(to_row) < GOAL_S and percentile(to_row, 0.99) < BOUND_S

        measure(shoppers, "no other traffic")
        with Background(s.nifi_ingest_url, BACKGROUND_EVENTS_S) as background:
            measure(promoted("busy", N_SHOPPERS), f"beside {BACKGROUND_EVENTS_S} other events/s")
        assert background.sent > 0

        # the cap: a second view of the same shopper makes no second offer
        traffic.post_events(s.nifi_ingest_url, [view(shoppers[0], "item-9")], batch_size=1)

        # the API: the offer of a shopper, and the boost in the shopper's recommendations
        user = shoppers[1]
        deadline = time.monotonic() + 30
        while not (answer := requests.get(f"{api.url}/v1/users/{user}/offers",
                                          timeout=5).json())["offers"]:
            assert time.monotonic() < deadline, answer
            time.sleep(0.2)
        offer = answer["offers"][0]
        assert offer["promotion"] == name and offer["action"]["kind"] == "ranking_boost"
        assert any(line.startswith("conditions[1] geo") for line in offer["why"])
        # from the API's memory (its follower of the offers topic): no read per request
        while not (recs := requests.get(f"{api.url}/v1/recommendations",
                                        params={"user": user, "k": 10}, timeout=5).json()
                   )["offers"]:
            assert time.monotonic() < deadline, recs
            time.sleep(0.2)
        assert [o["offer_id"] for o in recs["offers"]] == [offer["offer_id"]]
        boosted = {i["item_id"]: i for i in recs["items"]}[offer["item_id"]]
        assert boosted["parts"]["promotion"] == 1.0

        # erased: rows, the API's copy and the job's facts (its cap) go; the next view is new
        erased = shoppers[2]
        gone = requests.delete(f"{api.url}/v1/users/{erased}", timeout=30,
                               headers={"Authorization": f"Bearer token-{isolated.uid}"})
        assert gone.status_code == 200 and "offers_by_user" in gone.json()["tables_with_rows"]
        assert offers_of(erased) == []
        assert requests.get(f"{api.url}/v1/users/{erased}/offers", timeout=5).json()["offers"] == []
        # its tombstone on the offers topic: every API worker, and one started later, forgets
        # its offers too
        last = {m.key().decode(): m.value() for batch in read_to_end(s, s.topic_offers)
                for m in batch}
        assert last[erased] is None
        time.sleep(2)  # the job reads the erasure request before the next event
        traffic.post_events(s.nifi_ingest_url, [view(erased, "item-3")], batch_size=1)
        deadline = time.monotonic() + 30
        while not offers_of(erased):  # its cap (1 a day) was forgotten with its facts
            assert time.monotonic() < deadline, f"no new offer for {erased} after its erasure"
            time.sleep(0.05)

        # paused: new shoppers get no offer
        cli(s, "promotions", "pause", name)
        time.sleep(2)  # the pause reaches the job (broadcast) well within this
        late = [f"late-{i}" for i in range(5)]
        traffic.post_events(s.nifi_ingest_url, [view(u, "item-1") for u in late], batch_size=1)
        time.sleep(5)
        assert all(not offers_of(u) for u in late)
        assert len(offers_of(shoppers[0])) == 1
    records.poll(1.0)
    assert not any(o["user_key"] in late for o, _ in records.seen.values())


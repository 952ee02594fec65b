"""Faults on the real servers (``make test-faults``, after the other integration tests: these
kill the shared servers). What the collector acknowledged is never lost."""
from __future__ import annotations

import json
import os
import signal
import time
import uuid

import pytest
from confluent_kafka import Consumer

from personastream_bench import traffic
from personastream_stack import lifecycle

pytestmark = pytest.mark.faults


def kill_9(settings, component: str) -> None:
    """``kill -9`` of a local server and everything it started (its process group)."""
    for daemon in lifecycle.COMPONENTS[component](settings).daemons:
        pid = daemon.running_pid()
        assert pid is not None, f"{component} is not running"
        os.killpg(os.getpgid(pid), signal.SIGKILL)


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

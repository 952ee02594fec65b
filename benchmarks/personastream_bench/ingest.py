"""Benchmark of the ingest flow on the running stack: sustained events/s through NiFi into Kafka,
and HTTP-to-Kafka latency, for several batch sizes in one run (so their ratio is comparable).

Every request is answered only after Kafka acknowledged its records, so the request latency
bounds the HTTP-to-Kafka latency; per event, the latency is the Kafka record's timestamp (set
when PublishToKafka produced it) minus the moment its request was sent.
"""
from __future__ import annotations

import json
import statistics
import sys
import time
import uuid
from dataclasses import dataclass

from confluent_kafka import Consumer, TopicPartition

from personastream_bench import traffic
from personastream_contracts.settings import Settings


@dataclass
class Phase:
    batch_size: int
    n_events: int
    seconds: float
    request_p50_ms: float
    request_p99_ms: float
    event_p50_ms: float
    event_p99_ms: float

    @property
    def events_per_s(self) -> float:
        return self.n_events / self.seconds


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _high_watermarks(consumer: Consumer, topic: str) -> list[TopicPartition]:
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    return [TopicPartition(topic, p, consumer.get_watermark_offsets(TopicPartition(topic, p),
                                                                     timeout=10)[1])
            for p in partitions]


def _produced_ms(settings: Settings, start: list[TopicPartition], ids: set[str],
                 timeout_s: float) -> dict[str, int]:
    """Kafka timestamps (ms) of the records of ``ids``, read from the offsets in ``start``."""
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap_servers,
                         "group.id": f"bench-{uuid.uuid4()}", "enable.auto.commit": False})
    consumer.assign(start)
    found: dict[str, int] = {}
    deadline = time.monotonic() + timeout_s
    try:
        while len(found) < len(ids) and time.monotonic() < deadline:
            for msg in consumer.consume(num_messages=5000, timeout=0.5):
                if msg.error() is None:
                    event_id = json.loads(msg.value()).get("event_id")
                    if event_id in ids:
                        found[event_id] = msg.timestamp()[1]
    finally:
        consumer.close()
    return found


def run_phase(settings: Settings, batch_size: int, duration_s: float, concurrency: int,
              seed: int) -> Phase:
    """POST batches of ``batch_size`` valid events for about ``duration_s`` seconds."""
    n_requests = 64
    per_round = n_requests * batch_size
    probe = Consumer({"bootstrap.servers": settings.kafka_bootstrap_servers,
                      "group.id": f"bench-{uuid.uuid4()}"})
    start_offsets = _high_watermarks(probe, settings.topic_events_enriched)
    probe.close()
    sent_at: dict[str, float] = {}
    latencies: list[float] = []
    n_events, started, round_no = 0, time.monotonic(), 0
    while time.monotonic() - started < duration_s:
        events = traffic.sample_events(per_round, n_users=1000, seed=seed + round_no)
        round_no += 1
        batches = [events[i:i + batch_size] for i in range(0, per_round, batch_size)]
        answers = traffic.post_bodies(settings.nifi_ingest_url,
                                             [json.dumps(b).encode() for b in batches],
                                             concurrency, traffic.client_headers)
        for batch, answer in zip(batches, answers):
            if answer.status != 200 or answer.body.get("accepted") != len(batch):
                raise RuntimeError(f"ingest answered {answer.status} {answer.body}")
            latencies.append(answer.latency_s * 1000)
            sent_at.update({e["event_id"]: answer.sent_at_s for e in batch})
        n_events += per_round
    seconds = time.monotonic() - started
    produced = _produced_ms(settings, start_offsets, set(sent_at), timeout_s=60)
    event_ms = [produced[i] - sent_at[i] * 1000 for i in produced]
    return Phase(batch_size, n_events, seconds, _percentile(latencies, 0.5),
                 _percentile(latencies, 0.99), statistics.median(event_ms),
                 _percentile(event_ms, 0.99))


def report(phases: list[Phase], command: str) -> str:
    lines = [f"{'batch':>6} {'events':>8} {'seconds':>8} {'events/s':>9} {'req p50':>8} "
             f"{'req p99':>8} {'evt p50':>8} {'evt p99':>8}"]
    for p in phases:
        lines.append(f"{p.batch_size:>6} {p.n_events:>8} {p.seconds:>8.1f} {p.events_per_s:>9.0f} "
                     f"{p.request_p50_ms:>6.0f}ms {p.request_p99_ms:>6.0f}ms "
                     f"{p.event_p50_ms:>6.0f}ms {p.event_p99_ms:>6.0f}ms")
    base = phases[0]
    for p in phases[1:]:
        lines.append(f"throughput ratio batch {p.batch_size} / batch {base.batch_size}: "
                     f"{p.events_per_s / base.events_per_s:.1f}x")
    lines.append(f"reproduce: {command}")
    return "\n".join(lines)


def run(settings: Settings, batch_sizes: list[int], duration_s: float, concurrency: int,
        seed: int) -> list[Phase]:
    phases = []
    for size in batch_sizes:
        print(f"[bench] batch size {size}: {duration_s:.0f}s at concurrency {concurrency}",
              file=sys.stderr)
        phases.append(run_phase(settings, size, duration_s, concurrency, seed))
    return phases

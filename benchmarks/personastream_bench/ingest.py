"""Benchmark of NiFi's collectors on the running stack, the Flink jobs consuming as they do:
requests/s and events/s, latency p50/p99/p99.9, errors, NiFi's CPU and memory, and how long
an event takes from receipt to Kafka, for each batch size, both collectors side by side in one
run (so their ratio is comparable):

- ``received``: the collector (``nifi_ingest_url``), which answers 200 once the request is in
  NiFi's repositories and validates and publishes batches of requests after;
- ``validating``: the previous design, kept for SDK developers (``nifi_ingest_validate_url``):
  it answers each request with its counts after Kafka acknowledged every record.

Load: ``wrk`` (closed loop), each request a JSON array of ``batch`` product views with unique
event ids (a single event is sent as a bare object). Receipt to Kafka: the Kafka record's
timestamp (PublishToKafka produced it) minus ``received_at_ms`` (NiFi stamped it), over a
sample of the records the phase produced.
"""
from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass

from confluent_kafka import Consumer, TopicPartition

from personastream_bench.load import Usage, percentile, run_wrk
from personastream_stack import flink_jobs, lifecycle

COLLECTORS = ("received", "validating")
KAFKA_SAMPLE = 20_000  # records read per phase for receipt-to-Kafka latency


@dataclass
class Phase:
    collector: str
    batch: int
    connections: int
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    p999_ms: float
    errors: int  # socket errors, timeouts and answers outside 2xx
    nifi_cores: float
    nifi_rss_mib: float
    kafka_p50_ms: float | None
    kafka_p99_ms: float | None
    published: int  # records the phase added to the enriched topic

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.seconds

    @property
    def events_per_s(self) -> float:
        return self.requests * self.batch / self.seconds


def lua_events(batch: int, seed: int) -> str:
    """A wrk script POSTing ``batch`` valid product views per request, ids unique per run."""
    run = uuid.uuid5(uuid.NAMESPACE_URL, f"personastream:bench-ingest:{seed}:{time.time()}").hex
    return f"""
local run, batch, n = "{run[:8]}", {batch}, 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "text/plain"
math.randomseed({seed})
local function event()
  n = n + 1
  local id = string.format("%s-%04x-4%03x-8%03x-%012x", run, math.random(0, 65535),
    math.random(0, 4095), math.random(0, 4095), n)
  return '{{"event_id":"' .. id .. '","event_type":"product_view","schema_version":"1-0-0",' ..
    '"user_id":"bench-' .. math.random(1, 5000) .. '","anonymous_id":"a",' ..
    '"client_ts":"' .. os.date("!%Y-%m-%dT%H:%M:%S.000Z") .. '","item_id":"item-' ..
    math.random(0, 199) .. '","category":"bags","brand":"acme","price":10.0}}'
end
request = function()
  if batch == 1 then return wrk.format(nil, nil, nil, event()) end
  local events = {{}}
  for i = 1, batch do events[i] = event() end
  return wrk.format(nil, nil, nil, "[" .. table.concat(events, ",") .. "]")
end
"""


def _ends(consumer: Consumer, topic: str) -> dict[int, int]:
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    return {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in partitions}


def _kafka_latency(settings, start: dict[int, int], end: dict[int, int]) -> list[float]:
    """Receipt-to-Kafka ms of a sample of the records between two offset maps."""
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap_servers,
                         "group.id": f"bench-{uuid.uuid4()}", "enable.auto.commit": False})
    per_partition = max(1, KAFKA_SAMPLE // max(1, len(end)))
    out: list[float] = []
    try:
        for partition, high in end.items():
            low = max(start.get(partition, 0), high - per_partition)
            if high <= low:
                continue
            consumer.assign([TopicPartition(settings.topic_events_enriched, partition, low)])
            left = high - low
            while left > 0:
                messages = consumer.consume(min(left, 1000), timeout=10)
                if not messages:
                    break
                for msg in messages:
                    received = json.loads(msg.value()).get("received_at_ms")
                    if msg.error() is None and received:
                        out.append(msg.timestamp()[1] - received)
                left -= len(messages)
    finally:
        consumer.close()
    return sorted(out)


def run_phase(settings, collector: str, batch: int, connections: int, duration_s: float,
              seed: int) -> Phase:
    url = settings.nifi_ingest_url if collector == "received" else settings.nifi_ingest_validate_url
    nifi = lifecycle.COMPONENTS["nifi"](settings).daemons[0].running_pid()
    probe = Consumer({"bootstrap.servers": settings.kafka_bootstrap_servers,
                      "group.id": f"bench-{uuid.uuid4()}"})
    try:
        start = _ends(probe, settings.topic_events_enriched)
        with Usage([nifi] if nifi else []) as usage:
            result = run_wrk(lua_events(batch, seed), url, connections, duration_s)
        expected = sum(start.values()) + result["requests"] * batch
        deadline = time.monotonic() + 60  # what was received is validated and published after
        while sum((end := _ends(probe, settings.topic_events_enriched)).values()) < expected \
                and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        probe.close()
    latency = _kafka_latency(settings, start, end)
    return Phase(collector, batch, connections, result["requests"], result["seconds"],
                 result["p50_ms"], result["p99_ms"], result["p999_ms"],
                 result["errors"] + result["non_2xx"], usage.cores, usage.rss_mib,
                 percentile(latency, 50), percentile(latency, 99),
                 sum(end.values()) - sum(start.values()))


def run(settings, batch_sizes: list[int], connections: int, duration_s: float, seed: int,
        progress) -> tuple[list[Phase], dict]:
    """Every batch size on both collectors; and what else ran (Flink jobs, load average)."""
    context = {"load_1m": os.getloadavg()[0], "n_cpus": os.cpu_count(),
               "jobs": sorted(j.name for j in flink_jobs.list_jobs(settings)
                              if j.state in flink_jobs.ACTIVE_STATES)}
    phases = []
    for batch in batch_sizes:
        for collector in COLLECTORS:
            progress(f"{collector} collector, {batch} event(s) per request, {connections} "
                     f"connections, {duration_s:.0f}s")
            phases.append(run_phase(settings, collector, batch, connections, duration_s, seed))
            time.sleep(2)  # let the previous phase's backlog drain out of the measurement
    return phases, context


def report(phases: list[Phase], context: dict, command: str) -> str:
    ms = lambda v: "    -" if v is None else f"{v:>5.0f}"  # noqa: E731
    lines = [f"{'collector':<10} {'batch':>5} {'conn':>4} {'req/s':>7} {'events/s':>8} "
             f"{'p50 ms':>6} {'p99 ms':>6} {'p99.9':>6} {'errors':>6} {'NiFi CPU':>8} "
             f"{'NiFi RSS':>8} {'to Kafka p50/p99 ms':>19} {'in Kafka':>8}"]
    for p in phases:
        lines.append(f"{p.collector:<10} {p.batch:>5} {p.connections:>4} "
                     f"{p.requests_per_s:>7.0f} {p.events_per_s:>8.0f} {p.p50_ms:>6.0f} "
                     f"{p.p99_ms:>6.0f} {p.p999_ms:>6.0f} {p.errors:>6} "
                     f"{p.nifi_cores:>6.2f} c {p.nifi_rss_mib:>6.0f} M "
                     f"{ms(p.kafka_p50_ms):>11} /{ms(p.kafka_p99_ms)} {p.published:>8}")
    for batch in sorted({p.batch for p in phases}):
        pair = {p.collector: p for p in phases if p.batch == batch}
        if len(pair) == 2 and pair["validating"].events_per_s:
            lines.append(f"batch {batch}: received / validating = "
                         f"{pair['received'].events_per_s / pair['validating'].events_per_s:.1f}x "
                         f"events/s")
    lines += [f"machine: {context['n_cpus']} CPUs, load average {context['load_1m']:.1f} at "
              f"start; Flink jobs running meanwhile: {', '.join(context['jobs']) or 'none'}",
              f"reproduce: {command}"]
    return "\n".join(lines)

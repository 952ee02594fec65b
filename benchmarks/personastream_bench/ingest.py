"""Benchmark of NiFi's collectors on the running stack, the Flink jobs consuming as they do:
requests/s and events/s, latency p50/p99/p99.9, errors, NiFi's CPU (per request too) and
memory, and how long an event takes from receipt to Kafka, for each batch size, the collectors
side by side in one run (so their ratios are comparable):

- ``received``: the collector (``nifi_ingest_url``), which answers 204 once the request is in
  NiFi's repositories and validates and publishes batches of requests after;
- ``received@REV`` (with a baseline): the same collector as the ingest flow of git revision
  ``REV`` defines it, deployed beside this tree's as process group ``ingest_baseline`` on free
  ports, removed at the end (the Python processors are this tree's);
- ``validating``: the previous design, kept for SDK developers (``nifi_ingest_validate_url``):
  it answers each request with its counts after Kafka acknowledged every record.

Load: ``wrk`` (closed loop), each request a JSON array of ``batch`` product views with unique
event ids (a single event is sent as a bare object); with ``rates``, also ``vegeta`` (open
loop) sending single events of the sample mix at each fixed rate (req/s) on at most
``connections`` connections to the collector, so latency is measured at a given load rather
than at saturation (where a closed loop's p99 is its queue). NiFi's JIT needs minutes of load before
its code is compiled, so single events go to every collector for ``warmup_s`` first,
unmeasured; ``repeat`` runs the phases again, interleaved, to show the noise. Receipt to Kafka:
the Kafka record's timestamp (PublishToKafka produced it) minus ``received_at_ms`` (NiFi stamped
it), over a sample of the records the phase produced.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from confluent_kafka import Consumer, TopicPartition

from personastream_bench import monitoring, traffic
from personastream_bench.load import (Usage, git_archive, open_loop, percentile, post_targets,
                                      run_wrk, vegeta)
from personastream_contracts.settings import with_ingest_ports
from personastream_flows.deploy import deploy, undeploy
from personastream_flows.errors import FlowError
from personastream_flows.schedule import wait_drained
from personastream_stack import flink_jobs, lifecycle
from personastream_stack.process import free_port

KAFKA_SAMPLE = 20_000  # records read per phase for receipt-to-Kafka latency
DRAIN_TIMEOUT_S = 600  # longest wait for a phase's events to reach Kafka, and NiFi to drain
FLOW_FILE = "nifi-flows/personastream_flows/ingest.json"
BASELINE_GROUP, BASELINE_ENV = "ingest_baseline", "bench_baseline"


@dataclass(frozen=True)
class Collector:
    name: str
    url: str
    #: False: measured with monitoring off (:mod:`personastream_bench.monitoring`)
    monitored: bool = True
    #: the TaskManagers' niceness while measured (:mod:`personastream_stack.priority`);
    #: None: ``flink_taskmanager_nice``
    nice: int | None = None


def collectors(settings) -> list[Collector]:
    """This tree's collector and the validating one."""
    return [Collector("received", settings.nifi_ingest_url),
            Collector("validating", settings.nifi_ingest_validate_url)]


@contextlib.contextmanager
def baseline_collector(settings, rev: str, progress) -> Iterator[Collector]:
    """The collector of the ingest flow at git revision ``rev``, deployed as process group
    ``ingest_baseline`` on free ports for the ``with`` block, then deleted (a failure to delete
    it is reported, not raised: the measurements stand)."""
    with tempfile.TemporaryDirectory() as tmp:
        definition = json.loads((git_archive(rev, [FLOW_FILE], Path(tmp)) / FLOW_FILE).read_text())
    s = with_ingest_ports(settings, free_port(), free_port())
    deploy(s, "ingest", env=BASELINE_ENV, group_name=BASELINE_GROUP, definition=definition)
    try:
        yield Collector(f"received@{rev}", s.nifi_ingest_url)
    finally:
        try:
            undeploy(s, "ingest", BASELINE_GROUP, BASELINE_ENV)
        except (FlowError, ValueError) as err:  # nipyapi raises ValueError on its timeouts
            progress(f"could not delete process group {BASELINE_GROUP}: {err}")


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
    monitoring_cores: float = 0.0  # CPU of Prometheus, Alertmanager and the exporter
    rate: int | None = None  # open loop: the fixed request rate sent (None: closed loop, wrk)
    to_kafka_s: float | None = None  # from the phase's start until all it sent was in Kafka

    @property
    def kafka_events_per_s(self) -> float | None:
        """Events validated and published per second, from the phase's start until the last
        of them was in Kafka (what the collector sustains end to end, its queue drained)."""
        return self.published / self.to_kafka_s if self.to_kafka_s else None

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.seconds

    @property
    def events_per_s(self) -> float:
        return self.requests * self.batch / self.seconds

    @property
    def cpu_ms_per_request(self) -> float:
        """NiFi's CPU (its JVM and Python processes) per answered request."""
        return self.nifi_cores * 1000 / self.requests_per_s if self.requests else 0.0


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


def run_phase(settings, collector: Collector, batch: int, connections: int, duration_s: float,
              seed: int) -> Phase:
    """``wrk`` with ``connections`` sending ``batch`` events per request."""
    return _measure(settings, collector.name, batch, connections, lambda: run_wrk(
        lua_events(batch, seed), collector.url, connections, duration_s))


def run_open_phase(settings, collector: Collector, rate: int, connections: int,
                   duration_s: float, seed: int, work_dir: Path) -> Phase:
    """``vegeta`` sending single events (the sample mix, each once) at ``rate`` req/s on at
    most ``connections`` connections."""
    targets = work_dir / f"ingest-{rate}.json"
    events = traffic.sample_events(int(rate * duration_s), 5000, seed)
    post_targets(targets, collector.url, (json.dumps(event).encode() for event in events))
    phase = _measure(settings, collector.name, 1, connections, lambda: open_loop(
        vegeta(), targets, rate, round(duration_s), f"-max-connections={connections}",
        f"-workers={connections}", f"-max-workers={connections}") | {"non_2xx": 0})
    return dataclasses.replace(phase, rate=rate)


def _measure(settings, collector: str, batch: int, connections: int,
             load: Callable[[], dict]) -> Phase:
    """Run ``load`` (its requests, seconds, p50/p99/p99.9 ms, errors, non-2xx answers) with
    NiFi's and monitoring's CPU measured, then wait until what it sent is in Kafka."""
    nifi = lifecycle.COMPONENTS["nifi"](settings).daemons[0].running_pid()
    probe = Consumer({"bootstrap.servers": settings.kafka_bootstrap_servers,
                      "group.id": f"bench-{uuid.uuid4()}"})
    try:
        start = _ends(probe, settings.topic_events_enriched)
        began = time.monotonic()
        with Usage([nifi] if nifi else []) as usage, Usage(monitoring.pids(settings)) as watch:
            result = load()
        expected = sum(start.values()) + result["requests"] * batch
        deadline = time.monotonic() + DRAIN_TIMEOUT_S  # received, then validated and published
        while (arrived := sum((end := _ends(probe, settings.topic_events_enriched)).values())) \
                < expected and time.monotonic() < deadline:
            time.sleep(0.5)
        to_kafka_s = time.monotonic() - began if arrived >= expected else None
    finally:
        probe.close()
    latency = _kafka_latency(settings, start, end)
    return Phase(collector, batch, connections, result["requests"], result["seconds"],
                 result["p50_ms"], result["p99_ms"], result["p999_ms"],
                 result["errors"] + result["non_2xx"], usage.cores, usage.rss_mib,
                 percentile(latency, 50), percentile(latency, 99),
                 sum(end.values()) - sum(start.values()), watch.cores, to_kafka_s=to_kafka_s)


def await_drained(settings, progress, timeout_s: float = DRAIN_TIMEOUT_S) -> None:
    """Wait until NiFi holds no queued FlowFile (every group): a phase must not pay for the
    previous one's backlog, which NiFi validates and publishes after answering."""
    left = wait_drained(settings, timeout_s, lambda queued: progress(
        f"waiting for NiFi to drain the previous phase: {queued:,} FlowFiles queued"))
    if left:
        progress(f"NiFi still holds {left:,} FlowFiles after {timeout_s:.0f}s; measuring anyway")


def run(settings, batch_sizes: list[int], connections: int, duration_s: float, seed: int,
        progress, baseline: str | None = None, warmup_s: float = 60,
        repeat: int = 1, monitored: list[bool] = (True,),
        nices: list[int] = (), rates: list[int] = ()) -> tuple[list[Phase], dict]:
    """Every batch size on every collector (``repeat`` times, interleaved), after a warm-up;
    and what else ran (Flink jobs, load average). ``monitored`` [True, False]: the collector
    also measured with monitoring off, in the same rounds; ``nices``: also measured with the
    local TaskManagers at each of these niceness values (what giving way to the request path
    is worth while the jobs are behind); ``rates``: each round also sends single events to
    this tree's collector at each of these fixed rates (req/s, open loop)."""
    context = {"load_1m": os.getloadavg()[0], "n_cpus": os.cpu_count(),
               "jobs": sorted(j.name for j in flink_jobs.list_jobs(settings)
                              if j.state in flink_jobs.ACTIVE_STATES)}
    phases = []
    with contextlib.ExitStack() as stack:
        work_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-ingest-")))
        chosen = collectors(settings)
        if baseline:
            progress(f"deploying the collector of {baseline} as process group {BASELINE_GROUP}")
            chosen.insert(1, stack.enter_context(baseline_collector(settings, baseline, progress)))
        if False in monitored:
            chosen.insert(1, Collector(monitoring.label("received", False),
                                       settings.nifi_ingest_url, monitored=False))
        for nice in reversed(nices):
            chosen.insert(1, Collector(f"received, taskmanagers nice {nice}",
                                       settings.nifi_ingest_url, nice=nice))
        flink = lifecycle.COMPONENTS["flink"](settings) if nices else None
        for collector in [c for c in chosen if c.monitored and c.nice is None] \
                if warmup_s > 0 else []:  # variants of a collector share its warm-up
            progress(f"warm-up, unmeasured: {collector.name}, single events, {warmup_s:.0f}s")
            run_wrk(lua_events(1, seed), collector.url, connections, warmup_s)
        for round_ in range(repeat):
            for batch in batch_sizes:
                for collector in _rotate(chosen, round_):
                    if False in monitored:
                        monitoring.turn(settings, collector.monitored, progress)
                    if flink is not None:
                        flink.prioritize(settings.flink_taskmanager_nice if collector.nice is None
                                         else collector.nice)
                    progress(f"round {round_ + 1}/{repeat}: {collector.name}, {batch} event(s) "
                             f"per request, {connections} connections, {duration_s:.0f}s")
                    await_drained(settings, progress)
                    phases.append(run_phase(settings, collector, batch, connections, duration_s,
                                            seed))
            for rate in rates:
                progress(f"round {round_ + 1}/{repeat}: {chosen[0].name}, single events at "
                         f"{rate} req/s (open loop, at most {connections} connections), "
                         f"{duration_s:.0f}s")
                await_drained(settings, progress)
                phases.append(run_open_phase(settings, chosen[0], rate, connections, duration_s,
                                             seed + round_, work_dir))
        if False in monitored:
            monitoring.turn(settings, True, progress)
        if flink is not None:
            flink.prioritize(settings.flink_taskmanager_nice)
    return phases, context


def _rotate(chosen: list[Collector], round_: int) -> list[Collector]:
    """``chosen`` with the collectors before the last (the validating one) rotated by
    ``round_``: each goes first in turn, since a phase runs while the previous phase's backlog
    (validated and published after the answer) still drains, on NiFi's CPU.

    >>> a, b, c = (Collector(n, "u") for n in ("received", "received@abc", "validating"))
    >>> [x.name for x in _rotate([a, b, c], 1)], [x.name for x in _rotate([a, b, c], 2)]
    (['received@abc', 'received', 'validating'], ['received', 'received@abc', 'validating'])
    """
    head, tail = chosen[:-1], chosen[-1:]
    shift = round_ % len(head) if head else 0
    return head[shift:] + head[:shift] + tail


def report(phases: list[Phase], context: dict, command: str) -> str:
    ms = lambda v: "    -" if v is None else f"{v:>5.0f}"  # noqa: E731
    width = max(len("collector"), *(len(p.collector) for p in phases))
    lines = [f"{'collector':<{width}} {'load':>9} {'batch':>5} {'conn':>4} {'req/s':>7} "
             f"{'events/s':>8} {'p50 ms':>6} {'p99 ms':>6} {'p99.9':>6} {'errors':>6} "
             f"{'NiFi CPU':>8} {'CPU ms/req':>10} {'NiFi RSS':>8} {'to Kafka p50/p99 ms':>19} "
             f"{'in Kafka':>8} {'to Kafka ev/s':>13} {'monitoring CPU':>14}"]
    for p in phases:
        load = "wrk" if p.rate is None else f"{p.rate}/s"
        sustained = "-" if p.kafka_events_per_s is None else f"{p.kafka_events_per_s:,.0f}"
        lines.append(f"{p.collector:<{width}} {load:>9} {p.batch:>5} {p.connections:>4} "
                     f"{p.requests_per_s:>7.0f} {p.events_per_s:>8.0f} {p.p50_ms:>6.0f} "
                     f"{p.p99_ms:>6.0f} {p.p999_ms:>6.0f} {p.errors:>6} "
                     f"{p.nifi_cores:>6.2f} c {p.cpu_ms_per_request:>10.2f} "
                     f"{p.nifi_rss_mib:>6.0f} M "
                     f"{ms(p.kafka_p50_ms):>11} /{ms(p.kafka_p99_ms)} {p.published:>8} "
                     f"{sustained:>13} "
                     f"{p.monitoring_cores:>12.3f} c")
    lines += ratios([p for p in phases if p.rate is None])
    lines += ["load: wrk = closed loop (each connection sends its next request when answered: "
              "req/s is what the collector carries, p99 its queue at saturation); N/s = open "
              "loop at that fixed rate (vegeta), single events of the sample mix; to Kafka ev/s: "
              "the phase's events over the time from its start until the last was in Kafka "
              "(validated and published; '-': not all within "
              f"{DRAIN_TIMEOUT_S}s); each phase starts once NiFi holds no queued FlowFile"]
    lines += [f"machine: {context['n_cpus']} CPUs, load average {context['load_1m']:.1f} at "
              f"start; Flink jobs running meanwhile: {', '.join(context['jobs']) or 'none'}",
              f"reproduce: {command}"]
    return "\n".join(lines)


def ratios(phases: list[Phase]) -> list[str]:
    """Per batch size, this tree's collector against each other one: events/s and NiFi CPU per
    event, over the phases of every round.

    >>> p = lambda name, n, cores: Phase(name, 1, 64, n, 10.0, 1, 2, 3, 0, cores, 900, None,
    ...                                  None, n)
    >>> ratios([p("received", 20_000, 1.6), p("received@abc", 10_000, 1.6)])
    ['batch 1: received / received@abc = 2.00x events/s, 0.50x NiFi CPU per event']
    """
    lines = []
    for batch in sorted({p.batch for p in phases}):
        mine = [p for p in phases if p.batch == batch]
        totals: dict[str, list[float]] = {}
        for p in mine:
            total = totals.setdefault(p.collector, [0.0, 0.0, 0.0])  # events, seconds, cpu s
            total[0] += p.requests * p.batch
            total[1] += p.seconds
            total[2] += p.nifi_cores * p.seconds
        if "received" not in totals:
            continue
        events, seconds, cpu = totals.pop("received")
        for name, (other_events, other_seconds, other_cpu) in totals.items():
            if other_events and events:
                lines.append(f"batch {batch}: received / {name} = "
                             f"{events / seconds / (other_events / other_seconds):.2f}x events/s, "
                             f"{(cpu / events) / (other_cpu / other_events):.2f}x NiFi CPU per "
                             "event")
    return lines

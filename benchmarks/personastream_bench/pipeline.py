"""``bench pipeline``: the whole stack under sustained load, as users run it.

Simulated shoppers (:mod:`personastream_bench.shoppers`) POST through NiFi's collector at a
target rate of events/s, stepped up, while every job runs and the API is queried. Measured
each second, and why so:

- **accepted events**: events in bodies the collector answered 2xx, by second of sending
  (vegeta, open loop: requests leave at the target rate whatever the answers' delay);
- **consumer lag of every job**: the Kafka records its sources have yet to read (Flink's
  ``pendingRecords`` of each source, over REST, refreshed every ``metrics.fetcher.update-interval``);
- **freshness**, by probes: every ``probe_interval_s`` a new probe customer POSTs one product
  view, as a shopper would; then its ``live_profiles`` row (time: the row's ``WRITETIME``) and a
  ``live`` profile in its ``/v1/recommendations`` (time: the first poll that sees it) are
  awaited, polled every 20 ms within the freshness goal and then less often
  (:func:`poll_wait`), so that late rows do not multiply the probes' own queries (16 probes
  polling every 20 ms are 1,600 reads/s of the API and Cassandra). A probe seen by neither within
  ``PROBE_TIMEOUT_S`` counts as that long.
- **CPU and RSS of every server** (process trees of Kafka, Cassandra, NiFi, Flink, the API).

A step *holds* when at least 95 % of its target was accepted, freshness p99 to the row is
below 1 s, every probe was seen, and no job's lag grew by more than ``LAG_GROWTH_S`` seconds of
input between the first and last ``LAG_EDGE_S`` seconds of the step. The summary names the
highest rate that held.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import statistics
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import requests

from personastream_bench.jobs import cluster_config
from personastream_bench.load import (LoadError, cpu_seconds, percentile, post_targets,
                                      process_tree, rss_mib, run_vegeta)
from personastream_bench.shoppers import Shoppers
from personastream_bench.traffic import CLIENT_IPS, USER_AGENTS, accepted
from personastream_contracts import declared_jobs
from personastream_contracts.cassandra import keyspace, session
from personastream_contracts.objectives import FRESHNESS_GOAL_S
from personastream_contracts.settings import Settings
from personastream_stack import api_daemon, flink_jobs, lifecycle
from personastream_stack.flink import rest_get

log = logging.getLogger(__name__)
Progress = Callable[[str], None]

PROBE_TIMEOUT_S = 30.0
PROBES_IN_FLIGHT = 16
SETTLED_LAG = 100
SETTLE_TIMEOUT_S = 900.0
UNREPORTED_GRACE_S = 60.0
PROBE_POLL_S = 0.02
#: Longest wait between two polls of a late probe (seconds; ``--probe-poll-max``).
PROBE_POLL_MAX_S = 0.5
ACCEPTED_SHARE = 0.95
LAG_EDGE_S = 10
LAG_GROWTH_S = 2.0


@dataclass
class Probe:
    step: int
    sent_s: float  # wall clock
    status: int
    row_s: float | None  # send -> live_profiles row written
    api_s: float | None  # send -> a live profile in /v1/recommendations
    received_s: float | None = None  # send -> NiFi's receipt time (events_by_user.received_at)
    landed_s: float | None = None  # send -> land_events read it from Kafka (landed_at)


@dataclass
class Second:
    t: float  # seconds since the run started
    step: int
    lag: dict[str, float | None]  # per job
    cores: dict[str, float]  # per server
    rss_mib: dict[str, float]


@dataclass
class Step:
    rate: int  # target events/s
    seconds: int
    bodies: int
    events: int
    accepted_events: int
    bad_bodies: int
    errors: int  # requests not answered 2xx
    request_p99_ms: float | None
    probes: int
    probes_seen: int
    probes_skipped: int  # due while PROBES_IN_FLIGHT were still awaiting their rows
    row_p50_s: float | None
    row_p99_s: float | None
    api_p50_s: float | None
    api_p99_s: float | None
    received_p50_s: float | None  # send -> NiFi's receipt
    landed_p50_s: float | None  # send -> read from Kafka by land_events
    lag_growth: dict[str, float | None]  # records, last edge minus first edge of the step
    cores: dict[str, float]  # mean per server
    held: bool
    why_not: list[str] = field(default_factory=list)


@dataclass
class Summary:
    steps: list[Step]
    seconds: list[Second]
    accepted_per_s: dict[int, int]  # second since start -> accepted events sent in it
    probes: list[Probe]
    highest_held_rate: int | None
    batch: int
    bad_share: float
    metrics_interval_ms: int
    charts: list[str]
    command: str = ""


class Servers:
    """CPU (cores, over the last interval) and RSS of each local server's process tree."""

    def __init__(self, settings: Settings):
        self.roots: dict[str, int] = {}
        for component in lifecycle.local_components(settings):
            for daemon in component.daemons:
                pid = daemon.running_pid()
                if pid:
                    name = component.name if len(component.daemons) == 1 else \
                        f"{component.name} {daemon.name}"
                    self.roots[name] = pid
        api = api_daemon.pid(settings)
        if api:
            self.roots["api"] = api
        self._last = {name: (time.monotonic(), self._cpu(pid)) for name, pid in self.roots.items()}

    @staticmethod
    def _cpu(root: int) -> dict[int, float]:
        return {pid: cpu_seconds([pid]) for pid in process_tree(root)}

    def sample(self) -> tuple[dict[str, float], dict[str, float]]:
        """Per server: cores used since the last sample (by the processes alive now: one that
        exited meanwhile takes its last interval with it), and RSS."""
        cores, rss = {}, {}
        for name, root in self.roots.items():
            now, cpu = time.monotonic(), self._cpu(root)
            then, before = self._last[name]
            used = sum(max(0.0, c - before.get(pid, 0.0)) for pid, c in cpu.items())
            cores[name] = used / max(now - then, 1e-3)
            self._last[name] = (now, cpu)
            rss[name] = rss_mib(list(cpu))
        return cores, rss


def job_lags(settings: Settings, jobs: dict[str, str]) -> dict[str, float | None]:
    """Records each job's Kafka sources have yet to read (None: not reported yet, or the job
    is not running, e.g. restarting after a failure)."""
    lags = {}
    for name, job_id in jobs.items():
        try:
            lags[name] = declared_jobs.source_lag(lambda path: rest_get(settings, path), job_id)
        except requests.RequestException:
            lags[name] = None
    return lags


def poll_wait(elapsed_s: float, max_s: float = PROBE_POLL_MAX_S) -> float:
    """Seconds until the next poll of a probe sent ``elapsed_s`` ago: every
    :data:`PROBE_POLL_S` within the freshness goal (what decides whether a step holds), then a
    tenth of the time waited (10 % resolution), at most ``max_s`` (``PROBE_POLL_S``: every
    20 ms throughout, as before 2026-12-06).

    >>> [poll_wait(t) for t in (0.3, 2.0, 4.0, 20.0)]
    [0.02, 0.2, 0.4, 0.5]
    >>> poll_wait(20.0, max_s=PROBE_POLL_S)
    0.02
    """
    if elapsed_s < FRESHNESS_GOAL_S:
        return PROBE_POLL_S
    return min(max_s, max(PROBE_POLL_S, elapsed_s / 10))


class Probes:
    """Freshness probes, one new customer each, sent every ``interval_s`` from a thread; at most
    :data:`PROBES_IN_FLIGHT` await their rows at once (a probe due meanwhile is skipped and
    counted, never queued: a queued probe would be sent late, and its step mislabelled); each
    polls as :func:`poll_wait` says, at most every ``poll_max_s`` once late."""

    def __init__(self, settings: Settings, api_url: str, interval_s: float,
                 poll_max_s: float = PROBE_POLL_MAX_S):
        self.settings, self.api_url, self.interval_s = settings, api_url, interval_s
        self.poll_max_s = poll_max_s
        self.run = uuid.uuid4().hex[:8]
        self.results: list[Probe] = []
        self.skipped: dict[int, int] = {}  # per step
        self.step = 0
        self._stop = threading.Event()
        self._slots = threading.BoundedSemaphore(PROBES_IN_FLIGHT)
        self._pool = ThreadPoolExecutor(PROBES_IN_FLIGHT, thread_name_prefix="probe")
        self._cql = None
        self._thread = threading.Thread(target=self._loop, name="probes", daemon=True)

    def __enter__(self) -> "Probes":
        self._session_cm = session(self.settings)
        self._cql = self._session_cm.__enter__()
        self._row = self._cql.prepare(
            f"SELECT WRITETIME(n_events) AS written_us FROM {keyspace(self.settings)}.live_profiles "
            "WHERE user_key = ?")
        self._landed = self._cql.prepare(
            f"SELECT received_at, landed_at FROM {keyspace(self.settings)}.events_by_user "
            "WHERE user_key = ? LIMIT 1")
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._pool.shutdown(wait=True)
        self._session_cm.__exit__(*exc)

    def _loop(self) -> None:
        n = 0
        while not self._stop.wait(self.interval_s):
            n += 1
            if self._slots.acquire(blocking=False):
                self._pool.submit(self._probe, n, self.step)
            else:
                self.skipped[self.step] = self.skipped.get(self.step, 0) + 1

    def _probe(self, n: int, step: int) -> None:
        try:
            self._send_and_await(n, step)
        finally:
            self._slots.release()

    def _send_and_await(self, n: int, step: int) -> None:
        user = f"probe-{self.run}-{n}"
        sent = time.time()
        event = {"event_id": str(uuid.uuid4()), "event_type": "product_view",
                 "schema_version": "1-0-0", "user_id": user, "anonymous_id": user,
                 "client_ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sent))
                 + f".{int(sent * 1000) % 1000:03d}Z", "item_id": "item-1",
                 "category": "bags", "brand": "acme", "price": 10.0}
        http = requests.Session()
        try:
            status = http.post(self.settings.nifi_ingest_url, data=json.dumps(event), timeout=10,
                               headers={"Content-Type": "application/json"}).status_code
        except requests.RequestException:
            status = 0
        row_s = api_s = None
        deadline = sent + PROBE_TIMEOUT_S
        while accepted(status) and (row_s is None or api_s is None) and time.time() < deadline:
            if row_s is None:
                found = self._cql.execute(self._row, (user,)).one()
                if found is not None:
                    row_s = found.written_us / 1e6 - sent
            if api_s is None:
                with_profile = http.get(f"{self.api_url}/v1/recommendations",
                                        params={"user": user, "k": 5}, timeout=10)
                if with_profile.ok and with_profile.json()["provenance"]["profile"] == "live":
                    api_s = time.time() - sent
            time.sleep(poll_wait(time.time() - sent, self.poll_max_s))
        # where the time went: NiFi's receipt, and land_events reading it from Kafka
        landed = self._cql.execute(self._landed, (user,)).one() if row_s is not None else None
        self.results.append(Probe(
            step, sent, status, row_s, api_s,
            _utc_s(landed.received_at) - sent if landed else None,
            _utc_s(landed.landed_at) - sent if landed else None))


def _utc_s(naive_utc) -> float:
    """Epoch seconds of a naive UTC datetime (as the Cassandra driver returns timestamps)."""
    return naive_utc.replace(tzinfo=dt.timezone.utc).timestamp()


def settle(settings: Settings, jobs: dict[str, str], progress: Progress,
           timeout_s: float = SETTLE_TIMEOUT_S) -> None:
    """Wait until no job has more than :data:`SETTLED_LAG` records to read (a backlog left by
    earlier traffic would be measured as this run's lag). A job whose sources report no lag
    yet is waited for up to :data:`UNREPORTED_GRACE_S`, then counts as caught up (it has read
    nothing since it started)."""
    started = time.monotonic()
    while True:
        lags = job_lags(settings, jobs)
        waited = time.monotonic() - started
        behind = {job: lag for job, lag in lags.items()
                  if (lag is None and waited < UNREPORTED_GRACE_S)
                  or (lag is not None and lag > SETTLED_LAG)}
        if not behind:
            return
        if waited > timeout_s:
            raise LoadError(f"jobs still behind after {timeout_s:.0f}s: {behind}; let them "
                            "catch up (or see why in the Flink UI) and run again")
        progress("waiting for the jobs to catch up: " + ", ".join(
            f"{job} {'(no lag reported yet)' if lag is None else f'{lag:,.0f} records behind'}"
            for job, lag in behind.items()))
        time.sleep(5)


def _quantile(values: list[float], q: float) -> float | None:
    return percentile(sorted(values), q) if values else None


def _judge(step: Step) -> Step:
    if step.accepted_events < ACCEPTED_SHARE * step.events:
        step.why_not.append(f"accepted {step.accepted_events:,} of {step.events:,} events")
    if step.row_p99_s is None or step.row_p99_s >= FRESHNESS_GOAL_S:
        step.why_not.append("freshness p99 " + ("-" if step.row_p99_s is None else
                                                f"{step.row_p99_s:.2f}") + " s to the row")
    if step.probes_seen < step.probes:
        step.why_not.append(f"{step.probes - step.probes_seen} probes not seen in "
                            f"{PROBE_TIMEOUT_S:.0f} s")
    if step.probes_skipped:
        step.why_not.append(f"{step.probes_skipped} probes skipped ({PROBES_IN_FLIGHT} still "
                            "awaiting their rows)")
    for job, growth in step.lag_growth.items():
        if growth is not None and growth > LAG_GROWTH_S * step.rate:
            step.why_not.append(f"{job} lag grew by {growth:,.0f} records")
    step.held = not step.why_not
    return step


def run(settings: Settings, vegeta: str, rates: list[int], step_s: int, out_dir: Path,
        batch: int = 5, bad_share: float = 0.01, probe_interval_s: float = 0.5,
        n_shoppers: int = 20_000, seed: int = 11, progress: Progress = log.info,
        probe_poll_max_s: float = PROBE_POLL_MAX_S, warmup_s: int = 0) -> Summary:
    """Step the shoppers' rate through ``rates`` (events/s), ``step_s`` seconds each, on the
    running pipeline (jobs RUNNING, flows deployed, API up); write charts and a JSON summary
    into ``out_dir``. First, ``warmup_s`` seconds of shoppers at the first rate, not measured
    (the servers' JIT compilers take minutes of load after a start or a job's submission)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs = {}
    for name in flink_jobs.JOBS:
        info = flink_jobs.active_job(settings, name)
        if info is None:
            raise LoadError(f"job {name} is not running; `personastream demo` (or `personastream "
                            f"jobs submit {name}`) first")
        jobs[name] = info.job_id
    settle(settings, jobs, progress)
    api_url = api_daemon.url(settings)
    interval_ms = int(cluster_config(settings).get("metrics.fetcher.update-interval", 10_000))
    servers, shoppers = Servers(settings), Shoppers(n_shoppers, seed)
    if warmup_s:
        with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
            targets = Path(tmp) / "warmup.json"
            bodies = _targets(settings, shoppers, rates[0], warmup_s, batch, bad_share, targets)
            progress(f"warm-up, not measured: {rates[0]:,} events/s for {warmup_s}s "
                     f"({len(bodies):,} requests)")
            run_vegeta(vegeta, targets, f"{len(bodies)}/{warmup_s}s", warmup_s, "-workers=32")
        settle(settings, jobs, progress)
    seconds: list[Second] = []
    accepted_per_s: dict[int, int] = {}  # second since start -> accepted events sent in it
    step_bodies = []
    started = time.time()
    stop_sampling = threading.Event()
    # probes.step: the step under way
    probes = Probes(settings, api_url, probe_interval_s, probe_poll_max_s)

    def sample() -> None:
        while not stop_sampling.wait(1.0):
            cores, rss = servers.sample()
            seconds.append(Second(round(time.time() - started, 1), probes.step,
                                  job_lags(settings, jobs), cores, rss))

    sampler = threading.Thread(target=sample, name="sampler", daemon=True)
    sampler.start()
    with probes, tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        for index, rate in enumerate(rates):
            targets = Path(tmp) / f"step-{index}.json"
            bodies = _targets(settings, shoppers, rate, step_s, batch, bad_share, targets)
            probes.step = index
            progress(f"step {index + 1}/{len(rates)}: {rate:,} events/s for {step_s}s "
                     f"({len(bodies):,} requests)")
            t0 = time.time()
            # every body once, evenly over the step
            rows = run_vegeta(vegeta, targets, f"{len(bodies)}/{step_s}s", step_s, "-workers=32")
            for row in rows:  # timestamp (ns), code, latency (ns), ..., seq (the body's index)
                if accepted(row[1]):
                    second = int(int(row[0]) / 1e9 - started)
                    accepted_per_s[second] = (accepted_per_s.get(second, 0)
                                              + bodies[int(row[8])].n_events)
            step_bodies.append((index, rate, bodies, rows))
            progress(f"step {index + 1}: {len(rows):,} requests answered in "
                     f"{time.time() - t0:.0f}s")
    stop_sampling.set()
    sampler.join()
    steps = [_step(index, rate, bodies, rows, step_s, probes.results, seconds,
                   probes.skipped.get(index, 0)) for index, rate, bodies, rows in step_bodies]
    held = [s.rate for s in steps if s.held]
    summary = Summary(steps, seconds, accepted_per_s, sorted(probes.results, key=lambda p: p.sent_s),
                      max(held) if held else None, batch, bad_share, interval_ms, [])
    summary.charts = charts(summary, started, out_dir)
    return summary


def _targets(settings: Settings, shoppers: Shoppers, rate: int, seconds: int, batch: int,
             bad_share: float, path: Path) -> list:
    """``seconds`` of the shoppers' requests at ``rate`` events/s, written to ``path`` as
    vegeta's targets (each with a user agent and a client address); returns the bodies."""
    bodies = shoppers.bodies(rate * seconds, int((time.time() + 1) * 1000), rate, batch,
                             bad_share)
    post_targets(path, settings.nifi_ingest_url, (b.payload for b in bodies),
                 lambda i: {"User-Agent": [USER_AGENTS[i % len(USER_AGENTS)]],
                            "X-Forwarded-For": [CLIENT_IPS[i % len(CLIENT_IPS)]]})
    return bodies


def _step(index: int, rate: int, bodies, rows, step_s: int,
          probes: list[Probe], seconds: list[Second], skipped: int = 0) -> Step:
    ok = [r for r in rows if accepted(r[1])]
    mine = [p for p in probes if p.step == index]
    rows_s = [p.row_s if p.row_s is not None else PROBE_TIMEOUT_S for p in mine
              if accepted(p.status)]
    apis_s = [p.api_s if p.api_s is not None else PROBE_TIMEOUT_S for p in mine
              if accepted(p.status)]
    during = [s for s in seconds if s.step == index]
    growth = {}
    for job in (during[0].lag if during else {}):
        first = [s.lag[job] for s in during[:LAG_EDGE_S] if s.lag.get(job) is not None]
        last = [s.lag[job] for s in during[-LAG_EDGE_S:] if s.lag.get(job) is not None]
        growth[job] = statistics.mean(last) - statistics.mean(first) if first and last else None
    cores = {name: statistics.mean(s.cores[name] for s in during) for name in
             (during[0].cores if during else {})}
    return _judge(Step(
        rate, step_s, len(bodies), sum(b.n_events for b in bodies),
        sum(bodies[int(r[8])].n_events for r in ok), sum(b.bad is not None for b in bodies),
        len(rows) - len(ok), _quantile([int(r[2]) / 1e6 for r in rows], 99), len(mine),
        sum(1 for p in mine if p.row_s is not None and p.api_s is not None), skipped,
        _quantile(rows_s, 50), _quantile(rows_s, 99), _quantile(apis_s, 50),
        _quantile(apis_s, 99),
        _quantile([p.received_s for p in mine if p.received_s is not None], 50),
        _quantile([p.landed_s for p in mine if p.landed_s is not None], 50),
        growth, cores, held=False))


def charts(summary: Summary, started: float, out_dir: Path) -> list[str]:
    """Rate, lag, freshness and CPU over time, one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (rate_ax, lag_ax, fresh_ax, cpu_ax) = plt.subplots(4, 1, figsize=(11, 13), sharex=True)
    xs = sorted(summary.accepted_per_s)
    rate_ax.plot(xs, [summary.accepted_per_s[x] for x in xs], label="accepted events/s")
    t = 0.0
    for step in summary.steps:
        rate_ax.hlines(step.rate, t, t + step.seconds, colors="grey", linestyles="dashed")
        t += step.seconds
    rate_ax.set_ylabel("events/s")
    rate_ax.legend(loc="upper left")
    for job in (summary.seconds[0].lag if summary.seconds else {}):
        lag_ax.plot([s.t for s in summary.seconds],
                    [s.lag.get(job) if s.lag.get(job) is not None else float("nan")
                     for s in summary.seconds], label=job)
    lag_ax.set_ylabel("consumer lag (records)")
    lag_ax.legend(loc="upper left", fontsize="small")
    for attr, label in (("row_s", "send -> live profile row"), ("api_s", "send -> API")):
        points = [(p.sent_s - started, getattr(p, attr)) for p in summary.probes
                  if getattr(p, attr) is not None]
        fresh_ax.scatter([x for x, _ in points], [y for _, y in points], s=6, label=label)
    fresh_ax.axhline(FRESHNESS_GOAL_S, color="red", linewidth=0.8)
    fresh_ax.set_yscale("log")
    fresh_ax.set_ylabel("freshness (s)")
    fresh_ax.legend(loc="upper left")
    for name in (summary.seconds[0].cores if summary.seconds else {}):
        cpu_ax.plot([s.t for s in summary.seconds], [s.cores[name] for s in summary.seconds],
                    label=name)
    cpu_ax.set_ylabel("CPU (cores)")
    cpu_ax.set_xlabel("seconds since start")
    cpu_ax.legend(loc="upper left", fontsize="small")
    fig.tight_layout()
    path = out_dir / "pipeline.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return [str(path)]


def write_summary(summary: Summary, out_dir: Path) -> Path:
    path = out_dir / "summary.json"
    path.write_text(json.dumps(asdict(summary), indent=1))
    return path


def report(summary: Summary, path: Path) -> str:
    """The steps as a table, CPU per server per step, the verdict, where the files are."""
    def s(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}"

    lines = [f"{'events/s':>8} {'accepted/s':>10} {'errors':>6} {'req p99':>8} {'probes':>7} "
             f"{'NiFi p50':>8} {'Kafka p50':>9} "
             f"{'row p50':>7} {'row p99':>7} {'API p50':>7} {'API p99':>7} "
             f"{'lag growth (max job)':>24}  held"]
    for step in summary.steps:
        growths = {j: g for j, g in step.lag_growth.items() if g is not None}
        worst = max(growths, key=growths.get) if growths else None
        growth = f"{growths[worst]:,.0f} {worst}" if worst else "-"
        p99 = "-" if step.request_p99_ms is None else f"{step.request_p99_ms:.0f}ms"
        lines.append(
            f"{step.rate:>8,} {step.accepted_events / step.seconds:>10,.0f} {step.errors:>6,} "
            f"{p99:>8} {step.probes_seen:>3}/{step.probes:<3} {s(step.received_p50_s):>8} "
            f"{s(step.landed_p50_s):>9} {s(step.row_p50_s):>7} "
            f"{s(step.row_p99_s):>7} {s(step.api_p50_s):>7} {s(step.api_p99_s):>7} "
            f"{growth:>24}  {'yes' if step.held else 'no: ' + '; '.join(step.why_not)}")
    names = sorted({n for step in summary.steps for n in step.cores})
    lines += ["freshness in seconds from the probe's send: NiFi = its receipt time, Kafka = "
              "land_events read it, row = its live_profiles row, API = seen in "
              "/v1/recommendations", "", "CPU (cores, mean over the step) per server:",
              f"{'events/s':>8} " + " ".join(f"{n[:18]:>18}" for n in names)]
    for step in summary.steps:
        lines.append(f"{step.rate:>8,} " + " ".join(f"{step.cores.get(n, 0):>18.2f}"
                                                    for n in names))
    rss = {n: max(sec.rss_mib.get(n, 0) for sec in summary.seconds) for n in names} \
        if summary.seconds else {}
    lines += ["max RSS (MiB): " + ", ".join(f"{n} {v:,.0f}" for n, v in rss.items()),
              "",
              f"highest rate held (freshness p99 < {FRESHNESS_GOAL_S:g} s to the live profile "
              f"row, every probe seen, >= {ACCEPTED_SHARE:.0%} accepted, no job's lag growing by "
              f"> {LAG_GROWTH_S:g} s of input): "
              + (f"{summary.highest_held_rate:,} events/s" if summary.highest_held_rate
                 else "none of the rates tried"),
              f"requests of 1-{summary.batch} events, {summary.bad_share:.0%} bad input; lag "
              f"refreshed every {summary.metrics_interval_ms} ms (Flink metrics fetcher)",
              f"charts: {', '.join(summary.charts)}",
              f"summary: {path}",
              f"reproduce: {summary.command}"]
    return "\n".join(lines)

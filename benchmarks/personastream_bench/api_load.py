"""Load benchmark of the personalization API: ``GET /v1/recommendations`` for customers that
have live profiles, on the running stack's data, this tree's request path side by side with a
previous commit's (the baseline), each served by uvicorn on its own port.

- **Baseline**: the ``serving`` package of ``--baseline REV`` (``git archive``, nothing checked
  out), first on the server's ``PYTHONPATH``; the rest (CLI, contracts, the reference
  ``rank()``) is this tree's.
- **Answers**: before any load, both servers answer every customer (varied ``k``, category,
  item on screen) from a frozen copy of the tables they read, in a keyspace of its own, with
  an empty live profile topic of its own (both dropped afterwards): the live tables and topic
  change under running traffic, a copy does not.
- **Closed loop** (``wrk``, Debian's): N connections, each sends its next request when the
  previous answer arrived: the most the API serves, and its latency meanwhile.
- **Open loop** (``vegeta``, Go): requests at a fixed rate whatever the answers' delay, so a
  slow answer delays none of the next ones (no coordinated omission); latency percentiles
  from every request's own time. At most ``rate_connections`` connections (vegeta's
  ``-max-connections``): "2,000 req/s at 16 connections" is a rate held over 16 connections.
- **Resources** of each API server (uvicorn's supervisor and workers): CPU (% of one core and
  ms per request) and resident memory, from ``/proc``; Cassandra's CPU beside it when it runs
  locally; its workers' full garbage collections (every request waits for one) from its
  ``/metrics``, where it exports them.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from prometheus_client.parser import text_string_to_metric_families

from personastream_bench.load import (VEGETA_MODULE, LoadError, cpu_seconds, git_archive, open_loop,
                                      process_tree, rss_mib, run_wrk, tool, vegeta)
from personastream_contracts.cassandra import ensure_schema, keyspace, migrate, session
from personastream_contracts.settings import env_name
from personastream_stack import flink_jobs, lifecycle
from personastream_stack.kafka import admin_client, ensure_topics
from personastream_stack.priority import thread_niceness
from personastream_stack.process import Daemon, free_port, port_open, wait_for

#: The request path before issue 12 (sync handlers, sequential blocking reads, response
#: models validated per request, ``rank()`` over the catalogue in Python).
PREVIOUS_DESIGN = "464f0bd43111571d6696a4b893c20f4eae865c4c"
#: The histogram of the API's garbage collection pauses (``personastream_serving.metrics``).
GC_METRIC = "personastream_api_gc_pause_seconds"
#: The tables the API reads per request or shares between requests (copied for the answers).
READ_TABLES = ("live_profiles", "item_neighbours", "item_latest_trend")


@dataclass
class Phase:
    server: str
    load: str
    requests: int
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    p999_ms: float
    errors: int
    api_cpu_percent: float  # of one core, supervisor and workers together
    api_cpu_ms_per_request: float
    api_rss_mib: float
    cassandra_cpu_percent: float | None
    full_collections: int | None = None  # the workers' generation-2 collections in the phase
    full_collection_ms: float | None = None  # their mean pause


@dataclass
class Answers:
    compared: int
    equal: int
    first_difference: str | None
    added: tuple[str, ...] = ()  # answer fields only this tree has (not compared)


@dataclass
class Report:
    phases: list[Phase]
    answers: Answers | None
    n_users: int
    k: int
    workers: int
    load_1m: float
    tools: str
    jobs_running: list[str]


@dataclass
class Server:
    name: str
    url: str
    daemon: Daemon


def users_with_profiles(settings, limit: int) -> list[str]:
    with session(settings) as cql:
        rows = cql.execute(f"SELECT user_key FROM {keyspace(settings)}.live_profiles LIMIT {limit}")
        return [r.user_key for r in rows]


def recommendation_paths(users: list[str], k: int, seed: int = 7) -> list[str]:
    """One request path per customer, in a seeded order.

    >>> recommendation_paths(["a b", "c"], 5, seed=1)
    ['/v1/recommendations?k=5&user=c', '/v1/recommendations?k=5&user=a%20b']
    """
    order = list(users)
    random.Random(seed).shuffle(order)
    return [f"/v1/recommendations?k={k}&user={urllib.parse.quote(u, safe='')}" for u in order]


# --- servers ---------------------------------------------------------------------------------

def _start(name: str, settings, port: int, workers: int, run_dir: Path,
           env: dict[str, str]) -> Server:
    daemon = Daemon("api", run_dir / str(port), marker=f"personastream serve --port {port}")
    daemon.spawn([sys.executable, "-m", "personastream", "serve", "--port", str(port),
                  "--workers", str(workers)], env={**os.environ, **env})
    url = f"http://{settings.api_host}:{port}"
    wait_for(lambda: port_open(settings.api_host, port), what=f"the {name} API on {url}",
             timeout_s=60, daemon=daemon, interval_s=0.2)
    wait_for(lambda: _answers(url + "/v1/trending"), what=f"the {name} API's first answer",
             timeout_s=60, daemon=daemon, interval_s=0.2)
    return Server(name, url, daemon)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status == 200
    except OSError:
        return False


@contextlib.contextmanager
def _servers(settings, baseline: str | None, workers: int, work_dir: Path,
             extra_env: dict[str, str]) -> Iterator[list[Server]]:
    """The baseline's API (if any) and this tree's, started side by side, stopped on exit."""
    specs = []
    if baseline:
        old = git_archive(baseline, ["serving"], work_dir / "baseline") / "serving"
        specs.append((f"baseline {baseline[:7]}", {"PYTHONPATH": os.pathsep.join(
            p for p in (str(old), os.environ.get("PYTHONPATH")) if p)}))
    specs.append(("this tree", {}))
    servers: list[Server] = []
    try:
        for name, env in specs:
            servers.append(_start(name, settings, free_port(settings.api_host), workers,
                                  work_dir / "run", {**env, **extra_env}))
        yield servers
    finally:
        for server in servers:
            _stop(server)


def _check_niceness(server: Server, nice: int) -> None:
    """Raise :class:`LoadError` unless every thread of the server's processes runs at ``nice``
    (the API warns and goes on when the system refuses a negative one; 0: this process's,
    which the API keeps)."""
    expected = nice or os.getpriority(os.PRIO_PROCESS, 0)
    found = {n for pid in process_tree(server.daemon.running_pid())
             for n in thread_niceness(pid)}
    if found != {expected}:
        raise LoadError(f"the {server.name} API runs at niceness {sorted(found)}, not {expected}: "
                        "a niceness below 0 needs root (CAP_SYS_NICE); measure without it")


def _stop(server: Server) -> None:
    """SIGTERM to uvicorn's supervisor (SIGKILL after 30 s), then SIGKILL to any worker left:
    a supervisor killed under a backlog leaves its workers running."""
    pid = server.daemon.running_pid()
    workers = process_tree(pid)[1:] if pid else []
    server.daemon.terminate(timeout_s=30)
    for worker in workers:
        with contextlib.suppress(OSError):  # exited meanwhile
            if "multiprocessing" in Path(f"/proc/{worker}/cmdline").read_text(errors="replace"):
                os.kill(worker, signal.SIGKILL)


# --- resources -------------------------------------------------------------------------------

def _cassandra_pid(settings) -> int | None:
    for component in lifecycle.local_components(settings, only=("cassandra",)):
        for daemon in component.daemons:
            return daemon.running_pid()
    return None


# --- load ------------------------------------------------------------------------------------

def _wrk_script(paths: list[str]) -> str:
    quoted = ",".join(f'"{p}"' for p in paths)
    return (f"local paths = {{{quoted}}}\n"
            "local n = 0\n"
            "request = function()\n"
            "  n = n % #paths + 1\n"
            '  return wrk.format("GET", paths[n])\n'
            "end\n")


def _closed_loop(script: str, url: str, connections: int, duration_s: int) -> dict:
    result = run_wrk(script, url, connections, duration_s)
    return {**result, "errors": result["errors"] + result["non_2xx"]}


def _await_idle(servers: list[Server], timeout_s: float = 60, busy: float = 0.1) -> None:
    """Wait until no server uses more than ``busy`` of a core (one overloaded by the previous
    phase may still be working off its queue, and would take the next phase's CPU)."""
    deadline = time.monotonic() + timeout_s
    pids = [p for s in servers for p in process_tree(s.daemon.running_pid())]
    while time.monotonic() < deadline:
        before = cpu_seconds(pids)
        time.sleep(1)
        if cpu_seconds(pids) - before < busy:
            return


def full_collections(metrics_text: str) -> tuple[int, float] | None:
    """The full (generation 2) garbage collections so far and their seconds in all, from an
    API's ``/metrics`` text (every worker's); None if it exports no such metric.

    >>> full_collections('personastream_api_gc_pause_seconds_count{generation="2"} 3.0\\n'
    ...                  'personastream_api_gc_pause_seconds_sum{generation="2"} 0.25\\n')
    (3, 0.25)
    >>> full_collections('other_metric 1.0\\n') is None
    True
    """
    found = {}
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name.startswith(GC_METRIC) and sample.labels.get("generation") == "2":
                found[sample.name[len(GC_METRIC):]] = sample.value
    if "_count" not in found:
        return None
    return int(found["_count"]), found.get("_sum", 0.0)


def _full_collections(server: Server) -> tuple[int, float] | None:
    try:
        with urllib.request.urlopen(server.url + "/metrics", timeout=5) as answer:
            return full_collections(answer.read().decode())
    except OSError:  # a design without /metrics
        return None


def _measure(server: Server, load: str, run: Callable[[], dict],
             cassandra_pid: int | None, servers: list[Server]) -> Phase:
    _await_idle(servers)
    pids = process_tree(server.daemon.running_pid())
    gc0 = _full_collections(server)
    cpu0, cass0, t0 = cpu_seconds(pids), cpu_seconds([cassandra_pid] if cassandra_pid else []), \
        time.monotonic()
    result = run()
    wall = time.monotonic() - t0
    cpu = cpu_seconds(pids) - cpu0
    cassandra = (cpu_seconds([cassandra_pid]) - cass0) if cassandra_pid else None
    gc1 = _full_collections(server)
    n_full, full_s = (gc1[0] - gc0[0], gc1[1] - gc0[1]) if gc0 and gc1 else (None, None)
    return Phase(server.name, load, result["requests"], result["requests"] / result["seconds"],
                 result["p50_ms"], result["p99_ms"], result["p999_ms"], result["errors"],
                 100 * cpu / wall, 1000 * cpu / max(result["requests"], 1), rss_mib(pids),
                 None if cassandra is None else 100 * cassandra / wall, n_full,
                 1000 * full_s / n_full if n_full else None)


# --- answers ---------------------------------------------------------------------------------

@contextlib.contextmanager
def frozen_copy(settings) -> Iterator[object]:
    """Settings whose keyspace holds a copy of the tables the API reads, and whose live
    profile topic is empty (each profile is then read from the copy); dropped on exit."""
    name = f"bench_api_{os.getpid()}_{int(time.time())}"
    frozen = dataclasses.replace(settings, cassandra_keyspace=name,
                                 topic_live_profiles=f"{name}.profiles.live")
    ensure_schema(frozen)
    migrate(frozen)  # the columns of every layout, as the stack's own keyspace has them
    ensure_topics(frozen, [frozen.topic_live_profiles])
    try:
        with session(settings) as cql:
            for table in READ_TABLES:
                rows = list(cql.execute(f"SELECT * FROM {keyspace(settings)}.{table}"))
                if not rows:
                    continue
                columns = list(rows[0]._fields)
                insert = cql.prepare(f"INSERT INTO {keyspace(frozen)}.{table} "
                                     f"({', '.join(columns)}) VALUES "
                                     f"({', '.join('?' for _ in columns)})")
                for row in rows:
                    cql.execute(insert, list(row))
        yield frozen
    finally:
        with session(settings) as cql:
            cql.execute(f"DROP KEYSPACE IF EXISTS {keyspace(frozen)}", timeout=60)
        admin = admin_client(settings)  # referenced until its futures are done
        for future in admin.delete_topics([frozen.topic_live_profiles],
                                          operation_timeout=30).values():
            future.result()


def answer_requests(users: list[str], n_items: int, seed: int = 7) -> list[str]:
    """Every customer and an unknown one with varied ``k``, category and item on screen, then
    similar items, trending and the catalogue."""
    rng = random.Random(seed)
    paths = []
    for user in [*users, "no-such-customer"]:
        params = {"user": user, "k": rng.choice([1, 5, 10, 50])}
        if rng.random() < 0.3:
            params["context_item"] = f"item-{rng.randrange(n_items)}"
        if rng.random() < 0.3:
            params["category"] = rng.choice(["shoes", "bags", "hats", "watches"])
        if rng.random() < 0.2:
            params["exclude_purchased"] = "false"
        paths.append("/v1/recommendations?" + urllib.parse.urlencode(params))
    paths += [f"/v1/items/item-{rng.randrange(n_items)}/similar?k=20" for _ in range(20)]
    return paths + ["/v1/trending?k=100", "/v1/catalogue"]


def compare_answers(servers: list[Server], paths: list[str]) -> Answers:
    """Each path answered by both servers (baseline first), compared on the baseline's fields:
    a field added since (e.g. ``offers``, issue 16) is listed in ``added``, not compared."""
    equal, first, added = 0, None, set()
    for path in paths:
        answers = []
        for server in servers:
            with urllib.request.urlopen(server.url + path, timeout=10) as answer:
                answers.append(json.loads(answer.read()))
        baseline, this = answers
        this, new = same_fields(this, baseline)
        added |= new
        if this == baseline:
            equal += 1
        elif first is None:
            first = f"{path}: {json.dumps(baseline)[:300]} vs {json.dumps(this)[:300]}"
    return Answers(len(paths), equal, first, tuple(sorted(added)))


def same_fields(answer: dict, baseline: dict) -> tuple[dict, set[str]]:
    """``answer`` without the top-level fields ``baseline`` lacks, and those fields.

    >>> same_fields({"items": [1], "offers": None}, {"items": [1]})
    ({'items': [1]}, {'offers'})
    """
    added = set(answer) - set(baseline)
    return {k: v for k, v in answer.items() if k not in added}, added


# --- the run ---------------------------------------------------------------------------------

def run(settings, connections: list[int], rates: list[int], duration_s: int, workers: int,
        k: int, baseline: str | None = PREVIOUS_DESIGN,
        progress=lambda m: print(m, file=sys.stderr), rate_connections: int = 16,
        nices: list[int] | None = None) -> Report:
    """Answers compared, then each load on each server in turn (baseline first), the servers
    at each niceness of ``nices`` in turn (default: the ``api_nice`` setting)."""
    wrk = tool("wrk", "apt-get install wrk (Debian package)")
    vegeta_path = vegeta() if rates else None
    users = users_with_profiles(settings, 1000)
    if not users:
        raise LoadError(f"no live profiles in {keyspace(settings)}.live_profiles: run "
                        "`personastream demo` first (it sends traffic through the pipeline)")
    work_dir = Path(tempfile.mkdtemp(prefix="bench-api-"))
    try:
        answers = None
        if baseline:
            progress("answers: baseline and this tree on a frozen copy of the tables they read")
            with frozen_copy(settings) as frozen, _servers(
                    frozen, baseline, 1, work_dir / "answers",
                    {"PERSONASTREAM_CASSANDRA_KEYSPACE": keyspace(frozen),
                     "PERSONASTREAM_TOPIC_LIVE_PROFILES": frozen.topic_live_profiles}
            ) as servers:
                answers = compare_answers(servers, answer_requests(users,
                                                                   settings.storefront_items))
        paths = recommendation_paths(users, k)
        script = _wrk_script(paths)
        cassandra_pid = _cassandra_pid(settings)
        phases = []
        load_1m = os.getloadavg()[0]
        jobs_running = sorted(j.name for j in flink_jobs.list_jobs(settings)
                              if j.state == "RUNNING")
        for nice in nices or [settings.api_nice]:
            label = f"nice {nice}, " if nices and len(nices) > 1 else ""
            with _servers(settings, baseline, workers, work_dir / f"load-{nice}",
                          {env_name("api_nice"): str(nice)}) as servers:
                for n, server in enumerate(servers):
                    _check_niceness(server, nice)
                    run_wrk(script, server.url, 2, 3)  # warm up: connections, statements, caches
                    (work_dir / f"targets-{n}.json").write_text("".join(
                        json.dumps({"method": "GET", "url": server.url + p}) + "\n"
                        for p in paths))
                for c in connections:
                    for server in servers:
                        progress(f"wrk, {c} connection(s), {duration_s}s: {label}{server.name}")
                        phases.append(_measure(
                            server, f"{label}{c} connection(s)", lambda: _closed_loop(
                                script, server.url, c, duration_s), cassandra_pid, servers))
                for rate in rates:
                    for n, server in enumerate(servers):
                        targets = work_dir / f"targets-{n}.json"
                        progress(f"vegeta, {rate} req/s over {rate_connections} connections, "
                                 f"{duration_s}s: {label}{server.name}")
                        phases.append(_measure(
                            server, f"{label}{rate} req/s, {rate_connections} conn",
                            lambda: open_loop(vegeta_path, targets, rate, duration_s,
                                              f"-max-connections={rate_connections}"),
                            cassandra_pid, servers))
        version = subprocess.run([wrk, "-v"], capture_output=True, text=True).stdout.split()
        tools = (f"closed loop: {' '.join(version[:2]) or 'wrk'}; open loop: vegeta "
                 f"({VEGETA_MODULE.split('@')[1]})")
        return Report(phases, answers, len(users), k, workers, load_1m, tools, jobs_running)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)


def report(result: Report, command: str) -> str:
    lines = [f"GET /v1/recommendations?k={result.k}, {result.n_users} customers with live "
             f"profiles, in turn; each API: uvicorn, {result.workers} worker(s); load tools on "
             f"the same machine ({os.cpu_count()} CPUs, load average {result.load_1m:.1f} at "
             f"start, the stack up; Flink jobs running: "
             f"{', '.join(result.jobs_running) or 'none'})"]
    if result.answers is not None:
        a = result.answers
        lines.append(f"answers, baseline vs this tree on a frozen copy of the tables: "
                     f"{a.equal}/{a.compared} identical"
                     + (f" (fields added since, not compared: {', '.join(a.added)})"
                        if a.added else "")
                     + (f"; first difference: {a.first_difference}" if a.first_difference
                        else ""))
    header = (f"{'load':<30} {'API':<17} {'requests':>8} {'req/s':>7} {'p50 ms':>7} "
              f"{'p99 ms':>7} {'p99.9 ms':>8} {'errors':>6} {'API CPU':>7} {'ms CPU/req':>10} "
              f"{'RSS MiB':>7} {'Cassandra CPU':>13} {'full GCs':>8} {'ms each':>7}")
    lines += ["", header]
    for p in result.phases:
        cassandra = "-" if p.cassandra_cpu_percent is None else f"{p.cassandra_cpu_percent:.0f}%"
        n_full = "-" if p.full_collections is None else str(p.full_collections)
        full_ms = "-" if p.full_collection_ms is None else f"{p.full_collection_ms:.1f}"
        lines.append(f"{p.load:<30} {p.server:<17} {p.requests:>8} {p.requests_per_s:>7.0f} "
                     f"{p.p50_ms:>7.1f} {p.p99_ms:>7.1f} {p.p999_ms:>8.1f} {p.errors:>6} "
                     f"{p.api_cpu_percent:>6.0f}% {p.api_cpu_ms_per_request:>10.2f} "
                     f"{p.api_rss_mib:>7.0f} {cassandra:>13} {n_full:>8} {full_ms:>7}")
    lines += ["", f"CPU in % of one core over the phase (API: supervisor and workers); RSS at "
                  f"the phase's end; full GCs: the workers' full garbage collections in the "
                  f"phase and their mean pause (- where the API exports none); tools: "
                  f"{result.tools}",
              f"reproduce: {command}"]
    return "\n".join(lines)

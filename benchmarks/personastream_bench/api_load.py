"""Load benchmark of the personalization API with ``wrk`` (a real HTTP load tool, Debian's):
recommendation requests for customers that have live profiles, at several connection counts
in one run, so that rate and latency can be compared side by side.

``wrk`` is closed-loop: each connection sends its next request when the previous answer
arrived; the request rate it reaches is reported next to the latency percentiles it measured.
"""
from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from personastream_contracts.cassandra import keyspace, session
from personastream_contracts.errors import PersonastreamError
from personastream_stack import api_daemon
from personastream_stack.process import free_port

_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


class LoadError(PersonastreamError):
    """The benchmark could not run (no wrk, no profiles, API did not start)."""


@dataclass
class Phase:
    connections: int
    requests: int
    requests_per_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    errors: int


def users_with_profiles(settings, limit: int) -> list[str]:
    with session(settings) as cql:
        rows = cql.execute(f"SELECT user_key FROM {keyspace(settings)}.live_profiles LIMIT {limit}")
        return [r.user_key for r in rows]


def _lua(users: list[str], k: int) -> str:
    quoted = ",".join(f'"{urllib.parse.quote(u, safe="")}"' for u in users)
    return (f"local users = {{{quoted}}}\n"
            "math.randomseed(7)\n"
            "request = function()\n"
            "  local u = users[math.random(#users)]\n"
            f'  return wrk.format("GET", "/v1/recommendations?k={k}&user=" .. u)\n'
            "end\n")


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(number) * _UNIT_MS[unit]


def parse(output: str, connections: int) -> Phase:
    """A phase from ``wrk --latency`` output.

    >>> out = '''  Latency Distribution
    ...      50%    2.10ms
    ...      75%    3.00ms
    ...      90%    4.50ms
    ...      99%   12.30ms
    ...   1234 requests in 10.00s, 1.00MB read
    ... Requests/sec:    123.40'''
    >>> parse(out, 4)
    Phase(connections=4, requests=1234, requests_per_s=123.4, p50_ms=2.1, p90_ms=4.5, p99_ms=12.3, errors=0)
    """
    pct = dict(re.findall(r"^\s+(50|90|99)%\s+(\S+)$", output, re.M))
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", output))
    errors += int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", output)) else 0
    return Phase(connections, int(re.search(r"(\d+) requests in", output).group(1)),
                 float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
                 _ms(pct["50"]), _ms(pct["90"]), _ms(pct["99"]), errors)


def run(settings, connections: list[int], duration_s: int, workers: int, k: int,
        progress=lambda m: print(m, file=sys.stderr)) -> list[Phase]:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise LoadError("wrk is not installed: apt-get install wrk (Debian package)")
    users = users_with_profiles(settings, 1000)
    if not users:
        raise LoadError(f"no live profiles in {keyspace(settings)}.live_profiles: run "
                        "`personastream demo` first (it sends traffic through the pipeline)")
    api = dataclasses.replace(settings, api_port=free_port(settings.api_host))
    try:
        url = api_daemon.start(api, workers=workers)
        script = Path(tempfile.mkdtemp(prefix="bench-api-")) / "recommendations.lua"
        script.write_text(_lua(users, k))
        subprocess.run([wrk, "-t1", "-c1", "-d3s", "-s", str(script), url], check=True,
                       capture_output=True)  # warm up: prepared statements, caches
        phases = []
        for c in connections:
            progress(f"wrk: {c} connection(s), {duration_s}s, {len(users)} customers, k={k}")
            done = subprocess.run([wrk, f"-t{min(c, 2)}", f"-c{c}", f"-d{duration_s}s",
                                   "--latency", "-s", str(script), url],
                                  check=True, capture_output=True, text=True)
            phases.append(parse(done.stdout, c))
        return phases
    finally:
        api_daemon.stop(api)


def report(phases: list[Phase], workers: int, command: str) -> str:
    lines = [f"GET /v1/recommendations?k=10 for customers with live profiles; API: uvicorn, "
             f"{workers} worker(s); load: wrk on the same 2-core machine",
             f"{'connections':>11} {'requests':>9} {'req/s':>8} {'p50 ms':>8} {'p90 ms':>8} "
             f"{'p99 ms':>8} {'errors':>6}"]
    lines += [f"{p.connections:>11} {p.requests:>9} {p.requests_per_s:>8.1f} {p.p50_ms:>8.1f} "
              f"{p.p90_ms:>8.1f} {p.p99_ms:>8.1f} {p.errors:>6}" for p in phases]
    lines.append(f"reproduce: {command}")
    return "\n".join(lines)




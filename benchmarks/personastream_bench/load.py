"""What the load benchmarks share: real load tools driven as subprocesses, and the CPU and
memory of the processes under test.

- :func:`run_wrk`: closed-loop HTTP load with Debian's ``wrk`` (each connection sends its next
  request when the answer arrives), percentiles from wrk's own latency histogram.
- :func:`process_tree`, :class:`Usage`: CPU seconds (user + system, from ``/proc``) and resident
  memory of a server and its children (NiFi and its Python processors, uvicorn and its workers).

>>> usage = Usage([os.getpid()])
>>> with usage:
...     _ = sum(range(10**5))
>>> usage.cpu_s >= 0 and usage.rss_mib > 0
True
"""
from __future__ import annotations

import base64
import contextlib
import csv
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import types
from pathlib import Path
from typing import Callable, Iterable

from personastream_contracts.errors import PersonastreamError
from personastream_stack.priority import process_tree

_TICKS_PER_S = os.sysconf("SC_CLK_TCK")
_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
#: wrk's Lua ``done`` hook: one machine-readable line with what the report needs.
WRK_RESULT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("\\nRESULT %d %d %d %d %d %d %d\\n", summary.requests,
    summary.duration, latency:percentile(50), latency:percentile(99),
    latency:percentile(99.9), e.connect + e.read + e.write + e.timeout, e.status))
end
"""


class LoadError(PersonastreamError):
    """A load tool is missing or failed."""


VEGETA_MODULE = "github.com/tsenart/vegeta/v12@v12.13.0"
"""The constant-rate load tool (Go), as ``make bench-tools`` installs it."""


def vegeta() -> str:
    """The path of ``vegeta``, or a :class:`LoadError` saying how to install it."""
    return tool("vegeta", f"`make bench-tools`, or go install {VEGETA_MODULE} (it lands in "
                          "$(go env GOPATH)/bin)")


def tool(name: str, install: str) -> str:
    """The path of load tool ``name`` (on ``PATH``, or where ``go install`` puts it), or a
    :class:`LoadError` saying how to install it."""
    found = shutil.which(name)
    if found is None:
        gopath = subprocess.run(["go", "env", "GOPATH"], capture_output=True,
                                text=True).stdout.strip() if shutil.which("go") else ""
        candidate = Path(gopath or Path.home() / "go") / "bin" / name
        found = str(candidate) if candidate.exists() else None
    if found is None:
        raise LoadError(f"{name} is not installed: {install}")
    return found


def percentile(sorted_values: list[float], q: float) -> float | None:
    """The nearest-rank ``q``-th percentile of ascending ``sorted_values`` (None if empty).

    >>> percentile([float(v) for v in range(1, 1001)], 99.9)
    999.0
    """
    if not sorted_values:
        return None
    rank = max(1, -(-len(sorted_values) * q // 100))
    return sorted_values[int(rank) - 1]


def git_archive(rev: str, folders: list[str], into: Path) -> Path:
    """The ``folders`` of this repository at commit ``rev``, extracted under ``into`` (nothing
    checked out): a previous design to measure beside this tree's. Returns ``into``."""
    here = Path(__file__).resolve().parent
    try:
        repo = subprocess.run(["git", "-C", str(here), "rev-parse", "--show-toplevel"],
                              check=True, capture_output=True, text=True).stdout.strip()
        archive = subprocess.run(["git", "-C", repo, "archive", "--format=tar", rev, *folders],
                                 check=True, capture_output=True).stdout
    except (OSError, subprocess.CalledProcessError) as error:
        detail = getattr(error, "stderr", None) or str(error)
        detail = detail.decode() if isinstance(detail, bytes) else detail
        raise LoadError(f"cannot read {', '.join(folders)} at {rev!r} with git archive "
                        f"({detail.strip()}); run from a git checkout, pass another "
                        "--baseline, or --baseline none") from error
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def module_at(rev: str, path: str, name: str) -> types.ModuleType:
    """The Python file ``path`` of this repository as it was at commit ``rev``, run as module
    ``name`` (registered in ``sys.modules``, where pickle finds its classes): a previous
    design's code beside this tree's in one process, for a benchmark that compares them.

    >>> module_at("HEAD", "contracts/personastream_contracts/errors.py", "errors_at_head"
    ...           ).PersonastreamError.__name__
    'PersonastreamError'
    """
    here = Path(__file__).resolve().parent
    try:
        source = subprocess.run(["git", "-C", str(here), "show", f"{rev}:{path}"], check=True,
                                capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as error:
        detail = getattr(error, "stderr", None) or str(error)
        raise LoadError(f"cannot read {path} at {rev!r} with git show ({detail.strip()}); run "
                        "from a git checkout or pass another revision") from error
    module = types.ModuleType(name)
    sys.modules[name] = module
    exec(compile(source, f"{rev}:{path}", "exec"), module.__dict__)
    return module


def run_wrk(lua: str, url: str, connections: int, duration_s: float, timeout_s: int = 10) -> dict:
    """Run wrk with the Lua script ``lua`` (which must not define ``done``) against ``url``;
    return ``requests``, ``seconds``, ``p50_ms``, ``p99_ms``, ``p999_ms``, ``errors`` (socket
    errors and timeouts) and ``non_2xx`` (answers outside 2xx and 3xx)."""
    wrk = tool("wrk", "apt-get install wrk (or `make tools`)")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(lua + WRK_RESULT)
    try:
        done = subprocess.run([wrk, f"-t{min(connections, 2)}", f"-c{connections}",
                               f"-d{max(1, round(duration_s))}s", "--timeout", f"{timeout_s}s",
                               "-s", script.name, url], capture_output=True, text=True)
    finally:
        os.unlink(script.name)
    line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
    if done.returncode != 0 or line is None:
        raise LoadError(f"wrk against {url} failed ({done.returncode}): "
                        f"{done.stderr[-500:] or done.stdout[-500:]}")
    n, duration_us, p50, p99, p999, errors, non_2xx = (int(v) for v in line.split()[1:])
    return {"requests": n, "seconds": duration_us / 1e6, "p50_ms": p50 / 1000,
            "p99_ms": p99 / 1000, "p999_ms": p999 / 1000, "errors": errors,
            "non_2xx": non_2xx}


def post_targets(path: Path, url: str, payloads: Iterable[bytes],
                 headers: Callable[[int], dict[str, list[str]]] = lambda i: {}) -> None:
    """Write ``vegeta``'s JSON targets: a POST of each JSON payload to ``url``, the ``i``-th
    with ``headers(i)`` besides its content type."""
    with path.open("w") as out:
        for i, payload in enumerate(payloads):
            out.write(json.dumps({"method": "POST", "url": url,
                                  "body": base64.b64encode(payload).decode(),
                                  "header": {"Content-Type": ["application/json"],
                                             **headers(i)}}) + "\n")


def run_vegeta(vegeta: str, targets: Path, rate: str, duration_s: int,
               *options: str) -> list[list[str]]:
    """``vegeta attack`` of the JSON ``targets`` at ``rate`` (vegeta's ``N/duration``) for
    ``duration_s``; its results as CSV rows: timestamp (ns), code, latency (ns), bytes out,
    bytes in, error, body, attack, seq (the target's index), ..."""
    attack = subprocess.Popen([vegeta, "attack", "-format=json", f"-targets={targets}",
                               f"-rate={rate}", f"-duration={duration_s}s", "-timeout=10s",
                               "-max-body=0", *options], stdout=subprocess.PIPE)
    encoded = subprocess.run([vegeta, "encode", "--to=csv"], stdin=attack.stdout,
                             capture_output=True, text=True, check=True).stdout
    attack.stdout.close()
    if attack.wait() != 0:
        raise LoadError(f"vegeta attack exited with {attack.returncode}")
    return list(csv.reader(io.StringIO(encoded)))


def open_loop(vegeta: str, targets: Path, rate: int, duration_s: int, *options: str) -> dict:
    """``vegeta`` at a fixed ``rate`` (req/s) over ``targets`` for ``duration_s``: requests,
    seconds, latency p50/p99/p99.9 (ms) and errors (no answer, or one outside 2xx)."""
    rows = run_vegeta(vegeta, targets, f"{rate}/1s", duration_s, *options)
    latencies = sorted(int(r[2]) / 1e6 for r in rows)
    starts = [int(r[0]) for r in rows]
    seconds = (max(starts) - min(starts)) / 1e9 if len(rows) > 1 else float(duration_s)
    errors = sum(1 for r in rows if not r[1].startswith("2") or r[5])
    return {"requests": len(rows), "seconds": seconds or float(duration_s),
            "p50_ms": percentile(latencies, 50), "p99_ms": percentile(latencies, 99),
            "p999_ms": percentile(latencies, 99.9), "errors": errors}


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds the processes used so far (0 for one that is gone)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / _TICKS_PER_S


def rss_mib(pids: list[int]) -> float:
    """Resident memory of the processes, MiB."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    return total * _PAGE_BYTES / 2**20


class Usage:
    """CPU used and memory held by ``pids`` (and their children, when given as roots) over a
    ``with`` block: ``cpu_s``, ``wall_s``, ``cores`` (cpu_s / wall_s), ``rss_mib`` at the end."""

    def __init__(self, roots: list[int]):
        self.roots = roots
        self.cpu_s = self.wall_s = self.rss_mib = 0.0

    def _pids(self) -> list[int]:
        return [p for root in self.roots for p in process_tree(root)]

    def __enter__(self) -> "Usage":
        self._pids0 = self._pids()
        self._cpu0, self._t0 = cpu_seconds(self._pids0), time.monotonic()
        return self

    def __exit__(self, *exc) -> None:
        pids = sorted(set(self._pids0) | set(self._pids()))
        self.wall_s = time.monotonic() - self._t0
        self.cpu_s = cpu_seconds(pids) - self._cpu0
        self.rss_mib = rss_mib(pids)

    @property
    def cores(self) -> float:
        return self.cpu_s / self.wall_s if self.wall_s else 0.0

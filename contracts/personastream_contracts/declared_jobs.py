"""The jobs that should be running: declared at submit, withdrawn at cancel, kept on disk.

Flink's JobManager forgets a job when it restarts (its history lives in memory), but the jobs'
retained checkpoints stay on disk. Recording each submitted job (its Flink name, the catalogue
job it runs, and the ids of its runs) in ``<state_dir>/flink/declared-jobs.json`` lets
``stack status`` and the API's ``/v1/health`` say which declared job is not running
(:func:`check`), and lets a job start again from its newest retained checkpoint after the
JobManager restarted. The reconciler also samples each declared job's consumer lag, so that a job
falling further and further behind is reported too.

>>> import pathlib, tempfile
>>> path = pathlib.Path(tempfile.mkdtemp()) / "declared-jobs.json"
>>> record(path, "land_events", "land_events", "a" * 32)
>>> record(path, "land_events", "land_events", "b" * 32)
>>> read(path)["land_events"].job_ids == ["b" * 32, "a" * 32]
True
>>> withdraw(path, ["land_events"]); read(path)
{}
"""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

#: Runs of a job whose checkpoints are looked for (newest first).
KEPT_RUNS = 10
#: Flink job states of a run that is, or may be about to be, processing (FAILING: it restarts
#: unless its restart strategy gave up, and then it is FAILED).
ACTIVE_STATES = frozenset({"CREATED", "RUNNING", "FAILING", "RESTARTING", "INITIALIZING",
                           "RECONCILING"})


@dataclass
class Declared:
    """A job that should run: ``job`` from the catalogue under the Flink name ``name``, with
    the ``arguments`` it was submitted with (its topics, keyspace, servers)."""

    name: str
    job: str
    job_ids: list[str] = field(default_factory=list)
    declared_at: float = 0.0
    arguments: list[str] = field(default_factory=list)

    @property
    def instance(self) -> str | None:
        """What names a second copy of the job (``<job>_<instance>``: a test's or a benchmark's),
        None for the job itself.

        >>> Declared("land_events_bench_1", "land_events").instance
        'bench_1'
        >>> Declared("land_events", "land_events").instance is None
        True
        """
        return self.name[len(self.job) + 1:] if self.name != self.job else None


def path_for(settings) -> Path:
    return settings.state_dir / "flink" / "declared-jobs.json"


def checkpoints_dir(settings) -> Path:
    """Where the local Flink cluster retains its jobs' checkpoints (``state.checkpoints.dir``)."""
    return settings.state_dir / "flink" / "checkpoints"


def read(path: Path) -> dict[str, Declared]:
    if not path.exists():
        return {}
    return {name: Declared(**entry) for name, entry in json.loads(path.read_text()).items()}


def _write(path: Path, declared: dict[str, Declared]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps({n: asdict(d) for n, d in sorted(declared.items())}, indent=1))
    os.replace(partial, path)


def record(path: Path, name: str, job: str, job_id: str,
           arguments: list[str] | None = None) -> None:
    """Declare ``name`` (running catalogue job ``job`` with ``arguments``; None: those
    declared before), its newest run ``job_id``."""
    declared = read(path)
    previous = declared.get(name)
    runs = [job_id, *(i for i in (previous.job_ids if previous else []) if i != job_id)]
    if arguments is None:
        arguments = previous.arguments if previous else []
    declared[name] = Declared(name, job, runs[:KEPT_RUNS], time.time(), list(arguments))
    _write(path, declared)


def withdraw(path: Path, names: list[str]) -> None:
    """The jobs ``names`` should no longer run."""
    declared = read(path)
    if any(n in declared for n in names):
        _write(path, {n: d for n, d in declared.items() if n not in names})


def newest_checkpoint(checkpoints_dir: Path, job_ids: list[str]) -> Path | None:
    """The newest complete retained checkpoint (``<dir>/<job id>/chk-N`` holding
    ``_metadata``) of the newest run in ``job_ids`` that has one."""
    for job_id in job_ids:
        complete = [c for c in (checkpoints_dir / job_id).glob("chk-*")
                    if (c / "_metadata").is_file() and c.name[4:].isdigit()]
        if complete:
            return max(complete, key=lambda c: int(c.name[4:]))
    return None


#: A running job that failed (and restarted) this often within :data:`FAILURE_WINDOW_S` is
#: reported as restarting repeatedly.
REPEATED_FAILURES = 3
FAILURE_WINDOW_S = 600


#: A declared job's consumer lag keeps growing when, over at least this many seconds of
#: samples, each is at least the one before and the newest exceeds the oldest by
#: :data:`LAG_GROWTH` records.
LAG_WINDOW_S = 60
LAG_GROWTH = 1000
#: Samples older than this are stale (nobody samples: the reconciler is not running).
LAG_STALE_S = 45


def lags_path(settings) -> Path:
    """Samples of each declared job's consumer lag, written by the reconciler."""
    return settings.state_dir / "flink" / "lag-history.json"


def vertex_metric(get_json: Callable[[str], dict], job_id: str, vertex_id: str,
                  suffix: str) -> float | None:
    """Sum over subtasks of the vertex's metric whose name ends with ``suffix`` (None: not
    reported yet), read from Flink's REST API by ``get_json``."""
    base = f"/jobs/{job_id}/vertices/{vertex_id}/subtasks/metrics"
    names = [m["id"] for m in get_json(base) if m["id"].endswith(suffix)]
    if not names:
        return None
    values = get_json(f"{base}?get={names[0]}&agg=sum")
    value = float(values[0]["sum"]) if values else math.nan
    return None if math.isnan(value) else value


def source_lag(get_json: Callable[[str], dict], job_id: str) -> float | None:
    """Records the job's Kafka sources have yet to read (Flink's ``pendingRecords`` summed over
    source subtasks); None while not reported."""
    lags = [vertex_metric(get_json, job_id, v["id"], ".pendingRecords")
            for v in get_json(f"/jobs/{job_id}")["vertices"] if v["name"].startswith("Source")]
    known = [lag for lag in lags if lag is not None]
    return sum(known) if known else None


def record_lags(path: Path, lags: dict[str, float], now: float) -> None:
    """Add a sample of each job's lag; keep twice :data:`LAG_WINDOW_S` of them."""
    history = read_lags(path)
    history = {name: [(t, lag) for t, lag in history.get(name, []) if t >= now - 2 * LAG_WINDOW_S]
               + [(now, lags[name])] for name in lags}
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(history))
    os.replace(partial, path)


def read_lags(path: Path) -> dict[str, list[tuple[float, float]]]:
    try:
        return {n: [tuple(x) for x in v] for n, v in json.loads(path.read_text()).items()}
    except (OSError, ValueError):
        return {}


def growing_lags(history: dict[str, list[tuple[float, float]]], now: float
                 ) -> dict[str, tuple[float, float, float]]:
    """Jobs whose lag keeps growing: name -> (seconds, oldest lag, newest lag).

    >>> growing_lags({"a": [(0, 10), (20, 900), (40, 1500), (60, 2500)],
    ...               "b": [(0, 10), (20, 5000), (40, 3000), (60, 6000)]}, now=65)
    {'a': (60, 10, 2500)}
    """
    out = {}
    for name, samples in history.items():
        recent = [(t, lag) for t, lag in samples if t >= now - LAG_WINDOW_S - LAG_STALE_S]
        if not recent or now - recent[-1][0] > LAG_STALE_S:
            continue
        span = recent[-1][0] - recent[0][0]
        rising = all(b[1] >= a[1] for a, b in zip(recent, recent[1:]))
        if span >= LAG_WINDOW_S and rising and recent[-1][1] - recent[0][1] >= LAG_GROWTH:
            out[name] = (span, recent[0][1], recent[-1][1])
    return out


def problems(declared: dict[str, Declared], states: dict[str, str],
             failures: dict[str, list[str]] | None = None,
             growing: dict[str, tuple[float, float, float]] | None = None) -> list[str]:
    """What is wrong with the declared jobs, given the state of each job name's active run on
    the cluster (a name without one is missing), the exceptions each active run failed with
    in the last :data:`FAILURE_WINDOW_S` seconds (newest first), and the jobs whose consumer
    lag keeps growing (:func:`growing_lags`).

    >>> d = {"a": Declared("a", "land_events"), "b": Declared("b", "live_activity")}
    >>> problems(d, {"a": "RUNNING", "b": "RESTARTING"})
    ['b is RESTARTING']
    >>> problems({"land_events": Declared("land_events", "land_events")}, {})
    ['land_events is not running (`personastream jobs submit land_events --from-last-checkpoint`)']
    >>> problems(d, {"a": "RUNNING", "b": "RUNNING"}, {"a": ["TimeoutException"] * 3})
    ['a failed and restarted 3 times in 10 min (last: TimeoutException)']
    >>> problems(d, {"a": "RUNNING", "b": "RUNNING"}, growing={"b": (60, 10, 2500)})
    ['b falls behind: its consumer lag grew from 10 to 2,500 records in 60 s']
    """
    out = []
    for name, d in sorted(declared.items()):
        state = states.get(name)
        recent = (failures or {}).get(name, [])
        if state is None:
            how = (f" (`personastream jobs submit {d.job} --from-last-checkpoint`)"
                   if d.instance is None else "")
            out.append(f"{name} is not running{how}")
        elif state != "RUNNING":
            out.append(f"{name} is {state}")
        elif len(recent) >= REPEATED_FAILURES:
            out.append(f"{name} failed and restarted {len(recent)} times in "
                       f"{FAILURE_WINDOW_S // 60} min (last: {recent[0]})")
        elif name in (growing or {}):
            seconds, oldest, newest = growing[name]
            out.append(f"{name} falls behind: its consumer lag grew from {oldest:,.0f} to "
                       f"{newest:,.0f} records in {seconds:.0f} s")
    return out


def check(settings, get_json: Callable[[str], dict]) -> list[str]:
    """:func:`problems` of the declared jobs on the Flink cluster whose REST API ``get_json``
    reads (a path such as ``/jobs/overview`` to its JSON answer)."""
    declared = read(path_for(settings))
    if not declared:
        return []
    jobs = sorted(get_json("/jobs/overview")["jobs"], key=lambda j: j["start-time"])
    active = {j["name"]: j for j in jobs if j["state"] in ACTIVE_STATES}
    since_ms = (time.time() - FAILURE_WINDOW_S) * 1000
    failures = {}
    for name, job in active.items():
        if name in declared:
            history = get_json(f"/jobs/{job['jid']}/exceptions").get("exceptionHistory", {})
            failures[name] = [e.get("exceptionName", "?") for e in history.get("entries", [])
                              if e.get("timestamp", 0) >= since_ms]
    growing = growing_lags(read_lags(lags_path(settings)), time.time())
    return problems(declared, {n: j["state"] for n, j in active.items()}, failures, growing)


def sample_lags(settings, get_json: Callable[[str], dict]) -> dict[str, float]:
    """Record the consumer lag of each declared job's active run (for :func:`check`); return
    the lags sampled."""
    declared = read(path_for(settings))
    jobs = get_json("/jobs/overview")["jobs"]
    lags = {}
    for job in jobs:
        if job["name"] in declared and job["state"] == "RUNNING":
            lag = source_lag(get_json, job["jid"])
            if lag is not None:
                lags[job["name"]] = lag
    record_lags(lags_path(settings), lags, time.time())
    return lags

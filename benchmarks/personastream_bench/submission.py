"""How long submitting a job takes, and the CPU its client (``flink run``: a JVM that plans the
job with the Python client and uploads it) spends, for client JVM options side by side.

Each round submits the job once per option set, alternating, as a copy of its own
(``name_bench_submit_N``, not declared), waits until every task runs, and cancels it. Wall
time is from the start of ``flink run`` until the tasks run; CPU is the client's (its JVM
and Python, children of this process). Tests submit ~40 jobs per CI run, and the reconciler
submits a lost job again: this is their fixed cost.

Example: ``personastream bench submit --job land_events --repeat 3``
"""
from __future__ import annotations

import dataclasses
import os
import resource
import statistics
import time
from typing import Callable

from personastream_contracts.settings import Settings
from personastream_stack import flink_jobs

Progress = Callable[[str], None]

#: The client's options before ``flink_client_java_opts`` (Flink's defaults: C2, G1).
FLINK_DEFAULT = ""


@dataclasses.dataclass
class Submission:
    java_opts: str
    wall_s: float
    client_cpu_s: float


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def submit_once(settings: Settings, job: str, java_opts: str, instance: str) -> Submission:
    """Submit ``job`` as ``job_instance`` with the client JVM options ``java_opts``, wait
    until it runs, cancel it."""
    s = dataclasses.replace(settings, flink_client_java_opts=java_opts)
    cpu, started = _children_cpu_s(), time.monotonic()
    info = flink_jobs.submit(s, job, instance=instance, declare=False)
    wall_s, client_cpu_s = time.monotonic() - started, _children_cpu_s() - cpu
    flink_jobs.cancel(s, info.job_id)
    return Submission(java_opts, wall_s, client_cpu_s)


def run(settings: Settings, job: str, variants: list[str], repeat: int,
        progress: Progress) -> list[Submission]:
    """``repeat`` rounds of one submission per option set in ``variants``, alternating."""
    runs = []
    for round_ in range(repeat):
        for i, java_opts in enumerate(variants):
            instance = f"bench_submit_{os.getpid()}_{round_}_{i}"
            runs.append(submit_once(settings, job, java_opts, instance))
            progress(f"round {round_ + 1}/{repeat} [{java_opts or 'Flink default'}]: "
                     f"{runs[-1].wall_s:.1f} s, client CPU {runs[-1].client_cpu_s:.1f} s")
    return runs


def report(runs: list[Submission], job: str, command: str) -> str:
    """Medians per option set, and ratios to the first set listed.

    >>> print(report([Submission("", 30.0, 25.0), Submission("-X", 24.0, 15.0)], "j", "cmd"))
    ... # doctest: +NORMALIZE_WHITESPACE
    client JVM options   runs  wall to RUNNING (s)  client CPU (s)  wall ratio  CPU ratio
    Flink default           1                 30.0            25.0       1.00x      1.00x
    -X                      1                 24.0            15.0       0.80x      0.60x
    <BLANKLINE>
    job: j; medians per option set; ratio: against the first row (same run, alternating)
    reproduce: cmd
    """
    by_opts: dict[str, list[Submission]] = {}
    for r in runs:
        by_opts.setdefault(r.java_opts, []).append(r)
    width = max(18, *(len(o) for o in by_opts))
    lines = [f"{'client JVM options':<{width}} {'runs':>5}  wall to RUNNING (s)  client CPU (s)"
             f"  wall ratio  CPU ratio"]
    first = None
    for opts, group in by_opts.items():
        wall = statistics.median(r.wall_s for r in group)
        cpu = statistics.median(r.client_cpu_s for r in group)
        first = first or (wall, cpu)
        lines.append(f"{opts or 'Flink default':<{width}} {len(group):>5} {wall:>20.1f} "
                     f"{cpu:>15.1f} {wall / first[0]:>10.2f}x {cpu / first[1]:>9.2f}x")
    return "\n".join([*lines, "", f"job: {job}; medians per option set; ratio: against the "
                      "first row (same run, alternating)", f"reproduce: {command}"])

"""One `bench jobs` run of live_activity, with the CPU each server spends per event while the job
drains its backlog: the servers' CPU time (``/proc/PID/stat``) read at each of the benchmark's
progress lines ("N/M rows written after Ts"), and the rows between the second and the last
of them (the first ~10 s, the job's start, left out).

usage: python cpu_per_event.py EVENTS   (from the repository root, the stack running)
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time

from personastream_bench.load import cpu_seconds

SERVERS = {"taskmanager": "TaskManagerRunner", "cassandra": "CassandraDaemon",
           "kafka": "kafka.Kafka", "nifi": "org.apache.nifi.NiFi",
           "jobmanager": "StandaloneSessionClusterEntrypoint"}
PROGRESS = re.compile(r"live_activity: ([\d,]+)/[\d,]+ rows written after")


def server_pids() -> dict[str, list[int]]:
    """The processes of each server, by their command lines."""
    out = {name: [] for name in SERVERS}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().decode(errors="replace")
        except OSError:
            continue
        for name, marker in SERVERS.items():
            if marker in cmd:
                out[name].append(int(pid))
    return out


def cpu_s(pids: dict[str, list[int]]) -> dict[str, float]:
    """CPU seconds (user + system) so far of each server's processes."""
    return {name: cpu_seconds(ps) for name, ps in pids.items()}


def main(events: int) -> None:
    command = [".venv/bin/personastream", "bench", "jobs", "--jobs", "live_activity",
               "--events", str(events), "--baseline", "none"]
    marks = []  # (rows, monotonic s, cpu s per server)
    pids = server_pids()
    with subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.PIPE,
                          text=True) as bench:
        for line in bench.stderr:
            match = PROGRESS.search(line)
            if match:
                marks.append((int(match.group(1).replace(",", "")), time.monotonic(),
                              cpu_s(pids)))
        report = bench.stdout.read()
    summary = [ln for ln in report.splitlines() if ln.startswith("live_activity ")]
    print(*summary, sep="\n")
    if len(marks) < 3:
        sys.exit(f"too few progress lines ({len(marks)}) to measure: use more events")
    (rows0, t0, cpu0), (rows1, t1, cpu1) = marks[1], marks[-1]
    rows = rows1 - rows0
    print(f"steady part: {rows:,} rows in {t1 - t0:.1f} s ({rows / (t1 - t0):,.0f} rows/s); "
          "CPU per event (µs) and cores: " + ", ".join(
              f"{name} {1e6 * (cpu1[name] - cpu0[name]) / rows:.0f} µs "
              f"{(cpu1[name] - cpu0[name]) / (t1 - t0):.2f}" for name in SERVERS))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)

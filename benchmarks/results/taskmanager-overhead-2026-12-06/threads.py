"""CPU of a local TaskManager's threads over an interval, grouped by thread name (Linux keeps
the first 15 characters of a Java thread's name; digits folded), from /proc/PID/task/*/stat:
what the JIT compilers, the metrics reporter, gRPC to Python workers and the tasks cost.

    python threads.py [SECONDS] [TOP]
"""
import collections
import os
import re
import sys
import time

from personastream_contracts.settings import resolve
from personastream_stack.flink import Flink, taskmanager_names

TICK = os.sysconf("SC_CLK_TCK")


def taskmanagers() -> list[int]:
    """The local TaskManagers' JVMs, as the stack runs them."""
    settings = resolve()
    names = taskmanager_names(settings.flink_taskmanagers)
    return [pid for d in Flink(settings).daemons
            if d.name in names and (pid := d.running_pid()) is not None]


def thread_cpu(pid: int) -> dict[str, tuple[str, float]]:
    """CPU seconds so far per thread id (name, seconds)."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            text = open(f"/proc/{pid}/task/{tid}/stat").read()
        except OSError:
            continue
        name = text[text.index("(") + 1:text.rindex(")")]
        fields = text[text.rindex(")") + 2:].split()
        out[tid] = (name, (int(fields[11]) + int(fields[12])) / TICK)
    return out


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 60
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 12
    for pid in taskmanagers():
        a = thread_cpu(pid)
        t0 = time.time()
        time.sleep(seconds)
        b = thread_cpu(pid)
        dt = time.time() - t0
        groups = collections.Counter()
        for tid, (name, cpu) in b.items():
            groups[re.sub(r"\d+", "N", name)] += (cpu - a.get(tid, (name, 0.0))[1]) / dt
        total = sum(groups.values())
        print(f"TaskManager {pid}: {total:.3f} cores over {dt:.0f} s")
        for name, cores in groups.most_common(top):
            print(f"  {cores:6.3f}  {100 * cores / total:5.1f} %  {name}")


if __name__ == "__main__":
    main()

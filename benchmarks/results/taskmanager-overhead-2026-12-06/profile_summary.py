"""Summarise an async-profiler collapsed-stack file (``collapsed`` output, ``threads`` option):
samples per thread (digits folded), and for the threads whose name holds FILTER the hottest
leaf frames and the frames they pass through (inclusive share).

    python profile_summary.py FILE [FILTER]

Attach async-profiler 4.0 (``tools.profiler:async-profiler:4.0:jar:linux-x64`` from Maven
Central, ``libasyncProfiler.so`` inside) to a JVM with ``start,event=cpu,interval=1ms,threads``
and ``stop,file=FILE,collapsed``.
"""
import re
import sys
from collections import Counter


def main() -> None:
    path, wanted = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None
    threads, leaf, inclusive, total = Counter(), Counter(), Counter(), 0
    for line in open(path):
        stack, n = line.rstrip().rsplit(" ", 1)
        frames, n = stack.split(";"), int(n)
        threads[re.sub(r"\d+", "N", frames[0])] += n
        if wanted and wanted not in frames[0]:
            continue
        total += n
        leaf[frames[-1]] += n
        for frame in set(frames[1:]):
            inclusive[frame] += n
    print("samples per thread:")
    for name, n in threads.most_common(15):
        print(f"  {n:7d} {name[:120]}")
    if wanted:
        print(f"--- {wanted}: {total} samples; hottest leaves")
        for frame, n in leaf.most_common(25):
            print(f"  {100 * n / total:5.1f}% {frame[:140]}")
        print("--- inclusive")
        for frame, n in inclusive.most_common(60):
            print(f"  {100 * n / total:5.1f}% {frame[:140]}")


if __name__ == "__main__":
    main()

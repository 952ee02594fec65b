"""Are the API's slow answers spread out or in bursts? Reads vegeta's results as CSV and prints
the percentiles, then each 100-ms window of send times that held an answer slower than 20 ms.

usage (the API on PORT, targets as in ../api-gc-2026-12-05/gc-ab.sh):
    vegeta attack -targets T -rate 2000/1s -max-connections 16 -duration 15s > r.bin
    vegeta encode --to csv r.bin > r.csv && python stalls.py r.csv
"""
import csv
import sys
from collections import defaultdict

from personastream_bench.load import percentile


def main(path: str) -> None:
    rows = [(int(r[0]), int(r[2]) / 1e6) for r in csv.reader(open(path))]
    start = min(t for t, _ in rows)
    latencies = sorted(ms for _, ms in rows)
    n = len(latencies)
    print(f"{n} answers, p50 {percentile(latencies, 50):.1f} ms, "
          f"p99 {percentile(latencies, 99):.1f} ms")
    windows = defaultdict(list)
    for t, ms in rows:
        windows[(t - start) // 100_000_000].append(ms)
    slow = [(w / 10, max(v), sum(ms > 20 for ms in v)) for w, v in sorted(windows.items())
            if max(v) > 20]
    print(f"100-ms windows with an answer > 20 ms: {len(slow)} of {len(windows)}")
    for at_s, worst, count in slow:
        print(f"  at {at_s:5.1f} s: {count} answers > 20 ms, slowest {worst:.1f} ms")


if __name__ == "__main__":
    main(sys.argv[1])

"""Per job, the checkpoints ``record.py`` saw triggered between two times (epoch s): how many,
failed, unaligned, end-to-end p50 / max; and the longest any job went without completing one
(from the first trigger in the window or the last completion before it, to the window's end
when none completed).

    python summary.py CHECKPOINTS.jsonl FROM TO
"""
import json
import statistics
import sys


def main() -> None:
    rows = [json.loads(line) for line in open(sys.argv[1])]
    lo, hi = float(sys.argv[2]) * 1000, float(sys.argv[3]) * 1000
    for job in sorted({r["job"] for r in rows}):
        mine = [r for r in rows if r["job"] == job and r["trigger_ms"]]
        window = [r for r in mine if lo <= r["trigger_ms"] <= hi]
        ends = sorted(r["trigger_ms"] + r["e2e_ms"] for r in mine
                      if r["status"] == "COMPLETED" and r["e2e_ms"] is not None)
        before = [e for e in ends if e < lo]
        marks = [before[-1] if before else lo] + [e for e in ends if lo <= e <= hi] + [hi]
        longest = max(b - a for a, b in zip(marks, marks[1:])) / 1000
        done = [r["e2e_ms"] / 1000 for r in window if r["status"] == "COMPLETED"]
        p50 = f"{statistics.median(done):6.2f}" if done else "     -"
        top = f"{max(done):6.2f}" if done else "     -"
        print(f"{job:22} {len(window):3d} triggered, {len(done):3d} completed, "
              f"{sum(r['status'] == 'FAILED' for r in window)} failed, "
              f"{sum('UNALIGNED' in (r['type'] or '') for r in window):2d} unaligned; "
              f"e2e p50 {p50} s, max {top} s; longest without a completed checkpoint "
              f"{longest:5.0f} s; in-flight saved max "
              f"{max([r['persisted'] or 0 for r in window] or [0]) / 1024:.0f} KiB")


if __name__ == "__main__":
    main()

"""NiFi's CPU per step of each run of ab.sh, and per request, the designs side by side.

usage: python summarize.py   (in this folder, after ab.sh)
"""
import json
import statistics
from pathlib import Path


def main() -> None:
    here = Path(__file__).parent
    by_design: dict[str, list[float]] = {}
    print(f"{'run':<12} {'step':>4} {'req/s':>6} {'NiFi cores':>10} {'NiFi ms/request':>15} "
          f"{'TaskManager':>11} {'row p99 s':>9}")
    for run in sorted(p for p in here.iterdir() if p.is_dir() and p.name.startswith("run-")):
        steps = json.loads((run / "summary.json").read_text())["steps"]
        for n, step in enumerate(steps, 1):
            requests = step["bodies"] / step["seconds"]
            nifi = step["cores"]["nifi"]
            per_request = 1000 * nifi / requests
            if n == 2:  # the first step warms NiFi's JIT after its restart
                by_design.setdefault(run.name.split("-")[-1], []).append(per_request)
            print(f"{run.name:<12} {n:>4} {requests:>6.1f} {nifi:>10.2f} {per_request:>15.2f} "
                  f"{step['cores']['flink taskmanager']:>11.2f} {step['row_p99_s']:>9.2f}")
    for design, values in by_design.items():
        print(f"{design}: NiFi ms of CPU per request in the second steps "
              f"{', '.join(f'{v:.2f}' for v in values)} (mean {statistics.mean(values):.2f})")
    if {"old", "new"} <= by_design.keys():
        print(f"new / old: {statistics.mean(by_design['new']) / statistics.mean(by_design['old']):.2f}")


if __name__ == "__main__":
    main()

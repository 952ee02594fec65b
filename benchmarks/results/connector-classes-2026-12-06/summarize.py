"""One line per run of ab.sh: the TaskManager mid-run (tm_sample.py) and, from the pipeline's
summary.json, freshness to the live profile row per third of the step and the servers' CPU.

    python summarize.py   # in this folder
"""
import json
from pathlib import Path


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q / 100 * len(values)))] if values else float("nan")


def thirds(probes: list[dict]) -> list[str]:
    """Row freshness p50 / p99 (s) per third of the step (a probe never seen counts 30 s)."""
    if not probes:
        return []
    start, end = probes[0]["sent_s"], probes[-1]["sent_s"]
    out = []
    for k in range(3):
        lo, hi = start + k * (end - start) / 3, start + (k + 1) * (end - start) / 3
        rows = [p["row_s"] if p.get("row_s") is not None else 30.0
                for p in probes if lo <= p["sent_s"] <= hi]
        out.append(f"{percentile(rows, 50):.2f}/{percentile(rows, 99):.2f}")
    return out


def main() -> None:
    for run in sorted(Path(".").glob("run-*"), key=lambda p: int(p.name.split("-")[1])):
        if not (run / "pipeline" / "summary.json").exists():
            continue  # still running
        tm = json.loads((run / "taskmanager.json").read_text())
        summary = json.loads((run / "pipeline" / "summary.json").read_text())
        step = summary["steps"][0]
        cores = step["cores"]
        print(f"{run.name:16s} JIT {tm['jit_cores']:.3f} + rest {tm['other_cores']:.3f} cores, "
              f"{tm['compiles_per_s']:5.1f} compiles/s, {tm['classes_loaded']:,} classes, "
              f"metaspace {tm['metaspace_mib']:.0f} MiB | step: TaskManager "
              f"{cores['flink taskmanager']:.2f}, NiFi {cores['nifi']:.2f}, Cassandra "
              f"{cores['cassandra']:.2f} cores; row p50/p99 s by thirds "
              f"{' '.join(thirds(summary['probes']))}; held {step['held']}")


if __name__ == "__main__":
    main()

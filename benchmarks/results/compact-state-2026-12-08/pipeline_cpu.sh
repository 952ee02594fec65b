#!/bin/bash
# One whole-pipeline run at a fixed rate (all eight jobs and the API, shoppers through NiFi):
# `bench pipeline` with a warm-up at that rate, then STEP seconds measured; prints the
# TaskManager's CPU per accepted event, every server's cores, freshness and lag growth. The jobs
# are cancelled at the end, so that the next design starts without the state this one wrote.
# usage: pipeline_cpu.sh RATE [STEP] [WARMUP] [OUT]   (from the repository root, the stack up;
# as ab.sh's RUN: RUN="benchmarks/results/compact-state-2026-12-08/pipeline_cpu.sh" ab.sh ...)
set -e
rate=$1; step=${2:-180}; warmup=${3:-120}
out=${4:-$(mktemp -d /tmp/pipeline-cpu-XXXX)}
.venv/bin/personastream bench pipeline --rates "$rate" --step "$step" --warmup "$warmup" \
    --out "$out" > "$out/log" 2>&1 || true
for job in land_events score_trends build_profiles assign_segments live_activity \
           merge_customers attribute_experiments evaluate_promotions; do
    .venv/bin/personastream jobs cancel "$job" > /dev/null 2>&1 || true
done
.venv/bin/python - "$out" <<'PY'
import json, sys
out = sys.argv[1]
step = json.load(open(f"{out}/summary.json"))["steps"][0]
events_per_s = step["accepted_events"] / step["seconds"]
cores = {k: v for k, v in step["cores"].items() if v}
tm = cores["flink taskmanager"]
print(f"{out}: accepted {events_per_s:.0f} events/s; TaskManager {tm:.3f} cores = "
      f"{tm / events_per_s * 1e6:.0f} us/event; all servers {sum(cores.values()):.2f} cores "
      f"({sum(cores.values()) / events_per_s * 1e6:.0f} us/event)")
print("  cores: " + ", ".join(f"{k} {v:.2f}" for k, v in sorted(cores.items(), key=lambda kv: -kv[1])
                             if v >= 0.01))
print(f"  row p50/p99 {step['row_p50_s']:.2f}/{step['row_p99_s']:.2f} s, api p99 "
      f"{step['api_p99_s']:.2f} s, probes {step['probes_seen']}/{step['probes']}, held "
      f"{step['held']}, lag growth {step['lag_growth']}")
PY

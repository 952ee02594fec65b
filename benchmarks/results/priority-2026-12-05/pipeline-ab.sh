#!/bin/bash
# bench pipeline with the local TaskManagers at niceness 0 (every server alike) and at the
# default flink_taskmanager_nice (10), alternating, ROUNDS rounds; `stack up flink` applies a
# changed niceness to the running TaskManagers without a restart (the jobs keep running).
# usage: pipeline-ab.sh ROUNDS RATES STEP   (from the repository root; results in OUT)
set -e
rounds=${1:-2}; rates=${2:-200,300}; step=${3:-60}
out=${OUT:-benchmarks/results/priority-2026-12-05}
for round in $(seq "$rounds"); do
    for nice in 0 10; do
        echo "== round $round, TaskManagers at niceness $nice"
        PERSONASTREAM_FLINK_TASKMANAGER_NICE=$nice .venv/bin/personastream stack up flink >/dev/null
        .venv/bin/personastream bench pipeline --rates "$rates" --step "$step" \
            --out "$out/pipeline-nice$nice-round$round" | tail -n 25
    done
done
.venv/bin/personastream stack up flink >/dev/null  # back to the setting

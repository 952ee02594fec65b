#!/bin/bash
# bench pipeline with the process-mode Python workers (children of the TaskManager: the jobs
# whose Python runs outside its JVM, e.g. build_profiles and assign_segments with their
# per-minute windows) at niceness NICE, against the TaskManager's own (10) in which
# live_activity's folds run: one step per run, designs in the order given, a renice loop every
# 2 s while a run with a niceness other than "same" lasts.
# usage: pipeline-worker-nice.sh "19 same 19 same" RATE STEP_S OUT_DIR   (from the repo root)
set -e
order=${1:-"19 same"}; rate=${2:-800}; step=${3:-120}; out=${4:-/tmp/worker-nice}
for nice in $order; do
    run_out="$out/$nice-$(date +%H%M%S)"
    mkdir -p "$run_out"
    if [ "$nice" != same ]; then
        ( while sleep 2; do
            tm=$(pgrep -f TaskManagerRunner) || continue
            for pid in $(pgrep -P "$tm"); do
                for task in /proc/$pid/task/*; do renice -n "$nice" -p "${task##*/}" >/dev/null 2>&1 || true; done
            done
          done ) & loop=$!
    fi
    .venv/bin/personastream bench pipeline --rates "$rate" --step "$step" --out "$run_out" \
        > "$run_out/report.txt" 2>"$run_out/progress.txt" || true
    [ -n "$loop" ] && kill "$loop" && loop=
    echo "== workers at niceness $nice"
    grep -A2 "^events/s accepted" "$run_out/report.txt" | head -2
done

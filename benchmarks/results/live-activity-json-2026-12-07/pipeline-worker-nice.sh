#!/bin/bash
# bench pipeline with the process-mode Python workers (children of the TaskManager: the jobs
# whose Python runs outside its JVM, e.g. build_profiles and assign_segments with their
# per-minute windows) at niceness NICE, against the TaskManager's own (10) in which
# live_activity's folds run: one step per run, designs in the order given, a renice loop every
# 2 s (every thread of the TaskManager's descendants) while a run lasts; 10 is the
# TaskManager's own niceness (flink_taskmanager_nice), i.e. as the stack runs them.
# usage: pipeline-worker-nice.sh "19 10 19 10" RATE STEP_S OUT_DIR   (from the repo root)
set -e
order=${1:-"19 10"}; rate=${2:-800}; step=${3:-120}; out=${4:-/tmp/worker-nice}
for nice in $order; do
    run_out="$out/$nice-$(date +%H%M%S)"
    mkdir -p "$run_out"
    ( while sleep 2; do
        tm=$(pgrep -f TaskManagerRunner) || continue
        .venv/bin/python -c "import sys; from personastream_stack.priority import process_tree, renice
renice([p for p in process_tree(int(sys.argv[1])) if p != int(sys.argv[1])], int(sys.argv[2]))" \
            "$tm" "$nice" >/dev/null 2>&1 || true
      done ) & loop=$!
    .venv/bin/personastream bench pipeline --rates "$rate" --step "$step" --out "$run_out" \
        > "$run_out/report.txt" 2>"$run_out/progress.txt" || true
    kill "$loop"
    echo "== workers at niceness $nice"
    grep -A2 "^events/s accepted" "$run_out/report.txt" | head -2
done

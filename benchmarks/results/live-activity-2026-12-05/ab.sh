#!/bin/bash
# live_activity before/after, each design in a freshly restarted Flink cluster (a TaskManager's
# one embedded Python interpreter imports a module once, so two designs of a thread-mode job
# cannot share one), RUNS runs per restart (the first ones warm the JIT up), designs alternating.
# usage: ab.sh REV ROUNDS EVENTS RUNS   (from the repository root; results on stdout)
set -e
rev=${1:-7317fc9}; rounds=${2:-2}; events=${3:-30000}; runs=${4:-2}
old=$(mktemp -d /tmp/live-activity-base-XXXX)
git archive "$rev" | tar -x -C "$old"
old_path="$old/flink-udfs:$old/models:$old/contracts:$old/deploy:$old/benchmarks:$old/serving:$old/nifi-flows"
bench() {
    .venv/bin/personastream bench jobs --jobs live_activity --events "$events" --baseline none \
        | grep -A4 "^live_activity this tree" | sed "s/this tree/$1    /"
}
for round in $(seq "$rounds"); do
    for design in "baseline $rev" "this tree"; do
        .venv/bin/personastream stack down flink >/dev/null && .venv/bin/personastream stack up flink >/dev/null
        for run in $(seq "$runs"); do
            echo "== round $round, $design, run $run (after a Flink restart)"
            if [ "$design" = "this tree" ]; then bench "new"; else PYTHONPATH=$old_path bench "old"; fi
        done
    done
done
rm -rf "$old"

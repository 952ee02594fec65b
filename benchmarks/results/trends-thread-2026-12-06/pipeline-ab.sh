#!/bin/bash
# bench pipeline with score_trends as the tree's design (thread mode, keyed in Java) and as
# REV's (a Python process), in the order given, e.g. "tree 3c37385 3c37385 tree"; the other
# jobs keep running. usage (from the repository root): pipeline-ab.sh "DESIGNS" RATES STEP
set -e
designs=${1:-"tree 3c37385 3c37385 tree"}; rates=${2:-200,300}; step=${3:-60}
out=${OUT:-benchmarks/results/trends-thread-2026-12-06}
here=$(dirname "$0"); n=0
for design in $designs; do
    n=$((n + 1))
    echo "== run $n: score_trends as $design"
    .venv/bin/python "$here/submit.py" "$design" | tail -n 1
    .venv/bin/personastream bench pipeline --rates "$rates" --step "$step" \
        --out "$out/pipeline-$n-$design" | tail -n 25
done

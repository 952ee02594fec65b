#!/bin/bash
# score_trends with items' detectors that learned thousands of windows: REV's FILE (default
# models/personastream_models/sequence.py) against this tree's, each design in a freshly restarted
# Flink cluster (the TaskManager's one embedded Python interpreter imports a module once, from
# the working tree), RUNS runs per restart, designs alternating, ROUNDS rounds. REV's file is put
# in the working tree for its runs and the tree's put back after. Extra arguments: `bench jobs`'s.
# usage (from the repository root): [FILE=...] ab.sh REV ROUNDS RUNS [bench jobs options]
set -e
rev=$1; rounds=$2; runs=$3; shift 3
file=${FILE:-models/personastream_models/sequence.py}
saved=$(mktemp)
cp "$file" "$saved"
trap 'cp "$saved" "$file"; rm -f "$saved"' EXIT
for round in $(seq "$rounds"); do
    for design in "$rev" tree; do
        if [ "$design" = tree ]; then cp "$saved" "$file"
        else git show "$design:$file" > "$file"; fi
        .venv/bin/personastream stack down flink >/dev/null
        .venv/bin/personastream stack up flink >/dev/null
        for run in $(seq "$runs"); do
            echo "== round $round, $file of $design, run $run after a Flink restart"
            .venv/bin/personastream bench jobs --jobs score_trends --baseline none "$@" 2>&1 \
                | grep -E "^score_trends|busy +[0-9]+% +score_item_views|us/window|bare|Flink:"
        done
    done
done

#!/bin/bash
# bench pipeline with REV's files and the tree's (FILES, as ab.sh), in the order given: each
# design's files swapped into the working tree, Flink restarted (its embedded Python imports a
# module once) and every job resubmitted by the first bench, a warm-up bench (WARMUP rates,
# the JIT compiling the jobs' new code), then the measured one. Tree files put back at the end.
# usage: [FILES=...] pipeline-ab.sh REV "old new old new" RATES STEP   (from the repository root)
set -e
rev=${1:-HEAD}; order=${2:-"old new"}; rates=${3:-600,800}; step=${4:-120}
warmup=${WARMUP:-300,450}
files=${FILES:-$(git diff --name-only "$rev" -- flink-udfs models contracts)}
out=${OUT:-/tmp/live-activity-pipeline}
saved=$(mktemp -d /tmp/live-activity-tree-XXXX)
for f in $files; do mkdir -p "$saved/$(dirname "$f")"; cp "$f" "$saved/$f"; done
restore() { for f in $files; do cp "$saved/$f" "$f"; done; rm -rf "$saved"; }
trap restore EXIT
n=0
for design in $order; do
    n=$((n + 1))
    for f in $files; do
        if [ "$design" = old ]; then git show "$rev:$f" > "$f"; else cp "$saved/$f" "$f"; fi
    done
    for job in land_events score_trends build_profiles assign_segments live_activity \
            merge_customers attribute_experiments evaluate_promotions; do
        .venv/bin/personastream jobs cancel "$job" >/dev/null 2>&1 || true
    done
    .venv/bin/personastream stack down flink >/dev/null && .venv/bin/personastream stack up flink >/dev/null
    echo "== run $n: $design ($([ "$design" = old ] && echo "$rev" || echo tree)), warm-up $warmup"
    .venv/bin/personastream bench pipeline --rates "$warmup" --step 60 --out "$out/warmup-$n-$design" \
        | grep -A3 "^events/s accepted" | cut -c1-200
    echo "== run $n: $design, measured"
    .venv/bin/personastream bench pipeline --rates "$rates" --step "$step" --out "$out/run-$n-$design" \
        | grep -v "waiting for the jobs" | tail -n 16
done

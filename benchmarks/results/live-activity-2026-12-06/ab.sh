#!/bin/bash
# live_activity before/after in one run: each design's files swapped into the working tree
# (the editable install's import hook ignores PYTHONPATH), Flink restarted for each design (a
# TaskManager's one embedded Python interpreter imports a module once), RUNS runs per restart
# (the first warms the JIT up), designs alternating. The tree's files are put back at the end.
# usage: [FILES="a.py b.py"] [RUN="command"] ab.sh REV "old new old new" EVENTS RUNS   (from
# the repository root; results on stdout; FILES: the files that differ, default: git diff REV;
# RUN: what to run instead of `bench jobs`, given EVENTS as its argument)
set -e
rev=${1:-HEAD}; order=${2:-"old new old new"}; events=${3:-100000}; runs=${4:-3}
files=${FILES:-$(git diff --name-only "$rev" -- flink-udfs models contracts)}
saved=$(mktemp -d /tmp/live-activity-tree-XXXX)
for f in $files; do mkdir -p "$saved/$(dirname "$f")"; cp "$f" "$saved/$f"; done
restore() { for f in $files; do cp "$saved/$f" "$f"; done; rm -rf "$saved"; }
trap restore EXIT
for design in $order; do
    for f in $files; do
        if [ "$design" = old ]; then git show "$rev:$f" > "$f"; else cp "$saved/$f" "$f"; fi
    done
    .venv/bin/personastream stack down flink >/dev/null && .venv/bin/personastream stack up flink >/dev/null
    for run in $(seq "$runs"); do
        echo "== $design ($([ "$design" = old ] && echo "$rev" || echo tree)), run $run after a Flink restart"
        if [ -n "$RUN" ]; then $RUN "$events"; continue; fi
        .venv/bin/personastream bench jobs --jobs live_activity --events "$events" --baseline none \
            | grep -A5 "^live_activity this tree" | sed "s/this tree/$design      /"
    done
done

#!/usr/bin/env bash
# The TaskManager's JIT compilers, tiered (C1 then C2, the JVM's default) against C1 alone, on
# the whole running stack: for each, Flink is restarted (the reconciler resubmits the declared
# jobs from their checkpoints), then `bench pipeline` at RATE events/s for 240 s twice, starting
# EARLY and LATE minutes after the jobs run again, with the TaskManager's threads sampled for
# 60 s in the middle of each (threads.py).
#   compiler-ab.sh "tiered c1" [RATE] [EARLY] [LATE]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
ps=${PERSONASTREAM:-personastream}
rate=${2:-150}; early=${3:-4}; late=${4:-15}
running() { "$ps" jobs list 2>/dev/null | grep -c RUNNING || true; }
for compiler in $1; do
  export PERSONASTREAM_FLINK_TASKMANAGER_COMPILER=$compiler
  "$ps" stack down flink && "$ps" stack up flink
  until [ "$(running)" -ge 8 ]; do sleep 10; done
  up=$(date +%s)
  echo "$compiler: 8 jobs running at $(date -u +%T)"
  for phase in early:$early late:$late; do
    name=${phase%%:*}; at=$(( up + ${phase##*:} * 60 ))
    while [ "$(date +%s)" -lt "$at" ]; do sleep 5; done
    out="$here/$compiler-$name"
    "$ps" bench pipeline --rates "$rate" --step 240 --out "$out" > "$out.log" 2>&1 &
    bench=$!
    until grep -q "step 1/1" "$out.log" 2>/dev/null; do sleep 2; done
    sleep 90
    python "$here/threads.py" 60 15 > "$out-threads.txt"
    wait "$bench"
    echo "$compiler $name: $(grep -A1 '^events/s accepted' "$out.log" | tail -1)"
  done
done

#!/usr/bin/env bash
# The connectors' classes per job against shared (setting flink_connector_classes), each
# design on a freshly restarted Flink cluster with the declared jobs resubmitted by the
# reconciler, then the whole pipeline at a fixed rate; the TaskManager sampled mid-run.
#   ab.sh "per-job shared per-job shared" RATE STEP_S SKIP_S WINDOW_S
set -euo pipefail
cd "$(dirname "$0")"
here=$(pwd); ps=/work/main/.venv/bin/personastream
[ -x "$ps" ] || ps=personastream
i=0
for design in $1; do
  i=$((i + 1)); out="$here/run-$i-$design"; mkdir -p "$out"
  export PERSONASTREAM_FLINK_CONNECTOR_CLASSES=$design
  $ps stack down flink >/dev/null
  $ps stack up flink >/dev/null
  for _ in $(seq 300); do
    [ "$($ps jobs list 2>/dev/null | grep -c RUNNING)" -ge 8 ] && break; sleep 2
  done
  python3 tm_sample.py 5 > "$out/jobs-running.json"
  $ps bench pipeline --rates "$2" --step "$3" --out "$out/pipeline" > "$out/pipeline.txt" 2>&1 &
  bench=$!
  sleep "$4"
  python3 tm_sample.py "$5" > "$out/taskmanager.json"
  wait $bench
  echo "run $i $design: $(cat "$out/jobs-running.json")"
  echo "  mid-run: $(cat "$out/taskmanager.json")"
  grep -E "^ *$2 " "$out/pipeline.txt" | head -3 || true
done

#!/usr/bin/env bash
# bench pipeline with Flink's buffer debloating at each target (ms; 0: off, Flink's default),
# each on a Flink cluster restarted with it (the reconciler resubmits the eight jobs from their
# checkpoints), measured the same minutes after the restart.
#   debloat-ab.sh "500 0 500" 200,300 90
set -euo pipefail
targets=${1:-"500 0 500"}; rates=${2:-200,300}; step=${3:-90}
here=$(cd "$(dirname "$0")" && pwd)
n=${START:-0}
for ms in $targets; do
  n=$((n + 1))
  export PERSONASTREAM_FLINK_BUFFER_DEBLOAT_TARGET_MS=$ms
  echo "== run $n: flink_buffer_debloat_target_ms=$ms ($(date -u +%H:%M:%S))"
  personastream stack down flink >/dev/null && personastream stack up flink >/dev/null
  until [ "$(personastream jobs list 2>/dev/null | grep -c RUNNING)" -ge 8 ]; do sleep 10; done
  echo "eight jobs RUNNING at $(date -u +%H:%M:%S)"
  personastream bench pipeline --rates "$rates" --step "$step" --out "$here/debloat-$n-$ms" 2>&1 \
    | grep -v '^\[' || true
done

#!/usr/bin/env bash
# bench pipeline with the probes polling every 20 ms throughout (0.02, as before) and backing
# off once late (0.5), alternating, on the same running stack.
#   probe-ab.sh "0.02 0.5 0.02 0.5" 200,300 60
set -euo pipefail
variants=${1:-"0.02 0.5 0.02 0.5"}; rates=${2:-200,300}; step=${3:-60}
here=$(cd "$(dirname "$0")" && pwd)
n=${START:-0}
for v in $variants; do
  n=$((n + 1))
  echo "== run $n: --probe-poll-max $v"
  personastream bench pipeline --rates "$rates" --step "$step" --probe-poll-max "$v" \
    --out "$here/probe-$n-$v" 2>&1 | grep -v '^\[bench\] waiting\|^\[' || true
done

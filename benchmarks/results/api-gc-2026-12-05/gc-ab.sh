#!/bin/bash
# One API worker without and with gc.freeze() at startup, alternating ROUNDS times, each under
# vegeta at 500 req/s for 20 s (GET /v1/recommendations of 1,000 customers with live profiles,
# the stack up): vegeta's latencies and the worker's garbage collections.
# usage: gc-ab.sh ROUNDS   (from the repository root, `personastream stack up` and data first)
set -e
rounds=${1:-2}; port=18101; here=$(dirname "$0")
export PATH=$PATH:$(go env GOPATH)/bin
.venv/bin/python - "$port" > /tmp/gc-ab-targets.txt <<'PY'
import sys
from personastream_bench.api_load import recommendation_paths, users_with_profiles
from personastream_contracts.settings import resolve
for path in recommendation_paths(users_with_profiles(resolve(), 1000), 10):
    print(f"GET http://127.0.0.1:{sys.argv[1]}{path}\n")
PY
for round in $(seq "$rounds"); do
    for mode in plain freeze; do
        .venv/bin/python "$here/gc_serve.py" "$mode" "$port" 40 > /tmp/gc-ab-$mode.out 2>&1 &
        sleep 12
        echo "== round $round, $mode"
        vegeta attack -targets /tmp/gc-ab-targets.txt -rate 500/1s -duration 20s \
            | vegeta report -type text | grep -E "Latencies|Success"
        wait
        grep generation /tmp/gc-ab-$mode.out
    done
done

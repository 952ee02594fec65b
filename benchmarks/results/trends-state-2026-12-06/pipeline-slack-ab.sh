#!/bin/bash
# The whole pipeline (bench pipeline: every job, the API, shoppers through NiFi) with the local
# Cassandra's timer slack at each of SLACKS (µs, cassandra_timer_slack_us), in that order:
# Cassandra restarted with it, 60 s to settle, then RATES for STEP s each.
# usage (from the repository root): pipeline-slack-ab.sh "0 500 0 500" 200 120
set -e
slacks=$1; rates=$2; step=$3; n=0
for slack in $slacks; do
    n=$((n + 1))
    export PERSONASTREAM_CASSANDRA_TIMER_SLACK_US=$slack
    .venv/bin/personastream stack down cassandra >/dev/null
    .venv/bin/personastream stack up >/dev/null
    sleep 60
    out=benchmarks/results/trends-state-2026-12-06/pipeline-$n-slack-$slack
    echo "== run $n: cassandra_timer_slack_us=$slack"
    .venv/bin/personastream bench pipeline --rates "$rates" --step "$step" --out "$out" 2>&1 \
        | grep -vE "^\[(bench|pipeline)\] (second|t=)" | tail -25
done

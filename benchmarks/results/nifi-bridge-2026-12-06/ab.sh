#!/bin/bash
# NiFi's Python processors before (REV's) and after TransformResult (one py4j call for a
# result's attributes), alternating: the processors of each design put in the working tree (the
# editable install maps the package there; this tree's are restored on exit), NiFi restarted
# (`stack up nifi` builds its bundle from them), then `bench pipeline` at RATE events/s, two
# steps of STEP s (the first warms NiFi's JIT; the second is compared).
# usage: ab.sh REV "old new old new" RATE STEP   (from the repository root, stack up)
set -e
rev=$1; order=$2; rate=${3:-150}; step=${4:-120}; here=$(dirname "$0"); n=0
processors=nifi-flows/personastream_flows/processors
saved=$(mktemp -d)
cp $processors/PublishToKafka.py $processors/ValidateEnrichEvents.py "$saved"
trap 'cp "$saved"/*.py $processors/' EXIT
for design in $order; do
    n=$((n + 1))
    if [ "$design" = old ]; then
        for f in PublishToKafka.py ValidateEnrichEvents.py; do
            git show "$rev:$processors/$f" > "$processors/$f"
        done
    else
        cp "$saved"/*.py $processors/
    fi
    echo "== run $n: $design ($(date -u +%H:%M:%S))"
    .venv/bin/personastream stack down nifi > /dev/null
    .venv/bin/personastream stack up nifi 2>&1 | tail -1
    echo "deployed PublishToKafka imports TransformResult: $(grep -c "results import" \
        "$HOME/.local/state/personastream/nifi/python-extensions/PublishToKafka.py" || true)"
    .venv/bin/personastream bench pipeline --rates "$rate,$rate" --step "$step" \
        --out "$here/run-$n-$design" 2>&1 | grep -v "^\[" | tee "$here/run-$n-$design.txt" | head -4
done

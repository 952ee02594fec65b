#!/bin/bash
# A/B of the merge's yield: $1 = order label list e.g. "old new new old"
cd /work/main
cp nifi-flows/personastream_flows/ingest.json /tmp/ingest.final.json
git show HEAD:nifi-flows/personastream_flows/ingest.json > /tmp/ingest.old.json
for v in $1; do
  cp /tmp/ingest.$v.json nifi-flows/personastream_flows/ingest.json
  .venv/bin/personastream flows deploy 2>&1 | tail -1
  .venv/bin/personastream bench pipeline --rates 50,100 --step 45 --out /tmp/ab-$v-$(date +%H%M%S) 2>&1 | grep -a -A3 "^events/s accepted" | head -4
done
cp /tmp/ingest.final.json nifi-flows/personastream_flows/ingest.json
.venv/bin/personastream flows deploy 2>&1 | tail -1

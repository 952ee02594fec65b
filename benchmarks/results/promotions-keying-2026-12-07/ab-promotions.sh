#!/bin/bash
# evaluate_promotions keyed in Java vs by a Python lambda: TaskManager CPU per event in the whole
# pipeline at a fixed rate, Flink restarted per design. usage: ab-promotions.sh REV "old new old new" RATE STEP OUT
set -e
rev=$1; order=$2; rate=$3; step=$4; out=$5
f=flink-udfs/personastream_flink/evaluate_promotions.py
saved=$(mktemp /tmp/ep-XXXX.py); cp $f $saved
trap 'cp $saved $f' EXIT
n=0
for design in $order; do
  n=$((n+1))
  if [ $design = old ]; then git show $rev:$f > $f; else cp $saved $f; fi
  .venv/bin/personastream stack down flink >/dev/null && .venv/bin/personastream stack up flink >/dev/null
  mkdir -p $out/$n-$design
  .venv/bin/personastream bench pipeline --rates 100 --step 30 --out $out/$n-$design/warm > $out/$n-$design/warm.log 2>&1 || true
  TM=$(pgrep -f TaskManagerRunner)
  ( sleep 10; .venv/bin/python benchmarks/results/promotions-keying-2026-12-07/threads.py $TM /usr/lib/jvm/java-17-openjdk-amd64/bin/jcmd $((step-20)) $out/$n-$design/threads.jsonl ) &
  .venv/bin/personastream bench pipeline --rates $rate --step $step --out $out/$n-$design > $out/$n-$design/log 2>&1 || true
  wait
  echo "== $n $design"; grep -A1 "events/s accepted" $out/$n-$design/log | tail -1 | cut -c1-200
  python3 - $out/$n-$design <<'PY'
import json, sys, collections
d = sys.argv[1]
s = json.load(open(d + '/summary.json'))
st = s['steps'][0]; tm = st['cores']['flink taskmanager']
ev = st['accepted_events'] / st['seconds']
print('accepted %.0f events/s; TM %.3f cores = %.0f us/event; all servers %.2f cores' % (ev, tm, tm / ev * 1e6, sum(v for v in st['cores'].values() if v)))
rows = [json.loads(l) for l in open(d + '/threads.jsonl')]
secs = rows[-1]['t'] - rows[0]['t'] + 1
tot = collections.Counter()
for r in rows:
    for k, v in r['cpu'].items(): tot[k[:60]] += v
for k, v in tot.most_common(6): print('   %6.0f us/event  %s' % (v / secs / ev * 1e6, k))
PY
done

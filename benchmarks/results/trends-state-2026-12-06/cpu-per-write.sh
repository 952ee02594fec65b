#!/bin/bash
# Cassandra's CPU per write while score_trends drains a backlog: `bench jobs` in the background,
# then over 20 s of the job's run the CPU time of Cassandra and of the TaskManager (/proc) and
# Cassandra's count of client writes (its JMX exporter). Extra arguments go to `bench jobs`.
# usage (from the repository root): cpu-per-write.sh [bench jobs options]
# e.g. cpu-per-write.sh --detector-version 4-1-0 --items 10 --windows 8000 --events 300000
set -e
log=$(mktemp)
cassandra=$(pgrep -o -f CassandraDaemon); taskmanager=$(pgrep -o -f TaskManagerRunner)
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
writes() {
    local metric='org_apache_cassandra_metrics_clientrequest_count{name="Latency",scope="Write"}'
    curl -s "127.0.0.1:${PERSONASTREAM_CASSANDRA_METRICS_PORT:-9410}/metrics" \
        | awk -v m="$metric" '$1 == m {print $2}'
}
.venv/bin/personastream bench jobs --jobs score_trends --baseline none "$@" > "$log" 2>&1 &
until grep -q "RUNNING; waiting" "$log"; do sleep 1; done
sleep 4
c1=$(cpu "$cassandra"); t1=$(cpu "$taskmanager"); w1=$(writes)
sleep 20
c2=$(cpu "$cassandra"); t2=$(cpu "$taskmanager"); w2=$(writes)
wait
python3 -c "
c, t, w = ($c2 - $c1) / 100, ($t2 - $t1) / 100, $w2 - $w1
print(f'cassandra {c / 20:.2f} cores, taskmanager {t / 20:.2f} cores, {w / 20:,.0f} writes/s, '
      f'cassandra {c / w * 1e6:.0f} us CPU per write')"
grep -E "^score_trends|busy time" "$log"
rm -f "$log"

"""Per-hop latency of single events: send -> NiFi receipt -> Kafka record time (NiFi's
producer) -> land_events read (landed_at) -> live_profiles row write time."""
import sys, time, uuid, statistics
from confluent_kafka import Consumer, TopicPartition
from personastream_contracts.settings import resolve
from personastream_contracts.cassandra import keyspace, session
from personastream_bench import traffic


def main():
    s = resolve()
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    c = Consumer({"bootstrap.servers": s.kafka_bootstrap_servers, "group.id": f"hops-{uuid.uuid4().hex}",
                  "enable.auto.commit": False, "fetch.wait.max.ms": 5})
    topic = s.topic_events_enriched
    meta = c.list_topics(topic, timeout=10).topics[topic]
    parts = []
    for p in meta.partitions:
        lo, hi = c.get_watermark_offsets(TopicPartition(topic, p))
        parts.append(TopicPartition(topic, p, hi))
    c.assign(parts)
    rows = []
    ks = keyspace(s)
    with session(s) as cql:
        landed_q = cql.prepare(f"SELECT received_at, landed_at FROM {ks}.events_by_user WHERE user_key = ?")
        live_q = cql.prepare(f"SELECT WRITETIME(written_at) AS w FROM {ks}.live_profiles WHERE user_key = ?")
        for i in range(n):
            user = f"hop-{uuid.uuid4().hex[:10]}"
            ev = {"event_id": str(uuid.uuid4()), "event_type": "product_view", "schema_version": "1-0-0",
                  "user_id": user, "anonymous_id": f"d-{user}",
                  "client_ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                  "item_id": "hop-item", "category": "shoes", "brand": "acme", "price": 10.0}
            t0 = time.time()
            traffic.post_events(s.nifi_ingest_url, [ev], batch_size=1)
            t_ans = time.time()
            kafka_ts = None
            deadline = time.time() + 10
            while kafka_ts is None and time.time() < deadline:
                m = c.poll(0.01)
                if m is None or m.error():
                    continue
                if ev["event_id"].encode() in m.value():
                    kafka_ts = m.timestamp()[1] / 1000
                    seen = time.time()
            land = None
            while time.time() < deadline:
                land = cql.execute(landed_q, [f"user:{user}"]).one() or cql.execute(landed_q, [user]).one()
                live = cql.execute(live_q, [f"user:{user}"]).one() or cql.execute(live_q, [user]).one()
                if land and live:
                    break
                time.sleep(0.02)
            import calendar
            ts = lambda d: calendar.timegm(d.timetuple()) + d.microsecond / 1e6
            rows.append({"answer": t_ans - t0, "received": ts(land.received_at) - t0 if land else None,
                         "kafka": kafka_ts - t0 if kafka_ts else None, "consumer": seen - t0 if kafka_ts else None,
                         "landed": ts(land.landed_at) - t0 if land else None,
                         "live": live.w / 1e6 - t0 if land and live else None})
            time.sleep(0.3)
    for k in ["answer", "received", "kafka", "consumer", "landed", "live"]:
        xs = sorted(r[k] for r in rows if r[k] is not None)
        print(f"{k:9} n={len(xs)} p50 {statistics.median(xs)*1000:7.1f} ms  p90 {xs[int(0.9*(len(xs)-1))]*1000:7.1f} ms  max {xs[-1]*1000:7.1f} ms")


if __name__ == "__main__":
    main()

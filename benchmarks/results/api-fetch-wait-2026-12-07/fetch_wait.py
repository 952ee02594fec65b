"""What the API's topic followers' ``fetch.wait.max.ms`` costs Kafka idle, and what it changes in
how soon a record reaches a follower: N followers configured as
``personastream_serving.profile_replica.ProfileFollower`` (assigned to every partition of the
three followed topics at their end, in a thread), idle for S s per phase, phases alternating
(none / each variant), the broker's CPU (its process tree) and this process's measured per
phase; then, per variant alternating, R records produced 100 ms apart to a scratch topic and
the time until a follower of it receives each. A variant is ``fetch.wait.max.ms`` and how the
thread reads: ``batch`` = ``consume(500, timeout=0.2)`` (librdkafka waits for 500 records or
the timeout), ``drain`` = ``poll(0.2)`` then ``consume(500, timeout=0)`` for what is queued
(the follower's own ``profile_replica._next_records``).

Run with the stack up and the API stopped (`personastream serve --stop`; its own followers
would add to every phase):
    .venv/bin/python benchmarks/results/api-fetch-wait-2026-12-07/fetch_wait.py 6 45 2 200
"""
from __future__ import annotations

import os
import statistics
import sys
import threading
import time
import uuid


def main(n_followers: int, phase_s: float, rounds: int, records: int) -> None:
    from confluent_kafka import Consumer, Producer, TopicPartition
    from confluent_kafka.admin import NewTopic

    from personastream_bench.load import cpu_seconds
    from personastream_contracts.settings import resolve
    from personastream_serving.profile_replica import _next_records
    from personastream_stack import lifecycle
    from personastream_stack.kafka import admin_client
    from personastream_stack.priority import process_tree

    s = resolve()
    topics = [s.topic_live_profiles, s.topic_cdc_customers, s.topic_offers]
    broker = lifecycle.COMPONENTS["kafka"](s).daemons[0].running_pid()
    def follower(variant, topic: str, stop: threading.Event, got=None) -> threading.Thread:
        wait_ms, mode = variant
        consumer = Consumer({"bootstrap.servers": s.kafka_bootstrap_servers,
                             "group.id": "fetch-wait-bench", "enable.auto.commit": False,
                             "enable.partition.eof": True, "fetch.wait.max.ms": wait_ms,
                             "log_level": 0})
        parts = consumer.list_topics(topic, timeout=5).topics[topic].partitions
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=5)[1]
                for p in parts}
        consumer.assign([TopicPartition(topic, p, ends[p]) for p in parts])

        def run():
            while not stop.is_set():
                msgs = (consumer.consume(500, timeout=0.2) if mode == "batch"
                        else _next_records(consumer))
                for msg in msgs:
                    if got is not None and not msg.error():
                        got.append((time.time(), float(msg.value())))
            consumer.close()
        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread

    variants = [None, (20, "batch"), (500, "batch"), (500, "drain")]
    idle = {v: [] for v in variants}
    for r in range(rounds):
        for wait_ms in variants:
            stop = threading.Event()
            threads = [] if wait_ms is None else [
                follower(wait_ms, topics[i % len(topics)], stop) for i in range(n_followers)]
            time.sleep(3)  # assigned and fetching
            b0, m0, t0 = (cpu_seconds(process_tree(broker)), cpu_seconds([os.getpid()]),
                          time.monotonic())
            time.sleep(phase_s)
            b1, m1, t1 = (cpu_seconds(process_tree(broker)), cpu_seconds([os.getpid()]),
                          time.monotonic())
            stop.set()
            for t in threads:
                t.join(5)
            idle[wait_ms].append(((b1 - b0) / (t1 - t0), (m1 - m0) / (t1 - t0)))
            print(f"round {r + 1} {wait_ms}: broker {idle[wait_ms][-1][0]:.3f} "
                  f"cores, followers {idle[wait_ms][-1][1]:.3f}", flush=True)

    scratch = f"bench.fetch-wait.{uuid.uuid4().hex[:6]}"
    admin = admin_client(s)
    admin.create_topics([NewTopic(scratch, 4, 1)])[scratch].result(30)
    latency = {v: [] for v in variants[1:]}
    try:
        producer = Producer({"bootstrap.servers": s.kafka_bootstrap_servers, "linger.ms": 0})
        for r in range(rounds):
            for wait_ms in variants[1:]:
                stop, got = threading.Event(), []
                thread = follower(wait_ms, scratch, stop, got)
                time.sleep(3)
                for i in range(records):
                    producer.produce(scratch, value=repr(time.time()).encode(), key=str(i))
                    producer.poll(0)
                    time.sleep(0.1)
                producer.flush(10)
                time.sleep(1)
                stop.set()
                thread.join(5)
                latency[wait_ms] += [(at - sent) * 1000 for at, sent in got]
                print(f"round {r + 1} {wait_ms}: {len(got)}/{records} "
                      f"received", flush=True)
    finally:
        admin.delete_topics([scratch])

    print(f"\n{n_followers} followers idle, {phase_s:.0f} s per phase, {rounds} rounds "
          "alternating (cores, mean of rounds):")
    for v in variants:
        broker_c = statistics.mean(b for b, _ in idle[v])
        mine = statistics.mean(m for _, m in idle[v])
        print(f"  {v}: broker {broker_c:.3f}, followers {mine:.3f}  "
              f"(rounds: {', '.join(f'{b:.3f}/{m:.3f}' for b, m in idle[v])})")
    print(f"produce -> follower, {records} records 100 ms apart per round:")
    for v, ms in latency.items():
        q = statistics.quantiles(ms, n=100)
        print(f"  {v}: n={len(ms)} p50 {q[49]:.1f} ms, p99 {q[98]:.1f} ms, "
              f"max {max(ms):.1f} ms")
    print("reproduce: .venv/bin/python benchmarks/results/api-fetch-wait-2026-12-07/"
          f"fetch_wait.py {n_followers} {phase_s:g} {rounds} {records}")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:5]))

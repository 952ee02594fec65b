"""`stack status` tells of a job that falls behind: its consumer lag, sampled by the stack's
reconciler every 10 s, keeps growing while events arrive faster than the job processes them."""
from __future__ import annotations

import time

from confluent_kafka import Producer

from personastream_bench import jobs
from personastream_stack import flink_jobs, lifecycle

#: Events per second sent: about three times what live_activity processes here (~2,000/s warm;
#: README, Measurements), for 100 s: its lag must keep growing for LAG_WINDOW_S (60 s).
RATE = 6000


def test_a_job_whose_lag_keeps_growing_is_reported_degraded(settings, healthy_stack):
    workload = jobs.build_workload(n_events=600_000, n_items=2000, n_windows=10,
                                   n_partitions=settings.kafka_partitions,
                                   window_s=settings.trends_window_s,
                                   watermark_s=settings.trends_watermark_s, seed=61)
    with jobs.isolated(settings, "live_activity") as (s, instance):
        info = flink_jobs.submit(s, "live_activity", instance=instance)
        producer = Producer({"bootstrap.servers": s.kafka_bootstrap_servers, "linger.ms": 20})
        started = checked = time.monotonic()
        sent, reported = 0, []
        while not reported and time.monotonic() - started < 200:
            due = min(int((time.monotonic() - started) * RATE), len(workload.records))
            for key, value in workload.records[sent:due]:
                producer.produce(s.topic_events_enriched, value=value, key=key)
            sent = due
            producer.poll(0)
            if time.monotonic() - checked > 5:
                checked = time.monotonic()
                flink = {h.component: h for h in lifecycle.status(s)}["flink"]
                reported = [p for p in flink.degraded if p.startswith(f"{info.name} falls behind")]
            time.sleep(0.05)
        assert producer.flush(30) == 0
    assert reported, f"no report of {info.name} falling behind after {sent:,} events"
    assert "its consumer lag grew from" in reported[0]

"""Records between live_activity's source and its profile fold: the source's records out minus
``update_live_profile``'s records in (the network buffers' contents), with the fold's input
queue metrics, every few seconds.

    python inflight.py [SAMPLES] [EVERY_S]
"""
import sys
import time

from personastream_contracts.settings import resolve
from personastream_stack.flink import rest_get
from personastream_stack.flink_jobs import active_job


def main():
    samples = int(sys.argv[1]) if len(sys.argv) > 1 else 12
    every = float(sys.argv[2]) if len(sys.argv) > 2 else 5
    settings = resolve()
    def get(p): return rest_get(settings, p)
    jid = active_job(settings, "live_activity").job_id
    vertices = {v["name"]: v["id"] for v in get(f"/jobs/{jid}")["vertices"]}
    source = next(v for n, v in vertices.items() if n.startswith("Source: events_enriched"))
    fold = next(v for n, v in vertices.items() if n.startswith("update_live_profile"))

    def metric(vid, names):
        got = get(f"/jobs/{jid}/vertices/{vid}/subtasks/metrics?get={','.join(names)}&agg=sum")
        return {m["id"]: m.get("sum") for m in got}

    print(f"{'t':>5} {'in flight':>9} {'fold in/s':>9} {'inputQueueLength':>16} "
          f"{'inPoolUsage':>11} {'fold busy':>9}")
    t0, last = time.time(), None
    for _ in range(samples):
        out = metric(source, ["numRecordsOut"])["numRecordsOut"]
        m = metric(fold, ["numRecordsIn", "Shuffle.Netty.Input.Buffers.inputQueueLength",
                          "Shuffle.Netty.Input.Buffers.inPoolUsage",
                          "busyTimeMsPerSecond"])
        rate = (m["numRecordsIn"] - last[1]) / (time.time() - last[0]) if last else 0.0
        last = (time.time(), m["numRecordsIn"])
        print(f"{time.time() - t0:5.0f} {out - m['numRecordsIn']:9,.0f} {rate:9.0f} "
              f"{m.get('Shuffle.Netty.Input.Buffers.inputQueueLength')!s:>16} "
              f"{m.get('Shuffle.Netty.Input.Buffers.inPoolUsage')!s:>11} "
              f"{m.get('busyTimeMsPerSecond')!s:>9}", flush=True)
        time.sleep(every)


if __name__ == "__main__":
    main()

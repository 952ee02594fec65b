"""What an API worker's full garbage collection costs with N live profiles cached, each form of
cache entry and each startup policy, measured in one run (each case in a fresh interpreter):

- ``objects``: the entry as decoded when the record arrives (``from_record``: a LiveProfile,
  its lists and the updated time), the design before 2026-12-06;
- ``bytes``: the record as published (JSON bytes, not tracked by the cyclic collector),
  decoded per request by ``from_record``;
- ``freeze``: ``gc.freeze()`` after the app was built, before the cache fills (as the app's
  startup does now), or not.

Prints, per case: objects the collector tracks, median of 5 full collections, memory the
entries hold (tracemalloc), and what a request pays to read one entry.

usage: python gc_pause.py [N ...]   (default 10000 100000; any Python with the package)
"""
import gc
import json
import random
import statistics
import subprocess
import sys
import time
import tracemalloc

import orjson

CATEGORIES = ["shoes", "bags", "watches", "shirts", "jackets", "scarves", "hats", "belts"]


def record(rng: random.Random) -> bytes:
    """A live profile record as live_activity publishes it (20 recent items at most), sized
    exactly as the Kafka client hands it over (orjson's own buffer keeps 4 KiB)."""
    return bytes(bytearray(orjson.dumps({
        "user_key": f"user-{rng.randrange(10**9)}",
        "recent_items": [f"item-{rng.randrange(5000)}" for _ in range(rng.randint(1, 20))],
        "category_affinity": {c: rng.random() * 5 for c in rng.sample(CATEGORIES, 4)},
        "brand_affinity": {f"brand-{rng.randrange(40)}": rng.random() * 3 for _ in range(4)},
        "purchased": [f"item-{rng.randrange(5000)}" for _ in range(rng.randint(0, 3))],
        "updated_at": "2026-12-06T19:00:07.217", "n_events": rng.randint(1, 200),
        "written_at": "2026-12-06T19:00:07.300"})))


def case(form: str, freeze: bool, n: int) -> dict:
    from personastream_contracts.settings import resolve
    from personastream_serving.app import create_app
    from personastream_serving.profile_replica import ProfileCache, from_record

    create_app(resolve())
    gc.collect()
    if freeze:
        gc.freeze()
    rng = random.Random(1)
    cache = ProfileCache(n)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for i in range(n):
        value = record(rng)
        cache.changed(f"user-{i}", from_record(value) if form == "objects" else value)
    del value
    held = tracemalloc.get_traced_memory()[0] - before  # the entries, keys and the cache
    tracemalloc.stop()
    pauses = []
    for _ in range(5):
        start = time.perf_counter()
        gc.collect()
        pauses.append(time.perf_counter() - start)
    keys = [f"user-{i}" for i in range(0, n, max(1, n // 1000))]
    start = time.perf_counter()
    for key in keys:
        entry = cache.get(key)
        profile, updated = entry if form == "objects" else from_record(entry)
    read_us = (time.perf_counter() - start) / len(keys) * 1e6
    return {"form": form, "freeze": freeze, "n": n, "tracked": len(gc.get_objects()),
            "full_gc_ms": statistics.median(pauses) * 1e3, "held_mib": held / 2**20,
            "read_us": read_us}


def main() -> None:
    if sys.argv[1:2] == ["--case"]:
        print(json.dumps(case(sys.argv[2], sys.argv[3] == "1", int(sys.argv[4]))))
        return
    sizes = [int(a) for a in sys.argv[1:]] or [10_000, 100_000]
    print(f"{'profiles':>8} {'entry':>8} {'frozen':>6} {'tracked':>9} {'full GC ms':>10} "
          f"{'entries MiB':>11} {'read us':>7}")
    for n in sizes:
        for freeze in (False, True):
            for form in ("objects", "bytes"):
                out = subprocess.run([sys.executable, __file__, "--case", form,
                                      "1" if freeze else "0", str(n)], check=True,
                                     capture_output=True, text=True).stdout
                r = json.loads(out.strip().splitlines()[-1])
                print(f"{n:>8} {form:>8} {'yes' if freeze else 'no':>6} {r['tracked']:>9} "
                      f"{r['full_gc_ms']:>10.1f} {r['held_mib']:>11.1f} {r['read_us']:>7.2f}",
                      flush=True)
    print(f"reproduce: python {' '.join(sys.argv)}")


if __name__ == "__main__":
    main()

"""``recommend.update_profile`` of this tree against a revision's: the same profiles, bit for
bit, over random event sequences (out of order, missing fields, purchases), and the time of
one fold of each.

usage: python update_profile_equal.py [REV]   (from the repository root; REV: 798f7b4)
"""
import random
import sys
import time

from personastream_bench.load import module_at
from personastream_models import recommend as new

KINDS = ["product_view", "add_to_cart", "purchase", "page_view", "search"]


def fields(p):
    return (p.recent_items, list(p.category_affinity.items()), list(p.brand_affinity.items()),
            p.purchased, p.updated_ms, p.n_events)


def main(rev: str = "798f7b4") -> None:
    old = module_at(rev, "models/personastream_models/recommend.py", "recommend_at_rev")
    rng = random.Random(3)
    n = 0
    for _ in range(3000):
        half_life = rng.choice([60, 1800, 86_400])
        a = b = None
        t = 1_700_000_000_000
        for _ in range(rng.randint(1, 60)):
            t += rng.randint(-5000, 20000)
            kind = rng.choice(KINDS)
            event = {"event_type": kind, "client_ts_ms": t if rng.random() > 0.05 else None,
                     "item_id": rng.choice([None, f"i{rng.randint(1, 40)}"]),
                     "category": rng.choice([None, "", f"c{rng.randint(1, 9)}"]),
                     "brand": rng.choice([None, f"b{rng.randint(1, 40)}"]),
                     "items": [{"item_id": f"i{rng.randint(1, 40)}"}]
                     if kind == "purchase" else None}
            before = None if b is None else fields(b)
            a = old.update_profile(a, event, half_life_s=half_life)
            b2 = new.update_profile(b, event, half_life_s=half_life)
            assert b is None or fields(b) == before, "the profile passed in was changed"
            b = b2
            assert fields(a) == fields(b), (a, b)
            n += 1
    print(f"identical profiles after each of {n:,} events")
    t = 1_700_000_000_000
    events = []
    for _ in range(20_000):
        t += rng.randint(100, 3000)
        events.append({"event_type": rng.choice(KINDS[:2] * 3 + KINDS[3:]), "client_ts_ms": t,
                       "item_id": f"i{rng.randint(1, 5000)}", "category": f"c{rng.randint(1, 8)}",
                       "brand": f"b{rng.randint(1, 30)}"})
    for name, module in ((rev, old), ("this tree", new)):
        p = None
        for e in events[:5000]:  # a profile with 8 categories and 30 brands
            p = module.update_profile(p, e, half_life_s=1800)
        started = time.perf_counter()
        for e in events:
            module.update_profile(p, e, half_life_s=1800)
        print(f"{name}: {(time.perf_counter() - started) / len(events) * 1e6:.2f} us per fold")


if __name__ == "__main__":
    main(*sys.argv[1:])

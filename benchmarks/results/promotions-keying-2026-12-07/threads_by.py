"""Per-thread TaskManager CPU per accepted event for ab-promotions.sh's runs: all threads (and
without the JIT's compiler threads), then evaluate_promotions' own tasks.

usage: python threads_by.py RUN_DIR...   (each with summary.json and threads.jsonl[.gz])
"""
import collections
import gzip
import json
import os
import sys

OWN = ("decide_offers", "grant_offers", "ConstraintEnforcer[12] -> TableToDataSteam")


def main(run_dirs: list[str]) -> None:
    for d in run_dirs:
        st = json.load(open(d + "/summary.json"))["steps"][0]
        ev = st["accepted_events"] / st["seconds"]
        path = d + "/threads.jsonl"
        lines = open(path) if os.path.exists(path) else gzip.open(path + ".gz", "rt")
        rows = [json.loads(line) for line in lines]
        secs = rows[-1]["t"] - rows[0]["t"] + 1
        tot = collections.Counter()
        for r in rows:
            for k, v in r["cpu"].items():
                tot[k] += v
        per_event = {k: v / secs / ev * 1e6 for k, v in tot.items()}
        jit = sum(v for k, v in per_event.items() if "Compiler" in k)
        print(f"== {d}: TaskManager threads {sum(per_event.values()):.0f} us/event, "
              f"without the JIT compiler {sum(per_event.values()) - jit:.0f}")
        for k, v in sorted(per_event.items(), key=lambda kv: -kv[1]):
            if any(x in k for x in OWN) and v >= 1:
                print(f"   {v:6.1f} us/event  {k[:120]}")


if __name__ == "__main__":
    main(sys.argv[1:])

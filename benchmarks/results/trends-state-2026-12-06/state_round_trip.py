"""trends_detector 4-1-0's state, flat (this tree) against REV's (a deque of runs, a dict of
their counts), over NAB and over Poisson minute counts.

Both detectors run side by side over every NAB series (each series one item of the trends
job); their scores must be identical, and the time each takes to score then learn the series is
summed. At the end of each series, each detector's pickle is timed as the trends job pays it
per window (``pickle.loads`` of the item's state, then ``pickle.dumps``), median of REPEAT
rounds, alternating which goes first. Then the same for items whose minute counts are Poisson
(the trends job's usual item: a few views a minute, noisy, so many distinct runs).

Run from the repository root:
``.venv/bin/python benchmarks/results/trends-state-2026-12-06/state_round_trip.py 49b1dfb``
"""
from __future__ import annotations

import math
import pickle
import random
import statistics
import sys
import time

from personastream_bench.load import module_at
from personastream_bench.nab.corpus import DEFAULT_NAB_DIR
from personastream_bench.nab.runner import load_corpus
from personastream_models import specs
from personastream_models.detectors import score_then_learn

REPEAT = 21


def round_trip_us(detector) -> float:
    """Median µs of ``pickle.loads`` then ``pickle.dumps`` of ``detector``'s pickle."""
    blob = pickle.dumps(detector, protocol=pickle.HIGHEST_PROTOCOL)
    times = []
    for _ in range(REPEAT):
        start = time.perf_counter()
        pickle.dumps(pickle.loads(blob), protocol=pickle.HIGHEST_PROTOCOL)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


def _poisson(rng: random.Random, mean: float) -> int:
    limit, k, p = math.exp(-mean), 0, rng.random()
    while p >= limit:
        k += 1
        p *= rng.random()
    return k


def main(rev: str) -> None:
    spec = specs.load("trends_detector", "4-1-0")
    before_class = module_at(rev, "models/personastream_models/sequence.py",
                             "sequence_before").SequenceNoveltyDetector
    corpus = load_corpus(DEFAULT_NAB_DIR)
    rows, mismatches, scored, spent = [], 0, 0, {"before": 0.0, "flat": 0.0}
    for data in corpus.data:
        new, old = specs.build(spec), before_class(**spec.params)
        xs = [{"count": float(value)} for value in data.values]
        scores = {}
        for name, detector in [("before", old), ("flat", new)][::1 if len(rows) % 2 else -1]:
            start = time.perf_counter()
            scores[name] = [score_then_learn(detector, x) for x in xs]
            spent[name] += time.perf_counter() - start
        mismatches += sum(a != b for a, b in zip(scores["before"], scores["flat"]))
        scored += len(xs)
        pair = [("before", old), ("flat", new)]
        timed = {name: round_trip_us(d) for name, d in (pair if len(rows) % 2 else pair[::-1])}
        rows.append((len(data), len(pickle.dumps(old, protocol=5)),
                     len(pickle.dumps(new, protocol=5)), timed["before"], timed["flat"]))
        print(f"{data.relative_path}: {len(data):,} values, {rows[-1][1]:,} -> {rows[-1][2]:,} "
              f"B, round trip {timed['before']:.0f} -> {timed['flat']:.0f} us", flush=True)
    print(f"\nscores compared: {scored:,} values of {len(rows)} series, {mismatches} differ")
    print("score then learn, all series: " + ", ".join(
        f"{name} {spent[name] / scored * 1e6:.1f} us/value" for name in spent))
    mature = [r for r in rows if r[0] >= 4000]
    for label, group in (("all series", rows), ("series of >= 4,000 values", mature)):
        size_b, size_f = (statistics.median(r[i] for r in group) for i in (1, 2))
        trip_b, trip_f = (statistics.median(r[i] for r in group) for i in (3, 4))
        print(f"{label} ({len(group)}): median pickle {size_b:,.0f} -> {size_f:,.0f} B; "
              f"median loads+dumps {trip_b:.0f} -> {trip_f:.0f} us ({trip_b / trip_f:.1f}x)")
    print("\nitems of Poisson minute counts, after 6,000 windows (pickle B, loads+dumps us):")
    for mean in (1.3, 5.0, 30.0):
        rng = random.Random(int(mean * 10))
        new, old = specs.build(spec), before_class(**spec.params)
        for _ in range(6000):
            x = {"count": float(_poisson(rng, mean))}
            score_then_learn(new, x)
            score_then_learn(old, x)
        print(f"  mean {mean:4}: {len(new.runs())} runs; before "
              f"{len(pickle.dumps(old, protocol=5)):,} B {round_trip_us(old):.0f} us; flat "
              f"{len(pickle.dumps(new, protocol=5)):,} B {round_trip_us(new):.0f} us")
    print("command: .venv/bin/python benchmarks/results/trends-state-2026-12-06/"
          f"state_round_trip.py {rev}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "49b1dfb")

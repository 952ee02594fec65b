"""The state the trends job round-trips per window for an item still in 4-x's stand-in period:
4-1-0's detector plus 2-0-0's ``GaussianTail``, this tree's against REV's (river's
``Rolling(Var())``, an ``(args, kwargs)`` pair per value).

For items of Poisson minute counts (mean 2) after N windows, both designs learn the same
values (their scores must be identical); then ``pickle.loads`` + ``pickle.dumps`` of the
item's state ``{"4-1-0": (detector, n, stand_in)}`` is timed, median of REPEAT rounds of
ITEMS items, alternating which design goes first.

Run from the repository root:
``.venv/bin/python benchmarks/results/trends-sustained-2026-12-07/stand_in_state.py 912893c``
"""
from __future__ import annotations

import pickle
import statistics
import sys
import time

import numpy as np

from personastream_bench.load import module_at
from personastream_models import specs
from personastream_models.detectors import GaussianTail, score_then_learn

REPEAT, ITEMS = 15, 200


def states(stand_in_class: type, windows: int, seed: int) -> list[tuple[dict, list[float]]]:
    """ITEMS items' states after ``windows`` windows, each with its scores (to compare)."""
    spec, stand_spec = specs.load("trends_detector", "4-1-0"), specs.load("trends_detector",
                                                                           "2-0-0")
    out = []
    for item in range(ITEMS):
        counts = np.random.default_rng(seed * 100_003 + item).poisson(2.0, windows)
        detector = specs.build(spec)
        stand_in = stand_in_class(**stand_spec.params)
        scores = []
        for count in counts:
            x = {"count": float(count)}
            score_then_learn(detector, dict(x))
            scores.append(score_then_learn(stand_in, x))
        out.append(({"4-1-0": (detector, windows, stand_in)}, scores))
    return out


def round_trip_us(items: list[tuple[dict, list[float]]]) -> float:
    blobs = [pickle.dumps(state) for state, _ in items]
    started = time.perf_counter()
    for blob in blobs:
        pickle.dumps(pickle.loads(blob))
    return (time.perf_counter() - started) / len(blobs) * 1e6


def main() -> None:
    rev = sys.argv[1]
    before = module_at(rev, "models/personastream_models/detectors.py",
                       "detectors_before").GaussianTail
    print(f"4-1-0 + 2-0-0 stand-in, {ITEMS} items of Poisson(2) minute counts; "
          f"loads + dumps per item, median of {REPEAT} rounds")
    print(f"{'windows':>7} {'bytes ' + rev[:7]:>14} {'bytes tree':>10} {rev[:7] + ' us':>11} "
          f"{'tree us':>8} {'ratio':>6}")
    for windows in (10, 50, 99):
        old, new = states(before, windows, 1), states(GaussianTail, windows, 1)
        assert [s for _, s in old] == [s for _, s in new], "the designs scored differently"
        times = {"old": [], "new": []}
        for r in range(REPEAT):
            for name in (("old", "new") if r % 2 == 0 else ("new", "old")):
                times[name].append(round_trip_us(old if name == "old" else new))
        t_old, t_new = statistics.median(times["old"]), statistics.median(times["new"])
        size_old = statistics.mean(len(pickle.dumps(s)) for s, _ in old)
        size_new = statistics.mean(len(pickle.dumps(s)) for s, _ in new)
        print(f"{windows:>7} {size_old:>14,.0f} {size_new:>10,.0f} {t_old:>11.1f} "
              f"{t_new:>8.1f} {t_old / t_new:>5.2f}x")


if __name__ == "__main__":
    main()

"""Points per second of trends_detector versions over the NAB corpus, as `bench nab` runs them
(fresh detector per file, stand-in included), in CPU seconds of this process and in wall clock,
versions alternated: on a loaded machine the wall clock measures the load more than the code.

    .venv/bin/python benchmarks/results/nab-2026-12-07/speed.py 5-0-0 6-0-0 [ROUNDS]
"""

import sys
import time

from personastream_bench.nab.corpus import DEFAULT_NAB_DIR
from personastream_bench.nab.runner import _spec_scorer, load_corpus
from personastream_models import specs


def main(versions: list[str], rounds: int) -> None:
    corpus = load_corpus(DEFAULT_NAB_DIR)
    for r in range(rounds):
        for version in versions:
            score_rows = _spec_scorer(specs.load("trends_detector", version))
            cpu, wall = time.process_time(), time.perf_counter()
            for data, labels in zip(corpus.data, corpus.labels):
                score_rows(data, labels, None)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            print(f"round {r + 1} {version}: {corpus.n_points / cpu:,.0f} points/s CPU, "
                  f"{corpus.n_points / wall:,.0f} wall", flush=True)


if __name__ == "__main__":
    args = sys.argv[1:]
    rounds = int(args.pop()) if args and args[-1].isdigit() else 2
    main(args, rounds)

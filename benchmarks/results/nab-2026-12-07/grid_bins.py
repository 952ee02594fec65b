"""Held-out NAB scores of 6-0-0 when the folds also choose its confirming grids.

`bench nab --held-out --grid` takes scalar parameters only (a list value is not hashable in
its candidates), so this runs the same selection (`heldout.cross_validate`, leave one category
out, candidate by the standard profile's training score, a threshold per profile) over
6-0-0 with ``confirm_bins`` overridden:

    .venv/bin/python benchmarks/results/nab-2026-12-07/grid_bins.py '[4]' '[6]' '[4, 6]' '[4, 5, 6]'
"""

import json
import sys

from personastream_bench.nab.corpus import DEFAULT_NAB_DIR
from personastream_bench.nab.heldout import cross_validate
from personastream_bench.nab.runner import _spec_scorer, load_corpus
from personastream_bench.nab.scoring import score_corpus
from personastream_models import specs


def main(grids: list[str]) -> None:
    corpus = load_corpus(DEFAULT_NAB_DIR)
    published = specs.load("trends_detector", "6-0-0")
    scores = {}
    for grid in grids:
        bins = json.loads(grid)
        spec = specs.validate({**published.to_dict(),
                               "params": {**published.params, "confirm_bins": bins}})
        score_rows = _spec_scorer(spec)
        scores[str(bins)] = [score_rows(d, lab, None) for d, lab in zip(corpus.data, corpus.labels)]
        in_sample = score_corpus(corpus.labels, scores[str(bins)], corpus.profiles)
        print(f"confirm_bins {bins}: in-sample " + " / ".join(
            f"{r.normalized:.2f}" for r in in_sample.values()), flush=True)
    cv = cross_validate(corpus.labels, scores, corpus.profiles)
    for fold in cv.folds:
        print(f"fold {fold.held_out}: {fold.choices['standard'].candidate}")
    print("held out (standard / reward_low_FP / reward_low_FN): " + " / ".join(
        f"{r.normalized:.2f}" for r in cv.pooled.values()))


if __name__ == "__main__":
    main(sys.argv[1:])

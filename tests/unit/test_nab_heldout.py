"""Held-out NAB scores (``personastream_bench.nab.heldout``): the fold logic on small synthetic
cached scores (the held-out category never takes part in a choice; candidate and thresholds are
chosen per fold; the pooled score is NAB's formula over the held-out files), the results files
NAB's scorer reads, and the per-candidate cache."""

from __future__ import annotations

import json
import math
import random
from datetime import datetime, timedelta

import pytest

from personastream_bench.nab import corpus, heldout, runner, scoring

BASE = datetime(2020, 1, 1)
PROFILES = {
    "standard": corpus.CostMatrix(1.0, 0.11, 1.0),
    "reward_low_FP_rate": corpus.CostMatrix(1.0, 0.22, 1.0),
    "reward_low_FN_rate": corpus.CostMatrix(1.0, 0.11, 2.0),
}
N = 60
WINDOW = (30, 35)
CATEGORIES = ("alpha", "beta", "gamma")


def _times(n: int = N) -> list[datetime]:
    return [BASE + timedelta(minutes=i) for i in range(n)]


def _labels(path: str) -> scoring.FileLabels:
    left, right = (BASE + timedelta(minutes=m) for m in WINDOW)
    return scoring.label_rows(path, _times(), [(left, right)])


def _data(path: str, n: int = N) -> corpus.DataFile:
    times = _times(n)
    return corpus.DataFile(path, tuple(t.isoformat(sep=" ") for t in times),
                           tuple(str(float(i % 7)) for i in range(n)), tuple(times))


def _corpus() -> heldout.Corpus:
    paths = [f"{c}/f{k}.csv" for c in CATEGORIES for k in range(2)]
    return heldout.Corpus(tuple(_data(p) for p in paths), tuple(_labels(p) for p in paths),
                          PROFILES, {})


def _scores(seed: int, hit: float, noise: float, n_files: int = 6) -> list[list[float]]:
    """Per file: uniform noise below ``noise``, ``hit`` at the window's first row."""
    rng = random.Random(seed)
    out = []
    for _ in range(n_files):
        row = [rng.uniform(0, noise) for _ in range(N)]
        row[WINDOW[0]] = hit
        out.append(row)
    return out


def _cached() -> dict[str, list[list[float]]]:
    return {"good": _scores(1, hit=0.9, noise=0.5), "noisy": _scores(2, hit=0.6, noise=0.95)}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_vectorised_sweep_is_nabs_threshold_optimisation(seed):
    rng = random.Random(seed)
    labels = [scoring.label_rows(f"c/f{k}.csv", _times(), [
        (BASE + timedelta(minutes=a), BASE + timedelta(minutes=b))
        for a, b in ((5, 8), (20, 26), (40, 44))[: k + 1]]) for k in range(3)]
    # coarse scores: many ties; windows in and out of probation (9 rows)
    scores = [[round(rng.random(), 1) for _ in range(N)] for _ in labels]
    bases = [0, 1, 3]
    for name, cost in PROFILES.items():
        sweep = scoring.threshold_sweep(list(zip(labels, scores)), cost)
        best = scoring.optimize_threshold(sweep)
        n_windows = sum(f.n_windows for f in labels)
        points = [heldout.file_points(f, s, cost, b) for f, s, b in zip(labels, scores, bases)]
        threshold, normalized = heldout.best_threshold(points, cost, n_windows)
        assert threshold == best.threshold
        assert normalized == scoring.normalize(best.score, sweep[0].score, cost.tp_weight * n_windows)


def test_the_held_out_category_never_takes_part_in_a_choice():
    labels = _corpus().labels
    scores = _cached()
    before = heldout.cross_validate(labels, scores, PROFILES)
    for k, held_out in enumerate(CATEGORIES):
        rng = random.Random(k)
        changed = {label: [[rng.random() for _ in row] if labels[i].relative_path.startswith(
            held_out) else row for i, row in enumerate(rows)] for label, rows in scores.items()}
        after = heldout.cross_validate(labels, changed, PROFILES)
        assert after.folds[k].held_out == held_out
        assert after.folds[k].choices == before.folds[k].choices
        # ... while the folds that train on it may choose otherwise: it is used there
    assert [f.held_out for f in before.folds] == list(CATEGORIES)


def test_candidate_and_thresholds_are_chosen_per_fold_on_the_training_files_only():
    labels = _corpus().labels
    scores = _cached()
    # "noisy" beats "good" on alpha only, by far: it wins the folds that train on alpha
    for i in (0, 1):
        scores["noisy"][i] = [0.0] * N
        scores["noisy"][i][WINDOW[0]] = 1.0
        scores["good"][i] = [0.99] * N
    cv = heldout.cross_validate(labels, scores, PROFILES)
    for fold in cv.folds:
        train = [i for i, f in enumerate(labels) if not f.relative_path.startswith(fold.held_out)]
        for name, cost in PROFILES.items():
            choice = fold.choices[name]
            in_sample = {
                label: scoring.score_corpus([labels[i] for i in train], [s[i] for i in train],
                                            {name: cost})[name]
                for label, s in scores.items()
            }
            best = max(in_sample, key=lambda label: in_sample[label].normalized)
            assert fold.choices["standard"].candidate == choice.candidate  # one per fold
            if name == "standard":
                assert choice.candidate == best
            assert choice.threshold == in_sample[choice.candidate].threshold
            assert choice.train_normalized == pytest.approx(in_sample[choice.candidate].normalized)
    chosen = {f.held_out: f.choices["standard"].candidate for f in cv.folds}
    assert chosen == {"alpha": "good", "beta": "noisy", "gamma": "noisy"}
    thresholds = {f.held_out: f.choices["standard"].threshold for f in cv.folds}
    assert thresholds["alpha"] != thresholds["beta"]


def test_pooled_score_is_nabs_formula_over_the_held_out_files_at_each_folds_threshold():
    labels = _corpus().labels
    scores = _cached()
    cv = heldout.cross_validate(labels, scores, PROFILES)
    for name, cost in PROFILES.items():
        raw = null = 0.0
        for fold in cv.folds:
            choice = fold.choices[name]
            for i, f in enumerate(labels):
                if f.relative_path.startswith(fold.held_out):
                    s = scores[choice.candidate][i]
                    raw += scoring.score_file(f, s, cost, choice.threshold).score
                    null += scoring.score_file(f, s, cost, 1.1).score
        perfect = cost.tp_weight * len(labels)
        pooled = cv.pooled[name]
        assert (pooled.raw, pooled.null, pooled.perfect) == pytest.approx((raw, null, perfect))
        assert pooled.normalized == pytest.approx(scoring.normalize(raw, null, perfect))
        assert len(pooled.files) == len(labels)


def test_select_by_each_lets_profiles_choose_differently():
    labels = _corpus().labels
    few = [[0.0] * N for _ in labels]  # detects only some windows: no false positive
    many = [[0.0] * N for _ in labels]  # detects every window, with false positives
    for i, row in enumerate(few):
        row[WINDOW[0]] = 1.0 if i % 2 else 0.0
    for row in many:
        row[WINDOW[0]] = 1.0
        row[10:20] = [1.0] * 10  # before the window: each costs A_FP in full
    scores = {"few": few, "many": many}
    each = heldout.choose(labels, scores, PROFILES, "each")
    assert each["reward_low_FP_rate"].candidate == "few"
    assert each["reward_low_FN_rate"].candidate == "many"
    shared = heldout.choose(labels, scores, PROFILES, "reward_low_FP_rate")
    assert {c.candidate for c in shared.values()} == {"few"}
    with pytest.raises(corpus.NabError, match="select_by"):
        heldout.choose(labels, scores, PROFILES, "nope")


def test_ties_go_to_the_first_candidate_listed():
    labels = _corpus().labels
    same = _scores(3, hit=0.9, noise=0.5)
    assert heldout.choose(labels, {"b": same, "a": same}, PROFILES)["standard"].candidate == "b"


def test_written_held_out_files_score_the_held_out_detections_under_nabs_optimisation(tmp_path):
    c = _corpus()
    scores = _cached()
    cv = heldout.cross_validate(c.labels, scores, PROFILES)
    written = heldout.write_heldout(tmp_path, "det", c, scores, cv)
    for name, w in written.items():
        assert w["nab_optimised"] == pytest.approx(cv.pooled[name].normalized, abs=1e-9)
        assert w["nab_optimised_threshold"] == 1.0
        read = [corpus.read_results_file(tmp_path, w["detector"], d) for d in c.data]
        rescored = scoring.score_corpus(c.labels, read, PROFILES)[name]
        assert rescored.normalized == pytest.approx(cv.pooled[name].normalized, abs=1e-9)
        assert (tmp_path / w["detector"] / f"{w['detector']}_{name}_scores.csv").exists()
    thresholds = json.loads((tmp_path / "heldout_thresholds.json").read_text())
    assert thresholds["det-heldout-std"]["standard"]["threshold"] == 1.0


def test_a_candidate_runs_over_the_corpus_once(tmp_path, monkeypatch):
    c = heldout.Corpus(tuple(_data(f"{k}/f.csv", 30) for k in CATEGORIES),
                       tuple(scoring.label_rows(f"{k}/f.csv", _times(30), []) for k in CATEGORIES),
                       PROFILES, {})
    candidate = heldout.Candidate("2-0-0", (("window_size", 50),))
    first, record = heldout.candidate_scores(tmp_path, "trends_detector", candidate, c)
    assert record["params"]["window_size"] == 50 and record["points_per_s"] > 0
    assert (tmp_path / "trends_detector-2-0-0+window_size=50" / "alpha" /
            "trends_detector-2-0-0+window_size=50_f.csv").exists()
    monkeypatch.setattr(runner, "_spec_scorer", lambda spec: pytest.fail("ran again"))
    again, _ = heldout.candidate_scores(tmp_path, "trends_detector", candidate, c)
    assert again == first
    assert all(0.0 <= s <= 1.0 for row in first for s in row)
    assert not math.isnan(sum(map(sum, first)))
    # another parameter value is another candidate: it runs
    with pytest.raises(pytest.fail.Exception):
        heldout.candidate_scores(tmp_path, "trends_detector",
                                 heldout.Candidate("2-0-0", (("window_size", 60),)), c)

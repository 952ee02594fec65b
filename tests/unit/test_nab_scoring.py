"""The project's implementation of NAB's scoring, on tiny synthetic files with hand-computed
scores, and a one-series run of the benchmark on a real NAB file.

NAB's scaled sigmoid is ``s(y) = 2 * sigmoid(-5 y) - 1 = tanh(-5 y / 2)``. In the 20-row file used
below, probation is ``floor(0.15 * 20) = 3`` rows and the window covers rows 8..11 (width 4), so a
detection at row ``i`` in the window is worth ``tanh(5 (11 - i + 1) / 8) / tanh(5 / 2)`` and a false
positive at row ``j`` after it ``-0.11 * tanh(5 |j - 11| / 6)`` (standard profile).
"""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from personastream_bench.nab import corpus, runner, scoring
from personastream_contracts.settings import resolve
from personastream_models import specs
from personastream_models.detectors import score_then_learn

BASE = datetime(2020, 1, 1)
STANDARD = corpus.CostMatrix(tp_weight=1.0, fp_weight=0.11, fn_weight=1.0)
LOW_FP = corpus.CostMatrix(tp_weight=1.0, fp_weight=0.22, fn_weight=1.0)
LOW_FN = corpus.CostMatrix(tp_weight=1.0, fp_weight=0.11, fn_weight=2.0)
PROFILES = {"standard": STANDARD, "reward_low_FP_rate": LOW_FP, "reward_low_FN_rate": LOW_FN}

# Hand-computed values (see the module docstring).
TP_ROW_8 = 1.0  # tanh(5/2) / tanh(5/2): the window's left edge is worth A_TP
TP_ROW_9 = 0.9669890878000605  # tanh(15/8) / tanh(5/2)
TP_ROW_10 = 0.8597925669097837  # tanh(5/4) / tanh(5/2)
TP_ROW_11 = 0.5621241486044827  # tanh(5/8) / tanh(5/2): right edge, y = -1/4
FP_ROW_12 = -0.07504879692619866  # -0.11 * tanh(5/6): one row after the window
FP_ROW_13 = -0.10242205695343354  # -0.11 * tanh(5/3)
FP_UNWEIGHTED = -1.0  # before any window, or more than 3 widths after one


def _times(n: int) -> list[datetime]:
    return [BASE + timedelta(minutes=i) for i in range(n)]


def _window(left: int, right: int) -> tuple[datetime, datetime]:
    return BASE + timedelta(minutes=left), BASE + timedelta(minutes=right)


def _labels(n: int = 20, windows=((8, 11),), name: str = "synthetic/f.csv") -> scoring.FileLabels:
    return scoring.label_rows(name, _times(n), [_window(*w) for w in windows])


def _raw(detected, n=20, windows=((8, 11),), cost=STANDARD) -> float:
    scores = [1.0 if i in detected else 0.0 for i in range(n)]
    return scoring.score_file(_labels(n, windows), scores, cost, threshold=1.0).score


def test_scaled_sigmoid_matches_tanh_form():
    for y in (-1.0, -0.5, -0.25, 0.0, 0.5, 2.0, 3.0):
        assert scoring.scaled_sigmoid(y) == pytest.approx(math.tanh(-5 * y / 2), abs=1e-15)
    assert scoring.scaled_sigmoid(3.0001) == -1.0


@pytest.mark.parametrize(("n_rows", "probation"), [(20, 3), (4032, 604), (5000, 750), (22695, 750)])
def test_probation_is_15_percent_capped_at_750_rows(n_rows, probation):
    assert scoring.probation_length(n_rows) == probation


@pytest.mark.parametrize(
    ("detected", "expected"),
    [
        pytest.param({8}, TP_ROW_8, id="tp-at-window-start"),
        pytest.param({11}, TP_ROW_11, id="tp-late-in-window"),
        pytest.param({11, 10, 9}, TP_ROW_9, id="only-earliest-detection-in-window-counts"),
        pytest.param(set(), -1.0, id="missed-window"),
        pytest.param({5, 8}, 0.11 * FP_UNWEIGHTED + TP_ROW_8, id="fp-before-first-window"),
        pytest.param({8, 12}, TP_ROW_8 + FP_ROW_12, id="fp-just-after-window"),
        pytest.param({8, 13}, TP_ROW_8 + FP_ROW_13, id="fp-after-window"),
        pytest.param({13}, -1.0 + FP_ROW_13, id="fp-after-missed-window"),
        pytest.param({0, 1, 2}, -1.0, id="probation-rows-not-scored"),
        pytest.param(
            {0, 1, 2, 3}, -1.0 + 0.11 * FP_UNWEIGHTED, id="first-row-after-probation-scored"
        ),
    ],
)
def test_raw_score_of_one_file(detected, expected):
    assert _raw(detected) == pytest.approx(expected, abs=1e-12)


def test_fp_costs_full_weight_beyond_three_window_widths():
    # 30 rows (probation 4); |11 - 21| / 3 > 3 and |11 - 20| / 3 == 3 exactly.
    assert _raw({8, 21}, n=30) == pytest.approx(TP_ROW_8 - 0.11, abs=1e-12)
    assert _raw({8, 20}, n=30) == pytest.approx(TP_ROW_8 - 0.11 * math.tanh(7.5), abs=1e-12)


def test_fp_is_weighed_by_the_closest_preceding_window():
    # Windows 4..7 and 12..15 (width 4) in 30 rows (probation 4): rows 9 and 17 are both two
    # rows after a window's right edge, so each costs like row 13 above; both windows missed.
    raw = _raw({9, 17}, n=30, windows=((4, 7), (12, 15)))
    assert raw == pytest.approx(-2.0 + 2 * FP_ROW_13, abs=1e-12)


def test_window_inside_probation_is_not_scored():
    labels = _labels(20, windows=((0, 2),))
    assert labels.scored_windows == frozenset()
    assert _raw(set(), windows=((0, 2),)) == 0.0
    assert _raw({1}, windows=((0, 2),)) == 0.0


def test_window_straddling_probation_scores_from_its_own_left_edge():
    # Window rows 2..5; row 2 is probationary, so the earliest possible detection is row 3,
    # at y = -(5 - 3 + 1) / 4 = -3/4: the value of row 9 in the 8..11 window.
    assert _raw({2, 3}, windows=((2, 5),)) == pytest.approx(TP_ROW_9, abs=1e-12)


@pytest.mark.parametrize(
    ("cost", "detected", "expected"),
    [
        pytest.param(LOW_FN, set(), -2.0, id="low-fn-missed-window"),
        pytest.param(LOW_FP, {5, 8}, 1.0 - 0.22, id="low-fp-false-positive"),
        pytest.param(LOW_FP, {8, 13}, 1.0 + 2 * FP_ROW_13, id="low-fp-false-positive-after-window"),
    ],
)
def test_profiles_weigh_outcomes(cost, detected, expected):
    assert _raw(detected, cost=cost) == pytest.approx(expected, abs=1e-12)


def test_detection_is_score_at_or_above_threshold():
    labels = _labels()
    scores = [0.0] * 20
    scores[8] = 0.7
    assert scoring.score_file(labels, scores, STANDARD, threshold=0.7).tp == 1
    assert scoring.score_file(labels, scores, STANDARD, threshold=0.7000001).tp == 0


def test_counts_exclude_probation():
    scores = [1.0] * 20
    result = scoring.score_file(_labels(), scores, STANDARD, threshold=1.0)
    assert (result.tp, result.fp, result.tn, result.fn, result.total) == (4, 13, 0, 0, 17)


def test_windows_are_found_by_first_matching_row_like_nab():
    times = _times(10)
    times.insert(3, times[2])  # a repeated timestamp, as in the DST hours of some NAB series
    labels = scoring.label_rows("synthetic/dup.csv", times, [(times[2], times[5])])
    assert labels.window_of_row == (None, None, 0, 0, 0, 0, None, None, None, None, None)


@pytest.mark.parametrize(
    ("windows", "message"),
    [
        pytest.param(
            [_window(3, 99)],
            "window limit .* is not a timestamp of the file",
            id="unknown-timestamp",
        ),
        pytest.param([_window(6, 3)], "ends before it starts", id="reversed"),
        pytest.param([_window(3, 8), _window(8, 10)], "overlaps or precedes", id="overlap"),
    ],
)
def test_bad_windows_are_refused(windows, message):
    with pytest.raises(corpus.NabDataError, match=message):
        scoring.label_rows("synthetic/f.csv", _times(20), windows)


# -- threshold search ----------------------------------------------------------------------


def test_sweep_starts_with_no_detection():
    files = [(_labels(), [0.5] * 20), (_labels(windows=()), [0.5] * 20)]
    first = scoring.threshold_sweep(files, STANDARD)[0]
    assert first == scoring.ThresholdScore(
        scoring.NO_DETECTION_THRESHOLD, -1.0, tp=0, tn=13 + 17, fp=0, fn=4
    )


def test_sweep_equals_scoring_every_threshold_directly():
    rng = random.Random(3)
    corpus = [
        (_labels(40, windows=((10, 15), (25, 30))), None),
        (_labels(30, windows=((12, 20),)), None),
        (_labels(25, windows=()), None),
    ]
    corpus = [
        (labels, [round(rng.random(), 1) for _ in range(labels.n_rows)]) for labels, _ in corpus
    ]
    for cost in PROFILES.values():
        sweep = scoring.threshold_sweep(corpus, cost)
        assert [s.threshold for s in sweep] == [1.1] + sorted(
            {x for _, s in corpus for x in s}, reverse=True
        )
        for entry in sweep:
            direct = [
                scoring.score_file(labels, scores, cost, entry.threshold) for labels, scores in corpus
            ]
            assert entry.score == pytest.approx(sum(d.score for d in direct), abs=1e-12)
            assert (entry.tp, entry.fp) == (sum(d.tp for d in direct), sum(d.fp for d in direct))


def test_threshold_ties_go_to_the_higher_threshold():
    scores = [0.0] * 20
    scores[8], scores[10] = 0.9, 0.8  # detecting row 10 as well adds nothing: same score
    best = scoring.optimize_threshold(scoring.threshold_sweep([(_labels(), scores)], STANDARD))
    assert (best.threshold, best.score) == (0.9, pytest.approx(TP_ROW_8))


def test_threshold_is_optimized_over_the_corpus_per_profile():
    # File a: its window's first row scores 0.6. File b (no window): ten rows score 0.7.
    a = [0.0] * 20
    a[8] = 0.6
    b = [0.0] * 20
    b[5:15] = [0.7] * 10
    corpus = [(_labels(name="x/a.csv"), a), (_labels(windows=(), name="x/b.csv"), b)]
    # standard: 0.6 catches the window for ten false positives: 1 - 10 * 0.11 = -0.1 > -1.
    best = scoring.optimize_threshold(scoring.threshold_sweep(corpus, STANDARD))
    assert (best.threshold, best.score) == (0.6, pytest.approx(-0.1))
    # reward_low_FP_rate: 1 - 10 * 0.22 = -1.2 < -1, so detect nothing.
    best = scoring.optimize_threshold(scoring.threshold_sweep(corpus, LOW_FP))
    assert (best.threshold, best.score) == (scoring.NO_DETECTION_THRESHOLD, -1.0)


# -- normalization -------------------------------------------------------------------------


def _synthetic_corpus():
    # Mostly normal rows, like NAB: firing everywhere must cost more than missing every window.
    shapes = [(40, ((10, 15), (25, 30))), (30, ((12, 20),)), (300, ())]
    return [_labels(n, windows, name=f"x/{i}.csv") for i, (n, windows) in enumerate(shapes)]


@pytest.mark.parametrize(("baseline", "expected"), [("null", 0.0), ("perfect", 100.0)])
def test_null_normalizes_to_0_and_perfect_to_100(baseline, expected):
    """NAB's null detector scores 0.5 everywhere; the perfect one fires at each window's start."""
    labels = _synthetic_corpus()
    scores = [
        runner.BASELINES[baseline](None, f, None) if baseline == "perfect" else [0.5] * f.n_rows
        for f in labels
    ]
    results = scoring.score_corpus(labels, scores, PROFILES)
    for name, result in results.items():
        assert result.normalized == pytest.approx(expected, abs=1e-12), name
        assert result.perfect == PROFILES[name].tp_weight * 3
        assert result.null == -PROFILES[name].fn_weight * 3


def test_normalized_is_nan_without_windows():
    labels = [_labels(windows=())]
    assert math.isnan(
        scoring.score_corpus(labels, [[0.0] * 20], {"standard": STANDARD})["standard"].normalized
    )


# -- the corpus in the repository -----------------------------------------------------------

def test_the_corpus_is_in_the_repository_with_its_licence():
    root = Path(__file__).resolve().parents[2]
    assert corpus.DEFAULT_NAB_DIR == root / "benchmarks" / "data" / "nab"
    files = corpus.list_data_files(corpus.DEFAULT_NAB_DIR)
    assert len(files) == 58 and len({f.split("/")[0] for f in files}) == 7
    windows = corpus.load_windows(corpus.DEFAULT_NAB_DIR)
    assert sum(len(w) for w in windows.values()) == 116
    assert set(corpus.load_profiles(corpus.DEFAULT_NAB_DIR)) >= {"standard"}
    licence = (corpus.DEFAULT_NAB_DIR / "LICENSE.txt").read_text()
    assert "Numenta" in licence and "Permission is hereby granted, free of charge" in licence
    assert "github.com/numenta/NAB" in (corpus.DEFAULT_NAB_DIR / "README.md").read_text()


# -- the runner on one real NAB series -----------------------------------------------------

REAL_SERIES = "realTraffic/speed_7578.csv"  # 1,127 rows, 4 windows: the smallest labelled file


@pytest.fixture()
def one_series_nab(tmp_path) -> Path:
    """A NAB directory holding one real series, linked (not copied) from the corpus (the
    repository's copy unless the nab_dir setting names another)."""
    source = Path(resolve().nab_dir or corpus.DEFAULT_NAB_DIR)
    assert (source / "data" / REAL_SERIES).exists(), f"NAB corpus not at {source}"
    root = tmp_path / "nab"
    (root / "data" / "realTraffic").mkdir(parents=True)
    (root / "data" / REAL_SERIES).symlink_to(source / "data" / REAL_SERIES)
    (root / "labels").symlink_to(source / "labels")
    (root / "config").symlink_to(source / "config")
    return root


def test_run_writes_nab_layout_and_scores(one_series_nab, tmp_path):
    out = tmp_path / "out"
    result = runner.run(one_series_nab, out, "trends_detector", "1-0-0")

    detector = "trends_detector-1-0-0"
    path = out / detector / "realTraffic" / f"{detector}_speed_7578.csv"
    data = corpus.read_data_file(one_series_nab, REAL_SERIES)
    lines = path.read_text().splitlines()
    assert lines[0] == "timestamp,value,anomaly_score"
    rows = [line.split(",") for line in lines[1:]]
    assert len(rows) == len(data) == 1127
    assert [r[0] for r in rows] == list(data.timestamps) and [r[1] for r in rows] == list(
        data.values
    )
    assert all(0.0 <= float(r[2]) <= 1.0 for r in rows)
    assert {p.name for p in (out / detector).glob("*_scores.csv")} == {
        f"{detector}_{profile}_scores.csv" for profile in corpus.load_profiles(one_series_nab)
    }

    assert result["spec"] == "trends_detector/1-0-0" and result["detector"] == detector
    assert (result["n_files"], result["n_points"], result["n_windows"]) == (1, 1127, 4)
    assert set(result["scores"]) == {"standard", "reward_low_FP_rate", "reward_low_FN_rate"}
    assert all(-100.0 <= s <= 100.0 for s in result["scores"].values())
    assert result["points_per_s"] > 0

    again = runner.run(one_series_nab, tmp_path / "again", "trends_detector", "1-0-0")
    assert (
        tmp_path / "again" / detector / "realTraffic" / path.name
    ).read_bytes() == path.read_bytes()
    assert again["scores"] == result["scores"]


def test_nab_inputs_give_the_detector_the_series_range_and_probation(one_series_nab, tmp_path):
    out = tmp_path / "out"
    result = runner.run(one_series_nab, out, "trends_detector", "3-1-0", nab_inputs=True)
    detector = "trends_detector-3-1-0-nab-inputs"
    assert result["detector"] == detector
    data = corpus.read_data_file(one_series_nab, REAL_SERIES)
    written = corpus.read_results_file(out, detector, data)

    spec = specs.load("trends_detector", "3-1-0")
    values = [float(v) for v in data.values]
    by_hand = spec.estimator_class(**{**spec.params, **spec.estimator_class.nab_inputs(
        min(values), max(values), scoring.probation_length(len(values)))})
    expected = [spec.anomaly_score(score_then_learn(by_hand, {"count": v})) for v in values]
    assert written == pytest.approx(expected, abs=1e-6)
    online = runner.run(one_series_nab, tmp_path / "online", "trends_detector", "3-1-0")
    assert online["detector"] == "trends_detector-3-1-0"
    assert corpus.read_results_file(tmp_path / "online", online["detector"], data) != written


def test_nab_inputs_are_refused_for_a_detector_that_takes_none(one_series_nab, tmp_path):
    with pytest.raises(corpus.NabError, match="takes no NAB runner inputs"):
        runner.run(one_series_nab, tmp_path, "trends_detector", "1-0-0", nab_inputs=True)


@pytest.mark.parametrize(("baseline", "expected"), [("null", 0.0), ("perfect", 100.0)])
def test_baselines_on_a_real_series(one_series_nab, tmp_path, baseline, expected):
    result = runner.run_baseline(one_series_nab, tmp_path / "out", baseline)
    assert result["scores"] == pytest.approx(dict.fromkeys(result["scores"], expected))


def test_results_files_are_checked_against_the_data(one_series_nab, tmp_path):
    data = corpus.read_data_file(one_series_nab, REAL_SERIES)
    corpus.write_results_file(tmp_path, "d", data, [0.5] * len(data))
    assert corpus.read_results_file(tmp_path, "d", data) == [0.5] * len(data)
    with pytest.raises(corpus.NabError, match="1126 scores for 1127 rows"):
        corpus.write_results_file(tmp_path, "d", data, [0.5] * (len(data) - 1))
    path = corpus.results_path(tmp_path, "d", REAL_SERIES)
    path.write_text("\n".join(path.read_text().splitlines()[:-1]) + "\n")
    with pytest.raises(
        corpus.NabDataError, match="1126 rows, but realTraffic/speed_7578.csv has 1127"
    ):
        corpus.read_results_file(tmp_path, "d", data)


def test_main_prints_scores_and_the_reproducing_command(one_series_nab, tmp_path, capsys):
    assert (
        runner.main(
            ["--out", str(tmp_path / "out"), "--nab-dir", str(one_series_nab), "--baseline", "null"]
        )
        == 0
    )
    captured = capsys.readouterr()
    assert "standard" in captured.out and "points/s" in captured.out
    assert f"reproduce: python -m personastream_bench.nab --out {tmp_path / 'out'}" in captured.out
    assert "nab: 1/1 realTraffic/speed_7578.csv" in captured.err


def test_main_reports_a_missing_corpus(tmp_path, capsys):
    assert runner.main(["--out", str(tmp_path / "out"), "--nab-dir", str(tmp_path / "nowhere")]) == 2
    assert "NAB data directory not found" in capsys.readouterr().err

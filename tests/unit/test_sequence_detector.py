"""SequenceNoveltyDetector (trends_detector 4-x): pure logic (no NAB corpus needed)."""

from __future__ import annotations

import copy
import pickle
import random
from collections import deque

import pytest

from personastream_models import specs
from personastream_models.detectors import score_then_learn
from personastream_models.sequence import SequenceNoveltyDetector

#: A daily-like shape, repeated: every run of levels in it is learned after a few repeats.
SHAPE = [10.0, 12.0, 15.0, 20.0, 26.0, 30.0, 26.0, 20.0, 15.0, 12.0]


def _xs(values):
    return [{"count": v} for v in values]


def _run(detector, values):
    return [score_then_learn(detector, x) for x in _xs(values)]


def _noisy(n, seed=0):
    rng = random.Random(seed)
    return [rng.uniform(0.0, 100.0) for _ in range(n)]


def test_a_repeated_shape_scores_zero_and_a_break_in_it_within_the_range_scores_high():
    detector = SequenceNoveltyDetector(learning_period=20, rest_period=10)
    scores = _run(detector, SHAPE * 40)
    assert set(scores[100:]) == {0.0}
    # 10 -> 12 -> 29: inside the learned range [10, 30], but 12 never led to the top level
    assert _run(detector, [10.0, 12.0])[-1] == 0.0
    assert score_then_learn(detector, {"count": 29.0}) > 0.9


def test_scores_are_zero_during_the_learning_period():
    detector = SequenceNoveltyDetector(learning_period=30)
    assert set(_run(detector, _noisy(30))) == {0.0}
    assert detector.score_one({"count": 1e9}) == 1.0  # from the 31st value on


def test_raw_score_is_the_share_of_new_contexts():
    detector = SequenceNoveltyDetector(learning_period=0, rest_period=0, magnitude_floor=1.0,
                                       rate_damping=0.0, spatial_tolerance=0.0, n_bins=2)
    _run(detector, [0.0, 10.0] * 20)  # levels 0 1 0 1 ...
    assert detector.score_one({"count": 0.0}) == 0.0  # (1 0 1 0): every context made
    assert detector.score_one({"count": 10.0}) == 1.0  # 1 -> 1 never made, nor longer runs
    detector.learn_one({"count": 10.0})  # last levels: 1 0 1 1
    assert detector.score_one({"count": 0.0}) == pytest.approx(2 / 3)  # (1 1 0), (0 1 1 0)
    _run(detector, [0.0, 10.0, 10.0, 10.0])  # makes (1 1 0) once; last levels: 0 1 1 1
    assert detector.score_one({"count": 0.0}) == pytest.approx(1 / 3)  # only (1 1 1 0) new


def test_a_reported_alarm_starts_a_rest_but_a_value_beyond_the_range_is_scored_in_it():
    detector = SequenceNoveltyDetector(learning_period=20, rest_period=50, rate_damping=0.0)
    _run(detector, SHAPE * 40)
    _run(detector, [10.0, 12.0])
    assert score_then_learn(detector, {"count": 29.0}) >= detector.rest_threshold
    assert _run(detector, [10.0, 29.0, 10.0, 29.0]) == [0.0] * 4  # new runs, resting
    assert score_then_learn(detector, {"count": 31.0}) == 0.0  # within 5 % of the range
    assert score_then_learn(detector, {"count": 40.0}) == 1.0  # beyond it: scored
    assert detector._since_alarm == 0  # and a new rest started


def test_runs_older_than_the_memory_are_new_again():
    def score_of_a_return(memory):
        detector = SequenceNoveltyDetector(learning_period=20, rest_period=0, memory=memory,
                                           magnitude_floor=1.0, rate_damping=0.0)
        # levels 1 6 1 6 ..., then 1000 times level 4, then 1 6
        _run(detector, [0.0, 100.0] * 100 + [50.0] * 1000 + [0.0, 100.0])
        return detector.score_one({"count": 0.0})  # ends 4 1 6 1

    assert score_of_a_return(memory=0) == pytest.approx(1 / 3)  # 6 1, 1 6 1 remembered
    assert score_of_a_return(memory=300) == 1.0  # made more than 300 values ago: forgotten


def test_memory_forgets_exactly_what_fell_out_of_it():
    detector = SequenceNoveltyDetector(learning_period=20, memory=50, relearn_window=30)
    _run(detector, _noisy(2000, seed=2))
    assert len(detector.remembered_runs()) == 50
    assert len(detector._history) <= 50 + detector.order + 1
    assert len(detector.runs()) <= 50 * (detector.order + 1)
    expected = {}
    for levels in detector.remembered_runs():
        for k in range(len(levels)):
            expected[levels[k:]] = expected.get(levels[k:], 0) + 1
    assert detector.runs() == expected


def test_the_grid_is_refitted_only_when_a_value_falls_off_it():
    detector = SequenceNoveltyDetector(learning_period=5, relearn_window=20)
    _run(detector, [0.0, 100.0])
    grid = detector._grid
    _run(detector, [50.0, 110.0, -10.0])  # within the 30 % margins: same grid
    assert detector._grid == grid
    _run(detector, [1000.0])  # off the grid: re-fitted to the learned range [-10, 1000]
    low, step = detector._grid
    assert low == pytest.approx(-10.0 - 0.3 * 1010.0)
    assert step == pytest.approx(1010.0 * 1.6 / 8)
    assert len(detector.remembered_runs()) == 6  # the recent values learned again on it


def test_rate_damping_divides_scores_by_the_rate_of_high_raw_scores():
    values = _noisy(3000, seed=5)
    plain = SequenceNoveltyDetector(learning_period=20, rest_period=0, rate_damping=0.0)
    damped = SequenceNoveltyDetector(learning_period=20, rest_period=0, rate_damping=8.0)
    lowered = 0
    for x in _xs(values):
        a, b = plain.score_one(x), damped.score_one(x)
        assert damped._rate == plain._rate
        assert b == pytest.approx(a / (1 + 8.0 * plain._rate))
        lowered += b < a
        plain.learn_one(x)
        damped.learn_one(x)
    assert plain._rate > 0.01 and lowered > 1000  # noise makes new runs often


def test_pickle_round_trip_mid_stream_gives_identical_scores():
    values = _noisy(1500, seed=3)
    values[1200] = 500.0
    detector = SequenceNoveltyDetector(learning_period=50, rest_period=20, memory=300)
    _run(detector, values[:700])
    restored = pickle.loads(pickle.dumps(detector))
    twin = copy.deepcopy(detector)
    expected = _run(detector, values[700:])
    assert _run(restored, values[700:]) == expected
    assert _run(twin, values[700:]) == expected


def test_a_detector_pickled_as_a_deque_of_runs_restores_and_scores_the_same():
    """Checkpoints taken before the history was flat hold ``_learned`` (a deque of the run
    ending at each remembered value) and ``_recent`` as a deque."""
    values = _noisy(2500, seed=4)
    detector = SequenceNoveltyDetector(learning_period=50, memory=300, relearn_window=200)
    _run(detector, values[:1800])
    old = {k: v for k, v in vars(detector).items() if k not in ("_history", "_since_fit")}
    old.update(_learned=deque(detector.remembered_runs()), _runs=detector.runs(),
               _recent=deque(detector._recent, maxlen=detector.relearn_window))
    restored = SequenceNoveltyDetector.__new__(SequenceNoveltyDetector)
    restored.__setstate__(copy.deepcopy(old))
    assert _run(restored, values[1800:]) == _run(detector, values[1800:])


def test_the_pickled_state_is_flat():
    detector = SequenceNoveltyDetector(memory=4000, relearn_window=750)
    _run(detector, _noisy(6000, seed=6))
    # levels as 2-byte ints, values as doubles, runs and counts as 8-byte ints: no object per
    # value or run
    assert len(pickle.dumps(detector)) < 2 * 4004 + 8 * 750 + 16 * len(detector.runs()) + 2000


def test_score_one_does_not_change_state():
    detector = SequenceNoveltyDetector(learning_period=20, rest_period=5)
    _run(detector, _noisy(500, seed=1))
    before = pickle.dumps(detector)
    for value in (50.0, 0.0, 1e6, -5.0):
        detector.score_one({"count": value})
    assert pickle.dumps(detector) == before


def test_clone_is_untrained():
    values = _noisy(400)
    trained = SequenceNoveltyDetector(learning_period=20, rest_period=5)
    _run(trained, values)
    fresh = SequenceNoveltyDetector(learning_period=20, rest_period=5)
    assert _run(trained.clone(), values) == _run(fresh, values)


def test_a_constant_series_scores_zero_and_any_change_scores_one():
    detector = SequenceNoveltyDetector(learning_period=20)
    assert set(_run(detector, [7.0] * 300)) == {0.0}
    assert detector.score_one({"count": 8.0}) == 1.0


def test_extreme_values_beyond_a_narrow_range_score_without_overflow():
    detector = SequenceNoveltyDetector(learning_period=5)
    _run(detector, [1.0, 1.0 + 1e-12] * 10)  # bins of 2e-13
    assert score_then_learn(detector, {"count": 1e300}) == 1.0  # 5e312 bins away: clamped
    assert 0.0 < score_then_learn(detector, {"count": -1e300}) <= 1.0


@pytest.mark.parametrize("value", [float("inf"), float("nan")])
def test_non_finite_values_are_rejected(value):
    detector = SequenceNoveltyDetector(learning_period=2)
    with pytest.raises(ValueError, match="finite"):
        detector.learn_one({"count": value})


@pytest.mark.parametrize("params", [{"n_bins": 0}, {"n_bins": 40_000}, {"order": 0},
                                    {"order": 7, "n_bins": 200}, {"relearn_window": 0},
                                    {"memory": -1}])
def test_sizes_out_of_range_are_rejected(params):
    with pytest.raises(ValueError, match="must (be|fit)"):
        SequenceNoveltyDetector(**params)


def test_version_4_1_0_is_4_0_0_with_the_cross_validated_parameters():
    base, tuned = specs.load("trends_detector", "4-0-0"), specs.load("trends_detector", "4-1-0")
    assert type(specs.build(tuned)) is SequenceNoveltyDetector
    changed = {k for k in tuned.params if tuned.params[k] != base.params[k]}
    assert changed == {"rate_damping", "rest_period"}
    assert (tuned.params["rate_damping"], tuned.params["rest_period"]) == (8.0, 160)
    assert tuned.stand_in == base.stand_in == specs.StandIn("2-0-0", 100)
    specs.check_bump(specs.load("trends_detector", "3-5-0"), base)
    specs.check_bump(base, tuned)

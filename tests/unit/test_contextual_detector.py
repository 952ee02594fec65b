"""ContextualAnomalyDetector: pure logic (no NAB corpus needed)."""

from __future__ import annotations

import copy
import pickle
import random

import pytest

from personastream_models.contextual import ContextualAnomalyDetector
from personastream_models.detectors import score_then_learn


def _steady(n, seed=0):
    rng = random.Random(seed)
    return [{"count": 100.0 + rng.choice((-2.0, -1.0, 0.0, 1.0, 2.0))} for _ in range(n)]


def _run(detector, xs):
    return [score_then_learn(detector, x) for x in xs]


def test_steady_stream_scores_low_and_a_spike_scores_high():
    detector = ContextualAnomalyDetector(learning_period=50, rest_period=20)
    scores = _run(detector, _steady(1500))
    assert max(scores[-500:]) < 0.75  # below base_threshold: no rest period started
    spike = score_then_learn(detector, {"count": 500.0})
    assert spike >= 0.75


def test_scores_are_zero_during_the_learning_period():
    detector = ContextualAnomalyDetector(learning_period=30)
    assert set(_run(detector, _steady(30))) == {0.0}


def test_rest_period_silences_the_next_scores():
    detector = ContextualAnomalyDetector(learning_period=50, rest_period=20)
    _run(detector, _steady(1500))
    assert score_then_learn(detector, {"count": 500.0}) >= 0.75
    after = _run(detector, [{"count": 900.0}] * 20)
    assert after == [0.0] * 20


def test_pickle_round_trip_mid_stream_gives_identical_scores():
    xs = _steady(1200, seed=3)
    xs[900]["count"] = 400.0
    detector = ContextualAnomalyDetector(learning_period=50, rest_period=20, max_contexts=300)
    _run(detector, xs[:600])
    restored = pickle.loads(pickle.dumps(detector))
    assert _run(restored, xs[600:]) == _run(detector, xs[600:])
    twin = copy.deepcopy(detector)
    assert _run(twin, xs[:100]) == _run(detector, xs[:100])


def test_score_one_does_not_change_state():
    detector = ContextualAnomalyDetector(learning_period=20, rest_period=5)
    _run(detector, _steady(400, seed=1))
    before = pickle.dumps(detector)
    for value in (100.0, 0.0, 1e6, -5.0):
        detector.score_one({"count": value})
    assert pickle.dumps(detector) == before


def test_memory_stays_bounded():
    rng = random.Random(7)
    detector = ContextualAnomalyDetector(learning_period=20, max_contexts=200)
    _run(detector, [{"count": rng.uniform(0, 100)} for _ in range(2000)])
    assert len(detector._contexts) <= 200


def test_clone_is_untrained():
    xs = _steady(300)
    trained = ContextualAnomalyDetector(learning_period=20, rest_period=5)
    _run(trained, xs)
    fresh = ContextualAnomalyDetector(learning_period=20, rest_period=5)
    assert _run(trained.clone(), xs) == _run(fresh, xs)


@pytest.mark.parametrize("value", [float("inf"), float("nan")])
def test_non_finite_values_are_rejected(value):
    detector = ContextualAnomalyDetector(learning_period=2)
    with pytest.raises(ValueError, match="finite"):
        detector.learn_one({"count": value})


def test_a_huge_spike_is_scored_even_during_a_rest_period():
    detector = ContextualAnomalyDetector(learning_period=50, rest_period=200)
    _run(detector, _steady(1500))
    assert score_then_learn(detector, {"count": 130.0}) >= 0.75  # starts a rest
    assert score_then_learn(detector, {"count": 131.0}) == 0.0  # resting
    assert score_then_learn(detector, {"count": 5000.0}) >= 0.75  # far beyond the range
    silent = ContextualAnomalyDetector(learning_period=50, rest_period=200, rest_override=0)
    _run(silent, _steady(1500) + [{"count": 130.0}])
    assert score_then_learn(silent, {"count": 5000.0}) == 0.0


@pytest.mark.parametrize("seed", range(3))
def test_only_a_reported_alarm_starts_a_rest_when_rests_do_not_extend(seed):
    def after_unsettled_stretch(rest_extends):
        detector = ContextualAnomalyDetector(learning_period=50, rest_period=20,
                                             rest_extends=rest_extends)
        _run(detector, _steady(1500))
        assert score_then_learn(detector, {"count": 130.0}) >= 0.75  # an alarm: a rest
        rng = random.Random(seed)  # new levels: high raw scores all through the rest
        assert set(_run(detector, [{"count": rng.uniform(60, 125)} for _ in range(20)])) == {0.0}
        return score_then_learn(detector, {"count": 70.0})

    assert after_unsettled_stretch(rest_extends=True) == 0.0  # CAD OSE: still resting
    assert after_unsettled_stretch(rest_extends=False) > 0.0  # the rest is over


def test_size_weight_lowers_the_scores_of_ordinary_values_but_not_of_a_spike():
    xs = _steady(1500, seed=4)
    plain = ContextualAnomalyDetector(learning_period=50, rest_period=20)
    weighed = ContextualAnomalyDetector(learning_period=50, rest_period=20, magnitude_floor=0.5)
    a, b = _run(plain, xs), _run(weighed, xs)
    assert all(0.5 * p - 1e-12 <= w <= p for w, p in zip(b, a)) and sum(b) < sum(a)
    spike = {"count": 500.0}
    assert score_then_learn(weighed, spike) == score_then_learn(plain, spike) >= 0.75


def test_a_value_just_beyond_the_learned_range_scores_one_even_during_a_rest():
    def after_alarm(spatial_tolerance):
        detector = ContextualAnomalyDetector(learning_period=50, rest_period=200,
                                             spatial_tolerance=spatial_tolerance)
        _run(detector, _steady(1500))  # range [98, 102]
        assert score_then_learn(detector, {"count": 130.0}) >= 0.75  # an alarm: a rest
        return detector

    spatial = after_alarm(0.05)  # range now [98, 130]: beyond it by more than 1.6
    assert score_then_learn(spatial, {"count": 131.0}) == 0.0  # within the tolerance
    assert score_then_learn(spatial, {"count": 134.0}) == 1.0  # beyond: scored in the rest
    assert score_then_learn(spatial, {"count": 100.0}) == 0.0  # and it started a new rest
    assert spatial._since_alarm == 1
    assert score_then_learn(after_alarm(0.0), {"count": 134.0}) == 0.0  # off: still resting


def test_rate_damping_divides_scores_by_the_rate_of_high_raw_scores():
    rng = random.Random(5)
    xs = [{"count": rng.uniform(0, 100)} for _ in range(1500)]  # new transitions all along
    plain = ContextualAnomalyDetector(learning_period=50, rest_period=20)
    damped = ContextualAnomalyDetector(learning_period=50, rest_period=20, rate_alpha=0.01,
                                       rate_damping=10.0)
    rates = []
    for x in xs:
        p, d = plain.score_one(x), damped.score_one(x)
        assert d == pytest.approx(p / (1 + 10.0 * damped._rate))
        rates.append(damped._rate)
        plain.learn_one(x)
        damped.learn_one(x)
    assert rates[0] == 0.0 and max(rates) > 0.1
    steady = ContextualAnomalyDetector(learning_period=50, rate_alpha=0.01, rate_damping=10.0)
    _run(steady, _steady(1500))
    assert steady._rate < 0.01  # a familiar series keeps its scores


def test_with_a_rest_threshold_exactly_the_reported_alarms_start_rests():
    rng = random.Random(11)
    xs = _steady(600, seed=2) + [{"count": rng.uniform(90, 110)} for _ in range(900)]
    detector = ContextualAnomalyDetector(learning_period=50, rest_period=10, base_threshold=0.6,
                                         magnitude_floor=0.2, rest_extends=False,
                                         rest_threshold=0.6)
    muted = 0  # raw scores that would start a rest without the option, but are reported low
    for x in xs:
        reported = detector.score_one(x)
        raw = detector._step(x["count"], commit=False)
        resting = detector._resting(x["count"])
        detector.learn_one(x)
        assert (detector._since_alarm == 0) == (reported >= 0.6)
        muted += not resting and raw >= 0.6 > reported
    assert muted > 0


def test_a_rest_threshold_and_rest_extends_exclude_each_other():
    with pytest.raises(ValueError, match="choose one"):
        ContextualAnomalyDetector(rest_threshold=0.5, rest_extends=True)


def test_a_state_pickled_before_the_later_options_existed_still_loads():
    detector = ContextualAnomalyDetector(learning_period=20, rest_period=5)
    _run(detector, _steady(300))
    state = copy.deepcopy(detector.__getstate__())
    for name in ("rest_extends", "magnitude_floor", "magnitude_alpha", "_mean", "_var",
                 "value_min", "value_max", "relearn_window", "_fitted", "_recent",
                 "spatial_tolerance", "rate_alpha", "rate_damping", "_rate",
                 "rest_threshold"):
        del state[name]
    old = ContextualAnomalyDetector.__new__(ContextualAnomalyDetector)
    old.__setstate__(state)
    xs = _steady(200, seed=9)
    assert _run(old, xs) == _run(detector, xs)


def test_a_range_given_in_advance_is_the_grid_from_the_first_value():
    given = ContextualAnomalyDetector(learning_period=1, value_min=0, value_max=70, margin=0.0)
    learned = ContextualAnomalyDetector(learning_period=1, margin=0.0)
    for detector in (given, learned):
        detector.learn_one({"count": 35.0})
    # bins of 10 over [0, 70]: 35 and 45 are neighbours on the given grid; the learned grid
    # is the single value 35, so 45 lies beyond it
    assert given._facts(45.0) == (0, 2, 5) and learned._facts(45.0)[0] > 1 << 19
    assert (given._lo, given._hi) == (0.0, 70.0)
    given.learn_one({"count": 90.0})
    assert given._hi == 90.0  # and widens with a value beyond it


@pytest.mark.parametrize(("lo", "hi"), [(1.0, None), (None, 1.0), (5.0, 4.0)])
def test_a_range_needs_both_ends_in_order(lo, hi):
    with pytest.raises(ValueError, match="value_min and value_max: give both"):
        ContextualAnomalyDetector(value_min=lo, value_max=hi)


def test_relearning_refits_the_grid_only_when_a_value_falls_off_it():
    detector = ContextualAnomalyDetector(learning_period=10, rest_period=5, relearn_window=50)
    _run(detector, _steady(300))
    grid = detector._grid()
    score_then_learn(detector, {"count": 101.0})  # on the grid: it stays
    assert detector._grid() == grid
    score_then_learn(detector, {"count": 300.0})  # off it: re-fitted to the learned range
    lo, width = detector._grid()
    assert (lo, width) == (98.0 - 0.25 * 202.0, 202.0 * 1.5)
    # memory is what the last 50 values teach on the new grid, from nothing
    recent = list(detector._recent)
    fresh = ContextualAnomalyDetector(value_min=98.0, value_max=300.0)
    for value in recent:
        fresh.learn_one({"count": value})
    assert fresh._grid() == (lo, width)
    assert (detector._semi, detector._contexts) == (fresh._semi, fresh._contexts)


def test_relearning_and_a_frozen_grid_exclude_each_other():
    with pytest.raises(ValueError, match="choose one"):
        ContextualAnomalyDetector(relearn_window=10, freeze_grid=True)

"""MultiScaleSequenceDetector (trends_detector 5-x): pure logic (no NAB corpus needed)."""

from __future__ import annotations

import pickle
import random

import pytest

from personastream_models import specs
from personastream_models.detectors import score_then_learn
from personastream_models.multiscale import MultiScaleSequenceDetector
from personastream_models.sequence import SequenceNoveltyDetector

#: Four flat quarters of a day; ODD changes the third quarter, keeping every run of 4 values.
DAY = [10.0] * 4 + [20.0] * 4 + [30.0] * 4 + [20.0] * 4
ODD = [10.0] * 4 + [20.0] * 4 + [10.0] * 4 + [20.0] * 4


def _run(detector, values):
    return [score_then_learn(detector, {"count": v}) for v in values]


def _noisy(n, seed=0):
    rng = random.Random(seed)
    return [rng.uniform(0.0, 100.0) * (1 + (i // 300) % 3) for i in range(n)]


def test_a_change_of_shape_made_of_familiar_short_runs_is_new_at_the_coarse_scale():
    fine = SequenceNoveltyDetector(learning_period=40, rest_period=20)
    both = MultiScaleSequenceDetector(block=4, learning_period=40, rest_period=20)
    fine_scores, both_scores = _run(fine, DAY * 30 + ODD), _run(both, DAY * 30 + ODD)
    assert max(fine_scores[200:]) == 0.0 and max(both_scores[200:480]) == 0.0
    # scored at the end of the odd quarter's block: the run of block means 10, 20, 10 is new
    assert both_scores[480 + 11] > 0.4
    assert [i for i, s in enumerate(both_scores[480:]) if s > 0][0] == 11


def test_without_the_coarse_member_it_is_the_sequence_detector():
    params = dict(learning_period=50, rest_period=30, relearn_window=200, memory=500,
                  rate_damping=8.0)
    values = _noisy(3000)
    assert _run(MultiScaleSequenceDetector(coarse_weight=0.0, **params), values) == \
        _run(SequenceNoveltyDetector(**params), values)


def test_the_raw_score_is_the_max_of_the_fine_and_the_weighed_coarse_one():
    detector = MultiScaleSequenceDetector(block=4, coarse_weight=0.5, learning_period=40)
    values = _noisy(2000, seed=3)
    for i, v in enumerate(values):
        if detector._scoring():
            fine = SequenceNoveltyDetector._raw(detector, v)
            raw = detector._raw(v)
            if (i + 1) % 4:
                assert raw == fine
            else:
                mean = sum(values[i - 3:i + 1]) / 4
                coarse = detector._coarse._raw(mean) if detector._coarse._scoring() else 0.0
                assert raw == max(fine, 0.5 * coarse)
        detector.learn_one({"count": v})
    assert detector._coarse._n == 2000 // 4


def test_pickle_and_deepcopy_mid_stream_give_identical_scores(resumes_identically):
    detector = MultiScaleSequenceDetector(learning_period=50, memory=600)
    resumes_identically(detector, _noisy(2500, seed=1), 1203)  # mid-block


def test_score_one_does_not_change_state():
    detector = MultiScaleSequenceDetector(block=3, learning_period=20)
    _run(detector, _noisy(500))
    before = pickle.dumps(detector)
    for v in (0.0, 50.0, 1e6):
        detector.score_one({"count": v})
    assert pickle.dumps(detector) == before


def test_clone_is_untrained_with_the_same_parameters():
    detector = MultiScaleSequenceDetector(block=5, coarse_weight=0.6, rest_period=40)
    _run(detector, _noisy(300))
    clone = detector.clone()
    assert clone._get_params() == detector._get_params()
    assert clone._n == 0 and clone._coarse._n == 0 and clone._block_n == 0
    assert clone._coarse.learning_period == 20  # max(10, 100 // 5)


@pytest.mark.parametrize("params", [{"block": 0}, {"coarse_weight": 1.5}, {"n_bins": 0}])
def test_bad_parameters_are_rejected(params):
    with pytest.raises(ValueError):
        MultiScaleSequenceDetector(**params)


def test_version_5_0_0_is_4_1_0_with_a_coarse_member_of_8_value_blocks():
    new, base = specs.load("trends_detector", "5-0-0"), specs.load("trends_detector", "4-1-0")
    assert new.estimator_class is MultiScaleSequenceDetector
    assert {k: v for k, v in new.params.items() if k not in ("block", "coarse_weight")} == \
        base.params
    assert (new.params["block"], new.params["coarse_weight"]) == (8, 0.8)
    assert new.stand_in == base.stand_in and new.features == base.features
    assert isinstance(specs.build(new), MultiScaleSequenceDetector)

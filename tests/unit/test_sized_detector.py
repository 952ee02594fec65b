"""SizedCoarseDetector (trends_detector 7-x): pure logic (no NAB corpus)."""

from __future__ import annotations

import random

from personastream_models import specs
from personastream_models.confirmed import ConfirmedSequenceDetector
from personastream_models.detectors import score_then_learn
from personastream_models.sized import SizedCoarseDetector

PARAMS = dict(block=4, learning_period=50, rest_period=30, relearn_window=200, memory=500)


def _run(detector, values):
    return [score_then_learn(detector, {"count": v}) for v in values]


def _noisy(n, seed=0):
    rng = random.Random(seed)
    return [rng.uniform(0.0, 100.0) * (1 + (i // 300) % 3) for i in range(n)]


def test_the_coarse_score_is_6_x_s_times_the_block_means_size_weight():
    sized, plain = SizedCoarseDetector(**PARAMS), ConfirmedSequenceDetector(**PARAMS)
    weighed = 0
    for v in _noisy(3000, seed=3):
        mean = sized._block_mean(v)
        if sized._scoring() and mean is not None:
            coarse = plain._coarse_raw(mean)
            assert sized._coarse_raw(mean) == coarse * sized._size_weight(mean)
            assert sized._fine_raw(v) == plain._fine_raw(v)
            weighed += 0 < sized._coarse_raw(mean) < coarse
        for detector in (sized, plain):
            detector.learn_one({"count": v})
    assert weighed > 0


def test_without_the_coarse_member_it_scores_as_6_x():
    values = _noisy(2500, seed=1)
    params = {**PARAMS, "coarse_weight": 0.0}
    assert _run(SizedCoarseDetector(**params), values) == \
        _run(ConfirmedSequenceDetector(**params), values)


def test_pickle_and_deepcopy_mid_stream_give_identical_scores(resumes_identically):
    resumes_identically(SizedCoarseDetector(**PARAMS), _noisy(2500, seed=2), 1203)


def test_spec_7_0_0_builds_the_detector_with_6_0_0s_parameters():
    spec, before = specs.load("trends_detector", "7-0-0"), specs.load("trends_detector", "6-0-0")
    assert isinstance(specs.build(spec), SizedCoarseDetector)
    assert spec.params == before.params and spec.stand_in == before.stand_in

"""ConfirmedSequenceDetector (trends_detector 6-x) and RunSet: pure logic (no NAB corpus)."""

from __future__ import annotations

import pickle
import random

import pytest

from personastream_models import specs
from personastream_models.confirmed import ConfirmedSequenceDetector, RunSet
from personastream_models.detectors import score_then_learn
from personastream_models.sequence import SequenceNoveltyDetector, share_new

PARAMS = dict(learning_period=50, rest_period=30, relearn_window=200, memory=500)


def _run(detector, values):
    return [score_then_learn(detector, {"count": v}) for v in values]


def _noisy(n, seed=0):
    rng = random.Random(seed)
    return [rng.uniform(0.0, 100.0) * (1 + (i // 300) % 3) for i in range(n)]


@pytest.mark.parametrize("bins", [2, 4, 6])
@pytest.mark.parametrize("memory", [0, 50, 500])
def test_a_run_set_sees_a_new_run_where_the_sequence_detector_sees_a_new_share(bins, memory):
    """Beyond the first values after a re-fit, a run is new on a RunSet exactly when a sequence
    detector with the same grid finds a share of its contexts new (the re-fits included)."""
    runs = RunSet(bins, order=3, margin=0.3, relearn_window=200, memory=memory)
    detector = SequenceNoveltyDetector(n_bins=bins, relearn_window=200, memory=memory,
                                       learning_period=1)
    checked = 0
    for v in _noisy(3000, seed=bins):
        if detector._since_fit >= 3:
            assert runs.is_new(v) == (share_new(detector._runs, detector._ending_with(v)) > 0)
            checked += 1
        runs.learn(v)
        detector.learn_one({"count": v})
    assert runs._grid == detector._grid and checked > 2500


class _SpatialOnly(SequenceNoveltyDetector):
    """4-x with no novelty: only values beyond the learned range score."""

    def _raw(self, value):
        return 0.0


def test_without_confirming_grids_only_the_coarse_member_and_the_spatial_score_alarm():
    values = _noisy(3000, seed=2)
    confirmed = ConfirmedSequenceDetector(confirm_bins=(), coarse_weight=0.0, **PARAMS)
    scores = _run(confirmed, values)
    assert scores == _run(_SpatialOnly(**PARAMS), values) and max(scores) == 1.0


def test_a_fine_score_counts_when_a_coarser_grid_sees_a_new_run():
    detector = ConfirmedSequenceDetector(block=4, coarse_weight=0.5, **PARAMS)
    gated = 0
    for v in _noisy(3000, seed=3):
        if detector._scoring():
            fine = SequenceNoveltyDetector._raw(detector, v)
            confirmed = any(m.is_new(v) for m in detector._confirming)
            mean = detector._block_mean(v)
            coarse = 0.5 * detector._coarse._raw(mean) \
                if mean is not None and detector._coarse._scoring() else 0.0
            assert detector._raw(v) == max(fine if confirmed else 0.0, coarse)
            gated += fine > 0 and not confirmed
        detector.learn_one({"count": v})
    assert gated > 0


def test_pickle_and_deepcopy_mid_stream_give_identical_scores(resumes_identically):
    resumes_identically(ConfirmedSequenceDetector(**PARAMS), _noisy(2500, seed=1), 1203)


def test_score_one_does_not_change_state():
    detector = ConfirmedSequenceDetector(block=3, learning_period=20)
    _run(detector, _noisy(500))
    before = pickle.dumps(detector)
    for v in (0.0, 50.0, 1e6):
        detector.score_one({"count": v})
    assert pickle.dumps(detector) == before


def test_spec_6_0_0_builds_the_detector_with_5_0_0s_parameters():
    spec, before = specs.load("trends_detector", "6-0-0"), specs.load("trends_detector", "5-0-0")
    detector = specs.build(spec)
    assert isinstance(detector, ConfirmedSequenceDetector)
    assert detector.confirm_bins == (4, 6)
    assert {k: v for k, v in spec.params.items() if k != "confirm_bins"} == dict(before.params)
    assert spec.stand_in == before.stand_in

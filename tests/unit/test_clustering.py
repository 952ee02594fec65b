"""Offline clustering evaluation and warm start of the segments clusterer (pure logic)."""

from __future__ import annotations

import math

import pytest

from personastream_models import clustering, detectors, specs


@pytest.fixture(scope="module")
def result(clusterer_evaluation):
    return clusterer_evaluation("1-0-0")


def test_evaluate_reports_the_data_set_and_the_aris(result):
    assert (result["dataset"], result["n"], result["k"], result["seed"]) == (
        "image_segments", 2310, 7, 42
    )
    aris = [v for key, v in result.items() if key.startswith("ari_")]
    assert len(aris) == 6
    assert all(-1.0 <= v <= 1.0 for v in aris)
    for key in ("seconds_online", "seconds_final", "seconds_warm_start", "seconds_sklearn"):
        assert result[key] >= 0


def test_online_clusterer_beats_chance(result):
    # measured 0.091 (predict-then-learn) and 0.110 (final model) at seed 42
    assert result["ari_online"] > 0.05
    assert result["ari_final"] > 0.05


def test_sklearn_and_warm_start_reach_the_offline_level(result):
    # measured: sklearn 0.504, warm start 0.486 (online over the last 80 %), 0.505 (final)
    assert result["ari_sklearn"] > 0.4
    assert result["ari_warm_start"] > 0.4
    assert result["ari_warm_start"] > result["ari_online_tail"] + 0.2
    assert result["clusters_used_warm_start"] == result["k"]


def test_evaluate_rejects_detectors_and_unknown_data_sets():
    with pytest.raises(specs.SpecError, match="needs a clusterer"):
        clustering.evaluate("trends_detector")
    with pytest.raises(ValueError, match="unknown data set"):
        clustering.evaluate("customer_segments", dataset="nope")


def test_minmax_scale_puts_every_feature_in_the_unit_interval():
    X, _ = clustering.load_dataset("image_segments")
    scaled = clustering.minmax_scale(X[:200])
    assert all(0.0 <= v <= 1.0 for x in scaled for v in x.values())


POINTS = [{"a": 0.1 * (i % 3), "b": 0.9 - 0.1 * (i % 4)} for i in range(12)] + [
    {"a": 0.9, "b": 0.1}, {"a": 0.8, "b": 0.2}, {"a": 0.85, "b": 0.15}
]


def test_initial_centres_are_reproducible_for_a_seed():
    first = clustering.initial_centres(POINTS, n_clusters=3, seed=7)
    assert first == clustering.initial_centres(POINTS, n_clusters=3, seed=7)
    assert len(first) == 3
    assert all(sorted(c) == ["a", "b"] and all(math.isfinite(v) for v in c.values())
               for c in first)


def test_initial_centres_needs_enough_vectors():
    with pytest.raises(ValueError, match="at least 3 vectors"):
        clustering.initial_centres(POINTS[:2], n_clusters=3, seed=0)


@pytest.mark.parametrize("n", [0, 1, 3])
def test_warm_start_rejects_a_wrong_number_of_centres(n):
    km = detectors.SeededKMeans(n_clusters=2, seed=1)
    with pytest.raises(ValueError, match=f"needs 2 centres .* got {n}"):
        km.warm_start([{"a": 0.5}] * n)


def test_warm_start_rejects_a_centre_that_is_not_a_dict():
    km = detectors.SeededKMeans(n_clusters=2, seed=1)
    with pytest.raises(ValueError, match="centre 1 must be a dict"):
        km.warm_start([{"a": 0.5}, [0.5]])


def test_predict_one_uses_the_given_centres():
    km = specs.build(specs.load("customer_segments"))
    centres = [{"x": i / 5, "y": 1 - i / 5} for i in range(km.n_clusters)]
    km.warm_start(centres)
    assert [dict(c) for c in km.centers.values()] == centres
    for i, centre in enumerate(centres):
        assert km.predict_one(centre) == i
        assert km.predict_one({"x": centre["x"] + 0.01, "y": centre["y"]}) == i


def test_warm_started_model_keeps_learning_from_the_given_centres():
    km = detectors.SeededKMeans(n_clusters=2, halflife=0.5, seed=1)
    km.warm_start([{"a": 0.0}, {"a": 1.0}])
    km.learn_one({"a": 0.2})
    assert km.centers[0]["a"] == pytest.approx(0.1)
    assert km.centers[1]["a"] == 1.0

"""Model specs, feature sets and estimators: loading, validation, and one property-check harness
run over every published spec (ids ``name/version:check``)."""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import pickle
import random
import re
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

import personastream_models
from personastream_models import detectors, features, specs

# -- published specs are immutable ---------------------------------------------------------

#: SHA-256 of every published spec file. A published spec never changes: publish a new version
#: (and add its digest here) instead.
PUBLISHED = {
    "customer_segments/1-0-0": "43fd2a7234b398d212e10e3b780938237c3f2c273dd7a1de88f51624434fb8ab",
    "customer_segments/2-0-0": "71362ec11fac291bbbcda67ec23d79f8448859a736cd2496a82460531f0c7bae",
    "trends_detector/1-0-0": "6edf1ee4ac9e78494d23f0817260081eb68a54fbb73b811e22b1052770dc9a36",
    "trends_detector/2-0-0": "e47ca43401fd92f6eee01e97ef0673f7bdff1ea69e474ae7009bba6c6e54e85c",
    "trends_detector/3-0-0": "248f08590e6f2cc76bd143f7dfaffe70e52646935727eae2ad4c623f43b01a36",
    "trends_detector/3-1-0": "ca31996e8ff986a887dd00900cf868a43c9275a03c6c50b2c99a5946775e8e10",
    "trends_detector/3-2-0": "b739c1da214ace4dc447deb40569ed3e2d5337600035546ae35d7cfd8c84b5d3",
    "trends_detector/3-3-0": "2058b149cc63610da75afb837acd2ebda878138d2115703c60b3d13f64ca9ae8",
    "trends_detector/3-4-0": "a7739538e09770d40702a35e3784c7306d266fcd11bca76350a49b206d5f97e7",
    "trends_detector/3-5-0": "b2aba27743ffb713119b9bd4115436b6260e7813cb636c62011e03c6ad599b0e",
    "trends_detector/4-0-0": "c071ac2b4437ca3c4ee4ecaf21f8b96626c79d8e2aa34200de211f83bd107585",
    "trends_detector/4-1-0": "9d193df79d6b9d3138a95739b541d42e46f4582657de61337d64fa664c805a23",
    "trends_detector/5-0-0": "38c9b835d73c073f698d16600608389b89aade6ffaec80b1b8abc40b9a2aaee1",
    "trends_detector/6-0-0": "8150aa5d6ea9975e20e77d9992c6eed930729fccbdb8ca3f61b6055f4f5965f8",
    "trends_detector/7-0-0": "6919ab0ddfb84d1b7dff1e8ceedd88fa962247e5d135f780f9b9985dce001976",
}


def _spec_file(key: str):
    name, version = key.split("/")
    return resources.files("personastream_models").joinpath("specs", name, f"{version}.json")


def test_every_published_spec_is_listed_and_unchanged():
    on_disk = {f"{name}/{v}" for name, versions in specs.available().items() for v in versions}
    assert on_disk == set(PUBLISHED), "add the new spec's digest to PUBLISHED"
    for key, digest in PUBLISHED.items():
        actual = hashlib.sha256(_spec_file(key).read_bytes()).hexdigest()
        assert actual == digest, f"{key} changed after publication: publish a new version instead"


# -- loading -------------------------------------------------------------------------------


def test_load_returns_the_latest_version_by_default():
    latest = specs.versions("trends_detector")[-1]
    assert specs.load("trends_detector").version == latest
    assert specs.load("trends_detector", "1-0-0").key == "trends_detector/1-0-0"


def test_versions_sort_numerically():
    assert sorted(["1-10-0", "1-9-3", "10-0-0", "2-0-0"], key=specs.version_key) == [
        "1-9-3",
        "1-10-0",
        "2-0-0",
        "10-0-0",
    ]


@pytest.mark.parametrize(
    ("name", "version", "message"),
    [
        ("no_such_model", None, "no model spec named 'no_such_model'"),
        ("trends_detector", "9-9-9", "has no version '9-9-9'; published: 1-0-0"),
    ],
)
def test_load_unknown_names_what_exists(name, version, message):
    with pytest.raises(specs.SpecNotFound, match=message):
        specs.load(name, version)


def test_spec_round_trips_through_to_dict_and_pickle():
    spec = specs.load("trends_detector")
    assert specs.validate(spec.to_dict()) == spec
    assert pickle.loads(pickle.dumps(spec)) == spec


# -- validation names the field ------------------------------------------------------------


def _raw(name="trends_detector", version="1-0-0"):
    """A spec as its JSON object (the Half-Space Trees one by default: it takes a seed)."""
    return specs.load(name, version).to_dict()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"threshold": "high"},
            "spec trends_detector/1-0-0: field 'threshold' must be a number in [0, 1], got 'high'",
        ),
        ({"threshold": 1.5}, "field 'threshold' must be a number in [0, 1], got 1.5"),
        ({"threshold": True}, "field 'threshold' must be a number in [0, 1], got True"),
        ({"direction": "up"}, "field 'direction' must be one of above, below, got 'up'"),
        ({"kind": "regressor"}, "field 'kind' must be one of detector, clusterer, got 'regressor'"),
        ({"version": "1.0.0"}, "field 'version' must be MODEL-REVISION-ADDITION"),
        ({"name": "Trends"}, "field 'name' must be snake_case"),
        (
            {"estimator": "os.system"},
            "field 'estimator' must be a dotted class path in personastream_models. or river.",
        ),
        (
            {"estimator": "river.anomaly.NoSuchTrees"},
            "field 'estimator' names 'NoSuchTrees', which is not a class",
        ),
        (
            {"estimator": "river.cluster.KMeans"},
            "field 'estimator' river.cluster.KMeans is not a detector: it lacks score_one",
        ),
        (
            {"params": {"n_trees": 10, "n_tree": 3, "seed": 1}},
            "field 'params' has 'n_tree', which .* does not take",
        ),
        ({"params": {"n_trees": 10}}, "field 'params' must set 'seed' to an integer"),
        ({"params": []}, "field 'params' must be an object"),
        ({"features": "trend_magic"}, "field 'features' must name a feature set"),
        ({"extra": 1}, "field 'extra' is not a spec field"),
        ({"description": 3}, "field 'description' must be a string"),
    ],
)
def test_validate_names_the_bad_field(change, message):
    with pytest.raises(specs.InvalidSpec, match=message if ".*" in message else re.escape(message)):
        specs.validate({**_raw(), **change})


@pytest.mark.parametrize("field", specs.REQUIRED_FIELDS)
def test_validate_requires_every_field(field):
    raw = _raw()
    del raw[field]
    with pytest.raises(specs.InvalidSpec, match=f"field '{field}' is required"):
        specs.validate(raw)


def test_validate_checks_name_and_version_against_the_file_path():
    with pytest.raises(
        specs.InvalidSpec, match="field 'version' must equal its file name '1-0-1'.json"
    ):
        specs.validate(_raw(), path_name="trends_detector", path_version="1-0-1")
    with pytest.raises(specs.InvalidSpec, match="field 'name' must equal its folder name 'other'"):
        specs.validate(_raw(), path_name="other", path_version="1-0-0")


@pytest.mark.parametrize("field", ["threshold", "direction"])
def test_clusterer_specs_have_no_threshold(field):
    with pytest.raises(specs.InvalidSpec, match=f"field '{field}' must be null for a clusterer"):
        specs.validate(
            {**_raw("customer_segments"), field: 0.5 if field == "threshold" else "above"}
        )


def test_direction_orients_scores_and_threshold():
    above = specs.load("trends_detector")
    below = specs.validate({**above.to_dict(), "direction": "below", "threshold": 0.2})
    assert above.anomaly_score(0.3) == 0.3 and below.anomaly_score(0.3) == pytest.approx(0.7)
    assert above.is_anomaly(above.threshold) and not above.is_anomaly(above.threshold - 1e-9)
    assert below.is_anomaly(0.2) and not below.is_anomaly(0.21)
    with pytest.raises(specs.SpecError, match="needs a detector spec"):
        specs.load("customer_segments").is_anomaly(0.5)


# -- feature sets --------------------------------------------------------------------------


def test_trend_features():
    assert features.trend_features(0) == {"count": 0.0, "log1p_count": 0.0}
    assert features.trend_features(-3)["log1p_count"] == pytest.approx(-math.log(4))
    midnight = features.trend_features(1, minute_of_day=0)
    assert (midnight["minute_sin"], midnight["minute_cos"]) == pytest.approx((0.0, 1.0))
    with pytest.raises(features.FeatureInputError, match="minute_of_day must be in"):
        features.trend_features(1, minute_of_day=1440)
    with pytest.raises(features.FeatureInputError, match="count must be a finite number"):
        features.trend_features(float("nan"))


PROFILE = {
    "n_days": 30,
    "n_product_views": 60,
    "n_add_to_carts": 6,
    "n_purchases": 2,
    "spend": 90.0,
    "category_views": {"shoes": 30, "bags": 20, "hats": 10},
}


def test_behaviour_vector_is_bounded_and_complete():
    vector = features.behaviour_vector(PROFILE)
    assert tuple(vector) == features.BEHAVIOUR_KEYS
    assert all(0.0 <= v <= 1.0 for v in vector.values())
    assert vector["cart_rate"] == pytest.approx(0.1) and vector[
        "top_category_share"
    ] == pytest.approx(0.5)
    idle = features.behaviour_vector(
        {
            **PROFILE,
            "n_product_views": 0,
            "n_add_to_carts": 0,
            "n_purchases": 0,
            "spend": 0,
            "category_views": {},
        }
    )
    assert set(idle.values()) == {0.0}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"n_days": 0}, "profile\\['n_days'\\] must be > 0"),
        ({"spend": -1}, "profile\\['spend'\\] must be >= 0"),
    ],
)
def test_behaviour_vector_names_the_bad_key(change, message):
    with pytest.raises(features.FeatureInputError, match=message):
        features.behaviour_vector({**PROFILE, **change})


def test_behaviour_vector_names_a_missing_key():
    profile = dict(PROFILE)
    del profile["n_purchases"]
    with pytest.raises(features.FeatureInputError, match="profile is missing 'n_purchases'"):
        features.behaviour_vector(profile)


def test_feature_sets_select_their_keys_and_unknown_names_fail():
    assert features.feature_set("trend_count")(count=2, minute_of_day=5) == {"count": 2.0}
    with pytest.raises(features.UnknownFeatureSet, match="known: behaviour_vector, trend_count"):
        features.feature_set("nope")


# -- score_then_learn ----------------------------------------------------------------------


class _Recorder:
    def __init__(self, score):
        self.score, self.learned = score, []

    def score_one(self, x):
        return self.score

    def learn_one(self, x):
        self.learned.append(x)


def test_score_then_learn_scores_before_learning():
    detector = detectors.ScaledHalfSpaceTrees(n_trees=2, height=2, window_size=2, seed=1)
    first = detectors.score_then_learn(detector, {"count": 5.0})
    assert first == 0.0 and detector._trees.trees  # scored untrained, then learned
    recorder = _Recorder(0.25)
    assert detectors.score_then_learn(recorder, {"count": 1}) == 0.25 and recorder.learned == [
        {"count": 1}
    ]


@pytest.mark.parametrize("bad", [1.5, -0.1, float("nan"), None])
def test_score_then_learn_refuses_scores_outside_0_1(bad):
    recorder = _Recorder(bad)
    with pytest.raises(detectors.ScoreOutOfRange, match="must return a number in \\[0, 1\\]"):
        detectors.score_then_learn(recorder, {"count": 1})
    assert recorder.learned == []


# -- one property-check harness for every published spec ----------------------------------

ALL_SPECS = [f"{name}/{v}" for name, versions in specs.available().items() for v in versions]
N_WARMUP, N_AFTER = 600, 200


def _stream(spec, n, seed=0):
    """A synthetic stream of the spec's inputs: two regimes, so models have something to learn."""
    rng = random.Random(seed)
    feature_set = features.feature_set(spec.features)
    for i in range(n):
        if spec.features == "behaviour_vector":
            heavy = i % 2 == 0
            yield feature_set(
                {
                    "n_days": 30,
                    "n_product_views": rng.randint(200, 400) if heavy else rng.randint(5, 30),
                    "n_add_to_carts": rng.randint(0, 3) if heavy else rng.randint(5, 15),
                    "n_purchases": 0 if heavy else rng.randint(3, 8),
                    "spend": 0.0 if heavy else rng.uniform(300, 900),
                    "category_views": (
                        {"a": rng.randint(50, 100), "b": rng.randint(50, 100)}
                        if heavy
                        else {"a": 9}
                    ),
                }
            )
        else:
            count = rng.gauss(100, 5) if (i // 50) % 4 else rng.gauss(20, 3)
            if i % 97 == 0:
                count *= 4  # a spike now and then
            yield feature_set(count=max(count, 0.0), minute_of_day=i % features.MINUTES_PER_DAY)


def _outputs(model, spec, xs, learn=True):
    """Detector: scores via score_then_learn; clusterer: cluster ids predicted before learning."""
    out = []
    for x in xs:
        if spec.kind == "detector":
            out.append(detectors.score_then_learn(model, x) if learn else model.score_one(x))
        else:
            out.append(model.predict_one(x))
            if learn:
                model.learn_one(x)
    return out


def _check_builds_fresh(spec):
    a, b = specs.build(spec), specs.build(spec)
    assert a is not b and type(a) is spec.estimator_class
    assert a._get_params() == b._get_params()


def _check_outputs_in_range(spec):
    outputs = _outputs(specs.build(spec), spec, _stream(spec, N_WARMUP + N_AFTER))
    if spec.kind == "detector":
        assert all(0.0 <= s <= 1.0 for s in outputs)
        assert max(outputs) > min(outputs), "scores never vary"
    else:
        n_clusters = spec.params["n_clusters"]
        assert set(outputs) <= set(range(n_clusters))
        assert len(set(outputs[-N_AFTER:])) >= 2, "two regimes fell in one cluster"


def _check_pickle_round_trip(spec):
    model = specs.build(spec)
    xs = list(_stream(spec, N_WARMUP + N_AFTER))
    _outputs(model, spec, xs[:N_WARMUP])
    restored = pickle.loads(pickle.dumps(model))
    assert _outputs(restored, spec, xs[N_WARMUP:]) == _outputs(model, spec, xs[N_WARMUP:])


def _check_deepcopy(spec):
    model = specs.build(spec)
    xs = list(_stream(spec, N_WARMUP + N_AFTER))
    _outputs(model, spec, xs[:N_WARMUP])
    twin = copy.deepcopy(model)
    assert _outputs(twin, spec, xs[N_WARMUP:]) == _outputs(model, spec, xs[N_WARMUP:])


def _check_clone_is_untrained(spec):
    xs = list(_stream(spec, N_WARMUP))
    trained = specs.build(spec)
    _outputs(trained, spec, xs)
    assert _outputs(trained.clone(), spec, xs) == _outputs(specs.build(spec), spec, xs)


def _check_reproducible_with_seed(spec):
    xs = list(_stream(spec, N_WARMUP + N_AFTER))
    assert _outputs(specs.build(spec), spec, xs) == _outputs(specs.build(spec), spec, xs)
    if "seed" not in spec.params:  # deterministic estimator: nothing random to seed
        return
    reseeded = specs.build(
        {**spec.to_dict(), "params": {**spec.params, "seed": spec.params["seed"] + 1}}
    )
    if spec.kind == "clusterer":
        # a seed may only choose among k-means++ starts, and on two clear regimes every start
        # finds the same centres and ids: the seed's effect shows on points without structure
        rng = random.Random(1)
        xs = [{k: rng.random() for k in xs[0]} for _ in range(N_WARMUP + N_AFTER)]
    assert _outputs(reseeded, spec, xs) != _outputs(
        specs.build(spec), spec, xs
    ), "seed has no effect"


CHECKS = [
    _check_builds_fresh,
    _check_outputs_in_range,
    _check_pickle_round_trip,
    _check_deepcopy,
    _check_clone_is_untrained,
    _check_reproducible_with_seed,
]


@pytest.mark.parametrize(
    ("key", "check"),
    [(key, check) for key in ALL_SPECS for check in CHECKS],
    ids=[
        f"{key}:{check.__name__.removeprefix('_check_')}" for key in ALL_SPECS for check in CHECKS
    ],
)
def test_spec_estimator(key, check):
    name, version = key.split("/")
    check(specs.load(name, version))


def test_every_spec_reproduces_across_processes():
    """The same seed gives the same outputs in processes with different string hashing."""
    code = (
        "import json, runpy, sys\n"
        "harness = runpy.run_path(sys.argv[1])\n"
        "from personastream_models import specs\n"
        "out = {}\n"
        "for key in harness['ALL_SPECS']:\n"
        "    spec = specs.load(*key.split('/'))\n"
        "    stream = harness['_stream'](spec, 300)\n"
        "    out[key] = harness['_outputs'](specs.build(spec), spec, stream)\n"
        "print(json.dumps(out))\n"
    )
    models_dir = Path(personastream_models.__file__).resolve().parents[1]
    children = []
    for hash_seed in ("1", "2"):  # side by side: each child spends most of its time importing River
        env = {
            **os.environ,
            "PYTHONHASHSEED": hash_seed,
            "PYTHONPATH": os.pathsep.join(
                filter(None, [str(models_dir), os.environ.get("PYTHONPATH")])
            ),
        }
        children.append(
            subprocess.Popen(
                [sys.executable, "-c", code, __file__],
                env=env,
                text=True,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        )
    results = []
    for child in children:
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
        results.append(json.loads(out))
    assert results[0] == results[1]

"""One property harness for every model spec (``personastream models validate``).

Each spec must: build (with its artifacts), pickle mid-stream and continue identically (Flink
keeps estimators pickled in keyed state), clone into an unlearned twin (River's ``clone``),
reproduce its outputs from its seed in a fresh build, and learn and score a synthetic stream of
its feature set: detectors give scores in [0, 1] and score an injected spike above the steady
points; clusterers give ids in ``0 .. n_clusters - 1``.

Examples
--------
>>> from personastream_models import specs
>>> results = check(specs.load("trends_detector", "2-0-0"))
>>> [(r.name, r.ok) for r in results]  # doctest: +NORMALIZE_WHITESPACE
[('builds', True), ('pickles', True), ('clones', True), ('reproducible', True),
 ('learns and scores', True)]
"""
from __future__ import annotations

import pickle
import random
import statistics
from dataclasses import dataclass
from typing import Callable, Iterator

from river.base import Estimator

from personastream_models import artifacts
from personastream_models.detectors import score_then_learn
from personastream_models.features import BEHAVIOUR_KEYS

__all__ = ["Check", "SYNTHETIC", "check", "synthetic_stream"]

STREAM_LENGTH = 400
SPIKE = 10.0  # times the steady level


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str = ""


def _counts(seed: int) -> list[dict]:
    """Minute counts around 20 with a daily-like wave, then one spike (the last point)."""
    rng = random.Random(seed)
    steady = [{"count": float(max(0, round(20 + 5 * ((i % 60) / 30 - 1) + rng.gauss(0, 2))))}
              for i in range(STREAM_LENGTH - 1)]
    return steady + [{"count": 20.0 * SPIKE}]


def _vectors(seed: int) -> list[dict]:
    """Behaviour vectors from three customer types, each feature in [0, 1]."""
    rng = random.Random(seed)
    centres = [{k: rng.random() for k in BEHAVIOUR_KEYS} for _ in range(3)]
    return [{k: min(1.0, max(0.0, v + rng.gauss(0, 0.05))) for k, v in rng.choice(centres).items()}
            for _ in range(STREAM_LENGTH)]


#: A synthetic stream for each feature set (a new feature set needs one here).
SYNTHETIC: dict[str, Callable[[int], list[dict]]] = {"trend_count": _counts,
                                                      "behaviour_vector": _vectors}


def synthetic_stream(features: str, seed: int = 7) -> list[dict]:
    """The synthetic stream of feature set ``features``.

    >>> synthetic_stream("trend_count")[-1]
    {'count': 200.0}
    """
    if features not in SYNTHETIC:
        raise LookupError(f"the harness has no synthetic stream for feature set {features!r}; "
                          "add one to personastream_models.harness.SYNTHETIC")
    return SYNTHETIC[features](seed)


def _run(spec, model, stream: list[dict]) -> list:
    """Outputs of ``model`` over ``stream``, the way the jobs run it."""
    if spec.kind == "detector":
        return [score_then_learn(model, x) for x in stream]
    out = []
    for x in stream:
        model.learn_one(x)
        out.append(model.predict_one(x))
    return out


def _checks(spec) -> Iterator[Check]:
    try:
        model = artifacts.build_warm(spec)
    except Exception as error:  # noqa: BLE001 - any failure to build is the finding
        yield Check("builds", False, f"field 'params' does not build {spec.estimator}: "
                                     f"{type(error).__name__}: {error}")
        return
    yield Check("builds", True, type(model).__name__)
    stream = synthetic_stream(spec.features)
    half = len(stream) // 2

    expected = _run(spec, artifacts.build_warm(spec), stream)
    _run(spec, model, stream[:half])
    try:
        revived = pickle.loads(pickle.dumps(model))
    except Exception as error:  # noqa: BLE001
        yield Check("pickles", False, f"{type(error).__name__}: {error}")
    else:
        same = _run(spec, revived, stream[half:]) == expected[half:]
        yield Check("pickles", same, "" if same else
                    "after a pickle round trip mid-stream the outputs differ from an unpickled run")

    twin = model.clone() if isinstance(model, Estimator) else None
    if twin is None:
        yield Check("clones", False, f"{type(model).__name__} is not a river Estimator")
    else:
        same = twin._get_params() == model._get_params() and \
            _run(spec, twin, stream) == _run(spec, spec.estimator_class(**spec.params), stream)
        yield Check("clones", same, "" if same else "a clone is not an unlearned twin of the spec")

    again = _run(spec, artifacts.build_warm(spec), stream)
    yield Check("reproducible", again == expected,
                "" if again == expected else "two builds from the same spec and seed disagree")

    yield _behaviour(spec, expected)


def _behaviour(spec, outputs: list) -> Check:
    if spec.kind == "detector":
        bad = [s for s in outputs if not 0.0 <= s <= 1.0]
        if bad:
            return Check("learns and scores", False, f"scores outside [0, 1]: {bad[:3]}")
        spike = spec.anomaly_score(outputs[-1])
        steady = statistics.median(spec.anomaly_score(s) for s in outputs[:-1])
        ok = spike > steady
        return Check("learns and scores", ok, f"spike {spike:.3f} vs steady median {steady:.3f}"
                     + ("" if ok else ": the injected spike does not stand out"))
    n_clusters = getattr(spec.estimator_class(**spec.params), "n_clusters", None)
    bad = [c for c in outputs if not isinstance(c, int) or
           (n_clusters is not None and not 0 <= c < n_clusters)]
    used = len(set(outputs))
    return Check("learns and scores", not bad and used > 1,
                 f"{used} cluster ids used" + (f"; bad ids {bad[:3]}" if bad else "")
                 + ("" if used > 1 else ": every customer type got the same id"))


def check(spec) -> list[Check]:
    """Run every property on ``spec``; a failure is a :class:`Check` with ``ok`` False."""
    return list(_checks(spec))

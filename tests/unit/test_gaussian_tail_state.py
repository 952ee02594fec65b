"""GaussianTail keeps its window as plain floats and pickles as plain numbers: the same scores as
River's ``Rolling(Var())`` it replaced, after any number of pickle round trips, and a detector
pickled by the previous design (a checkpoint's state) continues where it was."""
from __future__ import annotations

import base64
import math
import pickle
import random

import pytest
from river import stats, utils

from personastream_models.detectors import GaussianTail

#: GaussianTail(window_size=8, warmup=3, min_std=0.5) after learning OLD_VALUES, pickled
#: (protocol 4) by the design before 2026-12-07, whose state held river's ``Rolling``.
OLD_PICKLE = base64.b64decode(
    "gASV6gEAAAAAAACMHnBlcnNvbmFzdHJlYW1fbW9kZWxzLmRldGVjdG9yc5SMDEdhdXNzaWFuVGFpbJSTlCmBlH2UKI"
    "wLd2luZG93X3NpemWUSwiMBndhcm11cJRLA4wHbWluX3N0ZJRHP+AAAAAAAACMCXR3b19zaWRlZJSJjAdmZWF0dXJl"
    "lIwFY291bnSUjARfdmFylIwTcml2ZXIudXRpbHMucm9sbGluZ5SMB1JvbGxpbmeUk5QpgZR9lCiMA29iapSMD3Jpdm"
    "VyLnN0YXRzLnZhcpSMA1ZhcpSTlCmBlH2UKIwEZGRvZpRLAYwEbWVhbpSMEHJpdmVyLnN0YXRzLm1lYW6UjARNZWFu"
    "lJOUKYGUfZQojAFulEdAIAAAAAAAAIwFX21lYW6UR0ASgAAAAAAAdWKMAl9TlEdASPAAAAAAAHVijAZ3aW5kb3eUjA"
    "tjb2xsZWN0aW9uc5SMBWRlcXVllJOUKUsIhpRSlChHQBwAAAAAAACFlH2UhpRHQBQAAAAAAACFlH2UhpRHP/AAAAAA"
    "AACFlH2UhpRHQBAAAAAAAACFlH2UhpRHQCIAAAAAAACFlH2UhpRHQAgAAAAAAACFlH2UhpRHQAAAAAAAAACFlH2UhpR"
    "HQBgAAAAAAACFlH2UhpRldWKMAl9ulEsLdWIu")
OLD_VALUES = [3.0, 4.0, 2.0, 7.0, 5.0, 1.0, 4.0, 9.0, 3.0, 2.0, 6.0]


def reference_scores(values: list[float], window_size: int, warmup: int, min_std: float,
                     two_sided: bool) -> list[float]:
    """Score then learn each value with river's Rolling(Var()), as GaussianTail did before."""
    rolling, scores = utils.Rolling(stats.Var(), window_size=window_size), []
    for n, value in enumerate(values):
        if n < warmup:
            scores.append(0.0)
        else:
            std = max(math.sqrt(max(rolling.get(), 0.0)), min_std)
            z = (value - rolling.obj.mean.get()) / std
            cdf = 0.5 * (1.0 + math.erf((abs(z) if two_sided else z) / math.sqrt(2.0)))
            scores.append(min(1.0, max(0.0, 2.0 * cdf - 1.0 if two_sided else cdf)))
        rolling.update(value)
    return scores


@pytest.mark.parametrize("two_sided", [False, True])
def test_scores_equal_rivers_rolling_variance_through_pickle_round_trips(two_sided):
    rng = random.Random(5)
    values = [float(rng.choice([0, 1, 1, 2, 3, 5, 40])) for _ in range(400)]
    params = {"window_size": 25, "warmup": 10, "min_std": 1.0, "two_sided": two_sided}
    detector, scores = GaussianTail(**params), []
    for value in values:
        scores.append(detector.score_one({"count": value}))
        detector.learn_one({"count": value})
        if rng.random() < 0.3:  # as the trends job's state does, between some windows
            detector = pickle.loads(pickle.dumps(detector))
    assert scores == reference_scores(values, **params)  # exactly: the same arithmetic


def test_a_detector_pickled_by_the_previous_design_continues_where_it_was():
    restored = pickle.loads(OLD_PICKLE)
    values = OLD_VALUES + [2.0, 5.0, 11.0, 4.0, 30.0, 3.0]
    expected = reference_scores(values, window_size=8, warmup=3, min_std=0.5,
                                two_sided=False)[len(OLD_VALUES):]
    got = []
    for value in values[len(OLD_VALUES):]:
        got.append(restored.score_one({"count": value}))
        restored.learn_one({"count": value})
    assert got == expected
    assert isinstance(pickle.loads(pickle.dumps(restored)).__getstate__(), tuple)


def test_the_state_is_plain_numbers_and_a_clone_starts_empty():
    detector = GaussianTail(window_size=3, warmup=1)
    for value in (1.0, 2.0, 4.0, 8.0):
        detector.learn_one({"count": value})
    state = detector.__getstate__()
    assert state[:7] == (3, 1, 1.0, False, "count", 4, [2.0, 4.0, 8.0])
    clone = detector.clone()
    assert clone.__getstate__()[5:7] == (0, [])

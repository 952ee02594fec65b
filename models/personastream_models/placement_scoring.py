"""One item's window scored by the model versions its placement runs: the trends job's UDF
(per item, over the dict in its keyed ``ValueState``) and the jobs benchmark's bare loop both
call :func:`score_window`, so they run the same code.

For each running version (live, shadow, rollback target) the item's detector of that version
scores then learns the window; detectors of versions no longer running are dropped. The live
version's score decides ``flagged``; the shadow's is reported beside it.

>>> from functools import partial
>>> from personastream_models import specs
>>> from personastream_models.registry import Placement
>>> states = {}
>>> placement = Placement.initial("trends_detector", "2-0-0").with_shadow("1-0-0")
>>> for views in [5] * 12 + [60]:
...     result = score_window(states, placement, partial(specs.load, "trends_detector"), views)
>>> result.columns()["flagged"], result.columns()["n_learned"], sorted(states)
(True, 13, ['1-0-0', '2-0-0'])
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from personastream_models.artifacts import build_warm
from personastream_models.detectors import score_then_learn
from personastream_models.features import feature_set
from personastream_models.registry import Placement
from personastream_models.specs import ModelSpec

#: An item's detectors by version: ``version -> (detector, windows learned)``.
VersionStates = dict[str, tuple[object, int]]


@dataclass(frozen=True)
class WindowScore:
    spec: ModelSpec  # the live version's
    score: float
    n_learned: int
    shadow: tuple[ModelSpec, float] | None

    def columns(self) -> dict:
        """The scoring columns of an ``item_trends`` row."""
        return {"score": self.score, "flagged": self.spec.is_anomaly(self.score),
                "model": self.spec.name, "model_version": self.spec.version,
                "n_learned": self.n_learned,
                "shadow_version": self.shadow[0].version if self.shadow else None,
                "shadow_score": self.shadow[1] if self.shadow else None,
                "shadow_flagged": self.shadow[0].is_anomaly(self.shadow[1]) if self.shadow
                else None}


def score_window(states: VersionStates, placement: Placement,
                 spec_of: Callable[[str], ModelSpec], views: int) -> WindowScore:
    """Score then learn ``views`` with the item's detector of every running version
    (``states`` is updated in place)."""
    results = {}
    for version in placement.running_versions():
        spec = spec_of(version)
        detector, n_learned = states.get(version) or (build_warm(spec), 0)
        score = float(score_then_learn(detector, feature_set(spec.features)(count=float(views))))
        states[version] = (detector, n_learned + 1)
        results[version] = (spec, score, n_learned + 1)
    for version in [v for v in states if v not in results]:
        del states[version]  # neither live, shadow nor the rollback target
    spec, score, n_learned = results[placement.live]
    shadow = results.get(placement.shadow) if placement.shadow else None
    return WindowScore(spec, score, n_learned, (shadow[0], shadow[1]) if shadow else None)

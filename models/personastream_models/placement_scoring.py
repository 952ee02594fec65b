"""One item's window scored by the model versions its placement runs: the trends job's UDF
(per item, over the dict in its keyed ``ValueState``) and the jobs benchmark's bare loop both
call :func:`score_window`, and ``personastream bench nab`` calls :func:`score_version`, so they
run the same code.

For each running version (live, shadow, rollback target) the item's detector of that version
scores then learns the window; detectors of versions no longer running are dropped. The live
version's score decides ``flagged``; the shadow's is reported beside it.

A version whose spec has a ``stand_in`` (:class:`personastream_models.specs.StandIn`) keeps a
second detector per item, of the stand-in version: while the version's own detector of the item
has learned fewer than ``stand_in.windows`` windows, the stand-in's detector scores the window
(at the stand-in spec's threshold) and both learn; from then on the version's own detector
scores and the stand-in's detector is dropped. Per item: an item seen for the first time is
scored by the stand-in even when others were handed over long ago. ``scored_by`` in the row
says which version's detector scored it.

>>> from functools import partial
>>> from personastream_models import specs
>>> from personastream_models.registry import Placement
>>> states = {}
>>> placement = Placement.initial("trends_detector", "2-0-0").with_shadow("1-0-0")
>>> for views in [5] * 12 + [60]:
...     result = score_window(states, placement, partial(specs.load, "trends_detector"), views)
>>> result.columns()["flagged"], result.columns()["n_learned"], sorted(states)
(True, 13, ['1-0-0', '2-0-0'])

Trends detector 3-5-0 learns 100 windows of an item before it scores; 2-0-0 stands in:

>>> states, live = {}, Placement.initial("trends_detector", "3-5-0")
>>> scored_by = [score_window(states, live, partial(specs.load, "trends_detector"),
...                           views).columns()["scored_by"] for views in [5] * 102]
>>> scored_by[0], scored_by[99], scored_by[100], scored_by[101]
('2-0-0', '2-0-0', '3-5-0', '3-5-0')
>>> states["3-5-0"][1:]  # windows learned; the stand-in's detector was dropped
(102, None)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from personastream_models.artifacts import build_warm
from personastream_models.detectors import score_then_learn
from personastream_models.features import feature_set
from personastream_models.registry import Placement
from personastream_models.specs import ModelSpec

#: One version's state for one item: ``(detector, windows it learned, the stand-in version's
#: detector while it stands in, else None)``; a state of two (from before stand-ins) has none.
VersionState = tuple
#: An item's detectors by version: ``version -> VersionState``.
VersionStates = dict[str, VersionState]


@dataclass(frozen=True)
class WindowScore:
    spec: ModelSpec  # the live version's
    score: float
    n_learned: int  # windows the live version's own detector learned, this one included
    scored_by: ModelSpec  # whose detector scored: the live version's, or its stand-in's
    shadow: tuple[ModelSpec, float, ModelSpec] | None  # (spec, score, scored by)

    def columns(self) -> dict:
        """The scoring columns of an ``item_trends`` row."""
        return {"score": self.score, "flagged": self.scored_by.is_anomaly(self.score),
                "model": self.spec.name, "model_version": self.spec.version,
                "n_learned": self.n_learned, "scored_by": self.scored_by.version,
                "shadow_version": self.shadow[0].version if self.shadow else None,
                "shadow_score": self.shadow[1] if self.shadow else None,
                "shadow_flagged": self.shadow[2].is_anomaly(self.shadow[1]) if self.shadow
                else None}


def score_version(state: VersionState | None, spec: ModelSpec,
                  spec_of: Callable[[str], ModelSpec], inputs: dict,
                  build: Callable[[ModelSpec], object] = build_warm
                  ) -> tuple[VersionState, float, ModelSpec]:
    """Score then learn one window (feature inputs ``inputs``, e.g. ``{"count": 5.0}``) with
    one version's detectors of one item, its stand-in's while it stands in.

    Parameters
    ----------
    state
        The item's :data:`VersionState` of ``spec`` (None: a fresh one, built with ``build``).
    spec_of
        The spec of a version of the same model (the stand-in's).

    Returns
    -------
    tuple
        The new state (``state``'s detectors are updated in place), the score of the window and
        the spec of the version whose detector scored it.
    """
    detector, n_learned, stand_in = (*state, None)[:3] if state else (build(spec), 0, None)
    score = score_then_learn(detector, feature_set(spec.features)(**inputs))
    if spec.stand_in is None or n_learned >= spec.stand_in.windows:
        return (detector, n_learned + 1, None), score, spec
    stand_spec = spec_of(spec.stand_in.version)
    if stand_in is None:
        stand_in = build(stand_spec)
    score = score_then_learn(stand_in, feature_set(stand_spec.features)(**inputs))
    # after its last window the stand-in's detector is dropped (the version's own has learned
    # enough to score the next one)
    kept = stand_in if n_learned + 1 < spec.stand_in.windows else None
    return (detector, n_learned + 1, kept), score, stand_spec


def score_window(states: VersionStates, placement: Placement,
                 spec_of: Callable[[str], ModelSpec], views: int) -> WindowScore:
    """Score then learn ``views`` with the item's detector of every running version
    (``states`` is updated in place)."""
    results = {}
    inputs = {"count": float(views)}
    for version in placement.running_versions():
        spec = spec_of(version)
        states[version], score, scored_by = score_version(states.get(version), spec, spec_of,
                                                          inputs)
        results[version] = (spec, float(score), states[version][1], scored_by)
    for version in [v for v in states if v not in results]:
        del states[version]  # neither live, shadow nor the rollback target
    spec, score, n_learned, scored_by = results[placement.live]
    shadow = results.get(placement.shadow) if placement.shadow else None
    return WindowScore(spec, score, n_learned, scored_by,
                       (shadow[0], shadow[1], shadow[3]) if shadow else None)

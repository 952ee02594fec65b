"""Experiments in the API: which variant of the running recommendations experiment a customer
is in (:func:`personastream_models.experiments.assign`, the hash the attribution job also
computes), and what that variant ranks with.

Rankings: ``live`` (the live profile, co-views and trend boosts: the API's default),
``daily_batch`` (the windowed profile of ``build_profiles`` as a batch system would have it,
co-views, no trend boosts) and ``popularity`` (no profile, no co-views, no trends). Only a known
or anonymous customer who has not refused marketing is assigned; the answer names the
experiment and variant, and the storefront reports them back with its impressions and clicks.

>>> from personastream_contracts.formats import epoch_ms
>>> assigner = Assigner(experiments.load_all(), clock_ms=lambda: epoch_ms("2026-12-04T00:00:00Z"))
>>> a = assigner.assign("u-42")
>>> a.as_json()
{'name': 'aa_ranking', 'version': '1-0-0', 'variant': 'a', 'ranking': 'live'}
>>> assigner.assign(None) is None
True
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Iterable

from personastream_models import experiments
from personastream_models.recommend import LiveProfile, SharedParts

PLACEMENT = "recommendations"


@dataclass(frozen=True)
class Assignment:
    experiment: experiments.Experiment
    variant: experiments.Variant

    @property
    def ranking(self) -> str:
        return self.variant.ranking or "live"

    def as_json(self) -> dict:
        return {"name": self.experiment.name, "version": self.experiment.version,
                "variant": self.variant.name, "ranking": self.ranking}


class Assigner:
    """The running recommendations experiment (by its dates, at each call) and a customer's
    variant of it."""

    def __init__(self, published: Iterable[experiments.Experiment],
                 clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000):
        self.published = [e for e in published if e.placement == PLACEMENT]
        self.clock_ms = clock_ms

    def assign(self, user_key: str | None) -> Assignment | None:
        if not user_key:
            return None
        running = experiments.running(self.published, PLACEMENT, self.clock_ms())
        return None if running is None else Assignment(
            running, experiments.assign(running, user_key))


def windowed_as_live(row: dict | None) -> LiveProfile | None:
    """The windowed profile (``profiles`` row as the store reads it) as the ranking's profile.

    >>> windowed_as_live({"recent_items": ["i-1"], "category_affinity": {"bags": 2.0},
    ...                   "brand_affinity": None, "views_1d": 3}).recent_items
    ['i-1']
    """
    if row is None or not (row.get("recent_items") or row.get("category_affinity")):
        return None
    return LiveProfile(recent_items=list(row.get("recent_items") or []),
                       category_affinity=dict(row.get("category_affinity") or {}),
                       brand_affinity=dict(row.get("brand_affinity") or {}), purchased=[],
                       n_events=int(row.get("views_1d") or 0))


@dataclass(frozen=True)
class RankingInputs:
    """What :meth:`RankIndex.rank` is given, and what the provenance says of the profile."""

    parts: SharedParts
    profile: LiveProfile | None
    neighbours: dict
    profile_source: str  # "live", "windowed" or "none"


def inputs(ranking: str, *, live: LiveProfile | None, windowed: dict | None,
           with_trend: SharedParts, popular_only: SharedParts, neighbours: dict
           ) -> RankingInputs:
    """The ranking inputs of variant ranking ``ranking``."""
    if ranking == "popularity":
        return RankingInputs(popular_only, None, {}, "none")
    if ranking == "daily_batch":
        profile = windowed_as_live(windowed)
        return RankingInputs(popular_only, profile, neighbours,
                             "windowed" if profile else "none")
    return RankingInputs(with_trend, live, neighbours, "live" if live else "none")

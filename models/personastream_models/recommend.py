"""Recommendations: the live profile, item co-occurrence and the ranking (plain Python).

One source for three consumers: the Flink ``live_activity`` job folds each enriched event
into a :class:`LiveProfile` and into co-occurrence weights; the personalization API ranks with
:func:`rank`; ``personastream bench replay`` replays a data set through the same functions.

Ranking scores every candidate item as a weighted sum of parts, each in [0, 1]:

- ``category`` / ``brand``: the customer's decayed affinity for the item's category / brand,
  relative to their strongest one;
- ``co_view``: how often the item was viewed together with the customer's recent items
  (co-occurrence learned from the stream), relative to the best candidate;
- ``context``: co-occurrence with the item on screen (``context_item``);
- ``trend``: the trends job's anomaly score of the item's latest window (spikes promoted);
- ``popular``: recent views of the item, relative to the most viewed.

An anonymous or new customer has no profile parts, so trending and popular items lead.

>>> catalogue = {"a": Item("a", "shoes", "acme"), "b": Item("b", "shoes", "zeta"),
...              "c": Item("c", "bags", "acme")}
>>> p = None
>>> for ms, item in [(0, "a"), (1_000, "b")]:
...     p = update_profile(p, {"event_type": "product_view", "item_id": item,
...                            "category": "shoes", "brand": catalogue[item].brand,
...                            "client_ts_ms": ms}, half_life_s=3600)
>>> p.recent_items, round(p.category_affinity["shoes"], 3)
(['b', 'a'], 2.0)
>>> [r.item_id for r in rank(catalogue, profile=p, popularity={"c": 10.0}, k=3)]
['b', 'a', 'c']
>>> [r.item_id for r in rank(catalogue, profile=p, popularity={"c": 10.0}, k=3,
...                          exclude=set(p.recent_items))]
['c']
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass, field, replace
from typing import Iterable, Mapping

from personastream_models.features import AFFINITY_WEIGHTS

__all__ = ["Item", "LiveProfile", "RANKING_VERSION", "Ranked", "Weights", "bump_affinity",
           "co_view_pairs", "decayed", "merge_neighbour", "rank", "update_profile"]

#: Version of the ranking rules, reported by the API with every response.
RANKING_VERSION = "1-0-0"
#: How many of a customer's recent items an item viewed now co-occurs with.
CO_VIEW_WINDOW = 5
#: Neighbours kept per item.
NEIGHBOURS_PER_ITEM = 50


@dataclass(frozen=True)
class Item:
    item_id: str
    category: str
    brand: str = ""


@dataclass
class LiveProfile:
    """What a customer did, folded event by event (``updated_ms``: the newest event time)."""

    recent_items: list[str] = field(default_factory=list)  # newest first, unique
    category_affinity: dict[str, float] = field(default_factory=dict)  # as of updated_ms
    brand_affinity: dict[str, float] = field(default_factory=dict)
    purchased: list[str] = field(default_factory=list)  # newest first, unique
    updated_ms: int = 0
    n_events: int = 0


def decayed(score: float, as_of_ms: int, at_ms: int, half_life_s: float) -> float:
    """``score`` (valid at ``as_of_ms``) halved every ``half_life_s`` until ``at_ms``.

    >>> decayed(4.0, 0, 7_200_000, 3600)
    1.0
    """
    return score * 0.5 ** ((at_ms - as_of_ms) / (half_life_s * 1000))


def bump_affinity(affinities: dict, key: str, weight: float, at_ms: int,
                  half_life_s: float) -> None:
    """Add ``weight`` at ``at_ms`` to ``affinities[key] = (score, as_of_ms)``, decaying the old
    score to the newer of the two times (an older event adds its weight decayed)."""
    score, as_of = affinities.get(key, (0.0, at_ms))
    now = max(at_ms, as_of)
    affinities[key] = (decayed(score, as_of, now, half_life_s)
                       + decayed(weight, at_ms, now, half_life_s), now)


def _front(items: list[str], new: Iterable[str], limit: int) -> list[str]:
    new = [i for i in new if i]
    return (new + [i for i in items if i not in new])[:limit]


def update_profile(profile: LiveProfile | None, event: Mapping, *, half_life_s: float,
                   max_recent: int = 20, max_purchased: int = 50) -> LiveProfile:
    """Fold one enriched event into the customer's live profile (a new object)."""
    p = replace(profile) if profile is not None else LiveProfile()
    at = int(event.get("client_ts_ms") or 0)
    kind = event.get("event_type")
    weight = AFFINITY_WEIGHTS.get(kind, 0.0)
    categories = {k: (v, p.updated_ms) for k, v in p.category_affinity.items()}
    brands = {k: (v, p.updated_ms) for k, v in p.brand_affinity.items()}
    if weight and event.get("category"):
        bump_affinity(categories, event["category"], weight, at, half_life_s)
    if weight and event.get("brand"):
        bump_affinity(brands, event["brand"], weight, at, half_life_s)
    now = max(p.updated_ms, at)
    p.category_affinity = {k: decayed(s, t, now, half_life_s) for k, (s, t) in categories.items()}
    p.brand_affinity = {k: decayed(s, t, now, half_life_s) for k, (s, t) in brands.items()}
    if event.get("item_id") and at >= p.updated_ms:
        p.recent_items = _front(p.recent_items, [event["item_id"]], max_recent)
    if kind == "purchase":
        p.purchased = _front(p.purchased, [line.get("item_id") for line in
                                           event.get("items") or ()], max_purchased)
    p.updated_ms, p.n_events = now, p.n_events + 1
    return p


def co_view_pairs(recent_before: list[str], item: str,
                  window: int = CO_VIEW_WINDOW) -> list[tuple[str, str, float]]:
    """``(item, other, weight)`` both ways for ``item`` viewed after ``recent_before`` (newest
    first); nearer in the customer's sequence weighs more (1, 1/2, 1/3, ...).

    >>> co_view_pairs(["b", "a"], "c")
    [('c', 'b', 1.0), ('b', 'c', 1.0), ('c', 'a', 0.5), ('a', 'c', 0.5)]
    """
    out = []
    for distance, other in enumerate([i for i in recent_before if i != item][:window], start=1):
        out += [(item, other, 1.0 / distance), (other, item, 1.0 / distance)]
    return out


def merge_neighbour(neighbours: dict[str, float], other: str, weight: float,
                    limit: int = NEIGHBOURS_PER_ITEM) -> dict[str, float]:
    """Add ``weight`` to ``other`` in an item's neighbours (in place, and returned); past twice
    ``limit`` entries, keep the ``limit`` strongest (trimming rarely keeps merges cheap).

    >>> merge_neighbour({"x": 2.0, "y": 1.0, "w": 0.5}, "z", 1.5, limit=1)
    {'x': 2.0}
    """
    neighbours[other] = neighbours.get(other, 0.0) + weight
    if len(neighbours) > 2 * limit:
        keep = dict(heapq.nlargest(limit, neighbours.items(), key=lambda kv: kv[1]))
        neighbours.clear()
        neighbours.update(keep)
    return neighbours


@dataclass(frozen=True)
class Weights:
    category: float = 1.0
    brand: float = 0.3
    co_view: float = 1.0
    context: float = 1.0
    trend: float = 0.5
    popular: float = 0.2


@dataclass(frozen=True)
class Ranked:
    item_id: str
    score: float
    parts: dict


def _relative(values: Mapping[str, float]) -> dict[str, float]:
    top = max(values.values(), default=0.0)
    return {k: v / top for k, v in values.items()} if top > 0 else {}


def rank(catalogue: Mapping[str, Item], *, profile: LiveProfile | None = None,
         neighbours: Mapping[str, Mapping[str, float]] | None = None,
         popularity: Mapping[str, float] | None = None, trend: Mapping[str, float] | None = None,
         k: int = 10, context_item: str | None = None, category: str | None = None,
         exclude: set[str] | frozenset = frozenset(), weights: Weights = Weights()
         ) -> list[Ranked]:
    """The ``k`` best items of ``catalogue`` (optionally of one ``category``), best first; ties
    broken by item id so that results are reproducible."""
    neighbours = neighbours or {}
    cat = _relative(profile.category_affinity) if profile else {}
    brand = _relative(profile.brand_affinity) if profile else {}
    co_view: dict[str, float] = {}
    for distance, seen in enumerate(profile.recent_items[:CO_VIEW_WINDOW] if profile else (), 1):
        for other, w in neighbours.get(seen, {}).items():
            co_view[other] = co_view.get(other, 0.0) + w / distance
    co_view = _relative(co_view)
    context = _relative(dict(neighbours.get(context_item, {}))) if context_item else {}
    popular = _relative(dict(popularity or {}))
    trend = trend or {}
    scored = []
    for item in catalogue.values():
        if item.item_id in exclude or item.item_id == context_item or \
                (category is not None and item.category != category):
            continue
        parts = {"category": cat.get(item.category, 0.0), "brand": brand.get(item.brand, 0.0),
                 "co_view": co_view.get(item.item_id, 0.0),
                 "context": context.get(item.item_id, 0.0),
                 "trend": float(trend.get(item.item_id, 0.0)),
                 "popular": popular.get(item.item_id, 0.0)}
        score = sum(getattr(weights, name) * value for name, value in parts.items())
        scored.append((-score, item.item_id, parts))
    return [Ranked(item_id, -neg, parts) for neg, item_id, parts in heapq.nsmallest(k, scored)]

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
from dataclasses import dataclass, field
from typing import Iterable, Mapping

from personastream_models.features import AFFINITY_WEIGHTS

__all__ = ["Item", "LiveProfile", "RANKING_VERSION", "RankIndex", "Ranked", "SharedParts",
           "Weights", "bump_affinity", "co_view_neighbours", "co_view_pairs", "co_viewed_before",
           "decayed", "merge_neighbour", "rank", "update_profile"]

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
    """Fold one enriched event into the customer's live profile (a new object; ``profile``
    is not changed). Every affinity is decayed to the newer of the profile's and the event's
    time, one factor for all; an older event adds its weight decayed (``bump_affinity``'s
    rule, the same floating-point result).

    >>> p = update_profile(None, {"event_type": "add_to_cart", "item_id": "a",
    ...                           "category": "shoes", "client_ts_ms": 3_600_000},
    ...                    half_life_s=3600)
    >>> p = update_profile(p, {"event_type": "product_view", "item_id": "b",
    ...                        "category": "bags", "client_ts_ms": 0}, half_life_s=3600)
    >>> p.category_affinity, p.recent_items, p.updated_ms, p.n_events
    ({'shoes': 3.0, 'bags': 0.5}, ['a'], 3600000, 2)
    """
    p = profile if profile is not None else LiveProfile()
    at = int(event.get("client_ts_ms") or 0)
    kind = event.get("event_type")
    now = max(p.updated_ms, at)
    categories = _decayed_all(p.category_affinity, p.updated_ms, now, half_life_s)
    brands = _decayed_all(p.brand_affinity, p.updated_ms, now, half_life_s)
    weight = AFFINITY_WEIGHTS.get(kind, 0.0)
    if weight:
        added = decayed(weight, at, now, half_life_s)
        for affinities, key in ((categories, event.get("category")),
                                (brands, event.get("brand"))):
            if key:
                affinities[key] = affinities.get(key, 0.0) + added
    recent = p.recent_items
    if event.get("item_id") and at >= p.updated_ms:
        recent = _front(recent, [event["item_id"]], max_recent)
    purchased = p.purchased
    if kind == "purchase":
        purchased = _front(purchased, [line.get("item_id") for line in
                                       event.get("items") or ()], max_purchased)
    return LiveProfile(recent, categories, brands, purchased, now, p.n_events + 1)


def _decayed_all(affinities: dict[str, float], as_of_ms: int, at_ms: int,
                 half_life_s: float) -> dict[str, float]:
    """A copy of ``affinities`` (valid at ``as_of_ms``) decayed to ``at_ms``, one factor."""
    if at_ms == as_of_ms:
        return dict(affinities)
    factor = decayed(1.0, as_of_ms, at_ms, half_life_s)
    return {k: v * factor for k, v in affinities.items()}


def co_viewed_before(recent_before: list[str], item: str,
                     window: int = CO_VIEW_WINDOW) -> dict[str, float]:
    """The items ``item`` was viewed after, from the customer's ``recent_before`` (newest
    first), with their co-view weights: nearer in the sequence weighs more (1, 1/2, 1/3, ...).
    Each pair is kept once, on the later item (``live_activity``'s ``item_neighbours`` rows);
    :func:`co_view_neighbours` reads them both ways.

    >>> co_viewed_before(["b", "c", "a"], "c")
    {'b': 1.0, 'a': 0.5}
    """
    others = [i for i in recent_before if i != item][:window]
    return {other: 1.0 / distance for distance, other in enumerate(others, start=1)}


def co_view_pairs(recent_before: list[str], item: str,
                  window: int = CO_VIEW_WINDOW) -> list[tuple[str, str, float]]:
    """``(item, other, weight)`` both ways for ``item`` viewed after ``recent_before`` (newest
    first), the weights of :func:`co_viewed_before`.

    >>> co_view_pairs(["b", "a"], "c")
    [('c', 'b', 1.0), ('b', 'c', 1.0), ('c', 'a', 0.5), ('a', 'c', 0.5)]
    """
    out = []
    for other, weight in co_viewed_before(recent_before, item, window).items():
        out += [(item, other, weight), (other, item, weight)]
    return out


def co_view_neighbours(viewed_before: Mapping[str, Mapping[str, float]],
                       limit: int = NEIGHBOURS_PER_ITEM) -> dict[str, dict[str, float]]:
    """Each item's neighbours both ways, from the items each was viewed after
    (:func:`co_viewed_before`, folded per item): a pair's weight is the sum of both of its
    directions; per item, the ``limit`` strongest (ties: smaller item id first).

    >>> co_view_neighbours({"c": {"b": 1.0, "a": 0.5}, "b": {"c": 1.0}}, limit=2)
    {'c': {'b': 2.0, 'a': 0.5}, 'b': {'c': 2.0}, 'a': {'c': 0.5}}
    """
    both: dict[str, dict[str, float]] = {}
    for item, others in viewed_before.items():
        for other, weight in others.items():
            for a, b in ((item, other), (other, item)):
                weights = both.setdefault(a, {})
                weights[b] = weights.get(b, 0.0) + weight
    return {item: dict(heapq.nsmallest(limit, weights.items(), key=lambda kv: (-kv[1], kv[0])))
            if len(weights) > limit else weights for item, weights in both.items()}


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


@dataclass(frozen=True)
class SharedParts:
    """The parts every request shares (trend and popularity), laid out by a :class:`RankIndex`:
    values in catalogue order and the same times their weights."""

    trend: object  # numpy arrays
    popular: object
    weighted_trend: object
    weighted_popular: object


class RankIndex:
    """:func:`rank` over one catalogue with numpy: the same :class:`Ranked` lists, bit for bit
    (a unit test compares them on random catalogues), without a Python loop over the items.

    Trend and popularity, shared by every request, are laid out once by :meth:`shared`; a
    request then pays for its own parts (affinities, co-views) only.

    >>> catalogue = {"a": Item("a", "shoes", "acme"), "b": Item("b", "shoes", "zeta"),
    ...              "c": Item("c", "bags", "acme")}
    >>> p = LiveProfile(recent_items=["b", "a"], category_affinity={"shoes": 2.0})
    >>> index = RankIndex(catalogue)
    >>> shared = index.shared(popularity={"c": 10.0})
    >>> index.rank(shared, profile=p, k=3) == rank(catalogue, profile=p, popularity={"c": 10.0},
    ...                                             k=3)
    True
    >>> [r.item_id for r in index.rank(shared, profile=p, k=3, category="bags")]
    ['c']
    """

    def __init__(self, catalogue: Mapping[str, Item], weights: Weights = Weights()):
        import numpy as np

        self._np = np
        items = list(catalogue.values())
        self.weights = weights
        self.ids = [i.item_id for i in items]
        self.position = {item_id: n for n, item_id in enumerate(self.ids)}
        self.categories = sorted({i.category for i in items})
        self.brands = sorted({i.brand for i in items})
        self._category_of = np.array([self.categories.index(i.category) for i in items],
                                     dtype=np.intp)
        self._brand_of = np.array([self.brands.index(i.brand) for i in items], dtype=np.intp)
        by_id = sorted(range(len(items)), key=self.ids.__getitem__)
        self._id_order = np.empty(len(items), dtype=np.intp)  # ties: smaller item id first
        self._id_order[by_id] = np.arange(len(items))
        self._in_category = {c: self._category_of == n for n, c in enumerate(self.categories)}
        self._nowhere = np.zeros(len(items), dtype=bool)
        self._everywhere = ~self._nowhere

    def _spread(self, values: Mapping[str, float]):
        """``values`` by item id as an array in catalogue order (0 for the others)."""
        np = self._np
        out = np.zeros(len(self.ids) + 1)  # the last slot takes the ids not in the catalogue
        if values:
            out[[self.position.get(i, -1) for i in values]] = np.fromiter(
                values.values(), dtype=float, count=len(values))
        return out[:-1]

    def shared(self, popularity: Mapping[str, float] | None = None,
               trend: Mapping[str, float] | None = None) -> SharedParts:
        """The trend and popularity parts, as :func:`rank` computes them from its arguments."""
        trend_values = self._spread({i: float(v) for i, v in (trend or {}).items()})
        popular = self._spread(_relative(dict(popularity or {})))
        return SharedParts(trend_values, popular, self.weights.trend * trend_values,
                           self.weights.popular * popular)

    def rank(self, shared: SharedParts | None = None, *, profile: LiveProfile | None = None,
             neighbours: Mapping[str, Mapping[str, float]] | None = None, k: int = 10,
             context_item: str | None = None, category: str | None = None,
             exclude: set[str] | frozenset = frozenset()) -> list[Ranked]:
        """What :func:`rank` returns for the same arguments (popularity and trend: those of
        ``shared``, none if it is None)."""
        np, w = self._np, self.weights
        shared = shared or self.shared()
        neighbours = neighbours or {}
        cat = _relative(profile.category_affinity) if profile else {}
        brand = _relative(profile.brand_affinity) if profile else {}
        co_view: dict[str, float] = {}
        recent = profile.recent_items[:CO_VIEW_WINDOW] if profile else ()
        for distance, seen in enumerate(recent, 1):
            for other, weight in neighbours.get(seen, {}).items():
                co_view[other] = co_view.get(other, 0.0) + weight / distance
        category_part = np.array([cat.get(c, 0.0) for c in self.categories])[self._category_of]
        brand_part = np.array([brand.get(b, 0.0) for b in self.brands])[self._brand_of]
        co_view_part = self._spread(_relative(co_view))
        context_part = self._spread(_relative(dict(neighbours.get(context_item, {})))
                                    if context_item else {})
        # the same additions in the same order as rank()'s sum(), so the same floats
        score = 0 + w.category * category_part
        score += w.brand * brand_part
        score += w.co_view * co_view_part
        score += w.context * context_part
        score += shared.weighted_trend
        score += shared.weighted_popular
        keep = (self._everywhere if category is None
                else self._in_category.get(category, self._nowhere)).copy()
        for item_id in (*exclude, context_item):
            n = self.position.get(item_id)
            if n is not None:
                keep[n] = False
        candidates = np.flatnonzero(keep)
        best = candidates[np.lexsort((self._id_order[candidates], -score[candidates]))
                          [:max(k, 0)]]
        columns = zip(best.tolist(), score[best].tolist(), category_part[best].tolist(),
                      brand_part[best].tolist(), co_view_part[best].tolist(),
                      context_part[best].tolist(), shared.trend[best].tolist(),
                      shared.popular[best].tolist())
        return [Ranked(self.ids[n], s, {"category": c, "brand": b, "co_view": cv,
                                        "context": cx, "trend": t, "popular": p})
                for n, s, c, b, cv, cx, t, p in columns]

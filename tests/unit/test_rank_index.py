"""The API's vectorised ranking (``RankIndex``) returns what the reference, ``rank()``, returns:
the same items in the same order, the same scores and parts to the bit, on random catalogues,
profiles, co-views, trends and popularity (ties included: coarse values make many)."""
from __future__ import annotations

import random

import pytest

from personastream_models.recommend import Item, LiveProfile, RankIndex, rank

CATEGORIES = ("shoes", "bags", "hats", "socks")
BRANDS = ("acme", "zeta", "wonka")


def random_case(seed: int) -> tuple[dict, dict]:
    """A catalogue and the keyword arguments of one ranking, drawn from ``seed``."""
    rng = random.Random(seed)
    coarse = rng.random() < 0.5  # few distinct values: ties in score, broken by item id
    value = (lambda: float(rng.randint(0, 3))) if coarse else (lambda: rng.uniform(0, 10))
    n_items = rng.randint(1, 60)
    catalogue = {f"item-{i}": Item(f"item-{i}", rng.choice(CATEGORIES), rng.choice(BRANDS))
                 for i in rng.sample(range(500), n_items)}
    ids = list(catalogue)
    known_or_not = ids + [f"gone-{i}" for i in range(5)]  # ids the catalogue no longer has
    profile = None
    if rng.random() < 0.8:
        profile = LiveProfile(
            recent_items=rng.sample(known_or_not, rng.randint(0, min(8, len(known_or_not)))),
            category_affinity={c: value() for c in rng.sample(CATEGORIES + ("tents",),
                                                              rng.randint(0, 3))},
            brand_affinity={b: value() for b in rng.sample(BRANDS, rng.randint(0, 3))},
            purchased=rng.sample(ids, rng.randint(0, min(3, len(ids)))))
    context_item = rng.choice(ids) if rng.random() < 0.3 else None
    seen = (profile.recent_items if profile else []) + ([context_item] if context_item else [])
    neighbours = {i: {o: value() for o in rng.sample(known_or_not,
                                                     rng.randint(0, min(10, len(known_or_not))))}
                  for i in seen if rng.random() < 0.8}
    popularity = {i: value() for i in rng.sample(known_or_not, rng.randint(0, len(ids)))}
    trend = {i: rng.choice([1.0, value() / 10]) for i in rng.sample(ids, rng.randint(0, len(ids)))}
    kwargs = dict(profile=profile, neighbours=neighbours, popularity=popularity, trend=trend,
                  k=rng.choice([1, 3, 10, 100]), context_item=context_item,
                  category=rng.choice([None, None, *CATEGORIES, "tents"]),
                  exclude=set(profile.purchased) if profile and rng.random() < 0.7 else set())
    return catalogue, kwargs


@pytest.mark.parametrize("seed", range(400))
def test_rank_index_equals_rank(seed):
    catalogue, kwargs = random_case(seed)
    expected = rank(catalogue, **kwargs)
    index = RankIndex(catalogue)
    shared = index.shared(kwargs.pop("popularity"), kwargs.pop("trend"))
    got = index.rank(shared, **kwargs)
    assert exact(got) == exact(expected)
    assert all(type(r.score) is float and all(type(v) is float for v in r.parts.values())
               for r in got)


def exact(ranked) -> list:
    """Items, scores and parts with every float as its exact bits (``float.hex``)."""
    return [(r.item_id, r.score.hex(), {k: v.hex() for k, v in r.parts.items()})
            for r in ranked]


def test_without_shared_parts_it_ranks_like_rank_without_trend_or_popularity():
    catalogue, kwargs = random_case(3)
    kwargs.pop("popularity"), kwargs.pop("trend")
    assert RankIndex(catalogue).rank(**kwargs) == rank(catalogue, **kwargs)

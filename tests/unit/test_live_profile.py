"""The live profile's fold (``recommend.update_profile``): decay, events out of order, the
profile passed in left unchanged."""
import copy

import pytest

from personastream_models.recommend import LiveProfile, update_profile

HOUR_MS = 3_600_000


def event(kind: str, ms: int, item: str | None = "i", category: str | None = "shoes",
          brand: str | None = "acme", items=None) -> dict:
    return {"event_type": kind, "client_ts_ms": ms, "item_id": item, "category": category,
            "brand": brand, "items": items}


def fold(*events, half_life_s: float = 3600) -> LiveProfile:
    p = None
    for e in events:
        p = update_profile(p, e, half_life_s=half_life_s)
    return p


def test_every_affinity_decays_to_the_newest_event():
    p = fold(event("add_to_cart", 0, category="bags", brand="zeta"),
             event("product_view", HOUR_MS), event("product_view", 3 * HOUR_MS))
    assert p.category_affinity == pytest.approx({"bags": 3.0 / 8, "shoes": 0.25 + 1.0})
    assert p.brand_affinity == pytest.approx({"zeta": 3.0 / 8, "acme": 0.25 + 1.0})
    assert (p.updated_ms, p.n_events) == (3 * HOUR_MS, 3)


def test_an_older_event_adds_its_weight_decayed_and_keeps_the_newest_items_first():
    p = fold(event("product_view", 2 * HOUR_MS, item="new"),
             event("add_to_cart", HOUR_MS, item="old", category="bags"))
    assert p.category_affinity == pytest.approx({"shoes": 1.0, "bags": 1.5})
    assert p.recent_items == ["new"] and p.updated_ms == 2 * HOUR_MS and p.n_events == 2


def test_events_without_weight_count_but_add_no_affinity():
    p = fold(event("product_view", 0), event("page_view", HOUR_MS, item=None),
             event("purchase", 2 * HOUR_MS, item=None, items=[{"item_id": "a"},
                                                              {"item_id": "b"}]))
    assert p.category_affinity == pytest.approx({"shoes": 0.25})
    assert p.purchased == ["a", "b"] and p.recent_items == ["i"] and p.n_events == 3


def test_the_profile_passed_in_is_not_changed():
    before = fold(event("product_view", 0, item="a"), event("add_to_cart", HOUR_MS, item="b"))
    kept = copy.deepcopy(before)
    after = update_profile(before, event("product_view", 5 * HOUR_MS, item="c",
                                         category="bags", brand="zeta"), half_life_s=3600)
    assert before == kept
    assert after.recent_items == ["c", "b", "a"] and after.n_events == 3

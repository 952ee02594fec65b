"""Profile logic without Flink: sessions, windows as of last seen, recent items, decay, CRM."""
import pytest

from personastream_contracts.tables import PROFILES
from personastream_flink.profiles import (PROFILE_VERSION, Activity, ProfileRules, ProfileState,
                                          apply, parse_attribute_updates, profile_row)

RULES = ProfileRules(session_gap_s=1800, recent_items=3, affinity_half_life_s=3600)
MIN = 60_000


def minute(at_min: float, views=0, carts=0, purchases=0, spend=0.0, items=(), attrs=()) -> Activity:
    ms = int(at_min * MIN)
    return Activity(first_ms=ms, last_ms=ms, n_events=max(views + carts + purchases, 1),
                    views=views, carts=carts, purchases=purchases, spend=spend,
                    item_events=[(ms, *item) for item in items],
                    attribute_updates=[(ms, dict(attrs))] if attrs else [])


def build(*activities) -> dict:
    state = ProfileState()
    for activity in activities:
        apply(state, activity, RULES)
    return profile_row("u", state, RULES)


def test_sessions_split_on_the_gap():
    row = build(minute(0, views=1), minute(20, views=1), minute(51, views=1), minute(52, views=1))
    assert row["sessions"] == 2
    assert row["session_start_ms"] == 51 * MIN and row["session_duration_s"] == 60.0
    assert row["session_events"] == 2


def test_hour_and_day_counts_are_as_of_last_seen():
    row = build(minute(0, views=2, spend=0.0), minute(31, purchases=1, spend=50.0),
                minute(90, carts=1))
    assert (row["views_1h"], row["purchases_1h"], row["carts_1h"]) == (0, 1, 1)
    assert (row["views_1d"], row["spend_1d"]) == (2, 50.0)


def test_recent_items_newest_first_once_each_and_trimmed():
    row = build(minute(0, views=4, items=[("product_view", "a", "c", "b")]),
                minute(1, views=1, items=[("product_view", "b", "c", "b")]),
                minute(2, views=1, items=[("product_view", "a", "c", "b")]),
                minute(3, views=1, items=[("product_view", "c", "c", "b")]),
                minute(4, views=1, items=[("product_view", "d", "c", "b")]))
    assert row["recent_items"] == ["d", "c", "a"]


def test_affinity_halves_every_half_life_and_weighs_carts():
    row = build(minute(0, views=1, items=[("product_view", "i", "shoes", "acme")]),
                minute(60, carts=1, items=[("add_to_cart", "j", "bags", "acme")]))
    assert row["category_affinity"] == {"shoes": 0.5, "bags": 3.0}
    assert row["brand_affinity"] == {"acme": 3.5}


def test_crm_attributes_keep_the_newest_value_per_key():
    row = build(minute(5, attrs={"tier": "gold", "city": "Oslo"}), minute(1, attrs={"tier": "x"}),
                minute(9, attrs={"city": None}))
    assert row["attributes"] == {"tier": "gold", "city": None}


def test_profile_row_fills_every_column_the_job_writes():
    row = build(minute(0, views=1))
    from_ms = {"first_seen", "last_seen", "session_start"}  # written from their *_ms values
    wanted = set(PROFILES.columns_for("build_profiles")) - from_ms - {"updated_at"}
    assert wanted <= set(row), wanted - set(row)
    assert {f"{c}_ms" for c in from_ms} <= set(row)
    assert row["profile_version"] == PROFILE_VERSION == PROFILES.layout_version == 4


@pytest.mark.parametrize("text, expected", [(None, []), ("", []),
                                            ("2\x1f{\"a\": 1}\x1e1\x1f{\"b\": true}",
                                             [(1, {"b": True}), (2, {"a": 1})])])
def test_parse_attribute_updates(text, expected):
    assert parse_attribute_updates(text) == expected

"""Unified customer profiles, built from per-minute activity rows (plain Python, no Flink).

Flink SQL reduces raw events to one row per (user id, anonymous id, minute); ``apply`` folds
such rows, in event-time order, into a :class:`ProfileState` kept in Flink keyed state, and
``profile_row`` turns the state into the ``profiles`` row. Counts over the last hour and day are
as of the user's latest event (``last_seen``).

>>> rules = ProfileRules(session_gap_s=1800, recent_items=3, affinity_half_life_s=3600)
>>> state = ProfileState()
>>> apply(state, Activity(first_ms=0, last_ms=30_000, n_events=2, views=2, carts=0, purchases=0,
...       spend=0.0,
...       item_events=[(0, "product_view", "i1", "shoes", "acme"),
...                    (30_000, "product_view", "i2", "shoes", "zeta")], attribute_updates=[]),
...       rules)
>>> row = profile_row("u1", state, rules)
>>> row["views_1h"], row["sessions"], row["recent_items"], row["category_affinity"]
(2, 1, ['i2', 'i1'], {'shoes': 1.994})
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from personastream_contracts.tables import PROFILES
from personastream_models.features import AFFINITY_WEIGHTS
from personastream_models.recommend import bump_affinity as _bump
from personastream_models.recommend import decayed as _decayed

PROFILE_VERSION = PROFILES.layout_version  # the profiles layout this job writes
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
MINUTE_MS = 60_000


@dataclass(frozen=True)
class ProfileRules:
    """Settings of the profile features (from the job's parameters)."""

    session_gap_s: int = 1800
    recent_items: int = 20
    affinity_half_life_s: int = 86_400


@dataclass
class Activity:
    """One user-device's events of one minute, as Flink SQL aggregates them."""

    first_ms: int
    last_ms: int
    n_events: int
    views: int
    carts: int
    purchases: int
    spend: float
    item_events: list[tuple[int, str, str, str, str]]  # (ms, event type, item, category, brand)
    attribute_updates: list[tuple[int, dict]]  # (ms, CRM attributes)


@dataclass
class ProfileState:
    first_ms: int | None = None
    last_ms: int | None = None
    minutes: dict[int, list] = field(default_factory=dict)  # minute -> [views, carts, purchases, spend]
    sessions: int = 0
    session_start_ms: int | None = None
    session_last_ms: int | None = None
    session_events: int = 0
    recent: list[tuple[int, str]] = field(default_factory=list)  # newest first, one per item
    categories: dict[str, tuple[float, int]] = field(default_factory=dict)  # (score, as of ms)
    brands: dict[str, tuple[float, int]] = field(default_factory=dict)
    attributes: dict[str, tuple[int, str | None]] = field(default_factory=dict)  # (ms, value)


def apply(state: ProfileState, activity: Activity, rules: ProfileRules) -> None:
    """Fold one minute of one user-device into the profile state."""
    if state.first_ms is None:
        state.first_ms, state.last_ms = activity.first_ms, activity.last_ms
    state.first_ms = min(state.first_ms, activity.first_ms)
    state.last_ms = max(state.last_ms, activity.last_ms)
    minute = activity.first_ms - activity.first_ms % MINUTE_MS
    bucket = state.minutes.setdefault(minute, [0, 0, 0, 0.0])
    for i, value in enumerate((activity.views, activity.carts, activity.purchases, activity.spend)):
        bucket[i] += value
    for old in [m for m in state.minutes if m <= state.last_ms - DAY_MS]:
        del state.minutes[old]
    gap_ms = rules.session_gap_s * 1000
    if state.session_last_ms is None or activity.first_ms - state.session_last_ms > gap_ms:
        state.sessions += 1
        state.session_start_ms = activity.first_ms
        state.session_last_ms = activity.last_ms
        state.session_events = 0
    state.session_last_ms = max(state.session_last_ms, activity.last_ms)
    state.session_events += activity.n_events
    for ms, event_type, item, category, brand in activity.item_events:
        if item:
            state.recent.append((ms, item))
        weight = AFFINITY_WEIGHTS.get(event_type, 0.0)
        if weight and category:
            _bump(state.categories, category, weight, ms, rules.affinity_half_life_s)
        if weight and brand:
            _bump(state.brands, brand, weight, ms, rules.affinity_half_life_s)
    seen: set[str] = set()
    state.recent = [(ms, item) for ms, item in sorted(state.recent, reverse=True)
                    if not (item in seen or seen.add(item))][:rules.recent_items]
    for ms, attributes in activity.attribute_updates:
        for key, value in attributes.items():
            if ms >= state.attributes.get(key, (ms, None))[0]:
                state.attributes[key] = (ms, None if value is None else str(value))


def _window_sum(state: ProfileState, index: int, span_ms: int):
    return sum(b[index] for m, b in state.minutes.items() if m > state.last_ms - span_ms)


def profile_row(user_key: str, state: ProfileState, rules: ProfileRules) -> dict:
    """The ``profiles`` row of the state (affinities decayed to ``last_seen``, 3 decimals)."""
    def affinities(raw: dict) -> dict[str, float]:
        return {k: round(_decayed(s, at, state.last_ms, rules.affinity_half_life_s), 3)
                for k, (s, at) in raw.items()}

    return {
        "user_key": user_key, "profile_version": PROFILE_VERSION,
        "first_seen_ms": state.first_ms, "last_seen_ms": state.last_ms,
        "views_1h": _window_sum(state, 0, HOUR_MS), "carts_1h": _window_sum(state, 1, HOUR_MS),
        "purchases_1h": _window_sum(state, 2, HOUR_MS),
        "spend_1h": round(_window_sum(state, 3, HOUR_MS), 2),
        "views_1d": _window_sum(state, 0, DAY_MS), "carts_1d": _window_sum(state, 1, DAY_MS),
        "purchases_1d": _window_sum(state, 2, DAY_MS),
        "spend_1d": round(_window_sum(state, 3, DAY_MS), 2),
        "sessions": state.sessions, "session_start_ms": state.session_start_ms,
        "session_events": state.session_events,
        "session_duration_s": (state.session_last_ms - state.session_start_ms) / 1000,
        "recent_items": [item for _, item in state.recent],
        "category_affinity": affinities(state.categories),
        "brand_affinity": affinities(state.brands),
        "attributes": {k: v for k, (_, v) in state.attributes.items()},
    }


def parse_item_events(text: str | None) -> list[tuple[int, str, str, str, str]]:
    """Flink SQL's LISTAGG of ``ms, type, item, category, brand`` (unit/record separators).

    >>> parse_item_events("5\\x1fproduct_view\\x1fi1\\x1fshoes\\x1f\\x1e2\\x1fadd_to_cart\\x1fi2\\x1f\\x1f")
    [(5, 'product_view', 'i1', 'shoes', ''), (2, 'add_to_cart', 'i2', '', '')]
    """
    out = []
    for record in (text or "").split(RECORD_SEP):
        if record:
            ms, event_type, item, category, brand = record.split(UNIT_SEP)
            out.append((int(ms), event_type, item, category, brand))
    return out


def parse_attribute_updates(text: str | None) -> list[tuple[int, dict]]:
    """Flink SQL's LISTAGG of ``ms`` + JSON attributes."""
    out = []
    for record in (text or "").split(RECORD_SEP):
        if record:
            ms, attributes = record.split(UNIT_SEP, 1)
            out.append((int(ms), json.loads(attributes)))
    return sorted(out, key=lambda u: u[0])


UNIT_SEP = "\x1f"
RECORD_SEP = "\x1e"

"""Whether a promotion rule fires for one customer now, and why (plain Python).

:func:`evaluate` checks a rule's schedule and each of its conditions against a context, a dict
of plain facts that the promotions job gathers (``context_of`` builds it from an enriched
event); a fact that is missing (None or absent) makes the conditions that need it fail, with
"unknown" in the reason. Frequency caps and the budget are the job's state, not facts here.

Context keys
------------
``now_ms``
    when the decision is made (epoch ms): the event's time, or a timer's.
``item``
    the item in focus, ``{"item_id", "category", "brand"}``.
``trend``
    the item's latest scored window, ``{"flagged": bool, "score": float}`` (item_latest_trend).
``category_affinity``, ``brand_affinity``
    the customer's decayed affinities (the live profile's maps).
``segment_id``
    the customer's segment (profiles.segment_id).
``returning``
    whether the customer had a session before this one.
``country``, ``device``
    the event's ``geo.country`` and ``device.type`` (ingest's enrichment).
``cart``
    the customer's open cart, ``{"n_items": int, "updated_ms": int}`` (its last change).

Examples
--------
>>> from personastream_models.promotion_rules import load
>>> rule = load("trending_category_spike")
>>> event = {"event_type": "product_view", "item_id": "sku-1", "category": "boots",
...          "brand": "acme", "client_ts_ms": rule.start_ms + 60_000,
...          "geo": {"country": "DE"}, "device": {"type": "mobile"}}
>>> context = context_of(event, trend={"flagged": True, "score": 0.97},
...                      category_affinity={"boots": 3.0, "bags": 4.0})
>>> verdict = evaluate(rule, context)
>>> verdict.fires
True
>>> print(verdict.why)
schedule: 2026-12-01T00:01:00.000Z in [2026-12-01T00:00:00.000Z, 2027-03-01T00:00:00.000Z)
conditions[0] item_trend: item 'sku-1' flagged (score 0.97)
conditions[1] affinity: category 'boots' at 0.75 of the strongest, at least 0.5
>>> evaluate(rule, {**context, "category_affinity": {"boots": 1.0, "bags": 4.0}}).fires
False
"""
from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from personastream_contracts.formats import iso_ms
from personastream_models.promotion_rules import PromotionRule

__all__ = ["Check", "Verdict", "context_of", "evaluate"]

_MINUTE_MS = 60_000


@dataclass(frozen=True)
class Check:
    """One part of a rule checked: ``what`` is ``schedule`` or ``conditions[i] <kind>``."""

    what: str
    holds: bool
    reason: str

    def __str__(self) -> str:
        return f"{self.what}: {self.reason}"


@dataclass(frozen=True)
class Verdict:
    """Whether ``rule`` fires (its schedule and every condition hold), with every check."""

    rule: str
    fires: bool
    checks: tuple[Check, ...]

    @property
    def why(self) -> str:
        """One line per check."""
        return "\n".join(map(str, self.checks))


def context_of(event: Mapping[str, Any], *, now_ms: int | None = None, **facts: Any) -> dict:
    """A context from an enriched event (item, country, device, ``now_ms``: its
    ``client_ts_ms`` unless given) and the other ``facts`` by their context key.

    >>> context_of({"item_id": "a", "category": "c", "client_ts_ms": 5,
    ...             "geo": {"country": None}, "device": {"type": "desktop"}}, returning=True)
    {'now_ms': 5, 'item': {'item_id': 'a', 'category': 'c', 'brand': None}, 'country': None, \
'device': 'desktop', 'returning': True}
    """
    item = ({k: event.get(k) for k in ("item_id", "category", "brand")}
            if event.get("item_id") else None)
    return {"now_ms": event.get("client_ts_ms") if now_ms is None else now_ms, "item": item,
            "country": (event.get("geo") or {}).get("country"),
            "device": (event.get("device") or {}).get("type"), **facts}


def _item_trend(condition, context) -> tuple[bool, str]:
    item, trend = context.get("item"), context.get("trend")
    if not item or not trend:
        return False, "unknown: no item in focus" if not item else \
            f"unknown: item {item['item_id']!r} has no scored window"
    score, label = trend.get("score"), f"item {item['item_id']!r}"
    if "min_score" not in condition:
        return bool(trend.get("flagged")), \
            f"{label} {'flagged' if trend.get('flagged') else 'not flagged'} (score {score})"
    if score is None:
        return False, f"unknown: {label} has no score"
    holds = score >= condition["min_score"]
    return holds, f"{label} score {score} {'>=' if holds else '<'} {condition['min_score']}"


def _affinity(condition, context) -> tuple[bool, str]:
    dimension = condition["dimension"]
    affinities = context.get(f"{dimension}_affinity") or {}
    targets = condition.get("values") or [(context.get("item") or {}).get(dimension)]
    if targets == [None]:
        return False, f"unknown: no {dimension} of an item in focus"
    top = max(affinities.values(), default=0.0)
    relative = {t: (affinities.get(t, 0.0) / top if top > 0 else 0.0) for t in targets}
    best = max(relative, key=relative.get)
    holds = relative[best] >= condition["min"]
    return holds, (f"{dimension} {best!r} at {relative[best]:.2f} of the strongest, "
                   f"{'at least' if holds else 'below'} {condition['min']}")


def _one_of(fact: str, listed: str) -> Callable[[Mapping, Mapping], tuple[bool, str]]:
    def check(condition, context) -> tuple[bool, str]:
        value, allowed = context.get(fact), condition[listed]
        if value is None and None not in allowed:
            return False, f"unknown: no {fact}"
        holds = value in allowed
        return holds, f"{fact} {value!r} {'in' if holds else 'not in'} {allowed}"
    return check


def _cart_abandoned(condition, context) -> tuple[bool, str]:
    cart = context.get("cart")
    if not cart or not cart.get("n_items"):
        return False, "no open cart"
    idle_min = (context["now_ms"] - cart["updated_ms"]) / _MINUTE_MS
    within = condition.get("within_minutes")
    holds = idle_min >= condition["after_minutes"] and (within is None or idle_min < within)
    span = f"[{condition['after_minutes']}, {within})" if within else \
        f">= {condition['after_minutes']}"
    return holds, (f"cart of {cart['n_items']} unchanged for {idle_min:.1f} min "
                   f"({'within' if holds else 'outside'} {span})")


def _time_of_day(condition, context) -> tuple[bool, str]:
    zone = condition.get("timezone", "UTC")
    local = dt.datetime.fromtimestamp(context["now_ms"] / 1000, zoneinfo.ZoneInfo(zone))
    now, start, end = f"{local:%H:%M}", condition["from"], condition["to"]
    holds = start <= now < end if start < end else (now >= start or now < end)
    return holds, f"{now} {zone} {'in' if holds else 'not in'} [{start}, {end})"


def _visitor(condition, context) -> tuple[bool, str]:
    returning = context.get("returning")
    if returning is None:
        return False, "unknown: new or returning"
    actual = "returning" if returning else "new"
    return actual == condition["is"], f"{actual} visitor"


CONDITIONS: dict[str, Callable[[Mapping, Mapping], tuple[bool, str]]] = {
    "item_trend": _item_trend,
    "affinity": _affinity,
    "segment": _one_of("segment_id", "ids"),
    "geo": _one_of("country", "countries"),
    "device": _one_of("device", "types"),
    "cart_abandoned": _cart_abandoned,
    "time_of_day": _time_of_day,
    "visitor": _visitor,
}
"""Each condition kind of the rule format and its check ``(condition, context) -> (holds,
reason)``."""


def evaluate(rule: PromotionRule, context: Mapping[str, Any]) -> Verdict:
    """Check ``rule``'s schedule (``start <= now_ms < end``) and every condition against
    ``context`` (see the module's keys; ``now_ms`` is required).

    >>> from personastream_models.promotion_rules import load
    >>> rule = load("abandoned_cart_reminder")
    >>> at = rule.start_ms + 3_600_000
    >>> verdict = evaluate(rule, {"now_ms": at, "returning": False,
    ...                           "cart": {"n_items": 2, "updated_ms": at - 45 * 60_000}})
    >>> verdict.fires, [str(c) for c in verdict.checks[1:]]
    (False, ['conditions[0] cart_abandoned: cart of 2 unchanged for 45.0 min (within [30, \
1440))', 'conditions[1] visitor: new visitor'])
    """
    now_ms = context.get("now_ms")
    if now_ms is None:
        raise ValueError(f"evaluating {rule.key}: the context needs 'now_ms' (epoch ms)")
    in_schedule = rule.start_ms <= now_ms < rule.end_ms
    checks = [Check("schedule", in_schedule,
                    f"{iso_ms(now_ms)} {'in' if in_schedule else 'not in'} "
                    f"[{iso_ms(rule.start_ms)}, {iso_ms(rule.end_ms)})")]
    for i, condition in enumerate(rule.conditions):
        holds, reason = CONDITIONS[condition["kind"]](condition, context)
        checks.append(Check(f"conditions[{i}] {condition['kind']}", holds, reason))
    return Verdict(rule.key, all(c.holds for c in checks), tuple(checks))

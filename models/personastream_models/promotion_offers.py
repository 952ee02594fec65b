"""Offers of promotions: what the promotions job keeps per customer and per promotion, and how
it picks an offer (plain Python; the job ``evaluate_promotions`` is a thin adapter over it).

Per customer (keyed state): :class:`CustomerFacts`, the facts the rule conditions need that an
event alone does not carry (the live profile's decayed affinities, by the same
``recommend.update_profile`` as ``live_activity``; first-seen and session start for new vs
returning; the open cart and its last change; the segment of ``assign_segments``, by
:func:`in_segment`) and the times of the offers made to the customer per promotion (the
per-customer frequency cap). :func:`decide` evaluates every active rule
(:func:`~personastream_models.promotion_conditions.evaluate`) and picks the highest priority
one that fires and is under the customer's cap, which :func:`offered` counts at once. Per
promotion version (keyed state): :class:`PromotionLedger`, its budget and per-promotion cap,
granted by :func:`grant`; an offer it refuses comes back to the customer (:func:`refusal`,
:func:`refused`) and stops counting against the customer's cap.

Experiments: :func:`exposure` puts an offer under the ``promotion_banner`` experiment running at
its time (``experiments/promotions_on_off``), the customer in its variant by the API's sticky
hash (:func:`personastream_models.experiments.assign`). A variant with ``promotions`` false is
held out: no offer is made, but its exposure is recorded (what would have been offered), as one
is for each offer made under the experiment, so that the attribution compares both variants
from the same moment (intent to treat).

An offer's id is a digest of the promotion version, the customer and what triggered it (an
event id, or an abandoned cart's last change), so a replay from a checkpoint writes the same
rows. Item trends come from the trends job's flagged windows (``trends.anomalies``,
:func:`trend_entry`); a flag holds until the item's next window has been scored
(:func:`current_trend`).

Examples
--------
>>> from personastream_models.promotion_rules import load
>>> rule = load("trending_category_spike")
>>> at = rule.start_ms + 60_000
>>> facts = observe(None, {"event_type": "product_view", "item_id": "sku-1",
...                        "category": "boots", "client_ts_ms": at}, session_gap_s=1800,
...                 half_life_s=86400)
>>> trends = {"sku-1": {"flagged": True, "score": 0.97, "window_end_ms": at - 1000}}
>>> context = facts_context(facts, {"event_type": "product_view", "item_id": "sku-1",
...                                 "category": "boots", "client_ts_ms": at},
...                         trends=trends, window_s=60)
>>> chosen = decide([rule], context, facts)
>>> chosen.rule.key, chosen.verdict.fires
('trending_category_spike/1-0-0', True)
>>> offer_id(rule.key, "user-1", "event-9") == offer_id(rule.key, "user-1", "event-9")
True
>>> from personastream_models.experiments import load_all
>>> row = offer_row(chosen, "user-1", "event-9", context, 600, "event-9", at)
>>> seen = exposure(row, load_all())  # under promotions_on_off, from December 2026
>>> seen["experiment"], seen["variant"], seen["held_out"], seen["offer_id"] == row["offer_id"]
('promotions_on_off', 'promotions', False, True)
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Mapping

from personastream_contracts.formats import epoch_ms
from personastream_models.experiments import Experiment, assign, running
from personastream_models.promotion_conditions import Verdict, context_of, evaluate
from personastream_models.promotion_rules import PromotionRule
from personastream_models.recommend import LiveProfile, update_profile

__all__ = ["CustomerFacts", "Decision", "PLACEMENT", "PromotionLedger", "cart_rules_after_ms",
           "current_trend", "decide", "exposure", "facts_context", "grant", "in_segment",
           "observe", "offer_id", "offer_row", "offered", "refusal", "refused", "timer_event",
           "trend_entry"]

CART_EVENT = "add_to_cart"
PURCHASE_EVENT = "purchase"
PLACEMENT = "promotion_banner"
"""The placement of the experiments that switch promotions on or off."""


@dataclass
class CustomerFacts:
    """What the job knows about one customer (picklable; kept in keyed state)."""

    profile: LiveProfile | None = None
    first_ms: int = 0
    session_start_ms: int = 0
    last_ms: int = 0
    cart: dict[str, int] = field(default_factory=dict)  # item -> quantity
    cart_updated_ms: int = 0
    offered: dict[str, list[int]] = field(default_factory=dict)  # promotion -> offer times
    country: str | None = None  # of the latest event (ingest's geo), for a timer's context
    device: str | None = None
    segment_id: int | None = None  # the live clusterer's, as assign_segments last published

    @property
    def returning(self) -> bool | None:
        """Whether the customer had a session before the current one (None: never seen)."""
        return None if not self.first_ms else self.first_ms < self.session_start_ms


def observe(facts: CustomerFacts | None, event: Mapping[str, Any], *, session_gap_s: int,
            half_life_s: float, recent_items: int = 20) -> CustomerFacts:
    """``facts`` after one enriched event (a new object): affinities, sessions, cart.

    >>> f = observe(None, {"event_type": "add_to_cart", "item_id": "a", "quantity": 2,
    ...                    "client_ts_ms": 1_000}, session_gap_s=1800, half_life_s=86400)
    >>> f.cart, f.cart_updated_ms, f.returning
    ({'a': 2}, 1000, False)
    >>> f = observe(f, {"event_type": "page_view", "client_ts_ms": 3_600_000},
    ...             session_gap_s=1800, half_life_s=86400)
    >>> f.returning, f.cart
    (True, {'a': 2})
    >>> observe(f, {"event_type": "purchase", "client_ts_ms": 3_600_001, "items": []},
    ...         session_gap_s=1800, half_life_s=86400).cart
    {}
    """
    f = replace(facts, cart=dict(facts.cart), offered=dict(facts.offered)) \
        if facts is not None else CustomerFacts()
    at = int(event.get("client_ts_ms") or 0)
    f.profile = update_profile(f.profile, event, half_life_s=half_life_s,
                               max_recent=recent_items)
    if not f.first_ms:
        f.first_ms = f.session_start_ms = at
    elif at - f.last_ms > session_gap_s * 1000:
        f.session_start_ms = at
    f.last_ms = max(f.last_ms, at)
    f.country = (event.get("geo") or {}).get("country") or f.country
    f.device = (event.get("device") or {}).get("type") or f.device
    kind = event.get("event_type")
    if kind == CART_EVENT and event.get("item_id"):
        item = event["item_id"]
        f.cart[item] = f.cart.get(item, 0) + int(event.get("quantity") or 1)
        f.cart_updated_ms = at
    elif kind == PURCHASE_EVENT:
        f.cart, f.cart_updated_ms = {}, at
    return f


def trend_entry(record: str | bytes) -> tuple[str, dict] | None:
    """An item's flagged window from a ``trends.anomalies`` record: ``(item_id, {flagged,
    score, window_end_ms})``; None if the record is not one.

    >>> trend_entry('{"item_id": "i", "window_end": "2026-12-01T00:01:00Z", "score": 0.9, '
    ...             '"flagged": true}')
    ('i', {'flagged': True, 'score': 0.9, 'window_end_ms': 1796083260000})
    >>> trend_entry('{"promotion": "x"}') is None
    True
    """
    try:
        doc = json.loads(record)
        return doc["item_id"], {"flagged": bool(doc["flagged"]), "score": float(doc["score"]),
                                "window_end_ms": epoch_ms(doc["window_end"])}
    except (ValueError, KeyError, TypeError):
        return None


def current_trend(entry: Mapping | None, now_ms: int, window_s: int) -> dict | None:
    """The item's latest scored window as the conditions read it, from its latest flagged
    window: flagged until its next window can have been scored (``window_s`` after its end);
    after that the latest window is unknown here (only flagged windows are published), so
    None.

    >>> current_trend({"flagged": True, "score": 0.9, "window_end_ms": 60_000}, 100_000, 60)
    {'flagged': True, 'score': 0.9}
    >>> current_trend({"flagged": True, "score": 0.9, "window_end_ms": 60_000}, 130_000, 60)
    """
    if entry is None or now_ms >= entry["window_end_ms"] + window_s * 1000:
        return None
    return {"flagged": entry["flagged"], "score": entry["score"]}


def facts_context(facts: CustomerFacts, event: Mapping[str, Any], *,
                  trends: Mapping[str, Mapping], window_s: int,
                  now_ms: int | None = None) -> dict:
    """The evaluator's context for ``event`` (or a timer: ``now_ms`` given, the event a
    minimal one) from the customer's ``facts`` and the items' ``trends``."""
    context = context_of(event, now_ms=now_ms)
    item = context.get("item")
    profile = facts.profile
    context.update(
        trend=current_trend(trends.get(item["item_id"]) if item else None, context["now_ms"],
                            window_s),
        category_affinity=profile.category_affinity if profile else None,
        brand_affinity=profile.brand_affinity if profile else None,
        returning=facts.returning,
        segment_id=facts.segment_id,
        cart={"n_items": sum(facts.cart.values()), "updated_ms": facts.cart_updated_ms}
        if facts.cart else None)
    return context


def timer_event(facts: CustomerFacts, now_ms: int) -> dict:
    """The event a timer's context is built from: no item; the customer's latest country and
    device.

    >>> timer_event(CustomerFacts(country="DE", device="mobile"), 5)
    {'client_ts_ms': 5, 'geo': {'country': 'DE'}, 'device': {'type': 'mobile'}}
    """
    return {"client_ts_ms": now_ms, "geo": {"country": facts.country},
            "device": {"type": facts.device}}


def _recent(times: Iterable[int], now_ms: int, window_s: int) -> list[int]:
    return [t for t in times if now_ms - t < window_s * 1000]


def _caps(rule: PromotionRule) -> Mapping:
    return rule.content.get("frequency_caps") or {}


@dataclass(frozen=True)
class Decision:
    rule: PromotionRule
    verdict: Verdict


def decide(rules: Iterable[PromotionRule], context: Mapping[str, Any],
           facts: CustomerFacts) -> Decision | None:
    """The highest-priority rule (then the lowest key) that fires in ``context`` and whose
    per-customer cap ``facts`` leaves room for; None if none.

    >>> from personastream_models.promotion_rules import load
    >>> rule = load("trending_category_spike")
    >>> at = rule.start_ms
    >>> context = {"now_ms": at, "item": {"item_id": "i", "category": "c", "brand": None},
    ...            "trend": {"flagged": True, "score": 1.0}, "category_affinity": {"c": 1.0}}
    >>> facts = CustomerFacts(offered={rule.name: [at - 1, at - 2, at - 3]})
    >>> decide([rule], context, facts) is None  # 3 offers a day at most
    True
    """
    now = context["now_ms"]
    for rule in sorted(rules, key=lambda r: (-r.priority, r.key)):
        cap = _caps(rule).get("per_customer")
        if cap and len(_recent(facts.offered.get(rule.name, ()), now, cap["window_s"])) \
                >= cap["max_offers"]:
            continue
        verdict = evaluate(rule, context)
        if verdict.fires:
            return Decision(rule, verdict)
    return None


def offered(facts: CustomerFacts, rule: PromotionRule, now_ms: int) -> CustomerFacts:
    """``facts`` with an offer of ``rule`` at ``now_ms`` counted (times outside the cap's
    window dropped).

    >>> from personastream_models.promotion_rules import load
    >>> offered(CustomerFacts(), load("mobile_welcome"), 5).offered
    {'mobile_welcome': [5]}
    """
    cap = _caps(rule).get("per_customer") or {"window_s": 0}
    times = [*_recent(facts.offered.get(rule.name, ()), now_ms, cap["window_s"]), now_ms]
    return replace(facts, offered={**facts.offered, rule.name: times})


def refused(facts: CustomerFacts, promotion: str, issued_ms: int) -> CustomerFacts:
    """``facts`` without the offer of ``promotion`` made at ``issued_ms`` (its ledger refused
    it: the budget or the per-promotion cap), so it no longer counts against the customer's
    cap; once, so a refusal read again changes nothing more.

    >>> from personastream_models.promotion_rules import load
    >>> f = offered(offered(CustomerFacts(), load("mobile_welcome"), 5), load("mobile_welcome"), 9)
    >>> refused(refused(f, "mobile_welcome", 5), "mobile_welcome", 5).offered
    {'mobile_welcome': [9]}
    """
    times = list(facts.offered.get(promotion, ()))
    if issued_ms not in times:
        return facts
    times.remove(issued_ms)
    return replace(facts, offered={**facts.offered, promotion: times})


def in_segment(facts: CustomerFacts | None, segment_id: int) -> CustomerFacts:
    """``facts`` with the customer's segment (``assign_segments``' latest record).

    >>> in_segment(None, 3).segment_id
    3
    """
    return replace(facts or CustomerFacts(), segment_id=segment_id)


def cart_rules_after_ms(rules: Iterable[PromotionRule]) -> list[int]:
    """The idle times (ms) after which an abandoned-cart rule may fire, ascending.

    >>> from personastream_models.promotion_rules import load
    >>> cart_rules_after_ms([load("abandoned_cart_reminder"), load("mobile_welcome")])
    [1800000]
    """
    return sorted({c["after_minutes"] * 60_000 for r in rules for c in r.conditions
                   if c["kind"] == "cart_abandoned"})


@dataclass
class PromotionLedger:
    """One promotion version's offers: how many over its run, and the times of the recent
    ones (its per-promotion cap)."""

    n_offers: int = 0
    recent_ms: list[int] = field(default_factory=list)


def grant(ledger: PromotionLedger | None, budget: int, cap_max: int | None, cap_window_s: int,
          now_ms: int) -> tuple[bool, PromotionLedger]:
    """Whether one more offer fits the budget and the per-promotion cap, and the ledger after.

    >>> ok, ledger = grant(None, budget=2, cap_max=1, cap_window_s=60, now_ms=0)
    >>> ok, grant(ledger, 2, 1, 60, 30_000)[0], grant(ledger, 2, 1, 60, 60_000)[0]
    (True, False, True)
    >>> grant(PromotionLedger(n_offers=2), 2, None, 0, 0)[0]
    False
    """
    ledger = ledger or PromotionLedger()
    recent = _recent(ledger.recent_ms, now_ms, cap_window_s) if cap_max else []
    if ledger.n_offers >= budget or (cap_max and len(recent) >= cap_max):
        return False, PromotionLedger(ledger.n_offers, recent)
    return True, PromotionLedger(ledger.n_offers + 1, [*recent, now_ms] if cap_max else [])


def refusal(offer: Mapping[str, Any]) -> dict:
    """What the customer's task needs of an offer the ledger refused (:func:`refused`).

    >>> refusal({"user_key": "u", "promotion": "p", "offer_id": "p-1", "issued_ms": 5, "x": 1})
    {'user_key': 'u', 'promotion': 'p', 'offer_id': 'p-1', 'issued_ms': 5}
    """
    return {k: offer[k] for k in ("user_key", "promotion", "offer_id", "issued_ms")}


def offer_id(promotion_key: str, user_key: str, trigger: str) -> str:
    """A deterministic id of the offer of ``promotion_key`` to ``user_key`` for ``trigger``
    (the event id, or ``cart@<ms>``): a replay makes the same id.

    >>> offer_id("p/1-0-0", "u", "e1")
    'p-1-0-0-028fbf6028474b86'
    """
    digest = hashlib.sha256(f"{promotion_key}\x00{user_key}\x00{trigger}".encode()).hexdigest()
    return f"{promotion_key.replace('/', '-')}-{digest[:16]}"


def offer_row(decision: Decision, user_key: str, trigger: str, context: Mapping[str, Any],
              ttl_s: int, trigger_event_id: str | None,
              trigger_received_ms: int | None) -> dict:
    """The ``offers_by_user`` row of a decision (times as epoch ms; ``action`` as text).

    >>> from personastream_models.promotion_rules import load
    >>> rule = load("mobile_welcome")
    >>> verdict = evaluate(rule, {"now_ms": rule.start_ms + 36_000_000, "returning": False,
    ...                           "device": "mobile", "country": "DE"})
    >>> row = offer_row(Decision(rule, verdict), "u", "e1", {"now_ms": 7, "item": None}, 60,
    ...                 "e1", 5)
    >>> row["action"]["kind"], row["expires_ms"], row["promotion"], row["item_id"]
    ('banner', 60007, 'mobile_welcome', None)
    """
    rule, now = decision.rule, context["now_ms"]
    return {"user_key": user_key, "offer_id": offer_id(rule.key, user_key, trigger),
            "promotion": rule.name, "promotion_version": rule.version,
            "priority": rule.priority,
            "action": {k: str(v) for k, v in rule.action.items()},
            "item_id": (context.get("item") or {}).get("item_id"),
            "why": decision.verdict.why, "issued_ms": now, "expires_ms": now + ttl_s * 1000,
            "trigger_event_id": trigger_event_id, "trigger_received_ms": trigger_received_ms}


def exposure(offer: Mapping[str, Any], experiments: Iterable[Experiment]) -> dict | None:
    """The experiment exposure of ``offer`` (an :func:`offer_row`): the :data:`PLACEMENT`
    experiment running at the offer's time (None if none), the customer's variant of it, and
    whether that variant is ``held_out`` (``promotions`` false: the offer is not made);
    ``received_ms`` is the trigger's ingest time (a timer's: its own), which the attribution
    compares outcomes with.

    >>> from personastream_models.experiments import load
    >>> holdout = load("promotions_on_off")
    >>> offer = {"user_key": "u-4", "offer_id": "p-1-0-0-ab", "promotion": "p",
    ...          "promotion_version": "1-0-0", "issued_ms": holdout.start_ms,
    ...          "trigger_received_ms": holdout.start_ms + 5}
    >>> seen = exposure(offer, [holdout])
    >>> seen["variant"], seen["held_out"], seen["received_ms"] - seen["issued_ms"]
    ('holdout', True, 5)
    >>> exposure({**offer, "user_key": "u-1"}, [holdout])["variant"]
    'promotions'
    >>> exposure({**offer, "issued_ms": holdout.end_ms}, [holdout]) is None
    True
    """
    experiment = running(experiments, PLACEMENT, offer["issued_ms"])
    if experiment is None:
        return None
    variant = assign(experiment, offer["user_key"])
    return {"experiment": experiment.name, "experiment_version": experiment.version,
            "variant": variant.name, "held_out": not variant.promotions,
            "user_key": offer["user_key"], "offer_id": offer["offer_id"],
            "promotion": offer["promotion"], "promotion_version": offer["promotion_version"],
            "issued_ms": offer["issued_ms"],
            "received_ms": offer["trigger_received_ms"] or offer["issued_ms"]}

"""The promotions job's plain logic (``personastream_models.promotion_offers``) and the API's
offers (``personastream_serving.offers`` and the two endpoints over an in-memory store)."""
from __future__ import annotations

from fastapi.testclient import TestClient
from tests.unit.test_api import ITEMS, RandomStore

from personastream_contracts.settings import resolve
from personastream_models import experiments
from personastream_models.promotion_conditions import evaluate
from personastream_models.promotion_offers import (Decision, cart_rules_after_ms, decide, exposure,
                                                   facts_context, grant, observe, offer_id,
                                                   offer_row, offered, timer_event)
from personastream_models.promotion_rules import load, validate
from personastream_serving.app import create_app
from personastream_serving.experiment_variants import Assigner
from personastream_serving.offers import OfferReplica, boosts, from_row

MINUTE_MS = 60_000


def fold(events, facts=None):
    for event in events:
        facts = observe(facts, event, session_gap_s=1800, half_life_s=86400)
    return facts


def test_an_abandoned_cart_fires_for_a_returning_shopper_only_after_its_idle_time():
    rule = load("abandoned_cart_reminder")
    t0 = rule.start_ms
    facts = fold([{"event_type": "page_view", "client_ts_ms": t0},
                  {"event_type": "add_to_cart", "item_id": "a", "client_ts_ms": t0 + 3_600_000,
                   "geo": {"country": "DE"}, "device": {"type": "mobile"}}])
    assert facts.returning and facts.cart == {"a": 1}
    assert cart_rules_after_ms([rule]) == [30 * MINUTE_MS]
    timer_at = facts.cart_updated_ms + 30 * MINUTE_MS
    early = facts_context(facts, timer_event(facts, timer_at - 1), trends={}, window_s=60,
                          now_ms=timer_at - 1)
    assert decide([rule], early, facts) is None
    context = facts_context(facts, timer_event(facts, timer_at), trends={}, window_s=60,
                            now_ms=timer_at)
    chosen = decide([rule], context, facts)
    assert chosen.rule is rule and context["country"] == "DE"
    # counted against the customer's cap (1 a week): the next timer offers nothing
    assert decide([rule], context, offered(facts, rule, timer_at)) is None
    # a purchase closes the cart
    bought = fold([{"event_type": "purchase", "client_ts_ms": timer_at, "items": []}], facts)
    assert bought.cart == {} and facts_context(bought, timer_event(bought, timer_at),
                                               trends={}, window_s=60)["cart"] is None


def test_the_highest_priority_rule_that_fires_wins_and_a_stale_trend_is_unknown():
    spike, welcome = load("trending_category_spike"), load("mobile_welcome")
    at = welcome.start_ms + 10 * 3_600_000  # 11:00 in Berlin
    event = {"event_type": "product_view", "item_id": "i", "category": "boots",
             "client_ts_ms": at, "geo": {"country": "DE"}, "device": {"type": "mobile"}}
    facts = fold([event])
    trends = {"i": {"flagged": True, "score": 0.9, "window_end_ms": at - 1000}}
    context = facts_context(facts, event, trends=trends, window_s=60)
    assert evaluate(welcome, context).fires and evaluate(spike, context).fires
    assert decide([welcome, spike], context, facts).rule is spike  # priority 60 over 20
    stale = facts_context(facts, event, trends={"i": {**trends["i"], "window_end_ms": at - 61_000}},
                          window_s=60)
    assert stale["trend"] is None and decide([welcome, spike], stale, facts).rule is welcome


def test_the_promotion_ledger_holds_budget_and_window_cap():
    ledger, granted = None, []
    for i in range(10):
        ok, ledger = grant(ledger, budget=5, cap_max=2, cap_window_s=60, now_ms=i * 20_000)
        granted.append(ok)
    # 2 a minute: 0, 20 s granted; 40 s refused; 60, 80 s granted (0, 20 s left the window);
    # 100 s refused; 120 s granted, the fifth: the budget is spent
    assert granted == [True, True, False, True, True, False, True, False, False, False]
    assert ledger.n_offers == 5


def test_an_offer_under_the_promotions_experiment_is_exposed_in_the_customers_sticky_variant():
    holdout = experiments.load("promotions_on_off")
    rule = load("mobile_welcome")
    context = {"now_ms": holdout.start_ms + 3_600_000, "item": None}
    decision = Decision(rule, evaluate(rule, {**context, "returning": False, "device": "mobile",
                                              "country": "DE"}))
    keys = [f"anon:web-{i}" for i in range(2000)]
    seen = [exposure(offer_row(decision, k, f"e-{k}", context, 60, f"e-{k}", None), [holdout])
            for k in keys]
    # the API's assignment, the same on every call; held out exactly when promotions are off
    assert [s["variant"] for s in seen] == [experiments.assign(holdout, k).name for k in keys]
    assert all(s["held_out"] == (s["variant"] == "holdout") for s in seen)
    assert abs(sum(s["held_out"] for s in seen) / len(keys) - 0.10) < 0.02
    assert seen[0]["offer_id"] == offer_id(rule.key, keys[0], f"e-{keys[0]}")
    assert seen[0]["received_ms"] == context["now_ms"]  # no trigger receipt (a timer): its time
    # only while the experiment runs (start inclusive, end exclusive), by the offer's time
    before = offer_row(decision, keys[0], "t", {**context, "now_ms": holdout.start_ms - 1}, 60,
                       None, None)
    at_end = offer_row(decision, keys[0], "t", {**context, "now_ms": holdout.end_ms}, 60,
                       None, None)
    assert exposure(before, [holdout]) is None and exposure(at_end, [holdout]) is None
    assert exposure(offer_row(decision, keys[0], "t", context, 60, None, None),
                    experiments.load_all()) is not None  # recommendations experiments ignored
    assert exposure(offer_row(decision, keys[0], "t", context, 60, None, None),
                    [experiments.load("aa_ranking")]) is None


def test_offer_ids_are_deterministic_and_rows_round_trip_through_the_api_replica():
    rule = validate({**load("trending_category_spike").to_dict(), "name": "x"})
    context = {"now_ms": rule.start_ms, "item": {"item_id": "i", "category": "c", "brand": "b"},
               "trend": {"flagged": True, "score": 1.0}, "category_affinity": {"c": 1.0}}
    verdict = evaluate(rule, context)
    row = offer_row(Decision(rule, verdict), "u", "e1", context, 60, "e1", 5)
    assert row["offer_id"] == offer_id(rule.key, "u", "e1") != offer_id(rule.key, "u", "e2")
    replica = OfferReplica()
    replica.changed("u", row)
    assert replica.active("u", now_ms=rule.start_ms) == [row]
    assert replica.active("u", now_ms=rule.start_ms + 60_000) == []
    import datetime as dt

    as_row = {**{k: v for k, v in row.items() if not k.endswith("_ms")},
              "issued_at": dt.datetime(2026, 1, 1), "expires_at": None,
              "trigger_received_at": None}
    assert from_row(as_row)["issued_ms"] == 1_767_225_600_000


def test_the_api_answers_offers_and_boosts_the_ranking():
    store = RandomStore(3)
    user = sorted(store.live)[0]
    now = 4_102_444_800_000  # 2100: not expired
    item = ITEMS[7].item_id
    store.offered = {user: [
        {"offer_id": "o-boost", "promotion": "spike", "promotion_version": "1-0-0",
         "priority": 60, "item_id": item, "why": "a\nb", "issued_ms": now - 1,
         "expires_ms": now, "action": {"kind": "ranking_boost", "target": "item",
                                       "boost": "1.0"}}]}
    settings = resolve(environ={"HOME": "/home/t"})
    with TestClient(create_app(settings, lambda: store, Assigner([]))) as client:
        plain = client.get("/v1/recommendations", params={"user": sorted(store.live)[1],
                                                          "k": 100}).json()
        assert plain["offers"] is None
        answer = client.get("/v1/recommendations", params={"user": user, "k": 100}).json()
        assert [o["offer_id"] for o in answer["offers"]] == ["o-boost"]
        assert answer["offers"][0]["why"] == ["a", "b"]
        boosted = {i["item_id"]: i for i in answer["items"]}[item]
        assert boosted["parts"]["promotion"] == 1.0
        scores = [i["score"] for i in answer["items"]]
        assert scores == sorted(scores, reverse=True)
        offers = client.get(f"/v1/users/{user}/offers").json()
        assert offers["user_key"] == user and offers["offers"][0]["promotion"] == "spike"
    assert boosts(store.offered[user], {item: "c"}, {}) == {item: (1.0, "spike")}

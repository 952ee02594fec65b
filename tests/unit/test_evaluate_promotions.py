"""The ``evaluate_promotions`` topology in a local PyFlink environment, no servers (as
``test_job_topologies``): events from a file, promotion states and flagged windows from lists,
writes captured. Broadcast rules and trends, keyed facts and caps, the ledger per promotion,
the promotions experiment's holdout and erasures run as in production."""
from __future__ import annotations

import itertools
import json

from personastream_contracts.tables import TABLES
from personastream_flink import evaluate_promotions
from personastream_flink.testing import FileIO, local_environment
from personastream_models import experiments
from personastream_models.promotion_offers import exposure, offer_id
from personastream_models.promotion_rules import load, validate
from personastream_models.promotion_state import published

T0_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def rule(name: str, **changes) -> dict:
    """The example ``trending_category_spike`` under another name, from 2025 on."""
    doc = {**load("trending_category_spike").to_dict(), "name": name,
           "start": "2025-01-01T00:00:00Z", **changes}
    return validate(doc).to_dict()


def active(doc: dict) -> str:
    return published(None, validate(doc)).activated(now_ms=T0_MS).to_json()


def flagged(item: str, window_end_ms: int) -> str:
    import datetime as dt

    end = dt.datetime.fromtimestamp(window_end_ms / 1000, dt.timezone.utc)
    return json.dumps({"item_id": item, "window_end": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
                       "score": 0.99, "flagged": True})


def warm_up(enrich, n: int = 300) -> list[dict]:
    """Views by a customer no rule fires for, read before the test's: the broadcast records
    (two, from a list) reach the function first, as they do a running job (two sources have no
    order between them)."""
    return [enrich.event("page_view", T0_MS - 60_000 + i, user="warm-up",
                         page_url="https://shop.example/") for i in range(n)]


def run(io: FileIO) -> None:
    env = local_environment()
    job = evaluate_promotions
    args = job.parse_args(io.arguments(
        job.JOB_NAME, "--promotions-topic", "promotions.control", "--anomalies-topic",
        "trends.anomalies", "--offers-topic", "offers", "--exposures-topic",
        "experiments.exposures", "--refusals-topic", "promotions.refusals",
        "--segments-topic", "customers.segments", "--offers-ttl-s", "600",
        "--window-s", "60", "--session-gap-s", "1800", "--recent-items", "20",
        "--affinity-half-life-s", "86400"))
    job.build(env, args, io)
    env.execute(job.JOB_NAME)


def test_offers_follow_rules_caps_and_budget(tmp_path, enrich):
    # u-1 likes shoes and views the flagged shoe 4 times: 3 offers (cap 3 a day); u-2 likes
    # bags more than shoes (a third): none; the budget of 4 leaves one offer for u-3
    views = warm_up(enrich)
    views += [enrich.view("shoe-1", T0_MS + i * 1000, user="u-1") for i in range(4)]
    views += [enrich.view(f"bag-{i}", T0_MS + 10_000 + i, user="u-2", category="bags")
              for i in range(3)]
    views += [enrich.view("shoe-1", T0_MS + 11_000, user="u-2")]
    views += [enrich.view("shoe-1", T0_MS + 20_000 + i, user="u-3") for i in range(2)]
    doc = rule("shoe_spike", budget={"max_offers": 4},
               frequency_caps={"per_customer": {"max_offers": 3, "window_s": 86400}})
    io = FileIO(tmp_path, views, promotions=[active(doc)],
                anomalies=[flagged("shoe-1", T0_MS - 1000)])
    run(io)
    offers = io.rows("offers_by_user")
    by_user = {}
    for offer in offers:
        by_user.setdefault(offer["user_key"], []).append(offer)
    assert sorted(by_user) == ["u-1", "u-3"]
    assert len(by_user["u-1"]) == 3 and len(by_user["u-3"]) == 1
    assert len({o["offer_id"] for o in offers}) == 4
    first = by_user["u-1"][0]
    assert set(first) == set(TABLES["offers_by_user"].column_names)
    assert first["promotion"] == "shoe_spike" and first["item_id"] == "shoe-1"
    assert first["action"]["kind"] == "ranking_boost" and "flagged" in first["why"]
    records = io.rows("offers")
    assert [r["key"] for r in records] == [o["user_key"] for o in offers]
    value = json.loads(records[0]["value"])  # as the API's offers replica reads it
    assert value["offer_id"] == offers[0]["offer_id"], value
    assert value["expires_ms"] - value["issued_ms"] == 600_000, value
    # u-3's second view was a candidate the budget refused (u-1's fourth was capped, never a
    # candidate): its refusal goes back to u-3's task, so it stops counting against u-3's cap
    second = [v for v in views if v["user_id"] == "u-3"][1]
    assert [(r["key"], json.loads(r["value"])) for r in io.rows("promotions.refusals")] == [
        ("u-3", {"user_key": "u-3", "promotion": "shoe_spike",
                 "offer_id": offer_id("shoe_spike/1-0-0", "u-3", second["event_id"]),
                 "issued_ms": second["client_ts_ms"]})]


def test_a_segment_condition_holds_for_the_customers_in_the_segment(tmp_path, enrich):
    # assign_segments put u-1 in segment 2, u-2 in 5 (then 2, then 5 again: its latest counts);
    # u-3 has no segment yet ("unknown"): only u-1 gets the offer
    doc = {**rule("segment_two"), "conditions": [{"kind": "segment", "ids": [2]}]}
    views = warm_up(enrich)
    views += [enrich.view("shoe-1", T0_MS + i * 1000, user=u)
              for i, u in enumerate(["u-1", "u-2", "u-3"])]
    segments = [{"user_key": "u-1", "segment_id": 2, "segment_distance": 0.5,
                 "segment_model": "customer_segments/1-0-0"},
                *({"user_key": "u-2", "segment_id": n} for n in (5, 2, 5))]
    io = FileIO(tmp_path, views, promotions=[active(validate(doc).to_dict())],
                records={"customers.segments": segments})
    run(io)
    offers = io.rows("offers_by_user")
    assert [o["user_key"] for o in offers] == ["u-1"]
    assert "segment_id 2 in [2]" in offers[0]["why"], offers[0]["why"]


def test_a_refused_offer_stops_counting_against_the_customers_cap():
    # the customer's task, alone (stand-in state): two offers of a promotion capped at two a
    # day are counted at once; a refusal of the first (read back from the refusals topic) frees
    # one place in the cap, once even if read twice; another promotion's refusal changes nothing
    from personastream_flink.testing import StandInRuntime
    from personastream_models.promotion_offers import CustomerFacts, decide

    spike = validate(rule("shoe_spike", frequency_caps={
        "per_customer": {"max_offers": 2, "window_s": 86400}}))
    job = evaluate_promotions
    function = job.DecideOffers(job.parse_args(FileIO.arguments(
        job.JOB_NAME, "--promotions-topic", "p", "--anomalies-topic", "a", "--offers-topic", "o",
        "--exposures-topic", "e", "--refusals-topic", "r", "--segments-topic", "s",
        "--offers-ttl-s", "600", "--window-s", "60", "--session-gap-s", "1800",
        "--recent-items", "20", "--affinity-half-life-s", "86400")), ())
    runtime = StandInRuntime()
    function.open(runtime)
    facts = function.facts
    facts.update(CustomerFacts(offered={"shoe_spike": [T0_MS, T0_MS + 5]}))
    context = {"now_ms": T0_MS + 10, "item": {"item_id": "shoe-1", "category": "shoes",
                                              "brand": None},
               "trend": {"flagged": True, "score": 0.99}, "category_affinity": {"shoes": 1.0}}
    assert decide([spike], context, facts.value()) is None  # capped

    def read(**fields):
        row = {"erased": False, "segment_id": None, "refused_promotion": None, "event_ms": 0,
               **fields}
        assert list(function.process_element(type("Row", (), row)(), None)) == []

    read(refused_promotion="other_promotion", event_ms=T0_MS)
    assert facts.value().offered == {"shoe_spike": [T0_MS, T0_MS + 5]}
    for _ in range(2):
        read(refused_promotion="shoe_spike", event_ms=T0_MS)
    assert facts.value().offered == {"shoe_spike": [T0_MS + 5]}
    assert decide([spike], context, facts.value()).rule.key == "shoe_spike/1-0-0"
    read(segment_id=4)
    assert facts.value().segment_id == 4 and facts.value().offered["shoe_spike"] == [T0_MS + 5]


def test_a_paused_promotion_offers_nothing_with_erasures_read_beside(tmp_path, enrich):
    doc = rule("paused_spike")
    paused = published(None, validate(doc)).to_json()
    views = warm_up(enrich)
    views += [enrich.view("shoe-1", T0_MS + i * 1000, user="u-1") for i in range(2)]
    io = FileIO(tmp_path, views, promotions=[paused],
                anomalies=[flagged("shoe-1", T0_MS - 1000)],
                erasures=['{"user_key": "u-1", "source": "api", "requested_at_ms": 1}'])
    run(io)
    assert io.rows("offers_by_user") == []


def customers_in(experiment, variant: str, n: int) -> list[str]:
    """The first ``n`` customers ``u-<i>`` the experiment's sticky hash puts in ``variant``."""
    keys = (f"u-{i}" for i in itertools.count())
    return list(itertools.islice(
        (k for k in keys if experiments.assign(experiment, k).name == variant), n))


def test_a_held_out_customer_gets_no_offer_but_an_exposure(tmp_path, enrich):
    # promotions_on_off runs: each of 5 shoppers who like shoes views the flagged shoe once,
    # held out h1, promoted p1, p2, p3, held out h2; the budget of 2 offers is spent by p1 and
    # p2 alone (h1 is checked against it, not counted), so p3 and then h2 are refused alike
    experiment = experiments.load("promotions_on_off")
    t1 = experiment.start_ms + 86_400_000
    (h1, h2), (p1, p2, p3) = (customers_in(experiment, "holdout", 2),
                              customers_in(experiment, "promotions", 3))
    views = warm_up(enrich)
    views += [enrich.view("shoe-1", t1 + i * 1000, user=c)
              for i, c in enumerate([h1, p1, p2, p3, h2])]
    doc = rule("shoe_spike", budget={"max_offers": 2},
               frequency_caps={"per_customer": {"max_offers": 1, "window_s": 86400}})
    io = FileIO(tmp_path, views, promotions=[active(doc)], anomalies=[flagged("shoe-1", t1)])
    run(io)
    offers = io.rows("offers_by_user")
    assert [o["user_key"] for o in offers] == [p1, p2]
    records = io.rows("experiments.exposures")
    assert [r["key"] for r in records] == [h1, p1, p2]
    seen = [json.loads(r["value"]) for r in records]
    assert [(s["variant"], s["held_out"]) for s in seen] == [
        ("holdout", True), ("promotions", False), ("promotions", False)]
    # the promoted exposures name their offers; the held-out one the offer h1 would have had
    assert [s["offer_id"] for s in seen[1:]] == [o["offer_id"] for o in offers]
    trigger = next(v for v in views if v["user_id"] == h1)
    assert seen[0]["offer_id"] == offer_id("shoe_spike/1-0-0", h1, trigger["event_id"])
    assert seen[0]["received_ms"] == trigger["received_at_ms"]
    # what the job publishes is the pure function's exposure of the offer
    offer = {"user_key": p1, "offer_id": offers[0]["offer_id"], "promotion": "shoe_spike",
             "promotion_version": "1-0-0", "issued_ms": seen[1]["issued_ms"],
             "trigger_received_ms": seen[1]["received_ms"]}
    assert exposure(offer, [experiment]) == seen[1]
    assert json.loads(io.rows("offers")[0]["value"])["offer_id"] == offers[0]["offer_id"]

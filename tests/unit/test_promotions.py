"""Promotion rules: the format refuses every kind of broken rule naming the field, the example
rules are valid, the state transitions (publish, activate, pause) and the condition evaluator."""
from __future__ import annotations

import copy
import hashlib
import json
from importlib import resources

import pytest
from jsonschema import Draft202012Validator

from personastream_contracts.event_schemas import schema_identity
from personastream_models import promotion_rules as rules
from personastream_models.promotion_conditions import CONDITIONS, context_of, evaluate
from personastream_models.promotion_state import (VERSIONS_KEPT, PromotionState,
                                                  PromotionStateError, control_promotion, published)

HOUR_MS = 3_600_000
#: Each file's SHA-256: a kept version never changes (a change is a new version), as specs.
KEPT = {
    "schemas/promotion_rule/1-0-0.json":
        "caf0fe7b7fcba0f079cc79d848ba9257db47c2cf05c4e2f5f0e3b9a06b522876",
    "promotions/abandoned_cart_reminder/1-0-0.json":
        "b16a76a798d944983b1bd6d28c7ea1ea1bcaa4a77aa929a95cc797d835ae1ea9",
    "promotions/mobile_welcome/1-0-0.json":
        "1691072fd11035027324dda6f57139896c91ff91aa4e2f4c49c912796b56781b",
    "promotions/trending_category_spike/1-0-0.json":
        "5429943ab79bbd0a281bb480bc643e6c1388dcaa7bead807fd898328a94cc3cc",
}


def base() -> dict:
    return rules.load("trending_category_spike").to_dict()


def with_(doc: dict, path: str, value) -> dict:
    """``doc`` with the value at a dotted path (``conditions.0.min_score``) set, or removed
    when ``value`` is ``...``."""
    doc = copy.deepcopy(doc)
    *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
    node = doc
    for part in parents:
        node = node[part]
    if value is ...:
        del node[last]
    else:
        node[last] = value
    return doc


def problems(doc) -> dict[str, str]:
    with pytest.raises(rules.InvalidRule) as caught:
        rules.validate(doc)
    return {p.field: p.reason for p in caught.value.problems}


# ---- the format ---------------------------------------------------------------------------

@pytest.mark.parametrize("key", [f"{n}/{v}" for n, vs in rules.available().items() for v in vs])
def test_every_rule_file_is_valid(key):
    name, version = key.split("/")
    rule = rules.load(name, version)
    assert rule.key == key and rule.start_ms < rule.end_ms


def test_kept_rule_and_format_files_never_change():
    root = resources.files("personastream_models")
    on_disk = {f"promotions/{name}/{v}.json" for name, vs in rules.available().items()
               for v in vs}
    assert on_disk == {k for k in KEPT if k.startswith("promotions/")}, \
        "add the new rule file's digest to KEPT"
    for path, digest in KEPT.items():
        actual = hashlib.sha256(root.joinpath(path).read_bytes()).hexdigest()
        assert actual == digest, f"{path} changed after it was kept: add a new version instead"


def test_the_schema_is_a_2020_12_schema_whose_kinds_match_its_branches_and_the_evaluator():
    schema = rules.schema()
    Draft202012Validator.check_schema(schema)
    assert schema_identity(schema) == rules.SCHEMA_KEY
    for group in ("condition", "action"):
        branches = [b["if"]["properties"]["kind"]["const"] for b in schema["$defs"][group]["allOf"]]
        assert branches == list(schema["$defs"][group]["properties"]["kind"]["enum"])
        assert all(schema["$defs"][k]["properties"]["kind"] == {"const": k} for k in branches)
    assert set(CONDITIONS) == set(rules.CONDITION_KINDS)


def test_a_condition_without_a_kind_is_refused_for_that_alone():
    assert problems(with_(base(), "conditions.0", {"min_score": 0.5})) == {
        "conditions[0].kind": "is required"}


def test_device_types_come_from_the_enrichment_schema():
    from personastream_contracts.event_schemas import load_schemas

    allowed = load_schemas()[("enrichment", "1-0-0")]["properties"]["device"]["properties"][
        "type"]["enum"]
    rule = rules.load("mobile_welcome").to_dict()
    rule["conditions"][1]["types"] = allowed
    rules.validate(rule)


BROKEN = [
    # unknown condition, action or field
    ("conditions.0", {"kind": "weather"}, "conditions[0].kind", "unknown condition 'weather'"),
    ("conditions.0", {"kind": "item_trend", "sunny": True}, "conditions[0].sunny",
     "is not a field of the item_trend condition"),
    ("conditions.0", {"min_score": 0.5}, "conditions[0].kind", "is required"),
    ("action.kind", "popup", "action.kind", "unknown action 'popup'"),
    ("colour", "red", "colour", "is not a field of the rule"),
    ("budget.max_spend", 10, "budget.max_spend", "is not a field of the budget"),
    ("end", ..., "end", "is required"),
    ("frequency_caps.per_customer", ..., "frequency_caps.per_customer", "is required"),
    # bad type or shape
    ("priority", "high", "priority", "must be of type integer, got 'high'"),
    ("priority", 2.5, "priority", "must be of type integer"),
    ("conditions", {"kind": "item_trend"}, "conditions", "must be of type array"),
    ("conditions", [], "conditions", "must have at least 1 item"),
    ("conditions.1.min", "high", "conditions[1].min", "must be of type number"),
    ("conditions.1.dimension", "colour", "conditions[1].dimension", 'one of "category", "brand"'),
    ("start", "2026-13-01T00:00:00Z", "start", "must be an RFC 3339 date-time"),
    ("start", "2026-12-01", "start", "must be an RFC 3339 date-time"),
    ("version", "1.0.0", "version", "must match"),
    ("name", "Spike Sale", "name", "must match"),
    ("action.boost", True, "action.boost", "must be of type number"),
    # impossible ranges
    ("start", "2027-04-01T00:00:00Z", "end", "must be after start (2027-04-01T00:00:00Z)"),
    ("start", "2027-03-01T00:00:00Z", "end", "must be after start"),
    ("conditions.0.min_score", 1.5, "conditions[0].min_score", "must be at most 1, got 1.5"),
    ("conditions.0.min_score", -0.1, "conditions[0].min_score", "must be at least 0, got -0.1"),
    ("conditions.1.min", 0, "conditions[1].min", "must be more than 0"),
    ("conditions.1.min", 1.2, "conditions[1].min", "must be at most 1"),
    ("frequency_caps.per_customer.max_offers", -1, "frequency_caps.per_customer.max_offers",
     "must be at least 1, got -1"),
    ("frequency_caps.per_promotion.window_s", 0, "frequency_caps.per_promotion.window_s",
     "must be at least 1"),
    ("budget.max_offers", 0, "budget.max_offers", "must be at least 1"),
    ("budget.max_offers", 4000, "frequency_caps.per_promotion.max_offers",
     "must not exceed budget.max_offers (4000), got 5000"),
    ("priority", 1001, "priority", "must be at most 1000"),
    ("action.boost", 0, "action.boost", "must be more than 0"),
    ("action", {"kind": "discount", "code": "SPIKE10", "percent_off": 150, "text": "!"},
     "action.percent_off", "must be at most 100"),
    ("action", {"kind": "discount", "code": "spike", "percent_off": 5, "text": "!"},
     "action.code", "must match"),
    ("action", {"kind": "banner", "text": ""}, "action.text", "at least 1 character"),
    ("action", {"kind": "banner", "text": "hi", "link": "https://elsewhere.example"},
     "action.link", "must match ^/"),
    # conditions that cannot hold or are written twice
    ("conditions.1", {"kind": "cart_abandoned", "after_minutes": 30, "within_minutes": 20},
     "conditions[1].within_minutes", "must be more than after_minutes (30), got 20"),
    ("conditions.1", {"kind": "cart_abandoned", "after_minutes": 0},
     "conditions[1].after_minutes", "must be at least 1"),
    ("conditions.1", {"kind": "time_of_day", "from": "09:00", "to": "09:00"},
     "conditions[1].to", "must differ from 'from'"),
    ("conditions.1", {"kind": "time_of_day", "from": "09:00", "to": "25:00"},
     "conditions[1].to", "must match"),
    ("conditions.1", {"kind": "time_of_day", "from": "09:00", "to": "17:00",
                      "timezone": "Mars/Olympus"}, "conditions[1].timezone",
     "must be an IANA time zone"),
    ("conditions.1", {"kind": "item_trend", "min_score": 0.9}, "conditions[1]",
     "repeats the item_trend condition of conditions[0]"),
    ("conditions.1", {"kind": "geo", "countries": ["de"]}, "conditions[1].countries[0]",
     "must match"),
    ("conditions.1", {"kind": "geo", "countries": []}, "conditions[1].countries",
     "at least 1 item"),
    ("conditions.1", {"kind": "segment", "ids": [1, 1]}, "conditions[1].ids",
     "must not repeat a value"),
    ("conditions.1", {"kind": "segment", "ids": [-1]}, "conditions[1].ids[0]",
     "must be at least 0"),
    ("conditions.1", {"kind": "device", "types": ["phone"]}, "conditions[1].types[0]",
     '"mobile"'),
    ("conditions.1", {"kind": "visitor", "is": "loyal"}, "conditions[1].is", '"returning"'),
]


@pytest.mark.parametrize("path, value, field, reason", BROKEN,
                         ids=[f"{f}:{r[:30]}" for _, _, f, r in BROKEN])
def test_a_broken_rule_is_refused_naming_the_field(path, value, field, reason):
    found = problems(with_(base(), path, value))
    assert field in found, found
    assert reason in found[field]


def test_every_problem_is_reported_and_the_message_names_the_first():
    doc = with_(with_(base(), "priority", "high"), "conditions.0.min_score", 2)
    with pytest.raises(rules.InvalidRule) as caught:
        rules.validate(doc)
    assert [p.field for p in caught.value.problems] == ["conditions[0].min_score", "priority"]
    assert str(caught.value).startswith("rule trending_category_spike/1-0-0: field "
                                        "'conditions[0].min_score' must be at most 1, got 2 "
                                        "(and 1 more: field 'priority'")


def test_a_rule_must_be_an_object_and_match_its_path(tmp_path):
    assert problems([base()]) == {"(rule)": "must be a JSON object, got list"}
    with pytest.raises(rules.InvalidRule, match="field 'name' must equal its folder name"):
        rules.validate(base(), path_name="other_name")
    with pytest.raises(rules.InvalidRule, match="field 'version' must equal its file name"):
        rules.validate(base(), path_name="trending_category_spike", path_version="1-0-1")
    broken = tmp_path / "rule.json"
    broken.write_text('{"name": ')
    with pytest.raises(rules.InvalidRule, match="field '\\(rule\\)' is not valid JSON"):
        rules.read_file(broken)
    with pytest.raises(rules.RuleNotFound, match="no promotion rule named 'nope'"):
        rules.load("nope")
    with pytest.raises(rules.RuleNotFound, match="has no version '9-0-0'"):
        rules.load("mobile_welcome", "9-0-0")


def test_a_validated_rule_is_its_file():
    rule = rules.load("mobile_welcome")
    path = rules.rule_path("mobile_welcome", "1-0-0")
    assert rule.to_dict() == json.loads(path.read_text())
    assert rules.validate(rule) == rule


# ---- state transitions --------------------------------------------------------------------

def rule_at(version: str, **changes) -> rules.PromotionRule:
    return rules.validate({**rules.load("mobile_welcome").to_dict(), "version": version,
                           **changes})


START = rules.load("mobile_welcome").start_ms


def test_publish_records_a_new_promotion_paused_and_nothing_runs():
    state = published(None, rule_at("1-0-0"))
    assert (state.name, state.status, state.version, state.action) == (
        "mobile_welcome", "paused", "1-0-0", "publish")
    assert state.running_rule() is None


def test_activate_runs_the_latest_or_a_chosen_published_version():
    state = published(published(None, rule_at("1-0-0")), rule_at("1-1-0", priority=30))
    assert state.version == "1-1-0"  # paused: moves to the new version
    active = state.activated(now_ms=START)
    assert (active.status, active.running_rule().priority) == ("active", 30)
    older = active.activated("1-0-0", now_ms=START)
    assert (older.version, older.running_rule().priority) == ("1-0-0", 20)


def test_publishing_while_active_keeps_the_running_version_until_activated():
    active = published(None, rule_at("1-0-0")).activated(now_ms=START)
    state = published(active, rule_at("2-0-0"))
    assert (state.status, state.version) == ("active", "1-0-0")
    assert state.activated(now_ms=START).version == "2-0-0"


@pytest.mark.parametrize("change, message", [
    (lambda s: s.activated("9-9-9", now_ms=START),
     "has no published version '9-9-9' (published: 1-0-0); publish it first"),
    (lambda s: s.activated(now_ms=START).activated(now_ms=START), "is active already"),
    (lambda s: s.activated(now_ms=rules.load("mobile_welcome").end_ms),
     "ended at 2027-06-01T00:00:00.000Z"),
    (lambda s: s.paused(), "is paused already"),
    (lambda s: published(s, rule_at("1-0-0")), "is published already"),
    (lambda s: published(s, rule_at("1-0-0", priority=99)),
     "published already with other content; a published version never changes: bump"),
    (lambda s: published(published(s, rule_at("1-2-0")), rule_at("1-1-0")),
     "version must be later than 1-2-0"),
    (lambda s: published(s, rules.load("abandoned_cart_reminder")),
     "is not a version of promotion mobile_welcome"),
])
def test_impossible_transitions_are_refused(change, message):
    with pytest.raises(PromotionStateError, match=message.replace("(", r"\(").replace(")", r"\)")):
        change(published(None, rule_at("1-0-0")))


def test_nothing_unvalidated_is_activated_even_from_a_tampered_record():
    record = json.loads(published(None, rule_at("1-0-0")).to_json())
    record["rules"]["1-0-0"]["conditions"][0]["min_score"] = 7
    state = PromotionState.from_json(json.dumps(record))
    with pytest.raises(rules.InvalidRule, match="'conditions\\[0\\].min_score'"):
        state.activated(now_ms=START)
    record["status"] = "active"
    with pytest.raises(rules.InvalidRule):
        control_promotion(json.dumps(record))


@pytest.mark.parametrize("record", [b"not json", b"{}", b'{"promotion": "x", "version": "1-0-0",'
                                    b' "status": "live", "rules": {"1-0-0": {}}}'])
def test_a_record_that_is_not_a_state_is_refused(record):
    with pytest.raises(PromotionStateError):
        PromotionState.from_json(record)


def test_a_record_keeps_the_last_versions_and_always_the_running_one():
    state = published(None, rule_at("1-0-0")).activated(now_ms=START)
    for minor in range(1, VERSIONS_KEPT + 5):
        state = published(state, rule_at(f"1-{minor}-0"))
    kept = state.published_versions()
    assert len(kept) == VERSIONS_KEPT and kept[0] == "1-0-0" and state.version == "1-0-0"
    assert kept[-1] == f"1-{VERSIONS_KEPT + 4}-0"
    again = PromotionState.from_json(state.to_json())
    assert again == state and control_promotion(state.to_json())[1].key == "mobile_welcome/1-0-0"


# ---- the evaluator ------------------------------------------------------------------------

def fires(conditions: list[dict], **context) -> tuple[bool, str]:
    rule = rules.validate({**base(), "conditions": conditions})
    verdict = evaluate(rule, {"now_ms": rule.start_ms + HOUR_MS, **context})
    return verdict.fires, verdict.checks[-1].reason


@pytest.mark.parametrize("condition, context, expected, reason", [
    ({"kind": "item_trend"}, {"item": {"item_id": "a"}, "trend": {"flagged": True, "score": 0.2}},
     True, "item 'a' flagged (score 0.2)"),
    ({"kind": "item_trend"}, {"item": {"item_id": "a"}, "trend": {"flagged": False, "score": 0.99}},
     False, "not flagged"),
    ({"kind": "item_trend", "min_score": 0.8}, {"item": {"item_id": "a"},
                                                "trend": {"flagged": False, "score": 0.8}},
     True, "score 0.8 >= 0.8"),
    ({"kind": "item_trend", "min_score": 0.8}, {"item": {"item_id": "a"},
                                                "trend": {"flagged": True, "score": 0.79}},
     False, "score 0.79 < 0.8"),
    ({"kind": "item_trend"}, {"item": {"item_id": "a"}}, False, "unknown: item 'a' has no scored"),
    ({"kind": "item_trend"}, {}, False, "unknown: no item in focus"),
    ({"kind": "affinity", "dimension": "brand", "min": 1},
     {"item": {"item_id": "a", "brand": "acme"}, "brand_affinity": {"acme": 2.0, "zeta": 1.0}},
     True, "brand 'acme' at 1.00 of the strongest"),
    ({"kind": "affinity", "dimension": "brand", "values": ["zeta", "omni"], "min": 0.6},
     {"brand_affinity": {"acme": 2.0, "zeta": 1.0}}, False, "brand 'zeta' at 0.50"),
    ({"kind": "affinity", "dimension": "category", "min": 0.1}, {"category_affinity": {"x": 1}},
     False, "unknown: no category of an item in focus"),
    ({"kind": "affinity", "dimension": "category", "min": 0.1},
     {"item": {"item_id": "a", "category": "boots"}}, False, "'boots' at 0.00"),
    ({"kind": "segment", "ids": [2, 4]}, {"segment_id": 4}, True, "segment_id 4 in [2, 4]"),
    ({"kind": "segment", "ids": [2, 4]}, {"segment_id": None}, False, "unknown: no segment_id"),
    ({"kind": "geo", "countries": ["DE"]}, {"country": "FR"}, False, "country 'FR' not in"),
    ({"kind": "device", "types": ["mobile", None]}, {"device": None}, True, "device None in"),
    ({"kind": "device", "types": ["mobile"]}, {"device": "desktop"}, False, "not in"),
    ({"kind": "visitor", "is": "returning"}, {"returning": True}, True, "returning visitor"),
    ({"kind": "visitor", "is": "new"}, {}, False, "unknown: new or returning"),
    ({"kind": "cart_abandoned", "after_minutes": 30}, {"cart": {"n_items": 1, "updated_ms": 0}},
     True, "unchanged for"),
    ({"kind": "cart_abandoned", "after_minutes": 30}, {"cart": {"n_items": 0, "updated_ms": 0}},
     False, "no open cart"),
])
def test_each_condition_kind(condition, context, expected, reason):
    holds, why = fires([condition], **context)
    assert (holds, reason in why) == (expected, True), why


def test_cart_abandoned_counts_minutes_since_the_carts_last_change():
    condition = {"kind": "cart_abandoned", "after_minutes": 30, "within_minutes": 60}
    rule = rules.validate({**base(), "conditions": [condition]})
    at = rule.start_ms + HOUR_MS

    def idle(minutes):
        return evaluate(rule, {"now_ms": at, "cart": {"n_items": 2,
                                                      "updated_ms": at - minutes * 60_000}}).fires

    assert [idle(m) for m in (29.9, 30, 59.9, 60)] == [False, True, True, False]


@pytest.mark.parametrize("span, utc_time, expected", [
    (("08:00", "22:00", "UTC"), "07:59", False), (("08:00", "22:00", "UTC"), "08:00", True),
    (("08:00", "22:00", "UTC"), "22:00", False),
    (("22:00", "02:00", "UTC"), "23:30", True), (("22:00", "02:00", "UTC"), "01:59", True),
    (("22:00", "02:00", "UTC"), "02:00", False),
    (("08:00", "09:00", "Europe/Berlin"), "07:30", True),  # 08:30 in Berlin (CET, UTC+1)
    (("08:00", "09:00", "Europe/Berlin"), "08:30", False),
])
def test_time_of_day_in_the_rules_time_zone(span, utc_time, expected):
    from personastream_contracts.formats import epoch_ms

    start, end, zone = span
    rule = rules.validate({**base(), "conditions": [
        {"kind": "time_of_day", "from": start, "to": end, "timezone": zone}]})
    now_ms = epoch_ms(f"2026-12-10T{utc_time}:00Z")
    assert evaluate(rule, {"now_ms": now_ms}).fires is expected


def test_the_schedule_bounds_every_rule():
    rule = rules.load("trending_category_spike")
    context = {"item": {"item_id": "a", "category": "c"}, "trend": {"flagged": True, "score": 1},
               "category_affinity": {"c": 1.0}}
    at = [rule.start_ms - 1, rule.start_ms, rule.end_ms - 1, rule.end_ms]
    assert [evaluate(rule, {**context, "now_ms": t}).fires for t in at] == [
        False, True, True, False]
    assert "not in [2026-12-01" in evaluate(rule, {**context, "now_ms": at[0]}).checks[0].reason
    with pytest.raises(ValueError, match="needs 'now_ms'"):
        evaluate(rule, context)


def test_the_example_rules_fire_for_the_shoppers_they_are_written_for():
    from personastream_contracts.formats import epoch_ms

    evening = epoch_ms("2026-12-10T17:30:00Z")  # 18:30 in Berlin
    event = {"item_id": "sku-9", "category": "boots", "brand": "acme", "client_ts_ms": evening,
             "geo": {"country": "AT"}, "device": {"type": "mobile"}}
    welcome = rules.load("mobile_welcome")
    assert evaluate(welcome, context_of(event, returning=False)).fires
    assert not evaluate(welcome, context_of(event, returning=True)).fires
    assert not evaluate(welcome, context_of({**event, "device": {"type": "desktop"}},
                                            returning=False)).fires
    reminder = rules.load("abandoned_cart_reminder")
    cart = {"n_items": 1, "updated_ms": evening - 31 * 60_000}
    assert evaluate(reminder, context_of(event, returning=True, cart=cart)).fires
    assert not evaluate(reminder, context_of(event, returning=True,
                                             cart={**cart, "updated_ms": evening})).fires

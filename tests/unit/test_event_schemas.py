"""Event schema files: identity, references, samples, history; the SchemaVer compatibility check."""
import copy
import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from personastream_contracts import deadletters, event_schemas, schemaver
from personastream_contracts.event_schemas import (NON_EVENT_SCHEMAS, SCHEMA_DIR, SchemaFileError,
                                                   load_schemas, registry)
from personastream_flows.ingest import event_ingest as ei

SAMPLES = json.loads((Path(__file__).parent / "data" / "valid_events.json").read_text())
SCHEMAS = load_schemas(SCHEMA_DIR)
EVENT_SCHEMAS = sorted(k for k in SCHEMAS if k[0] not in NON_EVENT_SCHEMAS)
ENVELOPE_REF = "urn:personastream:envelope:1-0-0"


@pytest.fixture(scope="module")
def ingestor():
    return ei.Ingestor(SCHEMA_DIR, geoip_database=None, max_body_bytes=1 << 20)


def validator(key):
    return event_schemas.validator(SCHEMAS, key)


@pytest.mark.parametrize("path", sorted(SCHEMA_DIR.glob("*/*.json")),
                         ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_file_path_agrees_with_declared_identity(path):
    schema = json.loads(path.read_text(encoding="utf-8"))
    assert schema["$id"] == f"urn:personastream:{path.parent.name}:{path.stem}"
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


def test_every_schema_file_is_loaded():
    files = {(p.parent.name, p.stem) for p in SCHEMA_DIR.glob("*/*.json")}
    assert set(SCHEMAS) == files
    assert {name for name, _ in EVENT_SCHEMAS} == {
        "page_view", "product_view", "add_to_cart", "purchase", "search", "customer_update",
        "impression", "click"}


@pytest.mark.parametrize("key", EVENT_SCHEMAS, ids="/".join)
def test_event_schema_references_the_envelope_and_pins_its_type(key):
    schema = SCHEMAS[key]
    assert {"$ref": ENVELOPE_REF} in schema["allOf"]
    assert schema["properties"]["event_type"] == {"const": key[0]}
    resolved = registry(SCHEMAS).resolver().lookup(ENVELOPE_REF).contents
    assert resolved is SCHEMAS[("envelope", "1-0-0")]


@pytest.mark.parametrize("key", EVENT_SCHEMAS, ids="/".join)
def test_sample_event_is_valid_and_the_envelope_applies(key):
    sample = next(e for e in SAMPLES if (e["event_type"], e["schema_version"]) == key)
    assert list(validator(key).iter_errors(sample)) == []
    no_id = {k: v for k, v in sample.items() if k != "event_id"}  # an envelope-only field
    assert [e.validator for e in validator(key).iter_errors(no_id)] == ["required"]


def test_every_event_schema_has_a_sample():
    assert sorted({(e["event_type"], e["schema_version"]) for e in SAMPLES}) == EVENT_SCHEMAS


def test_deadletter_schema_agrees_with_the_module():
    schema = SCHEMAS[tuple(deadletters.DEADLETTER_SCHEMA.split("/"))]
    assert tuple(schema["$defs"]["error"]["properties"]["code"]["enum"]) == deadletters.REASON_CODES
    assert deadletters.DEADLETTER_SCHEMA in schema["properties"]["deadletter_schema"]["enum"]
    assert deadletters.DEADLETTER_SCHEMA == "/".join(
        ("deadletter", event_schemas.latest(SCHEMAS, "deadletter")))


def test_each_schema_history_is_compatible_within_a_model():
    by_name = {}
    for name, version in SCHEMAS:
        by_name.setdefault(name, []).append(version)
    for name, versions in by_name.items():
        versions.sort(key=schemaver.version_tuple)
        for old, new in zip(versions, versions[1:]):
            assert schemaver.check_compatible(SCHEMAS[(name, old)], SCHEMAS[(name, new)], old, new) == []


def test_ingestor_routes_exactly_the_event_schemas(ingestor):
    banner = ("1-0-0", "1-1-0")  # impression and click: 1-1-0 adds offer_id
    assert ingestor.versions == {name: banner if name in ("impression", "click") else ("1-0-0",)
                                 for name, _ in EVENT_SCHEMAS}


@pytest.mark.parametrize("event_type", ["impression", "click"])
def test_banner_events_name_their_offer_from_1_1_0_and_1_0_0_stays_valid(event_type, ingestor):
    new = next(e for e in SAMPLES
               if (e["event_type"], e["schema_version"]) == (event_type, "1-1-0"))
    assert new["offer_id"] and new["placement"] == "promotion_banner"
    old = {**{k: v for k, v in new.items() if k != "offer_id"}, "schema_version": "1-0-0"}
    assert list(validator((event_type, "1-0-0")).iter_errors(old)) == []
    wrong = {**new, "offer_id": 7}
    assert [list(e.absolute_path) for e in validator((event_type, "1-1-0")).iter_errors(wrong)] \
        == [["offer_id"]]
    source = {"ip": None, "user_agent": None, "received_at_ms": 1714564800123,
              "content_type": "application/json"}
    result = ingestor.process(json.dumps([old, new, wrong]).encode(), source)
    assert [r.value.get("offer_id") for r in result.enriched] == [None, new["offer_id"]]
    assert [d.value["batch_index"] for d in result.deadletters] == [2]


# --- loading errors ------------------------------------------------------------------------

def write(root, name, version, schema):
    (root / name).mkdir(parents=True, exist_ok=True)
    (root / name / f"{version}.json").write_text(json.dumps(schema))


def copy_schemas(root):
    for (name, version), schema in SCHEMAS.items():
        write(root, name, version, schema)


def test_missing_schema_dir_is_refused(tmp_path):
    with pytest.raises(SchemaFileError, match="does not exist"):
        load_schemas(tmp_path / "nope")


def test_identity_disagreeing_with_path_is_refused(tmp_path):
    write(tmp_path, "search", "1-0-1", SCHEMAS[("search", "1-0-0")])
    with pytest.raises(SchemaFileError, match="urn:personastream:search:1-0-1"):
        load_schemas(tmp_path)


def test_invalid_schema_is_refused(tmp_path):
    write(tmp_path, "search", "1-0-0", {"$id": "urn:personastream:search:1-0-0", "type": "strng"})
    with pytest.raises(SchemaFileError, match="not a valid draft 2020-12 schema"):
        load_schemas(tmp_path)


@pytest.mark.parametrize("change, match", [
    (lambda s: s["allOf"][0].update({"$ref": "urn:personastream:envelope:9-0-0"}),
     "does not resolve"),
    (lambda s: s["properties"].pop("event_type"), "must pin"),
    (lambda s: s["properties"]["query"].update({"format": "uri"}), "would not check"),
])
def test_unusable_event_schema_is_refused_at_start(tmp_path, change, match):
    copy_schemas(tmp_path)
    schema = copy.deepcopy(SCHEMAS[("search", "1-0-0")])
    change(schema)
    write(tmp_path, "search", "1-0-0", schema)
    with pytest.raises(ei.IngestConfigError, match=match):
        ei.Ingestor(tmp_path, geoip_database=None, max_body_bytes=1000)


# --- check_compatible ----------------------------------------------------------------------

BASE = SCHEMAS[("product_view", "1-0-0")]


def evolve(change):
    schema = copy.deepcopy(BASE)
    change(schema)
    return schema


def breaks(change, old_version="1-0-0", new_version="1-0-1"):
    return schemaver.check_compatible(BASE, evolve(change), old_version, new_version)


def test_adding_an_optional_property_is_compatible():
    assert breaks(lambda s: s["properties"].update(color={"type": ["string", "null"]})) == []


def test_widening_is_compatible():
    def widen(s):
        s["properties"]["price"]["type"] = ["number", "string", "null"]
        s["properties"]["item_id"]["maxLength"] = 1024
        s["properties"]["category"].pop("minLength")
        s["required"].remove("category")
    assert breaks(widen) == []


@pytest.mark.parametrize("change, expected", [
    (lambda s: (s["properties"].update(color={"type": "string"}), s["required"].append("color")),
     "#: new required property 'color'"),
    (lambda s: s["properties"].pop("brand"), "#: property 'brand' removed"),
    (lambda s: s["properties"]["price"].update(type="string"),
     "#/properties/price: type narrowed from ['null', 'number'] to ['string']"),
    (lambda s: s["properties"]["price"].update(type=["integer", "null"]),
     "#/properties/price: type narrowed from ['null', 'number'] to ['integer', 'null']"),
    (lambda s: s["properties"]["price"].update(minimum=1),
     "#/properties/price: minimum raised to 1"),
    (lambda s: s["properties"]["item_id"].update(maxLength=10),
     "#/properties/item_id: maxLength lowered to 10"),
    (lambda s: s["properties"]["brand"].update(enum=["acme", None]),
     "#/properties/brand: enum/const narrowed"),
    (lambda s: s["properties"]["brand"].update(pattern="^[a-z]+$"),
     "#/properties/brand: pattern added or changed"),
    (lambda s: s["properties"]["brand"].update(format="uuid"),
     "#/properties/brand: format added or changed"),
    (lambda s: s.update(additionalProperties=False), "#: additionalProperties tightened to false"),
    (lambda s: s.update(additionalProperties={"type": "string"}),
     "#/additionalProperties: type narrowed from any to ['string']"),
    (lambda s: s["allOf"].append({"required": ["brand"]}), "#: allOf entry 1 added"),
])
def test_narrowing_within_a_model_is_refused_and_allowed_across_models(change, expected):
    assert expected in breaks(change)
    assert breaks(change, "1-0-0", "2-0-0") == []


def test_enum_and_integer_to_number_widen():
    old = {"properties": {"n": {"type": "integer"}, "c": {"enum": ["a"]}}}
    new = {"properties": {"n": {"type": "number"}, "c": {"enum": ["a", "b"]}}}
    assert schemaver.check_compatible(old, new, "1-0-0", "1-1-0") == []
    assert schemaver.check_compatible(new, old, "1-0-0", "1-1-0") == [
        "#/properties/n: type narrowed from ['number'] to ['integer']",
        "#/properties/c: enum/const narrowed"]


def test_nested_array_items_are_compared():
    old = SCHEMAS[("purchase", "1-0-0")]
    new = copy.deepcopy(old)
    new["properties"]["items"]["items"]["properties"]["quantity"]["maximum"] = 99
    assert schemaver.check_compatible(old, new, "1-0-0", "1-0-1") == [
        "#/properties/items/items/properties/quantity: maximum lowered to 99"]


def test_new_property_must_fit_the_old_additional_properties_schema():
    old = {"type": "object", "additionalProperties": {"type": "string"}}
    assert schemaver.check_compatible(old, {**old, "properties": {"x": {"type": "string", "maxLength": 3}}},
                               "1-0-0", "1-0-1") == ["#/properties/x: maxLength lowered to 3"]


@pytest.mark.parametrize("new_ref, n_breaks", [
    ("urn:personastream:envelope:1-0-0", 0),
    ("urn:personastream:envelope:1-1-0", 0),   # that schema's own history is checked above
    ("urn:personastream:envelope:2-0-0", 1),
    ("urn:personastream:page_view:1-0-0", 1),
])
def test_envelope_reference_may_move_forward_within_its_model(new_ref, n_breaks):
    assert len(breaks(lambda s: s["allOf"][0].update({"$ref": new_ref}))) == n_breaks


def test_malformed_versions_are_refused():
    with pytest.raises(ValueError, match="SchemaVer"):
        schemaver.check_compatible(BASE, BASE, "1.0.0", "1-0-1")


def test_boolean_subschemas():
    assert schemaver.check_compatible({"items": True}, {"items": False}, "1-0-0", "1-0-1") == [
        "#/items: not added or changed"]
    assert schemaver.check_compatible({"items": False}, {"items": True}, "1-0-0", "1-0-1") == []

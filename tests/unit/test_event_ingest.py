"""Ingest logic: one record out per event in, exact original payloads, pointers, enrichment."""
import base64
import gzip
import hashlib
import importlib.metadata
import json
from pathlib import Path

import pytest

from personastream_contracts.deadletters import DEADLETTER_SCHEMA, MAX_MESSAGE_CHARS
from personastream_contracts.event_schemas import fast_validator, load_schemas, validator
from personastream_contracts.formats import epoch_ms, is_rfc3339_date_time
from personastream_contracts.identity import user_key
from personastream_flows import bundle
from personastream_flows.ingest import devices
from personastream_flows.ingest import event_ingest as ei
from personastream_flows.ingest.geo import NULL_GEO, geo_from_record

SAMPLES = json.loads((Path(__file__).parent / "data" / "valid_events.json").read_text())
MAX_BODY = 4096
SOURCE = {"ip": "203.0.113.9", "user_agent": None, "received_at_ms": 1714564800123,
          "content_type": "application/json"}
SCHEMAS = load_schemas(ei.SCHEMA_DIR)
DEADLETTER = validator(SCHEMAS, tuple(DEADLETTER_SCHEMA.split("/")))

CHROME_DESKTOP = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                  "Chrome/124.0.0.0 Safari/537.36")
IPHONE_SAFARI = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
                 "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1")
IPAD = ("Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/16.6 Mobile/15E148 Safari/604.1")
ANDROID_PHONE = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
                 "Chrome/124.0.6367.82 Mobile Safari/537.36")
ANDROID_TABLET = ("Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) "
                  "Chrome/120.0.0.0 Safari/537.36")
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
MAC_SAFARI = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
              "Version/17.4 Safari/605.1.15")


@pytest.fixture(scope="module")
def ingestor():
    ingestor = ei.Ingestor(ei.SCHEMA_DIR, geoip_database=None, max_body_bytes=MAX_BODY)
    yield ingestor
    ingestor.close()


@pytest.fixture(scope="module")
def large_ingestor():
    return ei.Ingestor(ei.SCHEMA_DIR, geoip_database=None, max_body_bytes=1 << 20)


def process(ingestor, body, **source):
    """Process and check the invariants every result must hold."""
    result = ingestor.process(body, {**SOURCE, **source})
    for record in result.deadletters:
        assert list(DEADLETTER.iter_errors(record.value)) == []
        assert record.value["reason"] in record.value["errors"]
        errors = record.value["errors"]
        assert errors == sorted(errors, key=lambda e: (e["field"], e["rule"] or "", e["message"]))
        assert record.value_bytes()  # serializable
    for record in result.enriched:
        json.loads(record.value_bytes())
    assert result.first_reason == (result.deadletters[0].value["reason"]["code"]
                                   if result.deadletters else None)
    return result


def sample(event_type, **changes):
    event = dict(next(e for e in SAMPLES if e["event_type"] == event_type))
    event.update(changes)
    return {k: v for k, v in event.items() if v is not ...}


def only_deadletter(result):
    assert (result.accepted, result.rejected) == (0, 1)
    return result.deadletters[0].value


# --- valid events --------------------------------------------------------------------------

@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: e["event_type"])
def test_valid_event_is_enriched_with_its_fields_untouched(ingestor, event):
    result = process(ingestor, json.dumps(event).encode())
    assert (result.accepted, result.rejected, result.first_reason) == (1, 0, None)
    record = result.enriched[0]
    assert record.key == user_key(event.get("user_id"), event.get("anonymous_id"))
    assert {k: record.value[k] for k in event} == event
    assert record.value["schema"] == f"{event['event_type']}/{event['schema_version']}"
    assert record.value["received_at"] == "2024-05-01T12:00:00.123Z"
    assert record.value["received_at_ms"] == 1714564800123
    assert record.value["client_ts_ms"] == epoch_ms(event["client_ts"])
    assert record.value["geo"] == NULL_GEO  # no database
    assert record.value["device"] == {"type": None, "os": None, "os_version": None,
                                      "browser": None, "browser_version": None}
    assert set(record.value) == set(event) | {"received_at", "received_at_ms", "client_ts_ms",
                                              "schema", "geo", "device"}


def test_enrichment_is_computed_per_request_and_copied_per_event(ingestor):
    body = json.dumps(SAMPLES).encode()
    result = process(ingestor, body, user_agent=IPHONE_SAFARI)
    devices = [r.value["device"] for r in result.enriched]
    assert all(d == devices[0] for d in devices) and devices[0]["type"] == "mobile"
    assert devices[0] is not devices[1]


# --- whole-body failures -------------------------------------------------------------------

def test_body_too_large_keeps_its_head_size_and_hash(ingestor):
    body = json.dumps([sample("search")] * 40).encode()
    assert len(body) > MAX_BODY
    dead = only_deadletter(process(ingestor, body))
    assert dead["reason"]["code"] == "body_too_large"
    assert dead["payload"] == body[:MAX_BODY].decode() and dead["batch_index"] is None
    assert dead["payload_size"] == len(body)
    assert dead["payload_sha256"] == hashlib.sha256(body).hexdigest()


def test_body_too_large_and_not_utf8_keeps_the_head_bytes(ingestor):
    body = b"\xff" * (MAX_BODY + 1)
    dead = only_deadletter(process(ingestor, body))
    assert dead["reason"]["code"] == "body_too_large"
    assert base64.b64decode(dead["payload_base64"]) == body[:MAX_BODY] and "payload" not in dead
    assert dead["payload_size"] == MAX_BODY + 1


@pytest.mark.parametrize("body", [b'{"q": "caf\xe9"}', b"\xef\xbb", b'["\xed\xa0\x80"]'],
                         ids=["latin1", "truncated-sequence", "encoded-surrogate"])
def test_invalid_utf8(ingestor, body):
    dead = only_deadletter(process(ingestor, body))
    assert dead["reason"]["code"] == "invalid_utf8"
    assert base64.b64decode(dead["payload_base64"]) == body


@pytest.mark.parametrize("text", [
    "", "   ", "{", '{"a": 1', "[1, 2", "[1,]", "[,1]", "[1 2]", '{"a": 1} {"b": 2}', "[1]]",
    '{"price": NaN}', '[{"price": Infinity}]', '{"price": 1e400}', '{"a": "tab\tinside"}',
    "[" * 100_000, "{'single': 'quotes'}",
], ids=["empty", "blank", "open", "unclosed", "unclosed-array", "trailing-comma", "leading-comma",
        "no-comma", "two-values", "extra-bracket", "nan", "infinity", "overflow",
        "control-char", "deep", "single-quotes"])
def test_malformed_json_keeps_the_whole_body(large_ingestor, text):
    dead = only_deadletter(process(large_ingestor, text.encode()))
    assert dead["reason"]["code"] == "malformed_json"
    assert dead["reason"]["message"].startswith("body is not JSON")
    assert dead["payload"] == text


@pytest.mark.parametrize("text", ["42", ' "event" ', "null", "true"])
def test_scalar_body_is_not_an_event(ingestor, text):
    dead = only_deadletter(process(ingestor, text.encode()))
    assert dead["reason"]["code"] == "not_an_event"
    assert dead["payload"] == text and dead["batch_index"] is None


@pytest.mark.parametrize("text", ["[]", " [ \n ] \n"])
def test_empty_batch_is_one_deadletter(ingestor, text):
    dead = only_deadletter(process(ingestor, text.encode()))
    assert dead["reason"]["code"] == "empty_batch" and dead["payload"] == text


def test_byte_order_mark_is_skipped(ingestor):
    result = process(ingestor, b"\xef\xbb\xbf" + json.dumps(sample("search")).encode())
    assert result.accepted == 1


# --- event failures ------------------------------------------------------------------------

@pytest.mark.parametrize("raw, code", [
    ('"just a string"', "not_an_event"),
    ("[1, 2]", "not_an_event"),
    ('{"event_type": "checkout", "schema_version": "1-0-0"}', "unknown_event_type"),
    ('{"event_type": "search", "schema_version": "1-1-0"}', "unknown_schema_version"),
    ('{"event_type": "search", "schema_version": "1-0"}', "unknown_schema_version"),
    ('{"event_type": "search"}', "schema_violation"),
    ('{"event_type": 7, "schema_version": "1-0-0"}', "schema_violation"),
    ('{"schema_version": "1-0-0"}', "schema_violation"),
])
def test_bad_event_in_a_batch_keeps_its_exact_text(ingestor, raw, code):
    good = json.dumps(sample("search"))
    text = f'[{good},\n   {raw}  ]'
    result = process(ingestor, text.encode())
    assert (result.accepted, result.rejected) == (1, 1)
    dead = result.deadletters[0].value
    assert dead["reason"]["code"] == code
    assert dead["payload"] == raw and dead["batch_index"] == 1


def test_schema_violation_of_a_single_object_body(ingestor):
    raw = json.dumps(sample("product_view", item_id=...), indent=2)
    dead = only_deadletter(process(ingestor, f"\n {raw} \r\n".encode()))
    assert dead["reason"] == {"code": "schema_violation", "rule": "required", "field": "/item_id",
                              "message": "'item_id' is a required property"}
    assert dead["payload"] == raw  # the event's own text, without the body's outer whitespace
    assert (dead["event_type"], dead["schema_version"], dead["event_id"]) == (
        "product_view", "1-0-0", "7c9e6679-7425-40de-944b-e07fc1f90ae7")
    assert dead["batch_index"] is None


def test_payload_slices_are_byte_exact(ingestor):
    first = '{ "event_type" :"nope",\t"note": "caf\\u00e9 \\"quoted\\" ]," , "x": [1, {"y": "}"}] }'
    second = '{"event_type": "n\u00f6pe", "emoji": "\U0001F600"}'
    text = f'\r\n[ {first}\n,\n\t{second} ,\n"\\u2028" ]\n'
    result = process(ingestor, text.encode())
    assert [d.value["payload"] for d in result.deadletters] == [first, second, '"\\u2028"']
    assert [d.value["batch_index"] for d in result.deadletters] == [0, 1, 2]


def test_mixed_batch_outcomes_in_order(ingestor):
    events = [sample("page_view"), sample("purchase", currency="eur"), 5,
              sample("add_to_cart"), {"event_type": "refund"}, sample("search", query="")]
    result = process(ingestor, json.dumps(events).encode())
    assert (result.accepted, result.rejected) == (2, 4)
    assert [r.value["event_type"] for r in result.enriched] == ["page_view", "add_to_cart"]
    assert [(d.value["batch_index"], d.value["reason"]["code"], d.value["reason"]["field"])
            for d in result.deadletters] == [
        (1, "schema_violation", "/currency"), (2, "not_an_event", ""),
        (4, "unknown_event_type", "/event_type"), (5, "schema_violation", "/query")]
    assert result.first_reason == "schema_violation"
    assert [d.key for d in result.deadletters] == ["u-42", None, None, "anon:a-8"]


@pytest.mark.parametrize("body, n_events", [
    (json.dumps(SAMPLES), len(SAMPLES)),
    (json.dumps([*SAMPLES, 1, None, [], {}, {"event_type": "x"}]), len(SAMPLES) + 5),
    (json.dumps(SAMPLES[0]), 1), ("[]", 1), ("nope", 1), ("17", 1), ('"a"', 1),
    ('[{"event_type": "search"}]', 1),
])
def test_conservation_one_record_per_event(ingestor, body, n_events):
    result = process(ingestor, body.encode())
    assert result.accepted + result.rejected == n_events


# --- schema error details ------------------------------------------------------------------

def errors_of(ingestor, event):
    dead = only_deadletter(process(ingestor, json.dumps(event).encode()))
    assert dead["reason"]["code"] == "schema_violation"
    return [(e["rule"], e["field"]) for e in dead["errors"]], dead


def test_missing_required_field_points_at_it(ingestor):
    assert errors_of(ingestor, sample("add_to_cart", quantity=..., price=...))[0] == [
        ("required", "/price"), ("required", "/quantity")]


def test_wrong_type(ingestor):
    errors, dead = errors_of(ingestor, sample("product_view", price="12.50"))
    assert errors == [("type", "/price")]
    assert dead["reason"]["message"] == "'12.50' is not of type 'number', 'null'"


def test_nested_array_item(ingestor):
    items = [{"item_id": "i-1", "quantity": 1, "price": 2},
             {"item_id": "i-2", "quantity": 0}, {"item_id": "i-3", "quantity": 1, "price": -1}]
    errors, _ = errors_of(ingestor, sample("purchase", items=items))
    assert errors == [("required", "/items/1/price"), ("minimum", "/items/1/quantity"),
                      ("minimum", "/items/2/price")]


def test_empty_items_and_pointer_escaping(ingestor):
    assert errors_of(ingestor, sample("purchase", items=[]))[0] == [("minItems", "/items")]
    errors, _ = errors_of(ingestor, sample("customer_update", attributes={"a/b~c": [1]}))
    assert errors == [("type", "/attributes/a~1b~0c")]
    assert errors_of(ingestor, sample("customer_update", attributes={}))[0] == [
        ("minProperties", "/attributes")]


@pytest.mark.parametrize("field, value", [
    ("event_id", "0f8fad5b-d9cb-469f-a165-70867728950"),
    ("event_id", "0f8fad5bd9cb469fa16570867728950e"),
    ("event_id", "0f8fad5b-d9cb-469f-a165-70867728950e}"), ("client_ts", "2024-05-01"),
    ("client_ts", "2024-02-30T00:00:00Z"), ("client_ts", "2024-05-01T12:00:00"),
    ("client_ts", "2024-05-01T12:00:00Z\n"), ("client_ts", "2024-05-01T24:00:00Z"),
])
def test_formats_are_checked(ingestor, field, value):
    assert errors_of(ingestor, sample("search", **{field: value}))[0] == [("format", f"/{field}")]


def test_identity_rules(ingestor):
    errors, dead = errors_of(ingestor, sample("search", user_id="", anonymous_id=None))
    assert errors == [("anyOf", "")]
    assert dead["reason"]["message"] == "user_id or anonymous_id must be a non-empty string"
    assert errors_of(ingestor, sample("search", user_id="anon:x"))[0] == [("pattern", "/user_id")]
    # a CRM update is about a known user
    errors, _ = errors_of(ingestor, sample("customer_update", user_id=..., anonymous_id="a-1"))
    assert errors == [("required", "/user_id")]


def test_reserved_enrichment_fields_are_refused_not_overwritten(ingestor):
    errors, dead = errors_of(ingestor, sample("search", geo={"country": "FR"}))
    assert errors == [("not", "/geo")]
    assert "set by ingest enrichment" in dead["reason"]["message"]


def test_errors_are_deterministic_and_messages_short(ingestor):
    event = sample("purchase", currency="x" * 1000, order_id=5, total=-1, items="none")
    first = errors_of(ingestor, event)
    assert errors_of(ingestor, event) == first
    assert all(len(e["message"]) <= MAX_MESSAGE_CHARS for e in first[1]["errors"])
    assert first[0] == [("pattern", "/currency"), ("type", "/items"), ("type", "/order_id"),
                        ("minimum", "/total")]


def test_a_bug_dead_letters_the_event_instead_of_losing_it(ingestor, monkeypatch):
    def broken(*args):
        raise KeyError("boom")
    monkeypatch.setattr(ingestor, "geo", broken)
    result = process(ingestor, json.dumps([sample("search"), 1]).encode())
    assert [d.value["reason"]["code"] for d in result.deadletters] == [
        "internal_error", "not_an_event"]
    assert result.deadletters[0].value["payload"] == json.dumps(sample("search"))


def test_source_without_receive_time_is_a_caller_error(ingestor):
    source = {**SOURCE, "received_at_ms": None}
    with pytest.raises(ValueError, match="received_at_ms") as raised:
        ingestor.process(b"{}", source)
    # what the NiFi processor does then: the body is dead-lettered whole
    result = ingestor.failed_body(b"\xff{}", source, raised.value)
    dead = only_deadletter(result)
    assert dead["reason"]["code"] == "internal_error"
    assert "received_at_ms" in dead["reason"]["message"]
    assert base64.b64decode(dead["payload_base64"]) == b"\xff{}"
    assert list(DEADLETTER.iter_errors(dead)) == []


def test_source_echoed_in_deadletters(ingestor):
    dead = only_deadletter(process(ingestor, b"[]", user_agent=GOOGLEBOT, received_at_ms=0))
    assert dead["source"] == {"ip": "203.0.113.9", "user_agent": GOOGLEBOT,
                              "content_type": "application/json"}
    assert dead["received_at"] == "1970-01-01T00:00:00.000Z"
    assert dead["deadletter_schema"] == DEADLETTER_SCHEMA


def test_value_bytes_with_a_lone_surrogate(ingestor):
    result = process(ingestor, json.dumps(sample("search", query="\ud800 boots")).encode())
    assert json.loads(result.enriched[0].value_bytes())["query"] == "\ud800 boots"


# --- keys ----------------------------------------------------------------------------------

@pytest.mark.parametrize("user_id, anonymous_id, key", [
    ("u-42", "a-7", "u-42"), ("u-42", None, "u-42"), (None, "a-7", "anon:a-7"),
    ("", "a-7", "anon:a-7"), (None, None, None), ("", "", None), (42, None, None),
])
def test_user_key(user_id, anonymous_id, key):
    assert user_key(user_id, anonymous_id) == key


# --- geo -----------------------------------------------------------------------------------

CITY = {"city": {"geoname_id": 2950159, "names": {"de": "Berlin", "en": "Berlin"}},
        "continent": {"code": "EU"}, "country": {"iso_code": "DE", "names": {"en": "Germany"}},
        "location": {"accuracy_radius": 20, "latitude": 52.5196, "longitude": 13.4069,
                     "time_zone": "Europe/Berlin"},
        "subdivisions": [{"iso_code": "BE", "names": {"en": "Land Berlin"}}]}
COUNTRY = {"continent": {"code": "EU"}, "country": {"iso_code": "FR", "names": {"en": "France"}},
           "registered_country": {"iso_code": "FR"}}
DBIP_CITY_LITE = {"city": {"names": {"en": "Lyon"}}, "continent": {"code": "EU"},
                  "country": {"iso_code": "FR"}, "location": {"latitude": 45.75, "longitude": 4.85},
                  "subdivisions": [{"names": {"en": "Auvergne-Rhone-Alpes"}}]}


@pytest.mark.parametrize("record, geo", [
    (CITY, {"country": "DE", "region": "BE", "city": "Berlin", "latitude": 52.5196,
            "longitude": 13.4069}),
    (COUNTRY, {**NULL_GEO, "country": "FR"}),
    (DBIP_CITY_LITE, {"country": "FR", "region": None, "city": "Lyon", "latitude": 45.75,
                      "longitude": 4.85}),
    (None, NULL_GEO), ({}, NULL_GEO), ({"subdivisions": []}, NULL_GEO),
    ({"country": "FR", "location": {"latitude": True}}, NULL_GEO),
], ids=["geolite2-city", "geolite2-country", "dbip-city-lite", "none", "empty", "no-subdivision",
        "malformed"])
def test_geo_from_record(record, geo):
    assert geo_from_record(record) == geo


class FakeReader:
    """Answers like maxminddb's Reader.get: a record, None, or ValueError for a non-IP."""

    def get(self, ip):
        if ip == "not-an-ip":
            raise ValueError(f"'{ip}' does not appear to be an IPv4 or IPv6 address")
        return CITY if ip == "203.0.113.9" else None

    def close(self):
        pass


@pytest.mark.parametrize("ip, country", [("203.0.113.9", "DE"), ("10.0.0.1", None),
                                         ("not-an-ip", None), (None, None)])
def test_geo_lookup_per_request(ingestor, monkeypatch, ip, country):
    monkeypatch.setattr(ingestor._geo, "_reader", FakeReader())
    result = process(ingestor, json.dumps(sample("search")).encode(), ip=ip)
    assert result.enriched[0].value["geo"]["country"] == country


def test_no_database_gives_null_geo(ingestor):
    assert ingestor.geo("8.8.8.8") == NULL_GEO


@pytest.mark.parametrize("content", [None, b"not a maxmind database"])
def test_unusable_geoip_database_is_refused(tmp_path, content):
    path = tmp_path / "GeoLite2-City.mmdb"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ei.IngestConfigError, match="GeoIP database"):
        ei.Ingestor(ei.SCHEMA_DIR, geoip_database=str(path), max_body_bytes=10)


# --- device --------------------------------------------------------------------------------

PARSERS = {"native": devices.build_ua_parser(native=True),
           "basic": devices.build_ua_parser(native=False)}


@pytest.mark.parametrize("parser", PARSERS)
@pytest.mark.parametrize("ua, device", [
    (CHROME_DESKTOP, {"type": "desktop", "os": "Windows", "os_version": "10", "browser": "Chrome",
                      "browser_version": "124.0.0.0"}),
    (IPHONE_SAFARI, {"type": "mobile", "os": "iOS", "os_version": "17.4",
                     "browser": "Mobile Safari", "browser_version": "17.4"}),
    (IPAD, {"type": "tablet", "os": "iOS", "os_version": "16.6", "browser": "Mobile Safari",
            "browser_version": "16.6"}),
    (ANDROID_PHONE, {"type": "mobile", "os": "Android", "os_version": "14",
                     "browser": "Chrome Mobile", "browser_version": "124.0.6367.82"}),
    (ANDROID_TABLET, {"type": "tablet", "os": "Android", "os_version": "13", "browser": "Chrome",
                      "browser_version": "120.0.0.0"}),
    (GOOGLEBOT, {"type": "bot", "os": None, "os_version": None, "browser": "Googlebot",
                 "browser_version": "2.1"}),
    (MAC_SAFARI, {"type": "desktop", "os": "Mac OS X", "os_version": "10.15.7",
                  "browser": "Safari", "browser_version": "17.4"}),
    ("curl/8.5.0", {"type": "other", "os": None, "os_version": None, "browser": "curl",
                    "browser_version": "8.5.0"}),
    ("", {"type": None, "os": None, "os_version": None, "browser": None, "browser_version": None}),
], ids=["chrome-desktop", "iphone-safari", "ipad", "android-phone", "android-tablet", "googlebot",
        "mac-safari", "curl", "empty"])
def test_device_from_user_agent(parser, ua, device):
    if parser == "native" and devices.NativeResolver is None:
        pytest.skip("ua-parser-rs is not installed")
    assert devices.device_from_user_agent(PARSERS[parser], ua) == device


def test_device_in_enriched_event(ingestor):
    result = process(ingestor, json.dumps(sample("page_view")).encode(), user_agent=GOOGLEBOT)
    assert result.enriched[0].value["device"]["type"] == "bot"


# --- formats and packaging -----------------------------------------------------------------

@pytest.mark.parametrize("text, ok", [
    ("2024-05-01T12:00:00Z", True), ("2024-05-01t12:00:00.123456z", True),
    ("2024-05-01T12:00:00-23:59", True), ("2024-02-29T00:00:00Z", True),
    ("2023-02-29T00:00:00Z", False), ("2024-05-01T12:00:60Z", False), ("0000-01-01T00:00:00Z", False),
    ("2024-05-01T12:00:00+24:00", False), ("2024-05-01T12:00Z", False), ("2024-5-01T12:00:00Z", False),
    ("2024-05-01T12:00:00.Z", False), ("２０２４-05-01T12:00:00Z", False), ("", False),
])
def test_rfc3339_date_time(text, ok):
    assert is_rfc3339_date_time(text) is ok


def test_nifi_processor_pins_are_the_tested_versions():
    pins = bundle.requirements()
    assert any(p.startswith("jsonschema==") for p in pins)
    assert any(p.startswith("confluent-kafka==") for p in pins)
    for pin in pins:
        name, version = pin.split("==")
        installed = importlib.metadata.version(name)
        assert installed == version, f"NiFi gets {pin} but the tests run {name} {installed}"


def test_bad_max_body_bytes_is_refused():
    with pytest.raises(ei.IngestConfigError, match="max_body_bytes"):
        ei.Ingestor(ei.SCHEMA_DIR, geoip_database=None, max_body_bytes=0)


def test_sample_traffic_is_valid_and_bad_bodies_get_their_reason(large_ingestor):
    from personastream_bench.traffic import bad_bodies, sample_events

    events = sample_events(n_events=300, n_users=12, seed=5)
    result = process(large_ingestor, json.dumps(events).encode())
    assert (result.accepted, result.rejected) == (len(events), 0)
    for reason, body in bad_bodies().items():
        dead = only_deadletter(process(large_ingestor, body))
        assert dead["reason"]["code"] == reason, (reason, dead["reason"])


# --- compressed bodies ---------------------------------------------------------------------

def test_a_gzip_body_is_decoded_and_ingested(ingestor):
    body = gzip.compress(json.dumps([sample("search"), sample("page_view")]).encode())
    result = process(ingestor, body, content_encoding="gzip")
    assert (result.accepted, result.rejected) == (2, 0)


@pytest.mark.parametrize("encoding, body", [("gzip", b"not gzip"), ("br", b"\x00\x01"),
                                            ("gzip", b"\x1f\x8b\x08\x00")])
def test_an_undecodable_body_keeps_its_bytes(ingestor, encoding, body):
    dead = only_deadletter(process(ingestor, body, content_encoding=encoding))
    assert dead["reason"]["code"] == "invalid_content_encoding"
    assert base64.b64decode(dead["payload_base64"]) == body


def test_a_gzip_bomb_is_refused_by_the_decoded_size_limit(ingestor):
    bomb = gzip.compress(b"[" + b" " * (100 * MAX_BODY) + b"]")
    assert len(bomb) < MAX_BODY
    dead = only_deadletter(process(ingestor, bomb, content_encoding="gzip"))
    assert dead["reason"]["code"] == "body_too_large"
    assert base64.b64decode(dead["payload_base64"]) == bomb
    assert (dead["payload_size"], dead["payload_sha256"]) == (len(bomb),
                                                              hashlib.sha256(bomb).hexdigest())


def test_request_source_reads_headers_in_any_case():
    source = ei.request_source({"http.remote.addr": "10.1.1.1", "http.headers.USER-AGENT": "ua",
                                "http.headers.content-type": "text/plain"}, 7)
    assert source == {"ip": "10.1.1.1", "received_at_ms": 7, "user_agent": "ua",
                      "content_type": "text/plain", "content_encoding": None}


# --- the compiled validator agrees with the reference one ----------------------------------

MUTATIONS = [None, "", "x", "x" * 300, 0, 1, -1, 1.5, 1.0, 10 ** 30, True, [], {}, ["a"],
             {"a": 1}, "2024-02-30T00:00:00Z", "0000-01-01T00:00:00Z", "2024-05-01T12:00:00Z",
             "0f8fad5b-d9cb-469f-a165-70867728950e", "{0f8fad5b-d9cb-469f-a165-70867728950e}"]


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: e["event_type"])
def test_compiled_and_reference_validators_agree(event):
    key = (event["event_type"], event["schema_version"])
    fast, reference = fast_validator(SCHEMAS, key), validator(SCHEMAS, key)
    variants = [event] + [{**event, field: value} for field in event for value in MUTATIONS]
    variants += [{k: v for k, v in event.items() if k != field} for field in event]
    variants += [{**event, "unknown_field": 1}]
    disagree = [v for v in variants if fast.is_valid(v) != reference.is_valid(v)]
    assert disagree == []

"""Dead-letter replay without servers: corrections, selection, what is sent for a letter, the
ledger that makes a second replay change nothing, the report, and the dry run's verdicts (the
collector's own validation). Dead letters are made by the real ingest."""
import datetime as dt
import json
import uuid

import pytest
from click.testing import CliRunner

from personastream.commands.deadletters import deadletters_group
from personastream_contracts.corrections import Correction, CorrectionError
from personastream_contracts.deadletter_replay import (ALREADY_REPLAYED, FIXED, NOT_REPLAYABLE,
                                                       REPLAYED, STILL_FAILING, Letter,
                                                       NotReplayable, Report, Selection, ledger_key,
                                                       listing, parse_instant, prepare,
                                                       replay_letters)
from personastream_contracts.settings import resolve
from personastream_contracts.topics import pipeline_topics, topic_config
from personastream_flows.ingest.event_ingest import SCHEMA_DIR, Ingestor
from personastream_stack.deadletter_recovery import LocalValidation

RECEIVED_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
SOURCE = {"ip": "81.2.69.142", "user_agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0",
          "content_type": "text/plain", "received_at_ms": RECEIVED_MS}
RENAME = Correction.parse(renames=["product_id=item_id"])


def product_view(**fields) -> dict:
    return {"event_id": str(uuid.uuid4()), "event_type": "product_view",
            "schema_version": "1-0-0", "user_id": "u-1", "anonymous_id": "a-1",
            "client_ts": "2026-01-01T00:00:00.000Z", "category": "shoes", **fields}


@pytest.fixture(scope="module")
def ingestor():
    return Ingestor(SCHEMA_DIR, geoip_database=None, max_body_bytes=1 << 20)


@pytest.fixture
def letters_of(ingestor):
    """The dead letters the real ingest makes of a request body, as read from Kafka."""
    def make(body: bytes, first_offset: int = 0, **headers) -> list[Letter]:
        result = ingestor.process(body, {**SOURCE, **headers})
        return [Letter("events.deadletter", 0, first_offset + i,
                       json.loads(record.value_bytes()))
                for i, record in enumerate(result.deadletters)]
    return make


class Verdicts:
    """The collector's part in a replay, decided by the real validation, counting requests."""

    url = "test"

    def __init__(self):
        self.validation = LocalValidation(resolve(environ={}))
        self.bodies = []

    def verdict(self, prepared):
        self.bodies.append(prepared.body)
        return self.validation.verdict(prepared)


# --- corrections -------------------------------------------------------------------------

def test_rename_drop_and_set_apply_in_that_order_to_a_copy():
    event = {"event_id": "e", "product_id": "i-1", "legacy": 1, "attributes": {"a/b": 1}}
    fix = Correction.parse(renames=["product_id=/item_id"], drops=["legacy"],
                           sets=["/attributes/a~1b=2", "price=12.5", "brand=null"])
    corrected, changes = fix.apply(event)
    assert corrected == {"event_id": "e", "item_id": "i-1", "attributes": {"a/b": 2},
                         "price": 12.5, "brand": None}
    assert changes == ["renamed /product_id to /item_id", "dropped /legacy",
                       "set /attributes/a~1b", "set /price", "set /brand"]
    assert event["product_id"] == "i-1" and event["attributes"] == {"a/b": 1}


def test_a_correction_that_does_not_apply_changes_nothing():
    fix = Correction.parse(renames=["product_id=item_id", "attributes/x=attributes/y"],
                           drops=["legacy"], sets=["price=1"])
    assert fix.apply({"event_id": "e", "item_id": "i", "price": 1}) == (
        {"event_id": "e", "item_id": "i", "price": 1}, [])
    assert Correction.parse(sets=["flag=true"]).apply({"flag": 1})[1] == ["set /flag"]


@pytest.mark.parametrize("event, fix, message", [
    ({"product_id": "a", "item_id": "b"}, RENAME, "has /item_id already"),
    ({"items": []}, Correction.parse(sets=["items/0/price=1"]), "no object to hold it"),
    ({"attributes": "x"}, Correction.parse(sets=["attributes/tier=1"]), "no object to hold it"),
])
def test_a_correction_that_cannot_apply_says_why(event, fix, message):
    with pytest.raises(CorrectionError, match=message):
        fix.apply(event)


def test_list_items_are_reached_by_index():
    fix = Correction.parse(renames=["items/1/sku=items/1/item_id"])
    event = {"items": [{"item_id": "a"}, {"sku": "b"}]}
    assert fix.apply(event)[0] == {"items": [{"item_id": "a"}, {"item_id": "b"}]}


@pytest.mark.parametrize("kwargs, message", [
    ({"renames": ["event_id=id"]}, "keeps its event_id"),
    ({"sets": ['/event_id="x"']}, "keeps its event_id"),
    ({"drops": ["/"]}, "not a JSON Pointer"),
    ({"renames": ["item_id"]}, "not FIELD=VALUE"),
    ({"sets": ["currency=EUR"]}, "a string needs quotes"),
])
def test_malformed_corrections_are_refused(kwargs, message):
    with pytest.raises(CorrectionError, match=message):
        Correction.parse(**kwargs)


# --- selection ---------------------------------------------------------------------------

def test_selection_by_reason_type_and_receipt_time(letters_of):
    bad = [product_view(product_id="i-1"), {"event_type": "teleport", "event_id": "x"}, 42]
    renamed, teleport, number = letters_of(json.dumps(bad).encode())
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    assert [renamed.reason["code"], teleport.reason["code"], number.reason["code"]] == [
        "schema_violation", "unknown_event_type", "not_an_event"]
    picked = Selection(reasons=("schema_violation", "not_an_event"))
    assert [picked.matches(x) for x in (renamed, teleport, number)] == [True, False, True]
    assert Selection(event_types=("product_view",)).matches(number) is False
    assert Selection(since=t0, until=t0 + dt.timedelta(seconds=1)).matches(renamed)
    assert not Selection(since=t0 + dt.timedelta(milliseconds=1)).matches(renamed)
    assert not Selection(until=t0).matches(renamed)
    undated = Letter("dl", 0, 9, {**renamed.value, "received_at": "yesterday"})
    assert Selection().matches(undated) and not Selection(until=t0).matches(undated)


@pytest.mark.parametrize("text, expected", [
    ("90s", "2026-01-01T23:58:30+00:00"), ("2d", "2025-12-31T00:00:00+00:00"),
    ("2026-01-01T10:00:00Z", "2026-01-01T10:00:00+00:00"),
    ("2026-01-01T10:00:00+02:00", "2026-01-01T10:00:00+02:00"),
])
def test_instants_are_iso_times_or_durations_ago(text, expected):
    now = dt.datetime(2026, 1, 2, tzinfo=dt.timezone.utc)
    assert parse_instant(text, now).isoformat() == expected


def test_an_instant_that_is_neither_says_what_is_expected():
    with pytest.raises(ValueError, match="neither a duration"):
        parse_instant("yesterday", dt.datetime.now(dt.timezone.utc))


# --- what is sent ------------------------------------------------------------------------

def test_an_uncorrected_letter_is_sent_as_its_original_text_from_its_source(letters_of):
    text = '{ "event_id" : "%s", "event_type": "product_view", "x": 1 }' % uuid.uuid4()
    (letter,) = letters_of(text.encode())
    prepared = prepare(letter, Correction())
    assert (prepared.body, prepared.changes) == (text, ())
    assert prepared.headers == {"Content-Type": "application/json",
                                "User-Agent": SOURCE["user_agent"],
                                "X-Forwarded-For": SOURCE["ip"]}


def test_a_corrected_letter_keeps_its_event_id(letters_of):
    event = product_view(product_id="i-1")
    (letter,) = letters_of(json.dumps(event).encode())
    prepared = prepare(letter, RENAME)
    sent = json.loads(prepared.body)
    assert sent["event_id"] == event["event_id"] == letter.value["event_id"]
    assert sent["item_id"] == "i-1" and "product_id" not in sent
    assert prepared.changes == ("renamed /product_id to /item_id",)


@pytest.mark.parametrize("body, encoding, why", [
    (b'{"event_id": "x", ', None, "malformed_json: its payload is not JSON"),
    (b'{"event_type": "search", "query": "caf\xe9"}', None, "invalid_utf8: its payload is bytes"),
    (b"[]", None, "empty_batch: its payload is a JSON list"),
    (b'"just a string"', None, "not_an_event: its payload is a JSON str"),
    (b"\x1f\x8b not gzip", "gzip", "invalid_content_encoding: its payload is bytes"),
])
def test_letters_without_an_event_object_are_not_replayable(letters_of, body, encoding, why):
    (letter,) = letters_of(body, content_encoding=encoding)
    with pytest.raises(NotReplayable, match=why):
        prepare(letter, RENAME)


def test_late_events_and_letters_the_correction_cannot_fit_are_not_replayable(letters_of):
    late = Letter("dl", 1, 2, {"reason": {"code": "late_event"}, "payload": "{}"})
    with pytest.raises(NotReplayable, match="would count it twice"):
        prepare(late, Correction())
    (both,) = letters_of(json.dumps(product_view(product_id="a", item_id="")).encode())
    with pytest.raises(NotReplayable, match="has /item_id already"):
        prepare(both, RENAME)


# --- the ledger: replaying twice changes nothing -------------------------------------------

def test_letters_of_a_known_reason_corrected_and_replayed_twice_are_sent_once(letters_of):
    events = [product_view(product_id=f"i-{n}") for n in range(3)]
    letters = letters_of(json.dumps(events).encode())
    letters += letters_of(json.dumps(events[0]).encode(), first_offset=3)  # a client's retry
    letters += letters_of(b'{"event_id": "x", ', first_offset=4)
    ledger, recorded, verdicts = {}, [], Verdicts()

    first = replay_letters(letters, RENAME, Report(), ledger=ledger, judge=verdicts,
                           record=recorded.append)
    assert [outcome for outcome, _, _ in first.rows] == [
        FIXED, FIXED, FIXED, ALREADY_REPLAYED, NOT_REPLAYABLE]
    assert [json.loads(b)["event_id"] for b in verdicts.bodies] == [
        e["event_id"] for e in events]
    assert [(r["key"], r["outcome"], r["reason"]) for r in recorded] == [
        (f"event:{e['event_id']}", FIXED, "schema_violation") for e in events]

    second = replay_letters(letters, RENAME, Report(), ledger=ledger, judge=verdicts,
                            record=recorded.append)
    assert second.counts == {REPLAYED: 0, FIXED: 0, STILL_FAILING: 0, ALREADY_REPLAYED: 4,
                             NOT_REPLAYABLE: 1}
    assert len(verdicts.bodies) == 3 and len(recorded) == 3


def test_a_letter_still_failing_is_recorded_and_tried_again(letters_of):
    (letter,) = letters_of(json.dumps(product_view(product_id="i-1")).encode())
    ledger, recorded, verdicts = {}, [], Verdicts()
    report = replay_letters([letter], Correction(), Report(), ledger=ledger, judge=verdicts,
                            record=recorded.append)
    ((outcome, _, detail),) = report.rows
    assert outcome == STILL_FAILING and detail.startswith("schema_violation")
    assert recorded[0]["outcome"] == STILL_FAILING and recorded[0]["failure"] == detail
    again = replay_letters([letter], RENAME, Report(), ledger=ledger, judge=verdicts,
                           record=recorded.append)
    assert [o for o, _, _ in again.rows] == [FIXED] and recorded[-1]["outcome"] == FIXED


def test_an_event_still_failing_is_sent_once_per_run_however_many_letters_it_has(letters_of):
    event = product_view(product_id="i-1", price="free")
    letters = letters_of(json.dumps(event).encode())
    ledger, verdicts = {}, Verdicts()
    for n_letters in (1, 2, 3):  # each replay still failing makes one more dead letter
        report = replay_letters(letters, RENAME, Report(), ledger=ledger, judge=verdicts,
                                record=None)
        assert [o for o, _, _ in report.rows] == [STILL_FAILING] + [ALREADY_REPLAYED] * (
            n_letters - 1)
        assert report.rows[0][2].startswith("schema_violation /price")
        letters += letters_of(verdicts.bodies[-1].encode(), first_offset=n_letters)
    assert len(verdicts.bodies) == 3


def test_a_valid_letter_is_replayed_as_it_was():
    text = json.dumps(product_view(item_id="i-1"))
    letter = Letter("dl", 0, 1, {"event_id": json.loads(text)["event_id"], "payload": text,
                                 "reason": {"code": "internal_error"}})
    report = replay_letters([letter], RENAME, Report(), ledger={}, judge=Verdicts(),
                            record=None)
    assert [(o, d) for o, _, d in report.rows] == [(REPLAYED, "")]


def test_limit_counts_only_letters_sent(letters_of):
    letters = letters_of(b"[1, 2]") + letters_of(
        json.dumps([product_view(product_id="a"), product_view(product_id="b")]).encode(), 2)
    report = replay_letters(letters, RENAME, Report(), ledger={}, judge=Verdicts(),
                            record=None, limit=1)
    assert [o for o, _, _ in report.rows] == [NOT_REPLAYABLE, NOT_REPLAYABLE, FIXED]
    assert report.n_left == 1 and report.summary().endswith("1 selected letters left (--limit)")


def test_letters_without_event_id_are_recorded_by_position():
    letter = Letter("events.deadletter", 3, 41, {"event_id": None})
    assert ledger_key(letter) == "letter:events.deadletter/3/41"


def test_the_ledger_topic_is_created_compacted_with_the_pipeline():
    s = resolve(environ={})
    assert s.topic_deadletters_replayed in pipeline_topics(s)
    assert topic_config(s, s.topic_deadletters_replayed)["cleanup.policy"] == "compact"


# --- what is printed ---------------------------------------------------------------------

def test_the_listing_counts_by_reason_then_shows_rows_with_their_replay_state(letters_of):
    events = [product_view(product_id="a"), product_view(product_id="b")]
    letters = letters_of(json.dumps([*events, "x"]).encode())
    ledger = {ledger_key(letters[0]): {"outcome": FIXED}}
    text = listing("events.deadletter", letters, 7, ledger, limit=2).splitlines()
    assert text[:3] == ["3 of 7 dead letters in events.deadletter selected",
                        "  schema_violation                 2",
                        "  not_an_event                     1"]
    assert text[4].split() == ["LETTER", "RECEIVED_AT", "REASON", "FIELD", "EVENT_TYPE",
                               "EVENT_ID", "REPLAY"]
    assert text[5].split() == ["0:0", "2026-01-01T00:00:00.000Z", "schema_violation", "/item_id",
                               "product_view", events[0]["event_id"], "fixed"]
    assert text[6].split()[-1] == "-"
    assert text[-1] == "(2 of 3 shown; --limit shows more)"


def test_the_report_lists_each_outcome_then_counts_them():
    report = Report()
    report.add(FIXED, Letter("dl", 0, 1, {"event_id": "e-1"}), "renamed /a to /b")
    report.add(NOT_REPLAYABLE, Letter("dl", 1, 2, {"event_id": None}), "malformed_json: ...")
    assert report.text().splitlines() == [
        "OUTCOME         LETTER  EVENT_ID  DETAIL",
        "fixed           0:1     e-1       renamed /a to /b",
        "not_replayable  1:2     -         malformed_json: ...",
        "",
        "replayed 0, fixed 1, still failing 0, already replayed 0, not replayable 1"]


def test_the_command_refuses_a_malformed_correction_before_reading_anything():
    result = CliRunner().invoke(deadletters_group, ["replay", "--set", "currency=EUR"], obj=None)
    assert result.exit_code == 2
    assert "a string needs quotes: --set 'currency=\"EUR\"'" in result.output

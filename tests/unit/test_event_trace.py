"""Where a traced event stopped, and its timeline, from what a trace found (no servers)."""
from personastream_contracts.event_trace import (KafkaRecord, ProvenanceStep, Row, Trace, describe,
                                                 stopped, timeline)

EVENT = {"event_id": "e-1", "event_type": "product_view", "received_at": "2026-12-03T10:00:00.000Z",
         "received_at_ms": 1_796_292_000_000}
RECEIVED = ProvenanceStep(1_796_292_000_000, "RECEIVE", "receive_events", "ff-1")
PUBLISHED = ProvenanceStep(1_796_292_001_100, "ATTRIBUTES_MODIFIED", "publish_batches", "ff-2")


def enriched(offset: int = 7, at_ms: int = 1_796_292_001_000) -> KafkaRecord:
    return KafkaRecord("events.enriched", 1, offset, at_ms, "user:u-1", EVENT)


def letter(code: str, message: str, field: str = "", at_ms: int = 1_796_292_001_000,
           event_id: str | None = "e-1") -> KafkaRecord:
    return KafkaRecord("events.deadletter", 0, 3, at_ms, "user:u-1", {
        "event_id": event_id, "received_at": EVENT["received_at"],
        "reason": {"code": code, "field": field, "rule": None, "message": message}})


LANDED = Row("events_by_user", {"user_key": "user:u-1", "event_id": "e-1"}, 1_796_292_001_300,
             {"event_type": "product_view"})


def test_a_landed_event_went_through():
    stop = stopped(Trace("e-1", [RECEIVED], [enriched()], [], [LANDED]))
    assert (stop.kind, stop.where) == ("through", "events_by_user")


def test_a_rejected_event_stopped_at_ingest_with_its_reason():
    bad = letter("schema_violation", "'free' is not of type 'number'", "/price")
    stop = stopped(Trace("e-1", [RECEIVED], [], [bad]))
    assert stop.kind == "deadlettered"
    assert stop.where == "ingest validation -> events.deadletter 0:3"
    assert stop.reason == "schema_violation /price: 'free' is not of type 'number'"


def test_a_replayed_dead_letter_is_judged_by_its_acceptance():
    bad = letter("schema_violation", "missing", "/item_id", at_ms=1_796_292_000_500)
    assert stopped(Trace("e-1", [], [enriched()], [bad], [LANDED])).kind == "through"


def test_a_late_event_names_the_jobs_that_left_it_out():
    late = [letter("late_event", f"event time 5 ms is behind the watermark w of job {job}",
                   "/client_ts") for job in ("score_trends_a1", "build_profiles_a1")]
    stop = stopped(Trace("e-1", [], [enriched()], late, [LANDED]))
    assert stop.kind == "late"
    assert stop.where.startswith("jobs build_profiles_a1, score_trends_a1 -> ")


def test_an_accepted_event_without_its_row_is_missing():
    stop = stopped(Trace("e-1", [], [enriched()], [], [Row("profiles", {}, 1, {})]))
    assert stop.kind == "missing" and "events.enriched 1:7" in stop.where


def test_an_event_only_in_nifi_and_one_nowhere():
    assert stopped(Trace("e-1", [RECEIVED, PUBLISHED])).kind == "in_nifi"
    assert "publish_batches" in stopped(Trace("e-1", [RECEIVED, PUBLISHED])).where
    assert stopped(Trace("e-1")).kind == "not_found"


def test_a_whole_body_dead_letter_carries_its_receipt_time():
    body = letter("malformed_json", "body is not JSON", event_id=None)
    assert body.received_at_ms == 1_796_292_000_000 and not body.is_late
    assert enriched().received_at_ms == EVENT["received_at_ms"]


def test_the_timeline_is_in_time_order_rows_without_a_write_time_last():
    unwritten = Row("profiles", {"user_key": "user:u-1"}, None, {})
    trace = Trace("e-1", [PUBLISHED, RECEIVED], [enriched()], [], [unwritten, LANDED])
    steps = timeline(trace)
    assert [s.what for s in steps] == ["RECEIVE receive_events", "events.enriched 1:7",
                                       "ATTRIBUTES_MODIFIED publish_batches", "events_by_user",
                                       "profiles"]
    text = describe(trace).splitlines()
    assert text[0] == "event e-1 (product_view, key user:u-1)"
    assert text[1].startswith("  2026-12-03T10:00:00.000Z  nifi ")
    assert text[-1] == "through: accepted and landed (events_by_user)"

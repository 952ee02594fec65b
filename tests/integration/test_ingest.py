"""The ingest flow on the real NiFi and Kafka: every event accepted is exactly one record out,
enriched or dead-lettered with its reason, on the collector (204 once received, validated
after) and on the validating collector (answers with each request's verdict)."""
import gzip
import json
import random
import time
import uuid

import nipyapi
import pytest
import requests
from confluent_kafka import Consumer

from personastream_bench import traffic
from personastream_contracts.identity import user_key
from personastream_flows import export
from personastream_flows.deploy import find_group
from personastream_flows.normalize import dumps
from personastream_stack import lifecycle
from personastream_stack.kafka import record_counts


def read_topic(settings, topic: str, n_records: int, timeout_s: float = 60) -> list[tuple]:
    """(key, value) of the first ``n_records`` records of ``topic``; fails if fewer arrive."""
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap_servers,
                         "group.id": f"test-{uuid.uuid4()}", "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    out = []
    try:
        for _ in range(int(timeout_s * 2)):
            for msg in consumer.consume(num_messages=1000, timeout=0.5):
                if msg.error() is None:
                    out.append((msg.key() and msg.key().decode(), json.loads(msg.value())))
            if len(out) >= n_records:
                return out
    finally:
        consumer.close()
    raise AssertionError(f"{topic}: {len(out)} of {n_records} records within {timeout_s}s")


@pytest.fixture
def ingest(isolated):
    isolated.deploy_ingest()
    return isolated


def post(iso, body: bytes, **headers) -> requests.Response:
    """POST to the validating collector (it answers with the counts of the request)."""
    return requests.post(iso.settings.nifi_ingest_validate_url, data=body, timeout=60,
                         headers={"Content-Type": "application/json", **headers})


def post_fast(iso, body: bytes, **headers) -> requests.Response:
    """POST to the collector: 204 once the body is durably received, validation after."""
    return requests.post(iso.settings.nifi_ingest_url, data=body, timeout=60,
                         headers={"Content-Type": "application/json", **headers})


@pytest.mark.parametrize("collector", ["received", "validating"])
def test_valid_events_of_every_type_are_enriched(ingest, collector):
    s = ingest.settings
    events = traffic.sample_events(n_events=120, n_users=9, seed=21)
    assert {e["event_type"] for e in events} == set(traffic.EVENT_MIX)
    send = post_fast if collector == "received" else post
    resp = send(ingest, json.dumps(events).encode(), **traffic.client_headers(0))
    if collector == "received":
        assert (resp.status_code, resp.content) == (204, b"")
    else:
        assert (resp.status_code, resp.json()) == (200, {"accepted": len(events), "rejected": 0,
                                                         "first_reason": ""})
    assert resp.headers["Access-Control-Allow-Origin"] == "*"

    records = read_topic(s, s.topic_events_enriched, len(events))
    by_id = {value["event_id"]: (key, value) for key, value in records}
    assert len(records) == len(events)
    for event in events:
        key, value = by_id[event["event_id"]]
        assert key == user_key(event["user_id"], event["anonymous_id"])
        assert {k: value[k] for k in event} == event
        assert value["schema"] == f"{event['event_type']}/1-0-0"
        assert value["received_at"].endswith("Z")
        assert value["geo"]["country"] == "GB"  # 81.2.69.142, from the DB-IP database
        assert value["device"] == {"type": "desktop", "os": "Windows", "os_version": "10",
                                   "browser": "Chrome", "browser_version": "124.0.0.0"}


def test_each_bad_input_is_dead_lettered_with_its_reason(ingest):
    s = ingest.settings
    bodies = traffic.bad_bodies()
    for reason, body in bodies.items():
        resp = post(ingest, body)
        assert resp.status_code == 400, (reason, resp.text)
        assert resp.json() == {"accepted": 0, "rejected": 1, "first_reason": reason}
    too_large = b"[" + b" " * s.ingest_max_body_bytes + b"]"
    resp = post(ingest, too_large)
    assert resp.status_code == 413 and resp.json()["first_reason"] == "body_too_large"

    good = traffic.sample_events(n_events=3, n_users=2, seed=8)
    wrong_type = {**traffic.sample_events(1, 1, seed=9)[0], "event_type": "product_view",
                  "item_id": "i-1", "category": "shoes", "price": "free"}
    mixed = [good[0], {"event_type": "teleport"}, good[1], "not an object", good[2], wrong_type]
    resp = post(ingest, json.dumps(mixed).encode())
    assert resp.status_code == 200 and resp.json()["accepted"] == 3
    assert resp.json()["rejected"] == 3

    dead = [value for _, value in read_topic(s, s.topic_events_deadletter, len(bodies) + 4)]
    by_reason = {}
    for value in dead:
        by_reason.setdefault(value["reason"]["code"], []).append(value)
    for reason, body in bodies.items():
        (value,) = [v for v in by_reason[reason] if v["batch_index"] is None]
        if reason == "invalid_utf8":
            assert value["payload_base64"]
        else:
            assert value["payload"] == body.decode()  # the original text, untouched
    assert by_reason["schema_violation"][0]["reason"]["field"] == "/client_ts"
    (large,) = by_reason["body_too_large"]
    assert large["payload_size"] == len(too_large)
    in_batch = sorted((v["batch_index"], v["reason"]["code"]) for v in dead
                      if v["batch_index"] is not None)
    assert in_batch == [(1, "unknown_event_type"), (3, "not_an_event"), (5, "schema_violation")]
    (typed,) = [v for v in dead if v["batch_index"] == 5]
    assert (typed["reason"]["rule"], typed["reason"]["field"]) == ("type", "/price")
    assert json.loads(typed["payload"]) == wrong_type
    enriched = {v["event_id"] for _, v in read_topic(s, s.topic_events_enriched, 3)}
    assert enriched == {e["event_id"] for e in good}

    nifi = {h.component: h for h in lifecycle.status(s)}["nifi"]
    assert nifi.healthy, nifi.detail


def test_the_collector_answers_every_body_and_dead_letters_what_it_cannot_take(ingest):
    """Bad bodies, a gzip batch, broken gzip and a gzip bomb: 204 on receipt for all; the
    reasons are in the dead letters."""
    s = ingest.settings
    bodies = traffic.bad_bodies()
    good = traffic.sample_events(n_events=4, n_users=2, seed=18)
    bomb = gzip.compress(b"[" + b" " * (4 * s.ingest_max_body_bytes) + b"]")
    sent = [(body, {}) for body in bodies.values()] + [
        (gzip.compress(json.dumps(good).encode()), {"Content-Encoding": "gzip"}),
        (b"not gzip at all", {"Content-Encoding": "gzip"}),
        (bomb, {"Content-Encoding": "gzip"})]
    for body, headers in sent:
        resp = post_fast(ingest, body, **headers)
        assert (resp.status_code, resp.content) == (204, b""), body[:40]
    dead = [v for _, v in read_topic(s, s.topic_events_deadletter, len(bodies) + 2)]
    assert sorted(v["reason"]["code"] for v in dead) == sorted(
        [*bodies, "invalid_content_encoding", "body_too_large"])
    (exploded,) = [v for v in dead if v["reason"]["code"] == "body_too_large"]
    assert exploded["payload_size"] == len(bomb)  # the compressed body, kept whole
    enriched = {v["event_id"] for _, v in read_topic(s, s.topic_events_enriched, len(good))}
    assert enriched == {e["event_id"] for e in good}


def test_conservation_under_load(ingest):
    """N events (valid, invalid and whole bad bodies) sent to the collector == enriched +
    dead-lettered, from Kafka."""
    s = ingest.settings
    rng = random.Random(99)
    n_events, batch_size = 100_000, 250
    events = traffic.sample_events(n_events=n_events, n_users=500, seed=4)
    bad = list(traffic.bad_bodies().values())
    bodies, expected, n_valid = [], 0, 0
    for i in range(0, n_events, batch_size):
        batch = events[i:i + batch_size]
        invalid = rng.sample(range(len(batch)), k=len(batch) // 10)  # 10% invalid events
        for j in invalid:
            batch[j] = {**batch[j], "event_type": "teleport"} if j % 2 else {"broken": j}
        bodies.append(json.dumps(batch).encode())
        expected += len(batch)
        n_valid += len(batch) - len(invalid)
        if rng.random() < 0.05:  # and some whole bad bodies
            bodies.append(rng.choice(bad))
            expected += 1
    answers = traffic.post_bodies(s.nifi_ingest_url, bodies, concurrency=4,
                                  headers_of=traffic.client_headers)
    assert all(a.status == 204 for a in answers)
    topics = [s.topic_events_enriched, s.topic_events_deadletter]
    deadline = time.monotonic() + 120  # validated after the answer: wait for every record
    while sum((counts := record_counts(s, topics)).values()) < expected:
        assert time.monotonic() < deadline, f"{counts} of {expected} events within 120 s"
        time.sleep(1)
    assert sum(counts.values()) == expected, counts
    assert counts[s.topic_events_enriched] == n_valid


def test_ui_edit_exports_as_one_change_and_deploy_restores_it(ingest, tmp_path):
    s = ingest.settings
    group = find_group(ingest.group_name)
    (receive,) = [p for p in nipyapi.canvas.list_all_processors(group.id)
                  if p.component.name == "receive_events"]
    nipyapi.canvas.schedule_process_group(group.id, False)
    nipyapi.canvas.update_processor(receive, nipyapi.nifi.ProcessorConfigDTO(
        properties={"Maximum Threads": "37"}))  # as ops would in the UI

    diff = export.export_flow(s, "ingest", group_name=ingest.group_name,
                              target=tmp_path / "ingest.json")
    changed = [ln for ln in diff.splitlines()
               if ln[:1] in "+-" and not ln.startswith(("+++", "---"))]
    assert changed == ['-          "Maximum Threads": "50",', '+          "Maximum Threads": "37",']

    assert ingest.deploy_ingest().action == "replaced"
    assert export.diff_flow(s, "ingest", group_name=ingest.group_name) == ""
    assert dumps(export.exported(s, "ingest", ingest.group_name)) == \
        (tmp_path / "ingest.json").read_text().replace('"37"', '"50"')

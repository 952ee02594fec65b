"""`personastream trace` on the real pipeline: a good event, a dead-lettered one (sent in the
same request) and a late one, all POSTed to NiFi's collector, each traced through NiFi
provenance, Kafka and Cassandra to where it stopped."""
import dataclasses
import datetime as dt
import json
import time
import uuid

import requests
from click.testing import CliRunner

from personastream.commands.trace import trace
from personastream_contracts.cassandra import keyspace, session
from personastream_contracts.event_trace import describe, stopped
from personastream_stack import flink_jobs
from personastream_stack.nifi import nifi_get
from personastream_stack.process import poll
from personastream_stack.trace import trace_event

WAIT_S = 120
USER = "trace-user"
REQUEST_PATH = {"receive_events", "answer_received", "stamp_receipt", "batch_requests",
                "validate_enrich_batches", "publish_batches"}


def view(client_ms: int, **fields) -> dict:
    stamp = dt.datetime.fromtimestamp(client_ms / 1000, dt.timezone.utc)
    return {"event_id": str(uuid.uuid4()), "event_type": "product_view",
            "schema_version": "1-0-0", "user_id": fields.pop("user_id", USER),
            "client_ts": stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "item_id": "trace-item", "category": "shoes", "brand": "acme", **fields}


def post(settings, events: list[dict]) -> None:
    resp = requests.post(settings.nifi_ingest_url, data=json.dumps(events).encode(), timeout=60,
                         headers={"Content-Type": "text/plain"})
    assert resp.status_code == 204, (resp.status_code, resp.text)


def wait_for(what: str, check) -> None:
    poll(check, WAIT_S, what, interval_s=1)


def profile_written(settings) -> bool:
    with session(settings) as cql:
        return cql.execute(f"SELECT user_key FROM {keyspace(settings)}.profiles "
                           "WHERE user_key = %s", [USER]).one() is not None


def test_trace_a_good_a_dead_lettered_and_a_late_event(isolated, enriched):
    s = dataclasses.replace(isolated.settings, profiles_allowed_lateness_s=5)
    # the admin reads provenance (stack up granted the policies)
    assert nifi_get(s, "/flow/current-user").json()["provenancePermissions"]["canRead"]
    isolated.deploy_ingest()
    for job in ("land_events", "build_profiles"):
        flink_jobs.submit(s, job, instance=isolated.uid)
    now_ms = int(time.time() * 1000)
    good = view(now_ms - 120_000)
    bad = view(now_ms - 120_000, price="free")  # schema violation: price is a number
    post(s, [good, bad])  # one request: good goes through, bad is dead-lettered
    wait_for("good event in Kafka", lambda: trace_event(
        s, good["event_id"], group=isolated.group_name, provenance=False).enriched)
    # then other shoppers' events of now in every partition move build_profiles' watermark
    enriched.advance_watermark(lambda p: view(now_ms, user_id=f"clock-{p}"), now_ms)
    wait_for("profile of the good event (its window closed)", lambda: profile_written(s))
    late = view(now_ms - 3_600_000)  # an hour behind the watermark
    post(s, [late])
    wait_for("late dead letter", lambda: stopped(trace_event(
        s, late["event_id"], group=isolated.group_name, provenance=False)).kind == "late")

    # good: NiFi request path, the enriched record, landed and in the profile
    t = trace_event(s, good["event_id"], group=isolated.group_name)
    print(describe(t))
    assert stopped(t).kind == "through", t
    assert {p.component for p in t.provenance} >= REQUEST_PATH, t.provenance
    (record,) = t.enriched
    assert (record.topic, record.key) == (s.topic_events_enriched, USER)
    assert record.partition in range(s.kafka_partitions) and record.offset >= 0
    assert t.deadletters == [] and t.nifi_note is None
    rows = {r.table: r for r in t.rows}
    assert rows["events_by_user"].key["event_id"] == good["event_id"]
    assert rows["events_by_user"].written_ms >= record.timestamp_ms
    assert "profiles" in rows, rows  # build_profiles wrote it after the event reached Kafka
    receipt = min(p.at_ms for p in t.provenance if p.component == "receive_events")
    assert receipt <= record.timestamp_ms <= rows["events_by_user"].written_ms

    # dead-lettered: the same request in NiFi, a dead letter with its reason, nothing landed
    t = trace_event(s, bad["event_id"], group=isolated.group_name)
    print(describe(t))
    stop = stopped(t)
    assert stop.kind == "deadlettered", t
    assert stop.reason.startswith("schema_violation /price")
    assert t.enriched == [] and t.rows == []
    (letter,) = t.deadletters
    assert letter.topic == s.topic_events_deadletter and letter.reason["field"] == "/price"
    assert {p.component for p in t.provenance} >= REQUEST_PATH

    # late: accepted and landed, but left out of build_profiles' windows
    t = trace_event(s, late["event_id"], group=isolated.group_name)
    stop = stopped(t)
    assert stop.kind == "late" and f"build_profiles_{isolated.uid}" in stop.where, t
    assert [r.topic for r in t.enriched] == [s.topic_events_enriched]
    assert [d.reason["code"] for d in t.deadletters] == ["late_event"]
    assert "events_by_user" in {r.table for r in t.rows}
    assert {p.component for p in t.provenance} >= REQUEST_PATH

    result = CliRunner().invoke(trace, [late["event_id"], "--group", isolated.group_name],
                                obj=s)
    print(result.stdout)
    assert result.exit_code == 0, (result.output, result.exception)
    assert f"stopped: late at job build_profiles_{isolated.uid}" in result.stdout
    assert f"{s.topic_events_enriched} {t.enriched[0].partition}:" in result.stdout
    missing = CliRunner().invoke(trace, ["no-such-event", "--no-provenance"], obj=s)
    assert missing.exit_code == 1 and "stopped: not_found" in missing.stdout

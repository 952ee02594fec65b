"""Dead-letter recovery on the real NiFi and Kafka: product views a client sent with their item
field renamed are dead-lettered; `personastream deadletters replay` with the correction, run
twice, lands each of them once in the enriched topic under its own event_id."""
import json
import time
from collections import Counter

import requests
from click.testing import CliRunner

from personastream.commands.deadletters import deadletters_group
from personastream_bench import traffic
from personastream_contracts.deadletter_replay import Selection
from personastream_stack.deadletter_recovery import read_ledger, read_letters
from personastream_stack.kafka import read_to_end

WAIT_S = 120


def deadletters(settings, *args: str) -> str:
    """What ``personastream deadletters ARGS`` prints (stdout), failing on a non-zero exit."""
    result = CliRunner().invoke(deadletters_group, list(args), obj=settings)
    assert result.exit_code == 0, (result.output, result.exception)
    return result.stdout


def enriched(settings) -> list[dict]:
    """Every record of the enriched topic."""
    return [json.loads(m.value())
            for batch in read_to_end(settings, settings.topic_events_enriched) for m in batch]


def wait_until(what: str, read, done) -> None:
    """Poll ``read()`` until ``done`` of it; fail naming ``what`` and the last read."""
    deadline = time.monotonic() + WAIT_S
    while not done(value := read()):
        assert time.monotonic() < deadline, f"no {what} within {WAIT_S}s; last read: {value}"
        time.sleep(0.5)


def test_dead_letters_corrected_and_replayed_twice_land_once(isolated):
    isolated.deploy_ingest()
    s = isolated.settings
    events = traffic.sample_events(n_events=60, n_users=6, seed=61)
    views = [e for e in events if e["event_type"] == "product_view"][:6]
    good = [e for e in events if e["event_type"] != "product_view"][:3]
    renamed = [{("product_id" if k == "item_id" else k): v for k, v in e.items()} for e in views]
    hopeless = {**renamed.pop(), "price": "free"}  # still wrong once renamed
    for body in (json.dumps([*good, *renamed, hopeless]).encode(), b'{"event_id": "x", '):
        resp = requests.post(s.nifi_ingest_url, data=body, timeout=60,
                             headers={"Content-Type": "text/plain", **traffic.client_headers(0)})
        assert resp.ok, (resp.status_code, resp.text)  # received; validated after
    wait_until("dead letters of the 7 bad events", lambda: len(read_letters(s, lambda x: True)[0]),
               lambda n: n >= 7)
    wait_until("enriched good events", lambda: {r["event_id"] for r in enriched(s)},
               lambda ids: ids >= {e["event_id"] for e in good})
    (letter,) = read_letters(s, Selection(reasons=("malformed_json",)).matches)[0]

    selection = ["--reason", "schema_violation", "--reason", "malformed_json"]
    fix = ["--rename", "product_id=item_id"]
    dry = deadletters(s, "replay", *selection, *fix, "--dry-run").splitlines()
    assert dry[-1] == "replayed 0, fixed 5, still failing 1, already replayed 0, not replayable 1"
    assert any(line.startswith("still_failing") and "schema_violation /price" in line
               for line in dry)
    assert read_ledger(s) == {}

    first = deadletters(s, "replay", *selection, *fix).splitlines()
    assert first[-1] == "replayed 0, fixed 5, still failing 1, already replayed 0, not replayable 1"
    assert f"not_replayable  {letter.position}" in "\n".join(first)
    second = deadletters(s, "replay", *selection, *fix).splitlines()
    # the event still failing has a second dead letter now, from the first replay: sent once
    assert second[-1] == ("replayed 0, fixed 0, still failing 1, already replayed 6, "
                          "not replayable 1")

    records = enriched(s)
    ids = Counter(record["event_id"] for record in records)
    assert ids == Counter(e["event_id"] for e in [*good, *renamed])  # each once, hopeless never
    landed = {record["event_id"]: record for record in records}
    for event in renamed:
        assert landed[event["event_id"]]["item_id"] == event["product_id"]
        assert "product_id" not in landed[event["event_id"]]
        assert landed[event["event_id"]]["geo"]["country"] == "GB"  # the original client's
    ledger = read_ledger(s)
    assert Counter(record["outcome"] for record in ledger.values()) == {
        "fixed": 5, "still_failing": 1}
    listed = deadletters(s, "list", "--reason", "schema_violation")
    assert listed.startswith("8 of 9 dead letters")  # 2 more of the event still failing
    assert Counter(line.split()[-1] for line in listed.splitlines()[4:]) == {
        "fixed": 5, "still_failing": 3}

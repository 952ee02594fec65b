"""Dead-letter recovery on the running pipeline: read the dead letters and the replay ledger
from Kafka, send each selected letter's event (corrected) through the collector again, and
record every verdict in the ledger (what is replayed, sent and recorded is decided by
:mod:`personastream_contracts.deadletter_replay`).

Replays go to the **validating collector** (``nifi_ingest_validate_url``), one request per
letter, not to the collector clients use (``nifi_ingest_url``). Its answer is the event's verdict
(``{"accepted", "rejected", "first_reason"}``), given once Kafka has acknowledged the enriched
record or the new dead letter. So the ledger records ``replayed``/``fixed`` only for an event
that is in the enriched topic, a still-bad event is reported ``still_failing`` with its reason
at once, and a later replay with a better correction tries it again. The collector's 204 on
receipt would say neither: every event would have to be recorded as replayed before its
verdict, and one still failing would then be skipped forever. Both collectors run the same
validation and enrichment, and the letter's client address and User-Agent are sent along, so
a replayed event is enriched as the original would have been (its ``received_at`` is the
replay's).

A dry run sends nothing and records nothing: the collector's own validation
(:class:`personastream_flows.ingest.event_ingest.Ingestor`), run here, predicts each verdict.

Exactly once holds as long as the ledger write follows the collector's answer: a run stopped
between the two (the process killed in those milliseconds) replays that one event again.
"""
from __future__ import annotations

import json
import logging
import time
from typing import Callable

import requests

from personastream_contracts.corrections import Correction
from personastream_contracts.deadletter_replay import (PROGRESS_EVERY_S, Letter, Prepared, Report,
                                                       replay_letters)
from personastream_contracts.errors import PersonastreamError
from personastream_contracts.topics import deliver, producer_config
from personastream_stack.kafka import read_to_end

log = logging.getLogger(__name__)

REQUEST_TIMEOUT_S = 60.0
LEDGER_TIMEOUT_S = 10.0
Progress = Callable[[str], None]


class ReplayError(PersonastreamError):
    """A replay could not reach the collector or record its verdict."""


def read_letters(settings, wanted: Callable[[Letter], bool],
                 progress: Progress = log.info) -> tuple[list[Letter], int]:
    """The dead letters ``wanted`` keeps, oldest received first, and how many were read."""
    topic = settings.topic_events_deadletter
    letters, n_read, last = [], 0, time.monotonic()
    for messages in read_to_end(settings, topic):
        if time.monotonic() - last > PROGRESS_EVERY_S:
            last = time.monotonic()
            progress(f"{n_read:,} records of {topic} read, {len(letters):,} selected")
        for msg in messages:
            n_read += 1
            try:
                value = json.loads(msg.value())
            except (TypeError, ValueError):
                value = None
            if not isinstance(value, dict):
                log.warning("%s %d:%d is not a dead letter (not a JSON object); skipped", topic,
                            msg.partition(), msg.offset())
                continue
            letter = Letter(topic, msg.partition(), msg.offset(), value)
            if wanted(letter):
                letters.append(letter)
    letters.sort(key=lambda x: (x.value.get("received_at") or "", x.partition, x.offset))
    return letters, n_read


def read_ledger(settings) -> dict[str, dict]:
    """The latest ledger record of every letter identity replayed so far."""
    ledger = {}
    for messages in read_to_end(settings, settings.topic_deadletters_replayed):
        for msg in messages:
            key = msg.key().decode() if msg.key() else None
            if key is not None and msg.value() is None:
                ledger.pop(key, None)  # a tombstone: the letter may be replayed again
            elif key is not None:
                ledger[key] = json.loads(msg.value())
    return ledger


class Collector:
    """The validating collector's verdict on one event: None when accepted, else the reason."""

    def __init__(self, url: str):
        self.url = url
        self.http = requests.Session()

    def verdict(self, prepared: Prepared) -> str | None:
        try:
            resp = self.http.post(self.url, data=prepared.body.encode("utf-8"),
                                  headers=prepared.headers, timeout=REQUEST_TIMEOUT_S)
        except requests.RequestException as err:
            raise ReplayError(f"the validating collector {self.url} did not answer ({err}); is "
                              "the ingest flow deployed and running? (`personastream flows "
                              "status`; `personastream flows deploy` deploys it)") from None
        try:
            answer = resp.json()
        except ValueError:
            answer = {}
        if resp.status_code in (200, 400, 413) and isinstance(answer, dict) \
                and answer.get("accepted", 0) + answer.get("rejected", 0) == 1:
            return None if answer["accepted"] == 1 else answer.get("first_reason") or \
                f"HTTP {resp.status_code}"
        raise ReplayError(f"the validating collector {self.url} answered {resp.status_code} "
                          f"{resp.text[:200]!r}, not the verdict on one event (accepted, "
                          "rejected, first_reason); see `personastream stack logs nifi`")


class LocalValidation:
    """The collector's validation run here (a dry run's prediction): None when it would accept
    the event, else its reason (code, field and message)."""

    url = "local validation (dry run)"

    def __init__(self, settings):
        from personastream_flows.ingest.event_ingest import SCHEMA_DIR, Ingestor

        self.ingestor = Ingestor(SCHEMA_DIR, geoip_database=None,
                                 max_body_bytes=settings.ingest_max_body_bytes)

    def verdict(self, prepared: Prepared) -> str | None:
        result = self.ingestor.process(prepared.body.encode("utf-8"), {
            "ip": prepared.headers.get("X-Forwarded-For"),
            "user_agent": prepared.headers.get("User-Agent"),
            "content_type": prepared.headers.get("Content-Type"),
            "received_at_ms": time.time_ns() // 1_000_000})
        if result.accepted == 1 and result.rejected == 0:
            return None
        reason = result.deadletters[0].value["reason"]
        return f"{reason['code']} {reason['field'] or '(whole event)'}: {reason['message']}"


class LedgerWriter:
    """Writes ledger records, each acknowledged by Kafka before :meth:`write` returns."""

    def __init__(self, settings):
        from confluent_kafka import Producer

        self.topic = settings.topic_deadletters_replayed
        self.producer = Producer(producer_config(settings, **{"enable.idempotence": True}))

    def write(self, record: dict) -> None:
        error = deliver(self.producer, self.topic, record["key"], json.dumps(record).encode(),
                        LEDGER_TIMEOUT_S)
        if error:
            raise ReplayError(
                f"{record['event_id'] or record['key']} was replayed ({record['outcome']}) but "
                f"its ledger record was not written to {self.topic!r} "
                f"({error}); a later replay would send it again: "
                "check Kafka (`personastream stack status`) before replaying more")


def replay(settings, letters: list[Letter], correction: Correction, report: Report, *,
           dry_run: bool = False, limit: int | None = None,
           progress: Progress = log.info) -> Report:
    """Replay ``letters`` with ``correction`` into ``report`` (see
    :func:`~personastream_contracts.deadletter_replay.replay_letters`): through the validating
    collector, each verdict written to the ledger; or, with ``dry_run``, predicted here and
    recorded nowhere."""
    ledger = read_ledger(settings)
    if dry_run:
        judge, record = LocalValidation(settings), None
    else:
        judge, record = Collector(settings.nifi_ingest_validate_url), LedgerWriter(settings).write
    return replay_letters(letters, correction, report, ledger=ledger, judge=judge,
                          record=record, limit=limit, progress=progress)

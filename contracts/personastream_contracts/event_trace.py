"""One event's path through the pipeline, as ``personastream trace`` shows it: what was found
of it (NiFi provenance events, Kafka records, Cassandra rows), put in time order, and where it
stopped. Pure: :mod:`personastream_stack.trace` does the reading.

>>> record = KafkaRecord("events.enriched", 2, 14, 1_764_000_001_500, "user:u-1",
...                      {"event_id": "e-1", "event_type": "product_view",
...                       "received_at": "2025-11-24T16:00:01.200Z"})
>>> late = KafkaRecord("events.deadletter", 0, 3, 1_764_000_090_000, "user:u-1", {
...     "event_id": "e-1", "received_at": "2025-11-24T16:00:01.200Z", "reason": {
...         "code": "late_event", "field": "/client_ts", "message": "event time 5 ms is "
...         "behind the watermark 2025-11-24 16:01:00 of job build_profiles_x"}})
>>> row = Row("events_by_user", {"user_key": "user:u-1"}, 1_764_000_002_000, {})
>>> stopped(Trace("e-1", enriched=[record], deadletters=[late], rows=[row])).kind
'late'
>>> stopped(Trace("e-1", enriched=[record], rows=[row])).kind
'through'
>>> stopped(Trace("e-1", enriched=[record])).where
'events.enriched 2:14 (not landed in events_by_user)'
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone

from personastream_contracts.formats import epoch_ms, iso_ms

LATE = "late_event"
"""The dead-letter reason code of an event a windowed job left out (it was accepted)."""
LANDED_TABLE = "events_by_user"
"""Where every accepted event lands (job ``land_events``): no row there means it is missing."""
_LATE_JOB = re.compile(r"of job (\S+)$")


@dataclass(frozen=True)
class ProvenanceStep:
    """One NiFi provenance event of a FlowFile that carried the event."""

    at_ms: int
    event_type: str  # RECEIVE, ATTRIBUTES_MODIFIED, JOIN, CONTENT_MODIFIED, SEND, DROP, ...
    component: str
    flowfile: str
    details: str = ""


@dataclass(frozen=True)
class KafkaRecord:
    """A record of the event in a topic; ``value`` is the enriched event or the dead letter."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: str | None
    value: dict

    @property
    def position(self) -> str:
        return f"{self.topic} {self.partition}:{self.offset}"

    @property
    def received_at_ms(self) -> int | None:
        """The ingest receipt time of the request that carried the event (epoch ms)."""
        stamp = self.value.get("received_at_ms")
        if isinstance(stamp, int):
            return stamp
        text = self.value.get("received_at")
        try:
            return epoch_ms(text) if isinstance(text, str) else None
        except (ValueError, AttributeError):
            return None

    @property
    def reason(self) -> dict:
        return self.value.get("reason") or {}

    @property
    def is_late(self) -> bool:
        return self.reason.get("code") == LATE


@dataclass(frozen=True)
class Row:
    """A Cassandra row the event produced (or folded into), written at ``written_ms``
    (CQL ``WRITETIME``, in ms), with a few of its columns."""

    table: str
    key: dict
    written_ms: int | None
    columns: dict


@dataclass
class Trace:
    """What was found of event ``event_id``. ``nifi_note`` says why provenance is missing or
    partial (not searched, not readable, not found)."""

    event_id: str
    provenance: list[ProvenanceStep] = field(default_factory=list)
    enriched: list[KafkaRecord] = field(default_factory=list)
    deadletters: list[KafkaRecord] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    nifi_note: str | None = None


@dataclass(frozen=True)
class Stop:
    """Where the event stopped: ``kind`` is ``through`` (landed), ``deadlettered`` (rejected
    at ingest), ``late`` (accepted, left out of a job's windows), ``missing`` (in Kafka, not
    landed), ``in_nifi`` (received, not in Kafka) or ``not_found``."""

    kind: str
    where: str
    reason: str


def late_job_of(message: str) -> str | None:
    """The job named at the end of a late event's reason message, None if none is.

    >>> late_job_of("event time 5 ms is behind the watermark w of job score_trends")
    'score_trends'
    """
    match = _LATE_JOB.search(message)
    return match.group(1) if match else None


def late_job(letter: KafkaRecord) -> str:
    """The job that found ``letter``'s event late (named at the end of the reason message).

    >>> message = "event time 5 ms is behind the watermark w of job score_trends"
    >>> late_job(KafkaRecord("t", 0, 0, 0, None, {"reason": {"message": message}}))
    'score_trends'
    """
    return late_job_of(letter.reason.get("message") or "") or "?"


def stopped(trace: Trace) -> Stop:
    """Where ``trace``'s event stopped, the first that applies: nowhere found, dead-lettered at
    ingest (and never accepted since, e.g. by a replay), late in a windowed job, not landed,
    else through."""
    rejected = [d for d in trace.deadletters if not d.is_late]
    late = [d for d in trace.deadletters if d.is_late]
    if not trace.enriched and not rejected:
        if trace.provenance:
            last = max(trace.provenance, key=lambda s: s.at_ms)
            return Stop("in_nifi", f"NiFi, last at {last.component} ({last.event_type})",
                        "received by NiFi but in neither Kafka topic: still queued in the flow, "
                        "or --since is after it reached Kafka")
        return Stop("not_found", "nowhere", "in no topic read and no NiFi provenance: check the "
                    "id, --since, and that the provenance is still kept")
    if not trace.enriched:
        letter = rejected[-1]
        reason = letter.reason
        return Stop("deadlettered", f"ingest validation -> {letter.position}",
                    f"{reason.get('code')} {reason.get('field') or '(whole event)'}: "
                    f"{reason.get('message')}")
    if late:
        jobs = sorted({late_job(d) for d in late})
        return Stop("late", f"job{'s' if len(jobs) > 1 else ''} {', '.join(jobs)} -> "
                    f"{', '.join(d.position for d in late)}",
                    "; ".join(d.reason.get("message") or "" for d in late))
    if not any(r.table == LANDED_TABLE for r in trace.rows):
        return Stop("missing", f"{trace.enriched[-1].position} (not landed in {LANDED_TABLE})",
                    "accepted, but no row: is land_events running for this keyspace and caught "
                    "up? (`personastream jobs list`)")
    return Stop("through", LANDED_TABLE, "accepted and landed")


@dataclass(frozen=True)
class Step:
    """One line of the timeline."""

    at_ms: int | None
    stage: str
    what: str
    detail: str = ""


def timeline(trace: Trace) -> list[Step]:
    """Everything found of the event, oldest first (rows with no write time last)."""
    steps = [Step(p.at_ms, "nifi", f"{p.event_type} {p.component}",
                  f"flowfile {p.flowfile}" + (f"; {p.details}" if p.details else ""))
             for p in trace.provenance]
    for record in trace.enriched:
        steps.append(Step(record.timestamp_ms, "kafka", record.position,
                          f"key {record.key}, received_at {record.value.get('received_at')}"))
    for letter in trace.deadletters:
        reason = letter.reason
        steps.append(Step(letter.timestamp_ms, "kafka", letter.position,
                          f"dead letter {reason.get('code')} {reason.get('field') or ''}".rstrip()
                          + f": {reason.get('message')}"))
    for row in trace.rows:
        values = {**row.key, **row.columns}
        steps.append(Step(row.written_ms, "cassandra", row.table,
                          ", ".join(f"{k}={v}" for k, v in values.items())))
    return sorted(steps, key=lambda s: (s.at_ms is None, s.at_ms or 0))


def when(ms: int | None) -> str:
    """``ms`` (epoch) as ISO UTC with milliseconds, or ``-``.

    >>> when(1714564800123), when(None)
    ('2024-05-01T12:00:00.123Z', '-')
    """
    return "-" if ms is None else iso_ms(ms)


def describe(trace: Trace) -> str:
    """The trace as text: the event, the timeline, the NiFi note, where it stopped.

    >>> print(describe(Trace("e-9")))
    event e-9
    (nothing found)
    stopped: not_found at nowhere: in no topic read and no NiFi provenance: check the id, \
--since, and that the provenance is still kept
    """
    first = (trace.enriched or trace.deadletters or [None])[0]
    head = f"event {trace.event_id}"
    if first is not None:
        head += (f" ({first.value.get('event_type') or 'type unknown'}, "
                 f"key {first.key or '-'})")
    steps = timeline(trace)
    lines = [head]
    width = max((len(s.what) for s in steps), default=0)
    lines += [f"  {when(s.at_ms):<24}  {s.stage:<9}  {s.what:<{width}}  {s.detail}".rstrip()
              for s in steps] or ["(nothing found)"]
    if trace.nifi_note:
        lines.append(f"nifi: {trace.nifi_note}")
    stop = stopped(trace)
    lines.append(f"stopped: {stop.kind} at {stop.where}: {stop.reason}" if stop.kind != "through"
                 else f"through: {stop.reason} ({LANDED_TABLE})")
    return "\n".join(lines)


def since_ms(since: datetime | None) -> int | None:
    """Epoch ms of ``since`` (aware or UTC), or None."""
    if since is None:
        return None
    return int((since if since.tzinfo else since.replace(tzinfo=timezone.utc)).timestamp() * 1000)

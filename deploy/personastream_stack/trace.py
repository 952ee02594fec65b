"""Trace one event through the running pipeline: its records in Kafka, the NiFi provenance of
the request that carried it, and the Cassandra rows it produced (assembled and judged by
:mod:`personastream_contracts.event_trace`).

**Kafka**: ``topic_events_enriched`` and ``topic_events_deadletter`` are read from their start
(or ``since``) to their end; a record is the event's when its ``event_id`` is the id, or, for a
dead letter of a whole body with no event parsed (malformed JSON), when its payload holds it.

**NiFi provenance cannot be searched by event_id**: a request body holds many events, the id
is inside the content, and NiFi indexes no attribute here (``nifi.provenance.repository.
indexed.attributes`` is empty; indexing one would need a NiFi restart, and the content is
never indexed). What links them is the receipt stamp: ``stamp_receipt`` sets
``received.at.ms`` on the request's FlowFile, and ingest copies it into the enriched event
(``received_at_ms``) and the dead letter (``received_at``). So the trace searches the
``stamp_receipt`` events of the ingest group in the two seconds around that time, keeps those
whose ``received.at.ms`` is the event's and whose request body (provenance content, when NiFi
still keeps it) holds the id, then follows that FlowFile (receive, answer, stamp, merge) and
the batch it was merged into (validate, publish). Events sent to the validating collector
(replays, SDKs) are not stamped: there the candidates are ``validate_enrich_events`` runs just
after the receipt whose input holds the id. Reading content adds a ``DOWNLOAD`` provenance
event, left out of the trace. Needs the admin's provenance policies
(:func:`personastream_flows.client.ensure_admin_policies`, applied by ``stack up``).

**Cassandra**: the ``events_by_user`` row of the event (user key, receipt time, id), and the
rows of its customer (``live_profiles``, ``profiles``) and item (``item_neighbours``, its
``item_trends`` window) written after the event reached Kafka, each with its ``WRITETIME``.
"""
from __future__ import annotations

import gzip
import io
import json
import logging
import time
import zlib
from datetime import datetime, timezone
from typing import Callable

from personastream_contracts.cassandra import keyspace, session
from personastream_contracts.deadletter_replay import PROGRESS_EVERY_S
from personastream_contracts.errors import PersonastreamError
from personastream_contracts.event_trace import KafkaRecord, ProvenanceStep, Row, Trace, since_ms
from personastream_contracts.formats import iso_ms
from personastream_stack.kafka import read_to_end

log = logging.getLogger(__name__)

Progress = Callable[[str], None]
STAMP_PROCESSOR = "stamp_receipt"
VALIDATING_PROCESSOR = "validate_enrich_events"
RECEIPT_ATTRIBUTE = "received.at.ms"
STAMP_WINDOW_MS = 2_000
"""How far from the receipt stamp its provenance event is searched (the stamp is taken while
the event is recorded: measured ~15 ms apart)."""
VALIDATING_WINDOW_MS = (2_000, 5_000)
"""Before and after the receipt time: where the validating collector's run is searched."""
MAX_CANDIDATES = 20
"""Validating-collector runs whose content is read, nearest the receipt first."""
MAX_CONTENT_BYTES = 64 * 1024 * 1024
QUERY_TIMEOUT_S = 30.0
NIFI_TIME_FORMAT = "%m/%d/%Y %H:%M:%S"
OWN_EVENTS = {"DOWNLOAD"}
"""Provenance events the trace itself causes (reading content), not the event's path."""


class TraceError(PersonastreamError):
    """Kafka or Cassandra could not be read for a trace."""


# --- Kafka ---------------------------------------------------------------------------------

def _carries(value: dict, event_id: str) -> bool:
    if value.get("event_id") == event_id:
        return True
    return value.get("event_id") is None and event_id in (value.get("payload") or "")


def find_records(settings, topic: str, event_id: str, since: int | None = None,
                 progress: Progress = log.info) -> list[KafkaRecord]:
    """The records of ``topic`` that carry ``event_id``, from ``since`` (epoch ms) on."""
    needle, found, n_read, last = event_id.encode(), [], 0, time.monotonic()
    for messages in read_to_end(settings, topic, since_ms=since):
        n_read += len(messages)
        if time.monotonic() - last > PROGRESS_EVERY_S:
            last = time.monotonic()
            stamp = messages[-1].timestamp()[1]
            progress(f"{n_read:,} records of {topic} read (at {iso_ms(stamp)}), "
                     f"{len(found)} of {event_id}")
        for msg in messages:
            if msg.value() is None or needle not in msg.value():
                continue
            try:
                value = json.loads(msg.value())
            except ValueError:
                continue
            if isinstance(value, dict) and _carries(value, event_id):
                key = msg.key().decode(errors="replace") if msg.key() else None
                found.append(KafkaRecord(topic, msg.partition(), msg.offset(),
                                         msg.timestamp()[1], key, value))
    progress(f"{n_read:,} records of {topic} read, {len(found)} of {event_id}")
    return sorted(found, key=lambda r: r.timestamp_ms)


# --- NiFi provenance -----------------------------------------------------------------------

class _Provenance:
    """Provenance queries and content through nipyapi, as the admin (client certificate)."""

    def __init__(self, settings, group: str):
        import nipyapi

        from personastream_flows.client import connect
        from personastream_flows.deploy import find_group

        self.nipyapi = nipyapi
        connect(settings)
        pg = find_group(group)
        if pg is None:
            raise LookupError(f"no process group named {group!r} under NiFi's root; pass the "
                              "ingest flow's group with --group")
        self.processors = {p.component.name: p.id
                           for p in nipyapi.canvas.list_all_processors(pg.id)}

    def search(self, terms: dict[str, str], start_ms: int | None = None,
               end_ms: int | None = None, max_results: int = 1000) -> list:
        nifi = self.nipyapi.nifi
        api = nifi.ProvenanceApi()
        request = nifi.ProvenanceRequestDTO(
            max_results=max_results,
            search_terms={k: nifi.ProvenanceSearchValueDTO(value=v, inverse=False)
                          for k, v in terms.items()},
            start_date=None if start_ms is None else _nifi_time(start_ms),
            end_date=None if end_ms is None else _nifi_time(end_ms + 1000))
        query = api.submit_provenance_request(
            body=nifi.ProvenanceEntity(provenance=nifi.ProvenanceDTO(request=request))).provenance
        deadline = time.monotonic() + QUERY_TIMEOUT_S
        try:
            while not query.finished:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"NiFi's provenance query {terms} did not finish within "
                                       f"{QUERY_TIMEOUT_S:.0f}s")
                time.sleep(0.2)
                query = api.get_provenance(query.id).provenance
        finally:
            api.delete_provenance(query.id)
        return [e for e in query.results.provenance_events or []
                if e.event_type not in OWN_EVENTS]

    def content(self, event, side: str) -> bytes | None:
        """The event's input or output content, gunzipped if it is gzip; None when NiFi no
        longer keeps it."""
        if not getattr(event, f"{side}_content_available"):
            return None
        api = self.nipyapi.nifi.ProvenanceEventsApi()
        read = api.get_input_content if side == "input" else api.get_output_content
        data = read(event.id, _preload_content=False).data
        if data[:2] == b"\x1f\x8b":
            try:
                data = gzip.GzipFile(fileobj=io.BytesIO(data)).read(MAX_CONTENT_BYTES)
            except (OSError, EOFError, zlib.error):
                pass
        return data

    def flowfile_events(self, uuids: list[str]) -> list:
        """Every event of these FlowFiles and of the FlowFiles they were merged into."""
        events, seen, queue = {}, set(), list(uuids)
        while queue:
            uuid = queue.pop(0)
            if uuid in seen:
                continue
            seen.add(uuid)
            for event in self.search({"FlowFileUUID": uuid}):
                events[event.id] = event
                if event.event_type == "JOIN" and uuid in (event.parent_uuids or []):
                    queue.append(event.flow_file_uuid)
        return list(events.values())


def _nifi_time(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime(NIFI_TIME_FORMAT) + " UTC"


def _event_ms(text: str) -> int:
    """Epoch ms of a provenance event time as NiFi renders it (``12/03/2026 14:52:20.709 UTC``;
    the server's time zone, UTC here)."""
    stamp, _, zone = text.rpartition(" ")
    if zone not in ("UTC", "GMT", "Z"):
        raise ValueError(f"NiFi renders times in zone {zone!r}; run NiFi in UTC to trace")
    parsed = datetime.strptime(stamp, NIFI_TIME_FORMAT + ".%f").replace(tzinfo=timezone.utc)
    return int(parsed.timestamp() * 1000)


def _attribute(event, name: str) -> str | None:
    return next((a.value for a in event.attributes or [] if a.name == name), None)


def _stamped_requests(nifi: _Provenance, event_id: str, received_ms: int) -> tuple[list, bool]:
    """FlowFile ids of the collector's requests stamped at ``received_ms`` holding the event,
    and whether one was matched by time alone (content gone)."""
    stamp_id = nifi.processors.get(STAMP_PROCESSOR)
    if stamp_id is None:
        return [], False
    stamps = [e for e in nifi.search({"ProcessorID": stamp_id}, received_ms - STAMP_WINDOW_MS,
                                     received_ms + STAMP_WINDOW_MS)
              if _attribute(e, RECEIPT_ATTRIBUTE) == str(received_ms)]
    held, by_time = [], False
    for event in stamps:
        content = nifi.content(event, "output")
        if content is None:
            held.append(event.flow_file_uuid)
            by_time = True
        elif event_id.encode() in content:
            held.append(event.flow_file_uuid)
    return held, by_time


def _validated_requests(nifi: _Provenance, event_id: str, received_ms: int) -> list[str]:
    """FlowFile ids of the validating collector's requests holding the event, validated just
    after ``received_ms`` (the time it stamps inside validation)."""
    validate_id = nifi.processors.get(VALIDATING_PROCESSOR)
    if validate_id is None:
        return []
    before, after = VALIDATING_WINDOW_MS
    runs = [e for e in nifi.search({"ProcessorID": validate_id}, received_ms - before,
                                   received_ms + after) if e.event_type == "CONTENT_MODIFIED"]
    runs.sort(key=lambda e: abs(_event_ms(e.event_time) - received_ms))
    for event in runs[:MAX_CANDIDATES]:
        content = nifi.content(event, "input")
        if content is not None and event_id.encode() in content:
            return [event.flow_file_uuid]
    return []


def find_provenance(settings, group: str, event_id: str,
                    receipts: list[int]) -> tuple[list[ProvenanceStep], str | None]:
    """The provenance of the requests that carried ``event_id``, received at ``receipts``
    (epoch ms), and a note when it is missing or partial."""
    if not receipts:
        return [], "not searched: no Kafka record of the event gives its receipt time"
    import nipyapi

    try:
        nifi = _Provenance(settings, group)
        steps, notes = {}, []
        for received_ms in sorted(set(receipts)):
            uuids, by_time = _stamped_requests(nifi, event_id, received_ms)
            if not uuids:
                uuids = _validated_requests(nifi, event_id, received_ms)
            if by_time:
                notes.append(f"request of {iso_ms(received_ms)} matched by receipt time only "
                             "(its content is no longer kept)")
            if not uuids:
                notes.append(f"no request received at {received_ms} (epoch ms) holding the "
                             f"event in group {group!r}'s provenance (kept "
                             "nifi.provenance.repository.max.storage.time)")
            for event in nifi.flowfile_events(uuids):
                steps[event.id] = ProvenanceStep(_event_ms(event.event_time), event.event_type,
                                                 event.component_name, event.flow_file_uuid,
                                                 event.details or "")
    except nipyapi.nifi.rest.ApiException as err:
        fix = ("the admin lacks NiFi's provenance policies: `personastream stack up` grants "
               "them (personastream_flows.client.ensure_admin_policies)"
               if err.status == 403 else "see `personastream stack logs nifi`")
        return [], f"provenance not read: NiFi answered {err.status} {err.reason}; {fix}"
    except (LookupError, TimeoutError, ValueError, PersonastreamError) as err:
        return [], f"provenance not read: {err}"
    except OSError as err:  # connection refused, TLS files
        return [], (f"provenance not read: NiFi at {settings.nifi_api_url} unreachable ({err}); "
                    "is it up? (`personastream stack status`)")
    return sorted(steps.values(), key=lambda s: s.at_ms), "; ".join(notes) or None


# --- Cassandra -----------------------------------------------------------------------------

def _ms(value) -> int | None:
    """Epoch ms of a driver timestamp (naive UTC) or a WRITETIME (µs)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return int(value.replace(tzinfo=timezone.utc).timestamp() * 1000)
    return int(value) // 1000


def _text(value) -> str:
    if isinstance(value, datetime):
        return value.replace(tzinfo=timezone.utc).isoformat(timespec="milliseconds") \
            .replace("+00:00", "Z")
    return str(value)


def find_rows(settings, record: KafkaRecord) -> list[Row]:
    """The Cassandra rows of the enriched ``record``'s event (see the module docstring)."""
    from cassandra import DriverException

    event, ks = record.value, keyspace(settings)
    received_ms = record.received_at_ms
    received = datetime.fromtimestamp(received_ms / 1000, timezone.utc)
    item = event.get("item_id")
    queries = [  # table, key, columns shown, written-time column, statement, after the event?
        ("events_by_user", {"user_key": record.key, "received_at": received,
                            "event_id": event.get("event_id")},
         ("event_type", "landed_at"), "event_type", False),
        ("live_profiles", {"user_key": record.key}, ("n_events", "updated_at"), "n_events",
         True),
        ("profiles", {"user_key": record.key}, ("last_seen", "views_1d"), "updated_at", True)]
    if item:
        window_ms = settings.trends_window_s * 1000
        window = datetime.fromtimestamp((received_ms - received_ms % window_ms) / 1000,
                                        timezone.utc)
        queries += [
            ("item_neighbours", {"item_id": item}, ("views", "updated_at"), "views", True),
            ("item_trends", {"item_id": item, "window_start": window},
             ("views", "score", "flagged", "model_version"), "views", False)]
    rows = []
    try:
        with session(settings) as cql:
            for table, key, shown, written, after_only in queries:
                where = " AND ".join(f"{k} = %s" for k in key)
                row = cql.execute(f"SELECT {', '.join(shown)}, WRITETIME({written}) AS written "
                                  f"FROM {ks}.{table} WHERE {where}", list(key.values())).one()
                if row is None or (after_only and _ms(row.written) < record.timestamp_ms):
                    continue
                rows.append(Row(table, {k: _text(v) for k, v in key.items()}, _ms(row.written),
                                {c: _text(getattr(row, c)) for c in shown}))
    except DriverException as err:
        raise TraceError(f"cannot read Cassandra keyspace {ks} at "
                         f"{settings.cassandra_contact_points} ({err}); is it up and the schema "
                         "there? (`personastream stack status`; `personastream stack up` "
                         "creates the schema)") from None
    return rows


# --- the trace -----------------------------------------------------------------------------

def trace_event(settings, event_id: str, *, group: str = "ingest",
                since: datetime | None = None, provenance: bool = True,
                progress: Progress = log.info) -> Trace:
    """Everything found of ``event_id``: Kafka records (from ``since``), the NiFi provenance of
    process group ``group`` (unless ``provenance`` is False), Cassandra rows."""
    start = since_ms(since)
    trace = Trace(event_id)
    trace.enriched = find_records(settings, settings.topic_events_enriched, event_id, start,
                                  progress)
    trace.deadletters = find_records(settings, settings.topic_events_deadletter, event_id,
                                     start, progress)
    receipts = [r.received_at_ms for r in [*trace.enriched, *trace.deadletters]
                if not r.is_late and r.received_at_ms is not None]
    if provenance:
        progress(f"searching NiFi provenance of group {group!r}")
        trace.provenance, trace.nifi_note = find_provenance(settings, group, event_id,
                                                            receipts)
    else:
        trace.nifi_note = "provenance not searched (--no-provenance)"
    for record in trace.enriched[-1:]:  # a replayed event: its latest acceptance
        if record.received_at_ms is None:
            continue
        progress("reading Cassandra rows")
        trace.rows = find_rows(settings, record)
    return trace

"""Ingest: an HTTP request body in, one Kafka record out per event, enriched or dead-lettered.

Every event accepted leaves as exactly one record: enriched (topic ``events.enriched``) or a
dead letter with a machine-readable reason and the event's exact original text (topic
``events.deadletter``, built by :mod:`personastream_contracts.deadletters`); nothing is dropped
silently. A body that is not a JSON object or array of events is one dead letter as a whole.
Events are validated against the schemas of :mod:`personastream_contracts.event_schemas`,
enriched with geo (:mod:`.geo`) and device (:mod:`.devices`), and keyed by
:func:`personastream_contracts.identity.user_key`.

>>> ingestor = Ingestor(SCHEMA_DIR, geoip_database=None, max_body_bytes=65536)
>>> body = (b'[{"event_id": "0f8fad5b-d9cb-469f-a165-70867728950e", "event_type": "search",'
...         b' "schema_version": "1-0-0", "anonymous_id": "a-7",'
...         b' "client_ts": "2024-05-01T12:00:00Z", "query": "boots"}, 42]')
>>> result = ingestor.process(body, {"ip": None, "user_agent": None,
...                                  "received_at_ms": 1714564800123, "content_type": None})
>>> result.accepted, result.rejected, result.first_reason
(1, 1, 'not_an_event')
>>> enriched = result.enriched[0]
>>> enriched.key, enriched.value["schema"], enriched.value["received_at"]
('anon:a-7', 'search/1-0-0', '2024-05-01T12:00:00.123Z')
>>> result.deadletters[0].value["payload"], result.deadletters[0].value["batch_index"]
('42', 1)
"""
from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

from personastream_contracts import deadletters
from personastream_contracts.event_schemas import (SCHEMA_DIR, SchemaFileError, event_types,
                                                   fast_validator, latest, load_schemas,
                                                   pinned_event_type, registry, validator)
from personastream_contracts.formats import epoch_ms, iso_ms
from personastream_contracts.identity import user_key
from personastream_flows.ingest.body import (ContentEncodingError, DecodedTooLarge,
                                             decode_content, parse_body)
from personastream_flows.ingest.devices import build_ua_parser, device_from_user_agent
from personastream_flows.ingest.geo import GeoDatabaseError, GeoLookup
from personastream_flows.ingest.records import IngestResult, Record
from personastream_flows.ingest.violations import violations

__all__ = ["SCHEMA_DIR", "IngestConfigError", "IngestResult", "Ingestor", "Record",
           "request_source"]

log = logging.getLogger(__name__)


class IngestConfigError(ValueError):
    """The schemas, the GeoIP database or a setting handed to :class:`Ingestor` is unusable."""


#: Header attributes NiFi's HandleHttpRequest gives a request (``http.headers.<name>``), by the
#: ``source`` key they fill.
HEADER_ATTRIBUTES = {"user_agent": "user-agent", "content_type": "content-type",
                     "content_encoding": "content-encoding"}


def request_source(attributes: Mapping[str, str | None], received_at_ms: int) -> dict:
    """The ``source`` of a request from the attributes HandleHttpRequest gave it (header names
    in any case): the client address is the first ``X-Forwarded-For`` entry, else the peer's.

    >>> request_source({"http.remote.addr": "10.0.0.9", "http.headers.x-forwarded-for":
    ...                 "203.0.113.7, 10.0.0.1", "http.headers.Content-Encoding": "gzip"}, 5)
    {'ip': '203.0.113.7', 'received_at_ms': 5, 'user_agent': None, 'content_type': None, \
'content_encoding': 'gzip'}
    """
    headers = {k[len("http.headers."):].lower(): v for k, v in attributes.items()
               if k.startswith("http.headers.")}
    forwarded = headers.get("x-forwarded-for")
    return {"ip": forwarded.split(",")[0].strip() if forwarded
            else attributes.get("http.remote.addr"), "received_at_ms": received_at_ms,
            **{key: headers.get(header) for key, header in HEADER_ATTRIBUTES.items()}}


def _received_at(received_at_ms: Any) -> str:
    try:
        return iso_ms(received_at_ms)
    except ValueError:
        raise ValueError("source['received_at_ms'] must be the receive time in epoch "
                         f"milliseconds (int), got {received_at_ms!r}") from None


# --- the ingestor --------------------------------------------------------------------------

class _Request:
    """Per-request values; geo and device are computed once, on the first enriched event."""

    def __init__(self, ingestor: Ingestor, source: dict):
        self.ingestor = ingestor
        self.received_at = _received_at(source.get("received_at_ms"))
        self.received_at_ms = source["received_at_ms"]
        self.source = {key: None if source.get(key) is None else str(source[key])
                       for key in ("ip", "user_agent", "content_type")}
        self._enrichment: tuple[dict, dict] | None = None

    def enrichment(self) -> tuple[dict, dict]:
        if self._enrichment is None:
            self._enrichment = (self.ingestor.geo(self.source["ip"]),
                                device_from_user_agent(self.ingestor.ua_parser,
                                                       self.source["user_agent"]))
        return self._enrichment

    def deadletter(self, errors: list[dict], *, reason: dict | None = None, event: Any = None,
                   payload: str | None = None, payload_bytes: bytes | None = None,
                   batch_index: int | None = None) -> Record:
        value = deadletters.deadletter(errors, reason=reason, event=event, payload=payload,
                                       payload_bytes=payload_bytes, batch_index=batch_index,
                                       received_at=self.received_at, source=self.source)
        key = user_key(event.get("user_id"), event.get("anonymous_id")) \
            if isinstance(event, dict) else None
        return Record(key, value)


class Ingestor:
    """Validate and enrich the events of HTTP request bodies.

    Parameters
    ----------
    schema_dir
        Folder of ``<name>/<version>.json`` schemas, normally :data:`SCHEMA_DIR`; all are loaded,
        checked and compiled once, here.
    geoip_database
        Path of a MaxMind-format ``.mmdb`` (GeoLite2-City, GeoLite2-Country, DB-IP lite), or
        None for null ``geo`` values.
    max_body_bytes
        Larger bodies become one ``body_too_large`` dead letter; keep it well below the dead
        letter topic's ``max.message.bytes`` (the payload is kept).
    """

    def __init__(self, schema_dir: str | Path, geoip_database: str | None, max_body_bytes: int):
        if isinstance(max_body_bytes, bool) or not isinstance(max_body_bytes, int) \
                or max_body_bytes < 1:
            raise IngestConfigError(
                f"max_body_bytes must be a positive int, got {max_body_bytes!r}")
        self.max_body_bytes = max_body_bytes
        try:
            self.schemas = load_schemas(schema_dir)
            compiled = registry(self.schemas)
            self.versions = event_types(self.schemas)
            """Known event types and their versions, oldest first."""
            self._validators, self._fast = {}, {}
            for name, versions in self.versions.items():
                for version in versions:
                    if pinned_event_type(self.schemas[(name, version)]) != name:
                        raise IngestConfigError(
                            f"event schema {name}/{version} must pin "
                            f'"properties": {{"event_type": {{"const": "{name}"}}}}')
                    self._validators[(name, version)] = validator(self.schemas, (name, version),
                                                                  compiled)
                    self._fast[(name, version)] = fast_validator(self.schemas, (name, version))
            self._envelope = validator(self.schemas, ("envelope", latest(self.schemas, "envelope")),
                                       compiled)
            self._geo = GeoLookup(geoip_database)
        except (SchemaFileError, GeoDatabaseError) as err:
            raise IngestConfigError(str(err)) from err
        self.ua_parser = build_ua_parser()

    def close(self) -> None:
        """Close the GeoIP database (NiFi: ``onStopped``)."""
        self._geo.close()

    def geo(self, ip: str | None) -> dict:
        """``geo`` of a client address (see :class:`~personastream_flows.ingest.geo.GeoLookup`)."""
        return self._geo.geo(ip)

    def process(self, body: bytes, source: dict) -> IngestResult:
        """Turn one request body into enriched records and dead letters.

        ``source`` is ``{"ip", "user_agent", "received_at_ms", "content_type",
        "content_encoding"}`` of the request (:func:`request_source`). A JSON object is one
        event, a JSON array a batch of events handled one by one; anything else is one dead
        letter. A ``gzip`` body is decoded first, to at most ``max_body_bytes``. Raises only
        when ``source['received_at_ms']`` is not an int.
        """
        request = _Request(self, source)
        result = IngestResult()
        body = bytes(body)
        if len(body) > self.max_body_bytes:
            # The only payload not kept whole: its first max_body_bytes bytes, its size and
            # hash, so an abusive body cannot make a record no topic accepts.
            message = (f"body is {len(body)} bytes, more than max_body_bytes={self.max_body_bytes};"
                       f" payload keeps the first {self.max_body_bytes} bytes")
            record = self._whole_body(request, "body_too_large", message,
                                      body[:self.max_body_bytes])
            record.value.update(payload_size=len(body),
                                payload_sha256=hashlib.sha256(body).hexdigest())
            result.deadletters.append(record)
            return result
        try:
            body = decode_content(body, source.get("content_encoding"), self.max_body_bytes)
        except DecodedTooLarge as err:  # a gzip bomb: the compressed body is kept whole
            record = request.deadletter([deadletters.error(
                "body_too_large", f"{err}, more than max_body_bytes; payload_base64 keeps the "
                                  "compressed body")], payload_bytes=body)
            record.value.update(payload_size=len(body),
                                payload_sha256=hashlib.sha256(body).hexdigest())
            result.deadletters.append(record)
            return result
        except ContentEncodingError as err:
            result.deadletters.append(request.deadletter(
                [deadletters.error("invalid_content_encoding", str(err))], payload_bytes=body))
            return result
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as err:
            result.deadletters.append(request.deadletter(
                [deadletters.error("invalid_utf8", f"body is not UTF-8: {err}")], payload_bytes=body))
            return result
        try:
            is_array, items = parse_body(text)
        except (ValueError, RecursionError) as err:
            message = "JSON nested too deeply" if isinstance(err, RecursionError) else str(err)
            result.deadletters.append(request.deadletter(
                [deadletters.error("malformed_json", f"body is not JSON: {message}")], payload=text))
            return result
        if not is_array and not isinstance(items[0][1], dict):
            result.deadletters.append(request.deadletter([deadletters.error(
                "not_an_event", f"body is a JSON {_json_type(items[0][1])}, expected an event "
                "object or an array of them")], payload=text))
            return result
        if is_array and not items:
            result.deadletters.append(request.deadletter(
                [deadletters.error("empty_batch", "body is an empty array: no event to ingest")],
                payload=text))
            return result
        for index, (raw, event) in enumerate(items):
            batch_index = index if is_array else None
            try:
                self._one(request, raw, event, batch_index, result)
            except Exception as err:  # a bug must not lose the event: dead-letter it, loudly
                log.exception("ingest failed on event %s of a body", index)
                result.deadletters.append(request.deadletter(
                    [deadletters.error("internal_error", f"{type(err).__name__}: {err}")], event=event,
                    payload=raw, batch_index=batch_index))
        return result

    def failed_body(self, body: bytes, source: dict, error: BaseException) -> IngestResult:
        """One ``internal_error`` dead letter of the whole body, for a caller whose
        :meth:`process` call raised (the body is kept, never lost)."""
        received_at_ms = source.get("received_at_ms")
        if isinstance(received_at_ms, bool) or not isinstance(received_at_ms, int):
            received_at_ms = int(datetime.now(timezone.utc).timestamp() * 1000)
        request = _Request(self, {**source, "received_at_ms": received_at_ms})
        message = f"ingest failed on this body: {type(error).__name__}: {error}"
        result = IngestResult()
        result.deadletters.append(self._whole_body(request, "internal_error", message,
                                                   bytes(body)))
        return result

    def _whole_body(self, request: _Request, code: str, message: str, body: bytes) -> Record:
        try:
            return request.deadletter([deadletters.error(code, message)], payload=body.decode("utf-8"))
        except UnicodeDecodeError:
            return request.deadletter([deadletters.error(code, message)], payload_bytes=body)

    def _one(self, request: _Request, raw: str, event: Any, batch_index: int | None,
             result: IngestResult) -> None:
        def reject(errors: list[dict], reason: dict | None = None) -> None:
            result.deadletters.append(request.deadletter(
                errors, reason=reason, event=event, payload=raw, batch_index=batch_index))

        if not isinstance(event, dict):
            return reject([deadletters.error("not_an_event",
                                  f"a JSON {_json_type(event)}, expected an event object")])
        event_type, version = event.get("event_type"), event.get("schema_version")
        if not isinstance(event_type, str):
            return reject(*self._envelope_errors(event))
        if event_type not in self.versions:
            return reject([deadletters.error("unknown_event_type", f"unknown event_type {event_type!r}; "
                                  f"known: {', '.join(sorted(self.versions))}", "/event_type")])
        if not isinstance(version, str):
            return reject(*self._envelope_errors(event))
        validator = self._validators.get((event_type, version))
        if validator is None:
            return reject([deadletters.error("unknown_schema_version",
                                  f"unknown schema_version {version!r} of {event_type}; known: "
                                  f"{', '.join(self.versions[event_type])}", "/schema_version")])
        if not self._is_valid(event_type, version, event):
            reason, details = violations(list(validator.iter_errors(event)))
            return reject(details, reason)
        geo, device = request.enrichment()
        value = {**event, "received_at": request.received_at,
                 "received_at_ms": request.received_at_ms,
                 "client_ts_ms": epoch_ms(event["client_ts"]),
                 "schema": f"{event_type}/{version}", "geo": dict(geo), "device": dict(device)}
        result.enriched.append(Record(user_key(event.get("user_id"), event.get("anonymous_id")),
                                      value))
        return None

    def _is_valid(self, event_type: str, version: str, event: dict) -> bool:
        """The compiled validator's verdict; the reference one's for what it cannot take (e.g.
        an integer beyond 64 bits)."""
        try:
            return self._fast[(event_type, version)].is_valid(event)
        except (ValueError, OverflowError):
            return self._validators[(event_type, version)].is_valid(event)

    def _envelope_errors(self, event: dict) -> tuple[list[dict], dict]:
        """Envelope violations of an event whose type or version is missing or not a string."""
        errors = list(self._envelope.iter_errors(event))
        if not errors:  # unreachable while the envelope requires both as strings
            error = deadletters.error("schema_violation", "event_type and schema_version must be strings",
                           "/event_type", "type")
            return [error], error
        reason, details = violations(errors)
        return details, reason


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return {str: "string", list: "array", dict: "object"}[type(value)]

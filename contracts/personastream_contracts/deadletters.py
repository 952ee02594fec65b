"""Dead letters: the one builder of every record of topic ``events.deadletter``, whoever makes
it (ingest for what it cannot enrich, the windowed jobs for late events, merge_customers for
changes of the operational database that break their contract). Its layout is the
schema ``deadletter/<version>`` (:data:`DEADLETTER_SCHEMA`).

A dead letter says why (``reason``, the most relevant of ``errors``: ``code``, failing
``rule``, JSON Pointer ``field``, ``message``), echoes the envelope when it is a short string,
and keeps the event's exact original text (``payload``, or ``payload_base64`` for bytes that
are not UTF-8) so that it can be fixed and sent again.

>>> late = error("late_event", "event time 5 ms is behind the watermark", "/received_at")
>>> letter = deadletter([late], event={"event_id": "e-1", "event_type": "product_view"},
...                     payload='{"event_id":"e-1"}', received_at="2026-01-01T00:00:00.000Z")
>>> letter["reason"]["code"], letter["event_id"], letter["source"], letter["deadletter_schema"]
('late_event', 'e-1', {'ip': None, 'user_agent': None, 'content_type': None}, 'deadletter/1-3-0')
"""
from __future__ import annotations

import base64
from typing import Any

DEADLETTER_SCHEMA = "deadletter/1-3-0"
"""The schema every dead letter is written in (``schemas/deadletter/1-3-0.json``)."""
REASON_CODES = (
    "body_too_large", "invalid_utf8", "malformed_json", "not_an_event", "empty_batch",
    "unknown_event_type", "unknown_schema_version", "schema_violation", "internal_error",
    "late_event", "invalid_content_encoding", "invalid_change",
)
MAX_MESSAGE_CHARS = 300
MAX_ECHO_CHARS = 256
"""Longest envelope string copied into a dead letter (the payload keeps it whole anyway)."""
NO_SOURCE = {"ip": None, "user_agent": None, "content_type": None}
"""The HTTP source of a dead letter that no request made (e.g. a late event)."""


def error(code: str, message: str, field: str = "", rule: str | None = None) -> dict:
    """One reason: ``code`` of :data:`REASON_CODES`, the JSON Schema keyword ``rule`` that
    failed (None for other codes), JSON Pointer ``field`` ('' for the whole event or body), and
    ``message`` cut to :data:`MAX_MESSAGE_CHARS`."""
    if code not in REASON_CODES:
        raise ValueError(f"dead-letter code {code!r} is not one of {', '.join(REASON_CODES)}; "
                         "add it to REASON_CODES and to a new deadletter schema version")
    if len(message) > MAX_MESSAGE_CHARS:
        message = message[:MAX_MESSAGE_CHARS - 1] + "…"
    return {"code": code, "rule": rule, "field": field, "message": message}


def _echo(event: Any, key: str) -> str | None:
    value = event.get(key) if isinstance(event, dict) else None
    return value if isinstance(value, str) and len(value) <= MAX_ECHO_CHARS else None


def deadletter(errors: list[dict], *, received_at: str, reason: dict | None = None,
               event: Any = None, payload: str | None = None, payload_bytes: bytes | None = None,
               batch_index: int | None = None, source: dict | None = None) -> dict:
    """The dead letter of ``event`` (the parsed event, if any) for ``errors`` (built with
    :func:`error`; ``reason`` defaults to the first), keeping ``payload`` (text) or else
    ``payload_bytes``; ``received_at`` is the ingest receipt time, ``source`` the request's
    ``{ip, user_agent, content_type}``."""
    value = {"reason": reason or errors[0], "errors": errors,
             "event_type": _echo(event, "event_type"),
             "schema_version": _echo(event, "schema_version"),
             "event_id": _echo(event, "event_id"), "batch_index": batch_index}
    if payload is not None:
        value["payload"] = payload
    else:
        value["payload_base64"] = base64.b64encode(payload_bytes or b"").decode("ascii")
    value.update(received_at=received_at, source=dict(source or NO_SOURCE),
                 deadletter_schema=DEADLETTER_SCHEMA)
    return value

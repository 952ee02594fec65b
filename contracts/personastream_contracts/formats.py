"""The string formats the event schemas use (``date-time``, ``uuid``), checked strictly, and
the receipt-time format ingest writes.

>>> [is_rfc3339_date_time(t) for t in ("2024-02-29T23:59:59.5+01:00", "2023-02-29T00:00:00Z",
...                                    "2024-01-01 00:00:00Z", "2024-01-01T00:00:00Z\\n")]
[True, False, False, False]
>>> epoch_ms("1970-01-01T01:00:00.0015+01:00"), epoch_ms("2024-05-01T12:00:00.25Z")
(1, 1714564800250)
>>> epoch_ms("2024-05-01t12:00:00.123456789z"), epoch_ms("1969-12-31T23:59:59.999Z")
(1714564800123, -1)
>>> iso_ms(1714564800123)
'2024-05-01T12:00:00.123Z'
"""
from __future__ import annotations

import calendar
import re
from datetime import datetime, timedelta, timezone
from typing import Any

_RFC3339 = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})"
                      r"(?:\.([0-9]+))?(?:[Zz]|([+-])([0-9]{2}):([0-9]{2}))")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_NAIVE_EPOCH = datetime(1970, 1, 1)
_MILLISECOND = timedelta(milliseconds=1)
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def is_rfc3339_date_time(text: str) -> bool:
    """Strict RFC 3339 ``date-time``: calendar-valid, ``T`` and ``Z`` in either case, no newline.

    Leap seconds (``:60``) and year 0000 are refused: ``datetime`` and downstream SQL can't hold
    them. The shape is checked by a regular expression, the calendar by ``datetime`` (in C).
    """
    match = _RFC3339.fullmatch(text)
    if match is None:
        return False
    if match.group(10) is not None and (int(match.group(9)) > 23 or int(match.group(10)) > 59):
        return False  # an offset datetime would take, RFC 3339 not
    try:
        datetime.fromisoformat(text.upper())
    except ValueError:
        return False
    return True


def is_uuid(text: str) -> bool:
    """The canonical 8-4-4-4-12 hexadecimal form, nothing around it."""
    return _UUID.fullmatch(text) is not None


def epoch_ms(text: str) -> int:
    """Milliseconds since the epoch of a valid RFC 3339 date-time (fraction truncated to ms)."""
    try:  # the usual forms, in C; exact integer arithmetic
        stamp = datetime.fromisoformat(text)
    except ValueError:
        stamp = None
    if stamp is not None and stamp.tzinfo is not None:
        return (stamp - _EPOCH) // _MILLISECOND
    match = _RFC3339.fullmatch(text)  # lower-case t/z, or more than 6 fractional digits
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    millis = int(((match.group(7) or "") + "000")[:3])
    offset_min = 0
    if match.group(8):
        sign = 1 if match.group(8) == "+" else -1
        offset_min = sign * (int(match.group(9)) * 60 + int(match.group(10)))
    seconds = calendar.timegm((year, month, day, hour, minute, second)) - offset_min * 60
    return seconds * 1000 + millis


def iso_ms(epoch_millis: Any) -> str:
    """UTC ``YYYY-MM-DDTHH:MM:SS.mmmZ`` of epoch milliseconds (the ``received_at`` format)."""
    if isinstance(epoch_millis, bool) or not isinstance(epoch_millis, int):
        raise ValueError("a receive time must be epoch milliseconds (int), got "
                         f"{epoch_millis!r}")
    seconds, millis = divmod(epoch_millis, 1000)
    stamp = datetime.fromtimestamp(seconds, tz=timezone.utc)
    return f"{stamp:%Y-%m-%dT%H:%M:%S}.{millis:03d}Z"


def naive_utc(value: str | int) -> datetime:
    """A naive UTC ``datetime`` (as the Cassandra driver reads a timestamp) of epoch milliseconds
    or of an ISO-8601 timestamp with an offset or without one (taken as UTC).

    >>> naive_utc(1796289528999) == naive_utc("2026-12-03T09:18:48.999Z") == \\
    ...     naive_utc("2026-12-03T09:18:48.999") == naive_utc("2026-12-03T10:18:48.999+01:00")
    True
    >>> naive_utc(1796289528999).isoformat()
    '2026-12-03T09:18:48.999000'
    """
    if isinstance(value, int):
        return _NAIVE_EPOCH + value * _MILLISECOND
    stamp = datetime.fromisoformat(value)
    return stamp if stamp.tzinfo is None else \
        stamp.astimezone(timezone.utc).replace(tzinfo=None)


def format_checker():
    """jsonschema's checker with strict ``date-time`` and ``uuid`` (canonical 8-4-4-4-12 form).

    jsonschema checks ``date-time`` only when rfc3339-validator is installed, and that one
    accepts a trailing newline; its ``uuid`` check accepts e.g. a trailing ``}``. Both are
    replaced here, so the checks never depend on an optional package.
    """
    from jsonschema import FormatChecker

    checker = FormatChecker()
    checker.checks("date-time")(lambda v: not isinstance(v, str) or is_rfc3339_date_time(v))
    checker.checks("uuid")(lambda v: not isinstance(v, str) or is_uuid(v))
    return checker

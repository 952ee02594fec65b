"""Dead-letter replay, the pure part: which dead letters a replay selects, what it sends for
each, the ledger that makes a second replay change nothing, and what it reports.

A dead letter (:mod:`personastream_contracts.deadletters`) is replayed by sending its event's
original text through the collector again, corrected or not (:mod:`.corrections`), under its own
``event_id``. The pipeline does not deduplicate by ``event_id``, so the replay keeps a ledger:
the compacted topic ``topic_deadletters_replayed``, one record per letter identity
(:func:`ledger_key`: its ``event_id``, else its topic, partition and offset), written once the
collector has answered for it (:func:`ledger_record`). A letter whose identity the ledger holds
as ``replayed`` or ``fixed`` is skipped (``already_replayed``); one ``still_failing`` is tried
again. The ledger's records are the replay metrics too: the latest outcome of every letter ever
replayed, with its reason code and event type, for an exporter to count.

>>> from personastream_contracts.deadletters import deadletter, error
>>> value = deadletter([error("schema_violation", "'item_id' is a required property", "",
...                           "required")], event={"event_id": "e-1"},
...                    payload='{"event_id": "e-1", "product_id": "i-9"}',
...                    received_at="2026-01-01T00:00:00.000Z")
>>> letter = Letter("events.deadletter", 2, 14, value)
>>> letter.position, ledger_key(letter), Selection(reasons=("schema_violation",)).matches(letter)
('2:14', 'event:e-1', True)
"""
from __future__ import annotations

import json
import logging
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterable, Protocol

from personastream_contracts.corrections import Correction, CorrectionError
from personastream_contracts.formats import iso_ms

log = logging.getLogger(__name__)

REPLAYED, FIXED, STILL_FAILING = "replayed", "fixed", "still_failing"
ALREADY_REPLAYED, NOT_REPLAYABLE = "already_replayed", "not_replayable"
OUTCOMES = (REPLAYED, FIXED, STILL_FAILING, ALREADY_REPLAYED, NOT_REPLAYABLE)
"""What a replay makes of a letter: sent as it was and accepted, corrected and accepted,
rejected again (a new dead letter), skipped because the ledger has it accepted, or skipped
because it holds no event to send."""
DONE = (REPLAYED, FIXED)
"""Ledger outcomes that make a later replay skip the letter."""
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
MAX_CELL_CHARS = 48
PROGRESS_EVERY_S = 5.0


@dataclass(frozen=True)
class Letter:
    """One dead letter (``value``, as the topic holds it) and where it is in Kafka."""

    topic: str
    partition: int
    offset: int
    value: dict

    @property
    def position(self) -> str:
        return f"{self.partition}:{self.offset}"

    @property
    def reason(self) -> dict:
        return self.value.get("reason") or {}

    @property
    def received_at(self) -> datetime | None:
        try:
            return datetime.fromisoformat(self.value.get("received_at") or "")
        except ValueError:
            return None


def ledger_key(letter: Letter) -> str:
    """The identity a replay is recorded under: ``event:<event_id>`` (every letter of one event,
    however often it was dead-lettered, is replayed once), or ``letter:<topic>/<p>/<offset>``.

    >>> ledger_key(Letter("events.deadletter", 0, 7, {"event_id": None}))
    'letter:events.deadletter/0/7'
    """
    event_id = letter.value.get("event_id")
    return f"event:{event_id}" if event_id else \
        f"letter:{letter.topic}/{letter.partition}/{letter.offset}"


def parse_instant(text: str, now: datetime) -> datetime:
    """An ISO time (UTC unless it says otherwise), or a duration before ``now`` (``90s``,
    ``30m``, ``1h``, ``2d``).

    >>> now = datetime(2026, 1, 2, tzinfo=timezone.utc)
    >>> parse_instant("1h", now).isoformat(), parse_instant("2026-01-01T10:00", now).isoformat()
    ('2026-01-01T23:00:00+00:00', '2026-01-01T10:00:00+00:00')
    """
    match = re.fullmatch(r"(\d+)([smhd])", text.strip())
    if match:
        return now - timedelta(**{UNITS[match.group(2)]: int(match.group(1))})
    try:
        stamp = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is neither a duration (90s, 30m, 1h, 2d) nor an ISO time "
                         "(2026-01-01T10:00:00Z)") from None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class Selection:
    """Letters of any of ``reasons`` (codes) and ``event_types`` (all when empty), received in
    [``since``, ``until``)."""

    reasons: tuple[str, ...] = ()
    event_types: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None

    def matches(self, letter: Letter) -> bool:
        if self.reasons and letter.reason.get("code") not in self.reasons:
            return False
        if self.event_types and letter.value.get("event_type") not in self.event_types:
            return False
        if self.since is None and self.until is None:
            return True
        received = letter.received_at
        return received is not None and (self.since is None or received >= self.since) and (
            self.until is None or received < self.until)


class NotReplayable(ValueError):
    """A letter holds no event a replay could send; the message says why."""


@dataclass(frozen=True)
class Prepared:
    """What to send for a letter: the body, what the correction changed (empty: the original
    text, untouched) and the headers that give the collector the original request's source
    (a None value: leave that header out)."""

    body: str
    changes: tuple[str, ...]
    headers: dict


def prepare(letter: Letter, correction: Correction) -> Prepared:
    """The request that replays ``letter`` with ``correction`` applied; raises
    :class:`NotReplayable` for a letter without an event object (malformed JSON, bytes, a
    truncated or empty body...) or one the correction cannot apply to.

    >>> letter = Letter("events.deadletter", 0, 3, {"reason": {"code": "malformed_json"},
    ...                 "payload": '{"event_id": "x", ', "source": {}})
    >>> prepare(letter, Correction())
    Traceback (most recent call last):
    ...
    personastream_contracts.deadletter_replay.NotReplayable: malformed_json: its payload is not \
JSON (Expecting property name enclosed in double quotes)
    """
    code = letter.reason.get("code")
    if code == "late_event":
        raise NotReplayable("late_event: the event was accepted (it is in the enriched topic); "
                            "only a windowed job skipped it, and a replay would count it twice")
    if code == "invalid_change":
        raise NotReplayable("invalid_change: a change of the operational database, not an event; "
                            "fix the row there, and change data capture sends the fix")
    text = letter.value.get("payload")
    if text is None:
        raise NotReplayable(f"{code}: its payload is bytes that are not UTF-8 text, not an event")
    try:
        event = json.loads(text)
    except (ValueError, RecursionError) as err:
        raise NotReplayable(f"{code}: its payload is not JSON "
                            f"({getattr(err, 'msg', type(err).__name__)})") from None
    if not isinstance(event, dict):
        raise NotReplayable(f"{code}: its payload is a JSON {type(event).__name__}, not an "
                            "event object")
    try:
        corrected, changes = correction.apply(event)
        body = json.dumps(corrected, ensure_ascii=False, allow_nan=False) if changes else text
    except (CorrectionError, ValueError) as err:
        raise NotReplayable(f"{code}: the correction does not fit it: {err}") from None
    source = letter.value.get("source") or {}
    return Prepared(body, tuple(changes), {"Content-Type": "application/json",
                                           "User-Agent": source.get("user_agent"),
                                           "X-Forwarded-For": source.get("ip")})


def ledger_record(letter: Letter, outcome: str, *, changes: Iterable[str], failure: str | None,
                  replayed_at: str, collector: str) -> dict:
    """The ledger's record of one replay (keyed by :func:`ledger_key`): its ``outcome`` (one of
    replayed, fixed, still_failing), the letter (position, reason code, event type), what the
    correction changed, the collector's ``failure`` reason if it refused the event again."""
    return {"key": ledger_key(letter), "outcome": outcome,
            "event_id": letter.value.get("event_id"),
            "event_type": letter.value.get("event_type"), "reason": letter.reason.get("code"),
            "letter": {"topic": letter.topic, "partition": letter.partition,
                       "offset": letter.offset},
            "changes": list(changes), "failure": failure, "replayed_at": replayed_at,
            "collector": collector}


def table(header: tuple[str, ...], rows: list[tuple]) -> str:
    """Rows aligned under ``header``, each cell cut to :data:`MAX_CELL_CHARS`; the last column
    is left whole.

    >>> print(table(("A", "LONGER"), [("x", "y"), ("wide", None)]))
    A     LONGER
    x     y
    wide  -
    """
    cells = [[("-" if c is None or c == "" else str(c)) for c in row] for row in [header, *rows]]
    for row in cells:
        row[:-1] = [c if len(c) <= MAX_CELL_CHARS else c[:MAX_CELL_CHARS - 1] + "…"
                    for c in row[:-1]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header) - 1)]
    return "\n".join("  ".join([*(c.ljust(w) for c, w in zip(row, widths)), row[-1]]).rstrip()
                     for row in cells)


def listing(topic: str, letters: list[Letter], n_read: int, ledger: dict[str, dict],
            limit: int | None) -> str:
    """What ``deadletters list`` prints: how many letters were selected, their counts by reason,
    then one row each (at most ``limit``) with its replay state from ``ledger``."""
    lines = [f"{len(letters):,} of {n_read:,} dead letters in {topic} selected"]
    for code, n in Counter(letter.reason.get("code") for letter in letters).most_common():
        lines.append(f"  {code:<26} {n:>7,}")
    shown = letters if limit is None else letters[:limit]
    if shown:
        lines.append("")
        lines.append(table(("LETTER", "RECEIVED_AT", "REASON", "FIELD", "EVENT_TYPE", "EVENT_ID",
                            "REPLAY"), [
            (letter.position, letter.value.get("received_at"), letter.reason.get("code"),
             letter.reason.get("field"), letter.value.get("event_type"),
             letter.value.get("event_id"),
             ledger.get(ledger_key(letter), {}).get("outcome")) for letter in shown]))
    if len(shown) < len(letters):
        lines.append(f"({len(shown):,} of {len(letters):,} shown; --limit shows more)")
    return "\n".join(lines)


@dataclass
class Report:
    """What a replay made of each letter it looked at, and of how many it did not (``n_left``,
    when it stopped at its limit)."""

    rows: list[tuple[str, Letter, str]] = field(default_factory=list)
    n_left: int = 0

    def add(self, outcome: str, letter: Letter, detail: str = "") -> None:
        self.rows.append((outcome, letter, detail))

    @property
    def counts(self) -> dict[str, int]:
        """Letters per outcome, every outcome named.

        >>> report = Report()
        >>> report.add(FIXED, Letter("t", 0, 1, {}))
        >>> report.counts
        {'replayed': 0, 'fixed': 1, 'still_failing': 0, 'already_replayed': 0, 'not_replayable': 0}
        """
        n = Counter(outcome for outcome, _, _ in self.rows)
        return {outcome: n[outcome] for outcome in OUTCOMES}

    def summary(self) -> str:
        """One line of counts, e.g. ``replayed 0, fixed 3, still failing 1, ...``."""
        line = ", ".join(f"{o.replace('_', ' ')} {n:,}" for o, n in self.counts.items())
        return line + (f"; {self.n_left:,} selected letters left (--limit)" if self.n_left else "")

    def text(self) -> str:
        """Each letter's outcome, then :meth:`summary`."""
        rows = [(outcome, letter.position, letter.value.get("event_id"), detail)
                for outcome, letter, detail in self.rows]
        head = [table(("OUTCOME", "LETTER", "EVENT_ID", "DETAIL"), rows), ""] if rows else []
        return "\n".join([*head, self.summary()])


class Judge(Protocol):
    """Who decides whether a replayed event is accepted (the collector, or a dry run's local
    validation), named by ``url`` in the ledger."""

    url: str

    def verdict(self, prepared: Prepared) -> str | None:
        """None when the event is accepted, else the reason it is not."""


def replay_letters(letters: Iterable[Letter], correction: Correction, report: Report, *,
                   ledger: dict[str, dict], judge: Judge,
                   record: Callable[[dict], None] | None, limit: int | None = None,
                   progress: Callable[[str], None] = log.info) -> Report:
    """Replay ``letters`` with ``correction``, into ``report`` as it goes (a failure leaves
    what was done in it): a letter whose identity ``ledger`` (updated here) holds as replayed or
    fixed is skipped, and so is one whose event was sent earlier in the run (an event still
    failing has a new dead letter per replay: each run sends it once, not once per letter);
    the others are prepared and judged, at most ``limit`` of them, and each verdict's
    :func:`ledger_record` handed to ``record`` (None: a dry run) before the next.

    >>> class Accepting:
    ...     url = "test"
    ...     def verdict(self, prepared):
    ...         return None if "item_id" in prepared.body else "schema_violation"
    >>> letter = Letter("dl", 0, 5, {"event_id": "e-1", "reason": {"code": "schema_violation"},
    ...                              "payload": '{"event_id": "e-1", "product_id": "i-9"}'})
    >>> ledger, fix = {}, Correction.parse(renames=["product_id=item_id"])
    >>> for attempt in (Correction(), fix, fix):
    ...     print(replay_letters([letter], attempt, Report(), ledger=ledger, judge=Accepting(),
    ...                          record=None).summary())
    replayed 0, fixed 0, still failing 1, already replayed 0, not replayable 0
    replayed 0, fixed 1, still failing 0, already replayed 0, not replayable 0
    replayed 0, fixed 0, still failing 0, already replayed 1, not replayable 0
    """
    letters = list(letters)
    sent: dict[str, tuple[str, str]] = {}  # identity -> (position, outcome) sent in this run
    last = time.monotonic()
    for index, letter in enumerate(letters):
        if time.monotonic() - last > PROGRESS_EVERY_S:
            last = time.monotonic()
            progress(f"{index:,} of {len(letters):,} letters: {report.summary()}")
        key = ledger_key(letter)
        if key in sent:
            report.add(ALREADY_REPLAYED, letter, "its event was sent in this run, as {} ({})"
                       .format(*sent[key]))
            continue
        previous = ledger.get(key)
        if previous is not None and previous.get("outcome") in DONE:
            report.add(ALREADY_REPLAYED, letter,
                       f"{previous['outcome']} at {previous['replayed_at']}")
            continue
        try:
            prepared = prepare(letter, correction)
        except NotReplayable as why:
            report.add(NOT_REPLAYABLE, letter, str(why))
            continue
        if limit is not None and len(sent) >= limit:
            report.n_left = len(letters) - index
            break
        failure = judge.verdict(prepared)
        outcome = STILL_FAILING if failure else FIXED if prepared.changes else REPLAYED
        entry = ledger_record(letter, outcome, changes=prepared.changes, failure=failure,
                              replayed_at=iso_ms(time.time_ns() // 1_000_000),
                              collector=judge.url)
        if record is not None:
            record(entry)
        ledger[key], sent[key] = entry, (letter.position, outcome)
        report.add(outcome, letter, failure or "; ".join(prepared.changes))
    return report

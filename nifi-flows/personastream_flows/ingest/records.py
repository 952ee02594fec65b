"""What ingest makes of a request: Kafka records, enriched or dead letters, and the line format
they travel in from ValidateEnrichEvents to PublishToKafka (one record per line: ``outcome``,
the key as JSON and the value as JSON, separated by tabs; JSON escapes every tab and newline
inside, so values are published as they are, never parsed again).

>>> result = IngestResult(enriched=[Record("u\\t1", {"q": "a\\nb"})])
>>> text = result.lines()
>>> text
'enriched\\t"u\\\\t1"\\t{"q":"a\\\\nb"}\\n'
>>> parse_lines(text.encode())
[('enriched', 'u\\t1', b'{"q":"a\\\\nb"}')]
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import orjson

OUTCOMES = ("enriched", "deadletter")


@dataclass
class Record:
    """One Kafka record to publish: ``key`` is the event's user key (None when unknown)."""

    key: str | None
    value: dict

    def value_bytes(self) -> bytes:
        """The value as compact UTF-8 JSON (orjson; the stdlib's escaped ASCII for what orjson
        refuses: a lone surrogate, an integer beyond 64 bits).

        >>> Record("u-1", {"q": "é", "n": 2 ** 70}).value_bytes()
        b'{"q":"\\\\u00e9","n":1180591620717411303424}'
        >>> Record("u-1", {"q": "é"}).value_bytes()
        b'{"q":"\\xc3\\xa9"}'
        """
        try:
            return orjson.dumps(self.value)
        except (orjson.JSONEncodeError, TypeError):
            return json.dumps(self.value, separators=(",", ":"), allow_nan=False).encode("ascii")


@dataclass
class IngestResult:
    """What one request body became; ``accepted + rejected`` is the number of events in it."""

    enriched: list[Record] = field(default_factory=list)
    deadletters: list[Record] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        return len(self.enriched)

    @property
    def rejected(self) -> int:
        return len(self.deadletters)

    @property
    def first_reason(self) -> str | None:
        """Reason code of the first dead letter (for the HTTP answer), None if there is none."""
        return self.deadletters[0].value["reason"]["code"] if self.deadletters else None

    def lines(self) -> str:
        """The records as PublishToKafka reads them (see the module's docstring)."""
        return "".join(f"{outcome}\t{json.dumps(r.key)}\t{r.value_bytes().decode('utf-8')}\n"
                       for outcome, records in (("enriched", self.enriched),
                                                ("deadletter", self.deadletters))
                       for r in records)


def parse_lines(content: bytes) -> list[tuple[str, str | None, bytes]]:
    """``(outcome, key, value)`` of every line of :meth:`IngestResult.lines`."""
    out = []
    for line in content.split(b"\n"):
        if line:
            outcome, key, value = line.split(b"\t", 2)
            if outcome.decode() not in OUTCOMES:
                raise ValueError(f"line outcome {outcome!r} is not one of {OUTCOMES}")
            out.append((outcome.decode(), orjson.loads(key), value))
    return out

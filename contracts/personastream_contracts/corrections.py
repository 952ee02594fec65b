"""Corrections of a dead-lettered event before it is replayed: declarative, small, applied to
the parsed event in a fixed order (renames, then drops, then sets), never to ``event_id`` (a
replayed event keeps it: that is what makes a replay recognisable).

A field is a JSON Pointer (RFC 6901: ``/attributes/tier``, ``~1`` for ``/``, ``~0`` for ``~``)
into the event; its leading ``/`` may be left out. A correction that does not apply to an event
(the field to rename or drop is not there, the value set is already there) changes nothing; one
that cannot apply (renaming onto an existing field, a field whose parent is missing) raises
:class:`CorrectionError` for that event.

>>> fix = Correction.parse(renames=["product_id=item_id"], sets=['currency="EUR"'],
...                        schema_version="1-0-0")
>>> event, changes = fix.apply({"event_id": "e-1", "schema_version": "1-1-0", "product_id": "i-9"})
>>> event
{'event_id': 'e-1', 'schema_version': '1-0-0', 'item_id': 'i-9', 'currency': 'EUR'}
>>> changes
['renamed /product_id to /item_id', 'set /currency', 'set /schema_version']
>>> fix.apply(event)[1]  # once corrected, nothing left to correct
[]
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

from personastream_contracts.errors import PersonastreamError

FROZEN = "event_id"
"""The one top-level field no correction may touch."""


class CorrectionError(PersonastreamError):
    """A correction is malformed, or cannot apply to an event."""


def pointer(text: str) -> tuple[str, ...]:
    """The reference tokens of a JSON Pointer, its leading ``/`` optional.

    >>> pointer("/attributes/a~1b"), pointer("item_id")
    (('attributes', 'a/b'), ('item_id',))
    """
    tokens = tuple(t.replace("~1", "/").replace("~0", "~")
                   for t in text.removeprefix("/").split("/"))
    if not text.strip("/") or "" in tokens:
        raise CorrectionError(f"field {text!r} is not a JSON Pointer to a field (e.g. /item_id "
                              "or /attributes/tier)")
    if tokens[0] == FROZEN:
        raise CorrectionError(f"a replayed event keeps its {FROZEN}: no correction may change "
                              f"/{FROZEN} (field {text!r})")
    return tokens


def show(tokens: tuple[str, ...]) -> str:
    """A pointer written back (``/a/b``)."""
    return "".join("/" + t.replace("~", "~0").replace("/", "~1") for t in tokens)


def _pair(text: str, option: str, example: str) -> tuple[str, str]:
    left, sep, right = text.partition("=")
    if not sep or not left or not right:
        raise CorrectionError(f"{option} {text!r} is not FIELD=VALUE (e.g. {option} {example})")
    return left, right


def _parent(event: dict, tokens: tuple[str, ...], required: bool) -> dict | None:
    """The object holding the field ``tokens`` points at (lists are indexed by number); None
    when there is none and it is not ``required``."""
    node: Any = event
    for token in tokens[:-1]:
        if isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        elif isinstance(node, dict) and token in node:
            node = node[token]
        else:
            node = None
            break
    if isinstance(node, dict):
        return node
    if required:
        raise CorrectionError(f"{show(tokens)}: the event has no object to hold it")
    return None


def _same(a: Any, b: Any) -> bool:
    """Equal as JSON (``1`` and ``true`` are not)."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


@dataclass(frozen=True)
class Correction:
    """Renames ``(old, new)``, drops and sets ``(field, value)``, as pointer tokens."""

    renames: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = ()
    drops: tuple[tuple[str, ...], ...] = ()
    sets: tuple[tuple[tuple[str, ...], Any], ...] = ()

    @classmethod
    def parse(cls, renames=(), drops=(), sets=(), schema_version: str | None = None
              ) -> Correction:
        """From the command line's ``--rename OLD=NEW``, ``--drop FIELD``, ``--set FIELD=JSON``
        and ``--schema-version V`` (the same as ``--set 'schema_version="V"'``).

        >>> Correction.parse(sets=["currency=EUR"])
        Traceback (most recent call last):
        ...
        personastream_contracts.corrections.CorrectionError: --set currency=EUR: the value must \
be JSON (Expecting value); a string needs quotes: --set 'currency="EUR"'
        """
        parsed_sets = []
        for text in sets:
            field, raw = _pair(text, "--set", "'currency=\"EUR\"'")
            try:
                parsed_sets.append((pointer(field), json.loads(raw)))
            except json.JSONDecodeError as err:
                raise CorrectionError(
                    f"--set {text}: the value must be JSON ({err.msg}); a string needs quotes: "
                    f"--set '{field}=\"{raw}\"'") from None
        if schema_version is not None:
            parsed_sets.append((("schema_version",), schema_version))
        return cls(renames=tuple((pointer(old), pointer(new)) for old, new in (
                       _pair(t, "--rename", "product_id=item_id") for t in renames)),
                   drops=tuple(pointer(t) for t in drops), sets=tuple(parsed_sets))

    def __bool__(self) -> bool:
        return bool(self.renames or self.drops or self.sets)

    def apply(self, event: dict) -> tuple[dict, list[str]]:
        """A corrected copy of ``event`` and what changed in it (empty: nothing applied)."""
        event = copy.deepcopy(event)
        changes = []
        for old, new in self.renames:
            parent = _parent(event, old, required=False)
            if parent is None or old[-1] not in parent:
                continue
            target = _parent(event, new, required=True)
            if new[-1] in target:
                raise CorrectionError(f"cannot rename {show(old)} to {show(new)}: the event "
                                      f"has {show(new)} already")
            target[new[-1]] = parent.pop(old[-1])
            changes.append(f"renamed {show(old)} to {show(new)}")
        for field in self.drops:
            parent = _parent(event, field, required=False)
            if parent is not None and field[-1] in parent:
                del parent[field[-1]]
                changes.append(f"dropped {show(field)}")
        for field, value in self.sets:
            parent = _parent(event, field, required=True)
            if field[-1] not in parent or not _same(parent[field[-1]], value):
                parent[field[-1]] = value
                changes.append(f"set {show(field)}")
        return event, changes

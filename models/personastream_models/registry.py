"""Which version of a model is live, which runs in shadow, and what a rollback returns to.

The state of one model is a :class:`Placement`, published as a JSON record keyed by the model's
name on the compacted Kafka topic ``models.control`` (``personastream models promote``,
``rollback``, ``shadow``). Running jobs read that topic as a Flink broadcast stream, so a
change reaches every parallel task within seconds, without a restart, and is part of their
checkpoints. Transitions are pure functions here, shared by the command line and the jobs.

Examples
--------
>>> p = Placement.initial("trends_detector", "2-0-0")
>>> p = p.with_shadow("3-0-0")
>>> p.running_versions()
('2-0-0', '3-0-0')
>>> p = p.promoted("3-0-0")          # the shadow's learned state becomes live
>>> p.live, p.shadow, p.history
('3-0-0', None, ('2-0-0',))
>>> p.rolled_back().live
'2-0-0'
>>> Placement.from_json(p.to_json()) == p
True
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field, replace
from typing import Callable

__all__ = ["HISTORY_LIMIT", "Placement", "PlacementError", "control_placement"]

#: Versions a rollback can walk back through.
HISTORY_LIMIT = 10


class PlacementError(ValueError):
    """A transition that cannot be made (e.g. nothing to roll back to)."""


@dataclass(frozen=True)
class Placement:
    """Live and shadow versions of model ``model``; ``history`` ends with the previous live."""

    model: str
    live: str
    shadow: str | None = None
    history: tuple[str, ...] = ()
    action: str = "initial"
    changed_at: str = field(default="", compare=False)

    @classmethod
    def initial(cls, model: str, live: str) -> "Placement":
        """The placement a job starts with when the topic has no record of ``model``."""
        return cls(model=model, live=live)

    def running_versions(self) -> tuple[str, ...]:
        """Versions a job keeps learning: live, shadow and the rollback target (so that a
        rollback returns to a model that kept up with the stream)."""
        out = [self.live]
        for version in (self.shadow, self.history[-1] if self.history else None):
            if version is not None and version not in out:
                out.append(version)
        return tuple(out)

    def promoted(self, version: str) -> "Placement":
        """``version`` becomes live; the old live version becomes the rollback target."""
        if version == self.live:
            raise PlacementError(f"{self.model} {version} is already live")
        history = (*self.history, self.live)[-HISTORY_LIMIT:]
        shadow = None if self.shadow == version else self.shadow
        return self._changed(live=version, shadow=shadow, history=history, action="promote")

    def rolled_back(self) -> "Placement":
        """The previous live version becomes live again."""
        if not self.history:
            raise PlacementError(f"{self.model}: no earlier live version to roll back to "
                                 f"({self.live} has been live since the start)")
        return self._changed(live=self.history[-1], history=self.history[:-1],
                             shadow=None if self.shadow == self.history[-1] else self.shadow,
                             action="rollback")

    def with_shadow(self, version: str | None) -> "Placement":
        """Run ``version`` beside the live one on the same stream (None: stop the shadow)."""
        if version is not None and version == self.live:
            raise PlacementError(f"{self.model} {version} is live; a shadow must be another "
                                 "version")
        return self._changed(shadow=version, action="shadow" if version else "unshadow")

    def _changed(self, **changes) -> "Placement":
        now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")
        return replace(self, changed_at=now, **changes)

    def to_json(self) -> str:
        return json.dumps({"model": self.model, "live": self.live, "shadow": self.shadow,
                           "history": list(self.history), "action": self.action,
                           "changed_at": self.changed_at}, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> "Placement":
        """Parse a control record; :class:`PlacementError` names what is wrong."""
        try:
            doc = json.loads(text)
            return cls(model=str(doc["model"]), live=str(doc["live"]),
                       shadow=None if doc.get("shadow") is None else str(doc["shadow"]),
                       history=tuple(str(v) for v in doc.get("history", ())),
                       action=str(doc.get("action", "")), changed_at=str(doc.get("changed_at", "")))
        except (ValueError, KeyError, TypeError) as error:
            raise PlacementError(f"not a model placement record ({error!r}): {text[:200]!r}") \
                from None


def control_placement(record: str | bytes, model: str,
                      spec_of: Callable[[str], object]) -> Placement | None:
    """The placement of ``model`` in a record of the control topic, as a job takes it: None when
    the record is about another model; else every running version is first loaded with
    ``spec_of`` (a job's ``version -> spec``), so that a version the job cannot run raises what
    ``spec_of`` raises (e.g. ``SpecError``) before the job keeps the record.

    Raises
    ------
    PlacementError
        When the record is not a placement.

    Examples
    --------
    >>> record = Placement.initial("customer_segments", "1-0-0").promoted("2-0-0").to_json()
    >>> control_placement(record, "customer_segments", str).running_versions()
    ('2-0-0', '1-0-0')
    >>> control_placement(record, "trends_detector", str) is None
    True
    """
    placement = Placement.from_json(record)
    if placement.model != model:
        return None
    for version in placement.running_versions():
        spec_of(version)
    return placement

"""Which versions of a promotion are published, which one runs, and whether it is active.

The state of one promotion is a :class:`PromotionState`, published as a JSON record keyed by
the promotion's name on the compacted Kafka topic ``promotions.control`` (``personastream
promotions publish | activate | pause``), as model placements are on ``models.control``. The
record carries the validated content of every published version it keeps, so a running job
needs no rule files: it follows the topic as Flink broadcast state and takes a record with
:func:`control_promotion`. Transitions are pure functions here, shared by the command line and
the jobs; each re-validates the rule it makes active, so nothing unvalidated is activated.

Examples
--------
>>> from personastream_models.promotion_rules import load
>>> state = published(None, load("mobile_welcome"))          # published: recorded, paused
>>> state.status, state.version, state.running_rule() is None
('paused', '1-0-0', True)
>>> state = state.activated(now_ms=load("mobile_welcome").start_ms)
>>> state.status, state.running_rule().key
('active', 'mobile_welcome/1-0-0')
>>> state.paused().status
'paused'
>>> PromotionState.from_json(state.to_json()) == state
True
"""
from __future__ import annotations

import copy
import datetime as dt
import json
import time
from dataclasses import dataclass, field, replace
from typing import Any, Mapping

from personastream_contracts.errors import PersonastreamError
from personastream_contracts.formats import iso_ms
from personastream_contracts.schemaver import version_tuple
from personastream_models.promotion_rules import PromotionRule, validate

__all__ = ["STATUSES", "VERSIONS_KEPT", "PromotionState", "PromotionStateError",
           "control_promotion", "published"]

STATUSES = ("active", "paused")
#: Published versions a record keeps (with their content) for ``activate --version``.
VERSIONS_KEPT = 10


class PromotionStateError(PersonastreamError, ValueError):
    """A transition that cannot be made, or a control record that is not a promotion state."""


@dataclass(frozen=True)
class PromotionState:
    """Promotion ``name``: the content of its published ``rules`` by version, the ``version``
    that runs while ``status`` is ``active`` (the one ``activate`` chose, else the latest
    published), and the last ``action``. Treat ``rules`` as read-only."""

    name: str
    version: str
    status: str
    rules: Mapping[str, Mapping[str, Any]]
    action: str = "publish"
    changed_at: str = field(default="", compare=False)

    def published_versions(self) -> list[str]:
        """Versions kept, lowest first."""
        return sorted(self.rules, key=version_tuple)

    def rule(self, version: str | None = None) -> PromotionRule:
        """Version ``version`` (default: the state's) validated again."""
        version = version or self.version
        if version not in self.rules:
            raise PromotionStateError(
                f"promotion {self.name} has no published version {version!r} (published: "
                f"{', '.join(self.published_versions())}); publish it first")
        return validate(self.rules[version], path_name=self.name, path_version=version)

    def running_rule(self) -> PromotionRule | None:
        """The rule a job evaluates: the state's version while active, else None."""
        return self.rule() if self.status == "active" else None

    def published(self, rule: PromotionRule) -> "PromotionState":
        """Record ``rule``, a version later than every published one. A paused promotion moves
        to it (still paused); an active one keeps running its version until ``activated``."""
        if rule.name != self.name:
            raise PromotionStateError(f"rule {rule.key} is not a version of promotion "
                                      f"{self.name}")
        if rule.version in self.rules:
            same = dict(self.rules[rule.version]) == rule.to_dict()
            raise PromotionStateError(
                f"promotion {rule.key} is published already" + (
                    "" if same else " with other content; a published version never changes: "
                                    "bump the version"))
        latest = self.published_versions()[-1]
        if version_tuple(rule.version) < version_tuple(latest):
            raise PromotionStateError(f"promotion {rule.key}: version must be later than "
                                      f"{latest}, the latest published")
        keep = [v for v in self.published_versions() if v != self.version]
        keep = set(keep[max(0, len(keep) - (VERSIONS_KEPT - 2)):]) | {self.version}
        rules = {v: self.rules[v] for v in self.published_versions() if v in keep}
        rules[rule.version] = rule.to_dict()
        version = self.version if self.status == "active" else rule.version
        return self._changed(rules=rules, version=version, action="publish")

    def activated(self, version: str | None = None, *, now_ms: int | None = None
                  ) -> "PromotionState":
        """Make ``version`` (default: the latest published) the running, active one. Refused
        for a version not published (so never validated), already active, or whose ``end`` has
        passed at ``now_ms`` (default: now)."""
        version = version or self.published_versions()[-1]
        rule = self.rule(version)
        if self.status == "active" and version == self.version:
            raise PromotionStateError(f"promotion {rule.key} is active already")
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        if now_ms >= rule.end_ms:
            raise PromotionStateError(f"promotion {rule.key} ended at {iso_ms(rule.end_ms)}; "
                                      "publish a version with a later end")
        return self._changed(version=version, status="active", action="activate")

    def paused(self) -> "PromotionState":
        """Stop offering the promotion (its versions stay published)."""
        if self.status == "paused":
            raise PromotionStateError(f"promotion {self.name} is paused already")
        return self._changed(status="paused", action="pause")

    def _changed(self, **changes) -> "PromotionState":
        now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")
        return replace(self, changed_at=now, **changes)

    def to_json(self) -> str:
        return json.dumps({"promotion": self.name, "version": self.version,
                           "status": self.status, "rules": dict(self.rules),
                           "action": self.action, "changed_at": self.changed_at},
                          separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> "PromotionState":
        """Parse a control record; :class:`PromotionStateError` names what is wrong (the rules
        are not validated here: :meth:`rule` does)."""
        try:
            doc = json.loads(text)
            state = cls(name=str(doc["promotion"]), version=str(doc["version"]),
                        status=str(doc["status"]), rules=copy.deepcopy(dict(doc["rules"])),
                        action=str(doc.get("action", "")),
                        changed_at=str(doc.get("changed_at", "")))
        except (ValueError, KeyError, TypeError) as error:
            raise PromotionStateError(f"not a promotion state record ({error!r}): "
                                      f"{text[:200]!r}") from None
        if state.status not in STATUSES or state.version not in state.rules:
            raise PromotionStateError(f"promotion state record of {state.name}: status must be "
                                      f"one of {', '.join(STATUSES)} and version one of its "
                                      f"rules, got {state.status!r}, {state.version!r}")
        return state


def published(state: PromotionState | None, rule: PromotionRule) -> PromotionState:
    """``rule`` recorded as a published version of its promotion: a new promotion starts
    paused (``state`` None: the topic has no record of it), see :meth:`PromotionState.published`.

    >>> from personastream_models.promotion_rules import load
    >>> rule = load("abandoned_cart_reminder")
    >>> later = {**rule.to_dict(), "version": "1-1-0", "priority": 90}
    >>> state = published(None, rule).activated(now_ms=rule.start_ms)
    >>> state = published(state, validate(later))
    >>> state.status, state.version, state.published_versions()
    ('active', '1-0-0', ['1-0-0', '1-1-0'])
    >>> state.activated(now_ms=rule.start_ms).running_rule().priority
    90
    """
    if state is not None:
        return state.published(rule)
    return PromotionState(name=rule.name, version=rule.version, status="paused",
                          rules={rule.version: rule.to_dict()})._changed()


def control_promotion(record: str | bytes) -> tuple[PromotionState, PromotionRule | None]:
    """A record of the control topic as a job takes it: the state and its running rule,
    validated (None while paused).

    Raises
    ------
    PromotionStateError, InvalidRule
        When the record is not a promotion state or its running rule is not valid: a job logs
        it and keeps what it had.

    >>> from personastream_models.promotion_rules import load
    >>> state, rule = control_promotion(published(None, load("mobile_welcome")).to_json())
    >>> state.name, rule
    ('mobile_welcome', None)
    """
    state = PromotionState.from_json(record)
    return state, state.running_rule()

"""Promotion rules: versioned JSON files that say when a promotion fires and what it offers.

A rule lives at ``promotions/<name>/<version>.json`` beside this module, like a model spec, and
follows the JSON Schema ``schemas/promotion_rule/1-0-0.json`` (draft 2020-12; the one
description of the format, with a ``description`` for every part). A published version never
changes: a change is a new version. Versions are SchemaVer ``MODEL-REVISION-ADDITION``
(``1-0-0``): ``MODEL`` for other conditions or another action, ``REVISION`` for other values
(texts, thresholds, dates, caps), ``ADDITION`` for the description.

A rule has a ``priority`` (0-1000, the highest of the rules that fire is offered), a ``start``
and ``end`` (RFC 3339), ``conditions`` (all must hold; kinds ``item_trend``, ``affinity``,
``segment``, ``geo``, ``device``, ``cart_abandoned``, ``time_of_day``, ``visitor``), one
``action`` (``banner``, ``discount`` or ``ranking_boost``), a ``budget`` (offers over the whole
run) and ``frequency_caps`` (``per_customer``, optional ``per_promotion``: at most
``max_offers`` in any ``window_s``). :func:`validate` checks the schema, then what a schema
cannot say (start before end, ``within_minutes`` above ``after_minutes``, a time zone that
exists, no condition kind twice, caps within the budget); a broken rule is refused with every
problem, each naming the field's path.

Examples
--------
>>> rule = load("abandoned_cart_reminder")
>>> rule.key, rule.priority, [c["kind"] for c in rule.conditions]
('abandoned_cart_reminder/1-0-0', 80, ['cart_abandoned', 'visitor'])
>>> broken = rule.to_dict()
>>> broken["conditions"][0]["within_minutes"] = 20
>>> broken["frequency_caps"]["per_customer"]["max_offers"] = -1
>>> try:
...     validate(broken)
... except InvalidRule as error:
...     print(error)
rule abandoned_cart_reminder/1-0-0: field 'frequency_caps.per_customer.max_offers' must be at least 1, got -1
>>> broken["frequency_caps"]["per_customer"]["max_offers"] = 1
>>> try:
...     validate(broken)
... except InvalidRule as error:
...     print(error.problems[0].field, "--", error.problems[0].reason)
conditions[0].within_minutes -- must be more than after_minutes (30), got 20
"""
from __future__ import annotations

import copy
import functools
import json
import zoneinfo
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Mapping

from personastream_contracts import event_schemas
from personastream_contracts.errors import PersonastreamError
from personastream_contracts.formats import epoch_ms
from personastream_contracts.schemaver import SCHEMAVER, version_tuple
from personastream_models.specs import versioned_files

__all__ = ["CONDITION_KINDS", "InvalidRule", "Problem", "PromotionRule", "RuleError",
           "RuleNotFound", "available", "load", "read_file", "rule_path", "schema", "validate",
           "versions"]

RULES_DIR = "promotions"
SCHEMA_KEY = ("promotion_rule", "1-0-0")
"""The rule format's schema file, ``schemas/<name>/<version>.json`` beside this module."""


class RuleError(PersonastreamError):
    """Base class of promotion rule errors."""


class RuleNotFound(RuleError, LookupError):
    """No rule file of that name or version."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a rule: ``field`` is its path (``conditions[0].min_score``)."""

    field: str
    reason: str

    def __str__(self) -> str:
        return f"field {self.field!r} {self.reason}"


class InvalidFile(ValueError):
    """A file (rule, experiment) that breaks its format; ``problems`` names every bad field,
    the message the first (and how many more). ``WHAT`` names the kind of file."""

    WHAT = "file"

    def __init__(self, label: str, problems: Iterable[Problem]):
        self.label, self.problems = label, tuple(problems)
        more = len(self.problems) - 1
        super().__init__(f"{self.WHAT} {label}: {self.problems[0]}"
                         + (f" (and {more} more: {'; '.join(map(str, self.problems[1:]))})"
                            if more else ""))


class InvalidRule(RuleError, InvalidFile):
    """A rule that breaks the format."""

    WHAT = "rule"


@dataclass(frozen=True)
class PromotionRule:
    """A validated rule (made by :func:`validate`, :func:`load` or :func:`read_file`);
    picklable. Treat ``conditions`` and ``action`` as read-only; :meth:`to_dict` hands out a
    copy of the file's content."""

    name: str
    version: str
    priority: int
    start_ms: int
    end_ms: int
    conditions: tuple[Mapping[str, Any], ...]
    action: Mapping[str, Any]
    content: Mapping[str, Any] = field(repr=False)

    @property
    def key(self) -> str:
        """``name/version``, how errors and logs name the rule."""
        return f"{self.name}/{self.version}"

    def to_dict(self) -> dict[str, Any]:
        """The rule as its JSON object."""
        return copy.deepcopy(dict(self.content))


def schema() -> dict:
    """The rule format (JSON Schema 2020-12), ``schemas/promotion_rule/1-0-0.json``."""
    name, version = SCHEMA_KEY
    text = resources.files(__package__).joinpath("schemas", name, f"{version}.json").read_text(
        encoding="utf-8")
    return json.loads(text)


@functools.lru_cache(maxsize=1)
def _schema_validator():
    # the device types come from the enrichment schema: validate among the event schemas
    return event_schemas.validator({**event_schemas.load_schemas(), SCHEMA_KEY: schema()},
                                   SCHEMA_KEY)


def _kinds(group: str) -> tuple[str, ...]:
    return tuple(schema()["$defs"][group]["properties"]["kind"]["enum"])


CONDITION_KINDS = _kinds("condition")
ACTION_KINDS = _kinds("action")


def _path(parts: Iterable[Any]) -> str:
    """``conditions[0].min_score`` from a JSON path."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(rule)"


def _fields_of(error) -> list[str]:
    return sorted(error.schema.get("properties", {}))


def schema_problem(error) -> Problem:
    """A jsonschema error as a :class:`Problem` naming the field (a missing or unexpected field
    by its own path, not its parent's)."""
    path, keyword, value = list(error.absolute_path), error.validator, error.instance
    expected = error.validator_value
    if keyword == "required":
        missing = next(n for n in expected if n not in value)
        return Problem(_path([*path, missing]), "is required")
    if keyword == "additionalProperties":
        extra = sorted(set(value) - set(error.schema.get("properties", {})))[0]
        where = {"conditions": "condition", "action": "action"}.get(path[0] if path else "rule")
        where = f"the {value['kind']} {where}" if where and "kind" in value else \
            f"the {_path(path) if path else 'rule'}"
        return Problem(_path([*path, extra]), f"is not a field of {where} (fields: "
                                              f"{', '.join(_fields_of(error))})")
    if keyword == "enum" and path and path[-1] == "kind" and len(path) >= 2:
        what = "condition" if path[0] == "conditions" else "action"
        return Problem(_path(path), f"names an unknown {what} {value!r} (known: "
                                    f"{', '.join(map(str, expected))})")
    reasons = {
        "type": lambda: f"must be of type {expected}, got {value!r}",
        "enum": lambda: f"must be one of {', '.join(map(json.dumps, expected))}, got {value!r}",
        "minimum": lambda: f"must be at least {expected}, got {value!r}",
        "maximum": lambda: f"must be at most {expected}, got {value!r}",
        "exclusiveMinimum": lambda: f"must be more than {expected}, got {value!r}",
        "exclusiveMaximum": lambda: f"must be less than {expected}, got {value!r}",
        "minItems": lambda: f"must have at least {expected} item(s), got {len(value)}",
        "maxItems": lambda: f"must have at most {expected} items, got {len(value)}",
        "uniqueItems": lambda: f"must not repeat a value, got {value!r}",
        "minLength": lambda: f"must have at least {expected} character(s), got {value!r}",
        "maxLength": lambda: f"must have at most {expected} characters, got {len(value)}",
        "pattern": lambda: f"must match {expected}, got {value!r}",
        "format": lambda: f"must be an RFC 3339 {expected} such as '2026-12-01T00:00:00Z', "
                          f"got {value!r}",
    }
    return Problem(_path(path), reasons.get(keyword, lambda: error.message)())


def file_problems(validator, doc: dict, path_name: str | None,
                  path_version: str | None) -> list[Problem]:
    """The problems of a rule or experiment ``doc`` against its format's JSON Schema
    (``validator``), then, if it fits, its name and version against the folder and file it was
    read from (``path_*``; None: not read from a file)."""
    errors = sorted(validator.iter_errors(doc), key=lambda e: [str(p) for p in e.absolute_path])
    problems = list(dict.fromkeys(schema_problem(e) for e in errors))
    if problems:
        return problems
    if path_name is not None and doc["name"] != path_name:
        problems.append(Problem("name", f"must equal its folder name {path_name!r}, got "
                                        f"{doc['name']!r}"))
    if path_version is not None and doc["version"] != path_version:
        problems.append(Problem("version", f"must equal its file name {path_version}.json, "
                                           f"got {doc['version']!r}"))
    return problems


def _semantic_problems(rule: Mapping[str, Any], start_ms: int, end_ms: int) -> Iterable[Problem]:
    """What the schema cannot say, for a rule that fits the schema."""
    if start_ms >= end_ms:
        yield Problem("end", f"must be after start ({rule['start']}), got {rule['end']!r}")
    seen: dict[tuple, int] = {}
    for i, condition in enumerate(rule["conditions"]):
        at, kind = f"conditions[{i}]", condition["kind"]
        identity = (kind, condition.get("dimension"))
        if identity in seen:
            yield Problem(at, f"repeats the {kind} condition of conditions[{seen[identity]}] "
                              "(each kind once, affinity once per dimension: put every value "
                              "in one condition)")
        seen.setdefault(identity, i)
        if kind == "cart_abandoned" and condition.get("within_minutes") is not None \
                and condition["within_minutes"] <= condition["after_minutes"]:
            yield Problem(f"{at}.within_minutes", f"must be more than after_minutes "
                                                  f"({condition['after_minutes']}), got "
                                                  f"{condition['within_minutes']}")
        if kind == "time_of_day":
            if condition["from"] == condition["to"]:
                yield Problem(f"{at}.to", f"must differ from 'from' ({condition['from']}): the "
                                          "range [from, to) would be empty (to before from "
                                          "spans midnight)")
            zone = condition.get("timezone", "UTC")
            try:
                zoneinfo.ZoneInfo(zone)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                yield Problem(f"{at}.timezone", f"must be an IANA time zone such as "
                                                f"'Europe/Berlin', got {zone!r}")
    budget = rule["budget"]["max_offers"]
    for cap_name, cap in rule["frequency_caps"].items():
        if cap["max_offers"] > budget:
            yield Problem(f"frequency_caps.{cap_name}.max_offers",
                          f"must not exceed budget.max_offers ({budget}), got "
                          f"{cap['max_offers']}")


def validate(rule: Mapping[str, Any] | PromotionRule, *, path_name: str | None = None,
             path_version: str | None = None) -> PromotionRule:
    """Check a rule (its JSON object) and return it as a :class:`PromotionRule`.

    Parameters
    ----------
    rule
        The decoded JSON object (or a ``PromotionRule``, re-checked).
    path_name, path_version
        The folder and file name the rule was read from, which ``name`` and ``version`` must
        equal.

    Raises
    ------
    InvalidRule
        Naming every bad field (its path), what was expected and what arrived.

    Examples
    --------
    >>> rule = load("trending_category_spike").to_dict()
    >>> try:
    ...     validate({**rule, "conditions": [{"kind": "weather", "sunny": True}]})
    ... except InvalidRule as error:
    ...     print(error)  # doctest: +NORMALIZE_WHITESPACE
    rule trending_category_spike/1-0-0: field 'conditions[0].kind' names an unknown condition
    'weather' (known: item_trend, affinity, segment, geo, device, cart_abandoned, time_of_day,
    visitor)
    >>> try:
    ...     validate({**rule, "start": "2027-03-01T00:00:00Z", "end": "2026-12-01T00:00:00Z"})
    ... except InvalidRule as error:
    ...     print(error)  # doctest: +NORMALIZE_WHITESPACE
    rule trending_category_spike/1-0-0: field 'end' must be after start
    (2027-03-01T00:00:00Z), got '2026-12-01T00:00:00Z'
    """
    if isinstance(rule, PromotionRule):
        rule = rule.to_dict()
    if not isinstance(rule, Mapping):
        raise InvalidRule(f"{path_name or '?'}/{path_version or '?'}",
                          [Problem("(rule)", f"must be a JSON object, got "
                                             f"{type(rule).__name__}")])
    label = f"{rule.get('name', path_name or '?')}/{rule.get('version', path_version or '?')}"
    rule = copy.deepcopy(dict(rule))
    problems = file_problems(_schema_validator(), rule, path_name, path_version)
    if not problems:
        start_ms, end_ms = epoch_ms(rule["start"]), epoch_ms(rule["end"])
        problems += _semantic_problems(rule, start_ms, end_ms)
    if problems:
        raise InvalidRule(label, problems)
    return PromotionRule(name=rule["name"], version=rule["version"], priority=rule["priority"],
                         start_ms=start_ms, end_ms=end_ms,
                         conditions=tuple(rule["conditions"]), action=rule["action"],
                         content=rule)


def _rules_root():
    return resources.files(__package__).joinpath(RULES_DIR)


def available() -> dict[str, list[str]]:
    """Every rule file: ``{name: [versions, lowest first]}``.

    >>> sorted(available())
    ['abandoned_cart_reminder', 'mobile_welcome', 'trending_category_spike']
    """
    return versioned_files(_rules_root(), SCHEMAVER, version_tuple)


def versions(name: str) -> list[str]:
    """Versions of rule ``name``, lowest first."""
    known = available()
    if name not in known:
        raise RuleNotFound(f"no promotion rule named {name!r} in "
                           f"{RULES_DIR}/; rules: {', '.join(known) or 'none'}")
    return known[name]


def rule_path(name: str, version: str):
    """Where rule ``name/version`` is (or would be) kept."""
    return _rules_root().joinpath(name, f"{version}.json")


def _decode(text: str, label: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidRule(label, [Problem("(rule)", f"is not valid JSON: {error}")]) from None


def load(name: str, version: str | None = None) -> PromotionRule:
    """Read and validate ``promotions/<name>/<version>.json`` (the highest version when None)."""
    known = versions(name)
    version = version or known[-1]
    if version not in known:
        raise RuleNotFound(f"promotion rule {name!r} has no version {version!r}; versions: "
                           f"{', '.join(known)}")
    text = rule_path(name, version).read_text(encoding="utf-8")
    return validate(_decode(text, f"{name}/{version}"), path_name=name, path_version=version)


def read_file(path: str | Path) -> PromotionRule:
    """Read and validate a rule file anywhere (a candidate not kept in ``promotions/`` yet)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise RuleNotFound(f"cannot read promotion rule file {path}: {error}") from None
    return validate(_decode(text, str(path)))

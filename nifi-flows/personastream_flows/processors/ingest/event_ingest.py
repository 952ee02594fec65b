"""Ingest: an HTTP request body in, one Kafka record out per event, enriched or dead-lettered.

Every event accepted leaves as exactly one record: enriched (topic ``events.enriched``) or a
dead letter with a machine-readable reason and the event's exact original text (topic
``events.deadletter``); nothing is dropped silently. A body that is not a JSON object or array
of events is one dead letter as a whole.

This module is self-contained (stdlib and third-party imports only): NiFi loads every ``.py`` of
a processor bundle as a top-level module named by its basename, so it must work both as
``event_ingest`` and as ``personastream_flows.processors.ingest.event_ingest``.

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

import base64
import calendar
import hashlib
import json
import logging
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import maxminddb
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import SchemaError, ValidationError, relevance
from referencing import Registry
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012
from ua_parser import (BasicResolver, Cache, CachingResolver, Parser, load_builtins,
                       load_lazy_builtins)

try:  # ua-parser-rs: the native resolver, ~40x faster than BasicResolver on a cache miss
    from ua_parser.regex import Resolver as NativeResolver
except ImportError:  # pragma: no cover - depends on what the environment installed
    NativeResolver = None

__all__ = [
    "DEADLETTER_SCHEMA", "REASON_CODES", "SCHEMA_DIR", "IngestConfigError",
    "IngestResult", "Ingestor", "Record", "build_ua_parser", "check_compatible",
    "device_from_user_agent", "epoch_ms", "format_checker", "geo_from_record", "is_rfc3339_date_time",
    "load_schemas",
    "schema_identity", "user_key",
]

log = logging.getLogger(__name__)

SCHEMA_DIR = Path(__file__).resolve().with_name("schemas")
"""The schema files shipped beside this module: ``<name>/<MODEL-REVISION-ADDITION>.json``."""
SCHEMA_URN = "urn:personastream:{name}:{version}"
"""``$id`` of a schema file; an absolute ``$ref`` uses the same form."""
DEADLETTER_SCHEMA = "deadletter/1-0-0"
NON_EVENT_SCHEMAS = frozenset({"envelope", "enrichment", "deadletter"})
"""Schema files that are not event types (every other one must pin ``event_type`` by const)."""
REASON_CODES = (
    "body_too_large", "invalid_utf8", "malformed_json", "not_an_event", "empty_batch",
    "unknown_event_type", "unknown_schema_version", "schema_violation", "internal_error",
)
ANONYMOUS_PREFIX = "anon:"
UA_CACHE_SIZE = 2000
MAX_MESSAGE_CHARS = 300
MAX_ECHO_CHARS = 256
"""Longest envelope string copied into a dead letter (the payload keeps it whole anyway)."""
NULL_GEO = {"country": None, "region": None, "city": None, "latitude": None, "longitude": None}

_SCHEMAVER = re.compile(r"([1-9][0-9]*)-(0|[1-9][0-9]*)-(0|[1-9][0-9]*)")
_SCHEMA_ID = re.compile(r"urn:personastream:([a-z][a-z0-9_]*):(" + _SCHEMAVER.pattern + ")")
_JSON_WS = re.compile(r"[ \t\n\r]*")
_RFC3339 = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})"
                      r"(?:\.([0-9]+))?(?:[Zz]|([+-])([0-9]{2}):([0-9]{2}))")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


class IngestConfigError(ValueError):
    """The schemas, the GeoIP database or a setting handed to :class:`Ingestor` is unusable."""


# --- results -------------------------------------------------------------------------------

@dataclass
class Record:
    """One Kafka record to publish: ``key`` is the event's user key (None when unknown)."""

    key: str | None
    value: dict

    def value_bytes(self) -> bytes:
        """The value as compact UTF-8 JSON (escaped ASCII if it holds a lone surrogate).

        >>> Record("u-1", {"q": "é"}).value_bytes()
        b'{"q":"\\xc3\\xa9"}'
        """
        try:
            text = json.dumps(self.value, ensure_ascii=False, separators=(",", ":"),
                              allow_nan=False)
            return text.encode("utf-8")
        except UnicodeEncodeError:  # "\ud800" parsed from JSON: valid JSON only when escaped
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


def user_key(user_id: Any, anonymous_id: Any) -> str | None:
    """Who an event belongs to: the user id, else ``anon:`` + the anonymous id, else None.

    Same rule as ``personastream_flink.identity.user_key`` (a test keeps them equal); only
    non-empty strings count.

    >>> user_key("u-42", "a-7"), user_key(None, "a-7"), user_key("", None)
    ('u-42', 'anon:a-7', None)
    """
    if isinstance(user_id, str) and user_id:
        return user_id
    if isinstance(anonymous_id, str) and anonymous_id:
        return ANONYMOUS_PREFIX + anonymous_id
    return None


# --- schemas -------------------------------------------------------------------------------

def schema_identity(schema: dict) -> tuple[str, str]:
    """``(name, version)`` that a schema declares in its ``$id``.

    >>> schema_identity({"$id": "urn:personastream:page_view:1-0-0"})
    ('page_view', '1-0-0')
    """
    declared = schema.get("$id") if isinstance(schema, dict) else None
    match = _SCHEMA_ID.fullmatch(declared) if isinstance(declared, str) else None
    if match is None:
        raise IngestConfigError(f"schema $id {declared!r} is not of the form "
                                f"{SCHEMA_URN.format(name='<name>', version='<M-R-A>')}")
    return match.group(1), match.group(2)


def load_schemas(schema_dir: str | Path) -> dict[tuple[str, str], dict]:
    """Read and check every ``<name>/<version>.json`` under ``schema_dir``.

    Returns ``{(name, version): schema}``; the names are the event types plus the non-event
    schemas ``envelope`` and ``deadletter``. Raises :class:`IngestConfigError` when a file is not
    JSON, not a valid draft 2020-12 schema, or declares an ``$id`` other than its path.
    """
    root = Path(schema_dir)
    if not root.is_dir():
        raise IngestConfigError(f"schema directory {root} does not exist; pass the `schemas` "
                                f"folder shipped beside event_ingest.py ({SCHEMA_DIR})")
    schemas: dict[tuple[str, str], dict] = {}
    for path in sorted(root.glob("*/*.json")):
        try:
            schema = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise IngestConfigError(f"schema file {path} is not readable JSON: {err}") from err
        if schema_identity(schema) != (path.parent.name, path.stem):
            raise IngestConfigError(
                f"schema file {path} declares $id {schema.get('$id')!r}; rename the file or set "
                f"$id to {SCHEMA_URN.format(name=path.parent.name, version=path.stem)!r}")
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as err:
            raise IngestConfigError(f"schema file {path} is not a valid draft 2020-12 schema: "
                                    f"{err.message}") from err
        schemas[(path.parent.name, path.stem)] = schema
    if not schemas:
        raise IngestConfigError(f"no <name>/<version>.json schema files under {root}")
    return schemas


def _version_tuple(version: str) -> tuple[int, int, int]:
    match = _SCHEMAVER.fullmatch(version) if isinstance(version, str) else None
    if match is None:
        raise ValueError(f"{version!r} is not a SchemaVer MODEL-REVISION-ADDITION like '1-0-0'")
    return int(match.group(1)), int(match.group(2)), int(match.group(3))


def _walk(node: Any, key: str) -> Iterator[Any]:
    """Every string value under ``key`` anywhere in a schema document."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key and isinstance(v, str):
                yield v
            else:
                yield from _walk(v, key)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v, key)


def _registry(schemas: dict[tuple[str, str], dict]) -> Registry:
    """A ``referencing`` registry of all schemas, with every ``$ref`` checked to resolve."""
    registry = Registry().with_resources(
        (s["$id"], DRAFT202012.create_resource(s)) for s in schemas.values()).crawl()
    for (name, version), schema in schemas.items():
        resolver = registry.resolver(base_uri=schema["$id"])
        for ref in _walk(schema, "$ref"):
            try:
                resolver.lookup(ref)
            except Unresolvable as err:
                raise IngestConfigError(f"schema {name}/{version}: $ref {ref!r} does not resolve; "
                                        "refer to urn:personastream:<name>:<version> of a schema "
                                        "file, or to a local '#/...' pointer") from err
    return registry


def is_rfc3339_date_time(text: str) -> bool:
    """Strict RFC 3339 ``date-time``: calendar-valid, ``T`` and ``Z`` in either case, no newline.

    Leap seconds (``:60``) and year 0000 are refused: ``datetime`` and downstream SQL can't hold
    them.

    >>> [is_rfc3339_date_time(t) for t in ("2024-02-29T23:59:59.5+01:00", "2023-02-29T00:00:00Z",
    ...                                    "2024-01-01 00:00:00Z", "2024-01-01T00:00:00Z\\n")]
    [True, False, False, False]
    """
    match = _RFC3339.fullmatch(text)
    if match is None:
        return False
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    if year == 0 or not 1 <= month <= 12 or hour > 23 or minute > 59 or second > 59:
        return False
    if not 1 <= day <= calendar.monthrange(year, month)[1]:
        return False
    off_hour, off_minute = match.group(9), match.group(10)
    return off_hour is None or (int(off_hour) <= 23 and int(off_minute) <= 59)


def epoch_ms(text: str) -> int:
    """Milliseconds since the epoch of a valid RFC 3339 date-time (fraction truncated to ms).

    >>> epoch_ms("1970-01-01T01:00:00.0015+01:00"), epoch_ms("2024-05-01T12:00:00.25Z")
    (1, 1714564800250)
    """
    match = _RFC3339.fullmatch(text)
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    millis = int(((match.group(7) or "") + "000")[:3])
    offset_min = 0
    if match.group(8):
        sign = 1 if match.group(8) == "+" else -1
        offset_min = sign * (int(match.group(9)) * 60 + int(match.group(10)))
    seconds = calendar.timegm((year, month, day, hour, minute, second)) - offset_min * 60
    return seconds * 1000 + millis


def format_checker() -> FormatChecker:
    """jsonschema's checker with strict ``date-time`` and ``uuid`` (canonical 8-4-4-4-12 form).

    jsonschema checks ``date-time`` only when rfc3339-validator is installed, and that one
    accepts a trailing newline; its ``uuid`` check accepts e.g. a trailing ``}``. Both are
    replaced here, so the checks never depend on an optional package.
    """
    checker = FormatChecker()
    checker.checks("date-time")(lambda v: not isinstance(v, str) or is_rfc3339_date_time(v))
    checker.checks("uuid")(lambda v: not isinstance(v, str) or _UUID.fullmatch(v) is not None)
    return checker


# --- schema evolution ----------------------------------------------------------------------

_LOWER_BOUNDS = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties",
                 "minContains")
_UPPER_BOUNDS = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties",
                 "maxContains")
_OPAQUE = ("pattern", "format", "multipleOf", "anyOf", "oneOf", "not", "if", "then", "else",
           "dependentRequired", "dependentSchemas", "patternProperties", "contains",
           "unevaluatedProperties", "unevaluatedItems", "$dynamicRef")
"""Keywords compared by equality only: added or changed is breaking, removed is fine."""


def check_compatible(old_schema: dict, new_schema: dict, old_version: str,
                     new_version: str) -> list[str]:
    """Breaking changes from ``old_schema`` to ``new_schema`` (empty: compatible).

    SchemaVer: within one MODEL, the new schema must accept every event the old one accepted; a
    MODEL change may break anything (returns ``[]``). The check is structural and conservative,
    walking both schemas in parallel:

    - ``type`` must keep every old type (``integer`` is covered by ``number``);
    - ``enum``/``const`` must keep every old value; ``required`` may not grow;
    - ``min*`` may not rise and ``max*`` may not fall, nor appear;
    - a property may not be removed; ``additionalProperties`` may not be tightened; a new
      property is checked against the old ``additionalProperties`` schema, if any (so adding an
      optional property is fine while unknown properties were allowed, as SchemaVer ADDITIONs do);
    - ``properties``, ``items``, ``prefixItems``, ``propertyNames``, ``$defs`` and ``allOf``
      (by position; a new entry is breaking) are compared recursively;
    - ``pattern``, ``format``, ``anyOf``, ``not`` and other keywords in ``_OPAQUE`` are compared by
      equality: added or changed is breaking, removed is fine;
    - a ``$ref`` may only move to a later version of the same schema and MODEL (that schema's
      own history is checked by the same rule); annotations are ignored.

    >>> old = {"type": "object", "properties": {"q": {"type": "string"}}}
    >>> new = {"type": "object", "properties": {"q": {"type": "string"}, "n": {"type": "integer"}},
    ...        "required": ["n"]}
    >>> check_compatible(old, new, "1-0-0", "1-0-1")
    ["#: new required property 'n'"]
    >>> check_compatible(old, new, "1-0-0", "2-0-0")
    []
    """
    if _version_tuple(old_version)[0] != _version_tuple(new_version)[0]:
        return []
    return list(_breaking(old_schema, new_schema, "#"))


def _as_schema(schema: Any) -> dict:
    if schema is True:
        return {}
    if schema is False:
        return {"not": {}}
    return schema if isinstance(schema, dict) else {}


def _types(schema: dict) -> set[str] | None:
    declared = schema.get("type")
    if declared is None:
        return None
    return {declared} if isinstance(declared, str) else set(declared)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _allowed_values(schema: dict) -> set[str] | None:
    if "const" in schema:
        return {_canonical(schema["const"])}
    if "enum" in schema:
        return {_canonical(v) for v in schema["enum"]}
    return None


def _ref_breaks(old_ref: str | None, new_ref: str | None) -> bool:
    if new_ref is None or old_ref == new_ref:
        return False
    old_id = _SCHEMA_ID.fullmatch(old_ref or "")
    new_id = _SCHEMA_ID.fullmatch(new_ref)
    if old_id is None or new_id is None or old_id.group(1) != new_id.group(1):
        return True
    old_v, new_v = _version_tuple(old_id.group(2)), _version_tuple(new_id.group(2))
    return old_v[0] != new_v[0] or new_v < old_v


def _breaking(old_schema: Any, new_schema: Any, at: str) -> Iterator[str]:
    old, new = _as_schema(old_schema), _as_schema(new_schema)
    if _canonical(old) == _canonical(new):
        return
    old_types, new_types = _types(old), _types(new)
    if new_types is not None and (old_types is None or any(
            t not in new_types and not (t == "integer" and "number" in new_types)
            for t in old_types)):
        was = sorted(old_types) if old_types is not None else "any"
        yield f"{at}: type narrowed from {was} to {sorted(new_types)}"
    old_values, new_values = _allowed_values(old), _allowed_values(new)
    if new_values is not None and (old_values is None or not old_values <= new_values):
        yield f"{at}: enum/const narrowed"
    for keyword in _LOWER_BOUNDS:
        if keyword in new and (keyword not in old or new[keyword] > old[keyword]):
            yield f"{at}: {keyword} raised to {new[keyword]}"
    for keyword in _UPPER_BOUNDS:
        if keyword in new and (keyword not in old or new[keyword] < old[keyword]):
            yield f"{at}: {keyword} lowered to {new[keyword]}"
    if new.get("uniqueItems") is True and old.get("uniqueItems") is not True:
        yield f"{at}: uniqueItems added"
    old_required = set(old.get("required", ()))
    for name in sorted(set(new.get("required", ())) - old_required):
        yield f"{at}: new required property {name!r}"
    for keyword in _OPAQUE:
        if keyword in new and (keyword not in old
                               or _canonical(old[keyword]) != _canonical(new[keyword])):
            yield f"{at}: {keyword} added or changed"
    if _ref_breaks(old.get("$ref"), new.get("$ref")):
        yield f"{at}: $ref moved from {old.get('$ref')!r} to {new.get('$ref')!r}"

    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    old_extra = old.get("additionalProperties", True)
    for name, sub in old_props.items():
        if name not in new_props:
            yield f"{at}: property {name!r} removed"
        else:
            yield from _breaking(sub, new_props[name], f"{at}/properties/{name}")
    if isinstance(old_extra, dict):
        for name in new_props.keys() - old_props.keys():
            yield from _breaking(old_extra, new_props[name], f"{at}/properties/{name}")
    new_extra = new.get("additionalProperties", True)
    if new_extra is False and old_extra is not False:
        yield f"{at}: additionalProperties tightened to false"
    elif old_extra is not False and "additionalProperties" in new:
        yield from _breaking(old_extra, new_extra, f"{at}/additionalProperties")

    old_defs, new_defs = old.get("$defs", {}), new.get("$defs", {})
    for name, sub in old_defs.items():
        if name not in new_defs:
            yield f"{at}: $defs {name!r} removed"
        else:
            yield from _breaking(sub, new_defs[name], f"{at}/$defs/{name}")
    old_prefix, new_prefix = old.get("prefixItems", []), new.get("prefixItems", [])
    for i in range(max(len(old_prefix), len(new_prefix))):
        old_item = old_prefix[i] if i < len(old_prefix) else old.get("items", True)
        new_item = new_prefix[i] if i < len(new_prefix) else new.get("items", True)
        yield from _breaking(old_item, new_item, f"{at}/prefixItems/{i}")
    for keyword in ("items", "propertyNames"):
        if keyword in new:  # absent in new accepts anything
            yield from _breaking(old.get(keyword, True), new[keyword], f"{at}/{keyword}")
    old_all, new_all = old.get("allOf", []), new.get("allOf", [])
    for i, sub in enumerate(new_all):
        if i >= len(old_all):
            yield f"{at}: allOf entry {i} added"
        else:
            yield from _breaking(old_all[i], sub, f"{at}/allOf/{i}")


# --- enrichment ----------------------------------------------------------------------------

def _dig(node: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def geo_from_record(record: Any) -> dict:
    """Map an MMDB record to ``geo``: MaxMind's layout (GeoLite2-City/-Country, DB-IP's own
    files) or the flat one of the ip-location-db builds (``country_code``, ``state1``, ``city``,
    ``latitude``, ``longitude``), which the default DB-IP Country Lite download uses.

    Keys are always present; a value the database does not have is None (DB-IP lite gives no
    subdivision ``iso_code``, a Country database no city or location).

    >>> geo_from_record({"country": {"iso_code": "DE"}, "subdivisions": [{"iso_code": "BE"}],
    ...                  "city": {"names": {"en": "Berlin"}},
    ...                  "location": {"latitude": 52.52, "longitude": 13.40}})
    {'country': 'DE', 'region': 'BE', 'city': 'Berlin', 'latitude': 52.52, 'longitude': 13.4}
    >>> geo_from_record({"country_code": "GB"})["country"]
    'GB'
    >>> geo_from_record(None) == NULL_GEO
    True
    """
    subdivisions = _dig(record, "subdivisions")
    first = subdivisions[0] if isinstance(subdivisions, list) and subdivisions else None

    def pick(*candidates: Any) -> Any:
        return next((c for c in candidates if c is not None), None)

    geo = {"country": pick(_dig(record, "country", "iso_code"), _dig(record, "country_code")),
           "region": pick(_dig(first, "iso_code"), _dig(record, "state1")),
           "city": pick(_dig(record, "city", "names", "en"), _dig(record, "city")),
           "latitude": pick(_dig(record, "location", "latitude"), _dig(record, "latitude")),
           "longitude": pick(_dig(record, "location", "longitude"), _dig(record, "longitude"))}
    for key in ("country", "region", "city"):
        if not isinstance(geo[key], str):
            geo[key] = None
    for key in ("latitude", "longitude"):
        if isinstance(geo[key], bool) or not isinstance(geo[key], (int, float)):
            geo[key] = None
    return geo


def build_ua_parser(cache_size: int = UA_CACHE_SIZE, native: bool = True) -> Parser:
    """A ua-parser ``Parser`` over the builtins regexes, behind an S3-FIFO cache.

    Uses the ua-parser-rs resolver when ``native`` and installed (lazy matchers: the Python
    regexes are never compiled), else the pure-Python ``BasicResolver``.
    """
    if native and NativeResolver is not None:
        resolver = NativeResolver(load_lazy_builtins())
    else:
        resolver = BasicResolver(load_builtins())
    return Parser(CachingResolver(resolver, Cache(cache_size)))


_MOBILE_OS = frozenset({"iOS", "Android", "Windows Phone", "Windows Mobile", "BlackBerry OS",
                        "BlackBerry Tablet OS", "KaiOS", "Symbian OS", "Firefox OS", "HarmonyOS",
                        "Tizen", "Sailfish", "webOS"})
_MOBILE_DEVICES = frozenset({"iPhone", "iPod", "Generic Smartphone", "Generic Feature Phone"})
_DESKTOP_OS = frozenset({"Mac OS X", "macOS", "Chrome OS", "ChromeOS", "Ubuntu", "Fedora",
                         "Debian", "FreeBSD", "OpenBSD", "NetBSD", "Solaris", "Linux Mint"})


def _version(parsed: Any) -> str | None:
    parts = []
    for part in (parsed.major, parsed.minor, parsed.patch, parsed.patch_minor):
        if part is None:
            break
        parts.append(part)
    return ".".join(parts) or None


def _family(parsed: Any) -> str | None:
    return None if parsed is None or parsed.family == "Other" else parsed.family


def device_from_user_agent(parser: Parser, user_agent: str | None) -> dict:
    """``device`` of an event: ``{type, os, os_version, browser, browser_version}``.

    ``type`` comes from the first rule that holds (all None when there is no User-Agent):

    1. ``bot``: uap's device family is ``Spider`` (its family for crawlers);
    2. ``tablet``: device family ``iPad`` or ``Kindle``, "tablet" in the device family, brand or
       model, or Android without the ``Mobile`` token (tablets omit it, and so do Android TVs);
    3. ``mobile``: a mobile OS (iOS, Android, ...) or an iPhone/iPod/generic smartphone;
    4. ``desktop``: Windows (not Phone/Mobile), macOS, ChromeOS, Linux or a BSD;
    5. ``other``: anything else (curl, TVs, consoles, unknown).

    An iPad in "desktop site" mode sends a Mac User-Agent and is counted as desktop.

    >>> parser = build_ua_parser()
    >>> device_from_user_agent(parser, "Mozilla/5.0 (compatible; Googlebot/2.1; "
    ...                        "+http://www.google.com/bot.html)")["type"]
    'bot'
    """
    if not user_agent:
        return {"type": None, "os": None, "os_version": None, "browser": None,
                "browser_version": None}
    parsed = parser.parse(user_agent)
    os_family, browser = _family(parsed.os), _family(parsed.user_agent)
    device = parsed.device
    device_family = _family(device)
    device_words = " ".join(filter(None, (device_family, device and device.brand,
                                          device and device.model))).lower()
    if device_family == "Spider":
        kind = "bot"
    elif (device_family in ("iPad", "Kindle") or "tablet" in device_words
          or (os_family == "Android" and "Mobile" not in user_agent)):
        kind = "tablet"
    elif os_family in _MOBILE_OS or device_family in _MOBILE_DEVICES:
        kind = "mobile"
    elif os_family is not None and (os_family.startswith("Windows") or os_family in _DESKTOP_OS
                                    or "Linux" in os_family):
        kind = "desktop"
    else:
        kind = "other"
    return {"type": kind, "os": os_family,
            "os_version": _version(parsed.os) if os_family else None,
            "browser": browser,
            "browser_version": _version(parsed.user_agent) if browser else None}


def _received_at(received_at_ms: Any) -> str:
    if isinstance(received_at_ms, bool) or not isinstance(received_at_ms, int):
        raise ValueError("source['received_at_ms'] must be the receive time in epoch "
                         f"milliseconds (int), got {received_at_ms!r}")
    seconds, millis = divmod(received_at_ms, 1000)
    stamp = datetime.fromtimestamp(seconds, tz=timezone.utc)
    return f"{stamp:%Y-%m-%dT%H:%M:%S}.{millis:03d}Z"


# --- body parsing --------------------------------------------------------------------------

def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON value")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"number {text[:40]} is out of range for a double")
    return value


_DECODER = json.JSONDecoder(parse_constant=_no_constant, parse_float=_finite_float)


def _parse_body(text: str) -> tuple[bool, list[tuple[str, Any]]]:
    """``(is_array, [(raw_text, value), ...])`` of a JSON body, each raw text byte-exact.

    Raises ValueError (json.JSONDecodeError among them) when the text is not one JSON value.
    """
    pos = _JSON_WS.match(text).end()
    if text.startswith("\ufeff", pos):  # a UTF-8 BOM, which some clients send
        pos = _JSON_WS.match(text, pos + 1).end()
    items: list[tuple[str, Any]] = []
    is_array = text.startswith("[", pos)
    if not is_array:
        value, end = _DECODER.raw_decode(text, pos)
        items.append((text[pos:end], value))
    else:
        pos = _JSON_WS.match(text, pos + 1).end()
        end = pos + 1 if text.startswith("]", pos) else None
        while end is None:
            value, after = _DECODER.raw_decode(text, pos)
            items.append((text[pos:after], value))
            pos = _JSON_WS.match(text, after).end()
            if text.startswith(",", pos):
                pos = _JSON_WS.match(text, pos + 1).end()
            elif text.startswith("]", pos):
                end = pos + 1
            else:
                raise json.JSONDecodeError("Expecting ',' delimiter or ']'", text, pos)
    tail = _JSON_WS.match(text, end).end()
    if tail != len(text):
        raise json.JSONDecodeError("Extra data", text, tail)
    return is_array, items


# --- errors --------------------------------------------------------------------------------

def _pointer(path: Any) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


def _short(message: str) -> str:
    return message if len(message) <= MAX_MESSAGE_CHARS else message[:MAX_MESSAGE_CHARS - 1] + "…"


def _error(code: str, message: str, field: str = "", rule: str | None = None) -> dict:
    return {"code": code, "rule": rule, "field": field, "message": _short(message)}


def _missing_property(error: ValidationError) -> str | None:
    instance = error.instance if isinstance(error.instance, dict) else {}
    missing = [p for p in error.validator_value if p not in instance]
    for name in missing:
        if error.message == f"{name!r} is a required property":
            return name
    return missing[0] if missing else None


def _violation(error: ValidationError) -> dict:
    """A jsonschema error as ``{code, rule, field, message}``; ``field`` points into the event."""
    path = list(error.absolute_path)
    rule = error.validator if isinstance(error.validator, str) else None
    if rule == "required":
        missing = _missing_property(error)
        if missing is not None:
            path.append(missing)
    description = error.schema.get("description") if isinstance(error.schema, dict) else None
    if rule in ("anyOf", "oneOf", "not") and isinstance(description, str):
        message = description
    elif isinstance(error.instance, (dict, list)):  # don't echo a whole object into the message
        shown = "the object" if isinstance(error.instance, dict) else "the array"
        message = error.message.replace(repr(error.instance), shown)
    else:
        message = error.message
    return _error("schema_violation", message, _pointer(path), rule)


def _violations(errors: list[ValidationError]) -> tuple[dict, list[dict]]:
    """``(reason, errors)``: the most relevant error by jsonschema's ``relevance`` heuristic (a
    shallow error first, ``anyOf``/``oneOf`` last among equals), and all errors sorted by
    ``(field, rule, message)``."""
    reason = _violation(max(errors, key=relevance))
    return reason, sorted((_violation(e) for e in errors),
                          key=lambda e: (e["field"], e["rule"] or "", e["message"]))


def _echo(event: Any, key: str) -> str | None:
    value = event.get(key) if isinstance(event, dict) else None
    return value if isinstance(value, str) and len(value) <= MAX_ECHO_CHARS else None


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
        value = {"reason": reason or errors[0], "errors": errors,
                 "event_type": _echo(event, "event_type"),
                 "schema_version": _echo(event, "schema_version"),
                 "event_id": _echo(event, "event_id"), "batch_index": batch_index}
        if payload is not None:
            value["payload"] = payload
        else:
            value["payload_base64"] = base64.b64encode(payload_bytes or b"").decode("ascii")
        value.update(received_at=self.received_at, source=dict(self.source),
                     deadletter_schema=DEADLETTER_SCHEMA)
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
        self.schemas = load_schemas(schema_dir)
        registry = _registry(self.schemas)
        checker = format_checker()
        for (name, version), schema in self.schemas.items():
            unchecked = sorted(set(_walk(schema, "format")) - set(checker.checkers))
            if unchecked:
                raise IngestConfigError(f"schema {name}/{version} uses format {unchecked} that "
                                        "jsonschema would not check; remove it or add a checker "
                                        "to format_checker()")

        def compile_schema(schema: dict) -> Draft202012Validator:
            return Draft202012Validator(schema, registry=registry, format_checker=checker)

        self._validators: dict[tuple[str, str], Draft202012Validator] = {}
        versions: dict[str, list[str]] = {}
        for (name, version), schema in self.schemas.items():
            if name in NON_EVENT_SCHEMAS:
                continue
            if _dig(schema, "properties", "event_type", "const") != name:
                raise IngestConfigError(f"event schema {name}/{version} must pin "
                                        f'"properties": {{"event_type": {{"const": "{name}"}}}}')
            self._validators[(name, version)] = compile_schema(schema)
            versions.setdefault(name, []).append(version)
        self.versions = {name: tuple(sorted(v, key=_version_tuple)) for name, v in versions.items()}
        """Known event types and their versions, oldest first."""
        envelopes = [v for (name, v) in self.schemas if name == "envelope"]
        if not envelopes:
            raise IngestConfigError(f"no envelope/<version>.json under {schema_dir}")
        self._envelope = compile_schema(
            self.schemas[("envelope", max(envelopes, key=_version_tuple))])
        self._geoip = self._open_geoip(geoip_database) if geoip_database else None
        self.ua_parser = build_ua_parser()

    @staticmethod
    def _open_geoip(path: str) -> maxminddb.Reader:
        try:
            return maxminddb.open_database(path)
        except (OSError, ValueError, maxminddb.InvalidDatabaseError) as err:
            raise IngestConfigError(f"GeoIP database {path} cannot be opened: {err}; pass a "
                                    "MaxMind-format .mmdb or None to skip geo") from err

    def close(self) -> None:
        """Close the GeoIP database (NiFi: ``onStopped``)."""
        if self._geoip is not None:
            self._geoip.close()
            self._geoip = None

    def geo(self, ip: str | None) -> dict:
        """``geo`` of a client address; null values without a database, for private or unknown
        addresses, and for an address that is not an IP (or IPv6 in an IPv4-only database)."""
        if self._geoip is None or not ip:
            return dict(NULL_GEO)
        try:
            return geo_from_record(self._geoip.get(ip))
        except (ValueError, TypeError):  # not an IP address, or IPv6 in an IPv4 database
            return dict(NULL_GEO)

    def process(self, body: bytes, source: dict) -> IngestResult:
        """Turn one request body into enriched records and dead letters.

        ``source`` is ``{"ip", "user_agent", "received_at_ms", "content_type"}`` of the request.
        A JSON object is one event, a JSON array a batch of events handled one by one; anything
        else is one dead letter. Raises only when ``source['received_at_ms']`` is not an int.
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
            text = body.decode("utf-8")
        except UnicodeDecodeError as err:
            result.deadletters.append(request.deadletter(
                [_error("invalid_utf8", f"body is not UTF-8: {err}")], payload_bytes=body))
            return result
        try:
            is_array, items = _parse_body(text)
        except (ValueError, RecursionError) as err:
            message = "JSON nested too deeply" if isinstance(err, RecursionError) else str(err)
            result.deadletters.append(request.deadletter(
                [_error("malformed_json", f"body is not JSON: {message}")], payload=text))
            return result
        if not is_array and not isinstance(items[0][1], dict):
            result.deadletters.append(request.deadletter([_error(
                "not_an_event", f"body is a JSON {_json_type(items[0][1])}, expected an event "
                "object or an array of them")], payload=text))
            return result
        if is_array and not items:
            result.deadletters.append(request.deadletter(
                [_error("empty_batch", "body is an empty array: no event to ingest")],
                payload=text))
            return result
        for index, (raw, event) in enumerate(items):
            batch_index = index if is_array else None
            try:
                self._one(request, raw, event, batch_index, result)
            except Exception as err:  # a bug must not lose the event: dead-letter it, loudly
                log.exception("ingest failed on event %s of a body", index)
                result.deadletters.append(request.deadletter(
                    [_error("internal_error", f"{type(err).__name__}: {err}")], event=event,
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
            return request.deadletter([_error(code, message)], payload=body.decode("utf-8"))
        except UnicodeDecodeError:
            return request.deadletter([_error(code, message)], payload_bytes=body)

    def _one(self, request: _Request, raw: str, event: Any, batch_index: int | None,
             result: IngestResult) -> None:
        def reject(errors: list[dict], reason: dict | None = None) -> None:
            result.deadletters.append(request.deadletter(
                errors, reason=reason, event=event, payload=raw, batch_index=batch_index))

        if not isinstance(event, dict):
            return reject([_error("not_an_event",
                                  f"a JSON {_json_type(event)}, expected an event object")])
        event_type, version = event.get("event_type"), event.get("schema_version")
        if not isinstance(event_type, str):
            return reject(*self._envelope_errors(event))
        if event_type not in self.versions:
            return reject([_error("unknown_event_type", f"unknown event_type {event_type!r}; "
                                  f"known: {', '.join(sorted(self.versions))}", "/event_type")])
        if not isinstance(version, str):
            return reject(*self._envelope_errors(event))
        validator = self._validators.get((event_type, version))
        if validator is None:
            return reject([_error("unknown_schema_version",
                                  f"unknown schema_version {version!r} of {event_type}; known: "
                                  f"{', '.join(self.versions[event_type])}", "/schema_version")])
        errors = list(validator.iter_errors(event))
        if errors:
            reason, details = _violations(errors)
            return reject(details, reason)
        geo, device = request.enrichment()
        value = {**event, "received_at": request.received_at,
                 "received_at_ms": request.received_at_ms,
                 "client_ts_ms": epoch_ms(event["client_ts"]),
                 "schema": f"{event_type}/{version}", "geo": dict(geo), "device": dict(device)}
        result.enriched.append(Record(user_key(event.get("user_id"), event.get("anonymous_id")),
                                      value))
        return None

    def _envelope_errors(self, event: dict) -> tuple[list[dict], dict]:
        """Envelope violations of an event whose type or version is missing or not a string."""
        errors = list(self._envelope.iter_errors(event))
        if not errors:  # unreachable while the envelope requires both as strings
            error = _error("schema_violation", "event_type and schema_version must be strings",
                           "/event_type", "type")
            return [error], error
        reason, details = _violations(errors)
        return details, reason


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return {str: "string", list: "array", dict: "object"}[type(value)]

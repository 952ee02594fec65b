"""The event schema files, ``schemas/<name>/<MODEL-REVISION-ADDITION>.json`` beside this
module (JSON Schema 2020-12): the one source NiFi validates with, the Flink table is typed from
and the tests check samples against.

The names are the event types plus the non-event schemas :data:`NON_EVENT_SCHEMAS` (the shared
envelope, what ingest adds, a dead letter).

>>> schemas = load_schemas(SCHEMA_DIR)
>>> ("product_view", "1-0-0") in schemas, latest(schemas, "deadletter")
(True, '1-3-0')
>>> sorted(event_types(schemas))[:3]
['add_to_cart', 'click', 'customer_update']
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

from personastream_contracts.schemaver import SCHEMA_ID, version_tuple

SCHEMA_DIR = Path(__file__).resolve().with_name("schemas")
"""The schema files shipped beside this module."""
SCHEMA_URN = "urn:personastream:{name}:{version}"
"""``$id`` of a schema file; an absolute ``$ref`` uses the same form."""
NON_EVENT_SCHEMAS = frozenset({"envelope", "enrichment", "deadletter"})
#: Event types that report what the storefront showed and what was clicked on it (experiments'
#: exposures and outcomes, promotion banners), not the customer's own activity: the profile
#: jobs leave them out (a click leads to the product view that counts).
EXPOSURE_EVENT_TYPES = ("impression", "click")
"""Schema files that are not event types (every other one must pin ``event_type`` by const)."""


class SchemaFileError(ValueError):
    """A schema file is unreadable, misnamed, not a valid schema, or refers to nothing."""


def schema_identity(schema: dict) -> tuple[str, str]:
    """``(name, version)`` that a schema declares in its ``$id``.

    >>> schema_identity({"$id": "urn:personastream:page_view:1-0-0"})
    ('page_view', '1-0-0')
    """
    declared = schema.get("$id") if isinstance(schema, dict) else None
    match = SCHEMA_ID.fullmatch(declared) if isinstance(declared, str) else None
    if match is None:
        raise SchemaFileError(f"schema $id {declared!r} is not of the form "
                              f"{SCHEMA_URN.format(name='<name>', version='<M-R-A>')}")
    return match.group(1), match.group(2)


def load_schemas(schema_dir: str | Path = SCHEMA_DIR) -> dict[tuple[str, str], dict]:
    """Read and check every ``<name>/<version>.json`` under ``schema_dir``.

    Returns ``{(name, version): schema}``. Raises :class:`SchemaFileError` when a file is not
    JSON, not a valid draft 2020-12 schema, or declares an ``$id`` other than its path.
    """
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    root = Path(schema_dir)
    if not root.is_dir():
        raise SchemaFileError(f"schema directory {root} does not exist; pass the `schemas` "
                              f"folder of personastream_contracts ({SCHEMA_DIR})")
    schemas: dict[tuple[str, str], dict] = {}
    for path in sorted(root.glob("*/*.json")):
        try:
            schema = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise SchemaFileError(f"schema file {path} is not readable JSON: {err}") from err
        if schema_identity(schema) != (path.parent.name, path.stem):
            raise SchemaFileError(
                f"schema file {path} declares $id {schema.get('$id')!r}; rename the file or set "
                f"$id to {SCHEMA_URN.format(name=path.parent.name, version=path.stem)!r}")
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as err:
            raise SchemaFileError(f"schema file {path} is not a valid draft 2020-12 schema: "
                                  f"{err.message}") from err
        schemas[(path.parent.name, path.stem)] = schema
    if not schemas:
        raise SchemaFileError(f"no <name>/<version>.json schema files under {root}")
    return schemas


def event_types(schemas: dict[tuple[str, str], dict]) -> dict[str, tuple[str, ...]]:
    """Each event type and its versions, oldest first."""
    versions: dict[str, list[str]] = {}
    for name, version in schemas:
        if name not in NON_EVENT_SCHEMAS:
            versions.setdefault(name, []).append(version)
    return {name: tuple(sorted(v, key=version_tuple)) for name, v in versions.items()}


def pinned_event_type(schema: dict) -> str | None:
    """The event type an event schema pins (``properties.event_type.const``), or None.

    >>> pinned_event_type({"properties": {"event_type": {"const": "search"}}})
    'search'
    """
    pinned = schema.get("properties", {}).get("event_type", {})
    return pinned.get("const") if isinstance(pinned, dict) else None


def latest(schemas: dict[tuple[str, str], dict], name: str) -> str:
    """The newest version of schema ``name``."""
    versions = [v for (n, v) in schemas if n == name]
    if not versions:
        raise SchemaFileError(f"no {name}/<version>.json among the schemas")
    return max(versions, key=version_tuple)


def walk(node: Any, key: str) -> Iterator[Any]:
    """Every string value under ``key`` anywhere in a schema document."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key and isinstance(v, str):
                yield v
            else:
                yield from walk(v, key)
    elif isinstance(node, list):
        for v in node:
            yield from walk(v, key)


def registry(schemas: dict[tuple[str, str], dict]):
    """A ``referencing`` registry of all schemas, with every ``$ref`` checked to resolve."""
    from referencing import Registry
    from referencing.exceptions import Unresolvable
    from referencing.jsonschema import DRAFT202012

    reg = Registry().with_resources(
        (s["$id"], DRAFT202012.create_resource(s)) for s in schemas.values()).crawl()
    for (name, version), schema in schemas.items():
        resolver = reg.resolver(base_uri=schema["$id"])
        for ref in walk(schema, "$ref"):
            try:
                resolver.lookup(ref)
            except Unresolvable as err:
                raise SchemaFileError(f"schema {name}/{version}: $ref {ref!r} does not resolve; "
                                      "refer to urn:personastream:<name>:<version> of a schema "
                                      "file, or to a local '#/...' pointer") from err
    return reg


def fast_validator(schemas: dict[tuple[str, str], dict], key: tuple[str, str]):
    """A compiled validator of schema ``key`` in Rust (jsonschema-rs, ~30x faster than
    :func:`validator`) with the same strict formats; for ``is_valid``. Its errors are worded
    differently: take reasons from :func:`validator`.

    >>> schemas = load_schemas()
    >>> fast = fast_validator(schemas, ("search", "1-0-0"))
    >>> fast.is_valid({"event_type": "search"}), fast.is_valid({
    ...     "event_id": "0f8fad5b-d9cb-469f-a165-70867728950e", "event_type": "search",
    ...     "schema_version": "1-0-0", "anonymous_id": "a", "client_ts": "2024-05-01T12:00:00Z",
    ...     "query": "boots"})
    (False, True)
    """
    import jsonschema_rs

    from personastream_contracts.formats import is_rfc3339_date_time, is_uuid

    registry_rs = jsonschema_rs.Registry([(s["$id"], s) for s in schemas.values()])
    return jsonschema_rs.Draft202012Validator(
        schemas[key], registry=registry_rs, validate_formats=True, ignore_unknown_formats=False,
        formats={"date-time": is_rfc3339_date_time, "uuid": is_uuid})


def validator(schemas: dict[tuple[str, str], dict], key: tuple[str, str], reg=None):
    """A compiled draft 2020-12 validator of schema ``key`` with strict formats (every ``format``
    the schemas use must have a checker: an unchecked one is refused)."""
    from jsonschema import Draft202012Validator

    from personastream_contracts.formats import format_checker

    checker = format_checker()
    unchecked = sorted(set(walk(schemas[key], "format")) - set(checker.checkers))
    if unchecked:
        raise SchemaFileError(f"schema {key[0]}/{key[1]} uses format {unchecked} that jsonschema "
                              "would not check; remove it or add a checker to "
                              "personastream_contracts.formats.format_checker()")
    return Draft202012Validator(schemas[key], registry=reg if reg is not None else
                                registry(schemas), format_checker=checker)

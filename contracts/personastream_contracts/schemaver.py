"""SchemaVer (``MODEL-REVISION-ADDITION``) versions of the event schemas, and the rule a new
version must keep: within one MODEL, the new schema accepts every event the old one accepted.

>>> version_tuple("1-2-0") < version_tuple("1-10-0")
True
"""
from __future__ import annotations

import json
import re
from typing import Any, Iterator

SCHEMAVER = re.compile(r"([1-9][0-9]*)-(0|[1-9][0-9]*)-(0|[1-9][0-9]*)")
SCHEMA_ID = re.compile(r"urn:personastream:([a-z][a-z0-9_]*):(" + SCHEMAVER.pattern + ")")
"""``$id`` of a schema file, ``urn:personastream:<name>:<version>``; an absolute ``$ref`` too."""


def version_tuple(version: str) -> tuple[int, int, int]:
    """``(MODEL, REVISION, ADDITION)`` of a SchemaVer string; ValueError if it is not one."""
    match = SCHEMAVER.fullmatch(version) if isinstance(version, str) else None
    if match is None:
        raise ValueError(f"{version!r} is not a SchemaVer MODEL-REVISION-ADDITION like '1-0-0'")
    return int(match.group(1)), int(match.group(2)), int(match.group(3))


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
    if version_tuple(old_version)[0] != version_tuple(new_version)[0]:
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
    old_id = SCHEMA_ID.fullmatch(old_ref or "")
    new_id = SCHEMA_ID.fullmatch(new_ref)
    if old_id is None or new_id is None or old_id.group(1) != new_id.group(1):
        return True
    old_v, new_v = version_tuple(old_id.group(2)), version_tuple(new_id.group(2))
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

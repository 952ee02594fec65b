"""JSON Schema validation errors as dead-letter reasons: ``{code, rule, field, message}`` with
``field`` a JSON Pointer into the event."""
from __future__ import annotations

from typing import Any

from jsonschema.exceptions import ValidationError, relevance

from personastream_contracts import deadletters


def pointer(path: Any) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


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
    return deadletters.error("schema_violation", message, pointer(path), rule)


def violations(errors: list[ValidationError]) -> tuple[dict, list[dict]]:
    """``(reason, errors)``: the most relevant error by jsonschema's ``relevance`` heuristic (a
    shallow error first, ``anyOf``/``oneOf`` last among equals), and all errors sorted by
    ``(field, rule, message)``."""
    reason = _violation(max(errors, key=relevance))
    return reason, sorted((_violation(e) for e in errors),
                          key=lambda e: (e["field"], e["rule"] or "", e["message"]))

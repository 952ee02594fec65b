"""Flink SQL kept in ``sql/*.sql`` with ``${name}`` placeholders, filled with quoted literals.

Values are always rendered as SQL string literals (quotes doubled), never spliced as code; a
bare ``$`` (as in JSON paths) is left alone. ``{{name}}`` takes a fragment of SQL that code
built from checked identifiers and known types (e.g. a column list from the schemas), never
from settings or input.

>>> render_text("'topic' = ${topic}", topic="events.enriched")
"'topic' = 'events.enriched'"
>>> render_text("JSON_VALUE(p, '$.a') = ${v}", v="it's")
"JSON_VALUE(p, '$.a') = 'it''s'"
"""
from __future__ import annotations

import re
from importlib.resources import files

_PLACEHOLDER = re.compile(r"\$\{([a-z_][a-z0-9_]*)\}")
_FRAGMENT = re.compile(r"\{\{([a-z_][a-z0-9_]*)\}\}")


def interval(seconds: int) -> str:
    """A day-time interval literal of whole seconds (Flink caps ``SECOND``'s precision at 2
    digits, so longer spans are written as hours, minutes and seconds).

    >>> interval(300), interval(5)
    ("INTERVAL '0:05:00' HOUR TO SECOND", "INTERVAL '0:00:05' HOUR TO SECOND")
    """
    hours, rest = divmod(int(seconds), 3600)
    if not 0 <= hours < 100:
        raise ValueError(f"interval of {seconds} s is out of range (0 to 99 hours)")
    return f"INTERVAL '{hours}:{rest // 60:02d}:{rest % 60:02d}' HOUR TO SECOND"


def literal(value: object) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def options(values: dict[str, str]) -> str:
    """A ``WITH (...)`` option list, keys and values as quoted literals.

    >>> options({"connector": "kafka", "topic": "it's"})
    "'connector' = 'kafka',\\n    'topic' = 'it''s'"
    """
    return ",\n    ".join(f"{literal(k)} = {literal(v)}" for k, v in values.items())


def render_text(text: str, **params: object) -> str:
    missing = sorted(set(_PLACEHOLDER.findall(text)) - set(params))
    if missing:
        raise KeyError(f"SQL placeholders without a value: {', '.join(missing)}")
    return _PLACEHOLDER.sub(lambda m: literal(params[m.group(1)]), text)


def render(name: str, fragments: dict[str, str] | None = None, **params: object) -> str:
    """The statement in ``sql/<name>.sql`` with its fragments and placeholders filled."""
    text = (files(__package__) / "sql" / f"{name}.sql").read_text()
    fragments = fragments or {}
    missing = sorted(set(_FRAGMENT.findall(text)) - set(fragments))
    if missing:
        raise KeyError(f"SQL fragments without a value: {', '.join(missing)}")
    text = _FRAGMENT.sub(lambda m: fragments[m.group(1)], text)
    return render_text(text, **params)

"""Who an event belongs to: the rule every stage keys by (NiFi keys Kafka records by it, the
jobs key their state and rows by it, the API looks customers up by it), in Python and as a SQL
expression (the jobs' unit tests run both on the same events).

>>> user_key("u-42", "a-7"), user_key(None, "a-7"), user_key("", None)
('u-42', 'anon:a-7', None)
>>> user_key_sql("user_id", "anonymous_id")
"COALESCE(NULLIF(user_id, ''), CONCAT('anon:', NULLIF(anonymous_id, '')))"
"""
from __future__ import annotations

from typing import Any

ANONYMOUS_PREFIX = "anon:"


def user_key(user_id: Any, anonymous_id: Any) -> str | None:
    """The user id, else ``anon:`` + the anonymous id, else None; only non-empty strings count."""
    if isinstance(user_id, str) and user_id:
        return user_id
    if isinstance(anonymous_id, str) and anonymous_id:
        return ANONYMOUS_PREFIX + anonymous_id
    return None


def user_key_sql(user_id: str, anonymous_id: str) -> str:
    """:func:`user_key` as a SQL expression over two string columns (named by the caller)."""
    return (f"COALESCE(NULLIF({user_id}, ''), CONCAT('{ANONYMOUS_PREFIX}', "
            f"NULLIF({anonymous_id}, '')))")

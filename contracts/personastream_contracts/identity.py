"""Who an event belongs to: the rule every stage keys by (NiFi keys Kafka records by it, the
jobs key their state and rows by it, the API looks customers up by it).

>>> user_key("u-42", "a-7"), user_key(None, "a-7"), user_key("", None)
('u-42', 'anon:a-7', None)
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

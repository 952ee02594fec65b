"""Erasure requests: a customer to forget, one record per request on ``topic_user_erasures``
(keyed by ``user_key``, in the partition the jobs' records of that key go to).

Whoever erases a customer (the API's ``DELETE /v1/users/{key}``; later a delete in the CRM)
publishes the request first and deletes the stored rows after it; every job that keeps state
about customers reads the topic beside its events and clears that customer's state, so the
customer's next event starts a new profile instead of bringing the erased one back.

>>> value = erasure_value("user-1", "api", 1_700_000_000_000)
>>> value
b'{"user_key": "user-1", "source": "api", "requested_at_ms": 1700000000000}'
>>> erased_key(value)
'user-1'
>>> erased_key('{"source": "api"}')
Traceback (most recent call last):
...
ValueError: not an erasure request (no user_key): '{"source": "api"}'
"""
from __future__ import annotations

import json
import time

from personastream_contracts.topics import deliver, producer_config

#: Who asked: the API's erase endpoint, or a delete in the operational database.
SOURCES = ("api", "cdc")


def erasure_value(user_key: str, source: str, requested_at_ms: int) -> bytes:
    """The record's value (JSON)."""
    if source not in SOURCES:
        raise ValueError(f"unknown erasure source {source!r}: one of {', '.join(SOURCES)}")
    return json.dumps({"user_key": user_key, "source": source,
                       "requested_at_ms": requested_at_ms}).encode()


def erased_key(value: str | bytes) -> str:
    """The ``user_key`` an erasure request names."""
    try:
        key = json.loads(value).get("user_key")
    except (ValueError, AttributeError):
        key = None
    if not isinstance(key, str) or not key:
        text = value.decode(errors="replace") if isinstance(value, bytes) else value
        raise ValueError(f"not an erasure request (no user_key): {text[:200]!r}")
    return key


def publish(settings, user_key: str, source: str, timeout_s: float = 10.0) -> str | None:
    """Publish the erasure of ``user_key`` and wait for Kafka's acknowledgement: None once
    acknowledged, else why not."""
    from confluent_kafka import Producer

    return deliver(Producer(producer_config(settings, log_level=0)),
                   settings.topic_user_erasures, user_key,
                   erasure_value(user_key, source, int(time.time() * 1000)), timeout_s)

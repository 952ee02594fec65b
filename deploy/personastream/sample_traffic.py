"""Seeded sample clickstream, sent to NiFi's HTTP endpoint the way an SDK would, and read back.

>>> events = sample_events(n_events=4, n_users=2, seed=7)
>>> [e["event_type"] for e in events] == [e["event_type"] for e in sample_events(4, 2, seed=7)]
True
>>> sorted(events[0])
['anonymous_id', 'client_ts', 'event_id', 'event_type', 'item_id', 'user_id']
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import random
import sys
import time
import uuid

import requests

from personastream.errors import PersonastreamError
from personastream.settings import Settings
from personastream.stack.cassandra import keyspace, session

log = logging.getLogger(__name__)

EVENT_TYPES = ("page_view", "product_view", "product_view", "add_to_cart", "search")


class TrafficError(PersonastreamError):
    """Sample events could not be sent or did not land."""


def sample_events(n_events: int, n_users: int, seed: int) -> list[dict]:
    """``n_events`` events spread over ``n_users`` users (every third one anonymous)."""
    rng = random.Random(seed)
    now = dt.datetime.now(dt.timezone.utc)
    events = []
    for i in range(n_events):
        user = rng.randrange(n_users)
        anonymous = user % 3 == 2
        events.append({
            "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "event_type": rng.choice(EVENT_TYPES),
            "user_id": None if anonymous else f"user-{user}",
            "anonymous_id": f"device-{user}",
            "client_ts": (now + dt.timedelta(milliseconds=i)).isoformat(timespec="milliseconds"),
            "item_id": f"item-{rng.randrange(20)}",
        })
    return events


def user_key_of(event: dict) -> str:
    from personastream_flink.identity import user_key

    return user_key(event.get("user_id"), event.get("anonymous_id"))


def item_of(payload: str) -> str:
    """The ``item_id`` of a stored event payload ('-' when it has none)."""
    try:
        return str(json.loads(payload).get("item_id") or "-")
    except (ValueError, AttributeError):
        return "-"


def post_events(url: str, events: list[dict], timeout_s: float = 10) -> float:
    """POST each event as one JSON request; return the seconds it took. Progress on stderr."""
    started = time.monotonic()
    with requests.Session() as http:
        for i, event in enumerate(events, 1):
            try:
                resp = http.post(url, json=event, timeout=timeout_s)
            except requests.ConnectionError as err:
                raise TrafficError(f"NiFi's ingest endpoint {url} refused the connection; is the "
                                   "flow deployed and running? (`personastream flows status`)") from err
            if resp.status_code >= 300:
                raise TrafficError(f"NiFi answered {resp.status_code} to event {event['event_id']}"
                                   f" at {url}: {resp.text[:200]}")
            if i % 25 == 0 or i == len(events):
                print(f"[traffic] sent {i}/{len(events)}", file=sys.stderr)
    return time.monotonic() - started


def wait_landed(settings: Settings, events: list[dict], timeout_s: float) -> list:
    """Poll Cassandra until every event is in ``events_by_user``; return the rows."""
    wanted = {e["event_id"] for e in events}
    keys = sorted({user_key_of(e) for e in events})
    deadline = time.monotonic() + timeout_s
    with session(settings) as s:
        query = s.prepare("SELECT user_key, event_time, event_id, event_type, payload, landed_at "
                          f"FROM {keyspace(settings)}.events_by_user WHERE user_key = ?")
        while True:
            rows = [r for k in keys for r in s.execute(query, [k]) if r.event_id in wanted]
            if len(rows) == len(wanted):
                return rows
            if time.monotonic() > deadline:
                raise TrafficError(f"only {len(rows)} of {len(wanted)} events reached Cassandra "
                                   f"within {timeout_s:.0f}s; check `personastream jobs list` and "
                                   "`personastream stack logs nifi`")
            time.sleep(0.5)

"""Seeded sample clickstream over the storefront's catalogue, sent to NiFi's HTTP endpoint the
way an SDK would, and read back.

Events follow the schemas of ``personastream_contracts`` (all six types); ``bad_bodies``
gives one request body per class of bad input the ingest flow must dead-letter.

>>> t0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
>>> events = sample_events(n_events=50, n_users=5, seed=7, start=t0)
>>> events == sample_events(n_events=50, n_users=5, seed=7, start=t0)
True
>>> sorted({e["event_type"] for e in events}) == sorted(EVENT_MIX)
True
"""
from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import random
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import requests

from personastream_contracts.cassandra import keyspace, session
from personastream_contracts.errors import PersonastreamError
from personastream_contracts.identity import user_key
from personastream_contracts.settings import Settings
from personastream_serving.catalogue import Product, catalogue

log = logging.getLogger(__name__)

SCHEMA_VERSION = "1-0-0"
EVENT_MIX = {"page_view": 30, "product_view": 35, "add_to_cart": 10, "purchase": 4,
             "search": 15, "customer_update": 6}
USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Safari/605.1.15",
)
# Public addresses of well-known services, so geo enrichment has something to find.
CLIENT_IPS = ("81.2.69.142", "8.8.8.8", "1.1.1.1", "9.9.9.9", "208.67.222.222")


class TrafficError(PersonastreamError):
    """Sample events could not be sent or did not land."""


def make_event(rng: random.Random, kind: str, user: int, ts: dt.datetime,
               items: Sequence[Product], event_id: str) -> dict:
    """One valid event of type ``kind`` by user number ``user`` (every third one anonymous)
    at ``ts``, about an item (or, for a purchase, up to three items) of ``items``."""
    known = user % 3 != 2 or kind == "customer_update"
    event = {"event_id": event_id, "event_type": kind,
             "schema_version": SCHEMA_VERSION, "user_id": f"user-{user}" if known else None,
             "anonymous_id": f"device-{user}",
             "client_ts": ts.isoformat(timespec="milliseconds").replace("+00:00", "Z")}
    item = rng.choice(items)
    if kind == "page_view":
        event.update(page_url=f"https://shop.example/{item.category}", page_title=item.category)
    elif kind == "product_view":
        event.update(item_id=item.item_id, category=item.category, brand=item.brand,
                     price=item.price)
    elif kind == "add_to_cart":
        event.update(item_id=item.item_id, category=item.category, brand=item.brand,
                     quantity=rng.randint(1, 3), price=item.price)
    elif kind == "purchase":
        lines = [{"item_id": i.item_id, "quantity": rng.randint(1, 2), "price": i.price}
                 for i in rng.sample(items, min(len(items), rng.randint(1, 3)))]
        event.update(order_id=f"order-{rng.getrandbits(40):x}", items=lines, currency="EUR",
                     total=round(sum(x["quantity"] * x["price"] for x in lines), 2))
    elif kind == "search":
        event.update(query=f"{item.brand} {item.category}", results_count=rng.randint(0, 50))
    else:
        event.update(attributes={"tier": rng.choice(["bronze", "silver", "gold"]),
                                 "newsletter": rng.random() < 0.5})
    return event


@functools.lru_cache(maxsize=1)
def _shop() -> tuple[Product, ...]:
    """The storefront's catalogue, built once: workloads call :func:`sample_events` per 100
    events, and building it per call took 142-148 µs of CPU per event against 128-136."""
    return tuple(catalogue())


def sample_events(n_events: int, n_users: int, seed: int,
                  start: dt.datetime | None = None) -> list[dict]:
    """``n_events`` valid events over ``n_users`` users (every third one anonymous), 1 ms apart
    from ``start`` (default: now). Ids are unique per (seed, start), as an SDK's would be."""
    rng = random.Random(seed)
    items = _shop()
    start = start or dt.datetime.now(dt.timezone.utc)
    kinds, weights = zip(*EVENT_MIX.items())
    run = uuid.uuid5(uuid.NAMESPACE_URL, f"personastream:sample:{seed}:{start.isoformat()}")
    return [make_event(rng, rng.choices(kinds, weights)[0], rng.randrange(n_users),
                   start + dt.timedelta(milliseconds=i), items, str(uuid.uuid5(run, str(i))))
            for i in range(n_events)]


def bad_bodies(seed: int = 3) -> dict[str, bytes]:
    """One body per class of bad input, by the dead-letter reason it must get."""
    good = sample_events(1, 1, seed)[0]
    missing = {k: v for k, v in sample_events(1, 1, seed + 1)[0].items() if k != "client_ts"}
    return {
        "malformed_json": b'{"event_id": "x", ',
        "invalid_utf8": b'{"event_type": "search", "query": "caf\xe9"}',
        "not_an_event": b'"just a string"',
        "empty_batch": b"[]",
        "unknown_event_type": json.dumps({**good, "event_type": "teleport"}).encode(),
        "unknown_schema_version": json.dumps({**good, "schema_version": "9-0-0"}).encode(),
        "schema_violation": json.dumps(missing).encode(),
    }


@dataclass
class Answer:
    status: int
    sent_at_s: float  # wall clock, when the request started
    latency_s: float
    body: dict

    @property
    def ok(self) -> bool:
        return accepted(self.status)


def accepted(status: int | str) -> bool:
    """A 2xx answer: the collector's 204 (received) or the validating one's 200.

    >>> accepted(204), accepted("200"), accepted(503), accepted(0)
    (True, True, False, False)
    """
    return 200 <= int(status) < 300


def post_bodies(url: str, bodies: list[bytes], concurrency: int = 4,
                headers_of=lambda i: {}, timeout_s: float = 60) -> list[Answer]:
    """POST every body (``concurrency`` at a time); answers in the order of ``bodies``.
    Progress on stderr every 5 s."""
    local = threading.local()
    done = [0]
    started = last = time.monotonic()

    def send(index: int) -> Answer:
        nonlocal last
        http = getattr(local, "http", None) or requests.Session()
        local.http = http
        sent_at, t0 = time.time(), time.monotonic()
        try:
            resp = http.post(url, data=bodies[index], timeout=timeout_s,
                             headers={"Content-Type": "application/json", **headers_of(index)})
        except requests.ConnectionError as err:
            raise TrafficError(f"NiFi's ingest endpoint {url} refused the connection; is the flow "
                               "deployed and running? (`personastream flows status`)") from err
        answer = Answer(resp.status_code, sent_at, time.monotonic() - t0,
                        resp.json() if resp.headers.get("Content-Type", "").startswith(
                            "application/json") else {"text": resp.text[:200]})
        done[0] += 1
        if time.monotonic() - last > 5:
            last = time.monotonic()
            print(f"[traffic] {done[0]}/{len(bodies)} requests in {last - started:.0f}s",
                  file=sys.stderr)
        return answer

    with ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(send, range(len(bodies))))


def client_headers(index: int) -> dict[str, str]:
    """A plausible client per request: a browser User-Agent and a public address."""
    return {"User-Agent": USER_AGENTS[index % len(USER_AGENTS)],
            "X-Forwarded-For": CLIENT_IPS[index % len(CLIENT_IPS)]}


def post_events(url: str, events: list[dict], batch_size: int = 20, concurrency: int = 2) -> float:
    """POST ``events`` in JSON-array batches; fail unless every event was accepted."""
    started = time.monotonic()
    batches = [events[i:i + batch_size] for i in range(0, len(events), batch_size)]
    answers = post_bodies(url, [json.dumps(b).encode() for b in batches], concurrency,
                          client_headers)
    for batch, answer in zip(batches, answers):
        if not answer.ok or answer.body.get("rejected"):
            raise TrafficError(f"NiFi answered {answer.status} {answer.body} to a batch of "
                               f"{len(batch)} sample events at {url}")
    return time.monotonic() - started


def user_key_of(event: dict) -> str:
    return user_key(event.get("user_id"), event.get("anonymous_id"))


def wait_landed(settings: Settings, events: list[dict], timeout_s: float) -> list:
    """Poll Cassandra until every event is in ``events_by_user``; return the rows."""
    wanted = {e["event_id"] for e in events}
    keys = sorted({user_key_of(e) for e in events})
    deadline = time.monotonic() + timeout_s
    with session(settings) as s:
        query = s.prepare(f"SELECT * FROM {keyspace(settings)}.events_by_user WHERE user_key = ?")
        while True:
            rows = {r.event_id: r for k in keys for r in s.execute(query, [k])
                    if r.event_id in wanted}
            if len(rows) == len(wanted):
                return list(rows.values())
            if time.monotonic() > deadline:
                raise TrafficError(f"only {len(rows)} of {len(wanted)} events reached Cassandra "
                                   f"within {timeout_s:.0f}s; check `personastream jobs list` and "
                                   "`personastream stack logs nifi`")
            time.sleep(0.5)

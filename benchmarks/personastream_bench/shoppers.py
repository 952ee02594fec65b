"""Simulated shoppers for ``bench pipeline``: sessions over the storefront's catalogue, sent
as the tracker sends them (a shopper's events in small batches, one POST each).

A session is a page view, then product views (items by Zipf popularity, most in the shopper's
favourite category), some searches, add-to-carts after some views, a purchase of the cart at
the end of some sessions, and now and then a customer update. Sessions of many shoppers
interleave. A share of the bodies is bad input (one class of ``traffic.bad_bodies`` each, in
turn), which the ingest must dead-letter.

>>> sim = Shoppers(n_shoppers=50, seed=3)
>>> bodies = sim.bodies(n_events=400, start_ms=0, rate_per_s=100, batch=5, bad_share=0.05)
>>> n_bad = sum(b.bad is not None for b in bodies)
>>> sum(b.n_events for b in bodies) >= 400, 0 < n_bad < 0.15 * len(bodies)
(True, True)
>>> types = [e["event_type"] for b in bodies if b.bad is None for e in b.events()]
>>> types.count("product_view") > types.count("add_to_cart") > types.count("purchase") > 0
True
"""
from __future__ import annotations

import bisect
import datetime as dt
import itertools
import json
import random
import uuid
from dataclasses import dataclass, field
from itertools import accumulate

from personastream_bench.traffic import bad_bodies, make_event
from personastream_serving.catalogue import Product, catalogue

#: Zipf exponent of item popularity (a few items get most views).
ZIPF_S = 1.1
#: Per step of a session: chances to search, to end the session; after a view, to add to cart.
P_SEARCH, P_END, P_CART = 0.2, 0.2, 0.25
#: At the end of a session with a cart: chance to buy it; per session: a customer update.
P_PURCHASE, P_UPDATE = 0.4, 0.02
#: Share of product views in the shopper's favourite category.
P_FAVOURITE = 0.7
#: Sessions in progress at once (their events interleave).
CONCURRENT_SESSIONS = 200
#: Shopper numbers start here, apart from the sample traffic's users.
FIRST_SHOPPER = 1_000_000


@dataclass(frozen=True)
class Body:
    payload: bytes
    n_events: int  # valid events in it (0 for bad input)
    bad: str | None  # the dead-letter reason it must get, for bad input

    def events(self) -> list[dict]:
        """The events of a valid body (one event is sent alone, more as an array)."""
        doc = json.loads(self.payload)
        return doc if isinstance(doc, list) else [doc]


@dataclass
class _Session:
    shopper: int
    favourite: str
    events: list[tuple[str, list[Product]]] = field(default_factory=list)


class Shoppers:
    """Seeded shoppers over ``catalogue()``; :meth:`bodies` gives the next POST bodies."""

    def __init__(self, n_shoppers: int, seed: int, items: list[Product] | None = None):
        self.rng = random.Random(seed)
        self.items = items or catalogue()
        self.n_shoppers = n_shoppers
        ranked = self.rng.sample(self.items, len(self.items))  # popularity order
        self.by_category: dict[str, tuple[list[Product], list[float]]] = {}
        for category in {i.category for i in ranked}:
            chosen = [i for i in ranked if i.category == category]
            self.by_category[category] = (chosen, _zipf_cum_weights(len(chosen)))
        self.all = (ranked, _zipf_cum_weights(len(ranked)))
        self.run = uuid.uuid5(uuid.NAMESPACE_URL, f"personastream:shoppers:{seed}:{uuid.uuid4()}")
        self.n_ids = itertools.count()
        self.bad = itertools.cycle(sorted(bad_bodies(seed).items()))
        self.sessions: list[_Session] = []

    def _pick(self, pool: tuple[list[Product], list[float]]) -> Product:
        items, cum = pool
        return items[bisect.bisect(cum, self.rng.random() * cum[-1])]

    def _session(self) -> _Session:
        shopper = FIRST_SHOPPER + self.rng.randrange(self.n_shoppers)
        favourite = self.rng.choice(sorted(self.by_category))
        session, cart = _Session(shopper, favourite), []
        session.events.append(("page_view", [self._pick(self.all)]))
        while True:
            if self.rng.random() < P_SEARCH:
                session.events.append(("search", [self._pick(self.by_category[favourite])]))
            pool = self.by_category[favourite] if self.rng.random() < P_FAVOURITE else self.all
            item = self._pick(pool)
            session.events.append(("product_view", [item]))
            if self.rng.random() < P_CART:
                session.events.append(("add_to_cart", [item]))
                cart.append(item)
            if self.rng.random() < P_END:
                break
        if cart and self.rng.random() < P_PURCHASE:
            session.events.append(("purchase", cart))
        if self.rng.random() < P_UPDATE:
            session.events.append(("customer_update", [item]))
        return session

    def _next_chunk(self, batch: int) -> tuple[int, list[tuple[str, list[Product]]]]:
        while len(self.sessions) < CONCURRENT_SESSIONS:
            self.sessions.append(self._session())
        index = self.rng.randrange(len(self.sessions))
        session = self.sessions[index]
        size = self.rng.randint(1, batch)
        chunk, session.events = session.events[:size], session.events[size:]
        if not session.events:
            self.sessions[index] = self.sessions[-1]
            self.sessions.pop()
        return session.shopper, chunk

    def bodies(self, n_events: int, start_ms: int, rate_per_s: float, batch: int = 5,
               bad_share: float = 0.01) -> list[Body]:
        """Bodies holding at least ``n_events`` events (1 to ``batch`` per body, as a tracker
        flushes), client times those of a send at ``rate_per_s`` events/s from ``start_ms``;
        ``bad_share`` of the bodies are bad input instead."""
        out, n = [], 0
        while n < n_events:
            if self.rng.random() < bad_share:
                reason, payload = next(self.bad)
                out.append(Body(payload, 0, reason))
                continue
            shopper, chunk = self._next_chunk(batch)
            ts = dt.datetime.fromtimestamp((start_ms + n * 1000 / rate_per_s) / 1000,
                                           dt.timezone.utc)
            events = [self._event(kind, shopper, ts, items) for kind, items in chunk]
            out.append(Body(json.dumps(events if len(events) > 1 else events[0]).encode(),
                            len(events), None))
            n += len(events)
        return out

    def _event(self, kind: str, shopper: int, ts: dt.datetime, items: list[Product]) -> dict:
        event_id = str(uuid.uuid5(self.run, str(next(self.n_ids))))
        return make_event(self.rng, kind, shopper, ts, items, event_id)


def _zipf_cum_weights(n: int) -> list[float]:
    """Cumulative Zipf weights of ranks 1..n.

    >>> [round(w, 3) for w in _zipf_cum_weights(3)]
    [1.0, 1.467, 1.765]
    """
    return list(accumulate(1 / rank ** ZIPF_S for rank in range(1, n + 1)))

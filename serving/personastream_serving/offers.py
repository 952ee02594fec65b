"""Each customer's active offers of promotions in the API's memory, so that a recommendation
reads no database for them.

``evaluate_promotions`` writes each offer to ``offers_by_user`` and publishes it to
``topic_offers`` (JSON, keyed by ``user_key``). Each API worker follows the topic (a
:class:`~.profile_replica.ProfileFollower`, from ``offers_ttl_s`` back: an older offer has
expired) into an :class:`OfferReplica`; until it has read the topic to its end,
``/v1/users/{key}/offers`` reads Cassandra. :func:`boosted` applies the ranking boosts of a
customer's offers to a ranking.

>>> replica = OfferReplica()
>>> key, offer = offer_entry(b"u", b'{"offer_id": "o1", "promotion": "p", "priority": 5, '
...                          b'"action": {"kind": "banner", "text": "hi"}, "expires_ms": 2000, '
...                          b'"issued_ms": 1000, "item_id": null, "why": "a\\\\nb"}')
>>> replica.changed(key, offer)
>>> [o["offer_id"] for o in replica.active("u", now_ms=1500)], replica.active("u", now_ms=2000)
(['o1'], [])
"""
from __future__ import annotations

import datetime as dt
import logging
import threading
import time

import orjson

log = logging.getLogger(__name__)

#: Offers kept per customer (the newest; a customer's caps keep far fewer active).
MAX_PER_CUSTOMER = 20


def _ms(value) -> int | None:
    if isinstance(value, dt.datetime):
        return int(value.replace(tzinfo=dt.timezone.utc).timestamp() * 1000)
    return value


def offer_entry(key: bytes, value: bytes | None) -> tuple[str, dict | None]:
    """A record of the offers topic as ``(user_key, offer)``; a tombstone (the customer was
    erased) as ``(user_key, None)``; a record that cannot be read as ``("", None)`` (logged),
    which changes no customer's offers.

    >>> offer_entry(b"u", None), offer_entry(b"u", b"{")
    (('u', None), ('', None))
    """
    if value is None:
        return key.decode(), None
    try:
        offer = orjson.loads(value)
    except orjson.JSONDecodeError as error:
        log.warning("unreadable offer record (%s): %r", error, value[:200])
        return "", None
    if not (isinstance(offer, dict) and "offer_id" in offer):
        log.warning("offer record without an offer_id skipped: %r", value[:200])
        return "", None
    return key.decode(), offer


def from_row(row: dict) -> dict:
    """An ``offers_by_user`` row as the topic's record (times as epoch ms)."""
    out = {k: v for k, v in row.items() if not k.endswith("_at")}
    out.update({f"{k[:-3]}_ms": _ms(v) for k, v in row.items() if k.endswith("_at")})
    out["action"] = dict(row.get("action") or {})
    return out


def public(offer: dict) -> dict:
    """An offer as the API answers it.

    >>> public({"offer_id": "o", "promotion": "p", "promotion_version": "1-0-0",
    ...         "priority": 1, "action": {"kind": "banner"}, "item_id": None,
    ...         "why": "x\\ny", "issued_ms": 0, "expires_ms": 1000})["why"]
    ['x', 'y']
    """
    def iso(ms):
        return None if ms is None else dt.datetime.fromtimestamp(
            ms / 1000, dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {"offer_id": offer["offer_id"], "promotion": offer.get("promotion"),
            "promotion_version": offer.get("promotion_version"),
            "priority": offer.get("priority"), "action": dict(offer.get("action") or {}),
            "item_id": offer.get("item_id"), "why": (offer.get("why") or "").splitlines(),
            "issued_at": iso(offer.get("issued_ms")), "expires_at": iso(offer.get("expires_ms"))}


class OfferReplica:
    """``user_key -> {offer_id: offer}`` of the offers not yet expired."""

    def __init__(self):
        self._offers: dict[str, dict[str, dict]] = {}
        self._lock = threading.Lock()  # the follower's thread writes, requests read

    def changed(self, key: str, offer: dict | None) -> None:
        """Hold ``offer`` for customer ``key``; None (a tombstone): forget the customer."""
        if offer is None:
            self.forget(key)
            return
        now = int(time.time() * 1000)
        with self._lock:
            held = {i: o for i, o in self._offers.get(key, {}).items()
                    if (o.get("expires_ms") or 0) > now}
            held[offer["offer_id"]] = offer
            if len(held) > MAX_PER_CUSTOMER:
                held = dict(sorted(held.items(), key=lambda kv: kv[1].get("issued_ms") or 0)
                            [-MAX_PER_CUSTOMER:])
            self._offers[key] = held

    def forget(self, key: str) -> None:
        with self._lock:
            self._offers.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._offers.clear()

    def active(self, key: str, now_ms: int | None = None) -> list[dict]:
        """The customer's unexpired offers, highest priority first, then newest."""
        held = self._offers.get(key)
        if not held:
            return []
        now = int(time.time() * 1000) if now_ms is None else now_ms
        return sorted((o for o in list(held.values()) if (o.get("expires_ms") or 0) > now),
                      key=lambda o: (-(o.get("priority") or 0), -(o.get("issued_ms") or 0)))


def boosts(offers: list[dict], category_of, brand_of) -> dict[str, tuple[float, str]]:
    """``item -> (boost, promotion)`` of the offers' ``ranking_boost`` actions: the offer's
    item, or every item of its item's category or brand (``category_of``, ``brand_of``: item
    -> value, for the catalogue); the larger boost when two apply.

    >>> offer = {"promotion": "p", "item_id": "a",
    ...          "action": {"kind": "ranking_boost", "target": "category", "boost": "0.3"}}
    >>> boosts([offer], {"a": "c", "b": "c", "d": "e"}, {})
    {'a': (0.3, 'p'), 'b': (0.3, 'p')}
    """
    out: dict[str, tuple[float, str]] = {}
    for offer in offers:
        action = offer.get("action") or {}
        item = offer.get("item_id")
        if action.get("kind") != "ranking_boost" or not item:
            continue
        boost, target = float(action.get("boost") or 0), action.get("target")
        if target == "item":
            items = [item]
        else:
            by = category_of if target == "category" else brand_of
            value = by.get(item)
            items = [i for i, v in by.items() if v == value] if value is not None else []
        for i in items:
            if boost > out.get(i, (0.0, ""))[0]:
                out[i] = (boost, offer.get("promotion"))
    return out

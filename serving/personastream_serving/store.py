"""What the personalization API reads: the :class:`Store` interface, and
:class:`CassandraStore`, which reads the pipeline's tables with prepared statements.

Per request: a customer's live profile (``live_profiles``, written by the ``live_activity`` job
on every event), from the worker's in-memory copy that follows the job's live profile topic
(:mod:`personastream_serving.profile_replica`), else read from Cassandra, awaited on the
server's event loop (the driver's ``execute_async``; no worker thread per request); beside it,
a known user's marketing consent, from the worker's in-memory copy of the customers' change
topic (:mod:`personastream_serving.consent`), else from ``profiles.marketing_consent``
(written by ``merge_customers`` from the same changes); the customer's active offers of
promotions, from the worker's in-memory copy of the offers topic
(:mod:`personastream_serving.offers`; ``offers_by_user`` only for ``/v1/users/{key}/offers``
while that copy is incomplete). Shared by
all requests, re-read by the app every ``api_cache_s`` in the background: every item's recent
views (popularity) and co-viewed neighbours (``item_neighbours``, one scan; each pair is on its later
item's row, read both ways by ``recommend.co_view_neighbours``) and latest trend
(``item_latest_trend``, written by ``score_trends``), each one partition or table of at most
catalogue size. Rarely: the windowed profile (``profiles``), erasure.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from personastream_contracts import erasures
from personastream_contracts.cassandra import keyspace, settings_cluster
from personastream_contracts.tables import (LATEST_TREND_BUCKET, TABLES, profile_from_row,
                                            user_tables)
from personastream_models.recommend import LiveProfile, co_view_neighbours
from personastream_serving.consent import ConsentReplica, consent_entry
from personastream_serving.offers import OfferReplica, from_row, offer_entry
from personastream_serving.profile_replica import (ProfileCache, ProfileFollower, TombstoneError,
                                                   from_record, live_profile, to_record, tombstone)

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class Trend:
    item_id: str
    window_start: object
    views: int
    score: float
    flagged: bool
    model_version: str | None


class Store(Protocol):
    """What the API needs from storage: per-request reads are coroutines (awaited on the
    server's event loop), the others plain calls (run in a thread)."""

    async def live_profile(self, user_key: str) -> tuple[LiveProfile | None, object]:
        """The customer's live profile and when it was last updated (None, None if unknown)."""

    async def marketing_consent(self, user_key: str) -> bool | None:
        """The customer's marketing consent as the operational database last said it (its
        profile's ``marketing_consent``, merged by ``merge_customers``), None if unknown."""

    def offers_in_memory(self, user_key: str) -> list[dict]:
        """The customer's active offers held in memory (no read: the request path of
        recommendations), highest priority first."""

    async def offers(self, user_key: str) -> list[dict]:
        """The customer's active offers, from memory once complete, else read now."""

    def profile(self, user_key: str) -> dict | None:
        """The windowed profile (any layout version) in JSON types, or None."""

    def item_activity(self) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
        """Every item's recent (decayed) views, and its co-viewed items with their weights (if
        it has some), read now."""

    def trends(self) -> dict[str, Trend]:
        """Each item's latest scored window, read now."""

    def erase(self, user_key: str) -> dict[str, bool]:
        """Delete every row about ``user_key`` (and every copy held in memory); return which
        tables held one. Raises :class:`~.profile_replica.TombstoneError` if Kafka did not
        acknowledge the erasure request (nothing deleted) or the tombstone (a copy may
        remain)."""

    def holds(self, user_key: str) -> list[str]:
        """The tables that still hold a row about ``user_key``."""

    def problems(self) -> list[str]:
        """Why answers may be slower or older than they should (for health), if they may."""

    def close(self) -> None:
        """Release connections."""


def _plain(value):
    """A driver value (OrderedMapSerializedKey, SortedSet, ...) as JSON-able Python."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)) or type(value).__name__ == "SortedSet":
        return [_plain(v) for v in value]
    return value


def _as_dict(value) -> dict:
    """A driver map (``OrderedMapSerializedKey``) or None as a dict, from the pairs the driver
    keeps in order: ``dict(value)`` would find each value again by serializing its key (13 % of
    the API's CPU with the GIL under load, py-spy ``--gil``).

    >>> from cassandra.util import OrderedMap
    >>> _as_dict(OrderedMap([("b", 2.0), ("a", 1.0)])), _as_dict(None)
    ({'b': 2.0, 'a': 1.0}, {})
    """
    pairs = getattr(value, "_items", None)
    return dict(pairs) if pairs is not None else dict(value or {})


def _on_loop(loop: asyncio.AbstractEventLoop, future: asyncio.Future, rows=None,
             error: BaseException | None = None) -> None:
    """Settle ``future`` from the driver's I/O thread, on its own event loop (unless the
    request was cancelled meanwhile)."""
    def settle():
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(rows)
    loop.call_soon_threadsafe(settle)


class CassandraStore:
    """The :class:`Store` of the pipeline's Cassandra tables."""

    def __init__(self, settings):
        """Connect; start following the live profile topic (unless ``api_profile_cache`` is 0)."""
        from cassandra.cluster import EXEC_PROFILE_DEFAULT
        from cassandra.query import tuple_factory

        self.cluster = settings_cluster(settings)
        self.cql = self.cluster.connect()
        # rows as plain tuples on the request path: the default factory builds a namedtuple
        # class for every result (~0.3 ms of the client's CPU per query here, py-spy)
        self._tuples = self.cql.execution_profile_clone_update(EXEC_PROFILE_DEFAULT,
                                                               row_factory=tuple_factory)
        ks = keyspace(settings)
        prepare = self.cql.prepare
        self._live = prepare(f"SELECT recent_items, category_affinity, brand_affinity, purchased, "
                             f"n_events, updated_at FROM {ks}.live_profiles WHERE user_key = ?")
        self._profile = prepare(f"SELECT * FROM {ks}.profiles WHERE user_key = ?")
        self._consent = self._prepare_consent(ks)
        self._items = prepare(f"SELECT item_id, views, neighbours FROM {ks}.item_neighbours")
        self._trends = prepare(f"SELECT item_id, window_start, views, score, flagged, "
                               f"model_version FROM {ks}.item_latest_trend WHERE bucket = ?")
        self._erase = {t.name: prepare(f"DELETE FROM {ks}.{t.name} WHERE user_key = ?")
                       for t in user_tables()}
        self._exists = {t.name: prepare(f"SELECT user_key FROM {ks}.{t.name} WHERE user_key = ? "
                                        "LIMIT 1") for t in user_tables()}
        self.settings = settings
        self.cache = ProfileCache(settings.api_profile_cache)
        self.follower = None
        if settings.api_profile_cache > 0:
            self.follower = ProfileFollower(settings, settings.topic_live_profiles, self.cache)
            self.follower.start()
        self.consent = ConsentReplica()
        self.consent_follower = ProfileFollower(settings, settings.topic_cdc_customers,
                                                self.consent, entry=consent_entry,
                                                replay_s=None, what="marketing consents")
        self.consent_follower.start()
        self._offer_columns = TABLES["offers_by_user"].column_names
        self._offers = prepare(f"SELECT {', '.join(self._offer_columns)} FROM "
                               f"{ks}.offers_by_user WHERE user_key = ?")
        self.offer_replica = OfferReplica()
        self.offers_follower = ProfileFollower(settings, settings.topic_offers,
                                               self.offer_replica, entry=offer_entry,
                                               replay_s=settings.offers_ttl_s, what="offers")
        self.offers_follower.start()

    def close(self) -> None:
        for follower in (self.follower, self.consent_follower, self.offers_follower):
            if follower is not None:
                follower.stop()
        self.cluster.shutdown()

    def problems(self) -> list[str]:
        return [f.problem for f in (self.follower, self.consent_follower, self.offers_follower)
                if f and f.problem]

    def _rows(self, statement, params: list) -> asyncio.Future:
        """The rows of one prepared statement as a future of the running event loop (its first
        page only: the per-request reads fetch a few rows, far fewer than a page)."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.cql.execute_async(statement, params, execution_profile=self._tuples).add_callbacks(
            lambda rows: _on_loop(loop, future, rows=rows),
            lambda error: _on_loop(loop, future, error=error))
        return future

    async def live_profile(self, user_key: str) -> tuple[LiveProfile | None, object]:
        following = self.follower is not None and self.follower.following
        if following and (cached := self.cache.get(user_key)) is not None:
            return from_record(cached)
        rows = await self._rows(self._live, [user_key])
        if not rows:
            return None, None
        recent, categories, brands, purchased, n_events, updated_at = rows[0]
        found = live_profile(recent, _as_dict(categories), _as_dict(brands), purchased, n_events)
        if following:
            self.cache.read(user_key, to_record(found, updated_at))
        return found, updated_at

    def _prepare_consent(self, ks: str):
        """The consent read, or None while ``profiles`` lacks layout 3's columns (consent then
        reads as unknown: every customer is personalized as before)."""
        from cassandra import InvalidRequest

        try:
            return self.cql.prepare(
                f"SELECT marketing_consent FROM {ks}.profiles WHERE user_key = ?")
        except InvalidRequest as error:
            log.warning("%s.profiles has no marketing_consent column (%s): consent is not "
                        "checked until `personastream profiles migrate` and an API restart",
                        ks, error)
            return None

    async def marketing_consent(self, user_key: str) -> bool | None:
        """From memory (:mod:`.consent`) once the customers topic is read to its end, else
        from the profile row."""
        if self.consent_follower.caught_up:
            return self.consent.get(user_key)
        if self._consent is None:
            return None
        rows = await self._rows(self._consent, [user_key])
        return rows[0][0] if rows else None

    def offers_in_memory(self, user_key: str) -> list[dict]:
        return self.offer_replica.active(user_key)

    async def offers(self, user_key: str) -> list[dict]:
        if self.offers_follower.caught_up:
            return self.offer_replica.active(user_key)
        replica = OfferReplica()
        for row in await self._rows(self._offers, [user_key]):  # a few rows per customer
            replica.changed(user_key, from_row(dict(zip(self._offer_columns, row))))
        return replica.active(user_key)

    def profile(self, user_key: str) -> dict | None:
        row = self.cql.execute(self._profile, [user_key]).one()
        return None if row is None else {k: _plain(v)
                                         for k, v in profile_from_row(row._asdict()).items()}

    def item_activity(self) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
        views, viewed_before = {}, {}
        for item_id, item_views, weights in self.cql.execute(
                self._items, execution_profile=self._tuples):
            views[item_id] = item_views or 0.0
            if weights:
                viewed_before[item_id] = _as_dict(weights)
        return views, co_view_neighbours(viewed_before)

    def trends(self) -> dict[str, Trend]:
        return {r.item_id: Trend(r.item_id, r.window_start, r.views or 0, r.score or 0.0,
                                 bool(r.flagged), r.model_version)
                for r in self.cql.execute(self._trends, [LATEST_TREND_BUCKET])}

    def erase(self, user_key: str) -> dict[str, bool]:
        """First publishes the erasure request (``personastream_contracts.erasures``: the jobs
        clear their state about the customer), then deletes the rows, then publishes a tombstone
        of the customer to the live profile and offers topics: every API worker drops its
        copies, and compaction removes the profile from its topic."""
        error = erasures.publish(self.settings, user_key, "api")
        if error:
            raise TombstoneError(f"the erasure request of {user_key!r} was not acknowledged by "
                                 f"Kafka at {self.settings.kafka_bootstrap_servers} (topic "
                                 f"{self.settings.topic_user_erasures!r}: {error}); nothing was "
                                 "deleted: retry the erase when Kafka is up")
        held = {t: self.cql.execute(q, [user_key]).one() is not None
                for t, q in self._exists.items()}
        for statement in self._erase.values():
            self.cql.execute(statement, [user_key])
        self.cache.changed(user_key, None)
        self.offer_replica.forget(user_key)
        for topic in (self.settings.topic_live_profiles, self.settings.topic_offers):
            tombstone(self.settings, topic, user_key)
        return held

    def holds(self, user_key: str) -> list[str]:
        return [t for t, q in self._exists.items() if self.cql.execute(q, [user_key]).one()]


#: Layout version of ``live_profiles`` rows (the API reports it with each answer).
LIVE_PROFILE_VERSION = TABLES["live_profiles"].layout_version

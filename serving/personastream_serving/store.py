"""What the personalization API reads: the :class:`Store` interface, and
:class:`CassandraStore`, which reads the pipeline's tables with prepared statements.

Per request: a customer's live profile (``live_profiles``, written by the ``live_activity``
job on every event), their windowed profile (``profiles``), and the co-view neighbours of a
few items (``item_neighbours``). Shared by all requests and re-read every ``api_cache_s``:
recent views of every item (popularity) and each item's latest trend (``item_latest_trend``,
written by ``score_trends``), each one partition or table of at most catalogue size.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from personastream_contracts.cassandra import keyspace, settings_cluster
from personastream_contracts.tables import (LATEST_TREND_BUCKET, TABLES, profile_from_row,
                                            user_tables)
from personastream_models.recommend import LiveProfile


@dataclass(frozen=True)
class Trend:
    item_id: str
    window_start: object
    views: int
    score: float
    flagged: bool
    model_version: str | None


class Store(Protocol):
    """What the API needs from storage."""

    def live_profile(self, user_key: str) -> tuple[LiveProfile | None, object]:
        """The customer's live profile and when it was last updated (None, None if unknown)."""

    def profile(self, user_key: str) -> dict | None:
        """The windowed profile (any layout version) in JSON types, or None."""

    def neighbours(self, item_ids: list[str]) -> dict[str, dict[str, float]]:
        """Co-viewed items and their weights, for each of ``item_ids`` that has some."""

    def popularity(self) -> dict[str, float]:
        """Recent (decayed) views of every item."""

    def trends(self) -> dict[str, Trend]:
        """Each item's latest scored window."""

    def erase(self, user_key: str) -> dict[str, bool]:
        """Delete every row about ``user_key``; return which tables held one."""

    def holds(self, user_key: str) -> list[str]:
        """The tables that still hold a row about ``user_key``."""

    def close(self) -> None:
        """Release connections."""


def _plain(value):
    """A driver value (OrderedMapSerializedKey, SortedSet, ...) as JSON-able Python."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)) or type(value).__name__ == "SortedSet":
        return [_plain(v) for v in value]
    return value


class _Cached:
    """A value re-read at most every ``ttl_s`` (one reader at a time)."""

    def __init__(self, read, ttl_s: float):
        self.read, self.ttl_s = read, ttl_s
        self.value, self.at = None, float("-inf")
        self.lock = threading.Lock()

    def get(self):
        with self.lock:
            if time.monotonic() - self.at > self.ttl_s:
                self.value, self.at = self.read(), time.monotonic()
            return self.value


class CassandraStore:
    """The :class:`Store` of the pipeline's Cassandra tables."""

    def __init__(self, settings):
        self.cluster = settings_cluster(settings)
        self.cql = self.cluster.connect()
        ks = keyspace(settings)
        prepare = self.cql.prepare
        self._live = prepare(f"SELECT * FROM {ks}.live_profiles WHERE user_key = ?")
        self._profile = prepare(f"SELECT * FROM {ks}.profiles WHERE user_key = ?")
        self._neighbours = prepare(f"SELECT item_id, neighbours FROM {ks}.item_neighbours "
                                   "WHERE item_id IN ?")
        self._views = prepare(f"SELECT item_id, views FROM {ks}.item_neighbours")
        self._trends = prepare(f"SELECT item_id, window_start, views, score, flagged, "
                               f"model_version FROM {ks}.item_latest_trend WHERE bucket = ?")
        self._erase = {t.name: prepare(f"DELETE FROM {ks}.{t.name} WHERE user_key = ?")
                       for t in user_tables()}
        self._exists = {t.name: prepare(f"SELECT user_key FROM {ks}.{t.name} WHERE user_key = ? "
                                        "LIMIT 1") for t in user_tables()}
        self._popularity = _Cached(self._read_popularity, settings.api_cache_s)
        self._trends_cache = _Cached(self._read_trends, settings.api_cache_s)

    def close(self) -> None:
        self.cluster.shutdown()

    def live_profile(self, user_key: str) -> tuple[LiveProfile | None, object]:
        row = self.cql.execute(self._live, [user_key]).one()
        if row is None:
            return None, None
        return LiveProfile(recent_items=list(row.recent_items or []),
                           category_affinity=dict(row.category_affinity or {}),
                           brand_affinity=dict(row.brand_affinity or {}),
                           purchased=list(row.purchased or []),
                           n_events=row.n_events or 0), row.updated_at

    def profile(self, user_key: str) -> dict | None:
        row = self.cql.execute(self._profile, [user_key]).one()
        return None if row is None else {k: _plain(v)
                                         for k, v in profile_from_row(row._asdict()).items()}

    def neighbours(self, item_ids: list[str]) -> dict[str, dict[str, float]]:
        if not item_ids:
            return {}
        return {r.item_id: dict(r.neighbours or {})
                for r in self.cql.execute(self._neighbours, [list(dict.fromkeys(item_ids))])}

    def popularity(self) -> dict[str, float]:
        return self._popularity.get()

    def trends(self) -> dict[str, Trend]:
        return self._trends_cache.get()

    def _read_popularity(self) -> dict[str, float]:
        return {r.item_id: r.views or 0.0 for r in self.cql.execute(self._views)}

    def _read_trends(self) -> dict[str, Trend]:
        return {r.item_id: Trend(r.item_id, r.window_start, r.views or 0, r.score or 0.0,
                                 bool(r.flagged), r.model_version)
                for r in self.cql.execute(self._trends, [LATEST_TREND_BUCKET])}

    def erase(self, user_key: str) -> dict[str, bool]:
        held = {t: self.cql.execute(q, [user_key]).one() is not None
                for t, q in self._exists.items()}
        for statement in self._erase.values():
            self.cql.execute(statement, [user_key])
        return held

    def holds(self, user_key: str) -> list[str]:
        return [t for t, q in self._exists.items() if self.cql.execute(q, [user_key]).one()]


#: Layout version of ``live_profiles`` rows (the API reports it with each answer).
LIVE_PROFILE_VERSION = TABLES["live_profiles"].layout_version

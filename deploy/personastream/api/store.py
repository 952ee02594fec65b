"""What the personalization API reads from Cassandra, with prepared statements.

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

from personastream.profiles import from_row
from personastream.stack.cassandra import keyspace
from personastream_flink.cassandra_sink import cassandra_cluster
from personastream_models.recommend import LiveProfile

TREND_BUCKET = "all"
#: Layout version of ``live_profiles`` rows (the API reports it with each answer).
LIVE_PROFILE_VERSION = 1
#: Tables holding rows about one customer, by the column that names them (erase deletes all).
USER_TABLES = ("live_profiles", "profiles", "events_by_user")


@dataclass(frozen=True)
class Trend:
    item_id: str
    window_start: object
    views: int
    score: float
    flagged: bool
    model_version: str | None


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


class Store:
    def __init__(self, settings):
        self.cluster = cassandra_cluster(settings.cassandra_contact_points, settings.cassandra_port,
                                         settings.cassandra_local_dc, 10)
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
        self._erase = {t: prepare(f"DELETE FROM {ks}.{t} WHERE user_key = ?")
                       for t in USER_TABLES}
        self._exists = {t: prepare(f"SELECT user_key FROM {ks}.{t} WHERE user_key = ? LIMIT 1")
                        for t in USER_TABLES}
        self.popularity = _Cached(self._read_popularity, settings.api_cache_s)
        self.trends = _Cached(self._read_trends, settings.api_cache_s)

    def close(self) -> None:
        self.cluster.shutdown()

    def live_profile(self, user_key: str) -> tuple[LiveProfile | None, object]:
        """The customer's live profile and when it was last updated (None, None if unknown)."""
        row = self.cql.execute(self._live, [user_key]).one()
        if row is None:
            return None, None
        return LiveProfile(recent_items=list(row.recent_items or []),
                           category_affinity=dict(row.category_affinity or {}),
                           brand_affinity=dict(row.brand_affinity or {}),
                           purchased=list(row.purchased or []),
                           n_events=row.n_events or 0), row.updated_at

    def profile(self, user_key: str) -> dict | None:
        """The windowed profile (current or previous layout) in JSON types, or None."""
        row = self.cql.execute(self._profile, [user_key]).one()
        return None if row is None else {k: _plain(v) for k, v in from_row(row._asdict()).items()}

    def neighbours(self, item_ids: list[str]) -> dict[str, dict[str, float]]:
        if not item_ids:
            return {}
        return {r.item_id: dict(r.neighbours or {})
                for r in self.cql.execute(self._neighbours, [list(dict.fromkeys(item_ids))])}

    def _read_popularity(self) -> dict[str, float]:
        return {r.item_id: r.views or 0.0 for r in self.cql.execute(self._views)}

    def _read_trends(self) -> dict[str, Trend]:
        return {r.item_id: Trend(r.item_id, r.window_start, r.views or 0, r.score or 0.0,
                                 bool(r.flagged), r.model_version)
                for r in self.cql.execute(self._trends, [TREND_BUCKET])}

    def erase(self, user_key: str) -> dict[str, bool]:
        """Delete every row about ``user_key``; return which tables held one."""
        held = {t: self.cql.execute(q, [user_key]).one() is not None
                for t, q in self._exists.items()}
        for statement in self._erase.values():
            self.cql.execute(statement, [user_key])
        return held

    def holds(self, user_key: str) -> list[str]:
        """The tables that still hold a row about ``user_key``."""
        return [t for t, q in self._exists.items() if self.cql.execute(q, [user_key]).one()]

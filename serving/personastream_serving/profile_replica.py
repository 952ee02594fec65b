"""The API's in-memory copy of live profiles, so that a recommendation reads no database.

The ``live_activity`` job writes each customer's live profile to Cassandra and publishes the
same row to the compacted topic ``topic_live_profiles`` (keyed by ``user_key``). Each API
worker follows that topic from a thread (:class:`ProfileFollower`, every partition, no
consumer group) into a :class:`ProfileCache` of at most ``api_profile_cache`` customers, the
least recently used dropped first. A request takes the profile from the cache; a customer not
in it is read from Cassandra once and kept (a read-through).

The cache holds each profile as the record's bytes (a row read from Cassandra encoded the same
way, :func:`to_record`), decoded per request by :func:`from_record` (5-9 µs): bytes are not
tracked by Python's cyclic garbage collector, so a full collection does not walk the cache
while every request waits for it. With 100,000 profiles decoded objects made a full
collection take 270-290 ms and held 175 MiB, bytes 1.6 ms and 71 MiB
(``benchmarks/results/api-gc-2026-12-06``).

Rules that keep the copy as fresh as the topic:

- a record from the topic always replaces the cached profile (records of one customer arrive
  in the order the job wrote them); a tombstone (an erased customer) removes it;
- a profile read from Cassandra is kept only if no record arrived meanwhile, so a slow read
  never overwrites a newer record;
- the follower starts :data:`REPLAY_S` before the worker's start, so a record published just
  before it, whose Cassandra write had not landed when the worker read the row, still arrives;
- while the follower is not following (Kafka unreachable, topic missing), every request reads
  Cassandra and the API's health names the problem; when it follows again the cache starts
  empty.
"""
from __future__ import annotations

import collections
import datetime as dt
import logging
import threading
import time

import orjson

from personastream_contracts.formats import naive_utc
from personastream_contracts.topics import deliver, producer_config
from personastream_models.recommend import LiveProfile

log = logging.getLogger(__name__)

#: Seconds of the topic the follower reads again at start (see the module's docstring).
REPLAY_S = 60
#: Seconds between attempts to follow the topic after a failure.
RETRY_S = 5
#: How long Kafka holds a follower's fetch that finds nothing new (``fetch.wait.max.ms``): a
#: record that arrives meanwhile is answered at once, so it costs no freshness. Six followers
#: (two workers) at 20 ms took the broker 0.11 cores and themselves 0.04 with no traffic; at
#: 500, 0.01 and 0.01 (``benchmarks/results/api-fetch-wait-2026-12-07/``).
FETCH_WAIT_MAX_MS = 500


def live_profile(recent, categories, brands, purchased, n_events) -> LiveProfile:
    """A :class:`LiveProfile` from a ``live_profiles`` row's columns (maps as dicts or None)."""
    return LiveProfile(recent_items=list(recent or []), category_affinity=dict(categories or {}),
                       brand_affinity=dict(brands or {}), purchased=list(purchased or []),
                       n_events=n_events or 0)


def from_record(value: bytes) -> tuple[LiveProfile, dt.datetime]:
    """The live profile and its ``updated_at`` (naive UTC, as the driver reads it) of a record
    that ``live_activity`` published (the ``live_profiles`` row as JSON; timestamps as epoch
    milliseconds, or as naive UTC ISO-8601 text as the job wrote them before 2026-12-07: the
    compacted topic may still hold those).

    >>> p, at = from_record(b'{"user_key": "u", "recent_items": ["b", "a"], '
    ...     b'"category_affinity": {"bags": 1.5}, "brand_affinity": null, "purchased": [], '
    ...     b'"updated_at": 1796289528999, "n_events": 2, "written_at": null}')
    >>> p.recent_items, p.category_affinity, p.brand_affinity, p.n_events, at.isoformat()
    (['b', 'a'], {'bags': 1.5}, {}, 2, '2026-12-03T09:18:48.999000')
    >>> from_record(b'{"updated_at": "2026-12-03T09:18:48.999"}')[1] == at
    True
    """
    row = orjson.loads(value)
    updated = row.get("updated_at")
    return (live_profile(row.get("recent_items"), row.get("category_affinity"),
                         row.get("brand_affinity"), row.get("purchased"), row.get("n_events")),
            None if updated is None else naive_utc(updated))


def to_record(profile: LiveProfile, updated: dt.datetime | None) -> bytes:
    """The record :func:`from_record` reads back as ``(profile, updated)``: how the cache
    holds a profile read from Cassandra.

    >>> p = live_profile(["b"], {"bags": 1.5}, None, [], 2)
    >>> from_record(to_record(p, dt.datetime(2026, 12, 3, 9, 18, 48, 999000))) == (
    ...     p, dt.datetime(2026, 12, 3, 9, 18, 48, 999000))
    True
    """
    return orjson.dumps({"recent_items": profile.recent_items,
                         "category_affinity": profile.category_affinity,
                         "brand_affinity": profile.brand_affinity,
                         "purchased": profile.purchased, "n_events": profile.n_events,
                         "updated_at": updated.isoformat() if updated else None})


class TombstoneError(RuntimeError):
    """A customer's tombstone was not acknowledged by Kafka."""


def tombstone(settings, topic: str, user_key: str, timeout_s: float = 10.0) -> None:
    """Publish ``user_key``'s tombstone to ``topic`` and wait until Kafka acknowledged it."""
    from confluent_kafka import Producer

    error = deliver(Producer(producer_config(settings, log_level=0)), topic, user_key, None,
                    timeout_s)
    if error:
        raise TombstoneError(f"the tombstone of {user_key!r} was not acknowledged by Kafka at "
                             f"{settings.kafka_bootstrap_servers} (topic {topic!r}: {error}); "
                             "API workers may still hold the live profile: retry the erase "
                             "when Kafka is up")


class ProfileCache:
    """At most ``capacity`` entries ``user_key -> value``, least recently used dropped first,
    with the two ways in of the module's rules (safe to call from two threads).

    >>> cache = ProfileCache(2)
    >>> cache.changed("a", 1); cache.changed("b", 1); cache.get("a")
    1
    >>> cache.changed("c", 1); cache.get("b") is None  # b was the least recently used
    True
    >>> cache.read("a", 0); cache.get("a")  # a read never replaces a record
    1
    >>> cache.changed("a", None); cache.get("a") is None  # tombstone
    True
    """

    def __init__(self, capacity: int):
        self.capacity = capacity
        self._entries: collections.OrderedDict = collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str):
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def changed(self, key: str, value) -> None:
        """A record of the topic: ``value`` replaces the entry; None (a tombstone) removes it."""
        with self._lock:
            if value is None:
                self._entries.pop(key, None)
            else:
                self._put(key, value)

    def read(self, key: str, value) -> None:
        """A row read from the database: kept unless an entry arrived meanwhile."""
        with self._lock:
            if key not in self._entries:
                self._put(key, value)

    def _put(self, key: str, value) -> None:
        self._entries[key] = value
        self._entries.move_to_end(key)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)


def profile_entry(key: bytes, value: bytes | None) -> tuple[str, bytes | None]:
    """A record of the live profile topic as a cache entry: ``user_key`` and the record's
    bytes as they are (None: a tombstone), which the garbage collector does not track.

    >>> import gc
    >>> key, value = profile_entry(b"u", b'{"n_events": 1}'); key, gc.is_tracked(value)
    ('u', False)
    """
    return key.decode(), value


def _next_records(consumer, most: int = 500, timeout_s: float = 0.2) -> list:
    """The records the consumer has, at once: the first within ``timeout_s``, then up to
    ``most`` already fetched. (``consume(500, timeout=0.2)`` waits for 500 records or the
    timeout: a record reached the follower 102 ms after it was produced at p50, 203 ms at
    p99; this way 2.1 and 27.4 ms.)"""
    first = consumer.poll(timeout_s)
    return [] if first is None else [first, *consumer.consume(most - 1, timeout=0)]


class ProfileFollower:
    """Follows ``topic`` into ``cache`` from a daemon thread (see the module's docstring);
    ``following`` is True while the cache may be trusted, else ``problem`` says why not.

    ``entry`` makes a record's (key, value) a cache key and value (None: remove it); the
    follower starts ``replay_s`` back, or at the topic's start when None (a whole compacted
    topic kept in memory), and ``caught_up`` says when it has read every partition to the end
    it had when it started following."""

    def __init__(self, settings, topic: str, cache, entry=profile_entry,
                 replay_s: float | None = REPLAY_S, what: str = "live profiles"):
        self.settings, self.topic, self.cache = settings, topic, cache
        self.entry, self.replay_s, self.what = entry, replay_s, what
        self.following = self.caught_up = False
        self._behind: set[int] = set()
        self.problem: str | None = "not started"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"follow {topic}", daemon=True)

    def start(self, timeout_s: float = 10.0) -> None:
        """Start the thread; wait up to ``timeout_s`` for it to follow (else it keeps trying
        while requests read Cassandra)."""
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.following and self.problem == "not started" \
                and time.monotonic() < deadline:
            time.sleep(0.05)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _consumer(self):
        from confluent_kafka import Consumer, TopicPartition

        consumer = Consumer({"bootstrap.servers": self.settings.kafka_bootstrap_servers,
                             "group.id": "personastream-api", "enable.auto.commit": False,
                             "enable.partition.eof": True,
                             "fetch.wait.max.ms": FETCH_WAIT_MAX_MS,
                             "log_level": 0})
        meta = consumer.list_topics(self.topic, timeout=5).topics.get(self.topic)
        if meta is None or meta.error is not None:
            consumer.close()
            raise LookupError(f"topic {self.topic!r} is missing on "
                              f"{self.settings.kafka_bootstrap_servers}: run `personastream "
                              "stack up` (it creates the pipeline's topics)")
        bounds = {p: consumer.get_watermark_offsets(TopicPartition(self.topic, p), timeout=5)
                  for p in meta.partitions}
        if self.replay_s is None:
            starts = {p: low for p, (low, _high) in bounds.items()}
        else:
            since_ms = int((time.time() - self.replay_s) * 1000)
            # a partition with no record since then starts at its end, resolved now, not lazily
            starts = {tp.partition: tp.offset if tp.offset >= 0 else bounds[tp.partition][1]
                      for tp in consumer.offsets_for_times(
                          [TopicPartition(self.topic, p, since_ms) for p in bounds], timeout=5)}
        self._behind = {p for p, start in starts.items() if start < bounds[p][1]}
        consumer.assign([TopicPartition(self.topic, p, start) for p, start in starts.items()])
        return consumer

    def _run(self) -> None:
        from confluent_kafka import KafkaError

        while not self._stop.is_set():
            consumer = None
            try:
                consumer = self._consumer()
                self.cache.clear()  # what was missed while not following is read again
                self.following, self.problem = True, None
                self.caught_up = not self._behind
                while not self._stop.is_set():
                    for msg in _next_records(consumer):
                        if msg.error():
                            if msg.error().code() == KafkaError._PARTITION_EOF:
                                self._behind.discard(msg.partition())
                                self.caught_up = not self._behind
                            else:
                                log.warning("reading %r: %s", self.topic, msg.error())
                            continue
                        if msg.key() is not None:
                            self.cache.changed(*self.entry(msg.key(), msg.value()))
            except Exception as error:  # Kafka unreachable, the topic missing: try again
                self.following, self.problem = False, (
                    f"not following {self.topic!r} ({type(error).__name__}: {error}); "
                    f"{self.what} are read from Cassandra per request, retrying every "
                    f"{RETRY_S}s")
                log.warning("%s", self.problem)
                self._stop.wait(RETRY_S)
            finally:
                self.following = self.caught_up = False
                if consumer is not None:
                    consumer.close()

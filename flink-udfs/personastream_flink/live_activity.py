"""Job ``live_activity``: what the personalization API needs, within about a second of an event.

Enriched events are read as they arrive (Flink SQL ``sql/live_events.sql``; no windows and no
watermark: speed is the point), keyed by the customer (``user_key``, the ingest rule, in SQL;
keyed in Java by :func:`~personastream_flink.keyed.keyed_table`, no Python per event).
Each event is folded into the customer's :class:`~personastream_models.recommend.LiveProfile` in
keyed state by ``recommend.update_profile`` (which also handles events out of order) and the
profile is upserted into ``live_profiles`` and published to the compacted topic
``topic_live_profiles`` (keyed by ``user_key``; the API keeps its in-memory copy from it). A
product view or add-to-cart also sends one update, keyed by its item, with the items the
customer viewed just before it (``recommend.co_viewed_before``): they are merged into that
item's neighbours (``recommend.merge_neighbour``) in keyed state, a view also adds to the item's
recent views (decayed with the affinities' half-life), and the item's row is upserted into
``item_neighbours``. Each co-viewed pair is thus kept once, on the later item's row, and readers
take neighbours both ways (``recommend.co_view_neighbours``): one item update per event instead
of one for each of its up to six items (with the items before it), which made the item fold and
its writes half of the job's cost (README, Measurements). An item's row is written at most once
every :data:`NEIGHBOURS_ROW_EVERY_MS`: the first update after a quiet interval at once, the
ones after it by one processing-time timer, with the item's state as of then. A popular item
holds up to 100 neighbours, a map each row rewrites whole, and the API re-reads the table only
every ``api_cache_s``. An erasure request (:mod:`personastream_flink.erasure`) forgets the
customer's live profile.

Both folds emit their rows as JSON text (``Output.json_row``), which Cassandra reads with
``INSERT ... JSON`` and which is the ``profiles.live`` record as it is; the item updates go
pickled. One string or byte array crosses from Python into the JVM where a row of lists and maps
crossed entry by entry: the TaskManager's CPU per event 369 -> 241 µs, Cassandra's 187 -> 206
µs, the job 2,517 -> 3,335 events/s (README, Measurements). Both keep their state as JSON
arrays of its fields (:mod:`~personastream_flink.compact_state`), not pickled objects.

Topology (parallelism from settings)::

    kafka events_enriched (SQL) -> live_events (SQL projection)
      -> keyed by user_key (Java) -> update_live_profile --main--> cassandra_live_profiles
         (+ kafka users.erasures, keyed by user_key: forget the customer's profile)
                                                       --> kafka_live_profiles (key, JSON)
                                                  --side output co_views-->
      -> keyed by item_id (Java) -> update_item_neighbours (+ timers) -> cassandra_item_neighbours

The Python functions run in the TaskManager's JVM (``job_args.thread_mode``): in a separate
Python process (PyFlink's process mode) each bundle paid a gRPC round trip per key to commit
state, and the job drained 155 events/s (``personastream bench jobs --jobs live_activity``; see
README, Measurements). Network buffers are flushed every :data:`BUFFER_TIMEOUT_MS` (default 100).
Submit with ``personastream jobs submit live_activity``.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

from pyflink.common import Row, Types
from pyflink.datastream import KeyedProcessFunction, RuntimeContext, StreamExecutionEnvironment

from personastream_contracts.identity import user_key_sql
from personastream_flink import job_args, job_io, sql_template
from personastream_flink.compact_state import LIVE_PROFILE, FieldsCodec, json_fields_state
from personastream_flink.erasure import ForgetsErased, keyed_with_erasures
from personastream_flink.event_table import TIME_COLUMNS, customer_activity
from personastream_flink.keyed import keyed_side_output, keyed_table, keyed_tag
from personastream_flink.rows import JSON_ROW_TYPE, Output
from personastream_models.recommend import (bump_affinity, co_viewed_before, decayed,
                                            merge_neighbour, update_profile)

JOB_NAME = "live_activity"
PROFILES = Output("live_profiles", JOB_NAME)
NEIGHBOURS = Output("item_neighbours", JOB_NAME)
#: Network buffers flushed at least this often (ms).
BUFFER_TIMEOUT_MS = 10
#: An item's ``item_neighbours`` row is written at most this often (ms of processing time).
NEIGHBOURS_ROW_EVERY_MS = 1000
#: Events whose item co-occurs with the customer's recent items.
CO_VIEW_EVENTS = frozenset({"product_view", "add_to_cart"})
VIEW_EVENT = "product_view"

#: Side output of ``update_live_profile``: ``Row(item_id, update)``, keyed in Java
#: (:mod:`~personastream_flink.keyed`); the update is the tuple ``(item_id, co_views, viewed,
#: event_ms)``: the weights of the items viewed before it, and whether it was viewed. Pickled:
#: it goes from Python to Python, and bytes cross into Java at once where a row with a map
#: crosses entry by entry.
ITEM_UPDATES = keyed_tag("item_updates", Types.STRING(), Types.PICKLED_BYTE_ARRAY())


def job_arguments(settings, jars: list, job_name: str = JOB_NAME) -> list[str]:
    return [*job_args.arguments(settings, jars, job_name),
            "--profiles-topic", settings.topic_live_profiles,
            "--recent-items", str(settings.profiles_recent_items),
            "--affinity-half-life-s", str(settings.profiles_affinity_half_life_s)]


def parse_args(argv: list[str]):
    p = job_args.parser(JOB_NAME, __doc__)
    p.add_argument("--profiles-topic", required=True, help="live profiles (compacted)")
    p.add_argument("--recent-items", type=int, required=True)
    p.add_argument("--affinity-half-life-s", type=int, required=True)
    p.add_argument("--neighbours-row-every-ms", type=int, default=NEIGHBOURS_ROW_EVERY_MS,
                   help="write an item's row at most this often (0: on every update, as a "
                        "bounded run needs: processing-time timers do not fire at its end)")
    return p.parse_args(argv)


# -- plain Python ---------------------------------------------------------------------------

def event_of(row) -> dict:
    """The event as ``recommend.update_profile`` reads it, from a ``live_events`` row."""
    return {"event_type": row.event_type, "item_id": row.item_id, "category": row.category,
            "brand": row.brand, "client_ts_ms": row.event_ms,
            "items": json.loads(row.items_json) if row.items_json else None}


def item_update(recent_before: list[str], event: dict) -> tuple[dict, bool] | None:
    """The event's update of its item: (weights of the items viewed before it, whether it was
    viewed); None for an event that co-views nothing (``recommend.co_viewed_before``).

    >>> item_update(["b", "a"], {"event_type": "product_view", "item_id": "c"})
    ({'b': 1.0, 'a': 0.5}, True)
    >>> item_update(["b"], {"event_type": "purchase", "item_id": None}) is None
    True
    """
    item = event.get("item_id")
    if not item or event.get("event_type") not in CO_VIEW_EVENTS:
        return None
    return co_viewed_before(recent_before, item), event["event_type"] == VIEW_EVENT


@dataclass
class ItemState:
    """An item's neighbours and recent views ``(score, as of ms)``; ``updated_ms``: the newest
    event time that touched it. ``row_written_ms``: the processing time its row was last
    written; ``row_due_ms``: when a timer writes it next (0: no timer set)."""

    neighbours: dict[str, float] = field(default_factory=dict)
    views: tuple[float, int] = (0.0, 0)
    updated_ms: int = 0
    row_written_ms: int = 0
    row_due_ms: int = 0


#: :class:`ItemState` in keyed state (:mod:`~personastream_flink.compact_state`).
ITEM_STATE = FieldsCodec(ItemState, tuples=("views",))


def fold_item(state: ItemState | None, co_views: dict[str, float], viewed: bool, at_ms: int,
              half_life_s: float) -> ItemState:
    """The item's state after one event's update (a new object).

    >>> first = fold_item(None, {"b": 1.0}, True, 0, 3600)
    >>> s = fold_item(first, {"b": 0.5, "c": 1.0}, True, 3_600_000, 3600)
    >>> s.neighbours, s.views, s.updated_ms, first.neighbours
    ({'b': 1.5, 'c': 1.0}, (1.5, 3600000), 3600000, {'b': 1.0})
    >>> item_row("i", s, 3600)["views"]
    1.5
    """
    s = ItemState(dict(state.neighbours), state.views, state.updated_ms, state.row_written_ms,
                  state.row_due_ms) if state is not None else ItemState(updated_ms=at_ms)
    for other, weight in co_views.items():
        merge_neighbour(s.neighbours, other, weight)
    if viewed:
        views = {"v": s.views} if s.views[0] else {}
        bump_affinity(views, "v", 1.0, at_ms, half_life_s)
        s.views = views["v"]
    s.updated_ms = max(s.updated_ms, at_ms)
    return s


def next_row_write(state: ItemState, now_ms: int, every_ms: int) -> int:
    """When to write the item's row after an update at processing time ``now_ms``, at most once
    every ``every_ms``: ``now_ms`` (at once), a later time (by a timer), 0 (a timer is set).

    >>> s = ItemState()
    >>> next_row_write(s, 5_000, 1_000)
    5000
    >>> s.row_written_ms = 5_000
    >>> next_row_write(s, 5_300, 1_000)
    6000
    >>> s.row_due_ms = 6_000
    >>> next_row_write(s, 5_600, 1_000)
    0
    """
    if state.row_due_ms:
        return 0
    return max(now_ms, state.row_written_ms + every_ms)


def item_row(item_id: str, state: ItemState, half_life_s: float) -> dict:
    """The ``item_neighbours`` row: views decayed to ``updated_at``."""
    score, as_of = state.views
    return {"item_id": item_id, "neighbours": dict(state.neighbours),
            "views": decayed(score, as_of, state.updated_ms, half_life_s) if score else 0.0,
            "updated_ms": state.updated_ms}


# -- Flink functions ------------------------------------------------------------------------

class UpdateLiveProfile(ForgetsErased):
    """Fold each event into the customer's live profile; emit the ``live_profiles`` row, and
    the event's item update (side output :data:`ITEM_UPDATES`). An erasure request forgets the
    profile."""

    def __init__(self, recent_items: int, half_life_s: int):
        self.recent_items, self.half_life_s = recent_items, half_life_s
        self.state = None

    def open(self, runtime_context: RuntimeContext) -> None:
        self.state = json_fields_state(runtime_context, "live_profile", LIVE_PROFILE)

    def customer_states(self) -> list:
        return [self.state]

    def process_element(self, value, ctx):
        before = self.state.value()
        event = event_of(value)
        profile = update_profile(before, event, half_life_s=self.half_life_s,
                                 max_recent=self.recent_items)
        self.state.update(profile)
        yield PROFILES.json_row({"user_key": value.user_key,
                                 "recent_items": profile.recent_items,
                                 "category_affinity": profile.category_affinity,
                                 "brand_affinity": profile.brand_affinity,
                                 "purchased": profile.purchased,
                                 "updated_at": profile.updated_ms,
                                 "n_events": profile.n_events,
                                 "written_at": int(time.time() * 1000)})
        update = item_update(before.recent_items if before else [], event)
        if update is not None:
            co_views, viewed = update
            yield ITEM_UPDATES, Row(value.item_id,
                                    (value.item_id, co_views, viewed, int(value.event_ms)))


class UpdateItemNeighbours(KeyedProcessFunction):
    """Merge each item update into the item's state; emit its ``item_neighbours`` row at most
    once every ``every_ms`` (:func:`next_row_write`; a processing-time timer writes the rest)."""

    def __init__(self, half_life_s: int, every_ms: int = NEIGHBOURS_ROW_EVERY_MS):
        self.half_life_s, self.every_ms = half_life_s, every_ms
        self.state = None

    def open(self, runtime_context: RuntimeContext) -> None:
        self.state = json_fields_state(runtime_context, "item_neighbours", ITEM_STATE)

    def process_element(self, value, ctx: KeyedProcessFunction.Context):
        item_id, co_views, viewed, event_ms = value
        state = fold_item(self.state.value(), co_views, viewed, event_ms, self.half_life_s)
        now_ms = int(time.time() * 1000)  # the clock of Flink's processing-time timers
        at_ms = next_row_write(state, now_ms, self.every_ms)
        if at_ms == now_ms:
            state.row_written_ms = now_ms
        elif at_ms:
            state.row_due_ms = at_ms
            ctx.timer_service().register_processing_time_timer(at_ms)
        self.state.update(state)
        if at_ms == now_ms:
            yield self._row(item_id, state)

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext):
        state = self.state.value()
        state.row_written_ms, state.row_due_ms = timestamp, 0
        self.state.update(state)
        yield self._row(ctx.get_current_key(), state)

    def _row(self, item_id: str, state: ItemState):
        row = item_row(item_id, state, self.half_life_s)
        return NEIGHBOURS.json_row({**row, "updated_at": row["updated_ms"]})


def low_latency(env: StreamExecutionEnvironment) -> None:
    """Python in the JVM and frequent buffer flushes (see the module's docstring)."""
    job_args.thread_mode(env)
    env.set_buffer_timeout(BUFFER_TIMEOUT_MS)


def build(env: StreamExecutionEnvironment, args, io) -> None:
    """Declare source, the two keyed folds and their Cassandra upserts on ``env``, reading and
    writing through ``io``."""
    low_latency(env)
    t_env = job_io.table_env(env, io)
    events = keyed_table(t_env, t_env.sql_query(sql_template.render(
        "live_events", fragments={"event_ms": TIME_COLUMNS["client_ts_ms"],
                                  "customer_activity": customer_activity(),
                                  "user_key": user_key_sql("user_id", "anonymous_id")})),
        "user_key")
    # stream: Row(user_key, event_type, item_id, category, brand, event_ms, items_json), one
    # per event of a known or anonymous customer, keyed by user_key
    profiles = (keyed_with_erasures(env, io, events)
                .process(UpdateLiveProfile(args.recent_items, args.affinity_half_life_s),
                         output_type=JSON_ROW_TYPE)
                .name("update_live_profile").uid("update_live_profile"))
    # stream: Row(user_key, JSON of the customer's whole live profile row)
    io.write_json_rows(t_env, profiles, PROFILES, "cassandra_live_profiles")
    io.publish_json_rows(t_env, profiles, args.profiles_topic, "kafka_live_profiles")
    neighbours = (keyed_side_output(profiles, ITEM_UPDATES)
                  .process(UpdateItemNeighbours(args.affinity_half_life_s,
                                                args.neighbours_row_every_ms),
                           output_type=JSON_ROW_TYPE)
                  .name("update_item_neighbours").uid("update_item_neighbours"))
    # stream: Row(item_id, JSON of the item's whole row)
    io.write_json_rows(t_env, neighbours, NEIGHBOURS, "cassandra_item_neighbours")


def main(argv: list[str] | None = None) -> None:
    job_args.run(build, parse_args, argv)


if __name__ == "__main__":
    # run the module's own import, so that its functions and ItemState (kept in state) are
    # pickled by reference to personastream_flink.live_activity, not by value from __main__
    from personastream_flink.live_activity import main as _main

    _main()

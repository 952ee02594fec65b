"""The profile UDF: a user's :class:`~personastream_flink.profiles.ProfileState` in Flink keyed
state, updated by each minute of activity; emits the user's ``profiles`` row."""
from __future__ import annotations

import datetime as dt

from pyflink.common import Row, Types
from pyflink.datastream import KeyedProcessFunction, RuntimeContext
from pyflink.datastream.state import ValueStateDescriptor

from personastream_flink.profiles import (Activity, ProfileRules, ProfileState, apply,
                                          parse_attribute_updates, parse_item_events,
                                          profile_row)

COLUMNS = ["user_key", "profile_version", "first_seen", "last_seen", "views_1h", "carts_1h",
           "purchases_1h", "spend_1h", "views_1d", "carts_1d", "purchases_1d", "spend_1d",
           "sessions", "session_start", "session_events", "session_duration_s", "recent_items",
           "category_affinity", "brand_affinity", "attributes", "updated_at"]
OUTPUT_TYPE = Types.ROW_NAMED(COLUMNS, [
    Types.STRING(), Types.INT(), Types.SQL_TIMESTAMP(), Types.SQL_TIMESTAMP(), Types.INT(),
    Types.INT(), Types.INT(), Types.DOUBLE(), Types.INT(), Types.INT(), Types.INT(),
    Types.DOUBLE(), Types.INT(), Types.SQL_TIMESTAMP(), Types.INT(), Types.DOUBLE(),
    Types.LIST(Types.STRING()), Types.MAP(Types.STRING(), Types.DOUBLE()),
    Types.MAP(Types.STRING(), Types.DOUBLE()), Types.MAP(Types.STRING(), Types.STRING()),
    Types.SQL_TIMESTAMP()])


def _utc(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).replace(tzinfo=None)


class UpdateProfile(KeyedProcessFunction):
    """Fold each activity row into the user's state and emit the profile row."""

    def __init__(self, session_gap_s: int, recent_items: int, affinity_half_life_s: int):
        self.rules = ProfileRules(session_gap_s, recent_items, affinity_half_life_s)
        self.state = None

    def open(self, runtime_context: RuntimeContext) -> None:
        self.state = runtime_context.get_state(
            ValueStateDescriptor("profile", Types.PICKLED_BYTE_ARRAY()))

    def process_element(self, value, ctx: KeyedProcessFunction.Context):
        state = self.state.value() or ProfileState()
        apply(state, Activity(
            first_ms=value.first_ms, last_ms=value.last_ms, n_events=value.n_events,
            views=value.views, carts=value.carts, purchases=value.purchases,
            spend=float(value.spend or 0.0), item_events=parse_item_events(value.item_events),
            attribute_updates=parse_attribute_updates(value.attribute_updates)), self.rules)
        self.state.update(state)
        row = profile_row(ctx.get_current_key(), state, self.rules)
        out = Row(row["user_key"], row["profile_version"], _utc(row["first_seen_ms"]),
                  _utc(row["last_seen_ms"]), row["views_1h"], row["carts_1h"],
                  row["purchases_1h"], row["spend_1h"], row["views_1d"], row["carts_1d"],
                  row["purchases_1d"], row["spend_1d"], row["sessions"],
                  _utc(row["session_start_ms"]), row["session_events"],
                  row["session_duration_s"], row["recent_items"], row["category_affinity"],
                  row["brand_affinity"], row["attributes"],
                  dt.datetime.now(dt.timezone.utc).replace(tzinfo=None))
        out.set_field_names(COLUMNS)  # named even when the next operator is chained
        yield out

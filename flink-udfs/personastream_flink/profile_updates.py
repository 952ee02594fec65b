"""The profile UDF: a user's :class:`~personastream_flink.profiles.ProfileState` in Flink keyed
state, updated by each minute of activity; emits the user's ``profiles`` row; forgets the
state of an erased user (:mod:`personastream_flink.erasure`)."""
from __future__ import annotations

from pyflink.common import Types
from pyflink.datastream import RuntimeContext
from pyflink.datastream.state import ValueStateDescriptor

from personastream_flink.erasure import ForgetsErased
from personastream_flink.profiles import (Activity, ProfileRules, ProfileState, apply,
                                          parse_attribute_updates, parse_item_events, profile_row)
from personastream_flink.rows import Output, utc, utc_now

OUTPUT = Output("profiles", "build_profiles")


class UpdateProfile(ForgetsErased):
    """Fold each activity row into the user's state and emit the profile row; an erasure
    request forgets the state."""

    def __init__(self, session_gap_s: int, recent_items: int, affinity_half_life_s: int):
        self.rules = ProfileRules(session_gap_s, recent_items, affinity_half_life_s)
        self.state = None

    def open(self, runtime_context: RuntimeContext) -> None:
        self.state = runtime_context.get_state(
            ValueStateDescriptor("profile", Types.PICKLED_BYTE_ARRAY()))

    def customer_states(self) -> list:
        return [self.state]

    def process_element(self, value, ctx):
        state = self.state.value() or ProfileState()
        apply(state, Activity(
            first_ms=value.first_ms, last_ms=value.last_ms, n_events=value.n_events,
            views=value.views, carts=value.carts, purchases=value.purchases,
            spend=float(value.spend or 0.0), item_events=parse_item_events(value.item_events),
            attribute_updates=parse_attribute_updates(value.attribute_updates)), self.rules)
        self.state.update(state)
        row = profile_row(ctx.get_current_key(), state, self.rules)
        yield OUTPUT.row({**row, "first_seen": utc(row["first_seen_ms"]),
                          "last_seen": utc(row["last_seen_ms"]),
                          "session_start": utc(row["session_start_ms"]),
                          "updated_at": utc_now()})

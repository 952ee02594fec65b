"""The segments UDFs: per-customer behaviour totals (keyed by user), then one online clusterer
per running model version for all customers (keyed by a constant), both in Flink keyed state.

The behaviour vector is built by the shared feature code (``personastream_models.features``)
from the customer's totals since first seen, with the feature set of the spec version the job
was submitted with. Which clusterer versions run comes from the model control topic, connected
as a broadcast stream (:mod:`personastream_flink.placements`), as in the trends job: every
running version's clusterer learns each vector and the live version's assigns the segment
(:func:`personastream_models.placement_clustering.assign_segment`, which says how segment ids
stay stable); ``segment_model`` names that version. A placement naming a version over other
features than the job's vectors is refused (logged): that change needs a resubmit. The
clusterers, by version, are one pickled dict in the one key's ``ValueState``.
"""
from __future__ import annotations

import json

from pyflink.common import Row, Types
from pyflink.datastream import RuntimeContext
from pyflink.datastream.functions import KeyedBroadcastProcessFunction
from pyflink.datastream.state import ValueStateDescriptor

from personastream_flink.erasure import ForgetsErased
from personastream_flink.placements import FollowsPlacements
from personastream_flink.profiles import DAY_MS, parse_item_events
from personastream_flink.rows import Output

ALL_CUSTOMERS = "all"
VECTOR_FIELDS = ["user_key", "features"]
VECTOR_TYPE = Types.ROW_NAMED(VECTOR_FIELDS, [Types.STRING(), Types.STRING()])
OUTPUT = Output("profiles", "assign_segments")


def new_totals(first_ms: int, last_ms: int) -> dict:
    """A customer's totals before any activity."""
    return {"first_ms": first_ms, "last_ms": last_ms, "views": 0, "carts": 0, "purchases": 0,
            "spend": 0.0, "category_views": {}}


def add_activity(totals: dict, first_ms: int, last_ms: int, views: int, carts: int,
                 purchases: int, spend: float | None, item_events) -> dict:
    """Add a minute of activity (its sums from Flink SQL) to a customer's totals.

    >>> t = add_activity(new_totals(5, 5), first_ms=9, last_ms=9, views=1, carts=0, purchases=0,
    ...                  spend=None, item_events=[(9, "product_view", "i1", "shoes", "")])
    >>> t["views"], t["category_views"], t["last_ms"]
    (1, {'shoes': 1}, 9)
    """
    totals["first_ms"] = min(totals["first_ms"], first_ms)
    totals["last_ms"] = max(totals["last_ms"], last_ms)
    totals["views"] += views
    totals["carts"] += carts
    totals["purchases"] += purchases
    totals["spend"] += float(spend or 0.0)
    for _, event_type, _, category, _ in item_events:
        if event_type == "product_view" and category:
            totals["category_views"][category] = totals["category_views"].get(category, 0) + 1
    return totals


def totals_profile(totals: dict) -> dict:
    """The ``behaviour_vector`` input of a customer's totals; a profile covers at least a day.

    >>> totals_profile({"first_ms": 0, "last_ms": 0, "views": 3, "carts": 1, "purchases": 0,
    ...                 "spend": 0.0, "category_views": {"shoes": 3}})["n_days"]
    1.0
    """
    return {"n_days": max((totals["last_ms"] - totals["first_ms"]) / DAY_MS, 1.0),
            "n_product_views": totals["views"], "n_add_to_carts": totals["carts"],
            "n_purchases": totals["purchases"], "spend": totals["spend"],
            "category_views": totals["category_views"]}


class BehaviourVector(ForgetsErased):
    """Add a minute of activity to the customer's totals; emit their behaviour vector. An
    erasure request forgets the totals."""

    def __init__(self, spec_name: str, spec_version: str | None):
        self.spec_name, self.spec_version = spec_name, spec_version
        self.features = self.totals = None

    def open(self, runtime_context: RuntimeContext) -> None:
        from personastream_models import specs
        from personastream_models.features import feature_set

        self.features = feature_set(specs.load(self.spec_name, self.spec_version or None).features)
        self.totals = runtime_context.get_state(
            ValueStateDescriptor("totals", Types.PICKLED_BYTE_ARRAY()))

    def customer_states(self) -> list:
        return [self.totals]

    def process_element(self, value, ctx):
        totals = add_activity(self.totals.value() or new_totals(value.first_ms, value.last_ms),
                              value.first_ms, value.last_ms, value.views, value.carts,
                              value.purchases, value.spend, parse_item_events(value.item_events))
        self.totals.update(totals)
        out = Row(ctx.get_current_key(), json.dumps(self.features(totals_profile(totals))))
        out.set_field_names(VECTOR_FIELDS)
        yield out


class AssignSegment(FollowsPlacements):
    """The clusterers of all customers, one per running version: learn the vector, emit the
    live version's nearest segment."""

    def __init__(self, spec_name: str, spec_version: str | None):
        super().__init__(spec_name, spec_version)
        self.clusterers = None

    def open(self, runtime_context: RuntimeContext) -> None:
        from personastream_models.placement_clustering import clusterer_loader

        super().open(runtime_context)
        self.spec_of = clusterer_loader(self.spec_of, self.default_spec.features)
        self.clusterers = runtime_context.get_state(
            ValueStateDescriptor("clusterers_by_version", Types.PICKLED_BYTE_ARRAY()))

    def process_element(self, value, ctx: KeyedBroadcastProcessFunction.ReadOnlyContext):
        from personastream_models.placement_clustering import assign_segment

        clusterers = self.clusterers.value() or {}
        assigned = assign_segment(clusterers, self.placement(ctx), self.spec_of,
                                  json.loads(value.features))
        self.clusterers.update(clusterers)
        yield OUTPUT.row({"user_key": value.user_key, **assigned.columns()})

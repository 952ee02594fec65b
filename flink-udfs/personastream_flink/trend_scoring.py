"""The trends UDF: River-style detectors per item, in Flink keyed state, switched live.

The PyFlink class is a thin adapter: plain values in ``__init__``, specs loaded on first use,
then :func:`personastream_models.placement_scoring.score_window` (features by shared code,
the same ``score_then_learn`` the NAB benchmark runs) over the item's detectors. Which spec
versions run comes from the model
control topic, connected as a broadcast stream (:mod:`personastream_flink.placements`): the
live version's score decides ``flagged``; a shadow version is scored beside it on the same
windows; the previous live version keeps learning so that a rollback returns to a model that
kept up. A version with a stand-in (spec field ``stand_in``) has the stand-in version's
detector score an item's windows until its own has learned enough of them, per item, and the
row's ``scored_by`` says which scored. An item's detectors, by version, live in one keyed
``ValueState`` (a pickled dict): one state read and one write per window, none while the item
stays in PyFlink's state cache
(``python.state.cache-size``), where a map state needed a read per version and a listing of its
keys (a JVM round trip each). A promote or rollback changes nothing else's state, and a restore
from a checkpoint continues every learned model instead of starting cold.
"""
from __future__ import annotations

from importlib import import_module

from pyflink.common import Types
from pyflink.datastream import RuntimeContext
from pyflink.datastream.functions import KeyedBroadcastProcessFunction
from pyflink.datastream.state import ValueStateDescriptor

from personastream_flink.embedded import call_in_own_thread
from personastream_flink.placements import FollowsPlacements
from personastream_flink.rows import Output

OUTPUT = Output("item_trends", "score_trends")


class ScoreItemViews(FollowsPlacements):
    """For each (item, window, views) row: score then learn the item's detectors."""

    def __init__(self, spec_name: str, spec_version: str | None):
        super().__init__(spec_name, spec_version)
        self.detectors = self.score_window = None

    def open(self, runtime_context: RuntimeContext) -> None:
        super().open(runtime_context)
        self.score_window = call_in_own_thread(
            import_module, "personastream_models.placement_scoring").score_window
        # per item: version -> (detector, number of windows it learned)
        self.detectors = runtime_context.get_state(
            ValueStateDescriptor("detectors_by_version", Types.PICKLED_BYTE_ARRAY()))

    def process_element(self, value, ctx: KeyedBroadcastProcessFunction.ReadOnlyContext):
        states = self.detectors.value() or {}
        result = self.score_window(states, self.placement(ctx), self.spec_of, value.views)
        self.detectors.update(states)
        yield OUTPUT.row({"item_id": value.item_id, "window_start": value.window_start,
                          "window_end": value.window_end, "views": value.views,
                          **result.columns()})

"""The trends UDF: River-style detectors per item, in Flink keyed state, switched live.

The PyFlink class is a thin adapter: plain values in ``__init__``, specs loaded on first use,
then :func:`personastream_models.placement_scoring.score_window` (features by shared code,
the same ``score_then_learn`` the NAB benchmark runs) over the item's detectors. Which spec
versions run comes from the model
control topic, connected as a broadcast stream (:mod:`personastream_models.registry`): the
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

import logging

from pyflink.common import Types
from pyflink.datastream import RuntimeContext
from pyflink.datastream.functions import KeyedBroadcastProcessFunction
from pyflink.datastream.state import MapStateDescriptor, ValueStateDescriptor

from personastream_flink.rows import Output

log = logging.getLogger(__name__)

OUTPUT = Output("item_trends", "score_trends")
#: Broadcast state of the control topic: model name -> placement record (JSON).
PLACEMENTS = MapStateDescriptor("model_placements", Types.STRING(), Types.STRING())


class ScoreItemViews(KeyedBroadcastProcessFunction):
    """For each (item, window, views) row: score then learn the item's detectors."""

    def __init__(self, spec_name: str, spec_version: str | None):
        self.spec_name, self.spec_version = spec_name, spec_version
        self._spec = self.detectors = self.default = None

    def open(self, runtime_context: RuntimeContext) -> None:
        from personastream_models import specs
        from personastream_models.registry import Placement

        self._spec = specs.loader(self.spec_name)
        self.default = Placement.initial(
            self.spec_name, specs.load(self.spec_name, self.spec_version or None).version)
        # per item: version -> (detector, number of windows it learned)
        self.detectors = runtime_context.get_state(
            ValueStateDescriptor("detectors_by_version", Types.PICKLED_BYTE_ARRAY()))

    def process_broadcast_element(self, value: str, ctx: KeyedBroadcastProcessFunction.Context):
        """A control record: keep it if it is about this job's model and names known specs."""
        from personastream_models.registry import Placement, PlacementError
        from personastream_models.specs import SpecError

        try:
            placement = Placement.from_json(value)
            if placement.model != self.spec_name:
                return
            for version in placement.running_versions():
                self._spec(version)
        except (PlacementError, SpecError) as error:  # a bad record must not stop scoring
            log.error("ignored model control record: %s", error)
            return
        ctx.get_broadcast_state(PLACEMENTS).put(self.spec_name, value)

    def _placement(self, ctx):
        from personastream_models.registry import Placement

        record = ctx.get_broadcast_state(PLACEMENTS).get(self.spec_name)
        return Placement.from_json(record) if record else self.default

    def process_element(self, value, ctx: KeyedBroadcastProcessFunction.ReadOnlyContext):
        from personastream_models.placement_scoring import score_window

        states = self.detectors.value() or {}
        result = score_window(states, self._placement(ctx), self._spec, value.views)
        self.detectors.update(states)
        yield OUTPUT.row({"item_id": value.item_id, "window_start": value.window_start,
                          "window_end": value.window_end, "views": value.views,
                          **result.columns()})

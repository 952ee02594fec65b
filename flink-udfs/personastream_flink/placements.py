"""Model placements in a running job: the model control topic as Flink broadcast state.

A job that follows placements (``personastream models promote``, ``rollback``, ``shadow``)
connects its keyed stream to ``io.control(env).broadcast(PLACEMENTS)`` and processes both with a
subclass of :class:`FollowsPlacements`, which keeps the latest valid record of its model in the
broadcast state (every parallel task gets it, and it is part of the checkpoints) and gives the
subclass's ``process_element`` the current :class:`~personastream_models.registry.Placement`:
the version the job was submitted with until the topic has a record of the model. A record that
is not a placement, or names a version the job cannot run, is logged and ignored: a bad record
must not stop the job, which keeps the placement it had.
"""
from __future__ import annotations

import logging

from pyflink.common import Types
from pyflink.datastream import RuntimeContext
from pyflink.datastream.functions import KeyedBroadcastProcessFunction
from pyflink.datastream.state import MapStateDescriptor

from personastream_flink.embedded import call_in_own_thread

log = logging.getLogger(__name__)

#: Broadcast state of the control topic: model name -> placement record (JSON).
PLACEMENTS = MapStateDescriptor("model_placements", Types.STRING(), Types.STRING())


class FollowsPlacements(KeyedBroadcastProcessFunction):
    """The broadcast half of a keyed function that runs the placed versions of model
    ``spec_name`` (``spec_version``, empty for the latest, when the topic has no record of it).

    After :meth:`open`, ``spec_of`` is the ``version -> spec`` of the model (each version loaded
    once; a subclass may wrap it to refuse versions it cannot run), ``default_spec`` the spec of
    the version the job was submitted with.
    """

    def __init__(self, spec_name: str, spec_version: str | None):
        self.spec_name, self.spec_version = spec_name, spec_version
        self.spec_of = self.default_spec = self._default = None
        # the placement in force: read from the broadcast state at the first element after
        # open and after each record kept, not per element (a read is a JVM call in thread mode)
        self._current = None

    def open(self, runtime_context: RuntimeContext) -> None:
        from personastream_models import specs
        from personastream_models.registry import Placement

        def load(version: str | None):
            # a spec imports its estimator's modules: in thread mode, safely (see ``embedded``)
            return call_in_own_thread(specs.load, self.spec_name, version)

        self.default_spec = load(self.spec_version or None)
        self.spec_of = specs.loader(self.spec_name, self.default_spec, load_version=load)
        self._default = Placement.initial(self.spec_name, self.default_spec.version)

    def process_broadcast_element(self, value: str, ctx: KeyedBroadcastProcessFunction.Context):
        """A control record: keep it if it is about this job's model and names runnable specs."""
        from personastream_models.registry import PlacementError, control_placement
        from personastream_models.specs import SpecError

        try:
            placement = control_placement(value, self.spec_name, self.spec_of)
        except (PlacementError, SpecError) as error:  # a bad record must not stop the job
            log.error("ignored model control record: %s", error)
            return
        if placement is not None:
            ctx.get_broadcast_state(PLACEMENTS).put(self.spec_name, value)
            self._current = None

    def placement(self, ctx: KeyedBroadcastProcessFunction.ReadOnlyContext):
        """The current placement of the job's model."""
        from personastream_models.registry import Placement

        if self._current is None:
            record = ctx.get_broadcast_state(PLACEMENTS).get(self.spec_name)
            self._current = Placement.from_json(record) if record else self._default
        return self._current

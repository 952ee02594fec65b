"""The trends UDF: a River-style detector per item, kept in Flink keyed state.

The PyFlink class is a thin adapter: plain values in ``__init__``, the model spec loaded in
``open()``, features built by shared code (``personastream_models.features``), then the same
``score_then_learn`` the NAB benchmark runs. The detector lives in ``ValueState`` (pickled), so
a restore from a checkpoint continues the learned model instead of starting cold.
"""
from __future__ import annotations

from pyflink.common import Row, Types
from pyflink.datastream import KeyedProcessFunction, RuntimeContext
from pyflink.datastream.state import ValueStateDescriptor

OUTPUT_FIELDS = ["item_id", "window_start", "window_end", "views", "score", "flagged", "model",
                 "model_version", "n_learned"]
OUTPUT_TYPE = Types.ROW_NAMED(OUTPUT_FIELDS, [
    Types.STRING(), Types.SQL_TIMESTAMP(), Types.SQL_TIMESTAMP(), Types.LONG(), Types.DOUBLE(),
    Types.BOOLEAN(), Types.STRING(), Types.STRING(), Types.LONG()])


class ScoreItemViews(KeyedProcessFunction):
    """For each (item, window, views) row: score then learn the item's detector."""

    def __init__(self, spec_name: str, spec_version: str | None):
        self.spec_name, self.spec_version = spec_name, spec_version
        self.spec = self.detector_state = self.learned_state = None

    def open(self, runtime_context: RuntimeContext) -> None:
        from personastream_models import specs

        self.spec = specs.load(self.spec_name, self.spec_version or None)
        self.detector_state = runtime_context.get_state(
            ValueStateDescriptor("detector", Types.PICKLED_BYTE_ARRAY()))
        self.learned_state = runtime_context.get_state(
            ValueStateDescriptor("n_learned", Types.LONG()))

    def process_element(self, value, ctx: KeyedProcessFunction.Context):
        from personastream_models import specs
        from personastream_models.detectors import score_then_learn
        from personastream_models.features import feature_set

        detector = self.detector_state.value() or specs.build(self.spec)
        features = feature_set(self.spec.features)(count=float(value.views))
        score = float(score_then_learn(detector, features))
        n_learned = (self.learned_state.value() or 0) + 1
        self.detector_state.update(detector)
        self.learned_state.update(n_learned)
        out = Row(value.item_id, value.window_start, value.window_end, value.views, score,
                  self.spec.is_anomaly(score), self.spec.name, self.spec.version, n_learned)
        out.set_field_names(OUTPUT_FIELDS)  # named even when the next operator is chained
        yield out

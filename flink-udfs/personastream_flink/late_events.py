"""Late events as dead letters: what a job's windows left out (``events_timed.late``, see
:func:`personastream_flink.job_io.timed_events`) goes to the dead-letter topic with reason
``late_event``, counted in the job's metric ``late_events``, so that every event accepted is
counted or dead-lettered."""
from __future__ import annotations

import json

from pyflink.common import Types
from pyflink.datastream import MapFunction, RuntimeContext
from pyflink.table import StreamTableEnvironment

from personastream_flink import job_io, sql_template

DEADLETTER_SCHEMA = "deadletter/1-1-0"


class LateDeadLetter(MapFunction):
    """A late event as a dead letter (reason ``late_event``, naming ``time_field``, the
    event's field the job's event time comes from), counted in metric late_events."""

    def __init__(self, job_name: str, time_field: str):
        self.job_name = job_name
        self.time_field = time_field
        self.late = None

    def open(self, runtime_context: RuntimeContext) -> None:
        self.late = runtime_context.get_metrics_group().counter("late_events")

    def map(self, value) -> str:
        self.late.inc()
        event = {k: v for k, v in value.as_dict().items() if k not in ("event_ms", "watermark_time")}
        reason = {"code": "late_event", "rule": None, "field": self.time_field,
                  "message": f"event time {value.event_ms} ms is behind the watermark "
                             f"{value.watermark_time} of job {self.job_name}"}
        return json.dumps({
            "reason": reason, "errors": [reason], "event_type": value.event_type,
            "schema_version": value.schema_version, "event_id": value.event_id,
            "batch_index": None, "payload": json.dumps(event, separators=(",", ":")),
            "received_at": value.received_at,
            "source": {"ip": None, "user_agent": None, "content_type": None},
            "deadletter_schema": DEADLETTER_SCHEMA}, separators=(",", ":"))


def dead_letter(t_env: StreamTableEnvironment, args, time_field: str) -> None:
    """Send the late events of ``events_timed`` to ``args.deadletter_topic``."""
    late = t_env.to_data_stream(t_env.sql_query(sql_template.render("late_events")))
    late.map(LateDeadLetter(args.job_name, time_field), output_type=Types.STRING()) \
        .name("late_events") \
        .sink_to(job_io.kafka_sink(args, args.deadletter_topic)).name("kafka_events_deadletter")

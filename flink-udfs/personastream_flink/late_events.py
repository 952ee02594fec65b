"""Late events as dead letters: what a job's windows left out (``events_timed.late``, see
:func:`personastream_flink.job_io.timed_events`) goes to the dead-letter topic with reason
``late_event`` (:mod:`personastream_contracts.deadletters`), counted in the job's metric
``late_events``, so that every event accepted is counted or dead-lettered."""
from __future__ import annotations

import json

from pyflink.common import Types
from pyflink.datastream import MapFunction, RuntimeContext
from pyflink.table import StreamTableEnvironment

from personastream_contracts import deadletters
from personastream_flink import sql_template


def late_deadletter(event: dict, event_ms: int, watermark: str, job_name: str,
                    time_field: str) -> dict:
    """The dead letter of a late ``event`` (as the job read it) whose event time ``event_ms``
    came from its field ``time_field`` (a JSON Pointer) and was behind ``watermark``.

    >>> letter = late_deadletter({"event_id": "e-1", "received_at": "2026-01-01T00:00:00.000Z"},
    ...                          5, "1970-01-01 00:01:00", "score_trends", "/received_at")
    >>> letter["reason"]["field"], letter["event_id"], letter["payload"][:18]
    ('/received_at', 'e-1', '{"event_id":"e-1",')
    """
    reason = deadletters.error(
        "late_event", f"event time {event_ms} ms is behind the watermark {watermark} of job "
                      f"{job_name}", time_field)
    return deadletters.deadletter([reason], event=event, received_at=event.get("received_at"),
                                  payload=json.dumps(event, separators=(",", ":")))


class LateDeadLetter(MapFunction):
    """A late event as a dead letter (JSON), counted in metric late_events."""

    def __init__(self, job_name: str, time_field: str):
        self.job_name = job_name
        self.time_field = time_field
        self.late = None

    def open(self, runtime_context: RuntimeContext) -> None:
        self.late = runtime_context.get_metrics_group().counter("late_events")

    def map(self, value) -> str:
        self.late.inc()
        event = {k: v for k, v in value.as_dict().items() if k not in ("event_ms", "watermark_time")}
        return json.dumps(late_deadletter(event, value.event_ms, value.watermark_time,
                                          self.job_name, self.time_field),
                          separators=(",", ":"))


def dead_letter(t_env: StreamTableEnvironment, args, io, time_field: str) -> None:
    """Send the late events of ``events_timed`` to ``args.deadletter_topic`` through ``io``."""
    late = t_env.to_data_stream(t_env.sql_query(sql_template.render("late_events")))
    io.write_strings(late.map(LateDeadLetter(args.job_name, time_field),
                              output_type=Types.STRING()).name("late_events"),
                     args.deadletter_topic, "kafka_events_deadletter")

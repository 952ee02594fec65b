"""Run a job's topology without servers: events from a file of enriched records, model control
records from a list, every row and string the job writes captured into JSON-lines files.

The events go through the same ``events_enriched`` table as in production (columns from the
schemas, JSON format, rowtime and watermark), read by Flink's filesystem connector instead of
Kafka; the input is bounded, so at its end the watermark reaches its maximum and every window
closes. With parallelism 1 the records are read in file order and the watermark follows each
one (Flink emits it eagerly when it jumps by more than ``pipeline.auto-watermark-interval``),
so what is late is deterministic.

Example (``build`` a job, run it to the end, read what it wrote)::

    io = FileIO(tmp_path, events=[record.value for record in enriched])
    env = local_environment()
    land_events.build(env, land_events.parse_args(io.arguments("land_events")), io)
    env.execute("land_events")
    rows = io.rows("events_by_user")
"""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from pyflink.common import Types
from pyflink.datastream import DataStream, MapFunction, RuntimeContext, StreamExecutionEnvironment
from pyflink.datastream.connectors.base import Sink

from personastream_flink.event_table import file_options
from personastream_flink.rows import Output

DISCARDING_SINK = "org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink"


def local_environment(parallelism: int = 1) -> StreamExecutionEnvironment:
    """A local (mini-cluster) environment."""
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(parallelism)
    return env


def _plain(value):
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class _Capture(MapFunction):
    """Append each element (a named row as a dict, or a string; with ``json_rows``, a
    ``Row(key, value)`` of ``Output.json_row`` as its JSON value) to a JSON-lines file."""

    def __init__(self, path: str, json_rows: bool = False):
        self.path, self.json_rows = path, json_rows
        self._file = None

    def open(self, runtime_context: RuntimeContext) -> None:
        self._file = open(self.path, "a", encoding="utf-8")

    def map(self, value):
        if self.json_rows:
            self._file.write(value.value + "\n")
        else:
            doc = value if isinstance(value, str) else _plain(value.as_dict())
            self._file.write(json.dumps(doc) + "\n")
        self._file.flush()
        return value

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


class FileIO:
    """The file seam of :mod:`personastream_flink.job_io`: ``events`` written to
    ``<folder>/events.jsonl`` (or read from ``events_path``, one enriched record per line),
    ``placements`` as the control stream, ``erasures`` as the erasure requests (in no particular
    order with the events), ``changes`` the change data capture records of each topic,
    ``records`` the JSON records of each topic read as a table (:meth:`records_options`), writes
    captured into ``<folder>/<table or topic>.jsonl``."""

    def __init__(self, folder: Path, events: list[dict] | None = None,
                 placements: list[str] = (), events_path: Path | None = None,
                 erasures: list[str] = (), changes: dict[str, list[dict | str]] | None = None,
                 promotions: list[str] = (), anomalies: list[str] = (),
                 records: dict[str, list[dict]] | None = None):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.events_path = Path(events_path) if events_path else self.folder / "events.jsonl"
        if events is not None:
            self.events_path.write_text("".join(json.dumps(e) + "\n" for e in events))
        self.placements = list(placements)
        self.erasures_requested = list(erasures)
        self.promotions_records, self.anomaly_records = list(promotions), list(anomalies)
        for topic, changed in (changes or {}).items():  # change data capture, per topic
            (self.folder / f"{topic}.changes.jsonl").write_text(
                "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in changed))
        for topic, docs in (records or {}).items():
            (self.folder / f"{topic}.records.jsonl").write_text(
                "".join(json.dumps(d) + "\n" for d in docs))

    @property
    def events_options(self) -> dict[str, str]:
        return file_options(str(self.events_path))

    def control(self, env: StreamExecutionEnvironment) -> DataStream:
        return env.from_collection(self.placements, type_info=Types.STRING())

    def erasures(self, env: StreamExecutionEnvironment) -> DataStream:
        return env.from_collection(self.erasures_requested, type_info=Types.STRING())

    def promotions(self, env: StreamExecutionEnvironment, t_env=None) -> DataStream:
        return env.from_collection(self.promotions_records, type_info=Types.STRING())

    def anomalies(self, env: StreamExecutionEnvironment) -> DataStream:
        return env.from_collection(self.anomaly_records, type_info=Types.STRING())

    def changes_options(self, topic: str) -> dict[str, str]:
        """The change records given for ``topic`` (none: an empty file)."""
        path = self.folder / f"{topic}.changes.jsonl"
        path.touch()
        return file_options(str(path))

    def records_options(self, topic: str) -> dict[str, str]:
        """The records given for ``topic`` (none: an empty file)."""
        path = self.folder / f"{topic}.records.jsonl"
        path.touch()
        return file_options(str(path))

    def execute_rows(self, stream: DataStream, statement: str, name: str) -> None:
        """Each row captured into ``<name>.jsonl`` (the statement is not run)."""
        self._capture(stream, name, name)

    def publish_keyed(self, t_env, table, topic: str, name: str) -> None:
        self._capture(t_env.to_data_stream(table), topic, name)

    def _capture(self, stream: DataStream, name: str, label: str,
                 json_rows: bool = False) -> None:
        stream.map(_Capture(str(self.folder / f"{name}.jsonl"), json_rows),
                   output_type=stream.get_type()).name(label).sink_to(Sink(DISCARDING_SINK))

    def write_rows(self, stream: DataStream, output: Output, name: str) -> None:
        self._capture(stream, output.table_name, name)

    def write_json_rows(self, t_env, stream: DataStream, output: Output, name: str) -> None:
        self._capture(stream, output.table_name, name, json_rows=True)

    def write_strings(self, stream: DataStream, topic: str, name: str) -> None:
        self._capture(stream, topic, name)

    def publish_json_rows(self, t_env, stream: DataStream, topic: str, name: str) -> None:
        self._capture(stream, topic, name, json_rows=True)

    def publish_rows(self, t_env, stream: DataStream, output: Output, topic: str,
                     name: str) -> None:
        self._capture(stream, topic, name)

    def rows(self, name: str) -> list[dict]:
        """What the job wrote to table (or topic) ``name``, in the order it wrote it."""
        path = self.folder / f"{name}.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]

    @staticmethod
    def arguments(job_name: str, *extra: str) -> list[str]:
        """The common job parameters with placeholder endpoints (nothing is contacted)."""
        return ["--job-name", job_name, "--bootstrap-servers", "unused:9092",
                "--topic", "events.enriched", "--erasures-topic", "users.erasures",
                "--cassandra-hosts", "unused", "--cassandra-local-dc", "unused",
                "--keyspace", "unused", "--jars", "", *extra]


class StandInValueState:
    """A keyed ``ValueState`` of the current key, in memory: a keyed function's unit test
    without Flink."""

    def __init__(self):
        self.state = None

    def value(self):
        return self.state

    def update(self, state) -> None:
        self.state = state

    def clear(self) -> None:
        self.state = None


class StandInRuntime:
    """A runtime context handing out one :class:`StandInValueState` per state name.

    >>> from pyflink.common import Types
    >>> from pyflink.datastream.state import ValueStateDescriptor
    >>> runtime = StandInRuntime()
    >>> runtime.get_state(ValueStateDescriptor("n", Types.INT())).update(3)
    >>> runtime.states["n"].value()
    3
    """

    def __init__(self):
        self.states: dict[str, StandInValueState] = {}

    def get_state(self, descriptor) -> StandInValueState:
        return self.states.setdefault(descriptor.get_name(), StandInValueState())

"""Rows for the Cassandra tables of :mod:`personastream_contracts.tables`: which columns a job
writes (in table order) and their Flink types, from the registry, never retyped here.

>>> output = Output("item_latest_trend", "score_trends")
>>> output.columns  # doctest: +NORMALIZE_WHITESPACE
('bucket', 'item_id', 'window_start', 'views', 'score', 'flagged', 'model_version',
 'scored_by')
>>> row = output.row({"bucket": "all", "item_id": "i", "window_start": None, "views": 3,
...                   "score": 0.5, "flagged": False, "model_version": "3-5-0",
...                   "scored_by": "2-0-0", "extra": 1})
>>> row.as_dict()["views"], len(row)
(3, 8)
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cached_property

import orjson
from pyflink.common import Row, Types

from personastream_contracts.tables import TABLES, Table

FLINK_TYPES = {
    "text": Types.STRING, "int": Types.INT, "bigint": Types.LONG, "double": Types.DOUBLE,
    "boolean": Types.BOOLEAN, "timestamp": Types.SQL_TIMESTAMP,
    "list<text>": lambda: Types.LIST(Types.STRING()),
    "map<text, double>": lambda: Types.MAP(Types.STRING(), Types.DOUBLE()),
    "map<text, text>": lambda: Types.MAP(Types.STRING(), Types.STRING()),
}
"""The Flink type of each CQL type the registry uses (timestamps as naive UTC datetimes)."""

SQL_TYPES = {
    "text": "STRING", "int": "INT", "bigint": "BIGINT", "double": "DOUBLE",
    "boolean": "BOOLEAN", "timestamp": "TIMESTAMP(3)", "list<text>": "ARRAY<STRING>",
    "map<text, double>": "MAP<STRING, DOUBLE>", "map<text, text>": "MAP<STRING, STRING>",
}
"""The Flink SQL type of each CQL type the registry uses (a row published to Kafka)."""

_EPOCH = dt.datetime(1970, 1, 1)


def utc(ms: int) -> dt.datetime:
    """Epoch milliseconds as a timestamp column's value, a naive UTC datetime (twice as fast
    as ``datetime.fromtimestamp`` with a time zone, and the same value).

    >>> utc(1_700_000_000_123)
    datetime.datetime(2023, 11, 14, 22, 13, 20, 123000)
    """
    return _EPOCH + dt.timedelta(milliseconds=ms)


def utc_now() -> dt.datetime:
    """Now, as a timestamp column's value (a naive UTC datetime)."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


#: The type of a :meth:`Output.json_row`: the partition key's text and the row as JSON.
JSON_ROW_TYPE = Types.ROW_NAMED(["key", "value"], [Types.STRING(), Types.STRING()])


@dataclass(frozen=True)
class Output:
    """What job ``writer`` writes to table ``table``: its columns and their Flink row type."""

    table_name: str
    writer: str

    @property
    def table(self) -> Table:
        return TABLES[self.table_name]

    @cached_property
    def columns(self) -> tuple[str, ...]:
        """Computed once: :meth:`row` runs per event."""
        return self.table.columns_for(self.writer)

    @property
    def row_type(self):
        return Types.ROW_NAMED(list(self.columns),
                               [FLINK_TYPES[self.table.column(c).cql_type]()
                                for c in self.columns])

    @property
    def sql_columns(self) -> str:
        """The columns as Flink SQL declares them, the partition key as the primary key.

        >>> Output("item_neighbours", "live_activity").sql_columns
        'item_id STRING, neighbours MAP<STRING, DOUBLE>, views DOUBLE, updated_at TIMESTAMP(3), PRIMARY KEY (item_id) NOT ENFORCED'
        """
        columns = [f"{c} {SQL_TYPES[self.table.column(c).cql_type]}" for c in self.columns]
        return ", ".join([*columns, f"PRIMARY KEY ({', '.join(self.table.partition_key)}) "
                                    "NOT ENFORCED"])

    def row(self, values: dict) -> Row:
        """A named row of ``values`` (extra keys ignored; a missing column is a KeyError)."""
        out = Row(*(values[c] for c in self.columns))
        out.set_field_names(list(self.columns))  # named even when the next operator is chained
        return out

    def json_row(self, values: dict) -> Row:
        """``Row(key, value)`` (:data:`JSON_ROW_TYPE`): the partition key's text and the row's
        columns as one JSON object, timestamps as epoch milliseconds (Cassandra's ``INSERT ...
        JSON`` takes a number as it is, and parses a string by trying one pattern after another,
        13 % of its CPU under live_activity's writes). What a job emits for
        :meth:`KafkaCassandra.write_json_rows
        <personastream_flink.job_io.KafkaCassandra.write_json_rows>`: one string crosses from
        Python into Java, where a row of collections crosses field by field and entry by entry.

        >>> row = Output("item_neighbours", "live_activity").json_row({"item_id": "i",
        ...     "views": 1.5, "neighbours": {"b": 1.0}, "updated_at": 1_700_000_000_123})
        >>> row.key
        'i'
        >>> print(row.value)
        {"item_id":"i","neighbours":{"b":1.0},"views":1.5,"updated_at":1700000000123}
        """
        key, = self.table.partition_key
        out = Row(values[key], orjson.dumps({c: values[c] for c in self.columns}).decode())
        out.set_field_names(["key", "value"])
        return out

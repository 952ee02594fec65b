"""Upserts from a PyFlink DataStream into Cassandra (there is no Table/SQL Cassandra sink).

Each row is written synchronously with a prepared, idempotent INSERT before the next one is
processed, so a checkpoint never covers an unwritten row: at-least-once delivery whose
replays overwrite the same primary keys, i.e. no duplicates in effect.
"""
from __future__ import annotations

import logging

from pyflink.datastream import DataStream, ProcessFunction, RuntimeContext
from pyflink.datastream.connectors.base import Sink

from personastream_contracts.cassandra import cassandra_cluster, insert_statement

log = logging.getLogger(__name__)

DISCARDING_SINK = "org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink"


class CassandraUpsert(ProcessFunction):
    """Write each row's ``columns`` to ``keyspace.table``; rows missing a key are counted."""

    def __init__(self, hosts: list[str], port: int, local_dc: str, keyspace: str, table: str,
                 columns: list[str], key_columns: list[str]):
        self.hosts, self.port, self.local_dc = hosts, port, local_dc
        self.keyspace, self.table = keyspace, table
        self.columns, self.key_columns = columns, key_columns
        self._cluster = self._session = self._insert = None
        self._written = self._missing_key = None

    def open(self, runtime_context: RuntimeContext) -> None:
        self._cluster = cassandra_cluster(self.hosts, self.port, self.local_dc)
        self._session = self._cluster.connect()
        self._insert = self._session.prepare(
            insert_statement(f"{self.keyspace}.{self.table}", self.columns))
        self._insert.is_idempotent = True
        group = runtime_context.get_metrics_group().add_group("cassandra", self.table)
        self._written = group.counter("rows_written")
        self._missing_key = group.counter("rows_missing_key")

    def process_element(self, value, ctx: ProcessFunction.Context):
        row = value.as_dict()
        if any(row.get(k) is None for k in self.key_columns):
            self._missing_key.inc()
            log.warning("not writing row without %s to %s: %s", self.key_columns, self.table, row)
            return
        self._session.execute(self._insert, [row[c] for c in self.columns])
        self._written.inc()
        yield from ()

    def close(self) -> None:
        if self._cluster is not None:
            self._cluster.shutdown()


def write_to_cassandra(stream: DataStream, writer: ProcessFunction, name: str) -> None:
    """Run ``writer`` on every element; the writes are the output, so the stream ends in a
    discarding sink (a DataStream needs one)."""
    stream.process(writer).name(name).sink_to(Sink(DISCARDING_SINK))

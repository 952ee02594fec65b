"""Streams keyed with no Python between the operators.

In thread mode every Python function an element passes costs a crossing of the JVM-Python
boundary under the TaskManager's one GIL. PyFlink's ``key_by(f)`` runs one per element: it adds
``Row(f(x), x)`` in a Python map, then keys by that row's first field in Java (and
``get_side_output(tag).key_by(f)`` one more, an identity map after the side output). Rows that
are already ``Row(key, value)`` need none of it, and Java keys them as PyFlink's key_by does
after its Python step:

- :func:`keyed_table`: a table's rows keyed by one of its columns, the pairs made in SQL;
- :func:`keyed_side_output`: an operator's side output emitted as ``Row(key, value)`` (a
  :func:`keyed_tag`).
"""
from __future__ import annotations

from pyflink.common import Types
from pyflink.common.typeinfo import LocalTimeTypeInfo, RowTypeInfo, _from_java_type
from pyflink.datastream import DataStream, KeyedStream, OutputTag
from pyflink.java_gateway import get_gateway
from pyflink.table import StreamTableEnvironment, Table
from pyflink.table.expressions import col, row


def keyed_tag(name: str, key_type, value_type) -> OutputTag:
    """A side output whose elements are ``Row(key, value)``.

    >>> from pyflink.common import Types
    >>> keyed_tag("updates", Types.STRING(), Types.LONG()).type_info
    RowTypeInfo(String, Long)
    """
    return OutputTag(name, Types.ROW([key_type, value_type]))


def keyed_side_output(stream: DataStream, tag: OutputTag) -> KeyedStream:
    """The values of ``stream``'s side output ``tag`` (a :func:`keyed_tag`), keyed by their
    keys: what ``stream.get_side_output(tag).key_by(...)`` makes, with no Python."""
    side = stream._j_data_stream.getSideOutput(tag.get_java_output_tag())
    return _keyed_pairs(side, tag.type_info, DataStream(side))


def keyed_table(t_env: StreamTableEnvironment, table: Table, key: str) -> KeyedStream:
    """``table``'s rows (named Rows of all its columns) keyed by its column ``key``: what
    ``t_env.to_data_stream(table).key_by(lambda r: r[key])`` makes, with no Python. The pairs
    ``Row(key, row)`` are made in SQL and the stream gets a ``RowTypeInfo`` (PyFlink's
    embedded keyed operators take no other), hence the append-only conversion: ``table`` must
    be insert-only, as a stream of events is."""
    schema = table.get_schema()
    pairs = table.select(col(key), row(*[col(n) for n in schema.get_field_names()])
                         .cast(schema.to_row_data_type()))
    converter = get_gateway().jvm.org.apache.flink.table.types.utils \
        .LegacyTypeInfoDataTypeConverter
    pair_type = _sql_timestamps(_from_java_type(converter.toLegacyTypeInfo(
        pairs._j_table.getResolvedSchema().toPhysicalRowDataType())))
    stream = t_env.to_append_stream(pairs, pair_type)
    return _keyed_pairs(stream._j_data_stream, pair_type, stream)


def _sql_timestamps(type_info):
    """``type_info`` with its ``LocalDateTime`` fields as ``java.sql.Timestamp`` ones: in thread
    mode a Python function gets the latter as a ``datetime`` (as in process mode), the former
    as a Java object it cannot give back as a ``Timestamp`` column.

    >>> local = LocalTimeTypeInfo(LocalTimeTypeInfo.TimeType.LOCAL_DATE_TIME)
    >>> _sql_timestamps(Types.ROW([Types.STRING(), Types.ROW([local])]))
    RowTypeInfo(f0: String, f1: RowTypeInfo(f0: TimestampTypeInfo))
    """
    if isinstance(type_info, LocalTimeTypeInfo) and \
            type_info._time_type == LocalTimeTypeInfo.TimeType.LOCAL_DATE_TIME:
        return Types.SQL_TIMESTAMP()
    if isinstance(type_info, RowTypeInfo):
        return RowTypeInfo([_sql_timestamps(t) for t in type_info.get_field_types()],
                           type_info.get_field_names())
    return type_info


def _keyed_pairs(j_stream, pair_type: RowTypeInfo, origin: DataStream) -> KeyedStream:
    """``j_stream`` (Java elements ``Row(key, value)`` of ``pair_type``) keyed by the key."""
    key_type, value_type = pair_type.get_field_types()
    keyed = j_stream.keyBy(get_gateway().jvm.KeyByKeySelector(),
                           Types.ROW([key_type]).get_java_type_info())
    return KeyedStream(keyed, value_type, origin)

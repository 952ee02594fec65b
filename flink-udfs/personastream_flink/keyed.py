"""A side output keyed with no Python between the operators.

In thread mode every Python function an element passes costs a crossing of the JVM-Python
boundary under the TaskManager's one GIL. PyFlink's ``get_side_output(tag).key_by(f)`` runs two
per element: an identity map after the side output, and ``f`` (its key_by adds
``Row(f(x), x)`` in Python, then keys by that row's first field in Java). An operator that
emits its side output already as ``Row(key, value)`` (a :func:`keyed_tag`) needs neither:
:func:`keyed_side_output` keys it in Java, as PyFlink's key_by does after its Python step.
"""
from __future__ import annotations

from pyflink.common import Types
from pyflink.datastream import DataStream, KeyedStream, OutputTag
from pyflink.java_gateway import get_gateway


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
    key_type, value_type = tag.type_info.get_field_types()
    side = stream._j_data_stream.getSideOutput(tag.get_java_output_tag())
    keyed = side.keyBy(get_gateway().jvm.KeyByKeySelector(),
                       Types.ROW([key_type]).get_java_type_info())
    return KeyedStream(keyed, value_type, DataStream(side))

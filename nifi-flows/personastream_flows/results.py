"""The result a Python processor hands NiFi for each FlowFile, with its attributes built by one
call over NiFi's Python bridge (py4j).

NiFi's own ``FlowFileTransformResult`` builds them with ``jvm.java.util.HashMap()`` and a
``put`` per attribute: py4j resolves ``java``, then ``java.util``, then the class, each a round
trip to the JVM, and the first two are failed ``Class.forName`` calls that search every jar of
the processor's class loaders (async-profiler on NiFi at 50 requests/s: 8.9 % of its CPU),
then one more for the map and one per attribute. :class:`TransformResult` makes the map with
``java.util.Map.of``, looked up once per process: one round trip.

>>> class Jvm:  # what NiFi's gateway resolves, here recording the call
...     class java:
...         class util:
...             class Map:
...                 of = staticmethod(lambda *pairs: ("Map.of", pairs))
>>> TransformResult("success", {"a": "1", "b": "2"}, "x").getAttributes(Jvm)
('Map.of', ('a', '1', 'b', '2'))
>>> TransformResult("failure").getAttributes(Jvm) is None
True
>>> TransformResult("success", {str(n): "" for n in range(11)})
Traceback (most recent call last):
ValueError: 11 attributes: a result sets at most 10 (java.util.Map.of)
"""
from __future__ import annotations

import functools
import itertools

#: Attributes at most per result: ``java.util.Map.of`` takes up to ten pairs.
MAX_ATTRIBUTES = 10


@functools.cache
def _nifi_map_of():
    """NiFi's JVM's ``java.util.Map.of``, looked up once per process (only inside NiFi)."""
    from nifiapi.__jvm__ import JvmHolder

    return JvmHolder.jvm.java.util.Map.of


class TransformResult:
    """What NiFi reads from a ``FlowFileTransform``'s ``transform``: the relationship, the new
    attributes (strings) and the new content (bytes or str), as ``FlowFileTransformResult``."""

    class Java:
        implements = ["org.apache.nifi.python.processor.FlowFileTransformResult"]

    def __init__(self, relationship: str, attributes: dict[str, str] | None = None,
                 contents: bytes | str | None = None):
        if attributes is not None and len(attributes) > MAX_ATTRIBUTES:
            raise ValueError(f"{len(attributes)} attributes: a result sets at most "
                             f"{MAX_ATTRIBUTES} (java.util.Map.of)")
        self.relationship = relationship
        self.attributes = attributes
        self.contents = contents.encode() if isinstance(contents, str) else contents

    def getRelationship(self) -> str:
        return self.relationship

    def getContents(self) -> bytes | None:
        return self.contents

    def getAttributes(self, jvm=None):
        """The attributes as a ``java.util.Map`` of NiFi's JVM (or of ``jvm``)."""
        if self.attributes is None:
            return None
        of = _nifi_map_of() if jvm is None else jvm.java.util.Map.of
        return of(*itertools.chain.from_iterable(self.attributes.items()))

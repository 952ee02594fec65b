"""NiFi's FlowFile package format (``FlowFile Stream, v3``, what MergeContent writes): many
FlowFiles, each with its attributes and content, in one. The ingest flow merges HTTP requests
this way so that Python sees a batch of requests per call, each with its own headers.

Layout of each packaged FlowFile (big-endian): the magic ``NiFiFF3``; the number of attributes;
each attribute's name and value (UTF-8, each preceded by its length); the content's length (8
bytes); the content. A count or length below 65535 takes 2 bytes, else ``0xFFFF`` and 4 bytes.

>>> data = pack([({"http.remote.addr": "10.0.0.1"}, b'{"a": 1}'), ({}, b"")])
>>> unpack(data)
[({'http.remote.addr': '10.0.0.1'}, b'{"a": 1}'), ({}, b'')]
"""
from __future__ import annotations

import struct

MAGIC = b"NiFiFF3"
MIME_TYPE = "application/flowfile-v3"
_LONG_FIELD = 0xFFFF


class PackageError(ValueError):
    """The data is not a FlowFile v3 package, or it is cut short."""


def _read_length(data: bytes, pos: int) -> tuple[int, int]:
    (short,) = struct.unpack_from(">H", data, pos)
    if short < _LONG_FIELD:
        return short, pos + 2
    (long,) = struct.unpack_from(">I", data, pos + 2)
    return long, pos + 6


def _read_text(data: bytes, pos: int) -> tuple[str, int]:
    length, pos = _read_length(data, pos)
    if pos + length > len(data):
        raise PackageError(f"a string of {length} bytes at {pos} runs past the end of the data")
    return data[pos:pos + length].decode("utf-8"), pos + length


def unpack(data: bytes) -> list[tuple[dict[str, str], bytes]]:
    """The ``(attributes, content)`` of every FlowFile in a package, in order."""
    out, pos = [], 0
    try:
        while pos < len(data):
            if data[pos:pos + len(MAGIC)] != MAGIC:
                raise PackageError(f"no FlowFile v3 header at byte {pos}")
            count, pos = _read_length(data, pos + len(MAGIC))
            attributes = {}
            for _ in range(count):
                name, pos = _read_text(data, pos)
                attributes[name], pos = _read_text(data, pos)
            (size,) = struct.unpack_from(">Q", data, pos)
            pos += 8
            if pos + size > len(data):
                raise PackageError(f"content of {size} bytes at {pos} runs past the end")
            out.append((attributes, bytes(data[pos:pos + size])))
            pos += size
    except struct.error as err:
        raise PackageError(f"package cut short at byte {pos}: {err}") from err
    return out


def _length(n: int) -> bytes:
    return struct.pack(">H", n) if n < _LONG_FIELD else struct.pack(">HI", _LONG_FIELD, n)


def pack(flowfiles: list[tuple[dict[str, str], bytes]]) -> bytes:
    """The package of ``(attributes, content)`` pairs, as NiFi writes it."""
    parts = []
    for attributes, content in flowfiles:
        parts += [MAGIC, _length(len(attributes))]
        for name, value in attributes.items():
            for text in (name.encode("utf-8"), value.encode("utf-8")):
                parts += [_length(len(text)), text]
        parts += [struct.pack(">Q", len(content)), content]
    return b"".join(parts)

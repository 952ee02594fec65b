"""Request bodies: one JSON event, or a JSON array of them, each kept as its exact text.

>>> parse_body(' [{"a": 1}, 2 ]')
(True, [('{"a": 1}', {'a': 1}), ('2', 2)])
"""
from __future__ import annotations

import json
import math
import re
import zlib
from typing import Any

_JSON_WS = re.compile(r"[ \t\n\r]*")


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON value")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"number {text[:40]} is out of range for a double")
    return value


_DECODER = json.JSONDecoder(parse_constant=_no_constant, parse_float=_finite_float)


def parse_body(text: str) -> tuple[bool, list[tuple[str, Any]]]:
    """``(is_array, [(raw_text, value), ...])`` of a JSON body, each raw text byte-exact.

    Raises ValueError (json.JSONDecodeError among them) when the text is not one JSON value.
    """
    pos = _JSON_WS.match(text).end()
    if text.startswith("\ufeff", pos):  # a UTF-8 BOM, which some clients send
        pos = _JSON_WS.match(text, pos + 1).end()
    items: list[tuple[str, Any]] = []
    is_array = text.startswith("[", pos)
    if not is_array:
        value, end = _DECODER.raw_decode(text, pos)
        items.append((text[pos:end], value))
    else:
        pos = _JSON_WS.match(text, pos + 1).end()
        end = pos + 1 if text.startswith("]", pos) else None
        while end is None:
            value, after = _DECODER.raw_decode(text, pos)
            items.append((text[pos:after], value))
            pos = _JSON_WS.match(text, after).end()
            if text.startswith(",", pos):
                pos = _JSON_WS.match(text, pos + 1).end()
            elif text.startswith("]", pos):
                end = pos + 1
            else:
                raise json.JSONDecodeError("Expecting ',' delimiter or ']'", text, pos)
    tail = _JSON_WS.match(text, end).end()
    if tail != len(text):
        raise json.JSONDecodeError("Extra data", text, tail)
    return is_array, items


class ContentEncodingError(ValueError):
    """A body declared compressed that cannot be decoded, or in an unsupported encoding."""


class DecodedTooLarge(ValueError):
    """A compressed body that decodes to more than the limit (e.g. a gzip bomb)."""


def decode_content(body: bytes, encoding: str | None, limit: int) -> bytes:
    """The body as sent before its ``Content-Encoding`` (``gzip``; absent or ``identity``: as
    is), decoded to at most ``limit`` bytes: a longer one raises :class:`DecodedTooLarge`
    without being decoded further.

    >>> import gzip
    >>> decode_content(gzip.compress(b"[1, 2]"), "gzip", 100)
    b'[1, 2]'
    >>> decode_content(gzip.compress(b"0" * 1000), "gzip", 100)
    Traceback (most recent call last):
    ...
    personastream_flows.ingest.body.DecodedTooLarge: gzip body decodes to more than 100 bytes
    """
    kind = (encoding or "identity").strip().lower()
    if kind == "identity":
        return body
    if kind not in ("gzip", "x-gzip"):
        raise ContentEncodingError(f"Content-Encoding {encoding!r} is not supported; send gzip "
                                   "or an uncompressed body")
    decoder = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = decoder.decompress(body, limit + 1)
        if len(out) > limit or decoder.unconsumed_tail:
            raise DecodedTooLarge(f"gzip body decodes to more than {limit} bytes")
        out += decoder.flush()
    except zlib.error as err:
        raise ContentEncodingError(f"body declared gzip is not valid gzip: {err}") from err
    if len(out) > limit:
        raise DecodedTooLarge(f"gzip body decodes to more than {limit} bytes")
    if not decoder.eof:
        raise ContentEncodingError("body declared gzip ends before its gzip stream does")
    return out

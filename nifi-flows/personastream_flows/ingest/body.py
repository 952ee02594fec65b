"""Request bodies: one JSON event, or a JSON array of them, each kept as its exact text.

>>> parse_body(' [{"a": 1}, 2 ]')
(True, [('{"a": 1}', {'a': 1}), ('2', 2)])
"""
from __future__ import annotations

import json
import math
import re
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

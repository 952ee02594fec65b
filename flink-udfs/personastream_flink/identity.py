"""Who an event belongs to: the known user id, else the device's anonymous id.

One definition for every job (profiles, sessions, landing) and for the API.

>>> user_key("u-42", "a-7")
'u-42'
>>> user_key(None, "a-7")
'anon:a-7'
>>> user_key("", None) is None
True
"""
from __future__ import annotations

from pyflink.table import DataTypes
from pyflink.table.udf import udf

ANONYMOUS_PREFIX = "anon:"


def user_key(user_id: str | None, anonymous_id: str | None) -> str | None:
    if user_id:
        return user_id
    if anonymous_id:
        return ANONYMOUS_PREFIX + anonymous_id
    return None


user_key_udf = udf(user_key, result_type=DataTypes.STRING())

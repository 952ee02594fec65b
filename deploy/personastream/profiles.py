"""Reading customer profiles: the one reader, which accepts the current layout and the
previous one (a v1 row, written before segments existed, reads with no segment)."""
from __future__ import annotations

from personastream.errors import PersonastreamError
from personastream.stack.cassandra import keyspace, session
from personastream.stack.migrations import latest_version

SEGMENT_FIELDS = ("segment_id", "segment_distance", "segment_model")


class ProfileError(PersonastreamError):
    """A profile row could not be read."""


def from_row(row: dict) -> dict:
    """A profile dict from a ``profiles`` row of version 1 or 2.

    >>> from_row({"user_key": "u1", "profile_version": 1, "views_1h": 2})["segment_id"] is None
    True
    """
    version = row.get("profile_version") or 1
    if version > latest_version("profiles"):
        raise ProfileError(f"profile of {row.get('user_key')} has version {version}, newer than "
                           f"this reader ({latest_version('profiles')}); upgrade personastream")
    profile = dict(row)
    for field in SEGMENT_FIELDS:
        profile.setdefault(field, None)
    return profile


def read_profile(settings, user_key: str) -> dict | None:
    with session(settings) as cql:
        query = cql.prepare(f"SELECT * FROM {keyspace(settings)}.profiles WHERE user_key = ?")
        row = cql.execute(query, [user_key]).one()
    return None if row is None else from_row(row._asdict())

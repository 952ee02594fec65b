"""Geo enrichment: the client address looked up in an IP database in MaxMind's MMDB format
(MaxMind GeoLite2-City/-Country, DB-IP lite, the ip-location-db builds).

>>> GeoLookup(None).geo("8.8.8.8") == NULL_GEO
True
"""
from __future__ import annotations

from typing import Any

NULL_GEO = {"country": None, "region": None, "city": None, "latitude": None, "longitude": None}


class GeoDatabaseError(ValueError):
    """The GeoIP database cannot be opened."""


def _dig(node: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def geo_from_record(record: Any) -> dict:
    """Map an MMDB record to ``geo``: MaxMind's layout (GeoLite2-City/-Country, DB-IP's own
    files) or the flat one of the ip-location-db builds (``country_code``, ``state1``, ``city``,
    ``latitude``, ``longitude``), which the default DB-IP Country Lite download uses.

    Keys are always present; a value the database does not have is None (DB-IP lite gives no
    subdivision ``iso_code``, a Country database no city or location).

    >>> geo_from_record({"country": {"iso_code": "DE"}, "subdivisions": [{"iso_code": "BE"}],
    ...                  "city": {"names": {"en": "Berlin"}},
    ...                  "location": {"latitude": 52.52, "longitude": 13.40}})
    {'country': 'DE', 'region': 'BE', 'city': 'Berlin', 'latitude': 52.52, 'longitude': 13.4}
    >>> geo_from_record({"country_code": "GB"})["country"]
    'GB'
    >>> geo_from_record(None) == NULL_GEO
    True
    """
    subdivisions = _dig(record, "subdivisions")
    first = subdivisions[0] if isinstance(subdivisions, list) and subdivisions else None

    def pick(*candidates: Any) -> Any:
        return next((c for c in candidates if c is not None), None)

    geo = {"country": pick(_dig(record, "country", "iso_code"), _dig(record, "country_code")),
           "region": pick(_dig(first, "iso_code"), _dig(record, "state1")),
           "city": pick(_dig(record, "city", "names", "en"), _dig(record, "city")),
           "latitude": pick(_dig(record, "location", "latitude"), _dig(record, "latitude")),
           "longitude": pick(_dig(record, "location", "longitude"), _dig(record, "longitude"))}
    for key in ("country", "region", "city"):
        if not isinstance(geo[key], str):
            geo[key] = None
    for key in ("latitude", "longitude"):
        if isinstance(geo[key], bool) or not isinstance(geo[key], (int, float)):
            geo[key] = None
    return geo


class GeoLookup:
    """``geo`` of client addresses from the MMDB file at ``path`` (None: null values)."""

    def __init__(self, path: str | None):
        self._reader = None
        if path:
            import maxminddb

            try:
                self._reader = maxminddb.open_database(path)
            except (OSError, ValueError, maxminddb.InvalidDatabaseError) as err:
                raise GeoDatabaseError(f"GeoIP database {path} cannot be opened: {err}; pass a "
                                       "MaxMind-format .mmdb or None to skip geo") from err

    def geo(self, ip: str | None) -> dict:
        """Null values without a database, for private or unknown addresses, and for an address
        that is not an IP (or IPv6 in an IPv4-only database)."""
        if self._reader is None or not ip:
            return dict(NULL_GEO)
        try:
            return geo_from_record(self._reader.get(ip))
        except (ValueError, TypeError):  # not an IP address, or IPv6 in an IPv4 database
            return dict(NULL_GEO)

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

"""The one way to reach Cassandra (driver ``Cluster`` and sessions), and the pipeline's schema
on it: keyspace, tables of :mod:`personastream_contracts.tables`, layout migrations.

>>> replication_map("SimpleStrategy:1")
"{'class': 'SimpleStrategy', 'replication_factor': 1}"
>>> replication_map("NetworkTopologyStrategy:dc1=3,dc2=2")
"{'class': 'NetworkTopologyStrategy', 'dc1': 3, 'dc2': 2}"
"""
from __future__ import annotations

import datetime as dt
import logging
import re
from contextlib import contextmanager
from typing import Iterator

from personastream_contracts.errors import SettingsError
from personastream_contracts.tables import SCHEMA_MIGRATIONS, TABLES, profile_from_row

log = logging.getLogger(__name__)

PROTOCOL_VERSION = 5  # Cassandra 4.0+; pinned so the driver does not probe and downgrade
_KEYSPACE = re.compile(r"^[a-z_][a-z0-9_]{0,47}$")


def cassandra_cluster(contact_points: list[str], port: int, local_dc: str,
                      timeout_s: float = 10):
    """A driver ``Cluster`` preferring ``local_dc``, token-aware: the one definition for the
    jobs, the API and the CLI."""
    from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
    from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy

    profile = ExecutionProfile(
        load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy(local_dc=local_dc)))
    return Cluster(contact_points, port=port, connect_timeout=timeout_s,
                   protocol_version=PROTOCOL_VERSION,
                   execution_profiles={EXEC_PROFILE_DEFAULT: profile})


def settings_cluster(settings, timeout_s: float = 10):
    """:func:`cassandra_cluster` of the configured contact points."""
    return cassandra_cluster(settings.cassandra_contact_points, settings.cassandra_port,
                             settings.cassandra_local_dc, timeout_s)


@contextmanager
def session(settings, timeout_s: float = 10) -> Iterator:
    """A driver session to the configured contact points, closed on exit. Statements name
    their tables fully (``keyspace.table``), as Cassandra recommends for prepared statements."""
    cluster = settings_cluster(settings, timeout_s)
    try:
        yield cluster.connect()
    finally:
        cluster.shutdown()


def keyspace(settings) -> str:
    """The configured keyspace, checked to be a plain identifier (safe to name in CQL)."""
    if not _KEYSPACE.match(settings.cassandra_keyspace):
        raise SettingsError(f"cassandra_keyspace {settings.cassandra_keyspace!r} must be a "
                            "lower-case identifier (letters, digits, _)")
    return settings.cassandra_keyspace


def replication_map(spec: str) -> str:
    """CQL replication map from the ``cassandra_replication`` setting."""
    strategy, _, factors = spec.partition(":")
    try:
        if strategy == "SimpleStrategy":
            return f"{{'class': 'SimpleStrategy', 'replication_factor': {int(factors)}}}"
        if strategy == "NetworkTopologyStrategy":
            pairs = [p.split("=") for p in factors.split(",")]
            if all(_KEYSPACE.match(dc) for dc, _ in pairs):
                body = ", ".join(f"'{dc}': {int(rf)}" for dc, rf in pairs)
                return f"{{'class': 'NetworkTopologyStrategy', {body}}}"
    except ValueError:
        pass
    raise SettingsError(f"cassandra_replication {spec!r} is not 'SimpleStrategy:RF' or "
                        "'NetworkTopologyStrategy:dc1=RF,dc2=RF'")


def schema_statements(settings) -> list[str]:
    """The idempotent CQL statements that create the keyspace and the tables (layout 1)."""
    ks = keyspace(settings)
    return [f"CREATE KEYSPACE IF NOT EXISTS {ks} WITH replication = "
            f"{replication_map(settings.cassandra_replication)}",
            *(t.create_statement(ks) for t in TABLES.values())]


def ensure_schema(settings) -> int:
    """Create the keyspace and tables if missing; return the number of statements run."""
    statements = schema_statements(settings)
    with session(settings) as cql:
        for statement in statements:
            cql.execute(statement, timeout=60)
    return len(statements)


def migrate(settings) -> list[str]:
    """Apply the layout migrations not applied yet (idempotent: a column already there is not
    added again), recorded in ``schema_migrations``; return their names (``table vN``)."""
    ks = keyspace(settings)
    applied = []
    with session(settings) as cql:
        cql.execute(SCHEMA_MIGRATIONS.create_statement(ks), timeout=60)
        done = {(r.table_name, r.version)
                for r in cql.execute(f"SELECT table_name, version FROM {ks}.schema_migrations")}
        for migration in (m for t in TABLES.values() for m in t.layout_migrations()):
            if (migration.table, migration.version) in done:
                continue
            existing = {r.column_name for r in cql.execute(
                "SELECT column_name FROM system_schema.columns WHERE keyspace_name = %s "
                "AND table_name = %s", (ks, migration.table))}
            for column in migration.columns:
                if column.name not in existing:
                    cql.execute(f"ALTER TABLE {ks}.{migration.table} ADD {column.name} "
                                f"{column.cql_type}", timeout=60)
            cql.execute(f"INSERT INTO {ks}.schema_migrations (table_name, version, description, "
                        "applied_at) VALUES (%s, %s, %s, %s)",
                        (migration.table, migration.version, migration.description,
                         dt.datetime.now(dt.timezone.utc)))
            applied.append(f"{migration.table} v{migration.version}")
            log.info("migrated %s to v%d: %s", migration.table, migration.version,
                     migration.description)
    return applied


def insert_statement(table: str, columns: list[str] | tuple[str, ...]) -> str:
    """CQL upsert with bind markers for ``columns``.

    >>> insert_statement("ks.events_by_user", ["user_key", "event_id"])
    'INSERT INTO ks.events_by_user (user_key, event_id) VALUES (?, ?)'
    """
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


def insert_json_statement(table: str) -> str:
    """CQL upsert of a row given as one JSON object (one bind marker); columns it leaves out
    keep their values, as with :func:`insert_statement`.

    >>> insert_json_statement("ks.live_profiles")
    'INSERT INTO ks.live_profiles JSON ? DEFAULT UNSET'
    """
    return f"INSERT INTO {table} JSON ? DEFAULT UNSET"


def read_profile(settings, user_key: str) -> dict | None:
    """A customer's ``profiles`` row through the one reader
    (:func:`~personastream_contracts.tables.profile_from_row`), or None."""
    with session(settings) as cql:
        query = cql.prepare(f"SELECT * FROM {keyspace(settings)}.profiles WHERE user_key = ?")
        row = cql.execute(query, [user_key]).one()
    return None if row is None else profile_from_row(row._asdict())

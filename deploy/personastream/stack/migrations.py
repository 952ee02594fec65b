"""Versioned table layouts: the base layout is ``templates/cassandra-schema.cql`` (version 1
of each table); each later version is a migration, applied in order, idempotent, recorded in
``schema_migrations``. ``stack up`` runs them; so does ``personastream profiles migrate``.
Readers accept rows written under the previous version (see ``personastream.profiles``).
"""
from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass

from personastream.errors import SettingsError
from personastream.stack.cassandra import keyspace, session

log = logging.getLogger(__name__)

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")
_TYPES = {"int", "bigint", "double", "text", "boolean", "timestamp"}


@dataclass(frozen=True)
class Migration:
    table: str
    version: int
    description: str
    add_columns: tuple[tuple[str, str], ...]

    def statements(self, ks: str, existing: set[str]) -> list[str]:
        """ALTER statements for the columns not there yet (identifiers and types checked)."""
        out = []
        for column, kind in self.add_columns:
            if not (_IDENTIFIER.match(column) and _IDENTIFIER.match(self.table) and kind in _TYPES):
                raise SettingsError(f"migration {self.table} v{self.version}: bad column "
                                    f"{column!r} {kind!r}")
            if column not in existing:
                out.append(f"ALTER TABLE {ks}.{self.table} ADD {column} {kind}")
        return out


MIGRATIONS = (
    Migration("profiles", 2, "customer segment from the segments job",
              (("segment_id", "int"), ("segment_distance", "double"), ("segment_model", "text"))),
    Migration("item_trends", 2, "score of the shadow model version beside the live one",
              (("shadow_version", "text"), ("shadow_score", "double"),
               ("shadow_flagged", "boolean"))),
)


def latest_version(table: str) -> int:
    """The newest layout version of ``table`` (1 when it never migrated).

    >>> latest_version("profiles"), latest_version("item_trends")
    (2, 2)
    """
    return max((m.version for m in MIGRATIONS if m.table == table), default=1)


def migrate(settings) -> list[str]:
    """Apply the migrations not applied yet; return their names (``table vN``)."""
    ks = keyspace(settings)
    applied = []
    with session(settings) as cql:
        cql.execute(f"CREATE TABLE IF NOT EXISTS {ks}.schema_migrations (table_name text, "
                    "version int, description text, applied_at timestamp, "
                    "PRIMARY KEY (table_name, version))", timeout=60)
        done = {(r.table_name, r.version)
                for r in cql.execute(f"SELECT table_name, version FROM {ks}.schema_migrations")}
        for migration in sorted(MIGRATIONS, key=lambda m: (m.table, m.version)):
            if (migration.table, migration.version) in done:
                continue
            existing = {r.column_name for r in cql.execute(
                "SELECT column_name FROM system_schema.columns WHERE keyspace_name = %s "
                "AND table_name = %s", (ks, migration.table))}
            for statement in migration.statements(ks, existing):
                cql.execute(statement, timeout=60)
            cql.execute(f"INSERT INTO {ks}.schema_migrations (table_name, version, description, "
                        "applied_at) VALUES (%s, %s, %s, %s)",
                        (migration.table, migration.version, migration.description,
                         dt.datetime.now(dt.timezone.utc)))
            applied.append(f"{migration.table} v{migration.version}")
            log.info("migrated %s to v%d: %s", migration.table, migration.version,
                     migration.description)
    return applied

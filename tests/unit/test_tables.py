"""The table registry, and the keyspace and table DDL rendered from it and the settings;
identifiers validated, never spliced raw."""
import re

import pytest

from personastream_contracts.cassandra import replication_map, schema_statements
from personastream_contracts.errors import SettingsError
from personastream_contracts.settings import resolve
from personastream_contracts.tables import TABLES, Column, Table, user_tables
from personastream_flink.catalog import JOBS

ENV = {"HOME": "/home/t"}


def test_statements_use_configured_keyspace_and_replication():
    s = resolve(environ=ENV, overrides={"cassandra_keyspace": "ks_a",
                                        "cassandra_replication": "NetworkTopologyStrategy:dc1=3"})
    stmts = schema_statements(s)
    assert stmts[0] == ("CREATE KEYSPACE IF NOT EXISTS ks_a WITH replication = "
                        "{'class': 'NetworkTopologyStrategy', 'dc1': 3}")
    assert all("IF NOT EXISTS ks_a." in st for st in stmts[1:])
    assert not any("--" in st for st in stmts)


@pytest.mark.parametrize("keyspace", ["Bad", "ks;DROP KEYSPACE x", "1ks", ""])
def test_invalid_keyspace_refused(keyspace):
    s = resolve(environ=ENV, overrides={"cassandra_keyspace": keyspace})
    with pytest.raises(SettingsError, match="cassandra_keyspace"):
        schema_statements(s)


@pytest.mark.parametrize("spec", ["SimpleStrategy:x", "Other:1", "NetworkTopologyStrategy:dc'1=3"])
def test_invalid_replication_refused(spec):
    with pytest.raises(SettingsError, match="cassandra_replication"):
        replication_map(spec)


# --- the table registry --------------------------------------------------------------------

@pytest.mark.parametrize("table", TABLES.values(), ids=lambda t: t.name)
def test_ddl_and_migrations_together_create_every_column_once(table):
    created = [c for c in re.findall(r"^    (\w+) ", table.create_statement("ks"), re.M)
               if c != "PRIMARY"]
    added = [c.name for m in table.layout_migrations() for c in m.columns]
    assert sorted(created + added) == sorted(table.column_names)
    assert [m.version for m in table.layout_migrations()] == list(range(2, table.layout_version + 1))


@pytest.mark.parametrize("table", TABLES.values(), ids=lambda t: t.name)
def test_every_writer_writes_the_whole_key(table):
    for writer in table.writers:
        assert set(table.key) <= set(table.columns_for(writer))


def test_the_jobs_of_the_catalogue_write_the_tables_the_registry_names():
    writers = {w for t in TABLES.values() for w in t.writers}
    assert writers == set(JOBS)


def test_a_table_with_an_unknown_key_or_type_is_refused():
    with pytest.raises(ValueError, match="unknown key columns"):
        Table("t", "", (Column("a", "text"),), partition_key=("b",))
    with pytest.raises(ValueError, match="types"):
        Table("t", "", (Column("a", "varchar"),), partition_key=("a",))
    with pytest.raises(ValueError, match="without a migration description"):
        Table("t", "", (Column("a", "text"), Column("b", "int", since=2)), partition_key=("a",))


def test_erase_covers_every_table_keyed_by_customer():
    assert {t.name for t in user_tables()} == {"events_by_user", "profiles", "live_profiles",
                                                "orders_by_user", "offers_by_user"}

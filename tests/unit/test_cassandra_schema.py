"""Keyspace and table DDL rendered from settings; identifiers validated, never spliced raw."""
import pytest

from personastream.errors import SettingsError
from personastream.settings import resolve
from personastream.stack.cassandra import replication_map, schema_statements

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

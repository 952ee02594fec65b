"""Change data capture as code: the Debezium connector's configuration from settings, its
idempotent deployment (against a stand-in for Connect's REST API), the Connect worker's
rendered configuration and the operational schema's statements."""
from __future__ import annotations

import dataclasses

import pytest

from personastream_contracts import operational
from personastream_contracts.errors import SettingsError
from personastream_contracts.settings import renamed, resolve
from personastream_stack import cdc, lifecycle
from personastream_stack.connect import Connect
from personastream_stack.errors import StackError


@pytest.fixture
def settings(tmp_path):
    return resolve(environ={"HOME": str(tmp_path)})


def test_every_captured_table_is_routed_to_its_topic_setting(settings):
    config = cdc.connector_config(settings)
    routes = config["transforms"].split(",")
    assert routes == [f"route_{t}" for t in operational.TABLES]
    for table, topic in cdc.table_topics(settings).items():
        assert config[f"transforms.route_{table}.replacement"] == topic
        # Debezium's own topic for the table, matched literally
        assert config[f"transforms.route_{table}.regex"] == \
            f"\\Q{config['topic.prefix']}.{settings.postgres_schema}.{table}\\E"
    assert config["table.include.list"].split(",") == [
        f"{settings.postgres_schema}\\.{t}" for t in operational.TABLES]


def test_snapshot_then_pgoutput_stream_exactly_once(settings):
    config = cdc.connector_config(settings)
    assert (config["snapshot.mode"], config["plugin.name"], config["exactly.once.support"],
            config["publication.autocreate.mode"]) == ("initial", "pgoutput", "required",
                                                       "filtered")
    assert config["database.port"] == str(settings.postgres_port)
    assert all(isinstance(v, str) for v in config.values())  # Connect takes strings only


def test_a_renamed_run_has_its_own_slot_publication_schema_and_topics(settings):
    run = renamed(settings, "test_1234abcd")
    mine, theirs = cdc.connector_config(run), cdc.connector_config(settings)
    for key in ("slot.name", "publication.name", "topic.prefix", "schema.include.list",
                "transforms.route_customers.replacement", "transforms.route_orders.replacement"):
        assert mine[key] != theirs[key], key
    assert mine["publication.name"] == "test_1234abcd_publication"


def test_the_password_is_sent_only_when_set_and_never_shown(settings):
    assert "database.password" not in cdc.connector_config(settings)
    with_password = dataclasses.replace(settings, postgres_password="s3cret")
    config = cdc.connector_config(with_password)
    assert config["database.password"] == "s3cret"
    assert "s3cret" not in str(cdc.shown(config))


def test_heartbeats_write_a_message_the_connector_skips(settings):
    config = cdc.connector_config(settings)
    assert f"'{cdc.HEARTBEAT_MESSAGE_PREFIX}'" in config["heartbeat.action.query"]
    assert config["message.prefix.exclude.list"] == cdc.HEARTBEAT_MESSAGE_PREFIX
    assert cdc.heartbeat_topic(settings) in cdc.topics(settings)


@pytest.mark.parametrize("field, value", [("cdc_connector", "Personastream-PG"),
                                          ("postgres_schema", "public; drop"),
                                          ("cdc_connector", "x" * 60)])  # + _publication > 63
def test_names_postgres_cannot_take_are_refused_with_the_setting_named(settings, field, value):
    with pytest.raises(SettingsError, match=field):
        cdc.connector_config(dataclasses.replace(settings, **{field: value}))


class FakeConnect:
    """Connect's REST API for one connector: GET and PUT of its configuration."""

    class Response:
        def __init__(self, status_code, body=None):
            self.status_code, self.body, self.ok = status_code, body, status_code < 400
            self.text = str(body)

        def json(self):
            return self.body

    def __init__(self, config=None, refuse=None):
        self.config, self.refuse, self.puts = config, refuse, []

    def __call__(self, settings, method, path, timeout_s=10, **kwargs):
        if method == "GET":
            return self.Response(404, {"message": "not found"}) if self.config is None else \
                self.Response(200, {**self.config, "name": settings.cdc_connector})
        self.puts.append(kwargs["json"])
        if self.refuse:
            return self.Response(400, {"message": self.refuse})
        created, self.config = self.config is None, kwargs["json"]
        return self.Response(201 if created else 200, {})


@pytest.fixture
def connect(monkeypatch):
    def install(**kwargs):
        fake = FakeConnect(**kwargs)
        monkeypatch.setattr(cdc, "rest", fake)
        monkeypatch.setattr(cdc, "ensure_topics", lambda settings, topics: [])
        return fake
    return install


def test_deploy_creates_then_leaves_the_same_configuration_alone(settings, connect):
    fake = connect()
    assert cdc.deploy(settings).action == "created"
    assert cdc.deploy(settings).action == "unchanged"
    assert len(fake.puts) == 1  # no second PUT: the running task is not restarted


def test_a_changed_setting_updates_the_connector(settings, connect):
    fake = connect(config=cdc.connector_config(settings))
    moved = dataclasses.replace(settings, postgres_port=6543)
    assert cdc.deploy(moved).action == "updated"
    assert fake.puts[-1]["database.port"] == "6543"


def test_a_dry_run_changes_nothing(settings, connect):
    fake = connect()
    done = cdc.deploy(settings, dry_run=True)
    assert done.action == "would be created" and fake.puts == []
    assert done.config == cdc.connector_config(settings)


def test_connects_refusal_is_raised_with_its_message(settings, connect):
    connect(refuse="Connector configuration is invalid: slot.name ...")
    with pytest.raises(StackError, match="400: Connector configuration is invalid"):
        cdc.deploy(settings)


def test_the_worker_keeps_its_state_in_kafka_topics_of_its_group(settings):
    settings = dataclasses.replace(settings, kafka_replication_factor=3,
                                   connect_url="http://127.0.0.1:18083")
    config = Connect(settings).write_config()
    props = dict(line.split("=", 1) for line in config.read_text().splitlines()
                 if line and not line.startswith("#"))
    group = settings.connect_group_id
    assert (props["config.storage.topic"], props["offset.storage.topic"],
            props["status.storage.topic"]) == (f"{group}.configs", f"{group}.offsets",
                                               f"{group}.status")
    assert props["offset.storage.replication.factor"] == "3"
    assert props["exactly.once.source.support"] == "enabled"
    assert props["listeners"] == "http://127.0.0.1:18083"


def test_postgres_and_connect_are_stack_components_in_dependency_order(settings):
    names = list(lifecycle.COMPONENTS)
    assert names.index("kafka") < names.index("connect")
    assert names.index("postgres") < names.index("connect")
    assert {"postgres", "connect"} <= set(settings.components)


def test_the_schema_creates_both_captured_tables_idempotently():
    statements = operational.schema_statements()
    for table in operational.TABLES:
        assert any(s.startswith(f"CREATE TABLE IF NOT EXISTS {table} ") for s in statements)
    assert all(" IF NOT EXISTS " in s for s in statements)


def test_the_sample_is_reproducible_and_its_orders_belong_to_its_customers():
    customers = operational.sample_customers(50, seed=3)
    orders = operational.sample_orders(customers, 200, seed=3)
    assert customers == operational.sample_customers(50, seed=3)
    assert len({o["order_id"] for o in orders}) == 200
    created = {c["account_id"]: c["created_at"] for c in customers}
    assert all(o["placed_at"] > created[o["account_id"]] for o in orders)
    assert {c["tier"] for c in customers} <= set(operational.TIERS)

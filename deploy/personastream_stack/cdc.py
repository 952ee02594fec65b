"""Change data capture of the operational database: the Debezium PostgreSQL connector as code,
deployed to Kafka Connect over REST (``personastream cdc deploy``).

Why Debezium's connector on Kafka Connect, rather than Debezium Server or Flink CDC: the
changes land in Kafka topics, the pipeline's one bus, where any job (the coming Flink merge into
profiles), the API or a replay can read them, retained and compacted, without holding a
replication slot of their own. Connect keeps the connector's offsets in Kafka and, with
exactly-once source support (KIP-618, which this connector implements), writes each batch of
change records and its offset in one transaction: a worker killed mid-batch neither loses a
change nor leaves a duplicate that a read-committed consumer can see. Both come from Maven
Central as jars like the rest of the stack. Debezium Server would need its own distribution
(not served as one artifact) and keeps offsets in a file; Flink CDC would tie every consumer
of the changes to one Flink job and its checkpoints.

What the connector does: a consistent snapshot of ``customers`` and ``orders`` first
(``snapshot.mode=initial``), then streams their changes through the ``pgoutput`` plugin from
a replication slot and a publication of just those tables, both named after the connector.
Each change is a Debezium envelope (``before``, ``after``, ``op`` c/u/d/r, ``source`` with the
LSN) as JSON without inline schemas, keyed by the row's primary key, in the topic the settings
name for its table (``topic_cdc_*``); a delete is followed by a tombstone.

>>> from personastream_contracts.settings import resolve
>>> config = connector_config(resolve(environ={}))
>>> config["plugin.name"], config["snapshot.mode"], config["slot.name"]
('pgoutput', 'initial', 'personastream_postgres')
>>> config["table.include.list"]
'public\\\\.customers,public\\\\.orders'
>>> config["transforms.route_customers.regex"], config["transforms.route_customers.replacement"]
('\\\\Qpersonastream_postgres.public.customers\\\\E', 'cdc.customers')
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from personastream_contracts import operational
from personastream_contracts.errors import SettingsError
from personastream_contracts.settings import MASK
from personastream_contracts.topics import cdc_topics
from personastream_stack.connect import rest
from personastream_stack.errors import StackError, StackTimeout
from personastream_stack.kafka import ensure_topics

log = logging.getLogger(__name__)

CONNECTOR_CLASS = "io.debezium.connector.postgresql.PostgresConnector"
JSON_CONVERTER = "org.apache.kafka.connect.json.JsonConverter"
REGEX_ROUTER = "org.apache.kafka.connect.transforms.RegexRouter"
STOP_TIMEOUT_S = 60
#: Debezium's heartbeat topic is ``<this>.<topic.prefix>``.
HEARTBEAT_TOPIC_PREFIX = "__debezium-heartbeat"
#: How often the connector commits its position while the captured tables are quiet, so the
#: replication slot lets PostgreSQL recycle the WAL of the other tables' changes.
HEARTBEAT_INTERVAL_MS = 10_000
#: Prefix of the logical decoding messages the heartbeats write (and the connector skips),
#: and the statement that writes one.
HEARTBEAT_MESSAGE_PREFIX = "personastream_heartbeat"
HEARTBEAT_QUERY = "SELECT pg_logical_emit_message(true, 'personastream_heartbeat', now()::text)"


def slot_name(settings) -> str:
    """The replication slot, named after the connector (one slot per connector)."""
    return operational.identifier(settings.cdc_connector, "cdc_connector")


def publication_name(settings) -> str:
    """The publication of the captured tables, ``<connector>_publication``."""
    return operational.identifier(f"{slot_name(settings)}_publication",
                                  "cdc_connector (+ _publication)")


def table_topics(settings) -> dict[str, str]:
    """The topic of each captured table, from the settings.

    >>> from personastream_contracts.settings import resolve
    >>> table_topics(resolve(environ={}))
    {'customers': 'cdc.customers', 'orders': 'cdc.orders'}
    """
    topics = dict(zip(operational.TABLES, cdc_topics(settings)))
    if len(topics) != len(operational.TABLES):
        raise SettingsError(f"{len(cdc_topics(settings))} CDC topics for the tables "
                            f"{operational.TABLES}: one topic_cdc_* setting per table")
    return topics


def heartbeat_topic(settings) -> str:
    return f"{HEARTBEAT_TOPIC_PREFIX}.{slot_name(settings)}"


def topics(settings) -> list[str]:
    """Every topic the connector writes: its tables' and its heartbeats'."""
    return [*cdc_topics(settings), heartbeat_topic(settings)]


def connector_config(settings) -> dict[str, str]:
    """The connector's whole configuration, as ``PUT /connectors/<name>/config`` takes it."""
    schema = operational.identifier(settings.postgres_schema, "postgres_schema")
    prefix = slot_name(settings)  # Debezium's topic.prefix; its topics are routed below
    topics = table_topics(settings)
    config = {
        "connector.class": CONNECTOR_CLASS,
        "tasks.max": "1",  # one replication stream per slot
        "plugin.name": "pgoutput",  # PostgreSQL's own logical decoding output (no extension)
        "database.hostname": settings.postgres_host,
        "database.port": str(settings.postgres_port),
        "database.user": settings.postgres_user,
        "database.dbname": settings.postgres_database,
        "topic.prefix": prefix,
        "schema.include.list": schema,
        # anchored regular expressions: escape the dot between schema and table
        "table.include.list": ",".join(f"{schema}\\.{table}" for table in topics),
        "slot.name": slot_name(settings),
        "publication.name": publication_name(settings),
        "publication.autocreate.mode": "filtered",  # the included tables only
        "snapshot.mode": "initial",  # a consistent snapshot first, then the stream
        "decimal.handling.mode": "string",  # numeric(12,2) as "12.50", not base64 bytes
        "tombstones.on.delete": "true",  # compaction then forgets a deleted row
        # While the captured tables are quiet and others are not, the slot would hold the WAL
        # of every other change: each heartbeat writes a logical decoding message in a
        # transaction of its own (not published as a record), which moves the connector's
        # committed position and so the slot's. Transactional: after a restart the connector
        # confirms nothing until it has seen a commit past its offset, and a
        # non-transactional message has none. (lsn.flush.mode=connector_and_driver moved the
        # slot past the committed offset instead, and the connector refused to resume.)
        "heartbeat.interval.ms": str(HEARTBEAT_INTERVAL_MS),
        "topic.heartbeat.prefix": HEARTBEAT_TOPIC_PREFIX,
        "heartbeat.action.query": HEARTBEAT_QUERY,
        "message.prefix.exclude.list": HEARTBEAT_MESSAGE_PREFIX,
        # records and offsets in one Kafka transaction per poll (the worker enables it)
        "exactly.once.support": "required",
        "transaction.boundary": "poll",
        # JSON without inline schemas: Flink's debezium-json format reads it as is
        "key.converter": JSON_CONVERTER, "key.converter.schemas.enable": "false",
        "value.converter": JSON_CONVERTER, "value.converter.schemas.enable": "false",
        "transforms": ",".join(f"route_{table}" for table in topics),
    }
    if settings.postgres_password:
        config["database.password"] = settings.postgres_password
    for table, topic in topics.items():
        config[f"transforms.route_{table}.type"] = REGEX_ROUTER
        config[f"transforms.route_{table}.regex"] = f"\\Q{prefix}.{schema}.{table}\\E"
        config[f"transforms.route_{table}.replacement"] = topic
    return config


@dataclass
class Deployment:
    """What ``deploy`` did: ``action`` is created, updated, unchanged or (dry run) would-*."""

    name: str
    action: str
    topics_created: list[str]
    config: dict[str, str] = field(repr=False)


def shown(config: dict[str, str]) -> dict[str, str]:
    """``config`` for display, the password masked."""
    return {k: MASK if k == "database.password" else v for k, v in config.items()}


def deployed_config(settings) -> dict[str, str] | None:
    """The connector's configuration as Connect holds it, or None if it is not deployed."""
    resp = rest(settings, "GET", f"/connectors/{settings.cdc_connector}/config")
    if resp.status_code == 404:
        return None
    _raise_for(resp, "reading the connector's configuration")
    return resp.json()


def deploy(settings, dry_run: bool = False) -> Deployment:
    """Create the connector's topics and create or update the connector (``PUT .../config``: the same
    configuration twice changes nothing); a changed configuration restarts its task, which
    resumes from the committed offset."""
    name, config = settings.cdc_connector, connector_config(settings)
    current = deployed_config(settings)
    current_config = {k: v for k, v in (current or {}).items() if k != "name"}
    action = ("created" if current is None else
              "unchanged" if current_config == config else "updated")
    if dry_run:
        return Deployment(name, action if action == "unchanged" else f"would be {action}",
                          [], config)
    created = ensure_topics(settings, topics(settings))
    if action != "unchanged":
        resp = rest(settings, "PUT", f"/connectors/{name}/config", json=config,
                    timeout_s=60)  # the worker validates it against PostgreSQL first
        _raise_for(resp, f"deploying connector {name}")
    log.info("connector %s %s", name, action)
    return Deployment(name, action, created, config)


def status(settings) -> dict:
    """The connector's and its task's state (Connect), and its replication slot (PostgreSQL):
    active, the LSN confirmed as captured, and the WAL bytes retained behind it."""
    name = settings.cdc_connector
    resp = rest(settings, "GET", f"/connectors/{name}/status")
    if resp.status_code == 404:
        connector = {"state": "NOT DEPLOYED", "tasks": []}
    else:
        _raise_for(resp, f"reading the status of connector {name}")
        body = resp.json()
        connector = {"state": body["connector"]["state"],
                     "tasks": [{"id": t["id"], "state": t["state"],
                                "trace": (t.get("trace") or "").splitlines()[:1]}
                               for t in body["tasks"]]}
    with operational.connect(settings, timeout_s=5) as conn:
        row = conn.execute(
            "SELECT active, confirmed_flush_lsn::text, "
            "pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint "
            "FROM pg_replication_slots WHERE slot_name = %s", (slot_name(settings),)).fetchone()
    slot = None if row is None else {"name": slot_name(settings), "active": row[0],
                                     "confirmed_flush_lsn": row[1], "retained_wal_bytes": row[2]}
    return {"connector": name, **connector, "slot": slot, "topics": table_topics(settings)}


def remove(settings, dry_run: bool = False) -> list[str]:
    """Remove the connector and what it leaves behind: stop it, delete its offsets (so a
    connector of the same name starts with a snapshot again) and itself, then drop its
    replication slot (PostgreSQL would keep WAL for it forever) and publication. Returns what
    was (or, dry run, would be) removed; the topics and their records stay."""
    name = settings.cdc_connector
    removed = []
    if deployed_config(settings) is not None:
        removed.append(f"connector {name} and its offsets")
        if not dry_run:
            _raise_for(rest(settings, "PUT", f"/connectors/{name}/stop"), f"stopping {name}")
            _wait_state(settings, name, "STOPPED")
            _raise_for(rest(settings, "DELETE", f"/connectors/{name}/offsets", timeout_s=60),
                       f"deleting the offsets of {name}")
            _raise_for(rest(settings, "DELETE", f"/connectors/{name}"), f"deleting {name}")
    removed += _drop_slot_and_publication(settings, dry_run)
    return removed


def _drop_slot_and_publication(settings, dry_run: bool) -> list[str]:
    from psycopg import sql

    slot, publication = slot_name(settings), publication_name(settings)
    removed = []
    with operational.connect(settings, autocommit=True, timeout_s=5) as conn:
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while True:  # the stopped task lets go of its slot within moments
            row = conn.execute("SELECT active FROM pg_replication_slots WHERE slot_name = %s",
                               (slot,)).fetchone()
            if row is None or not row[0] or dry_run:
                break
            if time.monotonic() > deadline:
                raise StackTimeout(f"replication slot {slot} still in use after "
                                   f"{STOP_TIMEOUT_S}s; is another connector reading it?")
            time.sleep(0.5)
        if row is not None:
            removed.append(f"replication slot {slot}")
            if not dry_run:
                conn.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
        if conn.execute("SELECT 1 FROM pg_publication WHERE pubname = %s",
                        (publication,)).fetchone():
            removed.append(f"publication {publication}")
            if not dry_run:
                conn.execute(sql.SQL("DROP PUBLICATION {}").format(sql.Identifier(publication)))
    return removed


def _wait_state(settings, name: str, state: str) -> None:
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while True:
        resp = rest(settings, "GET", f"/connectors/{name}/status")
        _raise_for(resp, f"reading the status of {name}")
        if resp.json()["connector"]["state"] == state:
            return
        if time.monotonic() > deadline:
            raise StackTimeout(f"connector {name} not {state} after {STOP_TIMEOUT_S}s "
                               f"(it is {resp.json()['connector']['state']})")
        time.sleep(0.5)


def _raise_for(resp, what: str) -> None:
    """Raise :class:`StackError` with Connect's own message (a failed validation names the
    setting and why) unless the request succeeded."""
    if resp.ok:
        return
    try:
        body = resp.json()
        message = body.get("message") or body
    except ValueError:
        message = resp.text[:500]
    raise StackError(f"{what}: Kafka Connect answered {resp.status_code}: {message}")

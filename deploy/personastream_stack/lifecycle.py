"""`stack up | down | status`: the local servers in dependency order, then the pipeline's topics,
keyspace and tables (created on whatever Kafka and Cassandra the settings point at), and the
operational tables on the local PostgreSQL when it is brought up. The servers
run under supervisord (:mod:`personastream_stack.supervision`): a crashed one starts again by
itself."""
from __future__ import annotations

import logging
import sys
import time

from personastream_contracts import operational
from personastream_contracts.cassandra import ensure_schema, migrate
from personastream_contracts.errors import SettingsError
from personastream_contracts.settings import Settings
from personastream_contracts.topics import cdc_topics, pipeline_topics
from personastream_stack import supervision
from personastream_stack.cassandra import Cassandra
from personastream_stack.component import Component, Health
from personastream_stack.connect import Connect
from personastream_stack.flink import Flink
from personastream_stack.kafka import Kafka, ensure_topics
from personastream_stack.nifi import NiFi
from personastream_stack.postgres import Postgres
from personastream_stack.prometheus import Prometheus

log = logging.getLogger(__name__)

# Start order: NiFi publishes to Kafka, Flink jobs read Kafka and write Cassandra, Connect
# (Debezium) reads PostgreSQL and writes Kafka; Prometheus scrapes them all.
COMPONENTS: dict[str, type[Component]] = {
    "kafka": Kafka, "cassandra": Cassandra, "postgres": Postgres, "nifi": NiFi, "flink": Flink,
    "connect": Connect, "prometheus": Prometheus}


def local_components(settings: Settings, only: tuple[str, ...] = ()) -> list[Component]:
    """The components started here, in start order; ``only`` narrows them down."""
    unknown = sorted(set(settings.components) - set(COMPONENTS))
    if unknown:
        raise SettingsError(f"local_components names {', '.join(unknown)}; "
                            f"choose among {', '.join(COMPONENTS)}")
    not_local = sorted(set(only) - set(settings.components))
    if not_local:
        raise SettingsError(f"{', '.join(not_local)} not in local_components "
                            f"({settings.local_components!r}); nothing to do for it here")
    return [cls(settings) for name, cls in COMPONENTS.items()
            if name in settings.components and (not only or name in only)]


def up(settings: Settings, only: tuple[str, ...] = ()) -> dict[str, float]:
    """Start the local components (idempotent) and provision; return seconds per step.

    Every server is launched before any is waited for, so they boot side by side (those that
    watch the others, once the others answer); each reports the seconds from the start of
    ``up`` until it answered.
    """
    timings: dict[str, float] = {}
    started = time.monotonic()
    components = local_components(settings, only)
    # the watchers (Prometheus) boot once what they watch answers: no ServerDown while booting
    for batch in ([c for c in components if not c.watches_others],
                  [c for c in components if c.watches_others]):
        for component in batch:
            launched = component.start()
            print(f"[{component.name}] {'launched' if launched else 'already running'}",
                  file=sys.stderr)
        for component in batch:
            component.wait_healthy()
            timings[component.name] = time.monotonic() - started
            print(f"[{component.name}] healthy after {timings[component.name]:.1f}s",
                  file=sys.stderr)
    started = time.monotonic()
    # the change topics too: merge_customers reads them before `cdc deploy` fills them
    created = ensure_topics(settings, [*pipeline_topics(settings), *cdc_topics(settings)])
    n_statements = ensure_schema(settings)
    migrated = migrate(settings)
    if any(c.name == "postgres" for c in components):
        n_statements += operational.ensure_schema(settings)
    timings["provision"] = time.monotonic() - started
    print(f"[provision] topics created: {created or 'none (all existed)'}; "
          f"{n_statements} schema statements applied; migrations: {migrated or 'none due'}",
          file=sys.stderr)
    return timings


def down(settings: Settings, purge: bool = False, only: tuple[str, ...] = ()) -> list[str]:
    """Stop the local components this stack started (reverse order); return their names."""
    stopped = []
    for component in reversed(local_components(settings, only)):
        if component.stop():
            stopped.append(component.name)
        if purge:
            component.purge()
    supervision.shutdown(settings)  # once nothing it runs is left (the API may be)
    return stopped


def status(settings: Settings) -> list[Health]:
    return [c.health() for c in local_components(settings)]

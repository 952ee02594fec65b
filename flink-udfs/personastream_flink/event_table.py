"""The Flink table of ``events.enriched``, derived from the event schema files.

Columns are the envelope, every event type's own fields (one wide table, absent fields null)
and the ingest enrichment, typed from JSON Schema: the same files NiFi validates with.

>>> cols = dict(enriched_columns())
>>> cols["event_id"], cols["price"], cols["items"]
('STRING', 'DOUBLE', 'ARRAY<ROW<`item_id` STRING, `price` DOUBLE, `quantity` BIGINT>>')
>>> cols["geo"]
'ROW<`city` STRING, `country` STRING, `latitude` DOUBLE, `longitude` DOUBLE, `region` STRING>'
"""
from __future__ import annotations

import re

from personastream_contracts.event_schemas import (EXPOSURE_EVENT_TYPES, NON_EVENT_SCHEMAS,
                                                   SCHEMA_DIR, load_schemas)
from personastream_flink import sql_template

ENVELOPE = ("envelope", "1-0-0")
ENRICHMENT = ("enrichment", "1-0-0")
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")
_SCALARS = {"string": "STRING", "integer": "BIGINT", "number": "DOUBLE", "boolean": "BOOLEAN"}


def customer_activity() -> str:
    """A SQL condition: the event is the customer's own activity, not a report of what the
    storefront showed or what was clicked on it (``EXPOSURE_EVENT_TYPES``).

    >>> customer_activity()
    "event_type NOT IN ('impression', 'click')"
    """
    return f"event_type NOT IN ({', '.join(map(sql_template.literal, EXPOSURE_EVENT_TYPES))})"


class SchemaTypeError(ValueError):
    """A schema property has no single Flink type, or two schemas disagree on one."""


def quote(name: str) -> str:
    if not _IDENTIFIER.match(name):
        raise SchemaTypeError(f"property {name!r} is not a plain identifier; rename it in the schema")
    return f"`{name}`"


def flink_type(schema: dict, where: str) -> str:
    """The Flink SQL type of a JSON Schema (nullable types map to the type itself)."""
    types = schema.get("type")
    types = [t for t in (types if isinstance(types, list) else [types]) if t not in (None, "null")]
    if "const" in schema or "enum" in schema and not types:
        return "STRING"
    if len(types) != 1:
        if set(types) <= {"string", "number", "boolean"} and types:
            return "STRING"  # mixed scalars, e.g. CRM attribute values, read as text
        raise SchemaTypeError(f"{where}: types {types} have no single Flink type")
    kind = types[0]
    if kind in _SCALARS:
        return _SCALARS[kind]
    if kind == "array":
        return f"ARRAY<{flink_type(schema.get('items', {}), where + '[]')}>"
    if kind == "object" and schema.get("properties"):
        fields = ", ".join(f"{quote(k)} {flink_type(v, f'{where}.{k}')}"
                           for k, v in sorted(schema["properties"].items()))
        return f"ROW<{fields}>"
    if kind == "object":
        return f"MAP<STRING, {flink_type(schema.get('additionalProperties', {}), where + '{}')}>"
    raise SchemaTypeError(f"{where}: JSON Schema type {kind!r} has no Flink type")


def enriched_columns(schema_dir=SCHEMA_DIR) -> list[tuple[str, str]]:
    """(name, Flink type) of every field an enriched event can have, envelope first."""
    schemas = load_schemas(schema_dir)
    columns: dict[str, str] = {}
    owners: dict[str, str] = {}
    event_keys = sorted(k for k in schemas if k[0] not in NON_EVENT_SCHEMAS)
    for key in [ENVELOPE, *event_keys, ENRICHMENT]:
        for name, prop in schemas[key].get("properties", {}).items():
            if key == ENVELOPE and prop.get("not") == {}:
                continue  # reserved for the enrichment
            if "const" in prop and name in columns:
                continue  # an event type pinning an envelope field
            kind = flink_type(prop, f"{key[0]}/{key[1]}#{name}")
            if columns.setdefault(name, kind) != kind:
                raise SchemaTypeError(f"{name} is {columns[name]} in {owners[name]} but {kind} in "
                                      f"{key[0]}/{key[1]}; one table needs one type per field")
            owners.setdefault(name, f"{key[0]}/{key[1]}")
    return list(columns.items())


#: Event-time choices: the collector's receipt time, or the client's time capped by it (a
#: client clock ahead of the server must not push the watermark into the future). A record
#: without them (written before ingest added them) gets time 0: late, never a job failure.
TIME_COLUMNS = {"received_at_ms": "COALESCE(`received_at_ms`, 0)",
                "client_ts_ms": "COALESCE(LEAST(`client_ts_ms`, `received_at_ms`), 0)"}


def kafka_options(topic: str, bootstrap_servers: str, group_id: str) -> dict[str, str]:
    """The table read from Kafka (as NiFi publishes it), from the consumer group's offsets."""
    return {"connector": "kafka", "topic": topic, "properties.bootstrap.servers": bootstrap_servers,
            "properties.group.id": group_id, "properties.auto.offset.reset": "earliest",
            "scan.startup.mode": "group-offsets"}


def file_options(path: str) -> dict[str, str]:
    """The table read from a file of the same JSON records, one per line (bounded: at its end
    every window closes); what unit tests and offline training read."""
    return {"connector": "filesystem", "path": path}


def source_ddl(options: dict[str, str], time_column: str | None = None,
               watermark_s: int = 0) -> str:
    """CREATE TABLE ``events_enriched`` (JSON format; connector ``options``:
    :func:`kafka_options` or :func:`file_options`) with the columns from the schemas, and with
    ``time_column`` (one of :data:`TIME_COLUMNS`) as rowtime ``event_time`` (and ``event_ms``,
    the same in epoch ms) whose watermark trails it by ``watermark_s`` seconds.

    >>> ddl = source_ddl(kafka_options("t", "b", "g"), time_column="received_at_ms", watermark_s=5)
    >>> "WATERMARK FOR event_time AS event_time - INTERVAL '0:00:05' HOUR TO SECOND" in ddl
    True
    >>> "'topic' = 't'" in ddl, "'format' = 'json'" in ddl
    (True, True)
    """
    columns = ",\n    ".join(f"{quote(name)} {kind}" for name, kind in enriched_columns())
    time = ""
    if time_column is not None:
        if time_column not in TIME_COLUMNS:
            raise SchemaTypeError(f"time column {time_column!r} is not one of {TIME_COLUMNS}")
        expression = TIME_COLUMNS[time_column]
        time = (f",\n    event_ms AS {expression},\n    "
                f"event_time AS TO_TIMESTAMP_LTZ({expression}, 3),\n    "
                f"WATERMARK FOR event_time AS event_time - {sql_template.interval(watermark_s)}")
    return sql_template.render("events_enriched_source", fragments={
        "columns": columns, "time": time, "options": sql_template.options(options)})

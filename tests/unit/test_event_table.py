"""The schema files, NiFi's enriched output and the Flink table DDL agree."""
import json
import shutil

import pytest

from personastream_bench.traffic import client_headers, sample_events
from personastream_contracts.event_schemas import load_schemas, validator
from personastream_flink.event_table import (SchemaTypeError, enriched_columns, flink_type,
                                             kafka_options, source_ddl)
from personastream_flows.ingest import event_ingest as ei

SCHEMAS = load_schemas(ei.SCHEMA_DIR)


def test_every_schema_property_is_a_column():
    columns = dict(enriched_columns())
    for (name, version), schema in SCHEMAS.items():
        if name == "deadletter":
            continue
        for prop, spec in schema.get("properties", {}).items():
            if spec.get("not") == {}:  # reserved by the envelope, typed by the enrichment
                assert prop in dict(SCHEMAS[("enrichment", "1-0-0")]["properties"])
            else:
                assert prop in columns, f"{name}/{version}#{prop} has no column"


def test_enriched_output_validates_and_fits_the_table():
    ingestor = ei.Ingestor(ei.SCHEMA_DIR, geoip_database=None, max_body_bytes=10_000_000)
    events = sample_events(n_events=200, n_users=10, seed=3)
    source = {"ip": "81.2.69.142", "received_at_ms": 1_700_000_000_000, "content_type": None,
              "user_agent": client_headers(0)["User-Agent"]}
    result = ingestor.process(json.dumps(events).encode(), source)
    assert result.accepted == len(events)
    enrichment = validator(SCHEMAS, ("enrichment", "1-0-0"))
    columns = dict(enriched_columns())
    for record in result.enriched:
        enrichment.validate(record.value)
        assert set(record.value) <= set(columns)


def test_ddl_quotes_every_column_and_fills_the_options():
    ddl = source_ddl(kafka_options("events.enriched", "k1:9092", "land_events"))
    assert "`query` STRING" in ddl and "'topic' = 'events.enriched'" in ddl
    assert ddl.count("`event_id`") == 1


def test_conflicting_field_types_are_refused(tmp_path):
    schema_dir = tmp_path / "schemas"
    shutil.copytree(ei.SCHEMA_DIR, schema_dir)
    path = schema_dir / "search" / "1-0-0.json"
    search = json.loads(path.read_text())
    search["properties"]["price"] = {"type": "string"}  # product_view says number
    path.write_text(json.dumps(search))
    with pytest.raises(SchemaTypeError, match="price is DOUBLE in .* but STRING"):
        enriched_columns(schema_dir)


@pytest.mark.parametrize("schema, expected", [
    ({"type": ["string", "null"]}, "STRING"),
    ({"type": "object", "additionalProperties": {"type": "integer"}}, "MAP<STRING, BIGINT>"),
    ({"type": "array", "items": {"type": "number"}}, "ARRAY<DOUBLE>"),
])
def test_flink_types(schema, expected):
    assert flink_type(schema, "x") == expected

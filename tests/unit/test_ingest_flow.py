"""The ingest flow's batches of received requests stay small enough for NiFi's Python bridge:
py4j copies a FlowFile's content as one base64 string and failed on a batch of ~275 MB
(``NegativeArraySizeException`` in ``py4j.Base64.decode``, retried forever, the collector then
answering 503), found by ``bench ingest`` with 500 events per request."""
from __future__ import annotations

import pytest

from personastream_contracts.errors import SettingsError
from personastream_contracts.settings import MAX_INGEST_BATCH_BYTES, resolve
from personastream_flows.definitions import load_definition
from personastream_flows.parameters import parameter_values


def test_the_batches_are_bounded_by_the_setting():
    flow = load_definition("ingest")
    merge = next(p for p in flow["flowContents"]["processors"] if p["name"] == "batch_requests")
    assert merge["properties"]["Maximum Group Size"] == "#{ingest_batch_max_bytes}"
    declared = {p["name"] for p in flow["parameterContexts"]["personastream"]["parameters"]}
    assert "ingest_batch_max_bytes" in declared
    values = parameter_values(resolve(environ={}))
    assert values["ingest_batch_max_bytes"] == "8388608 B"  # 8 MiB: ~16,000 single events


@pytest.mark.parametrize("value", [str(MAX_INGEST_BATCH_BYTES + 1), "1000"])
def test_a_batch_limit_outside_its_range_is_refused_naming_the_variable(value):
    with pytest.raises(SettingsError, match="PERSONASTREAM_INGEST_BATCH_MAX_BYTES"):
        resolve(environ={"PERSONASTREAM_INGEST_BATCH_MAX_BYTES": value})

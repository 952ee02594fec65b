"""NiFi's FlowFile v3 packages (what MergeContent writes for the collector's batches)."""
import pytest

from personastream_flows.ingest.packages import PackageError, pack, unpack


def test_long_values_and_binary_content_round_trip():
    flowfiles = [({"a": "x" * 70_000, "é": "ü"}, bytes(range(256)) * 300), ({}, b"")]
    assert unpack(pack(flowfiles)) == flowfiles


@pytest.mark.parametrize("data, where", [(b"NiFiFF2\x00\x00", "no FlowFile v3 header"),
                                         (pack([({"a": "b"}, b"123")])[:-1], "runs past"),
                                         (pack([({"a": "b"}, b"123")])[:12], "cut short")])
def test_damaged_packages_are_refused(data, where):
    with pytest.raises(PackageError, match=where):
        unpack(data)

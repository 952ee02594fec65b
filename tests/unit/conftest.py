"""Helpers shared by the unit tests."""
from __future__ import annotations

import ast
import copy
import datetime as dt
import json
import pickle
import uuid
from pathlib import Path

import pytest


def source_imports(path: Path) -> set[str]:
    """The absolute module names a Python file imports (at any depth, lazy imports included;
    ``from a import b`` gives ``a`` and ``a.b``), read from its source without running it."""
    out = set()
    for node in ast.walk(ast.parse(Path(path).read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{alias.name}" for alias in node.names)
    return out


@pytest.fixture(scope="session")
def imports_of():
    return source_imports


def assert_resumes_identically(detector, values: list[float], at: int) -> None:
    """A ``count`` detector that scored and learned ``values[:at]``, then pickled (as Flink
    keeps it in keyed state) or deep-copied, scores ``values[at:]`` exactly as it goes on to."""
    from personastream_models.detectors import score_then_learn

    def run(d):
        return [score_then_learn(d, {"count": v}) for v in values[at:]]

    for v in values[:at]:
        score_then_learn(detector, {"count": v})
    restored, copied = pickle.loads(pickle.dumps(detector)), copy.deepcopy(detector)
    assert run(restored) == run(copied) == run(detector)


@pytest.fixture(scope="session")
def resumes_identically():
    return assert_resumes_identically


class Enricher:
    """Events enriched by the real ingest (``personastream_flows.ingest``), with the receipt
    time (and client time) under the test's control."""

    def __init__(self):
        from personastream_flows.ingest.event_ingest import SCHEMA_DIR, Ingestor

        self.ingestor = Ingestor(SCHEMA_DIR, geoip_database=None, max_body_bytes=1 << 20)

    def event(self, event_type: str, received_ms: int, client_ms: int | None = None,
              user: str | None = "u-1", anonymous: str = "a-1", **fields) -> dict:
        """One event of ``event_type`` received at ``received_ms``, as NiFi publishes it."""
        client = dt.datetime.fromtimestamp((client_ms or received_ms) / 1000, dt.timezone.utc)
        event = {"event_id": str(uuid.uuid4()), "event_type": event_type,
                 "schema_version": "1-0-0", "user_id": user, "anonymous_id": anonymous,
                 "client_ts": client.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                 **fields}
        result = self.ingestor.process(json.dumps(event).encode(),
                                       {"ip": None, "user_agent": None, "content_type": None,
                                        "received_at_ms": received_ms})
        assert result.accepted == 1, result.deadletters[:1]
        return result.enriched[0].value

    def view(self, item: str, received_ms: int, user: str = "u-1", category: str = "shoes",
             brand: str = "acme", client_ms: int | None = None) -> dict:
        return self.event("product_view", received_ms, client_ms, user=user, item_id=item,
                          category=category, brand=brand, price=10.0)


@pytest.fixture(scope="session")
def enrich() -> Enricher:
    return Enricher()


@pytest.fixture(scope="session")
def clusterer_evaluation():
    """``version -> clustering.evaluate`` of that ``customer_segments`` version (at its spec's
    seed), each run once per session: several test modules compare the same measurements."""
    from personastream_models import clustering, specs

    done = {}

    def evaluated(version: str) -> dict:
        if version not in done:
            done[version] = clustering.evaluate(specs.load("customer_segments", version))
        return done[version]

    return evaluated

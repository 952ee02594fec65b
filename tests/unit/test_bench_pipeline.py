"""``bench pipeline``'s verdict per step and its report, on made-up measurements (pure logic;
the benchmark itself runs on the real stack)."""
from __future__ import annotations

import base64
import json
from pathlib import Path

from personastream_bench import pipeline
from personastream_bench.shoppers import Body, Shoppers
from personastream_contracts.settings import resolve


def _rows(codes: list[str]) -> list[list[str]]:
    """vegeta CSV rows: timestamp, code, latency (ns), ..., seq at index 8."""
    return [[str(10**9 * i), code, str(20_000_000), "0", "0", "", "", "", str(i)]
            for i, code in enumerate(codes)]


def _seconds(step: int, lags: list[float]) -> list[pipeline.Second]:
    return [pipeline.Second(float(i), step, {"live_activity": lag}, {"nifi": 0.5}, {"nifi": 900})
            for i, lag in enumerate(lags)]


def _probe(step: int, row_s: float | None, api_s: float | None) -> pipeline.Probe:
    return pipeline.Probe(step, 0.0, 200, row_s, api_s)


def test_a_step_holds_when_fresh_accepted_and_lag_flat():
    bodies = [Body(b"{}", 5, None)] * 20
    probes = [_probe(0, 0.2, 0.3)] * 20
    step = pipeline._step(0, 100, bodies, _rows(["200"] * 20), 1, probes,
                          _seconds(0, [50.0] * 30))
    assert step.held and step.why_not == []
    assert step.accepted_events == 100 and step.row_p99_s == 0.2 and step.api_p50_s == 0.3
    assert step.lag_growth == {"live_activity": 0.0}


def test_a_step_fails_naming_each_reason():
    bodies = [Body(b"{}", 5, None)] * 20
    probes = [_probe(0, 0.2, 0.3)] * 18 + [_probe(0, 2.5, 2.6), _probe(0, None, None)]
    rising = [float(100 * i) for i in range(30)]  # 2,900 more records behind at the end
    step = pipeline._step(0, 100, bodies, _rows(["200"] * 15 + ["503"] * 5), 1, probes,
                          _seconds(0, rising))
    assert not step.held
    reasons = " | ".join(step.why_not)
    assert "accepted 75 of 100 events" in reasons
    assert f"freshness p99 {pipeline.PROBE_TIMEOUT_S:.2f} s" in reasons  # the unseen probe
    assert "1 probes not seen" in reasons
    assert "live_activity lag grew by 2,000 records" in reasons  # mean of last 10 - first 10


def test_report_names_the_highest_rate_held_and_the_command(tmp_path: Path):
    held = pipeline._step(0, 100, [Body(b"{}", 5, None)] * 20, _rows(["200"] * 20), 1,
                          [_probe(0, 0.2, 0.3)] * 5, _seconds(0, [0.0] * 12))
    failed = pipeline._step(1, 200, [Body(b"{}", 5, None)] * 20, _rows(["503"] * 20), 1,
                            [pipeline.Probe(1, 0.0, 503, None, None)], _seconds(1, [0.0] * 12))
    summary = pipeline.Summary([held, failed], _seconds(0, [0.0] * 12) + _seconds(1, [0.0] * 12),
                               {0: 100}, [], 100, 5, 0.01, 1000, ["pipeline.png"],
                               "personastream bench pipeline --rates 100,200")
    text = pipeline.report(summary, tmp_path / "summary.json")
    assert "highest rate held" in text and ": 100 events/s" in text
    assert "no: accepted 0 of 100 events" in text
    assert text.splitlines()[-1] == "reproduce: personastream bench pipeline --rates 100,200"


def test_targets_hold_one_request_per_body_for_the_collector(tmp_path: Path):
    """A step's (and the warm-up's) vegeta targets: every body once, to the collector, each
    with a browser's user agent and a client address (the enrichment reads both)."""
    settings = resolve(environ={"HOME": str(tmp_path)})
    path = tmp_path / "targets.json"
    bodies = pipeline._targets(settings, Shoppers(100, 1), 50, 2, 5, 0.0, path)
    targets = [json.loads(line) for line in path.read_text().splitlines()]
    assert [json.loads(base64.b64decode(t["body"])) for t in targets] == \
        [json.loads(b.payload) for b in bodies]
    assert sum(b.n_events for b in bodies) >= 100
    assert {t["url"] for t in targets} == {settings.nifi_ingest_url}
    assert all(t["header"]["User-Agent"] and t["header"]["X-Forwarded-For"] for t in targets)

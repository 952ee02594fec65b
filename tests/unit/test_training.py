"""``models train``'s data: the behaviour vectors come from the segments job's own topology (the
per-minute SQL with its lateness rule, then the job's totals and feature code), run locally on
recorded events; no second definition of the aggregate."""
from __future__ import annotations

import json

import pytest

from personastream_contracts.settings import resolve
from personastream_flink.segmentation import add_activity, new_totals, totals_profile
from personastream_models import specs
from personastream_models.features import feature_set
from personastream_stack import training

T0_MS, MINUTE_MS = 1_767_225_600_000, 60_000


def test_vectors_are_the_segments_jobs_and_leave_late_events_out(tmp_path, enrich):
    spec = specs.load("customer_segments", "1-0-0")
    settings = resolve(environ={"HOME": str(tmp_path)},
                       overrides={"profiles_allowed_lateness_s": "60"})
    events = []
    for minute in range(10):
        events.append(enrich.view(f"i{minute}", T0_MS + minute * MINUTE_MS, user="u-1"))
        events.append(enrich.view(f"j{minute}", T0_MS + minute * MINUTE_MS + 5, user="u-2",
                           category="bags"))
    events.append(enrich.event("purchase", T0_MS + 9 * MINUTE_MS + 10, user="u-2", order_id="o-1",
                           items=[{"item_id": "j9", "quantity": 1, "price": 40.0}],
                           total=40.0, currency="EUR"))
    # u-1's view of minute 0 arriving after minute 9: behind the watermark, left out like the job
    events.append(enrich.view("late", T0_MS + 10 * MINUTE_MS, user="u-1", client_ms=T0_MS + 1))
    path = tmp_path / "recorded.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in events))

    vectors = training.behaviour_vectors(settings, spec, path, tmp_path / "run")

    features = feature_set(spec.features)
    expected = {}
    for user, category, purchases, spend in (("u-1", "shoes", 0, 0.0), ("u-2", "bags", 1, 40.0)):
        totals = new_totals(T0_MS, T0_MS)
        for minute in range(10):
            ms = T0_MS + minute * MINUTE_MS
            last = minute == 9 and purchases
            add_activity(totals, ms, ms + (10 if last else 0), 1, 0, purchases if last else 0,
                         spend if last else 0.0, [(ms, "product_view", "x", category, "acme")])
        expected[user] = features(totals_profile(totals))
    assert set(vectors) == {"u-1", "u-2"}
    for user, vector in expected.items():
        assert vectors[user] == pytest.approx(vector), user

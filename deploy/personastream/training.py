"""``personastream models train``: offline starts for online models, from recorded events.

A clusterer gets initial centres fitted by scikit-learn's KMeans on the behaviour vectors of
the customers in the enriched-events topic (read from its start to its current end, the same
totals and feature code as the segments job); they are written as the spec's
``initial_centres`` artifact, which the segments job applies when it builds the clusterer.
Detectors learn each item's series online from its first window; they have nothing to train.
"""
from __future__ import annotations

import datetime as dt
import json
from typing import Callable

from personastream.errors import PersonastreamError
from personastream.stack.kafka import read_to_end
from personastream_flink.segmentation import (add_activity, event_activity, new_totals,
                                              totals_profile)
from personastream_flows.processors.ingest.event_ingest import user_key
from personastream_models import artifacts, clustering
from personastream_models.features import feature_set

POLL_S = 10.0


class TrainingError(PersonastreamError):
    """Training could not run (no data, wrong kind of model)."""


def recorded_totals(settings, max_events: int,
                    progress: Callable[[str], None]) -> tuple[dict, dict]:
    """Per customer totals over the enriched topic (start to current end, at most
    ``max_events``), and what was read: ``{source, n_events, from, to}``."""
    topic = settings.topic_events_enriched
    totals: dict = {}
    n, first, last = 0, None, None
    for messages in read_to_end(settings, topic, timeout_s=POLL_S):
        for msg in messages:
            event = json.loads(msg.value())
            key = user_key(event.get("user_id"), event.get("anonymous_id"))
            if key is None or event.get("client_ts_ms") is None:
                continue
            activity = event_activity(event)
            add_activity(totals.setdefault(key, new_totals(activity["first_ms"],
                                                           activity["last_ms"])), **activity)
            ms = activity["first_ms"]
            first, last, n = min(first or ms, ms), max(last or ms, ms), n + 1
        progress(f"read {n:,} events of {len(totals):,} customers")
        if n >= max_events:
            break
    iso = (lambda ms: dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).isoformat()
           if ms else None)
    return totals, {"source": f"kafka:{topic}", "n_events": n, "from": iso(first),
                    "to": iso(last)}


def train(settings, spec, max_events: int, progress: Callable[[str], None]) -> dict:
    """Fit and write the spec's artifact; return what was written."""
    if spec.kind != "clusterer":
        raise TrainingError(f"{spec.key} is a {spec.kind}: it learns each item's series online "
                            "from its first window and has nothing to train offline")
    totals, data = recorded_totals(settings, max_events, progress)
    n_clusters = spec.params["n_clusters"]
    if len(totals) < n_clusters:
        raise TrainingError(f"{len(totals)} customers in {data['source']} ({data['n_events']} "
                            f"events); {spec.key} needs at least {n_clusters}: send traffic "
                            "first (e.g. `personastream demo`)")
    features = feature_set(spec.features)
    vectors = [features(totals_profile(t)) for t in totals.values()]
    centres = clustering.initial_centres(vectors, n_clusters, spec.params.get("seed", 0))
    metrics = _compare(spec, vectors, centres)
    path = artifacts.write(spec, "initial_centres", {"centres": centres},
                           data={**data, "n_customers": len(vectors)}, metrics=metrics)
    return {"artifact": str(path), "data": data, "metrics": metrics}


def _compare(spec, vectors: list[dict], centres: list[dict]) -> dict:
    """Mean distance to the nearest centre and clusters used, cold vs warm-started, after one
    online pass over the customers."""
    from personastream_models import specs

    out = {}
    for name, start in (("cold", None), ("warm", centres)):
        model = specs.build(spec)
        if start is not None:
            model.warm_start(start)
        for x in vectors:
            model.learn_one(x)
        nearest = [model.nearest(x) for x in vectors]
        out[f"{name}_mean_distance"] = round(sum(d for _, d in nearest) / len(nearest), 4)
        out[f"{name}_clusters_used"] = len({c for c, _ in nearest})
    return out

"""``personastream models train``: offline starts for online models, from recorded events.

A clusterer gets initial centres fitted by scikit-learn's KMeans on the behaviour vectors of
the customers in the enriched-events topic (read from its start to its current end). The
vectors are made by the segments job's own topology
(:func:`personastream_flink.assign_segments.behaviour_vectors`: the same per-minute SQL, the
same lateness rule, the same totals and feature code), run in a local PyFlink environment over
the recorded events; they are written as the spec's ``initial_centres`` artifact, which the
segments job applies when it builds the clusterer. Detectors learn each item's series online
from its first window; they have nothing to train.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from pathlib import Path
from typing import Callable

from personastream_contracts.errors import PersonastreamError
from personastream_models import artifacts, clustering
from personastream_stack.kafka import read_to_end

POLL_S = 10.0


class TrainingError(PersonastreamError):
    """Training could not run (no data, wrong kind of model)."""


def record_events(settings, max_events: int, target: Path,
                  progress: Callable[[str], None]) -> dict:
    """Copy the enriched topic (start to current end, at most ``max_events``) into ``target``,
    one record per line, in the order the collector received them (``received_at_ms``; a
    running job reads its partitions side by side, so it sees them in about that order, and
    judges lateness as a replay in that order does); return what was read: ``{source,
    n_events, from, to}`` (client times)."""
    topic = settings.topic_events_enriched
    n, first, last = 0, None, None
    order: list[tuple[int, int, int]] = []  # (received_at_ms, offset, length) in the raw file
    raw_path = target.with_suffix(".raw")
    with raw_path.open("wb") as raw:
        for messages in read_to_end(settings, topic, timeout_s=POLL_S):
            for msg in messages[:max_events - n]:
                record = json.loads(msg.value())
                order.append((record.get("received_at_ms") or 0, raw.tell(), len(msg.value())))
                raw.write(msg.value())
                ms = record.get("client_ts_ms")
                if ms is not None:
                    first, last = min(first or ms, ms), max(last or ms, ms)
                n += 1
            progress(f"read {n:,} events of {topic}")
            if n >= max_events:
                break
    with raw_path.open("rb") as raw, target.open("wb") as out:
        for _, offset, length in sorted(order):
            raw.seek(offset)
            out.write(raw.read(length) + b"\n")
    raw_path.unlink()
    iso = (lambda ms: dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).isoformat()
           if ms else None)
    return {"source": f"kafka:{topic}", "n_events": n, "from": iso(first), "to": iso(last)}


def behaviour_vectors(settings, spec, events_path: Path, folder: Path) -> dict[str, dict]:
    """Each customer's last behaviour vector, by the segments job's topology over the events in
    ``events_path`` (a local PyFlink run)."""
    from pyflink.common import Types

    from personastream_flink import assign_segments
    from personastream_flink.testing import FileIO, local_environment

    os.environ.setdefault("JAVA_HOME", str(settings.java_home))
    io = FileIO(folder, events_path=events_path)
    args = assign_segments.parse_args(FileIO.arguments(
        "assign_segments", "--allowed-lateness-s", str(settings.profiles_allowed_lateness_s),
        "--idle-timeout-s", str(settings.source_idle_timeout_s),
        "--clusterer", spec.name, "--clusterer-version", spec.version))
    env = local_environment()
    vectors = assign_segments.behaviour_vectors(env, args, io)
    io.write_strings(vectors.map(lambda r: json.dumps([r.user_key, json.loads(r.features)]),
                                 output_type=Types.STRING()), "behaviour_vectors", "vectors")
    env.execute(f"train_{spec.name}")
    return {key: features for key, features in
            (json.loads(line) for line in io.rows("behaviour_vectors"))}


def train(settings, spec, max_events: int, progress: Callable[[str], None],
          root: Path | None = None) -> dict:
    """Fit and write the spec's artifact (under ``root``; default: beside the specs); return
    what was written."""
    if spec.kind != "clusterer":
        raise TrainingError(f"{spec.key} is a {spec.kind}: it learns each item's series online "
                            "from its first window and has nothing to train offline")
    with tempfile.TemporaryDirectory(prefix="personastream-train-") as folder:
        events_path = Path(folder) / "recorded.jsonl"
        data = record_events(settings, max_events, events_path, progress)
        progress(f"behaviour vectors of {data['n_events']:,} events (segments job, local Flink)")
        vectors = list(behaviour_vectors(settings, spec, events_path, Path(folder)).values())
    n_clusters = spec.params["n_clusters"]
    if len(vectors) < n_clusters:
        raise TrainingError(f"{len(vectors)} customers in {data['source']} ({data['n_events']} "
                            f"events); {spec.key} needs at least {n_clusters}: send traffic "
                            "first (e.g. `personastream demo`)")
    centres = clustering.initial_centres(vectors, n_clusters, spec.params.get("seed", 0))
    metrics = _compare(spec, vectors, centres)
    path = artifacts.write(spec, "initial_centres", {"centres": centres},
                           data={**data, "n_customers": len(vectors)}, metrics=metrics,
                           root=root)
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

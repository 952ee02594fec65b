"""Model artifacts: what a command learned offline for a spec version (e.g. initial centres).

An artifact is ``artifacts/<name>/<version>/<kind>.json`` beside this module, written by
``personastream models train`` (never by hand) and read by the jobs when they build the
estimator (:func:`build_warm`). It records the spec it was made for, where its data came from
(source, time range, size), the metrics measured when it was made, and a digest of its payload.

Kinds and how an estimator takes them:

- ``initial_centres``: ``{"centres": [{feature: value}, ...]}``, given to the clusterer's
  ``warm_start(centres)``; cluster id ``i`` starts at ``centres[i]``.

Examples
--------
>>> import tempfile
>>> from personastream_models import specs
>>> spec = specs.load("customer_segments", "1-0-0")
>>> root = tempfile.mkdtemp()
>>> centres = [{"a": i / 6} for i in range(6)]
>>> path = write(spec, "initial_centres", {"centres": centres},
...              data={"source": "doctest", "n": 6}, metrics={"inertia": 0.0}, root=root)
>>> art = load(spec, "initial_centres", root=root)
>>> art.spec, art.data["n"], art.payload["centres"][1]
('customer_segments/1-0-0', 6, {'a': 0.16666666666666666})
>>> build_warm(spec, root=root).centers[1]["a"]
0.16666666666666666
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

from personastream_models import specs as spec_files

__all__ = ["KINDS", "Artifact", "ArtifactError", "available", "build_warm", "load", "write"]

#: Artifact kinds: the estimator method that takes each, and the payload key passed to it.
KINDS = {"initial_centres": ("warm_start", "centres")}


class ArtifactError(ValueError):
    """An artifact that does not fit its spec or is damaged; the message says which."""


@dataclass(frozen=True)
class Artifact:
    spec: str
    kind: str
    created_at: str
    data: Mapping[str, Any]
    metrics: Mapping[str, Any]
    payload: Mapping[str, Any]
    sha256: str

    def to_dict(self) -> dict:
        return {"spec": self.spec, "kind": self.kind, "created_at": self.created_at,
                "data": dict(self.data), "metrics": dict(self.metrics), "sha256": self.sha256,
                "payload": dict(self.payload)}


def _root(root: str | Path | None) -> Path:
    return Path(root) if root is not None else Path(str(resources.files(__package__))) / "artifacts"


def _path(spec, kind: str, root) -> Path:
    return _root(root) / spec.name / spec.version / f"{kind}.json"


def _digest(payload: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def write(spec, kind: str, payload: Mapping[str, Any], *, data: Mapping[str, Any],
          metrics: Mapping[str, Any], root: str | Path | None = None) -> Path:
    """Write the ``kind`` artifact of ``spec`` (replacing an older one); return its path."""
    if kind not in KINDS:
        raise ArtifactError(f"unknown artifact kind {kind!r}; kinds: {', '.join(KINDS)}")
    method, key = KINDS[kind]
    if key not in payload:
        raise ArtifactError(f"a {kind} artifact needs payload[{key!r}]")
    if not callable(getattr(spec.estimator_class, method, None)):
        raise ArtifactError(f"{spec.estimator} has no {method}(); a {kind} artifact cannot "
                            f"warm-start spec {spec.key}")
    art = Artifact(spec=spec.key, kind=kind,
                   created_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                   data=dict(data), metrics=dict(metrics), payload=dict(payload),
                   sha256=_digest(payload))
    path = _path(spec, kind, root)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(art.to_dict(), indent=1, sort_keys=True) + "\n")
    return path


def load(spec, kind: str, root: str | Path | None = None) -> Artifact | None:
    """The ``kind`` artifact of ``spec``, checked against its digest; None if there is none."""
    path = _path(spec, kind, root)
    if not path.is_file():
        return None
    doc = json.loads(path.read_text())
    art = Artifact(**{k: doc[k] for k in Artifact.__dataclass_fields__})
    if art.spec != spec.key or art.kind != kind:
        raise ArtifactError(f"{path} is for {art.spec} {art.kind}, not {spec.key} {kind}")
    if _digest(art.payload) != art.sha256:
        raise ArtifactError(f"{path}: payload does not match its sha256; it was edited by hand. "
                            f"Rewrite it with `personastream models train {spec.name} "
                            f"{spec.version}`")
    return art


def available(spec, root: str | Path | None = None) -> list[Artifact]:
    """Every artifact of ``spec``."""
    return [a for a in (load(spec, kind, root) for kind in KINDS) if a is not None]


def build_warm(spec, root: str | Path | None = None):
    """A fresh estimator of ``spec`` with its artifacts applied (:func:`specs.build` plus the
    warm start): what the jobs run."""
    estimator = spec_files.build(spec)
    for art in available(spec, root):
        method, key = KINDS[art.kind]
        getattr(estimator, method)(art.payload[key])
    return estimator

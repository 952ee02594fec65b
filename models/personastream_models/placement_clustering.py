"""One behaviour vector learned by the clusterer of every version a placement runs; the live
version's clusterer assigns the segment. The segments job's UDF calls :func:`assign_segment`
over the dict in its one key's ``ValueState`` (every customer shares one clusterer per version).

Each running version (live, shadow, rollback target: ``Placement.running_versions``) has its own
clusterer, which learns every vector from the moment the version starts running; the clusterer of
a version no longer running is dropped. A version's clusterer is built when the version starts
running by :func:`~personastream_models.artifacts.build_warm`: from the ``initial_centres``
artifact ``models train`` wrote for that version, else cold (for ``customer_segments`` 2-0-0:
provisional ids, then k-means++ over its first ``buffer_size`` vectors). It is not warm-started
from the centres of the version it replaces: no spec field asks for that, and a spec's centres
belong to its own estimator and parameters (1-0-0's random start leaves centres that never
move, which would defeat 2-0-0's seeding). To promote a version that has learned, run it in
shadow first (``models shadow``), as for the trends detector.

Segment ids are a clusterer's fixed centre ids: stable as it learns (neither estimator
renumbers its centres once it has them), across restarts (the clusterers are in the
checkpoints) and across placement changes, since a promote, rollback or shadow only changes
which clusterers run and which one assigns, never a clusterer's centres. Ids of two versions
name different centres: ``segment_model`` (``name/version``) says whose id a row holds. A
customer's row changes with their next activity, so after a promote rows of the old and the new
live version coexist until each customer is seen again.

Examples
--------
>>> from personastream_models import specs
>>> from personastream_models.registry import Placement
>>> spec_of = clusterer_loader(specs.loader("customer_segments"), "behaviour_vector")
>>> clusterers, placement = {}, Placement.initial("customer_segments", "1-0-0")
>>> x = {"views_per_day": 0.5, "purchase_rate": 0.0}
>>> assign_segment(clusterers, placement, spec_of, x).columns()["segment_model"]
'customer_segments/1-0-0'
>>> placement = placement.promoted("2-0-0")  # 2-0-0 starts, 1-0-0 goes on as rollback target
>>> assign_segment(clusterers, placement, spec_of, x).columns()["segment_model"]
'customer_segments/2-0-0'
>>> sorted(clusterers), clusterers["2-0-0"].n_learned
(['1-0-0', '2-0-0'], 1)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from personastream_models.artifacts import build_warm
from personastream_models.registry import Placement
from personastream_models.specs import ModelSpec, SpecError

__all__ = ["Clusterers", "SegmentAssignment", "assign_segment", "clusterer_loader"]

#: The clusterers of the running versions: ``version -> clusterer``.
Clusterers = dict[str, object]


@dataclass(frozen=True)
class SegmentAssignment:
    spec: ModelSpec  # the live version's, whose clusterer assigned the segment
    segment: int
    distance: float

    def columns(self) -> dict:
        """The segment columns of a ``profiles`` row."""
        return {"segment_id": self.segment, "segment_distance": self.distance,
                "segment_model": self.spec.key}


def clusterer_loader(spec_of: Callable[[str], ModelSpec],
                     features: str) -> Callable[[str], ModelSpec]:
    """``spec_of`` for a job whose vectors are of feature set ``features``: a version that is not
    a clusterer over those features raises :class:`SpecError` (the job refuses a placement
    naming it).

    >>> from personastream_models import specs
    >>> spec_of = clusterer_loader(specs.loader("customer_segments"), "trend_count")
    >>> try:
    ...     spec_of("2-0-0")
    ... except SpecError as error:
    ...     print(error)  # doctest: +NORMALIZE_WHITESPACE
    customer_segments/2-0-0 clusters behaviour_vector features, but this job's vectors are
    trend_count; submit the job with --clusterer-version 2-0-0 to change feature sets
    """
    def checked(version: str) -> ModelSpec:
        spec = spec_of(version)
        if spec.kind != "clusterer":
            raise SpecError(f"{spec.key} is a {spec.kind}, not a clusterer")
        if spec.features != features:
            raise SpecError(f"{spec.key} clusters {spec.features} features, but this job's "
                            f"vectors are {features}; submit the job with --clusterer-version "
                            f"{spec.version} to change feature sets")
        return spec

    return checked


def assign_segment(clusterers: Clusterers, placement: Placement,
                   spec_of: Callable[[str], ModelSpec], features: dict,
                   build: Callable[[ModelSpec], object] = build_warm) -> SegmentAssignment:
    """Learn ``features`` with the clusterer of every running version (``clusterers`` is
    updated in place: a version that starts gets one from ``build``, one no longer running loses
    its), then assign the segment with the live version's: its nearest centre's id and the
    distance to it."""
    running = placement.running_versions()
    for version in running:
        if version not in clusterers:
            clusterers[version] = build(spec_of(version))
        clusterers[version].learn_one(features)
    for version in [v for v in clusterers if v not in running]:
        del clusterers[version]  # neither live, shadow nor the rollback target
    segment, distance = clusterers[placement.live].nearest(features)
    return SegmentAssignment(spec_of(placement.live), int(segment), float(distance))

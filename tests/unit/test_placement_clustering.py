"""The segments job follows model placements (issue 18, item 4): one clusterer per running
version of ``customer_segments``, all learning every vector, the live one assigning; a promote,
rollback or shadow switches them without touching any clusterer's centres, and the job refuses
control records it cannot run. Pure logic and the UDF over stand-ins of Flink's state, no JVM."""
from __future__ import annotations

import json
import pickle
import random

import pytest

from personastream_contracts.settings import resolve
from personastream_flink.placements import PLACEMENTS
from personastream_flink.segmentation import AssignSegment
from personastream_flink.testing import StandInRuntime
from personastream_models import specs
from personastream_models.artifacts import build_warm
from personastream_models.placement_clustering import assign_segment, clusterer_loader
from personastream_models.registry import Placement, PlacementError, control_placement
from personastream_stack.model_control import job_default

NAME = "customer_segments"
OLD, NEW = "1-0-0", "2-0-0"
#: Two kinds of customers in behaviour-vector features: browsers and buyers.
KINDS = [{"views_per_day": 0.9, "carts_per_day": 0.05, "purchase_rate": 0.0},
         {"views_per_day": 0.2, "carts_per_day": 0.8, "purchase_rate": 0.9}]
SEEDED = 320  # vectors after which 2-0-0 (buffer 300) has seeded its centres


def vectors(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    return [{k: min(1.0, max(0.0, v + rng.gauss(0, 0.03))) for k, v in rng.choice(KINDS).items()}
            for _ in range(n)]


class Counted:
    """A version's clusterer (as the job builds it) that counts the vectors it learned."""

    def __init__(self, spec):
        self.model, self.n = build_warm(spec), 0

    def learn_one(self, x: dict) -> None:
        self.n += 1
        self.model.learn_one(x)

    def nearest(self, x: dict):
        return self.model.nearest(x)


@pytest.fixture
def spec_of():
    return clusterer_loader(specs.loader(NAME), "behaviour_vector")


def run(clusterers, placement, spec_of, stream, build=Counted) -> list[dict]:
    return [assign_segment(clusterers, placement, spec_of, x, build).columns() for x in stream]


def ids_of_kinds(clusterer) -> list[int]:
    return [clusterer.nearest(kind)[0] for kind in KINDS]


def test_the_segments_job_starts_with_2_0_0_by_default():
    settings = resolve(environ={"HOME": "/home/t"})
    assert specs.load(settings.segments_clusterer, settings.segments_clusterer_version or None) \
        .key == "customer_segments/2-0-0"
    assert job_default(settings, NAME) == Placement.initial(NAME, NEW)


def test_the_default_is_the_better_clusterer_from_cold(clusterer_evaluation):
    # measured at seed 42: 2-0-0 0.495, 1-0-0 0.091 (5 seeds: 0.486 and 0.085 mean)
    new, old = clusterer_evaluation(NEW), clusterer_evaluation(OLD)
    assert new["ari_online"] > old["ari_online"] + 0.3
    assert new["clusters_used_final"] > old["clusters_used_final"]


def test_the_live_version_assigns_while_a_shadow_learns_beside_it(spec_of):
    clusterers = {}
    rows = run(clusterers, Placement.initial(NAME, OLD).with_shadow(NEW), spec_of, vectors(30, 1))
    assert {r["segment_model"] for r in rows} == {f"{NAME}/{OLD}"}
    assert {v: c.n for v, c in clusterers.items()} == {OLD: 30, NEW: 30}
    assert all(0 <= r["segment_id"] < 6 and r["segment_distance"] >= 0 for r in rows)
    # the row's segment is the live clusterer's nearest centre after it learned the vector
    last = vectors(31, 1)[-1]
    row = run(clusterers, Placement.initial(NAME, OLD).with_shadow(NEW), spec_of, [last])[0]
    assert (row["segment_id"], row["segment_distance"]) == clusterers[OLD].nearest(last)


def test_a_promote_switches_the_assigning_version_and_starts_its_clusterer(spec_of):
    clusterers, placement = {}, Placement.initial(NAME, OLD)
    before = run(clusterers, placement, spec_of, vectors(20, 2))
    old = clusterers[OLD]
    after = run(clusterers, placement.promoted(NEW), spec_of, vectors(25, 3))
    assert {r["segment_model"] for r in before} == {f"{NAME}/{OLD}"}
    assert {r["segment_model"] for r in after} == {f"{NAME}/{NEW}"}
    # the new version's clusterer started at the promote (cold: 2-0-0 has no artifact) and
    # learns from then on; the old one keeps learning as the rollback target
    assert clusterers[NEW].n == 25 and clusterers[NEW].model.n_learned == 25
    assert clusterers[OLD] is old and old.n == 45


def test_a_promoted_shadow_continues_its_clusterer_and_keeps_its_ids(spec_of):
    clusterers, placement = {}, Placement.initial(NAME, OLD).with_shadow(NEW)
    run(clusterers, placement, spec_of, vectors(SEEDED, 4))
    shadow = clusterers[NEW]
    assert shadow.model.seeded
    ids = ids_of_kinds(shadow)
    assert len(set(ids)) == 2  # browsers and buyers in different segments
    rows = run(clusterers, placement.promoted(NEW), spec_of, KINDS)
    assert clusterers[NEW] is shadow and shadow.n == SEEDED + 2
    assert [(r["segment_model"], r["segment_id"]) for r in rows] == \
        [(f"{NAME}/{NEW}", i) for i in ids]


def test_a_rollback_returns_to_the_old_clusterer_which_kept_learning(spec_of):
    clusterers, placement = {}, Placement.initial(NAME, NEW)
    run(clusterers, placement, spec_of, vectors(SEEDED, 5))
    kept, ids = clusterers[NEW], ids_of_kinds(clusterers[NEW])
    promoted = placement.promoted(OLD)
    run(clusterers, promoted, spec_of, vectors(40, 6))
    rows = run(clusterers, promoted.rolled_back(), spec_of, KINDS)
    assert clusterers[NEW] is kept and kept.n == SEEDED + 40 + 2
    assert [(r["segment_model"], r["segment_id"]) for r in rows] == \
        [(f"{NAME}/{NEW}", i) for i in ids]


def test_a_version_no_longer_running_is_dropped_and_starts_again_when_it_returns(spec_of):
    clusterers, live = {}, Placement.initial(NAME, OLD)
    run(clusterers, live.with_shadow(NEW), spec_of, vectors(10, 7))
    run(clusterers, live.with_shadow(NEW).with_shadow(None), spec_of, vectors(5, 8))
    assert set(clusterers) == {OLD}
    run(clusterers, live.with_shadow(NEW), spec_of, vectors(3, 9))
    assert clusterers[NEW].n == 3 and clusterers[OLD].n == 18


def test_the_clusterers_pickle_mid_stream_and_continue_identically(spec_of):
    # the job keeps them in one ValueState of pickled bytes
    clusterers, placement = {}, Placement.initial(NAME, OLD).with_shadow(NEW)
    run(clusterers, placement, spec_of, vectors(SEEDED - 10, 10), build=build_warm)
    copy = pickle.loads(pickle.dumps(clusterers))
    rest = vectors(30, 11)
    assert run(copy, placement, spec_of, rest, build=build_warm) == \
        run(clusterers, placement, spec_of, rest, build=build_warm)


def test_control_records_the_job_cannot_run_are_refused(spec_of):
    promote = Placement.initial(NAME, OLD).promoted(NEW)
    assert control_placement(promote.to_json(), NAME, spec_of) == promote
    assert control_placement(Placement.initial("trends_detector", "3-5-0").to_json(), NAME,
                             spec_of) is None
    with pytest.raises(PlacementError, match="not a model placement record"):
        control_placement("not json", NAME, spec_of)
    with pytest.raises(specs.SpecNotFound, match="no version '9-9-9'"):
        control_placement(Placement.initial(NAME, OLD).with_shadow("9-9-9").to_json(), NAME,
                          spec_of)
    with pytest.raises(specs.SpecError, match="this job's vectors are trend_count"):
        clusterer_loader(specs.loader(NAME), "trend_count")(NEW)
    with pytest.raises(specs.SpecError, match="is a detector, not a clusterer"):
        clusterer_loader(specs.loader("trends_detector"), "trend_count")("3-5-0")


# --- the UDF, over stand-ins of Flink's runtime context and broadcast state -----------------

class _Broadcast(dict):
    def put(self, key, value) -> None:
        self[key] = value


class _Context:
    """Both the broadcast side's context and the keyed side's read-only one."""

    def __init__(self):
        self.placements = _Broadcast()

    def get_broadcast_state(self, descriptor):
        assert descriptor is PLACEMENTS
        return self.placements


class _Vector:
    def __init__(self, user_key: str, features: dict):
        self.user_key, self.features = user_key, json.dumps(features)


def test_assign_segment_follows_the_placements_on_the_control_topic(caplog):
    udf = AssignSegment(NAME, OLD)
    udf.open(StandInRuntime())
    ctx = _Context()

    def segment_models(stream):
        return [row.segment_model for i, x in enumerate(stream)
                for row in udf.process_element(_Vector(f"u-{i}", x), ctx)]

    assert set(segment_models(vectors(5, 12))) == {f"{NAME}/{OLD}"}  # no record: the default
    promote = Placement.initial(NAME, OLD).promoted(NEW)
    for record in ("not json", Placement.initial(NAME, OLD).with_shadow("9-9-9").to_json(),
                   Placement.initial("trends_detector", "3-5-0").to_json(), promote.to_json()):
        udf.process_broadcast_element(record, ctx)
    assert ctx.placements == {NAME: promote.to_json()}  # only the valid record of this model
    assert len([r for r in caplog.records if "ignored model control record" in r.message]) == 2
    assert set(segment_models(vectors(5, 13))) == {f"{NAME}/{NEW}"}
    udf.process_broadcast_element(promote.rolled_back().to_json(), ctx)
    assert set(segment_models(vectors(5, 14))) == {f"{NAME}/{OLD}"}

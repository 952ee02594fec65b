"""A detector spec's stand-in (issue 18, item 3): the stand-in version scores an item's windows
until the spec's own detector of the item has learned ``stand_in.windows`` of them, per item;
both learn meanwhile, the row says which version scored, and the stand-in's detector is
dropped at the hand-over. The same step runs in the trends job, the jobs benchmark's bare loop
and ``bench nab``."""
from __future__ import annotations

import pickle
from datetime import datetime, timedelta

import pytest

from personastream_bench import jobs
from personastream_bench.nab import runner
from personastream_bench.nab.corpus import DataFile
from personastream_contracts.settings import resolve
from personastream_models import specs
from personastream_models.detectors import GaussianTail, score_then_learn
from personastream_models.features import feature_set
from personastream_models.placement_scoring import score_version, score_window
from personastream_models.registry import Placement

NAME = "trends_detector"
WINDOWS = 15  # a short stand-in period for the tests (3-5-0's is 100)


def test_3_5_0_is_3_4_0_with_2_0_0_standing_in_for_100_windows():
    best, before = specs.load(NAME, "3-5-0"), specs.load(NAME, "3-4-0")
    assert best.stand_in == specs.StandIn("2-0-0", 100)
    assert (best.estimator, best.params, best.threshold, best.direction, best.features) == \
        (before.estimator, before.params, before.threshold, before.direction, before.features)
    assert before.stand_in is None and "stand_in" not in before.to_dict()
    assert specs.validate(best.to_dict()) == best
    assert pickle.loads(pickle.dumps(best)) == best


def test_the_trends_job_starts_with_the_best_held_out_by_default():
    settings = resolve(environ={"HOME": "/home/t"})
    live = specs.load(settings.trends_detector, settings.trends_detector_version or None)
    assert live.key == "trends_detector/4-1-0" and live.stand_in.version == "2-0-0"


def _with_stand_in(stand_in) -> dict:
    return {**specs.load(NAME, "3-4-0").to_dict(), "version": "3-9-0", "stand_in": stand_in}


@pytest.mark.parametrize(("stand_in", "message"), [
    ("2-0-0", 'must be an object {"version"'),
    ({"version": "2-0-0"}, 'must be an object {"version"'),
    ({"version": "2-0-0", "windows": 10, "extra": 1}, 'must be an object {"version"'),
    ({"version": "2-0-0", "windows": 0}, "'windows' must be a positive integer"),
    ({"version": "2-0-0", "windows": -5}, "'windows' must be a positive integer"),
    ({"version": "2-0-0", "windows": 1.5}, "'windows' must be a positive integer"),
    ({"version": "2-0-0", "windows": True}, "'windows' must be a positive integer"),
    ({"version": "9-9-9", "windows": 10}, "names trends_detector 9-9-9, which is not published"),
    ({"version": "two", "windows": 10}, "'version' must be MODEL-REVISION-ADDITION"),
    ({"version": 2, "windows": 10}, "'version' must be MODEL-REVISION-ADDITION"),
    ({"version": "3-9-0", "windows": 10}, "'version' must be another version than 3-9-0"),
    ({"version": "3-5-0", "windows": 10}, "which has a stand-in itself"),
])
def test_a_bad_stand_in_is_refused_naming_the_field(stand_in, message):
    with pytest.raises(specs.InvalidSpec) as error:
        specs.validate(_with_stand_in(stand_in))
    assert str(error.value).startswith("spec trends_detector/3-9-0: field 'stand_in' ")
    assert message in str(error.value)


def test_a_clusterer_has_no_stand_in():
    doc = {**specs.load("customer_segments", "1-0-0").to_dict(),
           "stand_in": {"version": "1-0-0", "windows": 10}}
    with pytest.raises(specs.InvalidSpec, match="field 'stand_in' is for detectors only"):
        specs.validate(doc)


def test_a_new_stand_in_is_a_revision():
    old = specs.load(NAME, "3-4-0")
    with pytest.raises(specs.InvalidSpec, match=r"must bump REVISION \(to 3-5-0\): stand_in"):
        specs.check_bump(old, specs.validate({**_with_stand_in(
            {"version": "2-0-0", "windows": 100}), "version": "3-4-1"}))
    specs.check_bump(old, specs.load(NAME, "3-5-0"))


# -- the hand-over ---------------------------------------------------------------------------

@pytest.fixture
def spec_of():
    """Versions of trends_detector, and 3-9-0: 3-4-0 with 2-0-0 standing in for 15 windows."""
    custom = specs.validate(_with_stand_in({"version": "2-0-0", "windows": WINDOWS}))
    return lambda version: custom if version == "3-9-0" else specs.load(NAME, version)


def _reference(spec, series: list[int]) -> list[float]:
    """The scores of one fresh detector of ``spec`` over ``series``."""
    detector = specs.build(spec)
    return [score_then_learn(detector, feature_set(spec.features)(count=float(v))) for v in series]


def test_the_stand_in_scores_each_item_until_its_detector_learned_enough(spec_of):
    live = Placement.initial(NAME, "3-9-0")
    steady = [5, 6, 5, 4, 5, 6, 5, 5, 4, 6, 5, 5, 60] + [5, 6] * 10  # a spike at window 12
    rows, states = {"a": [], "b": []}, {"a": {}, "b": {}}
    for w, views in enumerate(steady):
        # item b is first seen at window 25, long after a's hand-over, for 8 windows
        batch = [("a", views)] + ([("b", steady[w - 25])] if 25 <= w < 33 else [])
        for item, v in batch:
            result = score_window(states[item], live, spec_of, v)
            rows[item].append(result.columns())
            detector, n_learned, stand_in = states[item]["3-9-0"]
            assert n_learned == len(rows[item])
            assert (stand_in is None) == (n_learned >= WINDOWS)  # dropped at the hand-over
            assert stand_in is None or isinstance(stand_in, GaussianTail)

    a = rows["a"]
    assert [r["scored_by"] for r in a] == ["2-0-0"] * WINDOWS + ["3-9-0"] * (len(a) - WINDOWS)
    assert {r["model_version"] for r in a} == {"3-9-0"}  # the live version, whoever scored
    assert [r["n_learned"] for r in a] == list(range(1, len(a) + 1))
    # the stand-in scored what a fresh 2-0-0 scores; the version's own detector learned every
    # window meanwhile, so from the hand-over on it scores what it scores alone
    assert [r["score"] for r in a[:WINDOWS]] == _reference(spec_of("2-0-0"), steady[:WINDOWS])
    assert [r["score"] for r in a[WINDOWS:]] == _reference(spec_of("3-9-0"), steady)[WINDOWS:]
    # flagged at the scoring version's threshold: 2-0-0's spike detection
    assert [w for w, r in enumerate(a) if r["flagged"]] == [12]
    # per item: b, first seen after a's hand-over, is scored by the stand-in
    assert [r["scored_by"] for r in rows["b"]] == ["2-0-0"] * 8


def test_a_stand_in_is_dropped_after_its_last_window(spec_of):
    spec, state = spec_of("3-9-0"), None
    for n in range(1, WINDOWS + 2):
        state, _, scored_by = score_version(state, spec, spec_of, {"count": 5.0})
        assert state[1] == n
        assert scored_by.version == ("2-0-0" if n <= WINDOWS else "3-9-0")
        assert (state[2] is None) == (n >= WINDOWS)


def test_a_state_from_before_stand_ins_reads_as_having_none(spec_of):
    spec = spec_of("3-9-0")
    learned = (specs.build(spec), WINDOWS + 3)  # (detector, n_learned): the old layout
    state, _, scored_by = score_version(learned, spec, spec_of, {"count": 5.0})
    assert scored_by is spec and state[1:] == (WINDOWS + 4, None)
    young = (specs.build(spec), 2)  # still learning: a stand-in is built for the rest
    state, _, scored_by = score_version(young, spec, spec_of, {"count": 5.0})
    assert scored_by.version == "2-0-0" and isinstance(state[2], GaussianTail)


def test_a_shadow_with_a_stand_in_is_flagged_at_its_stand_ins_threshold(spec_of):
    placement = Placement.initial(NAME, "1-0-0").with_shadow("3-9-0")
    states = {}
    for views in [5, 6, 5, 4, 5, 6, 5, 5, 4, 6, 5, 5, 60]:
        columns = score_window(states, placement, spec_of, views).columns()
    assert columns["shadow_version"] == "3-9-0" and columns["shadow_flagged"] is True
    assert columns["scored_by"] == "1-0-0"  # the live version has no stand-in
    assert sorted(states) == ["1-0-0", "3-9-0"]


def test_the_jobs_bare_loop_runs_the_stand_in():
    best = specs.load(NAME, "3-5-0")
    rows = list(jobs.score_series(best, [("a", w, 5) for w in range(102)]))
    assert [r[3]["scored_by"] for r in rows] == ["2-0-0"] * 100 + ["3-5-0"] * 2


def test_bench_nab_runs_the_stand_in_as_the_job_does():
    """On a NAB series, 3-5-0 scores its first 100 rows with 2-0-0, then as 3-4-0 does: the
    rows NAB scores (after its probationary period, 15 % of a series, at least 169 rows in
    NAB's corpus) are 3-4-0's."""
    t0 = datetime(2026, 1, 1)
    values = [str(20 + (i % 7)) for i in range(120)] + ["80"] + [str(20 + i) for i in range(9)]
    times = tuple(t0 + timedelta(minutes=5 * i) for i in range(len(values)))
    data = DataFile("synthetic/x.csv", tuple(t.isoformat(sep=" ") for t in times), tuple(values),
                    times)
    best = runner._spec_scorer(specs.load(NAME, "3-5-0"))(data, None, [])
    alone = runner._spec_scorer(specs.load(NAME, "3-4-0"))(data, None, [])
    stand_in = runner._spec_scorer(specs.load(NAME, "2-0-0"))(data, None, [])
    assert best[:100] == stand_in[:100]
    assert best[100:] == alone[100:]
    assert best[120] > 0.5  # the spike, scored by 3-4-0's detector

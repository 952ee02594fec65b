"""The simulated shoppers' known response model (personastream_bench.shopper_response), the
simulation's tally and lift against the case study (personastream_bench.ab_simulation), and
the relative lift's interval against scipy: pure, seeded."""
from __future__ import annotations

import random

import pytest
from scipy.stats.contingency import relative_risk

from personastream_bench.ab_simulation import COUNTS, Tally, growth, lifts, render_lifts
from personastream_bench.shopper_response import ResponseModel
from personastream_models.experiment_report import build
from personastream_models.experiment_stats import relative_lift_interval
from personastream_models.experiments import is_simulation, load, load_all

CATEGORIES = ["bags", "hats", "jackets", "scarves", "shirts", "shoes", "socks", "watches"]


def test_tastes_are_seeded_and_cover_categories_uniformly():
    model = ResponseModel()
    draws = [model.draw_taste(random.Random(f"7:{i}"), CATEGORIES) for i in range(4000)]
    assert draws == [model.draw_taste(random.Random(f"7:{i}"), CATEGORIES) for i in range(4000)]
    assert all(len(set(t.liked)) == model.n_liked for t in draws)
    shares = {c: sum(t.likes(c) for t in draws) / len(draws) for c in CATEGORIES}
    assert all(abs(share - model.n_liked / len(CATEGORIES)) < 0.03 for share in shares.values())


def test_clicks_favour_liked_items_and_top_positions_as_parametrized():
    """Over many seeded shelves, the click frequencies match the model's probabilities."""
    model = ResponseModel()
    taste = model.draw_taste(random.Random(1), CATEGORIES)
    liked, other = taste.liked[0], next(c for c in CATEGORIES if not taste.likes(c))
    n = 40_000
    for category, attraction in ((liked, model.p_click_liked), (other, model.p_click_other)):
        first = sum(model.choose_click(taste, [category], random.Random(i)) == 0
                    for i in range(n)) / n
        assert first == pytest.approx(attraction, abs=4 * (attraction / n) ** 0.5)
    # a liked item lower on the shelf: clicked less than at the top, by the position decay
    shelf = [other, liked]
    second = sum(model.choose_click(taste, shelf, random.Random(i)) == 1 for i in range(n)) / n
    expected = (1 - model.p_click_other) * model.p_click_liked * model.position_decay
    assert second == pytest.approx(expected, abs=4 * (expected / n) ** 0.5)


def test_expected_ctr_grows_with_the_share_of_liked_items():
    model = ResponseModel()
    ctrs = [model.expected_ctr(share, 8) for share in (0.0, 0.25, 0.5, 1.0)]
    assert ctrs == sorted(ctrs) and ctrs[0] > 0
    # the simulated frequency of a random shelf matches the closed form
    taste = model.draw_taste(random.Random(3), CATEGORIES)
    rng = random.Random(4)
    n = 20_000
    clicks = sum(model.choose_click(taste, [rng.choice(CATEGORIES) for _ in range(8)], rng)
                 is not None for _ in range(n))
    assert clicks / n == pytest.approx(model.expected_ctr(2 / 8, 8), abs=0.01)


def test_carts_and_purchases_follow_their_probabilities():
    model = ResponseModel()
    taste = model.draw_taste(random.Random(2), CATEGORIES)
    other = next(c for c in CATEGORIES if not taste.likes(c))
    rng, n = random.Random(9), 20_000
    assert sum(model.carts(taste, taste.liked[0], rng) for _ in range(n)) / n == \
        pytest.approx(model.p_cart_liked, abs=0.015)
    assert sum(model.carts(taste, other, rng) for _ in range(n)) / n == \
        pytest.approx(model.p_cart_other, abs=0.015)
    assert sum(model.purchases(rng) for _ in range(n)) / n == \
        pytest.approx(model.p_purchase, abs=0.015)


@pytest.mark.parametrize("field, value, message", [
    ("p_click_liked", 1.5, "p_click_liked must be a probability"),
    ("position_decay", -0.1, "position_decay must be a probability"),
    ("n_liked", 0, "n_liked must be at least 1"),
])
def test_a_broken_model_is_refused_naming_the_parameter(field, value, message):
    with pytest.raises(ValueError, match=message):
        ResponseModel(**{field: value})


def test_relative_lift_interval_matches_scipy():
    for x0, n0, x1, n1 in ((100, 1000, 130, 1000), (12, 480, 30, 510), (900, 9000, 990, 8700)):
        ci = relative_risk(x1, n1, x0, n0).confidence_interval(0.95)
        assert relative_lift_interval(x0, n0, x1, n1) == pytest.approx(
            (ci.low - 1, ci.high - 1), rel=1e-9)


def test_simulation_experiments_are_kept_from_customers():
    sim = load("sim_ranking_live_vs_batch")
    assert is_simulation(sim) and sim not in load_all() and sim in load_all(simulations=True)
    real = load("ranking_live_vs_batch")
    assert [(v.name, v.weight, v.ranking) for v in sim.variants] == \
        [(v.name, v.weight, v.ranking) for v in real.variants]


def test_tally_growth_and_lifts_beside_the_case_study():
    tally = Tally()
    tally.add("live", impressions=3, clicks=1, profiled_pages=2)
    tally.add("live", exposed_customers=1, clicking_customers=1)
    assert {c: tally.as_dict()["live"][c] for c in COUNTS} == {
        **dict.fromkeys(COUNTS, 0), "impressions": 3, "clicks": 1, "exposed_customers": 1,
        "clicking_customers": 1}
    before = {"live": {"impressions": 10, "clicks": 2, "revenue": 5.0}}
    after = {"live": {"impressions": 13, "clicks": 3, "revenue": 7.5}}
    grown = growth(after, before)
    assert grown["live"]["impressions"] == 3 and grown["live"]["revenue"] == 2.5
    totals = {"popularity": {"exposed_customers": 400, "impressions": 2000, "clicks": 300,
                             "converted_customers": 20, "carting_customers": 40},
              "daily_batch": {"exposed_customers": 400, "impressions": 2000, "clicks": 310,
                              "converted_customers": 22, "carting_customers": 41},
              "live": {"exposed_customers": 400, "impressions": 2000, "clicks": 400,
                       "converted_customers": 30, "carting_customers": 60}}
    report = build(load("sim_ranking_live_vs_batch"), totals, lift=0.15)
    rows = lifts(report, "live", ("popularity", "daily_batch"))
    assert [(r["metric"], r["baseline"]) for r in rows] == [
        ("ctr", "popularity"), ("ctr", "daily_batch"),
        ("conversion", "popularity"), ("conversion", "daily_batch")]
    ctr = rows[0]
    assert ctr["lift"] == pytest.approx(400 / 300 - 1)
    assert ctr["interval"][0] < ctr["lift"] < ctr["interval"][1]
    assert ctr["case_study"] == 0.15 and rows[2]["case_study"] == 0.10
    text = render_lifts(rows, 0.95)
    assert "+33.3 %" in text and "+15 %" in text and "+10 %" in text

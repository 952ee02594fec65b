"""Experiments: the file format, sticky assignment (Python and Flink SQL agree), the report's
statistics against scipy, and the attribution job's topology in a local PyFlink environment."""
from __future__ import annotations

import json
import math
import random

import pytest
from scipy import stats

from personastream_flink import attribute_experiments
from personastream_flink.testing import FileIO, local_environment
from personastream_models import experiment_stats, experiments
from personastream_models.experiments import InvalidExperiment
from personastream_models.promotion_offers import exposure, offer_id

T0_MS = 1_764_979_200_000  # 2025-12-06T00:00:00Z


# --- files ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(experiments.available()))
def test_every_published_experiment_is_valid(name):
    exp = experiments.load(name)
    assert exp.boundaries[-1] == experiments.BUCKETS
    assert exp.control in {v.name for v in exp.variants}


@pytest.mark.parametrize("change, field, reason", [
    ({"placement": "checkout"}, "placement", "must be one of"),
    ({"variants": [{"name": "a", "weight": 1, "ranking": "live"}]}, "variants",
     "must have at least 2 item(s)"),
    ({"variants": [{"name": "a", "weight": 1, "ranking": "live"},
                   {"name": "a", "weight": 1, "ranking": "magic"}]}, "variants[1].ranking",
     "must be one of"),
    ({"variants": [{"name": "a", "weight": 1, "ranking": "live"},
                   {"name": "a", "weight": 1, "ranking": "live"}]}, "variants[1].name",
     "repeats variant 'a'"),
    ({"metrics": ["revenue_per_visit"]}, "metrics[0]", "must be one of"),
    ({"end": "2026-11-01T00:00:00Z"}, "end", "must be after start"),
    ({"colour": "blue"}, "colour", "is not a field of"),
])
def test_a_broken_experiment_is_refused_naming_the_field(change, field, reason):
    exp = {**experiments.load("aa_ranking").to_dict(), **change}
    with pytest.raises(InvalidExperiment) as error:
        experiments.validate(exp)
    problem = error.value.problems[0]
    assert (problem.field, reason in problem.reason) == (field, True), str(error.value)


def test_a_file_must_sit_under_its_name_and_version(tmp_path):
    path = tmp_path / "x.json"
    path.write_text(json.dumps({**experiments.load("aa_ranking").to_dict(), "version": "1-0"}))
    with pytest.raises(InvalidExperiment, match="'version' must match"):
        experiments.read_file(path)
    with pytest.raises(experiments.ExperimentNotFound, match="experiments: aa_ranking"):
        experiments.load("no_such_experiment")


# --- assignment ----------------------------------------------------------------------------

def test_assignment_is_sticky_and_follows_the_weights():
    exp = experiments.load("ranking_live_vs_batch")
    keys = [f"anon:web-{i}" for i in range(30_000)]
    first = [experiments.assign(exp, k).name for k in keys]
    assert first == [experiments.assign(exp, k).name for k in keys]
    shares = {v.name: first.count(v.name) / len(keys) for v in exp.variants}
    for v in exp.variants:  # 30,000 draws: a share is within 1.5 points of its weight
        assert abs(shares[v.name] - v.weight / 100) < 0.015, shares
    other = experiments.load("aa_ranking")  # another name: an independent split
    together = sum(experiments.assign(other, k).name == "a" and f == "live"
                   for k, f in zip(keys, first))
    assert abs(together / len(keys) - 0.5 * 0.33) < 0.015


def test_flink_sql_assigns_as_python_does():
    """The same 3,000 keys (ids, anonymous keys, unicode) through Flink SQL's SHA256 and the
    generated CASE, in a local batch table environment, and through Python."""
    from pyflink.table import EnvironmentSettings, TableEnvironment

    exps = [experiments.load(n) for n in experiments.available()]
    rng = random.Random(7)
    keys = [f"u-{rng.randrange(10 ** 9)}" for _ in range(1000)] \
        + [f"anon:web-{rng.getrandbits(64):x}" for _ in range(1000)] \
        + [f"kunde-ü{i}-é" for i in range(1000)]
    rows = [(exps[i % len(exps)].name, k) for i, k in enumerate(keys)]
    t_env = TableEnvironment.create(EnvironmentSettings.in_batch_mode())
    t_env.get_config().set("parallelism.default", "1")
    t_env.create_temporary_view("keys", t_env.from_elements(rows, ["experiment", "customer"]))
    sql = (f"SELECT experiment, customer, "
           f"{experiments.bucket_sql('experiment', 'customer')} AS b, "
           f"{experiments.assignment_sql(exps, 'experiment', 'customer')} AS variant FROM keys")
    with t_env.execute_sql(sql).collect() as results:
        got = {(r[0], r[1]): (r[2], r[3]) for r in results}
    by_name = {e.name: e for e in exps}
    expected = {(n, k): (experiments.bucket(n, k), experiments.assign(by_name[n], k).name)
                for n, k in rows}
    assert len(got) == len(rows) == 3000
    assert got == expected


# --- statistics ----------------------------------------------------------------------------

@pytest.mark.parametrize("k, n", [(0, 10), (3, 10), (50, 1000), (999, 1000), (1234, 56789)])
def test_wilson_interval_matches_scipy(k, n):
    expected = stats.binomtest(k, n).proportion_ci(0.95, method="wilson")
    got = experiment_stats.wilson_interval(k, n)
    assert got == pytest.approx((expected.low, expected.high), abs=1e-9)


@pytest.mark.parametrize("x0, n0, x1, n1", [(100, 1000, 130, 1000), (52, 2004, 49, 1996),
                                            (5, 50, 0, 60), (3000, 10000, 3100, 10000)])
def test_difference_and_p_value_match_scipy(x0, n0, x1, n1):
    c = experiment_stats.compare(x0, n0, x1, n1)
    p0, p1 = x0 / n0, x1 / n1
    # the pooled z-test is the chi-square test of the 2x2 table without continuity correction
    chi2, p, _, _ = stats.chi2_contingency([[x0, n0 - x0], [x1, n1 - x1]], correction=False)
    assert c.p_value == pytest.approx(p, rel=1e-9)
    assert c.z ** 2 == pytest.approx(chi2, rel=1e-9)
    half = stats.norm.ppf(0.975) * math.sqrt(p0 * (1 - p0) / n0 + p1 * (1 - p1) / n1)
    assert c.interval == pytest.approx((p1 - p0 - half, p1 - p0 + half), abs=1e-12)


@pytest.mark.parametrize("baseline, lift", [(0.05, 1.0), (0.10, 0.15), (0.02, 0.15),
                                            (0.30, -0.1)])
def test_sample_size_reaches_the_power_and_one_less_does_not(baseline, lift):
    n = experiment_stats.sample_size_per_variant(baseline, lift)
    target = baseline * (1 + lift)

    def power(m):  # the pooled z-test's power at m per group (normal approximation, scipy)
        mean = (baseline + target) / 2
        se0 = math.sqrt(2 * mean * (1 - mean) / m)
        se1 = math.sqrt((baseline * (1 - baseline) + target * (1 - target)) / m)
        crit = stats.norm.ppf(0.975) * se0
        return stats.norm.sf((crit - abs(target - baseline)) / se1)

    assert power(n) >= 0.8 > power(n - 1)
    if (baseline, lift) == (0.05, 1.0):
        assert n == 435  # Fleiss, Levin & Paik's table without continuity correction


# --- the attribution job -------------------------------------------------------------------

EXPOSURES_TOPIC = "experiments.exposures"


def attribute(folder, events: list[dict], exposures: list[dict] = ()) -> list[dict]:
    """The result rows ``attribute_experiments`` writes from ``events`` and the promotions
    job's ``exposures`` (records of its exposures topic)."""
    io = FileIO(folder, events=events, records={EXPOSURES_TOPIC: list(exposures)})
    env = local_environment()
    job = attribute_experiments
    job.build(env, job.parse_args(io.arguments(job.JOB_NAME, "--exposures-topic",
                                               EXPOSURES_TOPIC)), io)
    env.execute(job.JOB_NAME)
    return io.rows("cassandra_experiment_results")


def newest(rows: list[dict]) -> dict:
    """The newest write of each (experiment, variant), as its write time says."""
    latest = {}
    for row in rows:
        key = (row["experiment"], row["variant"])
        if key not in latest or row["written_at_us"] > latest[key]["written_at_us"]:
            latest[key] = row
    return latest


def test_attribution_counts_exposures_and_outcomes_after_exposure(tmp_path, enrich):
    aa = experiments.load("aa_ranking")
    customers = [f"u-{i}" for i in range(12)]
    variant = {c: experiments.assign(aa, c).name for c in customers}
    t = iter(range(T0_MS, T0_MS + 10 ** 9, 1000))
    events, expected = [], {v.name: dict.fromkeys(
        ["exposed_customers", "impressions", "clicks", "clicking_customers", "add_to_carts",
         "carting_customers", "purchases", "converted_customers", "revenue"], 0)
        for v in aa.variants}
    for i, c in enumerate(customers):
        e = expected[variant[c]]
        if i % 3 == 0:  # carted before exposure: not attributed
            events.append(enrich.event("add_to_cart", next(t), user=c, item_id="i-1",
                                       quantity=1, price=5.0))
        for _ in range(2):  # two impressions, reporting the wrong variant: the hash decides
            events.append(enrich.event("impression", next(t), user=c,
                                       placement="recommendations", item_ids=["i-1", "i-2"],
                                       experiment="aa_ranking", variant="zzz"))
        e["exposed_customers"] += 1
        e["impressions"] += 2
        if i % 2 == 0:
            events.append(enrich.event("click", next(t), user=c, placement="recommendations",
                                       item_id="i-2", position=1, experiment="aa_ranking",
                                       variant=variant[c]))
            e["clicks"] += 1
            e["clicking_customers"] += 1
            for _ in range(2):
                events.append(enrich.event("add_to_cart", next(t), user=c, item_id="i-2",
                                           quantity=1, price=5.0))
            e["add_to_carts"] += 2
            e["carting_customers"] += 1
        if i % 4 == 0:
            events.append(enrich.event("purchase", next(t), user=c, order_id=f"o-{i}",
                                       items=[{"item_id": "i-2", "quantity": 1, "price": 5.0}],
                                       total=12.5, currency="EUR"))
            e["purchases"] += 1
            e["converted_customers"] += 1
            e["revenue"] += 12.5
    events.append(enrich.event("impression", next(t), user="u-x", placement="recommendations",
                               item_ids=[], experiment="unknown_experiment", variant="a"))
    events.append(enrich.event("purchase", next(t), user="u-never-exposed", order_id="o-x",
                               items=[{"item_id": "i-2", "quantity": 1, "price": 5.0}],
                               total=9.0, currency="EUR"))

    rows = attribute(tmp_path, events)
    latest = newest(rows)
    assert set(latest) == {("aa_ranking", v) for v in expected}
    for v, counts in expected.items():
        assert {k: latest[("aa_ranking", v)][k] for k in counts} == counts, v
    writes = [r["written_at_us"] for r in rows if r["variant"] == "a"]
    assert writes == sorted(writes) and len(set(writes)) == len(writes)


def test_promotions_holdout_and_offers_are_exposed_alike_and_banner_events_by_offer(tmp_path,
                                                                                      enrich):
    """promotions_on_off: each customer is exposed when the promotions job makes it an offer or
    holds one back (its exposure records, one repeated as a replay would); a banner's
    impressions and clicks (1-1-0) count by their offer_id; conversion after exposure."""
    exp = experiments.load("promotions_on_off")
    variant_of = {f"u-{i}": experiments.assign(exp, f"u-{i}").name for i in range(200)}
    customers = {v.name: [c for c, name in variant_of.items() if name == v.name][:3]
                 for v in exp.variants}
    t = iter(range(exp.start_ms + 86_400_000, exp.end_ms, 1000))
    events, records = [], []

    def buy(customer: str, n: int) -> dict:
        return enrich.event("purchase", next(t), user=customer, order_id=f"o-{customer}-{n}",
                            items=[{"item_id": "shoe-1", "quantity": 1, "price": 5.0}],
                            total=5.0, currency="EUR")

    def banner(event_type: str, customer: str, offer: str, **fields) -> dict:
        return enrich.event(event_type, next(t), user=customer, schema_version="1-1-0",
                            placement="promotion_banner", promotion="spike", offer_id=offer,
                            experiment=None, variant=None, **fields)

    for variant, members in customers.items():
        for n, c in enumerate(members):
            if n == 2:  # bought before exposure: not attributed
                events.append(buy(c, 0))
            trigger = enrich.view("shoe-1", next(t), user=c)
            events.append(trigger)
            offer = {"user_key": c, "offer_id": offer_id("spike/1-0-0", c, trigger["event_id"]),
                     "promotion": "spike", "promotion_version": "1-0-0",
                     "issued_ms": trigger["client_ts_ms"],
                     "trigger_received_ms": trigger["received_at_ms"]}
            seen = exposure(offer, [exp])
            assert seen["held_out"] == (variant == "holdout")
            records += [seen] * (2 if n == 0 else 1)
            if variant == "promotions":  # the banner shows the offer; the first shopper clicks
                events.append(banner("impression", c, offer["offer_id"], item_ids=["shoe-1"]))
                if n == 0:
                    events.append(banner("click", c, offer["offer_id"], item_id="shoe-1",
                                         position=None))
            if n < {"holdout": 1, "promotions": 2}[variant]:
                events.append(buy(c, 1))
    # an offer made under no experiment: its banner counts nowhere
    events.append(banner("impression", "u-x", "other-1-0-0-00", item_ids=[]))

    latest = newest(attribute(tmp_path, events, records))
    assert set(latest) == {("promotions_on_off", v) for v in ("holdout", "promotions")}
    counts = ["exposed_customers", "impressions", "clicks", "clicking_customers",
              "purchases", "converted_customers"]
    got = {v: [latest[("promotions_on_off", v)][k] for k in counts]
           for v in ("holdout", "promotions")}
    assert got == {"holdout": [3, 0, 0, 0, 1, 1], "promotions": [3, 3, 1, 1, 2, 2]}

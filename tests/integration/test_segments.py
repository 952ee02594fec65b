"""The segments job on real Kafka, Flink and Cassandra: customers who behave alike share a
segment, unlike ones do not, ids stay put as the clusterer learns; a promote and a rollback of
``customer_segments`` switch the running job's clusterer without a restart; a promotion rule's
``segment`` condition holds in ``evaluate_promotions`` for the customers of that segment (and an
offer refused by the budget stops counting against the customer's cap); and the profile reader
accepts a row written before segments existed (the previous profile layout)."""
import dataclasses
import datetime as dt
import json
import time
import uuid

import pytest
from click.testing import CliRunner

from personastream.commands.models import models_group
from personastream.commands.promotions import promotions_group
from personastream_contracts.cassandra import keyspace, read_profile, session
from personastream_contracts.tables import TABLES, LayoutError
from personastream_models import artifacts, specs
from personastream_stack import flink_jobs, training
from personastream_stack.kafka import read_to_end

T0 = dt.datetime(2026, 4, 1, 10, 0, tzinfo=dt.timezone.utc)


def ms(minutes: float) -> int:
    return int((T0 + dt.timedelta(minutes=minutes)).timestamp() * 1000)


def event(kind: str, user: str, minutes: float, **fields) -> dict:
    ts = (T0 + dt.timedelta(minutes=minutes)).isoformat(timespec="milliseconds")
    return {"event_id": str(uuid.uuid4()), "event_type": kind, "schema_version": "1-0-0",
            "user_id": user, "anonymous_id": f"device-{user}",
            "client_ts": ts.replace("+00:00", "Z"), **fields}


def browser(user: str, minute: int) -> list:
    """Many product views across categories, nothing bought."""
    return [(event("product_view", user, minute + i / 20, item_id=f"i{i}",
                   category=("shoes", "bags", "hats", "socks")[i % 4], brand="acme"),
             ms(minute + i / 20)) for i in range(12)]


def buyer(user: str, minute: int) -> list:
    """Few views of one category, carts and large orders."""
    out = []
    for i in range(3):
        at = minute + i / 10
        out += [(event("product_view", user, at, item_id="w1", category="watches", brand="stark"),
                 ms(at)),
                (event("add_to_cart", user, at + 0.01, item_id="w1", category="watches",
                       brand="stark", quantity=1, price=400.0), ms(at + 0.01)),
                (event("purchase", user, at + 0.02, order_id=f"o-{user}-{i}", total=400.0,
                       currency="EUR", items=[{"item_id": "w1", "quantity": 1, "price": 400.0}]),
                 ms(at + 0.02))]
    return out


def segmented(settings, users: list[str], timeout_s: float = 120) -> dict[str, dict]:
    """The profiles of ``users`` once each has a segment (those that have one at the timeout)."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = {u: p for u in users
                 if (p := read_profile(settings, u)) is not None and p["segment_id"] is not None}
        if len(found) == len(users) or time.monotonic() > deadline:
            return found
        time.sleep(1)


def segments(settings, users: list[str], timeout_s: float = 120) -> dict[str, int]:
    return {u: p["segment_id"] for u, p in segmented(settings, users, timeout_s).items()}


def clock(minute: int):
    return lambda partition: event("page_view", f"clock-{partition}", minute, page_url="https://x")


def first_segments(settings, enriched, n: int) -> tuple[list[str], list[str], dict[str, int]]:
    """``n`` browsers and ``n`` buyers in the first ``n`` minutes, their windows closed: their
    names and segments."""
    browsers, buyers = [f"browser-{i}" for i in range(n)], [f"buyer-{i}" for i in range(n)]
    for i, (b, c) in enumerate(zip(browsers, buyers)):
        enriched.produce(browser(b, i) + buyer(c, i))
    enriched.advance_watermark(clock(30), ms(30))
    found = segments(settings, browsers + buyers)
    assert len(found) == 2 * n, found
    return browsers, buyers, found


def test_alike_customers_share_a_segment_and_ids_stay_put(isolated, enriched):
    s = isolated.settings
    flink_jobs.submit(s, "assign_segments", instance=isolated.uid)
    browsers, buyers, first = first_segments(s, enriched, 6)

    browser_ids = {first[u] for u in browsers}
    buyer_ids = {first[u] for u in buyers}
    assert len(browser_ids) == 1 and len(buyer_ids) == 1 and browser_ids != buyer_ids

    # the clusterer keeps learning from new customers; the two segments keep their ids
    late_browsers, late_buyers = [f"browser-{i}" for i in range(6, 12)], [f"buyer-{i}" for i in
                                                                         range(6, 12)]
    for i, (b, c) in enumerate(zip(late_browsers, late_buyers)):
        enriched.produce(browser(b, 40 + i) + buyer(c, 40 + i))
    enriched.advance_watermark(clock(70), ms(70))
    second = segments(s, late_browsers + late_buyers)
    assert {second[u] for u in late_browsers} == browser_ids
    assert {second[u] for u in late_buyers} == buyer_ids
    profile = read_profile(s, buyers[0])
    assert profile["segment_model"] == \
        specs.load(s.segments_clusterer, s.segments_clusterer_version or None).key
    assert profile["segment_distance"] >= 0


OLD, NEW = "1-0-0", "2-0-0"
ROUND_MINUTES = 20  # a round's events, then a clock 10 minutes on: past the 5 min lateness
SWITCH_TIMEOUT_S = 90


def segment_round(settings, enriched, minute: int) -> dict[str, dict]:
    """A new browser and a new buyer at ``minute``, their windows closed: their profiles."""
    users = [f"browser-m{minute}", f"buyer-m{minute}"]
    enriched.produce(browser(users[0], minute) + buyer(users[1], minute))
    enriched.advance_watermark(clock(minute + ROUND_MINUTES // 2), ms(minute + ROUND_MINUTES // 2))
    found = segmented(settings, users)
    assert len(found) == 2, found
    return found


def switch_to(settings, enriched, minute: int, version: str) -> int:
    """Rounds until a customer is segmented by ``version``; the minute of the next round."""
    key = f"customer_segments/{version}"
    deadline = time.monotonic() + SWITCH_TIMEOUT_S
    while time.monotonic() < deadline:
        found = segment_round(settings, enriched, minute)
        minute += ROUND_MINUTES
        if any(p["segment_model"] == key for p in found.values()):
            return minute
    raise AssertionError(f"no customer segmented by {key} within {SWITCH_TIMEOUT_S}s")


def test_promote_and_rollback_switch_the_running_segments_job(isolated, enriched):
    """Submitted with 1-0-0; ``models promote customer_segments 2-0-0`` and then ``rollback``
    reach the running job: new rows carry the version that assigned them, no restart."""
    s = dataclasses.replace(isolated.settings, segments_clusterer_version=OLD)
    job = flink_jobs.submit(s, "assign_segments", instance=isolated.uid)

    def models(*args: str) -> str:
        result = CliRunner().invoke(models_group, list(args), obj=s, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    minute, before = 0, {}
    for _ in range(2):
        before.update(segment_round(s, enriched, minute))
        minute += ROUND_MINUTES
    assert {p["segment_model"] for p in before.values()} == {f"customer_segments/{OLD}"}

    assert f"live {OLD} -> {NEW}" in models("promote", "customer_segments", NEW)
    minute = switch_to(s, enriched, minute, NEW)
    promoted = {}
    for _ in range(3):  # once switched, every new row is 2-0-0's
        promoted.update(segment_round(s, enriched, minute))
        minute += ROUND_MINUTES
    assert {p["segment_model"] for p in promoted.values()} == {f"customer_segments/{NEW}"}
    # 2-0-0 started cold at the promote: its provisional ids still tell the two kinds apart
    browser_ids = {p["segment_id"] for u, p in promoted.items() if u.startswith("browser")}
    buyer_ids = {p["segment_id"] for u, p in promoted.items() if u.startswith("buyer")}
    assert len(browser_ids) == 1 and len(buyer_ids) == 1 and browser_ids != buyer_ids
    # customers not seen since keep the row of the version that segmented them
    assert {read_profile(s, u)["segment_model"] for u in before} == {f"customer_segments/{OLD}"}

    assert f"live {NEW} -> {OLD}" in models("rollback", "customer_segments")
    minute = switch_to(s, enriched, minute, OLD)
    back = segment_round(s, enriched, minute)
    assert {p["segment_model"] for p in back.values()} == {f"customer_segments/{OLD}"}

    running = {j.job_id: j for j in flink_jobs.list_jobs(s)}
    assert running[job.job_id].state == "RUNNING"


def segment_rule(name: str, version: str, segment_id: int, budget: int) -> dict:
    """A banner for the customers of one segment, once a day each, ``budget`` offers."""
    return {"name": name, "version": version, "description": "integration test",
            "priority": 50, "start": "2025-01-01T00:00:00Z", "end": "2099-01-01T00:00:00Z",
            "conditions": [{"kind": "segment", "ids": [segment_id]}],
            "action": {"kind": "banner", "text": "for you"},
            "budget": {"max_offers": budget},
            "frequency_caps": {"per_customer": {"max_offers": 1, "window_s": 86400}}}


def test_promotions_follow_segments_and_uncount_refused_offers(isolated, enriched, tmp_path):
    """assign_segments publishes each segment (topic ``customers.segments``) and
    evaluate_promotions follows it: a rule on the buyers' segment offers to a buyer, never to a
    browser. Its budget of one refuses the second buyer; the refusal goes back to that buyer's
    task, so once a new version with budget is active, the second buyer (cap one a day) gets
    its offer, and the first, capped, no second one. Events are in April 2026, before the
    promotions experiment: nobody is held out."""
    s = isolated.settings
    flink_jobs.submit(s, "assign_segments", instance=isolated.uid)
    flink_jobs.submit(s, "evaluate_promotions", instance=isolated.uid)
    browsers, buyers, found = first_segments(s, enriched, 2)
    (buyers_segment,) = {found[u] for u in buyers}
    assert buyers_segment not in {found[u] for u in browsers}
    published = [json.loads(m.value()) for batch in read_to_end(s, s.topic_customer_segments)
                 for m in batch]
    assert {(r["user_key"], r["segment_id"]) for r in published} >= set(found.items())

    def promotions(*args: str) -> str:
        result = CliRunner().invoke(promotions_group, list(args), obj=s, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    name = f"segment_{isolated.uid}"
    for version, budget in (("1-0-0", 1), ("1-0-1", 10)):
        path = tmp_path / f"{version}.json"
        path.write_text(json.dumps(segment_rule(name, version, buyers_segment, budget)))
        promotions("publish", str(path))
    promotions("activate", name, "--version", "1-0-0")
    with session(s) as cql:
        query = cql.prepare(f"SELECT promotion_version, why FROM {keyspace(s)}.offers_by_user "
                            "WHERE user_key = ?")

        def offered_until(user: str, minute: float, timeout_s: float = 90) -> list:
            """A page view of ``user`` every second until it has an offer."""
            deadline = time.monotonic() + timeout_s
            while not (rows := list(cql.execute(query, [user]))):
                assert time.monotonic() < deadline, f"no offer for {user} in {timeout_s:.0f} s"
                enriched.produce([(event("page_view", user, minute, page_url="https://x"),
                                   ms(minute))])
                time.sleep(1)
            return rows

        first = offered_until(buyers[0], 31)  # once the activation reached the job
        assert [r.promotion_version for r in first] == ["1-0-0"]
        assert f"segment_id {buyers_segment} in [{buyers_segment}]" in first[0].why, first[0].why
        enriched.produce([(event("page_view", u, 32, page_url="https://x"), ms(32))
                          for u in [browsers[0], buyers[1]]])
        deadline = time.monotonic() + 60
        while not (refused := [json.loads(m.value()) for batch in
                               read_to_end(s, s.topic_promotion_refusals) for m in batch]):
            assert time.monotonic() < deadline, "no refusal of the second buyer in 60 s"
            time.sleep(1)
        assert [(r["user_key"], r["promotion"]) for r in refused] == [(buyers[1], name)]
        assert not list(cql.execute(query, [buyers[1]]))

        promotions("activate", name, "--version", "1-0-1")
        second = offered_until(buyers[1], 33)  # its cap no longer counts the refused offer
        assert [r.promotion_version for r in second] == ["1-0-1"]
        enriched.produce([(event("page_view", u, 34, page_url="https://x"), ms(34))
                          for u in [buyers[0], browsers[0]]])
        time.sleep(5)
        assert [r.promotion_version for r in cql.execute(query, [buyers[0]])] == ["1-0-0"]
        assert not list(cql.execute(query, [browsers[0]]))


def test_reader_accepts_the_previous_profile_layout(isolated):
    s = isolated.settings
    with session(s) as cql:
        cql.execute(f"INSERT INTO {keyspace(s)}.profiles (user_key, profile_version, views_1h) "
                    "VALUES ('old-user', 1, 3)")
        cql.execute(f"INSERT INTO {keyspace(s)}.profiles (user_key, profile_version) "
                    "VALUES ('future-user', %s)", [TABLES["profiles"].layout_version + 1])
    old = read_profile(s, "old-user")
    assert (old["views_1h"], old["segment_id"], old["segment_model"]) == (3, None, None)
    with pytest.raises(LayoutError, match="newer than this reader"):
        read_profile(s, "future-user")


def test_training_fits_centres_on_the_recorded_customers(isolated, enriched, tmp_path):
    """``models train``: the enriched topic read to its end, behaviour vectors by the segments
    job's own topology (local Flink), KMeans centres written as the spec's artifact."""
    s = isolated.settings
    browsers, buyers = [f"browser-{i}" for i in range(8)], [f"buyer-{i}" for i in range(8)]
    for i, (b, c) in enumerate(zip(browsers, buyers)):
        enriched.produce(browser(b, i) + buyer(c, i))
    enriched.advance_watermark(clock(30), ms(30))
    spec = specs.load("customer_segments", "1-0-0")
    result = training.train(s, spec, max_events=100_000, progress=lambda message: None,
                            root=tmp_path)
    n_events = len(browsers) * 12 + len(buyers) * 9 + s.kafka_partitions
    assert result["data"]["n_events"] == n_events
    artifact = artifacts.load(spec, "initial_centres", root=tmp_path)
    assert artifact.data["n_customers"] == len(browsers) + len(buyers) + s.kafka_partitions
    assert len(artifact.payload["centres"]) == spec.params["n_clusters"]
    assert result["metrics"]["warm_clusters_used"] >= 2

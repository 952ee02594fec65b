"""The personalization API over real Cassandra rows written by the real jobs: every endpoint,
bad parameters, unknown users and items, and the erase endpoint (after it, nothing about the
user can be read back, its tombstone is on the live profile topic, and the jobs start the
user's next profiles anew); over rows written
directly, its answers against the reference ranking; and live profiles taken from the topic the
job publishes them to."""
import datetime as dt
import json
import random
import time
import uuid

import requests

from personastream_contracts import declared_jobs
from personastream_contracts.cassandra import keyspace, session
from personastream_contracts.tables import LATEST_TREND_BUCKET, user_tables
from personastream_models.recommend import (RANKING_VERSION, Item, LiveProfile, co_view_neighbours,
                                            rank)
from personastream_serving.catalogue import catalogue
from personastream_serving.store import LIVE_PROFILE_VERSION
from personastream_stack import flink_jobs
from personastream_stack.kafka import group_read_everything, read_to_end
from personastream_stack.process import poll

USER_TABLES = [t.name for t in user_tables()]
#: The jobs this test runs, and the user tables their events fill.
EVENT_JOBS = ("live_activity", "land_events", "build_profiles")
EVENT_TABLES = {t.name for t in user_tables() if set(t.writers) & set(EVENT_JOBS)}

USER = "user-api"
T0_MS = int(time.time() * 1000) - 60_000


def iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d}Z"


def view(user: str, item, ms: int) -> tuple[dict, int]:
    return ({"event_id": str(uuid.uuid4()), "event_type": "product_view",
             "schema_version": "1-0-0", "user_id": user, "anonymous_id": f"device-{user}",
             "client_ts": iso(ms), "item_id": item.item_id, "category": item.category,
             "brand": item.brand, "price": item.price}, ms)


def wait_for(check, what: str, timeout_s: float = 60):
    return poll(check, timeout_s, what, interval_s=0.2)


def get(api, path: str, **params):
    return requests.get(f"{api.url}{path}", params=params, timeout=10)


def test_every_endpoint(isolated, api_settings, api, enriched):
    s = api_settings
    for job in EVENT_JOBS:
        flink_jobs.submit(s, job, instance=isolated.uid)
    items = catalogue(s.storefront_items)
    bags = [i for i in items if i.category == "bags"][:3]
    # USER views three bags; another shopper views the first two, making them co-viewed
    enriched.produce([view(USER, item, T0_MS + n * 1000) for n, item in enumerate(bags)])
    enriched.produce([view("user-other", item, T0_MS + n * 1000) for n, item in enumerate(bags[:2])])
    # a later event of other shoppers closes the profile windows (allowed lateness: settings)
    enriched.advance_watermark(lambda p: view(f"clock-{p}", items[0], 0)[0] | {
        "client_ts": iso(T0_MS + 20 * 60_000)}, T0_MS + 20 * 60_000)

    # the live job may still be catching up (cold Python workers): wait for all three views
    recs = wait_for(lambda: (r := get(api, "/v1/recommendations", user=USER, k=5).json())
                    ["provenance"]["profile_events"] == len(bags) and r,
                    "the live profile with the three views")
    assert recs["provenance"]["profile"] == "live"
    assert [i["category"] for i in recs["items"][:3]] == ["bags"] * 3
    assert recs["user_key"] == USER and recs["provenance"]["ranking_version"]
    anonymous = get(api, "/v1/recommendations", k=3).json()
    assert anonymous["provenance"]["profile"] == "none" and len(anonymous["items"]) == 3
    near = get(api, "/v1/recommendations", user=USER, context_item=bags[0].item_id, k=3).json()
    assert bags[0].item_id not in [i["item_id"] for i in near["items"]]

    similar = wait_for(lambda: get(api, f"/v1/items/{bags[0].item_id}/similar", k=3).json()
                       ["items"][0]["parts"]["context"] > 0 and
                       get(api, f"/v1/items/{bags[0].item_id}/similar", k=3).json(),
                       "co-viewed neighbours")
    assert similar["items"][0]["item_id"] == bags[1].item_id  # viewed next to it by both

    trending = get(api, "/v1/trending", k=5)
    assert trending.status_code == 200 and "provenance" in trending.json()
    profile = wait_for(lambda: (r := get(api, f"/v1/users/{USER}/profile")).status_code == 200
                       and r.json()["windowed"] and r.json(), "the windowed profile", 120)
    assert profile["live"]["recent_items"][:3] == [b.item_id for b in reversed(bags)]
    assert profile["windowed"]["views_1d"] == 3
    assert "openapi" in get(api, "/openapi.json").json()

    # bad parameters: 400 naming the parameter; unknown things: 404
    for path, params, needle in [("/v1/recommendations", {"k": 0}, "k:"),
                                 ("/v1/recommendations", {"k": 101}, "k:"),
                                 ("/v1/recommendations", {"k": "ten"}, "k:"),
                                 ("/v1/trending", {"k": -1}, "k:"),
                                 ("/v1/recommendations", {"user": ""}, "user:")]:
        answer = get(api, path, **params)
        assert answer.status_code == 400, (path, params, answer.text)
        assert any(d.startswith(needle) for d in answer.json()["detail"]), answer.json()
    assert get(api, "/v1/items/no-such-item/similar").status_code == 404
    assert get(api, "/v1/recommendations", context_item="no-such-item").status_code == 404
    assert get(api, "/v1/users/nobody-at-all/profile").status_code == 404

    # erase: token required; afterwards nothing about the user is left in Cassandra
    wait_for(lambda: held(s, USER) == EVENT_TABLES, "rows in every table its events fill")
    erase_url = f"{api.url}/v1/users/{USER}"
    assert requests.delete(erase_url, timeout=10).status_code == 401
    assert requests.delete(erase_url, headers={"Authorization": "Bearer wrong"},
                           timeout=10).status_code == 401
    erased = requests.delete(erase_url, headers={"Authorization": f"Bearer {s.api_token}"},
                             timeout=10)
    assert erased.status_code == 200
    assert set(erased.json()["tables_with_rows"]) == EVENT_TABLES
    assert erased.json()["remaining"] == [] and held(s, USER) == set()
    assert get(api, f"/v1/users/{USER}/profile").status_code == 404
    assert get(api, "/v1/recommendations", user=USER).json()["provenance"]["profile"] == "none"
    records = [m for batch in read_to_end(s, s.topic_live_profiles) for m in batch
               if m.key() == USER.encode()]
    # erase published the customer's tombstone after the job's profiles, in their partition
    # (compaction then removes them; a worker replaying the topic cannot bring them back)
    assert len({m.partition() for m in records}) == 1, [(m.partition(), m.value()) for m in records]
    assert records[-1].value() is None

    # the jobs forgot the customer too: once they have read the erasure request (committed
    # with a checkpoint), the customer's next event starts anew (an event they fold before
    # reading it still goes into the old state: see README, the erase)
    for job in ("live_activity", "build_profiles"):
        wait_for(lambda: group_read_everything(s, f"{job}_{isolated.uid}.erasures",
                                                s.topic_user_erasures),
                 f"{job} to read the erasure request", 60)
    shoe = next(i for i in items if i.category == "shoes")
    enriched.produce([view(USER, shoe, T0_MS + 30 * 60_000)])
    enriched.advance_watermark(lambda p: view(f"clock-{p}", items[0], 0)[0] | {
        "client_ts": iso(T0_MS + 50 * 60_000)}, T0_MS + 50 * 60_000)
    again = wait_for(lambda: (r := get(api, f"/v1/users/{USER}/profile")).status_code == 200
                     and r.json()["live"] and r.json()["windowed"] and r.json(),
                     "the profiles of the customer's next event", 120)
    assert again["live"]["recent_items"] == [shoe.item_id] and again["live"]["n_events"] == 1
    assert again["windowed"]["views_1d"] == 1 and again["windowed"]["recent_items"] == [
        shoe.item_id]


def held(settings, user_key: str) -> set[str]:
    """The user tables with a row about ``user_key``, read straight from Cassandra."""
    with session(settings) as cql:
        return {t for t in USER_TABLES if cql.execute(
            f"SELECT user_key FROM {keyspace(settings)}.{t} WHERE user_key = %s LIMIT 1",
            [user_key]).one()}


def test_answers_over_cassandra_are_the_reference_ranking(isolated, api_settings, api):
    """Rows written straight into the test's keyspace (random profiles, co-views, popularity,
    trends): every customer's answer is what the reference ``rank()`` makes of those rows,
    scores and parts exactly (the API ranks with the vectorised RankIndex, reads with
    execute_async and shares popularity, co-views and trends between requests)."""
    rng = random.Random(12)
    products = catalogue(api_settings.storefront_items)
    items = {p.item_id: Item(p.item_id, p.category, p.brand) for p in products}
    ids = list(items)
    at = dt.datetime(2026, 1, 1, 12, 0)
    profiles = {f"user-{n}": LiveProfile(
        recent_items=rng.sample(ids, rng.randint(1, 8)),
        category_affinity={p.category: float(rng.randint(1, 3)) for p in rng.sample(products, 2)},
        brand_affinity={p.brand: rng.uniform(0, 4) for p in rng.sample(products, 2)},
        purchased=rng.sample(ids, rng.randint(0, 3)), n_events=rng.randint(1, 99))
        for n in range(40)}
    neighbours = {i: {o: float(rng.randint(1, 4)) for o in rng.sample(ids, 30)}
                  for i in rng.sample(ids, len(ids) // 2)}
    views = {i: rng.uniform(0, 30) for i in ids}
    trends = {i: (rng.random(), rng.random() < 0.1) for i in rng.sample(ids, 50)}
    ks = keyspace(api_settings)
    with session(api_settings) as cql:
        for user, p in profiles.items():
            cql.execute(f"INSERT INTO {ks}.live_profiles (user_key, recent_items, "
                        "category_affinity, brand_affinity, purchased, updated_at, n_events) "
                        "VALUES (%s, %s, %s, %s, %s, %s, %s)",
                        [user, p.recent_items, p.category_affinity, p.brand_affinity,
                         p.purchased, at, p.n_events])
        for item in ids:
            cql.execute(f"INSERT INTO {ks}.item_neighbours (item_id, neighbours, views) "
                        "VALUES (%s, %s, %s)", [item, neighbours.get(item), views[item]])
        for item, (score, flagged) in trends.items():
            cql.execute(f"INSERT INTO {ks}.item_latest_trend (bucket, item_id, window_start, "
                        "views, score, flagged, model_version) VALUES (%s, %s, %s, %s, %s, %s, "
                        "%s)", [LATEST_TREND_BUCKET, item, at, 9, score, flagged, "3-4-0"])
    boosts = {i: 1.0 if flagged else score for i, (score, flagged) in trends.items()}
    both_ways = co_view_neighbours(neighbours)  # as the API reads the rows
    wait_for(lambda: len(get(api, "/v1/trending", k=100).json()["items"]) == len(trends),
             "item activity and trends re-read after the rows were written (api_cache_s)")
    for user, p in profiles.items():
        k = rng.choice([3, 10, 40])
        expected = rank(items, profile=p, popularity=views, trend=boosts, k=k,
                        neighbours={i: both_ways[i] for i in p.recent_items[:5]
                                    if i in both_ways}, exclude=set(p.purchased))
        for _read in ("from Cassandra", "from the worker's cached copy of the row"):
            answer = get(api, "/v1/recommendations", user=user, k=k).json()
            assert [(i["item_id"], i["score"], i["parts"]) for i in answer["items"]] == \
                [(r.item_id, round(r.score, 4), r.parts) for r in expected], (user, _read)
            assert answer["provenance"] == {
                "ranking_version": RANKING_VERSION, "trends_detector_version": "3-4-0",
                "profile": "live", "profile_updated_at": "2026-01-01T12:00:00Z",
                "profile_events": p.n_events, "profile_version": LIVE_PROFILE_VERSION}


def test_health_names_a_declared_job_that_flink_does_not_run(isolated, api_settings, api):
    """Against the real Flink: a declared job with no run is a problem until withdrawn."""
    path = declared_jobs.path_for(api_settings)
    name = f"land_events_{isolated.uid}"
    declared_jobs.record(path, name, "land_events", "0" * 32)
    try:
        degraded = get(api, "/v1/health").json()
    finally:
        declared_jobs.withdraw(path, [name])
    assert degraded["status"] == "degraded"
    assert f"{name} is not running" in degraded["problems"]
    assert not any(name in p for p in get(api, "/v1/health").json()["problems"])


def test_live_profiles_come_from_the_topic_the_job_publishes(isolated, api_settings, api):
    """Each API worker keeps the live profiles that live_activity publishes (a record for a
    customer Cassandra has no row of is answered from), and drops one on its tombstone."""
    from confluent_kafka import Producer

    s = api_settings
    producer = Producer({"bootstrap.servers": s.kafka_bootstrap_servers, "acks": "all"})
    bag = next(i for i in catalogue(s.storefront_items) if i.category == "bags")
    record = {"user_key": "user-topic", "recent_items": [bag.item_id],
              "category_affinity": {"bags": 2.0}, "brand_affinity": {bag.brand: 1.0},
              "purchased": [], "updated_at": "2026-12-03T10:00:00.25", "n_events": 7,
              "written_at": "2026-12-03T10:00:01"}
    assert get(api, "/v1/health").json() == {"status": "ok", "problems": []}
    producer.produce(s.topic_live_profiles, key=b"user-topic", value=json.dumps(record))
    producer.flush(10)
    recs = wait_for(lambda: (r := get(api, "/v1/recommendations", user="user-topic", k=3)
                             .json())["provenance"]["profile"] == "live" and r,
                    "the published profile in the API")
    assert recs["provenance"]["profile_events"] == 7
    assert recs["provenance"]["profile_updated_at"] == "2026-12-03T10:00:00.250000Z"
    assert [i["category"] for i in recs["items"]] == ["bags"] * 3
    with session(s) as cql:  # Cassandra never had it: the answer came from the topic
        assert cql.execute(f"SELECT user_key FROM {keyspace(s)}.live_profiles WHERE "
                           "user_key = 'user-topic'").one() is None
    producer.produce(s.topic_live_profiles, key=b"user-topic", value=None)
    producer.flush(10)
    wait_for(lambda: get(api, "/v1/recommendations", user="user-topic")
             .json()["provenance"]["profile"] == "none", "the tombstone in the API")

"""The API's logic with FastAPI's TestClient over an in-memory store (the ``Store`` interface;
tests/integration/test_api.py runs the same endpoints over Cassandra rows the real jobs wrote)."""
from __future__ import annotations

import asyncio
import collections
import dataclasses
import datetime as dt
import gc
import os
import random
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from personastream_contracts import declared_jobs, objectives
from personastream_contracts.settings import resolve
from personastream_contracts.tables import user_tables
from personastream_models.recommend import RANKING_VERSION, LiveProfile, rank
from personastream_serving.app import ItemOut, ItemsOut, Provenance, Recommendations, create_app
from personastream_serving.catalogue import catalogue, display_name
from personastream_serving.experiment_variants import Assigner
from personastream_serving.store import LIVE_PROFILE_VERSION, Trend
from personastream_stack import alerting, api_daemon, ops_summary
from personastream_stack.errors import StackError
from personastream_stack.process import free_port

TOKEN = "secret-token"
ITEMS = catalogue(200)
BAGS = [i for i in ITEMS if i.category == "bags"]
UPDATED = dt.datetime(2026, 1, 1, 12, 0)


class MemoryStore:
    """The :class:`personastream_serving.store.Store` interface over dicts."""

    def __init__(self):
        self.live = {"u-1": LiveProfile(recent_items=[b.item_id for b in BAGS[:3]],
                                        category_affinity={"bags": 3.0},
                                        brand_affinity={BAGS[0].brand: 1.0},
                                        purchased=[BAGS[3].item_id], n_events=4)}
        self.windowed = {"u-1": {"user_key": "u-1", "views_1d": 3, "segment_id": 2}}
        self.co_views = {BAGS[0].item_id: {BAGS[1].item_id: 2.0, BAGS[2].item_id: 1.0}}
        self.views = {ITEMS[7].item_id: 9.0, BAGS[5].item_id: 4.0}
        self.latest = {ITEMS[11].item_id: Trend(ITEMS[11].item_id, UPDATED, 60, 1.0, True, "3-4-0"),
                       ITEMS[12].item_id: Trend(ITEMS[12].item_id, UPDATED, 5, 0.2, False, "3-4-0")}
        self.consent = {}  # user_key -> the operational database's marketing consent
        self.closed = False

    async def live_profile(self, user_key):
        profile = self.live.get(user_key)
        return (profile, UPDATED) if profile else (None, None)

    async def marketing_consent(self, user_key):
        return self.consent.get(user_key)

    def offers_in_memory(self, user_key):
        return getattr(self, "offered", {}).get(user_key, [])

    async def offers(self, user_key):
        return self.offers_in_memory(user_key)

    def profile(self, user_key):
        return self.windowed.get(user_key)

    def item_activity(self):
        return dict(self.views), {i: dict(w) for i, w in self.co_views.items()}

    def trends(self):
        return dict(self.latest)

    def problems(self):
        return []

    def holds(self, user_key):
        return [t.name for t in user_tables()
                if (t.name == "live_profiles" and user_key in self.live)
                or (t.name == "profiles" and user_key in self.windowed)]

    def erase(self, user_key):
        held = {t.name: t.name in self.holds(user_key) for t in user_tables()}
        self.live.pop(user_key, None)
        self.windowed.pop(user_key, None)
        return held

    def close(self):
        self.closed = True


@pytest.fixture
def store():
    return MemoryStore()


@pytest.fixture
def client(store):
    settings = dataclasses.replace(resolve(environ={"HOME": "/home/t"}), api_token=TOKEN)
    with TestClient(create_app(settings, lambda: store)) as test_client:
        yield test_client
    assert store.closed


@pytest.fixture(autouse=True)
def unfrozen():
    """Each app's startup freezes what the process holds (a worker's whole life): not this
    test process's."""
    yield
    gc.unfreeze()


def test_a_started_worker_keeps_what_it_holds_from_the_collector(store):
    gc.unfreeze()
    with TestClient(create_app(resolve(environ={"HOME": "/home/t"}), lambda: store)):
        assert gc.get_freeze_count() > 100_000  # the modules, the app, the catalogue


def test_recommendations_follow_the_live_profile(client):
    recs = client.get("/v1/recommendations", params={"user": "u-1", "k": 5}).json()
    assert recs["user_key"] == "u-1"
    assert recs["provenance"] == {"ranking_version": recs["provenance"]["ranking_version"],
                                  "trends_detector_version": "3-4-0", "profile": "live",
                                  "profile_updated_at": "2026-01-01T12:00:00Z",
                                  "profile_events": 4, "profile_version": 1}
    assert {i["category"] for i in recs["items"][:3]} == {"bags"}
    assert BAGS[3].item_id not in [i["item_id"] for i in recs["items"]]  # purchased: excluded
    with_purchased = client.get("/v1/recommendations", params={
        "user": "u-1", "k": 100, "category": "bags", "exclude_purchased": "false"}).json()
    assert BAGS[3].item_id in [i["item_id"] for i in with_purchased["items"]]


def test_a_customer_without_marketing_consent_gets_the_anonymous_ranking_and_why(client, store):
    anonymous = client.get("/v1/recommendations", params={"k": 5}).json()
    store.consent["u-1"] = True
    consented = client.get("/v1/recommendations", params={"user": "u-1", "k": 5}).json()
    assert consented["provenance"]["profile"] == "live" and "reason" not in consented["provenance"]
    store.consent["u-1"] = False
    # the middleware's fast path, and FastAPI's (a repeated unknown parameter)
    for params in ({"user": "u-1", "k": 5}, "user=u-1&k=5&other=1&other=2"):
        recs = client.get("/v1/recommendations", params=params).json()
        assert recs["user_key"] == "u-1" and recs["items"] == anonymous["items"]
        assert recs["provenance"] == {**anonymous["provenance"], "reason": "no_marketing_consent"}
    Provenance(**recs["provenance"])


def test_anonymous_ranking_puts_the_flagged_trend_first(client):
    recs = client.get("/v1/recommendations", params={"anonymous_id": "new-device", "k": 3}).json()
    assert recs["user_key"] == "anon:new-device" and recs["provenance"]["profile"] == "none"
    assert recs["items"][0]["item_id"] == ITEMS[11].item_id


def test_similar_items_are_the_co_viewed_ones(client):
    similar = client.get(f"/v1/items/{BAGS[0].item_id}/similar", params={"k": 2}).json()
    assert [i["item_id"] for i in similar["items"]] == [BAGS[1].item_id, BAGS[2].item_id]
    assert client.get("/v1/items/no-such-item/similar").status_code == 404


def test_trending_orders_flagged_then_by_score(client):
    trending = client.get("/v1/trending", params={"k": 2}).json()["items"]
    assert [i["item_id"] for i in trending] == [ITEMS[11].item_id, ITEMS[12].item_id]
    assert trending[0]["parts"] == {"views": 60.0, "flagged": 1.0}


def test_trending_names_the_starting_detector_before_any_trend_row(store):
    """Right after `make demo` (no window closed yet) provenance names the version the trends
    job starts with by default: the best detector, with no promote run."""
    store.latest = {}
    settings = resolve(environ={"HOME": "/home/t"})
    with TestClient(create_app(settings, lambda: store)) as test_client:
        provenance = test_client.get("/v1/trending", params={"k": 2}).json()["provenance"]
    assert provenance["trends_detector_version"] == settings.trends_detector_version == "4-1-0"


def test_profile_joins_live_and_windowed_or_404(client):
    profile = client.get("/v1/users/u-1/profile").json()
    assert profile["windowed"]["segment_id"] == 2 and profile["live"]["n_events"] == 4
    assert client.get("/v1/users/nobody/profile").status_code == 404


@pytest.mark.parametrize("path, params, needle", [
    ("/v1/recommendations", {"k": 0}, "k:"), ("/v1/recommendations", {"k": 101}, "k:"),
    ("/v1/recommendations", {"k": "ten"}, "k:"), ("/v1/trending", {"k": -1}, "k:"),
    ("/v1/recommendations", {"user": ""}, "user:"),
])
def test_bad_parameters_are_400_naming_the_parameter(client, path, params, needle):
    answer = client.get(path, params=params)
    assert answer.status_code == 400
    assert any(d.startswith(needle) for d in answer.json()["detail"]), answer.json()


def test_unknown_context_item_is_404(client):
    assert client.get("/v1/recommendations",
                      params={"context_item": "no-such-item"}).status_code == 404


def test_erase_needs_the_token_and_leaves_nothing(client, store):
    assert client.delete("/v1/users/u-1").status_code == 401
    assert client.delete("/v1/users/u-1",
                         headers={"Authorization": "Bearer wrong"}).status_code == 401
    erased = client.delete("/v1/users/u-1", headers={"Authorization": f"Bearer {TOKEN}"}).json()
    assert sorted(erased["tables_with_rows"]) == ["live_profiles", "profiles"]
    assert erased["remaining"] == [] and store.holds("u-1") == []
    assert client.get("/v1/users/u-1/profile").status_code == 404


def test_erase_is_disabled_without_a_token(store):
    settings = dataclasses.replace(resolve(environ={"HOME": "/home/t"}), api_token="")
    with TestClient(create_app(settings, lambda: store)) as client:
        assert client.delete("/v1/users/u-1",
                             headers={"Authorization": "Bearer x"}).status_code == 503


def test_catalogue_and_storefront_pages(client):
    bags = client.get("/v1/catalogue", params={"category": "bags"}).json()["items"]
    assert [i["item_id"] for i in bags] == [b.item_id for b in BAGS]
    assert client.get("/storefront/config.json").json()["ingest_url"].endswith("/events")
    assert client.get("/").status_code == 200
    assert client.get(f"/items/{ITEMS[0].item_id}").status_code == 200
    assert "openapi" in client.get("/openapi.json").json()


def test_ops_page_and_the_panels_it_asks_prometheus_for(client):
    """The page and its scripts (uPlot included) are served; its config names Prometheus and
    holds every panel's PromQL, in the same words as `stack status` where it shows the same."""
    page = client.get("/ops")
    assert page.status_code == 200 and "/static/ops.js" in page.text
    for path in ("ops.js", "ops.css", "vendor/uplot/uPlot.iife.min.js",
                 "vendor/uplot/uPlot.min.css"):
        assert client.get(f"/static/{path}").status_code == 200, path
    config = client.get("/ops/config.json").json()
    assert config["prometheus_url"] == "http://127.0.0.1:9099"
    panels = {p["id"]: p for p in config["panels"]}
    assert set(panels) == {"throughput", "freshness", "lag", "deadletters", "flagged", "jobs",
                           "models", "alerts"}
    queries = {q["promql"] for p in panels.values() for q in p["series"] + p["columns"]}
    shared = {"events accepted", "dead-lettered", "freshness p50", "freshness p99", "job lag",
              "job restarts", "API requests", "anomalies flagged"}
    assert {line.promql for line in ops_summary.LINES if line.label in shared} <= queries
    assert alerting.JOB_LAG in queries
    assert panels["freshness"]["goal"][1] == objectives.FRESHNESS_GOAL_S
    assert not {"/ops", "/ops/config.json"} & set(client.get("/openapi.json").json()["paths"])


class RandomStore(MemoryStore):
    """Many customers with random live profiles, co-views, popularity and trends (seeded)."""

    def __init__(self, seed: int, n_users: int = 60):
        super().__init__()
        rng = random.Random(seed)
        ids = [i.item_id for i in ITEMS]
        categories = sorted({i.category for i in ITEMS})
        brands = sorted({i.brand for i in ITEMS})
        coarse = lambda: float(rng.randint(0, 3))  # noqa: E731 (ties in score)
        self.live = {f"u-{n}": LiveProfile(
            recent_items=rng.sample(ids, rng.randint(1, 20)),
            category_affinity={c: rng.choice([coarse(), rng.uniform(0, 5)])
                               for c in rng.sample(categories, rng.randint(0, 4))},
            brand_affinity={b: rng.uniform(0, 5) for b in rng.sample(brands, rng.randint(0, 4))},
            purchased=rng.sample(ids, rng.randint(0, 5)), n_events=rng.randint(1, 500))
            for n in range(n_users)}
        self.co_views = {i: {o: rng.choice([coarse(), rng.uniform(0, 9)])
                             for o in rng.sample(ids, rng.randint(0, 50))}
                         for i in rng.sample(ids, 150)}
        self.views = {i: rng.uniform(0, 40) for i in rng.sample(ids, 120)}
        self.latest = {i: Trend(i, UPDATED, rng.randint(0, 60), rng.random(), rng.random() < 0.1,
                                rng.choice(["3-4-0", "3-4-0", "2-0-0"]))
                       for i in rng.sample(ids, 100)}


def previous_answers(store, path: str, params: dict) -> dict:
    """What the API answered before its request path was rebuilt (issue 12): the reference
    ranking, ``rank()``, over the store's reads, through the response models (this is that
    code, kept here as the reference)."""
    items = {i.item_id: i for i in ITEMS}
    trends = store.latest
    versions = collections.Counter(t.model_version for t in trends.values() if t.model_version)

    def out(item_id, score=None, parts=None):
        i = items[item_id]
        return ItemOut(item_id=i.item_id, name=display_name(i), category=i.category,
                       brand=i.brand, price=i.price, score=score, parts=parts)

    def provenance(source, updated=None, version=None, events=None):
        return Provenance(ranking_version=RANKING_VERSION,
                          trends_detector_version=versions.most_common(1)[0][0] if versions
                          else None, profile=source,
                          profile_updated_at=updated.isoformat() + "Z" if updated else None,
                          profile_events=events, profile_version=version)

    k = params.get("k", 10)
    if path == "/v1/recommendations":
        key, context = params.get("user"), params.get("context_item")
        profile = store.live.get(key)
        updated = UPDATED if profile else None
        recent = profile.recent_items[:5] if profile else []
        neighbours = {i: store.co_views[i] for i in recent + ([context] if context else [])
                      if i in store.co_views}
        ranked = rank(items, profile=profile, neighbours=neighbours, popularity=store.views,
                      trend={i: (1.0 if t.flagged else t.score) for i, t in trends.items()
                             if i in items}, k=k, context_item=context,
                      category=params.get("category"),
                      exclude=set(profile.purchased) if profile and
                      params.get("exclude_purchased", True) else set())
        answer = Recommendations(
            user_key=key, items=[out(r.item_id, round(r.score, 4), r.parts) for r in ranked],
            provenance=provenance("live" if profile else "none", updated,
                                  LIVE_PROFILE_VERSION if profile else None,
                                  profile.n_events if profile else None))
    elif path == "/v1/trending":
        ranked = sorted((t for t in trends.values() if t.item_id in items),
                        key=lambda t: (not t.flagged, -t.score, -t.views, t.item_id))[:k]
        answer = ItemsOut(items=[out(t.item_id, round(t.score, 4),
                                     {"views": float(t.views), "flagged": float(t.flagged)})
                                 for t in ranked], provenance=provenance("none"))
    else:  # /v1/items/{id}/similar
        item_id = path.split("/")[3]
        ranked = rank(items, neighbours={item_id: store.co_views.get(item_id, {})},
                      context_item=item_id, popularity=store.views, k=k)
        answer = ItemsOut(items=[out(r.item_id, round(r.score, 4), r.parts) for r in ranked],
                          provenance=provenance("none"))
    # (a provenance names a reason only when the customer's choice is why it is not personal)
    return answer.model_dump(mode="json", exclude={"provenance": {"reason"}})


@pytest.mark.parametrize("seed", range(3))
def test_answers_are_those_of_the_previous_request_path(seed):
    """Every customer (and unknown ones), with and without a context item, category, k and
    purchased items: the same JSON as the reference path, floats compared exactly."""
    store = RandomStore(seed)
    rng = random.Random(seed)
    settings = resolve(environ={"HOME": "/home/t"})
    requests = [("/v1/trending", {"k": k}) for k in (1, 10, 100)]
    requests += [(f"/v1/items/{rng.choice(ITEMS).item_id}/similar", {"k": rng.choice([3, 100])})
                 for _ in range(20)]
    for user in [*store.live, "nobody"]:
        params = {"user": user, "k": rng.choice([1, 5, 10, 100])}
        if rng.random() < 0.3:
            params["context_item"] = rng.choice(ITEMS).item_id
        if rng.random() < 0.3:
            params["category"] = rng.choice(ITEMS).category
        if rng.random() < 0.3:
            params["exclude_purchased"] = False
        requests.append(("/v1/recommendations", params))
    # no experiment running: every customer gets the live ranking, as before experiments
    with TestClient(create_app(settings, lambda: store, Assigner([]))) as client:
        for path, params in requests:
            answer = client.get(path, params=params)
            assert answer.status_code == 200, answer.text
            assert answer.json() == previous_answers(store, path, params), (path, params)


def test_each_customer_is_ranked_and_labelled_by_its_experiment_variant():
    """Under ranking_live_vs_batch (running on 2027-01-01): live customers get the live ranking,
    popularity ones the ranking without profile, co-views or trends; each answer names the
    experiment and the customer's variant, the same on every request."""
    from personastream_contracts.formats import epoch_ms
    from personastream_models import experiments

    store = RandomStore(5)
    exp = experiments.load("ranking_live_vs_batch")
    assigner = Assigner([exp], clock_ms=lambda: epoch_ms("2027-01-01T00:00:00Z"))
    settings = resolve(environ={"HOME": "/home/t"})
    seen = collections.Counter()
    with TestClient(create_app(settings, lambda: store, assigner)) as client:
        anonymous = client.get("/v1/recommendations", params={"k": 10}).json()
        assert anonymous["experiment"] is None
        for user in store.live:
            answer = client.get("/v1/recommendations", params={"user": user, "k": 10}).json()
            variant = experiments.assign(exp, user)
            assert answer["experiment"] == {"name": exp.name, "version": exp.version,
                                            "variant": variant.name, "ranking": variant.ranking}
            assert client.get("/v1/recommendations",
                              params={"user": user, "k": 10}).json() == answer
            seen[variant.ranking] += 1
            if variant.ranking == "live":
                assert answer["provenance"]["profile"] == "live"
                assert answer == {**previous_answers(store, "/v1/recommendations",
                                                     {"user": user, "k": 10}),
                                  "experiment": answer["experiment"]}
            elif variant.ranking == "popularity":
                assert answer["provenance"]["profile"] == "none"
                reference = rank({i.item_id: i for i in ITEMS}, popularity=store.views, k=10,
                                 exclude=set(store.live[user].purchased))
                assert [i["item_id"] for i in answer["items"]] == [r.item_id for r in reference]
    assert seen["live"] and seen["popularity"] and seen["daily_batch"]


@pytest.mark.parametrize("query", [
    "user=u-1", "user=u-1&k=5", "anonymous_id=new-device&k=3", "", "k=100", "user=nobody",
    "user=u-1&category=bags&exclude_purchased=false", "user=u-1&exclude_purchased=0",
    "user=u-1&exclude_purchased=yes", "user=u-1&exclude_purchased=FALSE",
    f"user=u-1&context_item={BAGS[0].item_id}", "context_item=", "category=", "category=tents",
    "user=u-1&k=010", "k=+5", "k=5.0", "k=0", "k=101", "k=ten", "user=", "anonymous_id=",
    "user=u-1&user=u-2", "context_item=no-such-item", "user=u%2D1&k=%35", "user=u-1&k=",
])
def test_fast_path_answers_as_fastapi_does(client, query):
    """The middleware's answer equals FastAPI's own (a repeated unknown parameter sends a
    request to FastAPI: it ignores the parameter), for good and bad parameters."""
    fast = client.get(f"/v1/recommendations?{query}")
    slow = client.get(f"/v1/recommendations?{query}&unused=1&unused=2")
    assert (fast.status_code, fast.json()) == (slow.status_code, slow.json())
    assert fast.headers["content-type"] == slow.headers["content-type"]


def test_health_is_ok_with_fresh_reads_and_no_declared_jobs(client):
    assert client.get("/v1/health").json() == {"status": "ok", "problems": []}


def test_health_is_degraded_when_flink_does_not_answer_for_a_declared_job(tmp_path, store):
    nothing_listens = free_port()
    settings = dataclasses.replace(resolve(environ={"HOME": "/home/t"}), state_dir=tmp_path,
                                   flink_rest_url=f"http://127.0.0.1:{nothing_listens}")
    declared_jobs.record(declared_jobs.path_for(settings), "land_events", "land_events", "0" * 32)
    with TestClient(create_app(settings, lambda: store)) as test_client:
        answer = test_client.get("/v1/health")
    assert answer.status_code == 200 and answer.json()["status"] == "degraded"
    [problem] = answer.json()["problems"]
    assert problem.startswith(f"Flink at http://127.0.0.1:{nothing_listens} did not answer")


REQUESTS, LATENCY = "personastream_api_requests_total", "personastream_api_request_seconds"


def api_samples(metrics_text: str) -> collections.Counter:
    """The API's samples in a ``/metrics`` answer: (name, endpoint, method, status or le)
    -> value."""
    return collections.Counter({
        (s.name, *(s.labels[k] for k in ("endpoint", "method", "status", "le") if k in s.labels)):
        s.value for family in text_string_to_metric_families(metrics_text) for s in family.samples
        if s.name.startswith("personastream_api_") and not s.name.endswith("_created")})


def counted(client, requests: list[tuple[str, str]]) -> dict:
    """What ``requests`` (method, path) add to the counts of requests and of latency
    observations at ``/metrics``, the first scrape's included."""
    before = api_samples(client.get("/metrics").text)
    for method, path in requests:
        client.request(method, path)
    return {k: n for k, n in (api_samples(client.get("/metrics").text) - before).items()
            if k[0] in (REQUESTS, f"{LATENCY}_count")}


def expected_counts(answered: dict[tuple[str, str, str], int]) -> dict:
    """The counts of ``answered`` requests, ``(endpoint, method, status) -> n``, and of their
    latency observations, by endpoint and method."""
    latency = collections.Counter()
    for (endpoint, method, _), n in answered.items():
        latency[f"{LATENCY}_count", endpoint, method] += n
    return {**{(REQUESTS, *labels): n for labels, n in answered.items()}, **latency}


def test_metrics_count_requests_by_route_template_method_and_status(client):
    requests = [
        ("GET", "/v1/recommendations?user=u-1"), ("GET", "/v1/recommendations?anonymous_id=a"),
        ("GET", "/v1/recommendations?context_item=no-such-item"),
        ("GET", "/v1/recommendations?k=0"), ("GET", f"/v1/items/{BAGS[0].item_id}/similar"),
        ("GET", "/v1/items/no-such-item/similar"), ("GET", "/v1/users/u-1/profile"),
        ("GET", "/v1/users/nobody/profile"), ("POST", "/v1/trending"), ("BREW", "/v1/trending"),
        ("GET", "/static/style.css"), ("GET", "/docs"), ("GET", "/no/such/page"),
        ("GET", "/v1/users/u-1/profile/more")]
    assert counted(client, requests) == expected_counts({
        ("/v1/recommendations", "GET", "200"): 2,  # the fast path
        ("/v1/recommendations", "GET", "404"): 1,  # its handler's 404, answered by FastAPI
        ("/v1/recommendations", "GET", "400"): 1,
        ("/v1/items/{item_id}/similar", "GET", "200"): 1,
        ("/v1/items/{item_id}/similar", "GET", "404"): 1,
        ("/v1/users/{user_key}/profile", "GET", "200"): 1,
        ("/v1/users/{user_key}/profile", "GET", "404"): 1,
        ("/v1/trending", "POST", "405"): 1, ("/v1/trending", "other", "405"): 1,
        ("/static/{path}", "GET", "200"): 1, ("/docs", "GET", "200"): 1,
        ("other", "GET", "404"): 2, ("/metrics", "GET", "200"): 1})
    answer = client.get("/metrics")
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert "/metrics" not in client.get("/openapi.json").json()["paths"]


class SlowStore(MemoryStore):
    async def live_profile(self, user_key):
        await asyncio.sleep(0.03)
        return await super().live_profile(user_key)


def test_latency_covers_the_handler_on_the_fast_path():
    with TestClient(create_app(resolve(environ={"HOME": "/home/t"}), SlowStore)) as client:
        before = api_samples(client.get("/metrics").text)
        assert client.get("/v1/recommendations?user=u-1").status_code == 200
        change = api_samples(client.get("/metrics").text) - before
    bucket = (f"{LATENCY}_bucket", "/v1/recommendations", "GET")
    assert (change[*bucket, "0.025"], change[*bucket, "+Inf"]) == (0, 1)
    assert change[f"{LATENCY}_sum", "/v1/recommendations", "GET"] >= 0.03


class BrokenStore(MemoryStore):
    def profile(self, user_key):
        raise RuntimeError("Cassandra went away")


def test_a_handler_that_raises_is_counted_as_a_500():
    with TestClient(create_app(resolve(environ={"HOME": "/home/t"}), BrokenStore),
                    raise_server_exceptions=False) as client:
        assert counted(client, [("GET", "/v1/users/u-1/profile")]) == expected_counts({
            ("/v1/users/{user_key}/profile", "GET", "500"): 1, ("/metrics", "GET", "200"): 1})


WORKER = """
import importlib.util, sys
from fastapi.testclient import TestClient
spec = importlib.util.spec_from_file_location("test_api", sys.argv[2] + "/test_api.py")
test_api = importlib.util.module_from_spec(spec)
spec.loader.exec_module(test_api)
MemoryStore = test_api.MemoryStore
from personastream_contracts.settings import resolve
from personastream_serving.app import create_app
with TestClient(create_app(resolve(environ={"HOME": "/home/t"}), MemoryStore)) as client:
    for _ in range(int(sys.argv[1])):
        assert client.get("/v1/trending").status_code == 200
    print(client.get("/metrics").text)
"""


def test_metrics_add_up_every_worker_in_the_directory_serve_empties(tmp_path):
    """Two workers, one after the other, in prometheus-client's multiprocess mode: the
    second's /metrics counts both (the first exited: its counts stay)."""
    settings = dataclasses.replace(resolve(environ={"HOME": "/home/t"}), state_dir=tmp_path,
                                   api_port=free_port())
    stale = tmp_path / "api" / str(settings.api_port) / "prometheus" / "counter_1.db"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"a previous run's")
    directory = api_daemon.fresh_metrics_dir(settings)
    assert directory == stale.parent and list(directory.iterdir()) == []

    def worker(requests: int) -> str:
        return subprocess.run(
            [sys.executable, "-c", WORKER, str(requests), str(Path(__file__).parent)],
            env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)},
            capture_output=True, text=True, check=True).stdout

    assert api_samples(worker(2))[REQUESTS, "/v1/trending", "GET", "200"] == 2
    assert {k: n for k, n in api_samples(worker(3)).items() if k[0] == REQUESTS} == {
        (REQUESTS, "/v1/trending", "GET", "200"): 5, (REQUESTS, "/metrics", "GET", "200"): 1}


def test_serve_sets_the_metrics_directory_before_prometheus_client_is_imported():
    """prometheus-client reads PROMETHEUS_MULTIPROC_DIR once, when first imported: `serve`
    sets it after the CLI's imports, which must not import it."""
    code = ("import sys, personastream.cli, personastream.commands.serve; "
            "print('prometheus_client' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout == "False\n"


def test_the_metrics_directory_of_a_port_in_use_is_left_alone(tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as server:
        settings = dataclasses.replace(resolve(environ={"HOME": "/home/t"}), state_dir=tmp_path,
                                       api_host="127.0.0.1", api_port=server.getsockname()[1])
        with pytest.raises(StackError, match="already answers"):
            api_daemon.fresh_metrics_dir(settings)
    assert not (tmp_path / "api").exists()

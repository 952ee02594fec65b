"""The API's logic with FastAPI's TestClient over an in-memory store (the ``Store`` interface;
tests/integration/test_api.py runs the same endpoints over Cassandra rows the real jobs wrote)."""
from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from fastapi.testclient import TestClient

from personastream_contracts.settings import resolve
from personastream_contracts.tables import user_tables
from personastream_models.recommend import LiveProfile
from personastream_serving.app import create_app
from personastream_serving.catalogue import catalogue
from personastream_serving.store import Trend

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
        self.closed = False

    def live_profile(self, user_key):
        profile = self.live.get(user_key)
        return (profile, UPDATED) if profile else (None, None)

    def profile(self, user_key):
        return self.windowed.get(user_key)

    def neighbours(self, item_ids):
        return {i: self.co_views[i] for i in item_ids if i in self.co_views}

    def popularity(self):
        return dict(self.views)

    def trends(self):
        return dict(self.latest)

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

"""The personalization API over real Cassandra rows written by the real jobs: every endpoint,
bad parameters, unknown users and items, and the erase endpoint (after it, nothing about the
user can be read back)."""
import time
import uuid

import requests

from personastream_contracts.cassandra import keyspace, session
from personastream_contracts.tables import user_tables
from personastream_serving.catalogue import catalogue
from personastream_stack import flink_jobs

USER_TABLES = [t.name for t in user_tables()]

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
    deadline = time.monotonic() + timeout_s
    while not (result := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)
    return result


def get(api, path: str, **params):
    return requests.get(f"{api.url}{path}", params=params, timeout=10)


def test_every_endpoint(isolated, api_settings, api, enriched):
    s = api_settings
    for job in ("live_activity", "land_events", "build_profiles"):
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
    wait_for(lambda: held(s, USER) == set(USER_TABLES), "rows in every user table")
    erase_url = f"{api.url}/v1/users/{USER}"
    assert requests.delete(erase_url, timeout=10).status_code == 401
    assert requests.delete(erase_url, headers={"Authorization": "Bearer wrong"},
                           timeout=10).status_code == 401
    erased = requests.delete(erase_url, headers={"Authorization": f"Bearer {s.api_token}"},
                             timeout=10)
    assert erased.status_code == 200
    assert set(erased.json()["tables_with_rows"]) == set(USER_TABLES)
    assert erased.json()["remaining"] == [] and held(s, USER) == set()
    assert get(api, f"/v1/users/{USER}/profile").status_code == 404
    assert get(api, "/v1/recommendations", user=USER).json()["provenance"]["profile"] == "none"


def held(settings, user_key: str) -> set[str]:
    """The user tables with a row about ``user_key``, read straight from Cassandra."""
    with session(settings) as cql:
        return {t for t in USER_TABLES if cql.execute(
            f"SELECT user_key FROM {keyspace(settings)}.{t} WHERE user_key = %s LIMIT 1",
            [user_key]).one()}

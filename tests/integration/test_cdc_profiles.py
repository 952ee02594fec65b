"""Change data capture into the profiles, on the real servers: a change in PostgreSQL ->
Debezium on Kafka Connect -> Kafka -> the ``merge_customers`` job -> Cassandra -> the API.
The test's own schema, connector, topics, keyspace and job (``isolated``), removed afterwards.
Prints p50/p99 of change (commit) -> visible through the API over the changes it makes."""
from __future__ import annotations

import datetime as dt
import json
import os
import statistics
import time

import pytest
import requests
from psycopg import sql

from personastream_contracts import operational
from personastream_contracts.cassandra import keyspace, session
from personastream_contracts.tables import user_tables
from personastream_stack import cdc, flink_jobs
from personastream_stack.kafka import admin_client, read_to_end

pytestmark = pytest.mark.integration

VISIBLE_TIMEOUT_S = 120
POLL_S = 0.05
#: Customers the test changes, four changes each (``CDC_TEST_CUSTOMERS=250``: 1,000 changes).
N_CUSTOMERS = int(os.environ.get("CDC_TEST_CUSTOMERS", "10"))


@pytest.fixture
def merging(isolated, api_settings):
    """The test's operational schema and connector (snapshot of nothing yet), and its
    ``merge_customers`` job; connector, slot, schema and change topics removed afterwards."""
    s = api_settings
    operational.ensure_schema(s)
    cdc.deploy(s)
    job = flink_jobs.submit(s, "merge_customers", instance=isolated.uid)
    yield s
    # the job first: reading topics deleted under it, its consumers log a warning every few
    # milliseconds until it is cancelled
    flink_jobs.cancel(s, job.job_id)
    cdc.remove(s)
    with operational.connect(s, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
            sql.Identifier(s.postgres_schema)))
    admin = admin_client(s)  # kept: its futures fail once the client is collected
    for future in admin.delete_topics(cdc.topics(s), operation_timeout=30).values():
        future.result()


def execute(settings, statement: str, params: dict) -> float:
    """Run one statement in a transaction of its own; return when it committed (epoch s)."""
    with operational.connect(settings) as conn:
        conn.execute(statement, params)
    return time.time()


def visible(api, what: str, check, since_s: float) -> float:
    """Poll the API until ``check(get)`` holds; the seconds since ``since_s``."""
    deadline = time.monotonic() + VISIBLE_TIMEOUT_S
    while not check(lambda path, **params: requests.get(f"{api.url}{path}", params=params,
                                                        timeout=10)):
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not visible through the API after {VISIBLE_TIMEOUT_S}s")
        time.sleep(POLL_S)
    return time.time() - since_s


def windowed(get, user_key: str) -> dict:
    answer = get(f"/v1/users/{user_key}/profile")
    return (answer.json()["windowed"] or {}) if answer.status_code == 200 else {}


def held(settings, user_key: str) -> list[str]:
    with session(settings) as cql:
        return [t.name for t in user_tables() if cql.execute(
            f"SELECT user_key FROM {keyspace(settings)}.{t.name} WHERE user_key = %s LIMIT 1",
            (user_key,)).one()]


def add_live_profile(settings, user_key: str) -> None:
    """A live profile as live_activity writes it (this test runs no click jobs)."""
    with session(settings) as cql:
        cql.execute(f"INSERT INTO {keyspace(settings)}.live_profiles (user_key, recent_items, "
                    "category_affinity, brand_affinity, purchased, updated_at, n_events, "
                    "written_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                    (user_key, ["item-1"], {"bags": 2.0}, {}, [],
                     dt.datetime.now(dt.timezone.utc), 2, dt.datetime.now(dt.timezone.utc)))


INSERT = ("INSERT INTO customers (account_id, tier, country, marketing_consent) "
          "VALUES (%(key)s, 'gold', 'DE', true)")
ORDER = ("INSERT INTO orders (account_id, n_items, total) VALUES (%(key)s, 2, 19.90)")


def test_customer_changes_reach_the_api_and_a_delete_erases_the_customer(merging, api):
    s, latencies = merging, {"insert": [], "update": [], "consent": [], "delete": []}
    keys = [f"cdc-user-{n}" for n in range(N_CUSTOMERS)]
    # the first change waits for the connector's first poll and the job's first fetch
    committed = execute(s, INSERT, {"key": "cdc-warm-up"})
    startup_s = visible(api, "the first customer's attributes", lambda get: (
        windowed(get, "cdc-warm-up").get("crm_tier") == "gold"), committed)
    print(f"\nfirst change visible through the API after {startup_s:.1f} s (pipeline start)")
    for key in keys:
        add_live_profile(s, key)
        committed = execute(s, INSERT, {"key": key})
        latencies["insert"].append(visible(api, f"{key}'s attributes", lambda get, k=key: (
            windowed(get, k).get("crm_tier") == "gold"), committed))
        execute(s, ORDER, {"key": key})

    key = keys[0]
    recs = requests.get(f"{api.url}/v1/recommendations", params={"user": key}, timeout=10).json()
    assert recs["provenance"]["profile"] == "live" and "reason" not in recs["provenance"]
    profile = requests.get(f"{api.url}/v1/users/{key}/profile", timeout=10).json()["windowed"]
    assert profile["marketing_consent"] is True and profile["crm_country"] == "DE"
    assert profile["profile_version"] is None  # no click job wrote this profile

    for key in keys:
        committed = execute(s, "UPDATE customers SET tier = 'platinum', updated_at = now() "
                               "WHERE account_id = %(key)s", {"key": key})
        latencies["update"].append(visible(api, f"{key}'s new tier", lambda get, k=key: (
            windowed(get, k).get("crm_tier") == "platinum"), committed))
        committed = execute(s, "UPDATE customers SET marketing_consent = false, "
                               "consent_updated_at = now() WHERE account_id = %(key)s",
                            {"key": key})
        latencies["consent"].append(visible(api, f"{key}'s withdrawn consent", lambda get, k=key: (
            get("/v1/recommendations", user=k).json()["provenance"].get("reason")
            == "no_marketing_consent"), committed))
    recs = requests.get(f"{api.url}/v1/recommendations", params={"user": keys[0]},
                        timeout=10).json()
    assert recs["provenance"]["profile"] == "none" and recs["provenance"]["profile_events"] is None

    with session(s) as cql:
        orders = list(cql.execute(f"SELECT user_key, status, total FROM {keyspace(s)}"
                                  ".orders_by_user WHERE user_key = %s", (keys[0],)))
    assert [(o.status, o.total) for o in orders] == [("placed", 19.9)]

    for key in keys:
        assert sorted(held(s, key)) == ["live_profiles", "orders_by_user", "profiles"]
        committed = execute(s, "DELETE FROM customers WHERE account_id = %(key)s", {"key": key})
        latencies["delete"].append(visible(api, f"{key} erased", lambda get, k=key: (
            get(f"/v1/users/{k}/profile").status_code == 404), committed))
    assert {key: held(s, key) for key in keys} == {key: [] for key in keys}

    requests_seen = [json.loads(m.value()) for batch in read_to_end(s, s.topic_user_erasures)
                     for m in batch]
    assert sorted(r["user_key"] for r in requests_seen) == sorted(keys)
    assert {r["source"] for r in requests_seen} == {"cdc"}
    tombstones = [m.key().decode() for batch in read_to_end(s, s.topic_live_profiles)
                  for m in batch if m.value() is None]
    assert sorted(tombstones) == sorted(keys)

    for what, seconds in latencies.items():
        ms = sorted(1000 * x for x in seconds)
        p99 = ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))]
        print(f"\nchange -> visible through the API, {what}: n={len(ms)} "
              f"p50={statistics.median(ms):.0f} ms p99={p99:.0f} ms")
    everything = sorted(1000 * x for xs in latencies.values() for x in xs)
    print(f"all {len(everything)} changes: p50={statistics.median(everything):.0f} ms "
          f"p99={everything[min(len(everything) - 1, round(0.99 * (len(everything) - 1)))]:.0f} ms")


def test_an_added_column_flows_through_and_bad_changes_are_dead_lettered(merging, isolated,
                                                                        api):
    """Issue 17 items 4-5 on the running job: a column added to ``customers`` reaches the
    profile's account record, with no restart; a value out of the contract and a column whose
    type changed are dead-lettered naming the column, and the job goes on."""
    s, key = merging, "cdc-evolving"
    committed = execute(s, INSERT, {"key": key})
    visible(api, "the customer", lambda get: windowed(get, key).get("crm_tier") == "gold",
            committed)
    job = flink_jobs.active_job(s, f"merge_customers_{isolated.uid}")
    running_since_ms = time.time() * 1000

    execute(s, "ALTER TABLE customers ADD COLUMN loyalty_points integer", {})
    committed = execute(s, "UPDATE customers SET loyalty_points = 120, updated_at = now() "
                           "WHERE account_id = %(key)s", {"key": key})
    added_s = visible(api, "the added column", lambda get: (
        windowed(get, key).get("crm_record") or {}).get("loyalty_points") == "120", committed)
    print(f"\na column added while running: visible through the API {1000 * added_s:.0f} ms "
          "after the change that set it")

    execute(s, "ALTER TABLE customers DROP CONSTRAINT customers_tier_check", {})
    execute(s, "UPDATE customers SET tier = 'diamond' WHERE account_id = %(key)s", {"key": key})
    execute(s, "ALTER TABLE customers DROP CONSTRAINT customers_birth_year_check", {})
    execute(s, "ALTER TABLE customers ALTER COLUMN birth_year TYPE text", {})
    execute(s, "UPDATE customers SET tier = 'gold', birth_year = 'unknown' "
               "WHERE account_id = %(key)s", {"key": key})
    committed = execute(s, "UPDATE customers SET tier = 'silver', birth_year = '1990' "
                           "WHERE account_id = %(key)s", {"key": key})
    visible(api, "the valid change after the bad ones", lambda get: (
        windowed(get, key).get("crm_tier"), windowed(get, key).get("crm_birth_year"))
        == ("silver", 1990), committed)

    # a dead letter goes through a Python operator (its bundle: up to a second), the valid
    # change does not
    deadline, letters = time.monotonic() + VISIBLE_TIMEOUT_S, []
    while len(letters) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
        letters = [json.loads(m.value()) for batch in read_to_end(s, s.topic_events_deadletter)
                   for m in batch]
    assert [(d["reason"]["code"], d["reason"]["field"], d["reason"]["rule"], d["reason"]["message"])
            for d in letters] == [
        ("invalid_change", "/after/tier", "enum",
         "customers change: 'diamond' is not one of standard, silver, gold, platinum"),
        ("invalid_change", "/after/birth_year", "type",
         "customers change: 'unknown' is not an integer")]
    assert json.loads(letters[1]["payload"])["after"]["birth_year"] == "unknown"
    # the job went on: the same job, and no failure since it merged the first change (a
    # failure to get slots before it ran, on a busy cluster, is not the changes')
    assert flink_jobs.active_job(s, job.name).job_id == job.job_id
    failures = flink_jobs.rest_get(s, f"/jobs/{job.job_id}/exceptions")["exceptionHistory"][
        "entries"]
    assert [f["exceptionName"] for f in failures if f["timestamp"] >= running_since_ms] == []

"""The profiles job on real Kafka, Flink and Cassandra: a scripted sequence of events gives
exact profile fields; an event behind the watermark is dead-lettered, not counted."""
import dataclasses
import datetime as dt
import json
import time
import uuid

import pytest

from personastream_contracts.cassandra import keyspace, session
from personastream_contracts.deadletters import DEADLETTER_SCHEMA
from personastream_contracts.tables import TABLES
from personastream_stack import flink_jobs

T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.timezone.utc)
HALF_LIFE_S = 3600
USER = "user-a"


def at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def event(kind: str, minutes: float, **fields) -> dict:
    return {"event_id": str(uuid.uuid4()), "event_type": kind, "schema_version": "1-0-0",
            "user_id": fields.pop("user_id", USER), "anonymous_id": "device-a",
            "client_ts": at(minutes).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            **fields}


def view(minutes, item, category, brand):
    return event("product_view", minutes, item_id=item, category=category, brand=brand)


SCRIPT = [  # (event, received after minutes)
    (view(0, "i1", "shoes", "acme"), 0),
    (view(1 / 3, "i2", "shoes", "zeta"), 1 / 3),
    (event("add_to_cart", 1 + 1 / 6, item_id="i1", category="shoes", brand="acme",
           quantity=1, price=10.0), 1 + 1 / 6),
    (view(2, "i3", "bags", "acme"), 2),
    # 45 minutes without events: a new session
    (event("purchase", 47, order_id="o-1", items=[{"item_id": "i1", "quantity": 1,
                                                   "price": 99.5}], total=99.5,
           currency="EUR"), 47),
    (event("customer_update", 47.5, attributes={"tier": "gold", "newsletter": True}), 47.5),
    (view(48, "i4", "hats", "zeta"), 48),
]
# an event of user-a from minute 10 that reaches the job at minute 61: late
LATE = (view(10, "i-late", "shoes", "acme"), 61)


@pytest.fixture
def profiles(isolated):
    s = dataclasses.replace(isolated.settings, profiles_allowed_lateness_s=5,
                            profiles_affinity_half_life_s=HALF_LIFE_S)
    return dataclasses.replace(isolated, settings=s)


def ms(minutes: float) -> int:
    return int(at(minutes).timestamp() * 1000)


def produce(enriched, script) -> None:
    enriched.produce([(doc, ms(received)) for doc, received in script])


def advance_watermark(enriched, minute: float) -> None:
    """Other users' events at ``minute`` in every partition close user-a's windows before it."""
    enriched.advance_watermark(
        lambda p: view(minute, "i-clock", "socks", "acme") | {"user_id": f"clock-{p}"},
        ms(minute))


def wait_profile(settings, users=(USER,), last_seen=at(48), timeout_s: float = 120):
    """The profile row of ``users[0]`` once every one of ``users`` was last seen at
    ``last_seen`` (polled)."""
    deadline = time.monotonic() + timeout_s
    with session(settings) as cql:
        query = cql.prepare(f"SELECT * FROM {keyspace(settings)}.profiles WHERE user_key = ?")
        while True:
            rows = [cql.execute(query, [user]).one() for user in users]
            if all(r is not None and r.last_seen == last_seen.replace(tzinfo=None) for r in rows):
                return rows[0]
            assert time.monotonic() < deadline, f"profiles of {users} not complete: {rows}"
            time.sleep(1)


def decayed(weight: float, minutes_before_last: float) -> float:
    return weight * 0.5 ** (minutes_before_last * 60 / HALF_LIFE_S)


def test_scripted_events_give_exact_profile_fields(profiles, enriched, deadletters):
    s = profiles.settings
    flink_jobs.submit(s, "build_profiles", instance=profiles.uid)
    produce(enriched, SCRIPT)
    advance_watermark(enriched, 60)
    p = wait_profile(s)

    assert p.profile_version == TABLES["profiles"].layout_version  # the layout it writes
    assert (p.first_seen, p.last_seen) == (at(0).replace(tzinfo=None), at(48).replace(tzinfo=None))
    assert (p.views_1h, p.carts_1h, p.purchases_1h, p.spend_1h) == (4, 1, 1, 99.5)
    assert (p.views_1d, p.carts_1d, p.purchases_1d, p.spend_1d) == (4, 1, 1, 99.5)
    assert p.sessions == 2
    assert p.session_start == at(47).replace(tzinfo=None)
    assert (p.session_events, p.session_duration_s) == (3, 60.0)
    assert p.recent_items == ["i4", "i3", "i1", "i2"]  # newest first, once each; no late i-late
    expected_categories = {
        "shoes": decayed(1, 48) + decayed(1, 48 - 1 / 3) + decayed(3, 48 - 1 - 1 / 6),
        "bags": decayed(1, 46), "hats": 1.0}
    assert p.category_affinity == pytest.approx(expected_categories, abs=1e-3)
    expected_brands = {"acme": decayed(1, 48) + decayed(3, 48 - 1 - 1 / 6) + decayed(1, 46),
                       "zeta": decayed(1, 48 - 1 / 3) + 1.0}
    assert p.brand_affinity == pytest.approx(expected_brands, abs=1e-3)
    assert p.attributes == {"tier": "gold", "newsletter": "true"}

    produce(enriched, [LATE])  # behind the watermark (minute 60 minus the allowed 5 s)
    late = [d for d in deadletters(s) if d["reason"]["code"] == "late_event"]
    assert len(late) == 1 and json.loads(late[0]["payload"])["event_id"] == LATE[0]["event_id"]
    assert late[0]["deadletter_schema"] == DEADLETTER_SCHEMA
    advance_watermark(enriched, 75)
    # the clock users' minute-60 windows close once the job is past minute 61, i.e. past LATE
    clocks = [f"clock-{n}" for n in range(s.kafka_partitions)]
    wait_profile(s, users=clocks, last_seen=at(60))
    assert wait_profile(s).recent_items == p.recent_items  # the late event changed nothing

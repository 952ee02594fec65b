"""Each job's whole topology in a local PyFlink environment, no servers: enriched events from a
file through the same ``events_enriched`` table, model placements from a list, every write
captured (``personastream_flink.testing.FileIO``). Keyed state, windows, late events, side
outputs and broadcast placements run as in production; only the connectors differ."""
from __future__ import annotations

import datetime as dt
import json

import pytest

from personastream_contracts.deadletters import DEADLETTER_SCHEMA
from personastream_contracts.event_schemas import SCHEMA_DIR, load_schemas, validator
from personastream_contracts.tables import TABLES
from personastream_flink import (assign_segments, build_profiles, land_events, live_activity,
                                 score_trends)
from personastream_flink.testing import FileIO, local_environment
from personastream_models.recommend import co_view_neighbours
from personastream_models.registry import Placement

DEADLETTER = validator(load_schemas(SCHEMA_DIR), tuple(DEADLETTER_SCHEMA.split("/")))
T0_MS, MINUTE_MS = 1_767_225_600_000, 60_000  # 2026-01-01T00:00:00Z, one minute


def run(job, io: FileIO, *extra: str) -> None:
    env = local_environment()
    job.build(env, job.parse_args(io.arguments(job.JOB_NAME, *extra)), io)
    env.execute(job.JOB_NAME)


def check_deadletters(letters: list[dict], time_field: str) -> None:
    for letter in letters:
        assert list(DEADLETTER.iter_errors(letter)) == [], letter
        assert letter["reason"]["code"] == "late_event"
        assert letter["reason"]["field"] == time_field


# --- land_events ---------------------------------------------------------------------------

def test_land_events_writes_each_event_once_keyed_by_identity(tmp_path, enrich):
    events = [enrich.view("i1", T0_MS),
              enrich.event("search", T0_MS + 5, query="boots", user=None),
              enrich.event("page_view", T0_MS + 9, page_url="https://shop.example/x")]
    io = FileIO(tmp_path, events)
    run(land_events, io)
    rows = io.rows("events_by_user")
    assert sorted(r["event_id"] for r in rows) == sorted(e["event_id"] for e in events)
    by_id = {r["event_id"]: r for r in rows}
    assert by_id[events[1]["event_id"]]["user_key"] == "anon:a-1"
    assert by_id[events[0]["event_id"]]["item_id"] == "i1"
    assert set(rows[0]) == set(TABLES["events_by_user"].column_names)


# --- score_trends --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def trends(tmp_path_factory, enrich):
    """13 minutes of views: item ``steady`` 5 a minute, item ``spiking`` 5 a minute then 60 in
    minute 12; a view of minute 0 received after minute 3 (its window closed: late); a final
    view in minute 20 closes every window. Placements: a shadow version, one for another
    model, and a broken record (both ignored)."""
    events, expected = [], {}
    for minute in range(13):
        counts = {"steady": 5, "spiking": 60 if minute == 12 else 5}
        for item, n in counts.items():
            for i in range(n):
                events.append(enrich.view(item, T0_MS + minute * MINUTE_MS + 1000 + i, user=f"u-{i}"))
            expected[(item, minute)] = n
        if minute == 3:
            late = enrich.view("steady", T0_MS + 30_000)
            events.append(late)
    events.append(enrich.view("closing", T0_MS + 20 * MINUTE_MS))
    placements = [Placement.initial("trends_detector", "3-5-0").with_shadow("1-0-0").to_json(),
                  Placement.initial("customer_segments", "1-0-0").to_json(), "not json"]
    io = FileIO(tmp_path_factory.mktemp("score_trends"), events, placements)
    run(score_trends, io, "--anomalies-topic", "trends.anomalies",
        "--deadletter-topic", "events.deadletter", "--control-topic", "models.control",
        "--window-s", "60", "--watermark-s", "5", "--idle-timeout-s", "5",
        "--detector", "trends_detector", "--detector-version", "3-5-0")
    return io, expected, late


def _minute(window_start: str) -> int:
    ms = dt.datetime.fromisoformat(window_start).replace(tzinfo=dt.timezone.utc).timestamp()
    return int(ms * 1000 - T0_MS) // MINUTE_MS


def test_score_trends_counts_views_per_item_and_window(trends):
    io, expected, _ = trends
    rows = io.rows("item_trends")
    counted = {(r["item_id"], _minute(r["window_start"])): r["views"] for r in rows
               if r["item_id"] != "closing"}
    assert counted == expected
    assert {r["model_version"] for r in rows} == {"3-5-0"}
    # 3-5-0's detector scores from an item's 101st window: its stand-in scored these
    assert {r["scored_by"] for r in rows} == {"2-0-0"}
    assert set(rows[0]) == set(TABLES["item_trends"].column_names)


def test_score_trends_dead_letters_a_view_whose_window_closed(trends):
    io, _, late = trends
    letters = io.rows("events.deadletter")
    assert [json.loads(letter)["event_id"] for letter in letters] == [late["event_id"]]
    check_deadletters([json.loads(letter) for letter in letters], "/received_at")


def test_score_trends_flags_the_spike_and_publishes_it(trends):
    io, _, _ = trends
    flagged = {(r["item_id"], _minute(r["window_start"])) for r in io.rows("item_trends")
               if r["flagged"]}
    assert ("spiking", 12) in flagged and not any(i == "steady" for i, _ in flagged)
    anomalies = [json.loads(a) for a in io.rows("trends.anomalies")]
    assert {(a["item_id"], _minute(a["window_start"].rstrip("Z"))) for a in anomalies} == flagged
    assert {(a["model_version"], a["scored_by"]) for a in anomalies} == {("3-5-0", "2-0-0")}


def test_score_trends_scores_the_broadcast_shadow_beside_the_live_version(trends):
    io, _, _ = trends
    last = max((r for r in io.rows("item_trends") if r["item_id"] == "spiking"),
               key=lambda r: r["window_start"])
    assert last["shadow_version"] == "1-0-0" and last["shadow_score"] is not None
    assert last["n_learned"] == 13


def test_score_trends_keeps_each_items_latest_trend(trends):
    io, _, _ = trends
    latest = {}
    for row in io.rows("item_latest_trend"):  # upserts: the last write of a key wins
        latest[row["item_id"]] = row
    assert {r["bucket"] for r in latest.values()} == {"all"}
    assert _minute(latest["spiking"]["window_start"]) == 12 and latest["spiking"]["flagged"]
    assert {(r["model_version"], r["scored_by"]) for r in latest.values()} == {("3-5-0", "2-0-0")}


# --- build_profiles and assign_segments ----------------------------------------------------

def _activity_events(enrich) -> tuple[list[dict], dict]:
    """Two customers over ten minutes of client time, and one event of minute 0 sent after
    minute 9 (behind the 60 s allowed lateness: late)."""
    events = []
    for minute in range(10):
        at = T0_MS + minute * MINUTE_MS
        events.append(enrich.view(f"i{minute}", at, user="u-1", category="shoes"))
        events.append(enrich.view(f"j{minute}", at + 10, user="u-2", category="bags"))
        if minute == 4:
            events.append(enrich.event("add_to_cart", at + 20, user="u-1", item_id="i4",
                                   category="shoes", brand="acme", quantity=1, price=10.0))
    late = enrich.view("late-item", T0_MS + 10 * MINUTE_MS, user="u-1", client_ms=T0_MS + 1)
    events.append(late)
    events.append(enrich.event("page_view", T0_MS + 30 * MINUTE_MS, user="u-3",
                           page_url="https://shop.example/"))
    return events, late


PROFILE_ARGS = ("--deadletter-topic", "events.deadletter", "--allowed-lateness-s", "60",
                "--idle-timeout-s", "5", "--session-gap-s", "1800", "--recent-items", "5",
                "--affinity-half-life-s", "86400")


def test_build_profiles_folds_minutes_into_profiles_and_dead_letters_late_events(tmp_path, enrich):
    events, late = _activity_events(enrich)
    io = FileIO(tmp_path, events)
    run(build_profiles, io, *PROFILE_ARGS)
    profiles = {}
    for row in io.rows("profiles"):
        profiles[row["user_key"]] = row
    u1 = profiles["u-1"]
    assert (u1["views_1d"], u1["carts_1d"], u1["sessions"]) == (10, 1, 1)
    assert u1["recent_items"] == ["i9", "i8", "i7", "i6", "i5"]
    assert set(u1["category_affinity"]) == {"shoes"} and "late-item" not in u1["recent_items"]
    assert profiles["u-2"]["views_1d"] == 10
    assert set(u1) == set(TABLES["profiles"].columns_for("build_profiles"))
    letters = [json.loads(letter) for letter in io.rows("events.deadletter")]
    assert [letter["event_id"] for letter in letters] == [late["event_id"]]
    check_deadletters(letters, "/client_ts")


def test_assign_segments_gives_every_customer_a_segment_of_the_placed_version(tmp_path, enrich):
    """Submitted with 1-0-0; the control topic says 2-0-0 was promoted over it (and holds a
    record of another model and a broken one, both ignored): rows carry 2-0-0's segments."""
    events, _ = _activity_events(enrich)
    placements = [Placement.initial("customer_segments", "1-0-0").promoted("2-0-0").to_json(),
                  Placement.initial("trends_detector", "3-5-0").to_json(), "not json"]
    io = FileIO(tmp_path, events, placements)
    run(assign_segments, io, "--control-topic", "models.control", "--segments-topic",
        "customers.segments", "--allowed-lateness-s", "60", "--idle-timeout-s", "5",
        "--clusterer", "customer_segments", "--clusterer-version", "1-0-0")
    segments = {}
    for row in io.rows("profiles"):
        segments[row["user_key"]] = row
    assert set(segments) == {"u-1", "u-2", "u-3"}
    assert {r["segment_model"] for r in segments.values()} == {"customer_segments/2-0-0"}
    assert all(isinstance(r["segment_id"], int) for r in segments.values())
    assert set(segments["u-1"]) == set(TABLES["profiles"].columns_for("assign_segments"))
    # each row is published too, for evaluate_promotions' segment condition
    assert sorted(map(str, io.rows("customers.segments"))) == \
        sorted(map(str, io.rows("profiles")))


# --- live_activity -------------------------------------------------------------------------

def test_live_activity_updates_live_profiles_and_co_viewed_neighbours(tmp_path, enrich):
    events = [enrich.view("a", T0_MS, user="u-1"), enrich.view("b", T0_MS + 1000, user="u-1"),
              enrich.view("c", T0_MS + 2000, user="u-1", category="bags"),
              enrich.view("a", T0_MS + 3000, user="u-2"), enrich.view("b", T0_MS + 4000, user="u-2"),
              # the storefront's report of a click: not the customer's activity
              enrich.event("click", T0_MS + 5000, user="u-1", placement="recommendations",
                           item_id="z", position=0)]
    io = FileIO(tmp_path, events)
    # every update written at once: the input ends before a processing-time timer would fire
    run(live_activity, io, "--profiles-topic", "profiles.live", "--recent-items", "5",
        "--affinity-half-life-s", "86400", "--neighbours-row-every-ms", "0")
    live = {}
    for row in io.rows("live_profiles"):
        live[row["user_key"]] = row
    assert live["u-1"]["recent_items"] == ["c", "b", "a"] and live["u-1"]["n_events"] == 3
    assert set(live["u-1"]["category_affinity"]) == {"shoes", "bags"}
    assert io.rows("profiles.live") == io.rows("live_profiles")  # published as written
    neighbours = {}
    for row in io.rows("item_neighbours"):
        neighbours[row["item_id"]] = row
    # each pair on its later item's row, read both ways
    viewed_before = {item: row["neighbours"] for item, row in neighbours.items()}
    assert viewed_before == {"a": {}, "b": {"a": 2.0}, "c": {"b": 1.0, "a": 0.5}}
    both = co_view_neighbours(viewed_before)
    assert set(both["a"]) == {"b", "c"} and both["b"]["a"] > both["c"]["a"]
    assert neighbours["a"]["views"] == pytest.approx(2.0, rel=1e-3)
    assert set(neighbours["a"]) == set(TABLES["item_neighbours"].column_names)

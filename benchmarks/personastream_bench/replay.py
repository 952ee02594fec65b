"""Offline replay: what real-time profiles are worth, as next-item HitRate@k and NDCG@k.

A timestamped interaction data set is replayed in time order through the project's one
recommendation code (:mod:`personastream_models.recommend`: ``update_profile``,
``co_view_pairs``, ``merge_neighbour``, ``rank``); nothing here ranks or folds profiles itself.
Before each evaluated interaction ``(user, item, t)`` the same :func:`rank` orders the catalogue
for three variants, and the rank of ``item`` is recorded:

- **live**: the user's profile folded after every interaction, as the streaming job keeps it;
- **daily**: the same profile as it was at the last day boundary (00:00 UTC) before ``t``, i.e.
  refreshed once a day; a user's first day has no profile yet;
- **popularity**: no profile (an anonymous visitor).

Shared by all variants, learned online from every interaction before the evaluated one:
item co-occurrence (``co_view_pairs`` of the user's live recent items, ``merge_neighbour``) and
popularity (views per item, decayed with their own half-life, or plain counts). Items the user
already interacted with are excluded (next-item protocol: a user does not rate a film twice).
The trends part of the ranking is not replayed (no anomaly scores): it is zero everywhere.
Then the interaction is folded into the state, so every interaction is folded, in order, even
when only a seeded sample of them is evaluated.

The data: MovieLens-100K (GroupLens) as shipped inside the ``recbole==1.2.1`` wheel, downloaded
with pip into ``<cache_dir>/datasets`` and read from the wheel zip in place (never unpacked,
never committed: the MovieLens licence forbids redistribution). Every rating is a product view
(the rating value is ignored), ordered by timestamp, ties by user then item id. An item's
category is its first genre (genres are listed alphabetically) and its brand the decade of its
release year (``"1990s"``), or ``""`` when the year is unknown.
"""
from __future__ import annotations

import math
import os
import random
import shutil
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

from personastream_contracts.errors import PersonastreamError
from personastream_contracts.settings import Settings
from personastream_models.recommend import (RANKING_VERSION, Item, LiveProfile, co_view_pairs,
                                            merge_neighbour, rank, update_profile)

DAY_MS = 86_400_000
WHEEL_REQUIREMENT = "recbole==1.2.1"
WHEEL_FILE = "recbole-1.2.1-py3-none-any.whl"
ML100K_INTER = "recbole/dataset_example/ml-100k/ml-100k.inter"
ML100K_ITEM = "recbole/dataset_example/ml-100k/ml-100k.item"
CATEGORY_RULES = ("first", "rarest")

Progress = Callable[[str], None]


class ReplayError(PersonastreamError):
    """The replay's data set could not be fetched or read."""


def _stderr(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# -- the data ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Interaction:
    user_id: str
    item_id: str
    ts_ms: int


@dataclass
class Dataset:
    name: str
    source: str  # where it was read from
    catalogue: dict[str, Item]
    interactions: list[Interaction]  # in replay order

    @property
    def n_users(self) -> int:
        return len({i.user_id for i in self.interactions})


def _id_key(value: str) -> tuple:
    """Numeric ids in numeric order, before any other id."""
    return (0, int(value), "") if value.isdigit() else (1, 0, value)


def replay_order(interactions: Iterable[Interaction]) -> list[Interaction]:
    """By timestamp, ties broken by user then item id (numerically when numeric).

    >>> [i.item_id for i in replay_order([Interaction("10", "b", 5), Interaction("9", "c", 5),
    ...                                   Interaction("9", "a", 5), Interaction("1", "z", 6)])]
    ['a', 'c', 'b', 'z']
    """
    return sorted(interactions, key=lambda i: (i.ts_ms, _id_key(i.user_id), _id_key(i.item_id)))


def _rows(text: str) -> list[list[str]]:
    """RecBole's atomic file: a ``name:type`` header line, then tab-separated rows."""
    return [line.split("\t") for line in text.splitlines()[1:] if line.strip()]


def parse_items(text: str, category_rule: str = "first") -> dict[str, Item]:
    """RecBole's ``ml-100k.item`` (item_id, movie_title, release_year, class) as a catalogue.

    Category: the first genre of ``class`` (``first``), or the genre with the fewest films in
    the catalogue, ties by name (``rarest``: the most specific one); brand: the release decade.

    >>> text = ("item_id:token\\tmovie_title:token_seq\\trelease_year:token\\tclass:token_seq\\n"
    ...         "1\\tToy Story\\t1995\\tAnimation Children's Comedy\\n"
    ...         "2\\tGoldenEye\\t1995\\tAction Comedy\\n3\\tOdd\\tV\\t\\n")
    >>> parse_items(text)["1"]
    Item(item_id='1', category='Animation', brand='1990s')
    >>> parse_items(text)["3"]
    Item(item_id='3', category='', brand='')
    >>> parse_items(text, "rarest")["1"].category, parse_items(text, "rarest")["2"].category
    ('Animation', 'Action')
    """
    if category_rule not in CATEGORY_RULES:
        raise ReplayError(f"unknown category rule {category_rule!r}: choose among "
                          f"{', '.join(CATEGORY_RULES)}")
    rows = []
    for row in _rows(text):
        row += [""] * (4 - len(row))
        rows.append((row[0], row[2].strip(), row[3].split()))
    films_per_genre: dict[str, int] = {}
    for _, _, genres in rows:
        for genre in genres:
            films_per_genre[genre] = films_per_genre.get(genre, 0) + 1
    catalogue = {}
    for item_id, year, genres in rows:
        if not genres:
            category = ""
        elif category_rule == "first":
            category = genres[0]
        else:
            category = min(genres, key=lambda g: (films_per_genre[g], g))
        brand = f"{year[:3]}0s" if len(year) == 4 and year.isdigit() else ""
        catalogue[item_id] = Item(item_id, category, brand)
    return catalogue


def parse_interactions(text: str) -> list[Interaction]:
    """RecBole's ``ml-100k.inter`` (user_id, item_id, rating, timestamp in s) in replay order.

    >>> parse_interactions("user_id:token\\titem_id:token\\trating:float\\ttimestamp:float\\n"
    ...                    "196\\t242\\t3\\t881250949\\n")
    [Interaction(user_id='196', item_id='242', ts_ms=881250949000)]
    """
    return replay_order(Interaction(row[0], row[1], int(float(row[3]) * 1000))
                        for row in _rows(text))


def wheel_path(settings: Settings) -> Path:
    return Path(settings.cache_dir) / "datasets" / WHEEL_FILE


def fetch_wheel(settings: Settings, progress: Progress = _stderr) -> Path:
    """The recbole wheel in the cache, downloaded with pip (its progress on stderr) unless there."""
    target = wheel_path(settings)
    if target.exists():
        return target
    partial = target.parent / (target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    progress(f"downloading {WHEEL_REQUIREMENT} (it ships MovieLens-100K) with pip into "
             f"{target.parent}")
    done = subprocess.run([sys.executable, "-m", "pip", "download", WHEEL_REQUIREMENT,
                           "--no-deps", "--only-binary=:all:", "--progress-bar", "on",
                           "--disable-pip-version-check", "-d", str(partial)],
                          stdout=sys.stderr, stderr=sys.stderr, stdin=subprocess.DEVNULL)
    wheel = partial / WHEEL_FILE
    if done.returncode != 0 or not wheel.exists():
        shutil.rmtree(partial, ignore_errors=True)
        raise ReplayError(f"pip download {WHEEL_REQUIREMENT} failed ({done.returncode}); "
                          "PyPI (or the index pip is configured with) must be reachable")
    wheel.rename(target)
    shutil.rmtree(partial, ignore_errors=True)
    return target


def read_movielens_100k(wheel: Path, category_rule: str = "first") -> Dataset:
    """MovieLens-100K read from inside the recbole wheel (a zip), without unpacking it."""
    try:
        with zipfile.ZipFile(wheel) as zf:
            items = zf.read(ML100K_ITEM).decode("utf-8")
            inter = zf.read(ML100K_INTER).decode("utf-8")
    except (zipfile.BadZipFile, KeyError) as err:
        raise ReplayError(f"{wheel} is not a recbole wheel holding {ML100K_INTER} ({err}); "
                          "delete it and run again to download it afresh") from err
    return Dataset("MovieLens-100K", f"{wheel}!{ML100K_INTER} (and ml-100k.item)",
                   parse_items(items, category_rule), parse_interactions(inter))


def load_movielens_100k(settings: Settings, category_rule: str = "first",
                        progress: Progress = _stderr) -> Dataset:
    return read_movielens_100k(fetch_wheel(settings, progress), category_rule)


# -- metrics ----------------------------------------------------------------------------------

def hit_at_k(rank_: int, k: int) -> float:
    """1 when the relevant item is ranked within the top ``k`` (ranks from 1; 0: not ranked)."""
    return 1.0 if 0 < rank_ <= k else 0.0


def ndcg_at_k(rank_: int, k: int) -> float:
    """NDCG@k of one relevant item: ``1 / log2(rank + 1)`` within the top ``k``, else 0 (the
    ideal DCG is 1).

    >>> ndcg_at_k(1, 10), ndcg_at_k(3, 10), ndcg_at_k(11, 10), ndcg_at_k(0, 10)
    (1.0, 0.5, 0.0, 0.0)
    """
    return 1.0 / math.log2(rank_ + 1) if 0 < rank_ <= k else 0.0


def hit_rate(ranks: Sequence[int], k: int) -> float:
    return sum(hit_at_k(r, k) for r in ranks) / len(ranks) if ranks else 0.0


def ndcg(ranks: Sequence[int], k: int) -> float:
    return sum(ndcg_at_k(r, k) for r in ranks) / len(ranks) if ranks else 0.0


def lift(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 0 else math.inf


def bootstrap_lift(a: Sequence[float], b: Sequence[float], seed: int, resamples: int = 1000,
                   ) -> tuple[float, float]:
    """95% interval of ``mean(a) / mean(b)`` by the paired bootstrap over evaluation points."""
    import numpy as np

    a_, b_ = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(a_) == 0:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    ratios = []
    for _ in range(resamples):
        pick = rng.integers(0, len(a_), len(a_))
        den = b_[pick].sum()
        ratios.append(a_[pick].sum() / den if den > 0 else math.inf)
    low, high = np.percentile(ratios, [2.5, 97.5])
    return float(low), float(high)


# -- the replay -------------------------------------------------------------------------------

class Popularity:
    """Views per item, each halved every ``half_life_s`` (``None``: plain counts).

    Kept on a moving scale (every weight multiplied by ``2 ** (t / half_life)``), so one view
    updates one item: the values are the decayed counts times one common factor, which
    :func:`rank` cancels (it uses popularity relative to the most viewed item).

    >>> p = Popularity(3600)
    >>> for item, ms in [("a", 0), ("a", 0), ("b", 7_200_000)]:
    ...     p.add(item, ms)
    >>> round(p.values["a"] / p.values["b"], 6)  # 2 views, 2 half-lives ago: 0.5 now
    0.5
    """

    RESCALE_AT = 512.0  # exponent beyond which every value is rescaled (floats reach 2**1023)

    def __init__(self, half_life_s: float | None):
        self.half_life_ms = half_life_s * 1000 if half_life_s else None
        self.values: dict[str, float] = {}
        self._ref_ms: int | None = None

    def add(self, item_id: str, at_ms: int) -> None:
        weight = 1.0
        if self.half_life_ms is not None:
            if self._ref_ms is None:
                self._ref_ms = at_ms
            exponent = (at_ms - self._ref_ms) / self.half_life_ms
            if exponent > self.RESCALE_AT:
                factor = 0.5 ** exponent
                self.values = {k: v * factor for k, v in self.values.items()}
                self._ref_ms, exponent = at_ms, 0.0
            weight = 2.0 ** exponent
        self.values[item_id] = self.values.get(item_id, 0.0) + weight


def eligible_points(interactions: Sequence[Interaction], min_history: int) -> list[int]:
    """Indices of the interactions made after the user's first ``min_history`` ones.

    >>> eligible_points([Interaction(u, "i", t) for t, u in enumerate("aababb")], 2)
    [3, 5]
    """
    counts: dict[str, int] = {}
    out = []
    for index, interaction in enumerate(interactions):
        n = counts.get(interaction.user_id, 0)
        if n >= min_history:
            out.append(index)
        counts[interaction.user_id] = n + 1
    return out


def sample_points(eligible: Sequence[int], n: int | None, seed: int) -> list[int]:
    """All of ``eligible`` (``n`` None or 0, or not fewer), else a seeded sample of ``n``, sorted.

    >>> sample_points(range(10), 3, seed=1) == sample_points(range(10), 3, seed=1)
    True
    """
    if not n or n >= len(eligible):
        return list(eligible)
    return sorted(random.Random(seed).sample(list(eligible), n))


def _days(half_life_s: float) -> str:
    days = half_life_s / 86_400
    return f"{days:g}d" if days >= 1 else f"{half_life_s / 3600:g}h"


def variant_names(half_lives_s: Sequence[float]) -> list[str]:
    """``live@30d``, ``daily@30d`` per affinity half-life, then ``popularity``.

    >>> variant_names([2_592_000, 86_400])
    ['live@30d', 'daily@30d', 'live@1d', 'daily@1d', 'popularity']
    """
    return [f"{kind}@{_days(h)}" for h in half_lives_s for kind in ("live", "daily")] + \
        ["popularity"]


@dataclass
class Replay:
    """Ranks of the next item per variant (0: not in the top ``k``), one per evaluated point."""

    k: int
    half_lives_s: list[float]
    popularity_half_life_s: float | None
    min_history: int
    n_interactions: int
    n_users: int
    n_items: int
    n_eligible: int
    points: list[int]  # indices of the evaluated interactions
    ranks: dict[str, list[int]]
    daily_has_profile: list[bool]  # per point: a daily snapshot existed (not the user's 1st day)
    users_evaluated: int
    seconds: float
    first_ms: int = 0
    last_ms: int = 0

    def hit_rate(self, variant: str, mask: Sequence[bool] | None = None) -> float:
        return hit_rate(self._ranks(variant, mask), self.k)

    def ndcg(self, variant: str, mask: Sequence[bool] | None = None) -> float:
        return ndcg(self._ranks(variant, mask), self.k)

    def per_point(self, variant: str, metric: Callable[[int, int], float]) -> list[float]:
        return [metric(r, self.k) for r in self.ranks[variant]]

    def _ranks(self, variant: str, mask: Sequence[bool] | None) -> list[int]:
        ranks = self.ranks[variant]
        return ranks if mask is None else [r for r, m in zip(ranks, mask) if m]


def run_replay(catalogue: dict[str, Item], interactions: Sequence[Interaction], *,
               half_lives_s: Sequence[float], popularity_half_life_s: float | None,
               k: int = 10, min_history: int = 5, points: Sequence[int] | None = None,
               max_recent: int = 20, progress: Progress = _stderr,
               report_every_s: float = 15.0) -> Replay:
    """Replay ``interactions`` (in replay order) and rank before each of ``points`` (default:
    every interaction after the user's first ``min_history``)."""
    eligible = eligible_points(interactions, min_history)
    points = list(eligible if points is None else points)
    to_evaluate = set(points)
    names = variant_names(half_lives_s)
    ranks: dict[str, list[int]] = {name: [] for name in names}
    daily_has_profile: list[bool] = []
    live: list[dict[str, LiveProfile]] = [{} for _ in half_lives_s]
    daily: list[dict[str, LiveProfile | None]] = [{} for _ in half_lives_s]
    last_day: dict[str, int] = {}
    seen: dict[str, set[str]] = {}
    neighbours: dict[str, dict[str, float]] = {}
    popularity = Popularity(popularity_half_life_s)
    users_evaluated: set[str] = set()
    started = last_report = time.monotonic()
    n_done = 0

    def rank_of(item_id: str, profile: LiveProfile | None, exclude: set[str]) -> int:
        ranked = rank(catalogue, profile=profile, neighbours=neighbours,
                      popularity=popularity.values, k=k, exclude=exclude)
        return next((n for n, r in enumerate(ranked, 1) if r.item_id == item_id), 0)

    for index, it in enumerate(interactions):
        user, day = it.user_id, it.ts_ms // DAY_MS
        if last_day.get(user, day) < day:  # first event of a new day: the boundary snapshot
            for h in range(len(half_lives_s)):  # profiles are never mutated: keep the object
                daily[h][user] = live[h].get(user)
        last_day[user] = day
        user_seen = seen.setdefault(user, set())
        if index in to_evaluate:
            users_evaluated.add(user)
            daily_has_profile.append(daily[0].get(user) is not None if half_lives_s else False)
            for h in range(len(half_lives_s)):
                now_live, snapshot = live[h].get(user), daily[h].get(user)
                ranks[names[2 * h]].append(rank_of(it.item_id, now_live, user_seen))
                ranks[names[2 * h + 1]].append(  # the user's first event today: the same
                    ranks[names[2 * h]][-1] if snapshot is now_live
                    else rank_of(it.item_id, snapshot, user_seen))
            ranks["popularity"].append(rank_of(it.item_id, None, user_seen))
            n_done += 1
        # fold the interaction: neighbours from the recent items before it, then the profiles
        item = catalogue.get(it.item_id) or Item(it.item_id, "")
        before = live[0][user].recent_items if half_lives_s and user in live[0] else []
        for a, b, weight in co_view_pairs(before, it.item_id):
            neighbours[a] = merge_neighbour(neighbours.get(a, {}), b, weight)
        event = {"event_type": "product_view", "item_id": it.item_id, "category": item.category,
                 "brand": item.brand, "client_ts_ms": it.ts_ms}
        for h, half_life in enumerate(half_lives_s):
            live[h][user] = update_profile(live[h].get(user), event, half_life_s=half_life,
                                           max_recent=max_recent)
        popularity.add(it.item_id, it.ts_ms)
        user_seen.add(it.item_id)
        now = time.monotonic()
        if now - last_report >= report_every_s:
            last_report = now
            progress(f"replayed {index + 1:,}/{len(interactions):,} interactions, evaluated "
                     f"{n_done:,}/{len(points):,} ({now - started:.0f}s)")
    return Replay(k, list(half_lives_s), popularity_half_life_s, min_history, len(interactions),
                  len(seen), len(catalogue), len(eligible), points, ranks, daily_has_profile,
                  len(users_evaluated), time.monotonic() - started,
                  interactions[0].ts_ms if interactions else 0,
                  interactions[-1].ts_ms if interactions else 0)


# -- the report -------------------------------------------------------------------------------

REFERENCE = ("a published retail case study reports +15% click-through of real-time over "
             "static profiles (another metric, domain and traffic: a yardstick, not a target)")


def _utc_day(ms: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(ms / 1000))


def _pct(ratio: float) -> str:
    return "inf" if math.isinf(ratio) else f"{ratio:.2f}x ({100 * (ratio - 1):+.0f}%)"


def report(result: Replay, dataset: Dataset, command: str, *, seed: int,
           affinity_notes: dict[float, str] | None = None) -> str:
    k = result.k
    affinity_notes = affinity_notes or {}
    names = variant_names(result.half_lives_s)
    lines = [f"{dataset.name} replay: {result.n_interactions:,} interactions (every rating a "
             f"product view) by {result.n_users:,} users on {result.n_items:,} items, "
             f"{_utc_day(result.first_ms)} .. {_utc_day(result.last_ms)} UTC",
             f"data read from {dataset.source}"]
    sampled = len(result.points) < result.n_eligible
    how = (f"a seeded sample (seed {seed}) of the" if sampled else "all")
    lines.append(f"evaluated: {len(result.points):,} interactions of {result.users_evaluated:,} "
                 f"users, {how} {result.n_eligible:,} made after each user's first "
                 f"{result.min_history}; all {result.n_interactions:,} folded into the state "
                 "in order")
    lines += ["", f"{'variant':<44} {f'HitRate@{k}':>11} {f'NDCG@{k}':>9}"]
    labels = {"live": "live (profile updated after every event)",
              "daily": "daily (profile snapshot at 00:00 UTC)"}
    for h, half_life in enumerate(result.half_lives_s):
        note = affinity_notes.get(half_life, "")
        lines.append(f"affinity half-life {_days(half_life)}{f' ({note})' if note else ''}:")
        for name in names[2 * h:2 * h + 2]:
            label = labels[name.split("@")[0]]
            lines.append(f"  {label:<42} {result.hit_rate(name):>11.4f} {result.ndcg(name):>9.4f}")
    lines.append(f"  {'popularity (no profile)':<42} {result.hit_rate('popularity'):>11.4f} "
                 f"{result.ndcg('popularity'):>9.4f}")
    lines += ["", "lifts (95% interval: paired bootstrap over the evaluated interactions):"]
    for h, half_life in enumerate(result.half_lives_s):
        live_, daily_ = names[2 * h], names[2 * h + 1]
        for other in (daily_, "popularity"):
            parts = []
            for metric, fn in ((f"HitRate@{k}", hit_at_k), (f"NDCG@{k}", ndcg_at_k)):
                ratio = lift(sum(result.per_point(live_, fn)), sum(result.per_point(other, fn)))
                low, high = bootstrap_lift(result.per_point(live_, fn),
                                           result.per_point(other, fn), seed)
                parts.append(f"{metric} {_pct(ratio)} [{low:.2f}, {high:.2f}]")
            pair = f"{live_}/{other.split('@')[0]}"
            lines.append(f"  {pair:<20} " + "; ".join(parts))
    mask = result.daily_has_profile
    if result.half_lives_s and mask:
        live_, daily_ = names[0], names[1]
        first_day = [not m for m in mask]
        lines.append(f"by day of the user (daily has no profile on a user's first day, so it "
                     f"ranks as popularity does), HitRate@{k} live / daily / popularity "
                     f"at {_days(result.half_lives_s[0])}:")
        for label, subset in (("user's first day", first_day), ("later days", mask)):
            if not any(subset):
                continue
            live_rate, daily_rate = result.hit_rate(live_, subset), result.hit_rate(daily_, subset)
            lines.append(f"  {label:<17} {sum(subset):>7,} points: {live_rate:.4f} / "
                         f"{daily_rate:.4f} / {result.hit_rate('popularity', subset):.4f}; "
                         f"live/daily {_pct(lift(live_rate, daily_rate))}")
    pop = (f"views decayed with a {_days(result.popularity_half_life_s)} half-life"
           if result.popularity_half_life_s else "plain view counts")
    lines += ["", f"reference: {REFERENCE}",
              "the same in every variant, learned online from all interactions before the "
              f"evaluated one: co-occurrence neighbours (co_view_pairs, merge_neighbour) and "
              f"popularity ({pop}); ranking: personastream_models.recommend.rank "
              f"{RANKING_VERSION} (no trend scores), top {k}, the user's seen items excluded",
              f"replay wall time: {result.seconds:.0f} s on {os.cpu_count() or 0} CPUs "
              f"(load average {os.getloadavg()[0]:.1f} at the end)",
              f"reproduce: {command}"]
    return "\n".join(lines)


def run(settings: Settings, *, sample: int | None, seed: int, half_life_days: float,
        popularity_half_life_days: float | None, k: int, min_history: int,
        category_rule: str = "first", progress: Progress = _stderr) -> tuple[Replay, Dataset]:
    """Load MovieLens-100K and replay it at ``half_life_days`` and at the shop default."""
    dataset = load_movielens_100k(settings, category_rule, progress)
    half_lives = [half_life_days * 86_400]
    if settings.profiles_affinity_half_life_s not in half_lives:
        half_lives.append(float(settings.profiles_affinity_half_life_s))
    points = sample_points(eligible_points(dataset.interactions, min_history), sample, seed)
    progress(f"{dataset.name}: {len(dataset.interactions):,} interactions, "
             f"{len(dataset.catalogue):,} items; evaluating {len(points):,} of them, "
             f"{len(variant_names(half_lives))} rankings each")
    result = run_replay(dataset.catalogue, dataset.interactions, half_lives_s=half_lives,
                        popularity_half_life_s=(popularity_half_life_days * 86_400
                                                if popularity_half_life_days else None),
                        k=k, min_history=min_history, points=points,
                        max_recent=settings.profiles_recent_items, progress=progress)
    return result, dataset

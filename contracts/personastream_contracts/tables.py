"""The Cassandra tables: one registry of their columns, keys, layout versions and writers.

Everything that touches a table takes it from here: the DDL and migrations
(:mod:`personastream_contracts.cassandra` creates and migrates), the jobs (which columns each
writes, in which order, and their Flink types), the API (what it reads and erases) and the
benchmarks. A column's ``since`` is the table's layout version that added it: version 1 is
created by the DDL, each later version is a migration adding its columns.

>>> TABLES["item_trends"].layout_version, TABLES["item_trends"].columns_for("score_trends")[-4:]
(3, ('shadow_version', 'shadow_score', 'shadow_flagged', 'scored_by'))
>>> TABLES["profiles"].columns_for("assign_segments")
('user_key', 'segment_id', 'segment_distance', 'segment_model')
>>> [t.name for t in user_tables()]
['events_by_user', 'profiles', 'live_profiles', 'orders_by_user', 'offers_by_user']
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from personastream_contracts.captures import CUSTOMERS

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")
CQL_TYPES = frozenset({"text", "int", "bigint", "double", "boolean", "timestamp", "list<text>",
                       "map<text, double>", "map<text, text>"})
LATEST_TREND_BUCKET = "all"
"""The one partition of ``item_latest_trend``: the whole catalogue's current trends, read in
one query."""


@dataclass(frozen=True)
class Column:
    name: str
    cql_type: str
    since: int = 1  # the layout version that added it


@dataclass(frozen=True)
class Migration:
    """Layout ``version`` of ``table``: the columns it adds."""

    table: str
    version: int
    description: str
    columns: tuple[Column, ...]


@dataclass(frozen=True)
class Table:
    """A table: ``partition_key`` and ``clustering`` (``(column, "ASC"|"DESC")``) columns,
    ``writers`` (job -> the columns it writes; default: one writer of every column), and what
    each layout version after the first added (``migrations``: version -> description)."""

    name: str
    description: str
    columns: tuple[Column, ...]
    partition_key: tuple[str, ...]
    clustering: tuple[tuple[str, str], ...] = ()
    writers: dict[str, tuple[str, ...] | None] = field(default_factory=dict)
    migrations: dict[int, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns]
        for name in [self.name, *names]:
            if not _IDENTIFIER.match(name):
                raise ValueError(f"table {self.name}: {name!r} is not a lower-case identifier")
        bad = [f"{c.name} {c.cql_type}" for c in self.columns if c.cql_type not in CQL_TYPES]
        missing = [k for k in self.key if k not in names]
        unknown = {w: sorted(set(cols) - set(names)) for w, cols in self.writers.items()
                   if cols is not None and set(cols) - set(names)}
        versions = {c.since for c in self.columns} - {1}
        if bad or missing or unknown or len(set(names)) != len(names) \
                or versions != set(self.migrations):
            raise ValueError(f"table {self.name}: types {bad}, unknown key columns {missing}, "
                             f"unknown writer columns {unknown}, duplicate columns, or layout "
                             f"versions {sorted(versions)} without a migration description")

    @property
    def key(self) -> tuple[str, ...]:
        """The primary key's columns."""
        return (*self.partition_key, *(c for c, _ in self.clustering))

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def layout_version(self) -> int:
        """The newest layout version (1 when the table never migrated)."""
        return max(c.since for c in self.columns)

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    def columns_for(self, writer: str) -> tuple[str, ...]:
        """The columns ``writer`` writes, in table order (its rows carry exactly these)."""
        if writer not in self.writers:
            raise KeyError(f"{writer} does not write {self.name}; its writers: "
                           f"{', '.join(self.writers)}")
        wanted = self.writers[writer]
        if wanted is None:
            return self.column_names
        return tuple(c for c in self.column_names if c in self.key or c in wanted)

    def create_statement(self, keyspace: str) -> str:
        """``CREATE TABLE IF NOT EXISTS`` of layout version 1."""
        lines = [f"    {c.name} {c.cql_type}" for c in self.columns if c.since == 1]
        partition = f"({', '.join(self.partition_key)})"
        if self.clustering:
            key = f"{partition}, {', '.join(c for c, _ in self.clustering)}"
        else:
            key = partition[1:-1] if len(self.partition_key) == 1 else partition
        lines.append(f"    PRIMARY KEY ({key})")
        text = f"CREATE TABLE IF NOT EXISTS {keyspace}.{self.name} (\n" + ",\n".join(lines) + "\n)"
        if self.clustering:
            order = ", ".join(f"{c} {d}" for c, d in self.clustering)
            text += f" WITH CLUSTERING ORDER BY ({order})"
        return text

    def layout_migrations(self) -> list[Migration]:
        """The migrations to the layout versions after 1, oldest first."""
        return [Migration(self.name, v, self.migrations[v],
                          tuple(c for c in self.columns if c.since == v))
                for v in sorted(self.migrations)]


def _columns(spec: str, since: int = 1) -> tuple[Column, ...]:
    """Columns from ``"name type, name type"`` (types may hold ', ' inside ``<>``)."""
    out, depth, start = [], 0, 0
    for i, ch in enumerate(spec + ","):
        depth += {"<": 1, ">": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            name, cql_type = spec[start:i].strip().split(" ", 1)
            out.append(Column(name, cql_type, since))
            start = i + 1
    return tuple(out)


EVENTS_BY_USER = Table(
    "events_by_user",
    "Enriched events as they landed from Kafka, newest first per identity (user id, else "
    "anonymous id); received_at is the ingest flow's receipt time. The fields a storefront "
    "needs are typed columns; the full event stays in Kafka.",
    _columns("user_key text, received_at timestamp, event_id text, event_type text, "
             "item_id text, category text, brand text, price double, query text, page_url text, "
             "country text, device_type text, landed_at timestamp"),
    partition_key=("user_key",), clustering=(("received_at", "DESC"), ("event_id", "ASC")),
    writers={"land_events": None})

ITEM_TRENDS = Table(
    "item_trends",
    "Views of an item per window, as scored by the trends job's detector (newest first); the "
    "personalization API promotes flagged items. model/model_version say which model version "
    "is live (n_learned: the windows its detector of the item learned), scored_by whose "
    "detector scored the window: the live version's, or its stand-in's while that detector is "
    "still learning (null in rows written before layout 3); the shadow columns, the shadow "
    "version's score on the same window.",
    _columns("item_id text, window_start timestamp, window_end timestamp, views bigint, "
             "score double, flagged boolean, model text, model_version text, n_learned bigint")
    + _columns("shadow_version text, shadow_score double, shadow_flagged boolean", since=2)
    + _columns("scored_by text", since=3),
    partition_key=("item_id",), clustering=(("window_start", "DESC"),),
    writers={"score_trends": None},
    migrations={2: "score of the shadow model version beside the live one",
                3: "the model version whose detector scored the window (the live version's "
                   "stand-in while its detector learns)"})

PROFILES = Table(
    "profiles",
    "Unified customer profiles (profile_version says which layout version wrote the row; "
    "counts over the last hour and day are as of last_seen), upserted by build_profiles; the "
    "segment columns by assign_segments; the crm columns and marketing_consent (the "
    "customer's account in the operational database: tier, birth year, gender, country, "
    "consent; crm_record, the account's whole row as JSON) by merge_customers, from change "
    "data capture (a customer known only there has those columns alone).",
    _columns("user_key text, profile_version int, first_seen timestamp, last_seen timestamp, "
             "views_1h int, carts_1h int, purchases_1h int, spend_1h double, views_1d int, "
             "carts_1d int, purchases_1d int, spend_1d double, sessions int, "
             "session_start timestamp, session_events int, session_duration_s double, "
             "recent_items list<text>, category_affinity map<text, double>, "
             "brand_affinity map<text, double>, attributes map<text, text>, "
             "updated_at timestamp")
    + _columns("segment_id int, segment_distance double, segment_model text", since=2)
    + _columns("crm_tier text, crm_birth_year int, crm_gender text, crm_country text, "
               "marketing_consent boolean, consent_updated_at timestamp, "
               "crm_updated_at timestamp", since=3)
    + _columns("crm_record text", since=4),
    partition_key=("user_key",),
    writers={"build_profiles": ("profile_version", "first_seen", "last_seen", "views_1h",
                                "carts_1h", "purchases_1h", "spend_1h", "views_1d", "carts_1d",
                                "purchases_1d", "spend_1d", "sessions", "session_start",
                                "session_events", "session_duration_s", "recent_items",
                                "category_affinity", "brand_affinity", "attributes",
                                "updated_at"),
             "assign_segments": ("segment_id", "segment_distance", "segment_model"),
             # the account's typed columns (its contract), then its whole record
             "merge_customers": (*(c.target for c in CUSTOMERS.columns), "crm_record")},
    migrations={2: "customer segment from the segments job",
                3: "static attributes of the customer's account in the operational database "
                   "(merge_customers)",
                4: "the customer's account record as JSON, every column of it, those added to "
                   "the operational table since included (merge_customers)"})

LIVE_PROFILES = Table(
    "live_profiles",
    "A customer's live profile, upserted by live_activity on every event (within about a second "
    "of it reaching Kafka): recent and purchased items newest first, category and brand "
    "affinities decayed to updated_at (the newest event time, client time capped by receipt), "
    "how many events were folded, and when the job wrote the row (wall clock).",
    _columns("user_key text, recent_items list<text>, category_affinity map<text, double>, "
             "brand_affinity map<text, double>, purchased list<text>, updated_at timestamp, "
             "n_events bigint, written_at timestamp"),
    partition_key=("user_key",), writers={"live_activity": None})

ORDERS_BY_USER = Table(
    "orders_by_user",
    "A customer's orders in the operational database (purchase history), one row per order, "
    "upserted by merge_customers on every captured change of the order; updated_at is the "
    "order's own last change there.",
    _columns("user_key text, order_id text, status text, n_items int, total double, "
             "currency text, placed_at timestamp, updated_at timestamp"),
    partition_key=("user_key",), clustering=(("order_id", "ASC"),),
    writers={"merge_customers": None})

ITEM_NEIGHBOURS = Table(
    "item_neighbours",
    "Per item, upserted by live_activity: the items the same customers viewed (or carted) just "
    "before it, with their co-view weights (the strongest 50; each pair once, on its later "
    "item's row: recommend.co_view_neighbours reads them both ways), and its recent views "
    "decayed with the affinities' half-life to updated_at (the newest event time that touched "
    "the row).",
    _columns("item_id text, neighbours map<text, double>, views double, updated_at timestamp"),
    partition_key=("item_id",), writers={"live_activity": None})

ITEM_LATEST_TREND = Table(
    "item_latest_trend",
    "Each item's latest scored window, upserted by score_trends in partition bucket "
    f"'{LATEST_TREND_BUCKET}': the whole catalogue's current trends in one partition, read by "
    "the personalization API in one query; model_version is the live version, scored_by whose "
    "detector scored the window (as in item_trends).",
    _columns("bucket text, item_id text, window_start timestamp, views bigint, score double, "
             "flagged boolean, model_version text")
    + _columns("scored_by text", since=2),
    partition_key=("bucket",), clustering=(("item_id", "ASC"),),
    writers={"score_trends": None},
    migrations={2: "the model version whose detector scored the window (as in item_trends)"})

OFFERS_BY_USER = Table(
    "offers_by_user",
    "Offers of promotions to a customer, upserted by evaluate_promotions within about a second "
    "of the event (or abandoned-cart timer) that triggered them: offer_id is deterministic "
    "(promotion version, customer, trigger), so a replay rewrites the same row; action holds the "
    "rule's action (kind, text, link, code, percent_off, target, boost) as text; why the "
    "evaluator's reasons, one line per check; expires_at when the API stops showing it; "
    "trigger_received_at the triggering event's ingest time (null for a timer).",
    _columns("user_key text, offer_id text, promotion text, promotion_version text, "
             "priority int, action map<text, text>, item_id text, why text, "
             "issued_at timestamp, expires_at timestamp, trigger_event_id text, "
             "trigger_received_at timestamp"),
    partition_key=("user_key",), clustering=(("offer_id", "ASC"),),
    writers={"evaluate_promotions": None})

EXPERIMENT_RESULTS = Table(
    "experiment_results",
    "Per experiment and variant, upserted by attribute_experiments as events arrive: exposed "
    "customers (an impression under a recommendations experiment, an offer made or held out "
    "under a promotions experiment; the variant is the assignment hash's, "
    "personastream_models.experiments), their impressions and clicks, and their add_to_carts, "
    "purchases and revenue after their first exposure (customers: how many did each at least "
    "once); updated_at is the job's wall clock when it wrote the row.",
    _columns("experiment text, variant text, exposed_customers bigint, impressions bigint, "
             "clicks bigint, clicking_customers bigint, add_to_carts bigint, "
             "carting_customers bigint, purchases bigint, converted_customers bigint, "
             "revenue double, updated_at timestamp"),
    partition_key=("experiment",), clustering=(("variant", "ASC"),),
    writers={"attribute_experiments": None})

SCHEMA_MIGRATIONS = Table(
    "schema_migrations",
    "The layout migrations applied to this keyspace (personastream_contracts.cassandra.migrate).",
    _columns("table_name text, version int, description text, applied_at timestamp"),
    partition_key=("table_name",), clustering=(("version", "ASC"),))

TABLES = {t.name: t for t in (EVENTS_BY_USER, ITEM_TRENDS, PROFILES, LIVE_PROFILES,
                              ITEM_NEIGHBOURS, ITEM_LATEST_TREND, SCHEMA_MIGRATIONS,
                              ORDERS_BY_USER, OFFERS_BY_USER, EXPERIMENT_RESULTS)}
"""Every table, in creation order."""


def user_tables() -> list[Table]:
    """The tables holding rows about one customer (partitioned by ``user_key``): what an erase
    deletes."""
    return [t for t in TABLES.values() if t.partition_key == ("user_key",)]


class LayoutError(ValueError):
    """A row written under a layout this reader does not know."""


def profile_from_row(row: dict) -> dict:
    """A profile dict from a ``profiles`` row of any layout up to the current one: columns a
    row's older layout lacks read as None; the account record (``crm_record``) as a dict.

    >>> profile_from_row({"user_key": "u1", "profile_version": 1, "views_1h": 2})["segment_id"]
    >>> profile_from_row({"user_key": "u1", "crm_record": '{"loyalty_points": 120}'})["crm_record"]
    {'loyalty_points': 120}
    >>> profile_from_row({"user_key": "u1", "profile_version": 9})
    Traceback (most recent call last):
    ...
    personastream_contracts.tables.LayoutError: profile of u1 has layout version 9, newer than this reader (4); upgrade personastream
    """
    version = row.get("profile_version") or 1
    if version > PROFILES.layout_version:
        raise LayoutError(f"profile of {row.get('user_key')} has layout version {version}, newer "
                          f"than this reader ({PROFILES.layout_version}); upgrade personastream")
    profile = {**{c: None for c in PROFILES.column_names}, **row}
    if isinstance(profile["crm_record"], str):
        profile["crm_record"] = json.loads(profile["crm_record"])
    return profile

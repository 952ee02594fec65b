"""The shop's operational database (PostgreSQL): the customers and orders that change data
capture streams into Kafka (:mod:`personastream_stack.cdc`). The one way to reach it, its
tables (``sql/operational.sql``) and a seeded sample of customers and orders.

A sample is a pure function of its seed:

>>> customers = sample_customers(3, seed=7)
>>> [c["account_id"] for c in customers]
['user-0', 'user-1', 'user-2']
>>> sample_customers(3, seed=7) == customers, sample_customers(3, seed=8) == customers
(True, False)
>>> orders = sample_orders(customers, 5, seed=7)
>>> len(orders), {o["account_id"] for o in orders} <= {c["account_id"] for c in customers}
(5, True)
>>> orders[0]["order_id"] == sample_orders(customers, 5, seed=7)[0]["order_id"]
True
"""
from __future__ import annotations

import datetime as dt
import logging
import random
import re
import uuid
from decimal import Decimal
from importlib.resources import files

from personastream_contracts.errors import SettingsError

log = logging.getLogger(__name__)

#: The captured tables, in the order their rows are seeded (orders refer to customers).
TABLES = ("customers", "orders")
TIERS = {"standard": 0.6, "silver": 0.25, "gold": 0.1, "platinum": 0.05}
GENDERS = ("female", "male", "other", None)
COUNTRIES = ("DE", "FR", "GB", "US", "ES", "IT", "NL", "PL", "SE", "BR")
ORDER_STATUSES = ("placed", "paid", "shipped", "delivered", "cancelled", "returned")
CONSENT_RATE = 0.6
SCHEMA_FILE = "operational.sql"
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
#: The sample's customers take the user ids of the sample traffic (``user-<n>``).
ACCOUNT_PREFIX = "user-"
_ORDER_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "personastream:operational:orders")


def identifier(name: str, setting: str) -> str:
    """A PostgreSQL name taken from a setting, checked to be a plain lower-case identifier.

    >>> identifier("bench_12ab", "postgres_schema")
    'bench_12ab'
    >>> identifier("Bench-1", "postgres_schema")
    Traceback (most recent call last):
    ...
    personastream_contracts.errors.SettingsError: postgres_schema 'Bench-1' must be a \
lower-case identifier (letters, digits, _; at most 63)
    """
    if not _IDENTIFIER.match(name):
        raise SettingsError(f"{setting} {name!r} must be a lower-case identifier (letters, "
                            "digits, _; at most 63)")
    return name


def connect(settings, database: str | None = None, autocommit: bool = False,
            timeout_s: float = 10):
    """A psycopg connection to ``postgres_database`` (or ``database``) whose search_path is
    ``postgres_schema``; close it (``with``) when done."""
    import psycopg

    params = {"host": settings.postgres_host, "port": settings.postgres_port,
              "dbname": database or settings.postgres_database, "user": settings.postgres_user,
              "connect_timeout": max(1, round(timeout_s)), "application_name": "personastream",
              "options": f"-c search_path={identifier(settings.postgres_schema, 'postgres_schema')}"}
    if settings.postgres_password:
        params["password"] = settings.postgres_password
    return psycopg.connect(autocommit=autocommit, **params)


def schema_statements() -> list[str]:
    """The statements of ``sql/operational.sql`` (comments dropped), in order.

    >>> [s.split("(")[0].strip() for s in schema_statements()]
    ['CREATE TABLE IF NOT EXISTS customers', 'CREATE TABLE IF NOT EXISTS orders', \
'CREATE INDEX IF NOT EXISTS orders_by_account ON orders']
    """
    text = (files("personastream_contracts") / "sql" / SCHEMA_FILE).read_text()
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    return [s.strip() for s in body.split(";") if s.strip()]


def ensure_schema(settings) -> int:
    """Create ``postgres_schema`` and its tables unless they exist; return the statements run."""
    from psycopg import sql

    statements = schema_statements()
    with connect(settings) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
            sql.Identifier(identifier(settings.postgres_schema, "postgres_schema"))))
        for statement in statements:
            conn.execute(statement)
    log.info("operational schema %s ready (%d statements)", settings.postgres_schema,
             len(statements))
    return len(statements) + 1


def sample_customers(n_customers: int, seed: int) -> list[dict]:
    """``n_customers`` customers ``user-0`` ... (the sample traffic's user ids), their tier,
    demographics, country and marketing consent drawn from ``seed``."""
    rng = random.Random(seed)
    tiers, weights = zip(*TIERS.items())
    since = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    customers = []
    for n in range(n_customers):
        consent = rng.random() < CONSENT_RATE
        created = since + dt.timedelta(minutes=rng.randrange(60 * 24 * 365))
        customers.append({
            "account_id": f"{ACCOUNT_PREFIX}{n}", "tier": rng.choices(tiers, weights)[0],
            "birth_year": rng.randint(1950, 2006), "gender": rng.choice(GENDERS),
            "country": rng.choice(COUNTRIES), "marketing_consent": consent,
            "consent_updated_at": created if consent else None, "created_at": created})
    return customers


def sample_orders(customers: list[dict], n_orders: int, seed: int) -> list[dict]:
    """``n_orders`` orders of ``customers``, each placed after its customer's account was
    created; ids are UUIDs derived from (seed, n), so seeding twice inserts nothing new."""
    rng = random.Random(seed)
    orders = []
    for n in range(n_orders):
        customer = rng.choice(customers)
        n_items = rng.randint(1, 5)
        orders.append({
            "order_id": uuid.uuid5(_ORDER_NAMESPACE, f"{seed}:{n}"),
            "account_id": customer["account_id"], "status": rng.choice(ORDER_STATUSES),
            "n_items": n_items,
            "total": Decimal(n_items * rng.randint(500, 20_000)) / 100,
            "placed_at": customer["created_at"] + dt.timedelta(hours=rng.randrange(1, 24 * 90))})
    return orders


def seed(settings, n_customers: int = 20, n_orders: int = 50, seed: int = 42) -> dict[str, int]:
    """Insert the sample's customers and orders that are missing (existing rows are left as
    they are); return the rows inserted per table."""
    customers = sample_customers(n_customers, seed)
    orders = sample_orders(customers, n_orders, seed) if customers else []
    inserted = {}
    with connect(settings) as conn, conn.cursor() as cur:
        for table, rows in (("customers", customers), ("orders", orders)):
            inserted[table] = 0
            for row in rows:
                cur.execute(_insert(table, list(row)), row)
                inserted[table] += cur.rowcount
    log.info("seeded %s", inserted)
    return inserted


def _insert(table: str, columns: list[str]):
    """``INSERT ... ON CONFLICT DO NOTHING`` of named parameters ``columns``."""
    from psycopg import sql

    return sql.SQL("INSERT INTO {} ({}) VALUES ({}) ON CONFLICT DO NOTHING").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns)),
        sql.SQL(", ").join(map(sql.Placeholder, columns)))

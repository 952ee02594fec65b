"""The ``merge_customers`` job's whole topology in a local PyFlink environment, no servers:
change records in Debezium's format (as ``personastream_stack.cdc``'s connector writes them)
from files, every write captured (``personastream_flink.testing.FileIO``)."""
from __future__ import annotations

import json

import pytest

from personastream_contracts.erasures import erased_key, erasure_value
from personastream_contracts.tables import TABLES, user_tables
from personastream_flink import merge_customers
from personastream_flink.testing import FileIO, local_environment

T0_US = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z


def change(op: str, before: dict | None, after: dict | None, n: int) -> dict:
    """A Debezium envelope (JSON, no schemas) of change ``n``, committed ``n`` ms after T0."""
    ts_us = T0_US + n * 1000
    return {"before": before, "after": after, "op": op, "ts_ms": ts_us // 1000 + 5,
            "source": {"version": "3.6.1.Final", "connector": "postgresql", "ts_ms": ts_us // 1000,
                       "ts_us": ts_us, "snapshot": "true" if op == "r" else "false",
                       "table": "customers", "lsn": 1000 + n}}


def customer(account_id: str, consent: bool, tier: str = "gold") -> dict:
    return {"account_id": account_id, "tier": tier, "birth_year": 1980, "gender": None,
            "country": "DE", "marketing_consent": consent,
            "consent_updated_at": "2026-01-01T00:00:00.000000Z" if consent else None,
            "created_at": "2025-06-01T10:00:00.000000Z",
            "updated_at": "2025-12-31T23:59:59.123456Z"}


def order(order_id: str, account_id: str, status: str) -> dict:
    return {"order_id": order_id, "account_id": account_id, "status": status, "n_items": 2,
            "total": "95.12", "currency": "EUR", "placed_at": "2025-12-01T08:00:00.000000Z",
            "updated_at": "2025-12-02T08:00:00.000000Z"}


@pytest.fixture(scope="module")
def merged(tmp_path_factory):
    """u-1 read in the snapshot, then withdraws consent; u-2 inserted then deleted (a delete
    carries only the key, then a tombstone, which the format skips); orders of both."""
    customers = [change("r", None, customer("u-1", True), 0),
                 change("c", None, customer("u-2", True, "silver"), 1),
                 change("u", None, customer("u-1", False), 2),
                 change("d", {"account_id": "u-2"}, None, 3),
                 # a column added to the table while the job runs
                 change("c", None, {**customer("u-3", True), "loyalty_points": 120}, 5),
                 # bad changes: a type changed, a value out of the contract, a required one missing
                 change("u", None, {**customer("u-1", True), "birth_year": "unknown"}, 6),
                 change("u", None, customer("u-3", True, "diamond"), 7),
                 change("u", None, {**customer("u-3", True), "marketing_consent": None}, 8)]
    orders = [change("r", None, order("o-1", "u-1", "placed"), 0),
              change("u", None, order("o-1", "u-1", "shipped"), 4),
              change("c", None, order("o-2", "u-2", "paid"), 1),
              change("d", {"order_id": "o-2"}, None, 3),
              change("c", None, {**order("o-3", "u-1", "paid"), "n_items": 0}, 9)]
    io = FileIO(tmp_path_factory.mktemp("merge_customers"), events=[],
                changes={"cdc.customers": customers, "cdc.orders": orders})
    env = local_environment()
    args = ["--customers-topic", "cdc.customers", "--orders-topic", "cdc.orders",
            "--live-profiles-topic", "profiles.live", "--offers-topic", "offers",
            "--deadletter-topic", "events.deadletter"]
    merge_customers.build(env, merge_customers.parse_args(io.arguments(
        merge_customers.JOB_NAME, *args)), io)
    env.execute(merge_customers.JOB_NAME)
    return io


def test_customer_changes_become_the_profiles_static_attributes(merged):
    rows = merged.rows("cassandra_profiles_attributes")
    assert [(r["user_key"], r["marketing_consent"]) for r in rows] == [
        ("u-1", True), ("u-2", True), ("u-1", False), ("u-3", True)]
    assert list(rows[0]) == [*TABLES["profiles"].columns_for("merge_customers"), "written_at_us"]
    assert rows[0]["crm_tier"] == "gold" and rows[0]["crm_country"] == "DE"
    assert rows[0]["crm_gender"] is None and rows[0]["crm_birth_year"] == 1980
    assert rows[0]["crm_updated_at"].startswith("2025-12-31T23:59:59.123")
    assert rows[2]["consent_updated_at"] is None
    # written at the change's commit time: the later change wins whatever the sinks' order
    assert [r["written_at_us"] for r in rows] == [T0_US, T0_US + 1000, T0_US + 2000,
                                                  T0_US + 5000]


def test_the_account_record_carries_every_column_added_ones_included(merged):
    records = {r["user_key"]: json.loads(r["crm_record"])
               for r in merged.rows("cassandra_profiles_attributes")}
    assert records["u-3"]["loyalty_points"] == "120"  # values as text
    assert records["u-1"] == {k: None if v is None else str(v).lower() if isinstance(v, bool)
                              else str(v) for k, v in customer("u-1", False).items()}


def test_changes_that_break_the_contract_are_dead_lettered_naming_the_column(merged):
    letters = [json.loads(r) for r in merged.rows("events.deadletter")]
    [order_letter] = [d for d in letters if d["reason"]["message"].startswith("orders")]
    assert order_letter["reason"]["message"] == "orders change: '0' is below the minimum 1"
    letters.remove(order_letter)
    assert [(d["reason"]["code"], d["reason"]["field"], d["reason"]["rule"]) for d in letters] \
        == [("invalid_change", "/after/birth_year", "type"), ("invalid_change", "/after/tier", "enum"),
            ("invalid_change", "/after/marketing_consent", "required")]
    assert letters[0]["reason"]["message"] == "customers change: 'unknown' is not an integer"
    assert letters[1]["reason"]["message"] == \
        "customers change: 'diamond' is not one of standard, silver, gold, platinum"
    assert json.loads(letters[0]["payload"])["after"]["birth_year"] == "unknown"
    assert letters[0]["received_at"] == "2026-01-01T00:00:00.006Z"


def test_orders_become_the_purchase_history(merged):
    rows = merged.rows("cassandra_orders_by_user")
    assert [(r["user_key"], r["order_id"], r["status"]) for r in rows] == [
        ("u-1", "o-1", "placed"), ("u-1", "o-1", "shipped"), ("u-2", "o-2", "paid")]
    assert rows[0]["total"] == 95.12 and rows[0]["n_items"] == 2
    assert list(rows[0]) == [*TABLES["orders_by_user"].column_names, "written_at_us"]


def test_a_deleted_customer_is_erased_everywhere(merged):
    for table in user_tables():
        assert merged.rows(f"cassandra_erase_{table.name}") == [{"user_key": "u-2"}], table.name
    [request] = merged.rows("users.erasures")
    assert request["key"] == "u-2" and erased_key(request["value"]) == "u-2"
    assert json.loads(request["value"]) == json.loads(erasure_value("u-2", "cdc", T0_US // 1000 + 3))
    assert merged.rows("profiles.live") == merged.rows("offers") == [{"key": "u-2", "value": None}]


def test_statements_bind_the_rows_fields_in_order():
    statement = merge_customers.upsert_statement("ks", merge_customers.ATTRIBUTES)
    assert statement.count("?") == len(merge_customers.ATTRIBUTES.columns) + 1
    assert statement.endswith("USING TIMESTAMP ?")
    assert set(merge_customers.delete_statements("ks")) == {t.name for t in user_tables()}

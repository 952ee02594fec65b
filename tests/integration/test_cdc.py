"""Change data capture on the real servers: PostgreSQL (``stack up postgres``) -> the Debezium
connector on Kafka Connect (``stack up connect``) -> Kafka. Each test deploys a connector of
its own (its schema, replication slot, publication and topics named after the test's id) and
removes all of it afterwards."""
from __future__ import annotations

import collections
import json
import os
import signal
import threading
import time
import uuid

import pytest
from confluent_kafka import KafkaException
from psycopg import sql

from personastream_contracts import operational
from personastream_contracts.settings import renamed
from personastream_stack import cdc
from personastream_stack.connect import Connect
from personastream_stack.kafka import TopicReadError, admin_client, read_to_end
from personastream_stack.lifecycle import COMPONENTS

pytestmark = pytest.mark.integration

CAPTURE_TIMEOUT_S = 120
POLL_S = 0.5
#: Orders inserted before the worker restarts, and again once it is back.
WRITES_AROUND_RESTART = 50


@pytest.fixture(scope="module")
def cdc_servers(settings):
    """Fail (never skip) unless Kafka, PostgreSQL and Connect answer."""
    broken = {}
    for name in ("kafka", "postgres", "connect"):
        health = COMPONENTS[name](settings).health()
        if not health.healthy:
            broken[name] = health.detail
    assert not broken, f"run `personastream stack up kafka postgres connect` first: {broken}"


@pytest.fixture
def capture(settings, cdc_servers):
    """Settings of this test's own schema, connector and topics; all removed afterwards."""
    run = renamed(settings, f"cdc_{uuid.uuid4().hex[:8]}")
    operational.ensure_schema(run)
    yield run
    cdc.remove(run)
    with operational.connect(run, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
            sql.Identifier(run.postgres_schema)))
    admin = admin_client(run)
    for future in admin.delete_topics(cdc.topics(run), operation_timeout=30).values():
        future.result()


def changes(settings, topic: str) -> list[tuple[dict, dict | None]]:
    """Every committed (key, value) of a CDC topic so far; value None: a tombstone."""
    out = []
    for batch in read_to_end(settings, topic):
        for msg in batch:
            value = msg.value()
            out.append((json.loads(msg.key()), None if value is None else json.loads(value)))
    return out


def wait_for_changes(settings, topic: str, done, what: str) -> list:
    """Poll ``topic`` until ``done(changes)`` holds; fail naming ``what`` after the timeout."""
    deadline = time.monotonic() + CAPTURE_TIMEOUT_S
    while True:
        try:
            found = changes(settings, topic)
        except (KafkaException, TopicReadError):  # a topic just created has no leader yet
            found = []
        if done(found):
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not in {topic} after {CAPTURE_TIMEOUT_S}s; "
                        f"connector: {cdc.status(settings)}; {len(found)} records there")
        time.sleep(POLL_S)


def ops(found, key_field: str, key: str) -> list[str]:
    """The ops of one row's changes in order ('-' for a tombstone)."""
    return [value["op"] if value else "-" for k, value in found if k[key_field] == key]


def test_snapshot_then_inserts_updates_and_deletes_stream_in_order(capture):
    operational.seed(capture, n_customers=3, n_orders=4, seed=1)
    assert cdc.deploy(capture).action == "created"
    assert cdc.deploy(capture).action == "unchanged"
    wait_for_changes(capture, capture.topic_cdc_customers,
                     lambda f: sum(v["op"] == "r" for _, v in f) == 3, "3 snapshot customers")
    wait_for_changes(capture, capture.topic_cdc_orders,
                     lambda f: sum(v["op"] == "r" for _, v in f) == 4, "4 snapshot orders")

    with operational.connect(capture, autocommit=True) as conn:  # a transaction each
        conn.execute("INSERT INTO customers (account_id, tier, country) "
                     "VALUES ('user-100', 'standard', 'DE')")
        order_id = conn.execute("INSERT INTO orders (account_id, n_items, total) "
                                "VALUES ('user-100', 2, 19.90) RETURNING order_id::text"
                                ).fetchone()[0]
        conn.execute("UPDATE customers SET tier = 'gold', marketing_consent = true, "
                     "consent_updated_at = now() WHERE account_id = 'user-100'")
        conn.execute("DELETE FROM customers WHERE account_id = 'user-100'")  # cascades

    customers = wait_for_changes(capture, capture.topic_cdc_customers,
                                 lambda f: "-" in ops(f, "account_id", "user-100"),
                                 "user-100's delete")
    assert ops(customers, "account_id", "user-100") == ["c", "u", "d", "-"]
    created, updated, deleted = [v for k, v in customers if k["account_id"] == "user-100"][:3]
    assert created["after"]["country"] == "DE" and created["before"] is None
    assert (updated["after"]["tier"], updated["after"]["marketing_consent"]) == ("gold", True)
    assert deleted["after"] is None and deleted["before"]["account_id"] == "user-100"
    assert deleted["source"]["schema"] == capture.postgres_schema

    orders = wait_for_changes(capture, capture.topic_cdc_orders,
                              lambda f: "-" in ops(f, "order_id", order_id), "the order's delete")
    assert ops(orders, "order_id", order_id) == ["c", "d", "-"]
    placed = next(v for k, v in orders if k["order_id"] == order_id)
    assert placed["after"]["total"] == "19.90"  # decimal as a string, not base64


class OrderWriter(threading.Thread):
    """Inserts orders one transaction each until stopped; ``committed`` holds their ids."""

    def __init__(self, settings, accounts: list[str]):
        super().__init__(daemon=True)
        self.settings, self.accounts = settings, accounts
        self.committed: list[str] = []
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with operational.connect(self.settings, autocommit=True) as conn:
                while not self.stop.is_set():
                    account = self.accounts[len(self.committed) % len(self.accounts)]
                    self.committed.append(conn.execute(
                        "INSERT INTO orders (account_id, n_items, total) VALUES (%s, 1, 5) "
                        "RETURNING order_id::text", (account,)).fetchone()[0])
                    time.sleep(0.01)
        except BaseException as err:  # noqa: BLE001 - reported by the test
            self.error = err

    def wait_for(self, n_orders: int, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while len(self.committed) < n_orders:
            assert self.error is None and self.is_alive(), f"writer stopped: {self.error}"
            assert time.monotonic() < deadline, f"{n_orders} orders not written in {timeout_s}s"
            time.sleep(0.05)


def restart_worker(settings, how: str) -> None:
    """Restart the Connect worker: stopped and started again, or killed (supervisord starts
    it again by itself); return once it answers."""
    worker = Connect(settings)
    program = worker.daemons[0]
    if how == "stop":
        worker.stop()
        worker.start()
    else:
        killed = program.running_pid()
        os.kill(killed, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while program.running_pid() in (None, killed):
            assert time.monotonic() < deadline, "supervisord did not restart the worker"
            time.sleep(POLL_S)
    worker.wait_healthy()


@pytest.mark.parametrize("how", ["stop", "kill"])
def test_a_restarted_worker_neither_loses_nor_duplicates_a_change(capture, how):
    operational.seed(capture, n_customers=5, n_orders=0, seed=2)
    cdc.deploy(capture)
    wait_for_changes(capture, capture.topic_cdc_customers,
                     lambda f: sum(v["op"] == "r" for _, v in f) == 5, "5 snapshot customers")
    writer = OrderWriter(capture, [f"user-{n}" for n in range(5)])
    writer.start()
    writer.wait_for(WRITES_AROUND_RESTART)  # changes streaming when the worker goes
    restart_worker(capture, how)
    writer.wait_for(len(writer.committed) + WRITES_AROUND_RESTART)  # and when it is back
    writer.stop.set()
    writer.join()
    assert writer.error is None, writer.error
    committed = set(writer.committed)

    orders = wait_for_changes(
        capture, capture.topic_cdc_orders,
        lambda f: committed <= {k["order_id"] for k, v in f if v and v["op"] == "c"},
        f"all {len(committed)} committed orders")
    inserts = collections.Counter(k["order_id"] for k, v in orders if v and v["op"] == "c")
    assert set(inserts) == committed  # none lost, none invented
    assert [o for o, n in inserts.items() if n > 1] == []  # none duplicated
    customers = changes(capture, capture.topic_cdc_customers)
    assert sum(v["op"] == "r" for _, v in customers) == 5  # no second snapshot
    status = cdc.status(capture)
    assert (status["state"], [t["state"] for t in status["tasks"]]) == ("RUNNING", ["RUNNING"])

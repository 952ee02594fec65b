"""A customer's live profile across the upgrade to the JSON state form, on the real stack:
``before`` posts views through NiFi to the running live_activity (the code before), waits for
the row and for a checkpoint completed after it; ``after`` (once the TaskManager runs the new
code and the job was restored from that checkpoint) posts one more view and waits until the
row counts it on top of the profile it read (run it twice: the second reads the new form).

usage: python upgrade_check.py before|after USER   (from the repository root, the stack up,
live_activity submitted)
"""
from __future__ import annotations

import sys
import time
import uuid

from personastream_bench.traffic import post_events
from personastream_contracts.cassandra import keyspace, session
from personastream_contracts.formats import iso_ms
from personastream_contracts.settings import resolve
from personastream_stack.flink import rest_get

ITEMS = ["shoe-1", "shoe-2", "shoe-3", "shoe-4"]


def views(user: str, items: list[str]) -> list[dict]:
    """Product views of ``items`` by ``user``, now (the form of tests/integration's events)."""
    out = []
    for item in items:
        out.append({"event_id": str(uuid.uuid4()), "event_type": "product_view",
                    "schema_version": "1-0-0", "user_id": user,
                    "client_ts": iso_ms(int(time.time() * 1000)),
                    "item_id": item, "category": "shoes", "brand": "acme"})
        time.sleep(0.05)
    return out


def wait_row(settings, user: str, n_events: int, timeout_s: float = 180):
    with session(settings) as cql:
        query = cql.prepare(f"SELECT * FROM {keyspace(settings)}.live_profiles "
                            "WHERE user_key = ?")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            row = cql.execute(query, [user]).one()
            if row is not None and row.n_events >= n_events:
                return row
            time.sleep(0.5)
    sys.exit(f"{user}: no row with {n_events} events within {timeout_s:.0f}s")


def checkpoint_after(settings, since_ms: int, timeout_s: float = 120) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for job in rest_get(settings, "/jobs/overview")["jobs"]:
            if job["name"].startswith("live_activity") and job["state"] == "RUNNING":
                latest = rest_get(settings, f"/jobs/{job['jid']}/checkpoints")["latest"]
                done = latest.get("completed")
                if done and done["latest_ack_timestamp"] > since_ms:
                    return done
        time.sleep(2)
    sys.exit(f"no checkpoint of live_activity completed within {timeout_s:.0f}s")


def main(phase: str, user: str) -> None:
    settings = resolve()
    items = ITEMS[:3] if phase == "before" else ITEMS[3:]
    before = 0 if phase == "before" else wait_row(settings, user, 1).n_events
    post_events(settings.nifi_ingest_url, views(user, items), batch_size=1)
    row = wait_row(settings, user, before + len(items))
    print(f"{phase}: {user} n_events {row.n_events}, recent_items {row.recent_items}, "
          f"category_affinity {row.category_affinity}")
    if phase == "before":
        done = checkpoint_after(settings, int(time.time() * 1000))
        print(f"checkpoint {done['id']} completed after the row ({done['external_path']})")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

"""The keyed folds of live_activity and evaluate_promotions per event, bare Python: this tree's
functions beside REV's in one run, over the same events, with their keyed state held per key as
PyFlink's thread mode holds it (its ``PickleDataConverter``, which imports only inside the JVM:
``pickle.dumps`` on update, ``pickle.loads`` on read).
No Flink, no JVM: what the state's form costs the TaskManager's one interpreter per event.

usage: python fold_cost.py REV EVENTS ROUNDS   (from the repository root)
"""
from __future__ import annotations

import datetime as dt
import importlib.util
import json
import pickle
import subprocess
import sys
import tempfile
import time
from types import SimpleNamespace

from personastream_bench.traffic import sample_events
from personastream_contracts.formats import epoch_ms

MODULES = {"live_activity": "flink-udfs/personastream_flink/live_activity.py",
           "evaluate_promotions": "flink-udfs/personastream_flink/evaluate_promotions.py"}


class KeyedRuntime:
    """Keyed value states of the current key (``key``), stored as thread mode stores them."""

    def __init__(self):
        self.key, self.stores = None, {}

    def get_state(self, descriptor):
        store = self.stores.setdefault(descriptor.get_name(), {})
        runtime = self

        class State:
            def value(self):
                stored = store.get(runtime.key)
                return None if stored is None else pickle.loads(stored)

            def update(self, value):
                store[runtime.key] = pickle.dumps(value)

            def clear(self):
                store.pop(runtime.key, None)

        return State()


def module_at(rev: str, name: str):
    """``name`` as it was at ``rev``, imported as ``<name>_at_rev``."""
    source = subprocess.run(["git", "show", f"{rev}:{MODULES[name]}"], check=True,
                            capture_output=True, text=True).stdout
    path = tempfile.NamedTemporaryFile("w", suffix=".py", delete=False)
    path.write(source)
    path.close()
    spec = importlib.util.spec_from_file_location(f"{name}_at_rev", path.name)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def rows(n: int) -> list[SimpleNamespace]:
    """``n`` events as rows of both jobs' inputs (the union of their columns)."""
    out = []
    for i, e in enumerate(sample_events(n, 1000, seed=7,
                                        start=dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc))):
        out.append(SimpleNamespace(
            user_key=e.get("user_id") or e.get("anonymous_id"), event_type=e["event_type"],
            item_id=e.get("item_id"), category=e.get("category"), brand=e.get("brand"),
            event_ms=epoch_ms(e["client_ts"]), quantity=e.get("quantity"),
            items_json=json.dumps(e["items"]) if e.get("items") else None, erased=False,
            segment_id=None, refused_promotion=None, event_id=e["event_id"], received_ms=i,
            country="DE", device_type="mobile"))
    return out


def live_activity_cost(module, events) -> float:
    """µs per event of the profile fold and the item fold behind it."""
    runtime = KeyedRuntime()
    profiles = module.UpdateLiveProfile(recent_items=20, half_life_s=86_400)
    items = module.UpdateItemNeighbours(half_life_s=86_400, every_ms=1000)
    profiles.open(runtime)
    items.open(runtime)
    timers = SimpleNamespace(register_processing_time_timer=lambda at: None)
    ctx = SimpleNamespace(timer_service=lambda: timers)
    started = time.perf_counter()
    for row in events:
        runtime.key = row.user_key
        updates = [o for o in profiles.process_element(row, ctx) if isinstance(o, tuple)]
        for _, update in updates:
            runtime.key = update[0]
            list(items.process_element(tuple(update[1]), ctx))
    return (time.perf_counter() - started) / len(events) * 1e6


def promotions_cost(module, events) -> float:
    """µs per event of decide_offers (no promotion active: the customer's facts folded)."""
    runtime = KeyedRuntime()
    args = SimpleNamespace(offers_ttl_s=600, window_s=60, session_gap_s=1800, recent_items=20,
                           affinity_half_life_s=86_400)
    decide = module.DecideOffers(args, ())
    decide.open(runtime)
    ctx = SimpleNamespace(get_current_key=lambda: runtime.key,
                          get_broadcast_state=lambda descriptor: {},
                          timer_service=lambda: SimpleNamespace(
                              register_processing_time_timer=lambda at: None))
    started = time.perf_counter()
    for row in events:
        runtime.key = row.user_key
        list(decide.process_element(row, ctx))
    return (time.perf_counter() - started) / len(events) * 1e6


def main(rev: str, n: int, rounds: int) -> None:
    from personastream_flink import evaluate_promotions, live_activity

    events = rows(n)
    designs = {"old": (module_at(rev, "live_activity"), module_at(rev, "evaluate_promotions")),
               "new": (live_activity, evaluate_promotions)}
    results = {d: {"live_activity": [], "evaluate_promotions": []} for d in designs}
    for r in range(rounds):
        for design in (("old", "new") if r % 2 == 0 else ("new", "old")):
            la, ep = designs[design]
            results[design]["live_activity"].append(live_activity_cost(la, events))
            results[design]["evaluate_promotions"].append(promotions_cost(ep, events))
    print(f"{n:,} events over 1,000 users, {rounds} rounds alternating; REV {rev} (old) beside "
          "this tree (new); µs per event, each round:")
    for job in ("live_activity", "evaluate_promotions"):
        old, new = results["old"][job], results["new"][job]
        print(f"  {job}: old {' '.join(f'{v:.1f}' for v in old)} -> new "
              f"{' '.join(f'{v:.1f}' for v in new)}; median ratio "
              f"{sorted(o / n_ for o, n_ in zip(old, new))[len(old) // 2]:.2f}x")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))

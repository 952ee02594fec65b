"""live_activity writes an item's ``item_neighbours`` row at most once per interval: the first
update at once, the ones after it by one processing-time timer, with the state as of then (the
function over stand-ins of Flink's keyed state and timer service)."""
import json
from types import SimpleNamespace

import pytest

from personastream_flink.live_activity import UpdateItemNeighbours
from personastream_flink.testing import StandInRuntime

MINUTE_MS = 60_000  # longer than the test runs: no update reaches the next interval


class Timers:
    def __init__(self):
        self.set: list[int] = []

    def register_processing_time_timer(self, at_ms: int) -> None:
        self.set.append(at_ms)


def update(co_views: dict, ms: int) -> tuple:
    """An update of item ``a`` as ``update_live_profile`` sends it."""
    return "a", co_views, True, ms


def written(rows: list) -> list[SimpleNamespace]:
    """The item rows, read back from their JSON."""
    return [SimpleNamespace(**json.loads(r.value)) for r in rows]


def test_updates_within_the_interval_are_written_once_by_one_timer():
    timers = Timers()
    ctx = SimpleNamespace(timer_service=lambda: timers, get_current_key=lambda: "a")
    f = UpdateItemNeighbours(half_life_s=3600, every_ms=MINUTE_MS)
    f.open(StandInRuntime())
    first = written(f.process_element(update({"b": 1.0}, 1_000), ctx))
    assert [r.neighbours for r in first] == [{"b": 1.0}] and timers.set == []
    later = [list(f.process_element(update({"c": 0.5}, ms), ctx)) for ms in (2_000, 3_000)]
    assert later == [[], []] and len(timers.set) == 1
    written_ms = f.state.value().row_written_ms
    assert timers.set[0] == written_ms + MINUTE_MS
    [row] = written(f.on_timer(timers.set[0], ctx))
    assert row.item_id == "a" and row.neighbours == {"b": 1.0, "c": 1.0}
    assert row.views == pytest.approx(3.0, rel=1e-3)
    assert f.state.value().row_due_ms == 0 and f.state.value().row_written_ms == timers.set[0]


def test_with_no_interval_every_update_is_written():
    timers = Timers()
    ctx = SimpleNamespace(timer_service=lambda: timers, get_current_key=lambda: "a")
    f = UpdateItemNeighbours(half_life_s=3600, every_ms=0)
    f.open(StandInRuntime())
    rows = [written(f.process_element(update({"b": 1.0}, ms), ctx)) for ms in (1_000, 1_001)]
    assert [len(r) for r in rows] == [1, 1] and timers.set == []
    assert rows[1][0].neighbours == {"b": 2.0}

"""Start, stop and report the flows' process groups."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import nipyapi

from personastream_flows.client import connect
from personastream_flows.definitions import FLOWS
from personastream_flows.deploy import find_group
from personastream_flows.errors import FlowError


@dataclass
class FlowStatus:
    flow: str
    deployed: bool
    group_id: str = ""
    running: int = 0
    stopped: int = 0
    invalid: int = 0
    queued_count: int = 0
    queued_bytes: int = 0


def _group(settings, flow: str):
    connect(settings)
    group = find_group(flow)
    if group is None:
        raise FlowError(f"flow {flow!r} is not deployed; `personastream flows deploy {flow}`")
    return group


def start(settings, flow: str) -> None:
    nipyapi.canvas.schedule_all_controllers(_group(settings, flow).id, True)
    nipyapi.canvas.schedule_process_group(_group(settings, flow).id, True)


def stop(settings, flow: str) -> None:
    """Stop the processors; queued FlowFiles stay and resume on start."""
    nipyapi.canvas.schedule_process_group(_group(settings, flow).id, False)


def _snapshot(group_id: str):
    """A process group's status totals, its descendants' included."""
    return nipyapi.nifi.FlowApi().get_process_group_status(group_id).process_group_status \
        .aggregate_snapshot


def wait_drained(settings, timeout_s: float, waiting: Callable[[int], None],
                 every_s: float = 15) -> int:
    """Wait until NiFi holds no queued FlowFile in any group, at most ``timeout_s``; call
    ``waiting(queued)`` every ``every_s`` meanwhile. Returns the FlowFiles still queued (0 once
    drained)."""
    connect(settings)
    root = nipyapi.canvas.get_root_pg_id()
    deadline, said = time.monotonic() + timeout_s, None
    while (queued := _snapshot(root).flow_files_queued) and time.monotonic() < deadline:
        if said is None or time.monotonic() - said > every_s:
            waiting(queued)
            said = time.monotonic()
        time.sleep(1)
    return queued


def status(settings) -> list[FlowStatus]:
    connect(settings)
    out = []
    for flow in FLOWS:
        group = find_group(flow)
        if group is None:
            out.append(FlowStatus(flow, deployed=False))
            continue
        agg = _snapshot(group.id)
        out.append(FlowStatus(flow, True, group.id, group.running_count, group.stopped_count,
                              group.invalid_count, agg.flow_files_queued, agg.bytes_queued))
    return out

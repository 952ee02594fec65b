"""Start, stop and report the flows' process groups."""
from __future__ import annotations

from dataclasses import dataclass

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


def status(settings) -> list[FlowStatus]:
    connect(settings)
    out = []
    for flow in FLOWS:
        group = find_group(flow)
        if group is None:
            out.append(FlowStatus(flow, deployed=False))
            continue
        snapshot = nipyapi.nifi.FlowApi().get_process_group_status(group.id).process_group_status
        agg = snapshot.aggregate_snapshot
        out.append(FlowStatus(flow, True, group.id, group.running_count, group.stopped_count,
                              group.invalid_count, agg.flow_files_queued, agg.bytes_queued))
    return out

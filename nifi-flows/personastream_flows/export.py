"""Bring what runs in NiFi back into ``nifi-flows/``: export, and drift reports.

An edit made in the NiFi UI, exported, becomes a small diff of the flow's JSON file: instance
ids, parameter values and the environment's context name are taken out (see ``normalize``).
"""
from __future__ import annotations

import difflib
from pathlib import Path

from personastream_flows.client import connect
from personastream_flows.definitions import (bind_context, definition_path, load_definition,
                                             write_definition)
from personastream_flows.deploy import find_group, live_definition
from personastream_flows.errors import FlowError
from personastream_flows.normalize import dumps


def exported(settings, flow: str, group_name: str | None = None) -> dict:
    """The live group of ``flow`` as a repo-ready definition (canonical context name)."""
    connect(settings)
    group = find_group(group_name or flow)
    if group is None:
        raise FlowError(f"no process group {group_name or flow!r} in NiFi at "
                        f"{settings.nifi_api_url}; `personastream flows deploy {flow}` creates it")
    live = live_definition(group.id)
    repo = load_definition(flow)
    live = bind_context(live, repo["flowContents"]["parameterContextName"])
    live["flowContents"]["name"] = flow
    return live


def export_flow(settings, flow: str, group_name: str | None = None,
                target: Path | None = None) -> str:
    """Write the live flow over its JSON file (or ``target``); return the unified diff it made
    against the repo's file ('' if none)."""
    before = definition_path(flow).read_text()
    written = write_definition(flow, exported(settings, flow, group_name), target)
    return _diff(flow, before, written.read_text(), "repo", "exported")


def diff_flow(settings, flow: str, group_name: str | None = None) -> str:
    """Unified diff from the repo's JSON to what runs in NiFi ('' when in sync)."""
    repo = dumps(load_definition(flow))
    return _diff(flow, repo, dumps(exported(settings, flow, group_name)), "repo", "nifi")


def _diff(flow: str, old: str, new: str, old_label: str, new_label: str) -> str:
    return "".join(difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                        f"{old_label}/{flow}.json", f"{new_label}/{flow}.json"))


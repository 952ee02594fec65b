"""Deploy the flow definitions of ``nifi-flows/`` into a NiFi with nipyapi.

A flow is a process group of the root group, named as its file. Environment values reach it
only as parameters of its parameter context, filled from settings; the JSON holds none.
Deploying again replaces the group's contents in place (NiFi's replace request), which keeps
the group, its id and its queued FlowFiles.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from importlib.resources import files

import nipyapi

from personastream_flows.client import connect
from personastream_flows.errors import FlowError

log = logging.getLogger(__name__)

FLOWS = ("ingest",)


def parameters(settings) -> dict[str, str]:
    """Parameter values of every flow, from settings: the only environment-specific data."""
    return {"ingest_port": str(settings.nifi_ingest_port),
            "kafka_bootstrap_servers": settings.kafka_bootstrap_servers,
            "topic_events_enriched": settings.topic_events_enriched}


def load_definition(flow: str) -> dict:
    if flow not in FLOWS:
        raise FlowError(f"no flow named {flow!r}; choose among {', '.join(FLOWS)}")
    return json.loads((files(__package__) / f"{flow}.json").read_text())


@dataclass
class Deployed:
    flow: str
    group_id: str
    parameter_context: str
    action: str  # "created" or "replaced"


def ensure_parameter_context(name: str, values: dict[str, str]):
    """Create the context or update the values that differ; return its entity."""
    context = nipyapi.parameters.get_parameter_context(name, identifier_type="name", greedy=False)
    if context is None:
        params = [nipyapi.parameters.prepare_parameter(k, v) for k, v in values.items()]
        return nipyapi.parameters.create_parameter_context(name, parameters=params)
    current = {p.parameter.name: p.parameter.value for p in context.component.parameters}
    for key, value in values.items():
        if current.get(key) != value:
            context = nipyapi.parameters.upsert_parameter_to_context(
                context, nipyapi.parameters.prepare_parameter(key, value))
    return context


def find_group(name: str, parent_id: str):
    """The process group called exactly ``name`` directly under ``parent_id``, or None."""
    children = nipyapi.nifi.ProcessGroupsApi().get_process_groups(parent_id).process_groups
    matches = [pg for pg in children if pg.component.name == name]
    if len(matches) > 1:
        raise FlowError(f"{len(matches)} process groups are named {name!r}; rename or delete the "
                        "extra ones in the NiFi UI")
    return matches[0] if matches else None


def bind_context(definition: dict, context_name: str) -> dict:
    """The definition with its parameter context renamed (one context per environment).

    >>> d = {"flowContents": {"parameterContextName": "personastream"},
    ...      "parameterContexts": {"personastream": {"name": "personastream", "parameters": []}}}
    >>> bound = bind_context(d, "personastream_staging")
    >>> bound["flowContents"]["parameterContextName"], list(bound["parameterContexts"])
    ('personastream_staging', ['personastream_staging'])
    """
    old = definition["flowContents"]["parameterContextName"]
    contexts = dict(definition["parameterContexts"])
    contexts[context_name] = {**contexts.pop(old), "name": context_name}
    return {**definition, "parameterContexts": contexts,
            "flowContents": {**definition["flowContents"], "parameterContextName": context_name}}


def deploy(settings, flow: str, group_name: str | None = None, context_name: str | None = None,
           timeout_s: float = 120) -> Deployed:
    """Create or replace process group ``group_name`` (default: the flow's name), bound to
    parameter context ``context_name`` (default: the flow's own) filled from settings; start it."""
    connect(settings)
    definition = load_definition(flow)
    group_name = group_name or flow
    if context_name:
        definition = bind_context(definition, context_name)
    context_name = definition["flowContents"]["parameterContextName"]
    context = ensure_parameter_context(context_name, parameters(settings))
    root_id = nipyapi.canvas.get_root_pg_id()
    group = find_group(group_name, root_id)
    definition["flowContents"]["name"] = group_name
    if group is None:
        group = nipyapi.versioning.import_process_group_definition(
            root_id, flow_definition=json.dumps(definition))
        action = "created"
    else:
        nipyapi.canvas.schedule_process_group(group.id, False)
        _replace(group, definition, timeout_s)
        action = "replaced"
    nipyapi.parameters.assign_context_to_process_group(group, context.id)
    nipyapi.canvas.schedule_all_controllers(group.id, True)
    _start_when_valid(group.id, timeout_s)
    return Deployed(flow, group.id, context_name, action)


def _replace(group, definition: dict, timeout_s: float) -> None:
    """POST a replace request with the new contents and wait for it to finish."""
    api = nipyapi.nifi.ProcessGroupsApi()
    group = api.get_process_group(group.id)
    body = {"processGroupRevision": {"version": group.revision.version,
                                     "clientId": "personastream-deploy"},
            "versionedFlowSnapshot": definition}
    request = api.initiate_replace_process_group(body, group.id)
    request_id = request.request.request_id
    deadline = time.monotonic() + timeout_s
    try:
        while not request.request.complete:
            if time.monotonic() > deadline:
                raise FlowError(f"replacing process group {group.id} did not finish within "
                                f"{timeout_s:.0f}s (state: {request.request.state})")
            time.sleep(0.5)
            request = api.get_replace_process_group_request(request_id)
        if request.request.failure_reason:
            raise FlowError(f"NiFi refused to replace {group.id}: {request.request.failure_reason}")
    finally:
        api.delete_replace_process_group_request(request_id)


def _start_when_valid(group_id: str, timeout_s: float) -> None:
    """Start the group once no processor is still validating (Python processors need their
    venv built first, which takes seconds on a fresh NiFi)."""
    deadline = time.monotonic() + timeout_s
    while True:
        processors = nipyapi.canvas.list_all_processors(group_id)
        waiting = [p.component.name for p in processors
                   if p.component.validation_status in ("VALIDATING", "INVALID")]
        if not waiting:
            break
        if time.monotonic() > deadline:
            errors = {p.component.name: p.component.validation_errors for p in processors
                      if p.component.validation_errors}
            raise FlowError(f"processors not valid after {timeout_s:.0f}s: {errors}")
        time.sleep(1)
    nipyapi.canvas.schedule_process_group(group_id, True)

"""Deploy the flow definitions of ``nifi-flows/`` into a NiFi with nipyapi.

A flow is a process group of the root group, named as its file. Environment values reach it
only as parameters of its environment's parameter context; the JSON holds none. Deploying
again replaces the group's contents in place (NiFi's replace request), which keeps the group,
its id and its queued FlowFiles; deploying an unchanged flow changes nothing.
"""
from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass

import nipyapi
import requests

from personastream_flows import bundle
from personastream_flows.client import connect
from personastream_flows.definitions import bind_context, flow_context_name, load_definition
from personastream_flows.errors import FlowError
from personastream_flows.normalize import normalize
from personastream_flows.parameters import context_name, ensure_parameter_context

log = logging.getLogger(__name__)


@dataclass
class Deployed:
    flow: str
    group_id: str
    parameter_context: str
    action: str  # "created", "replaced" or "unchanged"


def find_group(name: str, parent_id: str | None = None):
    """The process group called exactly ``name`` directly under ``parent_id`` (root), or None."""
    parent_id = parent_id or nipyapi.canvas.get_root_pg_id()
    children = nipyapi.nifi.ProcessGroupsApi().get_process_groups(parent_id).process_groups
    matches = [pg for pg in children if pg.component.name == name]
    if len(matches) > 1:
        raise FlowError(f"{len(matches)} process groups are named {name!r}; rename or delete the "
                        "extra ones in the NiFi UI")
    return matches[0] if matches else None


def live_definition(group_id: str) -> dict:
    """What runs in NiFi, as a flow definition."""
    group = nipyapi.canvas.get_process_group(group_id, "id")
    return json.loads(nipyapi.versioning.export_process_group_definition(group))


def deploy(settings, flow: str, env: str | None = None, group_name: str | None = None,
           update_secrets: bool = False, timeout_s: float = 180,
           definition: dict | None = None) -> Deployed:
    """Create or replace process group ``group_name`` (default: the flow's name), bound to the
    environment's parameter context filled from settings, and start it; first bring the Python
    bundle in ``nifi_python_extensions_dir`` up to date with its sources. ``definition``
    replaces the flow's file (e.g. an earlier revision's, as a benchmark's baseline)."""
    connect(settings)
    if bundle.differences(settings.nifi_python_extensions_dir, with_requirements=True):
        bundle.build(settings.nifi_python_extensions_dir, settings.nifi_python,
                     settings.cache_dir / "nifi-python-deps")
    definition = definition or load_definition(flow)
    context = context_name(definition["flowContents"]["parameterContextName"], env)
    definition = bind_context(definition, context)
    group_name = group_name or flow
    definition["flowContents"]["name"] = group_name
    parameter_context = ensure_parameter_context(context, settings, update_secrets)
    ensure_thread_pool(settings.nifi_timer_driven_threads)
    group = find_group(group_name)
    if group is None:
        group = nipyapi.versioning.import_process_group_definition(
            nipyapi.canvas.get_root_pg_id(), flow_definition=json.dumps(definition))
        action = "created"
    elif normalize(live_definition(group.id)) == normalize(definition):
        action = "unchanged"
    else:
        nipyapi.canvas.schedule_process_group(group.id, False)
        _replace(group, definition, timeout_s)
        action = "replaced"
    nipyapi.parameters.assign_context_to_process_group(group, parameter_context.id)
    nipyapi.canvas.schedule_all_controllers(group.id, True)
    start_when_valid(group.id, timeout_s)
    wait_listening(listener_addresses(group.id, parameter_context), timeout_s)
    return Deployed(flow, group.id, context, action)


def undeploy(settings, flow: str, group_name: str, env: str, timeout_s: float = 120) -> None:
    """Delete process group ``group_name`` (whatever it still queues) and the parameter
    context of ``flow`` in ``env``: the end of a group deployed for a test or a benchmark. Its
    processors are stopped first and given ``timeout_s`` to finish their tasks (a busy Python
    processor takes longer than nipyapi's 3 s), and its controller services as long to be
    disabled (a left group kept later groups' services from enabling)."""
    connect(settings)
    group = find_group(group_name)
    if group is not None:
        nipyapi.canvas.schedule_components(group.id, "STOPPED")
        deadline = time.monotonic() + timeout_s
        while nipyapi.nifi.ProcessGroupsApi().get_process_group(
                group.id).status.aggregate_snapshot.active_thread_count:
            if time.monotonic() > deadline:
                raise FlowError(f"process group {group_name} still runs tasks {timeout_s:.0f}s "
                                "after being stopped; delete it in the NiFi UI")
            time.sleep(0.5)
        _delete_group(group, group_name, deadline)
    context = nipyapi.parameters.get_parameter_context(flow_context_name(flow, env), "name",
                                                       greedy=False)
    if context is not None:
        nipyapi.parameters.delete_parameter_context(context)


def _delete_group(group, group_name: str, deadline: float) -> None:
    """Delete ``group`` (stopped), asking again until ``deadline`` while NiFi refuses because a
    controller service is still being disabled (409: "cannot be deleted because it is not
    disabled") or nipyapi's own wait for that times out (ValueError): under load it was not
    always long enough, and the group stayed."""
    while group is not None:
        try:
            nipyapi.canvas.delete_process_group(group, force=True)
            return
        except (nipyapi.nifi.rest.ApiException, ValueError) as error:
            refused = isinstance(error, nipyapi.nifi.rest.ApiException)
            detail = f"{error.status} {error.reason}: {error.body}" if refused else str(error)
            if (refused and error.status != 409) or time.monotonic() > deadline:
                raise FlowError(f"process group {group_name} could not be deleted ({detail}); "
                                "delete it in the NiFi UI") from error
            log.info("process group %s not deletable yet: %s", group_name, detail)
            time.sleep(1.0)
            group = find_group(group_name)


def ensure_thread_pool(threads: int) -> None:
    """Set NiFi's pool of timer-driven threads (all processors share it) to ``threads``."""
    api = nipyapi.nifi.ControllerApi()
    config = api.get_controller_config()
    if config.component.max_timer_driven_thread_count != threads:
        config.component.max_timer_driven_thread_count = threads
        api.update_controller_config(config)


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


def start_when_valid(group_id: str, timeout_s: float) -> None:
    """Start the group once no processor is still validating (Python processors need their
    venv built first, which takes seconds to a minute on a fresh NiFi)."""
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
            raise FlowError(f"processors not valid after {timeout_s:.0f}s: {errors}; see "
                            "`personastream stack logs nifi`")
        time.sleep(1)
    nipyapi.canvas.schedule_process_group(group_id, True)


#: Processors that serve HTTP: each starts its server in its first run after being started;
#: until then nothing listens, or the server answers 503 "Server Not Ready".
LISTENERS = ("org.apache.nifi.processors.standard.HandleHttpRequest",
             "org.apache.nifi.processors.standard.ListenHTTP")


def listener_addresses(group_id: str, parameter_context) -> dict[str, tuple[str, int]]:
    """``{processor name: (host, port)}`` of the group's HTTP listeners, their parameters
    resolved from the group's parameter context (an unset or wildcard host is loopback)."""
    params = {p.parameter.name: p.parameter.value for p in parameter_context.component.parameters}
    resolve = lambda value: re.sub(r"#\{([^}]+)\}", lambda m: params[m.group(1)],  # noqa: E731
                                   value or "")
    out = {}
    for p in nipyapi.canvas.list_all_processors(group_id):
        if p.component.type in LISTENERS:
            props = p.component.config.properties
            host = resolve(props.get("Hostname"))
            out[p.component.name] = (host if host not in ("", "0.0.0.0") else "127.0.0.1",
                                     int(resolve(props["Listening Port"])))
    return out


def wait_listening(addresses: dict[str, tuple[str, int]], timeout_s: float) -> None:
    """Return once an HTTP request to each address gets an answer other than 503 (the group's
    listeners check the method before readiness, so GET on a POST-only listener answers 405 as
    soon as its server runs), or raise :class:`FlowError`."""
    deadline = time.monotonic() + timeout_s
    waiting = dict(addresses)
    while True:
        for name, (host, port) in list(waiting.items()):
            try:
                if requests.get(f"http://{host}:{port}/", timeout=2).status_code != 503:
                    del waiting[name]
            except requests.ConnectionError:
                pass
        if not waiting:
            return
        if time.monotonic() > deadline:
            raise FlowError(f"HTTP listeners {sorted(waiting)} not answering within "
                            f"{timeout_s:.0f}s of being started; see their bulletins and "
                            "`personastream stack logs nifi`")
        time.sleep(0.2)

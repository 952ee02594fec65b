"""Flow definition files of ``nifi-flows/``: one JSON per flow, named as its process group."""
from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path

from personastream_flows.errors import FlowError
from personastream_flows.normalize import dumps
from personastream_flows.parameters import context_name

FLOWS = ("ingest",)


def definition_path(flow: str) -> Path:
    if flow not in FLOWS:
        raise FlowError(f"no flow named {flow!r}; choose among {', '.join(FLOWS)}")
    return Path(str(files(__package__) / f"{flow}.json"))


def load_definition(flow: str) -> dict:
    return json.loads(definition_path(flow).read_text())


def flow_context_name(flow: str, env: str | None) -> str:
    """The parameter context ``flow`` is bound to in ``env`` (as ``deploy.deploy`` names it).

    >>> flow_context_name("ingest", "staging")
    'personastream_staging'
    """
    return context_name(load_definition(flow)["flowContents"]["parameterContextName"], env)


def write_definition(flow: str, definition: dict, target: Path | None = None) -> Path:
    """Write a definition normalized (diff-stable) to the flow's file, or to ``target``."""
    path = target or definition_path(flow)
    path.write_text(dumps(definition))
    return path


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

"""Flow definitions as diff-stable JSON: no instance ids, no environment values, sorted.

What runs in NiFi is exported, normalized and written to ``nifi-flows/``, so that an edit made
in the NiFi UI becomes a small reviewable diff.

>>> doc = {"flowContents": {"instanceIdentifier": "x", "identifier": "r", "name": "f",
...     "processors": [{"name": "b", "identifier": "2", "groupIdentifier": "r"},
...                    {"name": "a", "identifier": "1", "groupIdentifier": "r"}]},
...     "parameterContexts": {"p": {"parameters": [{"name": "port", "value": "9090"}]}},
...     "parameterProviders": {"r": {"resourceTypes": ["TEXT", "FILE"]}}}
>>> n = normalize(doc)
>>> [p["name"] for p in n["flowContents"]["processors"]], n["parameterContexts"]["p"]["parameters"]
(['a', 'b'], [{'name': 'port', 'value': None}])
>>> "instanceIdentifier" in n["flowContents"], n["flowContents"]["processors"][0]["groupIdentifier"]
(False, '00000000-0000-0000-0000-000000000000')
>>> n["parameterProviders"]["r"]["resourceTypes"]
['FILE', 'TEXT']
"""
from __future__ import annotations

import json

DROPPED_KEYS = {"instanceIdentifier", "latest"}
# NiFi gives the top group a new versioned id on every upload (its components keep theirs), so
# the top group's id is written as this fixed one.
ROOT_GROUP_ID = "00000000-0000-0000-0000-000000000000"
# Lists NiFi exports from sets, in no fixed order (a property's resource types: TEXT, FILE).
UNORDERED_KEYS = {"resourceTypes"}


def _strip(node, root_id: str):
    if isinstance(node, dict):
        return {k: sorted(v) if k in UNORDERED_KEYS else _strip(v, root_id)
                for k, v in node.items() if k not in DROPPED_KEYS}
    if isinstance(node, str):
        return ROOT_GROUP_ID if node == root_id else node
    if isinstance(node, list):
        items = [_strip(v, root_id) for v in node]
        if all(isinstance(i, dict) and "identifier" in i for i in items):
            items.sort(key=lambda i: (str(i.get("name", "")), i["identifier"]))
        return items
    return node


def normalize(definition: dict) -> dict:
    """Drop instance ids and parameter values, fix the top group's id, order components by name
    then id."""
    out = _strip(definition, definition.get("flowContents", {}).get("identifier", ROOT_GROUP_ID))
    for context in out.get("parameterContexts", {}).values():
        context["parameters"] = sorted(({**p, "value": None} for p in context.get("parameters", [])),
                                       key=lambda p: p["name"])
    return out


def dumps(definition: dict) -> str:
    return json.dumps(normalize(definition), indent=2, sort_keys=True) + "\n"

"""The house stays one-way: every import of every package, read from the sources, points to a
lower layer (or within the package), and no modules import each other in a circle.

    personastream (CLI)                                 deploy/personastream
      personastream_bench (benchmarks, sample traffic)  benchmarks/
        personastream_stack (local servers, jobs, flows) deploy/personastream_stack
          personastream_flows | personastream_flink | personastream_serving
            personastream_models
              personastream_contracts
"""
from __future__ import annotations

import subprocess
import sys
from importlib.resources import files
from pathlib import Path

import pytest

LAYERS = {
    "personastream_contracts": 0,
    "personastream_models": 1,
    "personastream_flows": 2, "personastream_flink": 2, "personastream_serving": 2,
    "personastream_stack": 3,
    "personastream_bench": 4,
    "personastream": 5,
}
ROOT = Path(__file__).resolve().parents[2]


def package_dir(package: str) -> Path:
    return Path(str(files(package)))


def modules(package: str) -> dict[str, Path]:
    """Every module of ``package`` by dotted name."""
    root = package_dir(package)
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = [package, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def project_package(name: str) -> str | None:
    top = name.split(".")[0]
    return top if top in LAYERS else None


ALL_MODULES = {name: path for package in LAYERS for name, path in modules(package).items()}


def test_every_project_package_has_a_layer():
    setup = (ROOT / "setup.cfg").read_text()
    mapped = {line.split("=")[0].strip() for line in
              setup.split("package_dir =")[1].split("packages =")[0].splitlines() if "=" in line}
    assert mapped == set(LAYERS)


@pytest.mark.parametrize("package", LAYERS)
def test_imports_point_down_only(package, imports_of):
    wrong = []
    for name, path in modules(package).items():
        for imported in imports_of(path):
            target = project_package(imported)
            if target is not None and target != package and LAYERS[target] >= LAYERS[package]:
                wrong.append(f"{name} imports {imported} (layer {LAYERS[target]} >= "
                             f"{LAYERS[package]})")
    assert wrong == []


def test_no_module_imports_itself_through_others(imports_of):
    graph = {name: {i for i in imports_of(path) if i in ALL_MODULES and i != name}
             for name, path in ALL_MODULES.items()}
    cycles = []
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(trail[trail.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_serving_loads_no_pyflink_nifi_or_validation_code():
    """The API process imports its package without PyFlink, jsonschema, the GeoIP reader or the
    User-Agent parser (checked in a fresh interpreter)."""
    heavy = ["pyflink", "jsonschema", "maxminddb", "ua_parser", "personastream_flows",
             "personastream_flink", "nipyapi"]
    code = ("import sys, personastream_serving.app, personastream_serving.store; "
            f"print([m for m in {heavy!r} if m in sys.modules])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "[]"

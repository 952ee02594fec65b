"""The NiFi Python bundle: the processors of ``processors/`` with everything they import,
written into the folder NiFi loads Python extensions from (``nifi_python_extensions_dir``).

NiFi runs processors from that folder, not from this package. The folder is laid out as NiFi
lays out a Python processor NAR (NiFi 2's "packaged with dependencies" form)::

    ValidateEnrichEvents.py, PublishToKafka.py        the processors
    NAR-INF/bundled-dependencies/                     on the processors' PYTHONPATH:
        personastream_flows/ingest/...                  the ingest logic they call
        personastream_contracts/...                     the contracts it needs (schemas, ...)
        jsonschema/, confluent_kafka/, ...              the processors' pinned dependencies

so NiFi creates no virtual environment and downloads nothing at run time. The project's code is
copied byte for byte (:func:`differences` checks it); the third-party packages are installed
once per set of pins into ``deps_cache`` with pip and copied from there.

>>> import tempfile
>>> target = Path(tempfile.mkdtemp()) / "bundle"
>>> n_files = len(build(target, python=None, deps_cache=None))
>>> differences(target), (target / "ValidateEnrichEvents.py").is_file()
([], True)
"""
from __future__ import annotations

import ast
import filecmp
import hashlib
import shutil
import subprocess
from importlib.resources import files
from pathlib import Path

from personastream_flows.errors import FlowError

PROCESSORS = ("ValidateEnrichEvents.py", "PublishToKafka.py")
BUNDLED = "NAR-INF/bundled-dependencies"
#: (package, the paths of it the processors need), copied into ``<target>/NAR-INF/...``.
PACKAGES = (
    ("personastream_flows", ("__init__.py", "ingest", "results.py")),
    ("personastream_contracts", ("__init__.py", "identity.py", "deadletters.py",
                                 "event_schemas.py", "schemaver.py", "formats.py", "schemas")),
)
DEPS_MARKER = ".requirements"


def sources() -> dict[str, Path]:
    """Each project file of the bundle (path relative to the bundle) and its source."""
    out = {name: Path(str(files("personastream_flows") / "processors" / name))
           for name in PROCESSORS}
    for package, paths in PACKAGES:
        root = Path(str(files(package)))
        for path in paths:
            source = root / path
            found = [source] if source.is_file() else sorted(
                p for p in source.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
            for file in found:
                out[f"{BUNDLED}/{package}/{file.relative_to(root)}"] = file
    return out


def requirements() -> list[str]:
    """The pinned dependencies the processors declare (``ProcessorDetails.dependencies``, a
    literal NiFi reads from the source), in one sorted list."""
    pins: set[str] = set()
    for name in PROCESSORS:
        tree = ast.parse(Path(str(files("personastream_flows") / "processors" / name)).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and any(
                    isinstance(t, ast.Name) and t.id == "dependencies" for t in node.targets):
                pins.update(ast.literal_eval(node.value))
    return sorted(pins)


def install_requirements(python: str, deps_cache: Path) -> Path:
    """The processors' dependencies installed for ``python`` (NiFi's interpreter) under
    ``deps_cache``, once per set of pins and interpreter; return that folder."""
    pins = requirements()
    version = subprocess.run([python, "-c", "import sys; print(sys.version)"],
                             capture_output=True, text=True, check=True).stdout
    digest = hashlib.sha256("\n".join([version, *pins]).encode()).hexdigest()[:16]
    folder = Path(deps_cache) / digest
    if (folder / DEPS_MARKER).is_file():
        return folder
    staging = folder.with_name(folder.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    done = subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                           "--no-compile", "--target", str(staging), *pins],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise FlowError(f"pip could not install the NiFi processors' dependencies {pins} for "
                        f"{python} ({done.returncode}): {done.stderr[-2000:]}")
    (staging / DEPS_MARKER).write_text("\n".join(pins) + "\n")
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)
    return folder


def build(target: Path, python: str | None, deps_cache: Path | None) -> list[Path]:
    """Write the bundle into ``target`` (replacing what a previous build left) and return its
    project files; with ``python`` and ``deps_cache``, the processors' dependencies too (without,
    a bundle NiFi cannot run: for checking the layout)."""
    target = Path(target)
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    if python is not None and deps_cache is not None:
        shutil.copytree(install_requirements(python, Path(deps_cache)), staging / BUNDLED)
    for relative, source in sources().items():
        (staging / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, staging / relative)
    if target.exists():
        shutil.rmtree(target)
    staging.rename(target)
    return sorted(target / relative for relative in sources())


def differences(target: Path, with_requirements: bool = False) -> list[str]:
    """What in the bundle at ``target`` no longer equals its sources: project files missing or
    changed, and (``with_requirements``) dependencies installed for other pins."""
    target = Path(target)
    out = [f"missing {r}" if not (target / r).is_file() else f"differs {r}"
           for r, source in sorted(sources().items())
           if not (target / r).is_file() or not filecmp.cmp(source, target / r, shallow=False)]
    if with_requirements:
        marker = target / BUNDLED / DEPS_MARKER
        pins = marker.read_text().split() if marker.is_file() else []
        if pins != requirements():
            out.append(f"dependencies {pins or 'missing'}, pinned {requirements()}")
    return out

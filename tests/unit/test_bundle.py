"""NiFi's Python bundle: the copy of the processors and of the code they import equals its
sources, holds everything they import, and its pins cover every third-party import."""
from __future__ import annotations

import importlib.metadata
import re
import sys
from pathlib import Path

import pytest

from personastream_flows import bundle


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("nifi") / "python-extensions"
    bundle.build(target, python=None, deps_cache=None)
    return target


def _python_files(target: Path) -> list[Path]:
    return sorted(target.rglob("*.py"))


def test_the_copy_equals_its_sources(built):
    assert bundle.differences(built) == []
    assert {p.name for p in built.glob("*.py")} == set(bundle.PROCESSORS)


def test_a_changed_or_missing_file_is_reported(built, tmp_path):
    copy = tmp_path / "copy"
    bundle.build(copy, python=None, deps_cache=None)
    identity = copy / bundle.BUNDLED / "personastream_contracts" / "identity.py"
    identity.write_text(identity.read_text() + "# edited\n")
    (copy / "PublishToKafka.py").unlink()
    assert sorted(bundle.differences(copy)) == [
        f"differs {bundle.BUNDLED}/personastream_contracts/identity.py",
        "missing PublishToKafka.py"]


def test_every_project_import_of_the_bundle_is_in_the_bundle(built, imports_of):
    deps = built / bundle.BUNDLED

    def found(name: str) -> bool:
        """A module of the bundle, or a name defined in one (``from module import name``)."""
        path = deps / Path(*name.split("."))
        parent = path.parent.with_suffix(".py")
        return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file() \
            or ("." in name and parent.is_file())

    missing = [f"{path.relative_to(built)} imports {name}" for path in _python_files(built)
               for name in imports_of(path) if name.startswith("personastream") and not found(name)]
    assert missing == []


def test_the_pins_cover_every_third_party_import(built, imports_of):
    distributions = importlib.metadata.packages_distributions()
    normal = lambda name: re.sub(r"[-_.]+", "-", name).lower()  # noqa: E731 (PEP 503)
    pinned = {normal(pin.split("==")[0]) for pin in bundle.requirements()}
    unpinned = set()
    for path in _python_files(built):
        for name in imports_of(path):
            top = name.split(".")[0]
            if top.startswith("personastream") or top == "nifiapi" or top in sys.stdlib_module_names:
                continue
            owners = {normal(d) for d in distributions.get(top, [top])}
            if not owners & pinned:
                unpinned.add(f"{top} ({', '.join(sorted(owners))})")
    assert unpinned == set()


def test_a_bundle_with_other_pins_is_out_of_date(built):
    assert bundle.differences(built, with_requirements=True) == [
        f"dependencies missing, pinned {bundle.requirements()}"]

"""A previous design's jobs, submitted beside this tree's by the benchmarks (``--baseline``),
build their arguments with their own packages only: a design from before a change to this
tree's deploy code (``personastream_stack``) still runs."""
from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from personastream_bench.jobs import BASELINE_FOLDERS
from personastream_bench.load import git_archive
from personastream_flink.catalog import JOBS
from personastream_stack import flink_jobs
from personastream_stack.flink import fetch_connectors

NOT_IMPORTABLE = ('raise ImportError("a previous design\'s process imported this tree\'s '
                  'deploy code")\n')


@pytest.fixture(scope="module")
def design(tmp_path_factory) -> list[Path]:
    """HEAD's job packages, and a ``personastream_stack`` that cannot be imported before them."""
    folder = tmp_path_factory.mktemp("design")
    old = git_archive("HEAD", BASELINE_FOLDERS, folder)
    poison = folder / "poison" / "personastream_stack"
    poison.mkdir(parents=True)
    (poison / "__init__.py").write_text(NOT_IMPORTABLE)
    return [folder / "poison", *(old / f for f in BASELINE_FOLDERS)]


@pytest.mark.parametrize("name", sorted(JOBS))
def test_a_previous_designs_arguments_are_built_from_its_own_packages(settings, design, name):
    built = flink_jobs._arguments_of(design, name, settings, f"{name}_design")
    tree = importlib.import_module(JOBS[name]).job_arguments(
        settings, fetch_connectors(settings), job_name=f"{name}_design")
    assert built == tree

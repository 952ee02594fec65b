"""The Numenta Anomaly Benchmark (NAB v1.1): run a detector spec over the corpus and score it.

``python -m personastream_bench.nab --out DIR`` runs the trends detector over every series of
the corpus, one row at a time in file order, with the code the Flink trends job runs
(:func:`personastream_models.placement_scoring.score_version`: the spec's detector, or its
stand-in's while it stands in, each through
:func:`personastream_models.detectors.score_then_learn`), writes NAB's results layout
(:mod:`.corpus`) and scores it with the project's implementation of NAB's scoring (:mod:`.scoring`).
``<detector>`` is the spec's ``name-version`` (``trends_detector-1-0-0``), or the baseline's name.

Baselines (``--baseline``) check the scorer against NAB's published numbers: ``null`` (NAB's null
detector, 0.5 everywhere), ``perfect`` (1 at each window's first row) and ``random`` (NAB's
random detector: ``random.seed(42)`` per file, ``uniform(0, 1)`` per row).
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterable, Mapping

from personastream_bench.nab.corpus import (DEFAULT_NAB_DIR, CostMatrix, DataFile, NabDataError,
                                            NabError, list_data_files, load_profiles, load_windows,
                                            read_data_file, write_results_file)
from personastream_bench.nab.scoring import FileLabels, label_rows, score_corpus, write_scores_files
from personastream_models import specs
from personastream_models.placement_scoring import score_version

DEFAULT_SPEC = "trends_detector"
Progress = Callable[[int, int, str], None]


def _nab_random(data: DataFile, labels: FileLabels, windows) -> list[float]:
    rng = random.Random(42)
    return [rng.uniform(0, 1) for _ in range(len(data))]


def _nab_null(data: DataFile, labels: FileLabels, windows) -> list[float]:
    return [0.5] * len(data)


def _perfect(data: DataFile, labels: FileLabels, windows) -> list[float]:
    rows = labels.window_of_row
    return [
        1.0 if w is not None and (i == 0 or rows[i - 1] != w) else 0.0 for i, w in enumerate(rows)
    ]


#: Reference detectors for checking the scorer (they are not models: no spec, no learning).
BASELINES: dict[str, Callable[[DataFile, FileLabels, list], list[float]]] = {
    "null": _nab_null,
    "perfect": _perfect,
    "random": _nab_random,
}


def _minute_of_day(t: datetime) -> int:
    return t.hour * 60 + t.minute


def _spec_scorer(
    spec: specs.ModelSpec, nab_inputs: bool = False
) -> Callable[[DataFile, FileLabels, list], list[float]]:
    if spec.kind != "detector":
        raise NabError(f"spec {spec.key} is a {spec.kind}; NAB benchmarks detectors")
    if nab_inputs and not hasattr(spec.estimator_class, "nab_inputs"):
        raise NabError(
            f"{spec.estimator} of spec {spec.key} takes no NAB runner inputs (it has no "
            f"nab_inputs); run without --nab-inputs"
        )
    spec_of = specs.loader(spec.name, spec)  # the stand-in's

    def score_rows(data: DataFile, labels: FileLabels, windows) -> list[float]:
        params = dict(spec.params)
        if nab_inputs:  # what NAB's runner hands every detector: a look at the whole series
            values = [float(v) for v in data.values]
            params |= spec.estimator_class.nab_inputs(min(values), max(values), labels.probation)
        # fresh per file, as NAB does (a series is one item of the trends job)
        state = (specs.build({**spec.to_dict(), "params": params}), 0, None)
        out = []
        for value, t in zip(data.values, data.times):
            state, raw, scored_by = score_version(
                state, spec, spec_of, {"count": float(value), "minute_of_day": _minute_of_day(t)},
                build=specs.build)
            out.append(scored_by.anomaly_score(raw))
        return out

    return score_rows


@dataclass(frozen=True)
class Corpus:
    """Every series of the corpus with its labelled rows and windows, and the profiles."""

    data: tuple[DataFile, ...]
    labels: tuple[FileLabels, ...]
    profiles: dict[str, CostMatrix]
    windows: Mapping[str, list]  # relative path -> the file's anomaly windows

    @property
    def n_points(self) -> int:
        return sum(len(d) for d in self.data)


def load_corpus(nab_dir: Path) -> Corpus:
    """Read every data file, its windows and NAB's profiles."""
    nab_dir = Path(nab_dir)
    relative_paths = list_data_files(nab_dir)
    windows = load_windows(nab_dir)
    unlabelled = [p for p in relative_paths if p not in windows]
    if unlabelled:
        raise NabDataError(
            f"no windows in labels/combined_windows.json for {', '.join(unlabelled)}"
        )
    data = tuple(read_data_file(nab_dir, p) for p in relative_paths)
    labels = tuple(label_rows(d.relative_path, d.times, windows[d.relative_path]) for d in data)
    return Corpus(data, labels, load_profiles(nab_dir), windows)


def _run(
    nab_dir: Path, out_dir: Path, detector: str, score_rows, progress: Progress | None
) -> dict:
    nab_dir, out_dir = Path(nab_dir), Path(out_dir)
    started = time.perf_counter()  # reading the corpus counts, as it always did
    corpus = load_corpus(nab_dir)
    all_scores = []
    for done, (data, labels) in enumerate(zip(corpus.data, corpus.labels), start=1):
        scores = score_rows(data, labels, corpus.windows[data.relative_path])
        write_results_file(out_dir, detector, data, scores)
        all_scores.append(scores)
        if progress is not None:
            progress(done, len(corpus.data), data.relative_path)
    detect_s = time.perf_counter() - started

    started = time.perf_counter()
    results = score_corpus(corpus.labels, all_scores, corpus.profiles)
    write_scores_files(out_dir, detector, results)
    score_s = time.perf_counter() - started
    return {
        "detector": detector,
        "results_dir": str(out_dir / detector),
        "nab_dir": str(nab_dir),
        "n_files": len(corpus.data),
        "n_points": corpus.n_points,
        "n_windows": sum(f.n_windows for f in corpus.labels),
        "detect_s": detect_s,
        "points_per_s": corpus.n_points / detect_s if detect_s > 0 else math.inf,
        "score_s": score_s,
        "scores": {name: r.normalized for name, r in results.items()},
        "profiles": {
            name: {
                "normalized": r.normalized,
                "raw": r.raw,
                "threshold": r.threshold,
                "null": r.null,
                "perfect": r.perfect,
            }
            for name, r in results.items()
        },
    }


def run(
    nab_dir: Path,
    out_dir: Path,
    spec_name: str,
    spec_version: str | None = None,
    *,
    nab_inputs: bool = False,
    progress: Progress | None = None,
) -> dict:
    """Run a detector spec over every NAB series, write NAB's results layout, score it.

    Each file gets a fresh detector built from the spec; each row is scored, then learned
    (:func:`~personastream_models.placement_scoring.score_version`, as the trends job scores
    an item's window: a spec's stand-in scores the first rows), in file order. With
    ``nab_inputs``, the detector also gets what NAB's own runner gives every detector (the
    series' minimum, maximum and probationary period, through the estimator's ``nab_inputs``),
    as the published scores of CAD OSE, HTM and ARTime had; results go to ``<slug>-nab-inputs``.

    Returns
    -------
    dict
        ``scores`` (normalized score per profile), ``points_per_s`` (rows per second of wall
        clock for reading, detecting and writing, one process), ``profiles`` (threshold, raw,
        null and perfect scores), ``spec``, ``detector``, ``n_files``, ``n_points``, timings.
    """
    spec = specs.load(spec_name, spec_version)
    detector = f"{spec.slug}-nab-inputs" if nab_inputs else spec.slug
    result = _run(nab_dir, out_dir, detector, _spec_scorer(spec, nab_inputs), progress)
    return {"spec": spec.key, **result}


def run_baseline(
    nab_dir: Path, out_dir: Path, baseline: str, *, progress: Progress | None = None
) -> dict:
    """Like :func:`run` for one of NAB's reference detectors (:data:`BASELINES`)."""
    if baseline not in BASELINES:
        raise NabError(f"unknown baseline {baseline!r}; known: {', '.join(BASELINES)}")
    return {"spec": None, **_run(nab_dir, out_dir, baseline, BASELINES[baseline], progress)}


def format_report(result: dict, command: str) -> str:
    """The benchmark's summary: scores, thresholds, throughput and the reproducing command."""
    lines = [
        f"NAB: {result['detector']} over {result['n_files']} files, "
        f"{result['n_points']:,} points, {result['n_windows']} windows",
        f"{'profile':<20} {'score':>8} {'raw':>10} {'threshold':>20}",
    ]
    for name, p in result["profiles"].items():
        lines.append(f"{name:<20} {p['normalized']:8.2f} {p['raw']:10.3f} {p['threshold']:>20.17g}")
    lines += [
        f"points/s: {result['points_per_s']:,.0f} (detect {result['detect_s']:.1f} s wall clock, "
        f"one process; scoring {result['score_s']:.1f} s)",
        f"results: {result['results_dir']}",
        f"reproduce: {command}",
    ]
    return "\n".join(lines)


def _stderr_progress(done: int, total: int, relative_path: str) -> None:
    print(f"nab: {done}/{total} {relative_path}", file=sys.stderr, flush=True)


def main(
    argv: Iterable[str] | None = None, prog: str = "python -m personastream_bench.nab"
) -> int:
    """Command line: ``--out DIR [--nab-dir DIR] [--spec NAME [--version V] | --baseline B]``."""
    parser = argparse.ArgumentParser(
        prog=prog, description="Run a detector spec over NAB and score it with NAB's rules."
    )
    parser.add_argument("--out", required=True, type=Path, help="results directory (NAB layout)")
    parser.add_argument(
        "--nab-dir",
        type=Path,
        default=DEFAULT_NAB_DIR,
        help=f"NAB corpus (default {DEFAULT_NAB_DIR})",
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument(
        "--spec", default=DEFAULT_SPEC, help=f"detector spec name (default {DEFAULT_SPEC})"
    )
    which.add_argument(
        "--baseline", choices=sorted(BASELINES), help="score a NAB reference detector instead"
    )
    parser.add_argument("--version", help="spec version (default: the latest)")
    parser.add_argument(
        "--nab-inputs",
        action="store_true",
        help="give the detector the series' min, max and probationary period, as NAB's runner "
        "does (a look ahead the live trends job cannot have; for comparing with published scores)",
    )
    args = parser.parse_args(None if argv is None else list(argv))
    try:
        if args.baseline:
            result = run_baseline(args.nab_dir, args.out, args.baseline, progress=_stderr_progress)
            selection = f"--baseline {args.baseline}"
        else:
            result = run(
                args.nab_dir,
                args.out,
                args.spec,
                args.version,
                nab_inputs=args.nab_inputs,
                progress=_stderr_progress,
            )
            name, version = result["spec"].split("/")
            selection = f"--spec {name} --version {version}" + (
                " --nab-inputs" if args.nab_inputs else ""
            )
    except (NabError, specs.SpecError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(format_report(result, f"{prog} --out {args.out} --nab-dir {args.nab_dir} {selection}"))
    return 0


"""Held-out NAB scores: choose a detector configuration and its thresholds by cross-validation.

NAB's scorer chooses each profile's alarm threshold on the whole corpus, and the parameters of a
detector tuned on NAB were chosen on it too, so ``bench nab``'s score is an in-sample figure.
Here both choices are made on six of NAB's seven categories and scored on the seventh, for each
of the seven rotations:

1. every candidate configuration (a published spec version, or one with some parameters
   overridden, :class:`Candidate`) runs over the whole corpus **once**; its scores are kept in
   NAB's results layout under ``--out`` (``<detector>/<category>/<detector>_<file>.csv``, with a
   ``candidate.json`` naming its parameters), and a later run with the same candidate reads
   them instead of running it again;
2. per fold (:func:`cross_validate`, pure selection over those cached scores): on the six
   training categories, each candidate's best threshold per profile is found with NAB's sweep
   (:func:`~.scoring.threshold_sweep`), the candidate with the best training score is chosen
   (by the ``select_by`` profile, one detector per fold as NAB scores one detector under every
   profile; or ``each`` profile on its own), and its thresholds are kept;
3. the held-out category is scored at those thresholds with NAB's rules; the seven held-out
   categories pooled make the headline: ``100 * (S - S_null) / (S_perfect - S_null)`` over the
   whole corpus, every file scored by its own fold's choice.

The pooled held-out detections are written in NAB's results layout too, one detector per
profile (``<spec>-heldout-<profile>``: anomaly_score 1 where the fold's chosen candidate reached
the fold's threshold for that profile, else 0), so that NAB's own scorer reads them: with its
threshold optimisation (it can only choose among "nothing", "these detections" and "every
row") or with ``heldout_thresholds.json`` (threshold 1.0 per detector and profile, NAB's
``--thresholdsFile`` format) it scores exactly the held-out detections.

``personastream bench nab --held-out --out DIR --candidates 3-3-0,3-4-0
--grid '3-4-0={"rate_damping": [10, 16]}'`` runs it.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from personastream_bench.nab import runner
from personastream_bench.nab.corpus import (DEFAULT_NAB_DIR, CostMatrix, NabError,
                                            read_results_file, results_path, write_results_file)
from personastream_bench.nab.runner import Corpus, load_corpus
from personastream_bench.nab.scoring import (NO_DETECTION_THRESHOLD, FileLabels, FileScore,
                                             ProfileResult, normalize, row_values, score_corpus,
                                             score_file, write_scores_files)

DEFAULT_SPEC = "trends_detector"
#: Choose one candidate per fold by this profile's training score (NAB scores one detector,
#: with a threshold per profile); ``each`` chooses per profile.
DEFAULT_SELECT_BY = "standard"
CANDIDATE_FILE = "candidate.json"
Log = Callable[[str], None]


# -- candidates ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """A published spec version, with some parameters overridden (not a published spec).

    >>> Candidate("3-4-0").label, Candidate("3-4-0", (("rate_damping", 10),)).label
    ('3-4-0', '3-4-0+rate_damping=10')
    """

    version: str
    overrides: tuple[tuple[str, Any], ...] = ()

    @property
    def label(self) -> str:
        return self.version + "".join(
            f"+{k}={json.dumps(v, separators=(',', ':'))}" for k, v in self.overrides
        )

    def detector(self, spec_name: str) -> str:
        """The results directory's name: ``<spec>-<label>`` (``trends_detector-3-4-0``)."""
        return f"{spec_name}-{self.label}"


def parse_candidates(versions: str | None, grids: Sequence[str] = ()) -> list[Candidate]:
    """``--candidates 3-3-0,3-4-0`` and ``--grid 'VERSION={"param": [values]}'`` (the product
    of the lists: one candidate per combination), in order, without repeats.

    >>> [c.label for c in parse_candidates("3-3-0,3-4-0", ['3-4-0={"a": [1, 2], "b": [0.5]}'])]
    ['3-3-0', '3-4-0', '3-4-0+a=1+b=0.5', '3-4-0+a=2+b=0.5']
    >>> parse_candidates(None, ["3-4-0"])
    Traceback (most recent call last):
    ...
    personastream_bench.nab.corpus.NabError: --grid '3-4-0': expected VERSION={"param": [values, ...]}
    """
    out = [Candidate(v.strip()) for v in (versions or "").split(",") if v.strip()]
    for grid in grids:
        version, sep, text = grid.partition("=")
        try:
            params = json.loads(text) if sep else None
        except json.JSONDecodeError:
            params = None
        if not version.strip() or not isinstance(params, dict) or not all(
            isinstance(v, list) and v for v in params.values()
        ):
            raise NabError(f"--grid {grid!r}: expected VERSION={{\"param\": [values, ...]}}")
        keys = list(params)
        for values in itertools.product(*(params[k] for k in keys)):
            out.append(Candidate(version.strip(), tuple(zip(keys, values))))
    unique = list(dict.fromkeys(out))
    if not unique:
        raise NabError("no candidates: give --candidates V1,V2 and/or --grid")
    return unique


def _candidate_record(spec, candidate: Candidate, corpus: Corpus) -> dict:
    """What identifies a candidate's cached scores: its published ``spec``, the overrides and
    the corpus' files."""
    return {
        "spec": spec.key,
        "label": candidate.label,
        "overrides": dict(candidate.overrides),
        "params": {**spec.params, **dict(candidate.overrides)},
        "stand_in": spec.stand_in.to_dict() if spec.stand_in else None,
        "files": {d.relative_path: len(d) for d in corpus.data},
    }


def candidate_scores(
    out_dir: Path,
    spec_name: str,
    candidate: Candidate,
    corpus: Corpus,
    *,
    reuse_results: bool = False,
    log: Log | None = None,
) -> tuple[list[list[float]], dict]:
    """One candidate's anomaly scores, per file in corpus order: read from ``out_dir`` when a
    run of the same candidate (same spec, parameters and files) left them there, else run it
    over the corpus (as ``bench nab`` does: fresh detector per file, score then learn each row)
    and keep them there. ``reuse_results`` also takes results files that ``bench nab --out
    out_dir --version V`` wrote for a candidate without overrides (a published spec does not
    change).

    Returns the scores and the candidate's record (``candidate.json``: parameters, files,
    ``points_per_s`` of the run that made them, None when adopted).
    """
    from personastream_models import specs

    detector = candidate.detector(spec_name)
    published = specs.load(spec_name, candidate.version)
    record = _candidate_record(published, candidate, corpus)
    record_path = Path(out_dir) / detector / CANDIDATE_FILE
    if record_path.exists():
        cached = json.loads(record_path.read_text(encoding="utf-8"))
        if {k: cached.get(k) for k in record} == record:
            if log:
                log(f"{candidate.label}: cached scores in {record_path.parent}")
            return [read_results_file(out_dir, detector, d) for d in corpus.data], cached
    if reuse_results and not candidate.overrides and all(
        results_path(out_dir, detector, d.relative_path).exists() for d in corpus.data
    ):
        scores = [read_results_file(out_dir, detector, d) for d in corpus.data]
        record |= {"points_per_s": None, "detect_s": None, "adopted": True}
        record_path.write_text(json.dumps(record, indent=1), encoding="utf-8")
        if log:
            log(f"{candidate.label}: adopted the results files in {record_path.parent}")
        return scores, record

    spec = published
    if candidate.overrides:
        params = {**spec.params, **dict(candidate.overrides)}
        spec = specs.validate({**spec.to_dict(), "params": params})
    score_rows = runner._spec_scorer(spec)
    scores, started = [], time.perf_counter()
    for done, (data, labels) in enumerate(zip(corpus.data, corpus.labels), start=1):
        file_scores = score_rows(data, labels, None)
        write_results_file(out_dir, detector, data, file_scores)
        scores.append(file_scores)
        if log:
            log(f"{candidate.label}: {done}/{len(corpus.data)} {data.relative_path}")
    detect_s = time.perf_counter() - started
    record |= {"points_per_s": corpus.n_points / detect_s, "detect_s": detect_s}
    record_path.write_text(json.dumps(record, indent=1), encoding="utf-8")
    return scores, record


# -- the folds: pure selection over cached scores -------------------------------------------


def category(labels: FileLabels) -> str:
    return labels.relative_path.split("/")[0]


@dataclass(frozen=True)
class Choice:
    """A fold's choice for one profile, made on its training categories only."""

    candidate: str
    threshold: float
    train_normalized: float
    #: every candidate's best training score for this profile (label -> normalized)
    train_scores: Mapping[str, float]


@dataclass(frozen=True)
class Fold:
    held_out: str
    n_files: int
    choices: Mapping[str, Choice]  # profile -> choice
    held_out_files: Mapping[str, tuple[FileScore, ...]]  # profile -> scores at the choice
    held_out_null: Mapping[str, float]
    held_out_perfect: Mapping[str, float]

    def normalized(self, profile: str) -> float:
        raw = math.fsum(f.score for f in self.held_out_files[profile])
        return normalize(raw, self.held_out_null[profile], self.held_out_perfect[profile])


@dataclass(frozen=True)
class CrossValidation:
    folds: tuple[Fold, ...]
    pooled: Mapping[str, ProfileResult]  # profile -> pooled held-out result (threshold nan)


@dataclass(frozen=True)
class Points:
    """One file's rows after probation, for one candidate and profile, as NAB's sweep sees
    them: anomaly score, weighted value as a detection, window (global id, -1 outside)."""

    scores: np.ndarray
    values: np.ndarray
    windows: np.ndarray


def file_points(labels: FileLabels, scores: Sequence[float], cost: CostMatrix,
                window_base: int) -> Points:
    """:class:`Points` of one file; its windows are numbered from ``window_base``."""
    if len(scores) != labels.n_rows:
        raise NabError(f"{labels.relative_path}: {len(scores)} scores for {labels.n_rows} rows")
    p = labels.probation
    window = np.array([-1 if w is None else window_base + w for w in labels.window_of_row[p:]],
                      dtype=np.int64)
    return Points(np.asarray(scores[p:], dtype=float),
                  np.asarray(row_values(labels, cost)[p:], dtype=float), window)


def best_threshold(points: Sequence[Points], cost: CostMatrix, n_windows: int) -> tuple[float, float]:
    """(threshold, normalized score) of NAB's threshold optimisation over these files, as
    :func:`~.scoring.optimize_threshold` of :func:`~.scoring.threshold_sweep` (same sums in
    the same order), vectorised: the folds sweep every candidate over six categories.

    ``n_windows``: the files' windows as NAB counts them for ``S_perfect``.
    """
    scores = np.concatenate([p.scores for p in points])
    values = np.concatenate([p.values for p in points])
    windows = np.concatenate([p.windows for p in points])
    order = np.argsort(-scores, kind="stable")
    scores, values, windows = scores[order], values[order], windows[order]
    inside = windows >= 0
    scored_windows = np.unique(windows[inside])
    start = -cost.fn_weight * len(scored_windows)
    fp = np.where(inside, 0.0, values)
    gains = np.zeros(len(values))
    idx = np.flatnonzero(inside)
    if len(idx):
        by_window = idx[np.argsort(windows[idx], kind="stable")]  # sweep order within a window
        w_sorted = windows[by_window]
        bounds = np.flatnonzero(np.diff(w_sorted)) + 1
        for group in np.split(by_window, bounds):
            best = np.maximum.accumulate(np.maximum(values[group], -cost.fn_weight))
            previous = np.concatenate(([-cost.fn_weight], best[:-1]))
            gains[group] = best - previous
    fp_total = np.cumsum(fp)
    window_total = np.cumsum(np.concatenate(([start], gains)))[1:]
    totals = fp_total + window_total
    ends = np.flatnonzero(np.append(scores[1:] != scores[:-1], True))
    candidates = np.concatenate(([start], totals[ends]))
    thresholds = np.concatenate(([NO_DETECTION_THRESHOLD], scores[ends]))
    k = int(np.argmax(candidates))  # the first maximum: the highest threshold on ties
    perfect = cost.tp_weight * n_windows
    return float(thresholds[k]), normalize(float(candidates[k]), start, perfect)


PointsByCandidate = Mapping[str, Mapping[str, Sequence[Points]]]  # label -> profile -> files


def all_points(
    labels: Sequence[FileLabels],
    scores_by_candidate: Mapping[str, Sequence[Sequence[float]]],
    profiles: Mapping[str, CostMatrix],
) -> dict[str, dict[str, list[Points]]]:
    """:class:`Points` of every file, per candidate and profile (windows numbered corpus-wide)."""
    bases = list(itertools.accumulate((f.n_windows for f in labels), initial=0))
    return {
        label: {
            name: [file_points(f, scores[i], cost, bases[i]) for i, f in enumerate(labels)]
            for name, cost in profiles.items()
        }
        for label, scores in scores_by_candidate.items()
    }


def _choose(
    points: PointsByCandidate,
    train: Sequence[int],
    n_windows: int,
    profiles: Mapping[str, CostMatrix],
    select_by: str,
) -> dict[str, Choice]:
    if select_by != "each" and select_by not in profiles:
        raise NabError(f"select_by {select_by!r}: expected 'each' or one of {', '.join(profiles)}")
    best = {
        name: {
            label: best_threshold([by_profile[name][i] for i in train], cost, n_windows)
            for label, by_profile in points.items()
        }
        for name, cost in profiles.items()
    }

    def argmax(profile: str) -> str:
        by_label = best[profile]
        return max(by_label, key=lambda label: by_label[label][1])  # first on ties

    shared = None if select_by == "each" else argmax(select_by)
    out = {}
    for name in profiles:
        label = shared or argmax(name)
        threshold, normalized = best[name][label]
        out[name] = Choice(label, threshold, normalized, {k: v[1] for k, v in best[name].items()})
    return out


def choose(
    labels: Sequence[FileLabels],
    scores_by_candidate: Mapping[str, Sequence[Sequence[float]]],
    profiles: Mapping[str, CostMatrix],
    select_by: str = DEFAULT_SELECT_BY,
) -> dict[str, Choice]:
    """Per profile, the candidate and threshold that score best on ``labels`` (training files).

    With ``select_by`` a profile, one candidate for every profile (the best in that profile;
    ties to the first listed); with ``each``, each profile's own best.
    """
    points = all_points(labels, scores_by_candidate, profiles)
    return _choose(points, range(len(labels)), sum(f.n_windows for f in labels), profiles,
                   select_by)


def cross_validate(
    labels: Sequence[FileLabels],
    scores_by_candidate: Mapping[str, Sequence[Sequence[float]]],
    profiles: Mapping[str, CostMatrix],
    select_by: str = DEFAULT_SELECT_BY,
    log: Log | None = None,
) -> CrossValidation:
    """Leave one category out, for every category: choose on the others (:func:`choose`), score
    the held-out files at the choice; pool the held-out files into one NAB score per profile.

    ``scores_by_candidate[label][i]`` are the anomaly scores of file ``labels[i]``.
    """
    categories = sorted({category(f) for f in labels})
    if len(categories) < 2:
        raise NabError(f"cross-validation needs two categories or more, got {categories}")
    points = all_points(labels, scores_by_candidate, profiles)
    folds = []
    for held_out in categories:
        train = [i for i, f in enumerate(labels) if category(f) != held_out]
        test = [i for i, f in enumerate(labels) if category(f) == held_out]
        choices = _choose(points, train, sum(labels[i].n_windows for i in train), profiles,
                          select_by)
        files, null, perfect = {}, {}, {}
        for name, cost in profiles.items():
            c = choices[name]
            chosen = scores_by_candidate[c.candidate]
            files[name] = tuple(score_file(labels[i], chosen[i], cost, c.threshold) for i in test)
            null[name] = -cost.fn_weight * sum(len(labels[i].scored_windows) for i in test)
            perfect[name] = cost.tp_weight * sum(labels[i].n_windows for i in test)
        fold = Fold(held_out, len(test), choices, files, null, perfect)
        folds.append(fold)
        if log:
            log(f"fold {held_out}: " + ", ".join(
                f"{n} {fold.choices[n].candidate} @ {fold.choices[n].threshold:.4f} -> "
                f"{fold.normalized(n):.2f}" for n in profiles))
    pooled = {}
    for name, cost in profiles.items():
        per_file = tuple(f for fold in folds for f in fold.held_out_files[name])
        raw = math.fsum(f.score for f in per_file)
        null = math.fsum(fold.held_out_null[name] for fold in folds)
        perfect = cost.tp_weight * sum(f.n_windows for f in labels)
        pooled[name] = ProfileResult(
            name, math.nan, raw, null, perfect, normalize(raw, null, perfect), per_file
        )
    return CrossValidation(tuple(folds), pooled)


# -- results files -------------------------------------------------------------------------


#: Short profile names for held-out detectors' directories: NAB's ``normalize`` finds a scores
#: file's profile by looking for the profile's name anywhere in its path.
PROFILE_TAGS = {"standard": "std", "reward_low_FP_rate": "lowfp", "reward_low_FN_rate": "lowfn"}


def heldout_detector(spec_name: str, profile: str) -> str:
    """The pooled held-out detections' detector for one profile.

    >>> heldout_detector("trends_detector", "reward_low_FP_rate")
    'trends_detector-heldout-lowfp'
    """
    return f"{spec_name}-heldout-{PROFILE_TAGS.get(profile, profile)}"


def write_heldout(
    out_dir: Path,
    spec_name: str,
    corpus: Corpus,
    scores_by_candidate: Mapping[str, Sequence[Sequence[float]]],
    cv: CrossValidation,
) -> dict[str, dict]:
    """Write the pooled held-out detections in NAB's results layout, one detector per profile
    (1 where the fold's candidate reached the fold's threshold), score them with the project's
    scorer as NAB's runner would (threshold optimised over the corpus) and write its
    ``_scores.csv``; also ``heldout_thresholds.json`` (NAB's thresholds file: 1.0 each).

    Returns per profile the detector, its results directory and the optimised score (equal to
    the pooled held-out score unless the held-out detections score below the null detector).
    """
    fold_of = {fold.held_out: fold for fold in cv.folds}
    out = {}
    thresholds = {}
    for name in corpus.profiles:
        detector = heldout_detector(spec_name, name)
        binary = []
        for i, (data, labels) in enumerate(zip(corpus.data, corpus.labels)):
            choice = fold_of[category(labels)].choices[name]
            row_scores = scores_by_candidate[choice.candidate][i]
            binary.append([1.0 if s >= choice.threshold else 0.0 for s in row_scores])
            write_results_file(out_dir, detector, data, binary[-1])
        results = score_corpus(corpus.labels, binary, {name: corpus.profiles[name]})
        write_scores_files(out_dir, detector, results)
        thresholds[detector] = {  # NAB scores every profile; only this one is meant
            p: {"threshold": 1.0, "score": results[name].raw if p == name else None}
            for p in corpus.profiles
        }
        out[name] = {
            "detector": detector,
            "results_dir": str(Path(out_dir) / detector),
            "nab_optimised": results[name].normalized,
            "nab_optimised_threshold": results[name].threshold,
        }
    (Path(out_dir) / "heldout_thresholds.json").write_text(
        json.dumps(thresholds, indent=1), encoding="utf-8"
    )
    return out


# -- the run -------------------------------------------------------------------------------


def run(
    nab_dir: Path,
    out_dir: Path,
    candidates: Sequence[Candidate],
    spec_name: str = DEFAULT_SPEC,
    *,
    select_by: str = DEFAULT_SELECT_BY,
    reuse_results: bool = False,
    log: Log | None = None,
) -> dict:
    """Run (or read) every candidate, score each in-sample, cross-validate, write the results.

    Returns a summary (also written to ``out_dir/heldout.json``).
    """
    out_dir = Path(out_dir)
    corpus = load_corpus(nab_dir)
    if select_by != "each" and select_by not in corpus.profiles:
        raise NabError(f"--select-by {select_by!r}: 'each' or one of {', '.join(corpus.profiles)}")
    scores, records, in_sample, detectors = {}, {}, {}, {}
    for candidate in candidates:
        detectors[candidate.label] = candidate.detector(spec_name)
        scores[candidate.label], records[candidate.label] = candidate_scores(
            out_dir, spec_name, candidate, corpus, reuse_results=reuse_results, log=log
        )
        results = score_corpus(corpus.labels, scores[candidate.label], corpus.profiles)
        write_scores_files(out_dir, candidate.detector(spec_name), results)
        in_sample[candidate.label] = {
            n: {"normalized": r.normalized, "threshold": r.threshold} for n, r in results.items()
        }
        if log:
            log(f"{candidate.label}: in-sample " + ", ".join(
                f"{n} {r.normalized:.2f}" for n, r in results.items()))
    cv = cross_validate(corpus.labels, scores, corpus.profiles, select_by, log=log)
    written = write_heldout(out_dir, spec_name, corpus, scores, cv)
    summary = {
        "spec": spec_name,
        "nab_dir": str(nab_dir),
        "out_dir": str(out_dir),
        "select_by": select_by,
        "n_files": len(corpus.data),
        "n_points": corpus.n_points,
        "candidates": {
            label: {
                "detector": detectors[label],
                "overrides": r["overrides"],
                "points_per_s": r.get("points_per_s"),
                "in_sample": in_sample[label],
            }
            for label, r in records.items()
        },
        "folds": [
            {
                "held_out": fold.held_out,
                "n_files": fold.n_files,
                "profiles": {
                    n: {
                        "candidate": c.candidate,
                        "threshold": c.threshold,
                        "train": c.train_normalized,
                        "train_by_candidate": dict(c.train_scores),
                        "held_out": fold.normalized(n),
                    }
                    for n, c in fold.choices.items()
                },
            }
            for fold in cv.folds
        ],
        "held_out": {n: r.normalized for n, r in cv.pooled.items()},
        "held_out_raw": {n: {"raw": r.raw, "null": r.null, "perfect": r.perfect}
                         for n, r in cv.pooled.items()},
        "held_out_results": written,
    }
    (out_dir / "heldout.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
    return summary


def format_report(summary: dict, command: str) -> str:
    """Per fold the held-out category, choice, thresholds and held-out score; then the pooled
    held-out scores beside every candidate's in-sample scores."""
    profiles = list(summary["held_out"])
    short = {"standard": "std", "reward_low_FP_rate": "lowFP", "reward_low_FN_rate": "lowFN"}
    head = lambda n: short.get(n, n)  # noqa: E731
    width = max(len(lbl) for lbl in summary["candidates"]) + 2
    lines = [
        f"NAB held out ({len(summary['folds'])} folds, one category held out each; candidate "
        f"chosen by {summary['select_by']}, threshold per profile, on the other six): "
        f"{summary['n_files']} files, {summary['n_points']:,} points",
        f"{'held out':<22} {'files':>5}  " + "  ".join(
            f"{head(n) + ' candidate':<{width}} {'thr':>9} {'train':>6} {'held':>6}" for n in profiles),
    ]
    for fold in summary["folds"]:
        cells = []
        for n in profiles:
            p = fold["profiles"][n]
            cells.append(f"{p['candidate']:<{width}} {p['threshold']:>9.6g} {p['train']:6.2f} "
                         f"{p['held_out']:6.2f}")
        lines.append(f"{fold['held_out']:<22} {fold['n_files']:>5}  " + "  ".join(cells))
    if any(math.isnan(p["held_out"]) for f in summary["folds"] for p in f["profiles"].values()):
        lines.append("nan: a category without windows has no score of its own; its false "
                     "positives count in the pooled score")
    lines += ["", f"{'':<{width + 12}}" + "".join(f"{n:>20}" for n in profiles) + f"{'points/s':>12}"]
    for label, c in summary["candidates"].items():
        pps = c["points_per_s"]
        lines.append(f"{'in-sample ' + label:<{width + 12}}" + "".join(
            f"{c['in_sample'][n]['normalized']:20.2f}" for n in profiles)
            + (f"{pps:12,.0f}" if pps else f"{'(adopted)':>12}"))
    lines.append(f"{'HELD OUT (pooled)':<{width + 12}}" + "".join(
        f"{summary['held_out'][n]:20.2f}" for n in profiles))
    lines.append("held-out results (NAB layout, 1 = detection at the fold's threshold): " + ", ".join(
        f"{w['results_dir']}" for w in summary["held_out_results"].values()))
    mismatch = [n for n, w in summary["held_out_results"].items()
                if abs(w["nab_optimised"] - summary["held_out"][n]) > 1e-6]
    if mismatch:
        lines.append("note: NAB's optimisation over the held-out files differs for " + ", ".join(
            f"{n} ({summary['held_out_results'][n]['nab_optimised']:.2f})" for n in mismatch))
    lines.append(f"summary: {Path(summary['out_dir']) / 'heldout.json'}")
    lines.append(f"reproduce: {command}")
    return "\n".join(lines)


def _stderr(message: str) -> None:
    print(f"nab held-out: {message}", file=sys.stderr, flush=True)


def main(
    argv: Iterable[str] | None = None, prog: str = "personastream bench nab --held-out"
) -> int:
    """Command line: ``--out DIR [--nab-dir DIR] --candidates V,... [--grid V=JSON ...]``."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Choose a detector configuration and its thresholds by leave-one-category-"
        "out cross-validation over NAB; report held-out beside in-sample scores.",
    )
    parser.add_argument("--out", required=True, type=Path,
                        help="results directory (NAB layout; candidates' scores are cached here)")
    parser.add_argument("--nab-dir", type=Path, default=DEFAULT_NAB_DIR,
                        help=f"NAB corpus (default {DEFAULT_NAB_DIR})")
    parser.add_argument("--spec", default=DEFAULT_SPEC, help=f"detector spec (default {DEFAULT_SPEC})")
    parser.add_argument("--candidates", help="published versions, comma separated: 3-3-0,3-4-0")
    parser.add_argument("--grid", action="append", default=[],
                        help='VERSION={"param": [values, ...]}: a candidate per combination of '
                        "the version with those parameters (repeatable; not published specs)")
    parser.add_argument("--select-by", default=DEFAULT_SELECT_BY,
                        help="choose one candidate per fold by this profile's training score "
                        f"(default {DEFAULT_SELECT_BY}), or 'each' profile on its own")
    parser.add_argument("--reuse-results", action="store_true",
                        help="take results files that `bench nab --out DIR --version V` left in "
                        "--out for a published version instead of running it again")
    args = parser.parse_args(None if argv is None else list(argv))
    from personastream_models import specs

    try:
        candidates = parse_candidates(args.candidates, args.grid)
        summary = run(args.nab_dir, args.out, candidates, args.spec, select_by=args.select_by,
                      reuse_results=args.reuse_results, log=_stderr)
    except (NabError, specs.SpecError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    command = [prog, "--out", str(args.out), "--nab-dir", str(args.nab_dir)]
    if args.spec != DEFAULT_SPEC:
        command += ["--spec", args.spec]
    if args.candidates:
        command += ["--candidates", args.candidates]
    for grid in args.grid:
        command += ["--grid", f"'{grid}'"]
    if args.select_by != DEFAULT_SELECT_BY:
        command += ["--select-by", args.select_by]
    print(format_report(summary, " ".join(command)))
    return 0


__all__ = [
    "Candidate", "Choice", "CrossValidation", "Fold", "choose", "cross_validate", "main",
    "parse_candidates", "run",
]

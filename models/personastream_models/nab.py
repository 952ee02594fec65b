"""The Numenta Anomaly Benchmark (NAB v1.1): run a detector spec over the corpus and score it.

``python -m personastream_models.nab --out DIR`` runs the trends detector over every series of
the corpus, one row at a time in file order, with the code the Flink trends job runs
(:func:`personastream_models.detectors.score_then_learn`), writes NAB's results layout and
scores it with this module's own implementation of NAB's scoring.

Results layout (NAB's)::

    DIR/<detector>/<category>/<detector>_<file>.csv    timestamp,value,anomaly_score
    DIR/<detector>/<detector>_<profile>_scores.csv     per-file scores at the profile's threshold

``<detector>`` is the spec's ``name-version`` (``trends_detector-1-0-0``), or the baseline's name.
``anomaly_score`` is in [0, 1], one row per input row, matched to the data file by position.

Scoring (numenta/NAB ``nab/sweeper.py``, ``scorer.py``, ``runner.py`` at v1.1), per profile of
``config/profiles.json``:

- the first ``min(floor(0.15 * N), 750)`` rows of a file are probationary and not scored; a
  window with no row after probation is not scored either;
- a row with ``anomaly_score >= theta`` is a detection;
- inside a window of width ``w`` whose right edge is row ``r``, row ``i`` is worth
  ``A_TP * s(-(r - i + 1) / w) / s(-1)``, with ``s(y) = 2 * sigmoid(-5 y) - 1``; a window scores
  its best (earliest) detection only, or ``-A_FN`` when nothing in it is detected;
- a detection outside windows is worth ``A_FP * s(|i - r_prev| / (w_prev - 1))`` after a window
  (``s`` is -1 beyond 3 widths), ``-A_FP`` before the file's first window;
- ``theta`` is one value for the whole corpus and profile: every distinct score is tried
  (starting above 1, "no detection") and the best corpus total wins, ties to the higher theta;
- normalized score ``100 * (S - S_null) / (S_perfect - S_null)``: ``S_null`` is the total of a
  detector that never detects, ``S_perfect = A_TP * number of windows``.

Baselines (``--baseline``) check the scorer against NAB's published numbers: ``null`` (NAB's null
detector, 0.5 everywhere), ``perfect`` (1 at each window's first row) and ``random`` (NAB's
random detector: ``random.seed(42)`` per file, ``uniform(0, 1)`` per row).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import random
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterable, Sequence

from personastream_models import features, specs
from personastream_models.detectors import score_then_learn

__all__ = [
    "BASELINES",
    "CostMatrix",
    "DEFAULT_NAB_DIR",
    "DataFile",
    "FileLabels",
    "FileScore",
    "NabDataError",
    "NabError",
    "ProfileResult",
    "ThresholdScore",
    "format_report",
    "label_rows",
    "list_data_files",
    "load_profiles",
    "load_windows",
    "main",
    "normalize",
    "optimize_threshold",
    "probation_length",
    "read_data_file",
    "read_results_file",
    "results_path",
    "run",
    "run_baseline",
    "scaled_sigmoid",
    "score_corpus",
    "score_file",
    "threshold_sweep",
    "write_results_file",
]

#: ``../shared/data/nab`` next to the repository (the issue's location); pass ``--nab-dir`` else.
DEFAULT_NAB_DIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "nab"
PROBATION_PERCENT = 0.15
#: NAB caps probation at ``probationPercent * 5000`` rows.
PROBATION_MAX_ROWS = 750
#: NAB's starting threshold, above every score: nothing is detected.
NO_DETECTION_THRESHOLD = 1.1
#: Beyond this many window widths after a window, a false positive costs the full ``A_FP``.
FP_FULL_COST_WIDTHS = 3.0
DEFAULT_SPEC = "trends_detector"
RESULTS_HEADER = ("timestamp", "value", "anomaly_score")
SCORES_HEADER = (
    "Detector",
    "Profile",
    "File",
    "Threshold",
    "Score",
    "TP",
    "TN",
    "FP",
    "FN",
    "Total_Count",
)


class NabError(Exception):
    """Base class of NAB benchmark errors."""


class NabDataError(NabError):
    """The corpus, labels, profiles or a results file are not as NAB lays them out."""


# -- corpus --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CostMatrix:
    """A scoring profile's weights (NAB's ``tpWeight``, ``fpWeight``, ``fnWeight``)."""

    tp_weight: float
    fp_weight: float
    fn_weight: float


@dataclass(frozen=True)
class DataFile:
    """One NAB series, rows kept as read (timestamps and values as text, in file order)."""

    relative_path: str
    timestamps: tuple[str, ...]
    values: tuple[str, ...]
    times: tuple[datetime, ...] = field(repr=False)

    @property
    def category(self) -> str:
        return self.relative_path.split("/")[0]

    @property
    def file_name(self) -> str:
        return self.relative_path.split("/")[-1]

    def __len__(self) -> int:
        return len(self.timestamps)


def _require(path: Path, what: str) -> Path:
    if not path.exists():
        raise NabDataError(
            f"{what} not found at {path}: pass the NAB directory (--nab-dir) "
            "that holds data/, labels/ and config/"
        )
    return path


def list_data_files(nab_dir: Path) -> list[str]:
    """Relative paths (``category/file.csv``) of every series under ``nab_dir/data``, sorted."""
    data_dir = _require(Path(nab_dir) / "data", "NAB data directory")
    found = sorted(p.relative_to(data_dir).as_posix() for p in data_dir.glob("*/*.csv"))
    if not found:
        raise NabDataError(f"no series (data/<category>/<file>.csv) under {data_dir}")
    return found


def read_data_file(nab_dir: Path, relative_path: str) -> DataFile:
    """Read ``data/<relative_path>`` (``timestamp,value``)."""
    path = _require(Path(nab_dir) / "data" / relative_path, "NAB series")
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header != ["timestamp", "value"]:
            raise NabDataError(f"{path}: header must be timestamp,value, got {header}")
        rows = [row for row in reader if row]
    try:
        times = tuple(datetime.fromisoformat(row[0]) for row in rows)
    except (ValueError, IndexError) as error:
        raise NabDataError(f"{path}: bad row: {error}") from None
    return DataFile(
        relative_path=relative_path,
        timestamps=tuple(row[0] for row in rows),
        values=tuple(row[1] for row in rows),
        times=times,
    )


def load_windows(nab_dir: Path) -> dict[str, list[tuple[datetime, datetime]]]:
    """``labels/combined_windows.json``: per relative path, the ``[start, end]`` windows."""
    path = _require(Path(nab_dir) / "labels" / "combined_windows.json", "NAB windows file")
    raw = json.loads(path.read_text(encoding="utf-8"))
    try:
        return {
            rel: [(datetime.fromisoformat(a), datetime.fromisoformat(b)) for a, b in limits]
            for rel, limits in raw.items()
        }
    except (ValueError, TypeError) as error:
        raise NabDataError(
            f"{path}: windows must be [start, end] timestamp pairs: {error}"
        ) from None


def load_profiles(nab_dir: Path) -> dict[str, CostMatrix]:
    """``config/profiles.json``: profile name -> cost matrix, in file order."""
    path = _require(Path(nab_dir) / "config" / "profiles.json", "NAB profiles file")
    raw = json.loads(path.read_text(encoding="utf-8"))
    try:
        return {
            name: CostMatrix(
                tp_weight=float(p["CostMatrix"]["tpWeight"]),
                fp_weight=float(p["CostMatrix"]["fpWeight"]),
                fn_weight=float(p["CostMatrix"]["fnWeight"]),
            )
            for name, p in raw.items()
        }
    except (KeyError, TypeError, ValueError) as error:
        raise NabDataError(
            f"{path}: each profile needs CostMatrix tpWeight, fpWeight, fnWeight: {error!r}"
        ) from None


# -- results layout ------------------------------------------------------------------------


def results_path(out_dir: Path, detector: str, relative_path: str) -> Path:
    """``out_dir/<detector>/<category>/<detector>_<file>.csv``.

    >>> results_path(Path("out"), "null", "realTraffic/speed_7578.csv").as_posix()
    'out/null/realTraffic/null_speed_7578.csv'
    """
    category, file_name = relative_path.split("/")
    return Path(out_dir) / detector / category / f"{detector}_{file_name}"


def write_results_file(
    out_dir: Path, detector: str, data: DataFile, anomaly_scores: Sequence[float]
) -> Path:
    """Write one results file: the data rows as read, plus ``anomaly_score``."""
    if len(anomaly_scores) != len(data):
        raise NabError(f"{data.relative_path}: {len(anomaly_scores)} scores for {len(data)} rows")
    path = results_path(out_dir, detector, data.relative_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(RESULTS_HEADER)
        writer.writerows(
            zip(data.timestamps, data.values, (repr(float(s)) for s in anomaly_scores))
        )
    return path


def read_results_file(out_dir: Path, detector: str, data: DataFile) -> list[float]:
    """The ``anomaly_score`` column of a results file, checked against its data file."""
    path = results_path(out_dir, detector, data.relative_path)
    if not path.exists():
        raise NabDataError(f"no results for {data.relative_path}: expected {path}")
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if "anomaly_score" not in (reader.fieldnames or ()):
            raise NabDataError(f"{path}: no anomaly_score column (columns: {reader.fieldnames})")
        scores = [float(row["anomaly_score"]) for row in reader]
    if len(scores) != len(data):
        raise NabDataError(f"{path}: {len(scores)} rows, but {data.relative_path} has {len(data)}")
    bad = next((s for s in scores if not 0.0 <= s <= 1.0), None)
    if bad is not None:
        raise NabDataError(f"{path}: anomaly_score {bad!r} is outside [0, 1]")
    return scores


# -- scoring -------------------------------------------------------------------------------


def probation_length(n_rows: int) -> int:
    """Rows at the start of a file that are not scored: ``min(floor(0.15 * N), 750)``.

    >>> probation_length(4032), probation_length(15831), probation_length(6)
    (604, 750, 0)
    """
    return min(math.floor(PROBATION_PERCENT * n_rows), PROBATION_MAX_ROWS)


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def scaled_sigmoid(position: float) -> float:
    """NAB's weight of a detection at ``position`` relative to a window's right edge.

    -1 is a window's left edge, 0 its right edge, positive values lie after it.

    >>> [round(scaled_sigmoid(y), 5) for y in (-1.0, -0.5, 0.0, 1.0, 3.5)]
    [0.98661, 0.84828, 0.0, -0.98661, -1.0]
    """
    if position > FP_FULL_COST_WIDTHS:
        return -1.0
    return 2 * _sigmoid(-5 * position) - 1.0


@dataclass(frozen=True)
class FileLabels:
    """Per-row ground truth of one file, independent of profile and detector.

    ``window_of_row[i]`` is the index of the window holding row ``i`` (None outside windows);
    ``unweighted[i]`` is ``s(position)`` of row ``i`` (its value if it were a detection,
    before the profile's weight).
    """

    relative_path: str
    probation: int
    window_of_row: tuple[int | None, ...]
    unweighted: tuple[float, ...]
    n_windows: int

    @property
    def n_rows(self) -> int:
        return len(self.window_of_row)

    @property
    def scored_windows(self) -> frozenset[int]:
        """Windows with at least one row after probation (the only ones NAB scores)."""
        return frozenset(w for w in self.window_of_row[self.probation :] if w is not None)


def label_rows(
    relative_path: str, times: Sequence[datetime], windows: Sequence[tuple[datetime, datetime]]
) -> FileLabels:
    """Place every row relative to the file's windows, as NAB's ``Sweeper.calcSweepScore``.

    Windows are found by position: a window starts at the first row whose timestamp equals its
    start and ends at the first row equal to its end (NAB's ``timestamps.index``). Rows keep
    file order; timestamps may repeat (daylight-saving hours in some NAB series).
    """
    first_index: dict[datetime, int] = {}
    for i, t in enumerate(times):
        first_index.setdefault(t, i)
    bounds = []
    for start, end in windows:
        if start not in first_index or end not in first_index:
            missing = start if start not in first_index else end
            raise NabDataError(
                f"{relative_path}: window limit {missing} is not a timestamp of the file"
            )
        left, right = first_index[start], first_index[end]
        if right < left:
            raise NabDataError(f"{relative_path}: window [{start}, {end}] ends before it starts")
        if bounds and left <= bounds[-1][1]:
            raise NabDataError(
                f"{relative_path}: window [{start}, {end}] overlaps or precedes the previous one"
            )
        bounds.append((left, right))

    window_of_row: list[int | None] = []
    unweighted: list[float] = []
    next_window = 0
    current: int | None = None
    right = width = 0
    previous_right: int | None = None
    previous_width = 0
    for i in range(len(times)):
        if current is None and next_window < len(bounds) and i == bounds[next_window][0]:
            current = next_window
            left, right = bounds[current]
            width = right - left + 1
            next_window += 1
        if current is not None:
            unweighted.append(scaled_sigmoid(-(right - i + 1) / width))
        elif previous_right is None:
            unweighted.append(-1.0)
        else:
            if previous_width == 1:
                raise NabDataError(
                    f"{relative_path}: a window one row wide precedes row {i}; NAB weighs false "
                    "positives by distance / (width - 1), undefined for it"
                )
            unweighted.append(scaled_sigmoid(abs(previous_right - i) / (previous_width - 1)))
        window_of_row.append(current)
        if current is not None and i == right:
            previous_right, previous_width = i, width
            current = None
    return FileLabels(
        relative_path=relative_path,
        probation=probation_length(len(times)),
        window_of_row=tuple(window_of_row),
        unweighted=tuple(unweighted),
        n_windows=len(bounds),
    )


def _row_values(labels: FileLabels, cost: CostMatrix) -> list[float]:
    """Weighted value of each row as a detection (NAB's ``sweepScore``)."""
    max_tp = scaled_sigmoid(-1.0)
    return [
        u * cost.tp_weight / max_tp if w is not None else u * cost.fp_weight
        for u, w in zip(labels.unweighted, labels.window_of_row)
    ]


@dataclass(frozen=True)
class ThresholdScore:
    """Corpus total when every score ``>= threshold`` is a detection (counts exclude probation)."""

    threshold: float
    score: float
    tp: int
    tn: int
    fp: int
    fn: int

    @property
    def total(self) -> int:
        return self.tp + self.tn + self.fp + self.fn


def threshold_sweep(
    files: Sequence[tuple[FileLabels, Sequence[float]]], cost: CostMatrix
) -> list[ThresholdScore]:
    """Corpus score at every candidate threshold, highest threshold first (NAB's sweep).

    The first entry is ``NO_DETECTION_THRESHOLD`` (the null detector's score); then one entry
    per distinct anomaly score, each counting every row scored at or above it.
    """
    points: list[tuple[float, float, tuple[int, int] | None]] = []
    for file_index, (labels, anomaly_scores) in enumerate(files):
        if len(anomaly_scores) != labels.n_rows:
            raise NabError(
                f"{labels.relative_path}: {len(anomaly_scores)} scores for {labels.n_rows} rows"
            )
        values = _row_values(labels, cost)
        for i in range(labels.probation, labels.n_rows):
            w = labels.window_of_row[i]
            points.append(
                (float(anomaly_scores[i]), values[i], None if w is None else (file_index, w))
            )
    points.sort(key=lambda p: p[0], reverse=True)

    best_in_window = {key: -cost.fn_weight for _, _, key in points if key is not None}
    window_total = -cost.fn_weight * len(best_in_window)
    fp_total = 0.0
    tn = sum(1 for p in points if p[2] is None)
    fn = len(points) - tn
    tp = fp = 0
    sweep = []
    threshold = NO_DETECTION_THRESHOLD
    for anomaly_score, value, key in points:
        if anomaly_score != threshold:
            sweep.append(ThresholdScore(threshold, fp_total + window_total, tp, tn, fp, fn))
            threshold = anomaly_score
        if key is None:
            fp += 1
            tn -= 1
            fp_total += value
        else:
            tp += 1
            fn -= 1
            if value > best_in_window[key]:
                window_total += value - best_in_window[key]
                best_in_window[key] = value
    sweep.append(ThresholdScore(threshold, fp_total + window_total, tp, tn, fp, fn))
    return sweep


def optimize_threshold(sweep: Sequence[ThresholdScore]) -> ThresholdScore:
    """The best corpus score of a sweep; on a tie, the higher threshold (NAB's stable sort)."""
    return max(sweep, key=lambda s: s.score)


@dataclass(frozen=True)
class FileScore(ThresholdScore):
    """One file's raw score at a threshold; row counts exclude probation."""

    relative_path: str


def score_file(
    labels: FileLabels, anomaly_scores: Sequence[float], cost: CostMatrix, threshold: float
) -> FileScore:
    """Raw NAB score of one file when every score ``>= threshold`` is a detection."""
    if len(anomaly_scores) != labels.n_rows:
        raise NabError(
            f"{labels.relative_path}: {len(anomaly_scores)} scores for {labels.n_rows} rows"
        )
    values = _row_values(labels, cost)
    best = {w: -cost.fn_weight for w in labels.scored_windows}
    fp_total = 0.0
    tp = tn = fp = fn = 0
    for i in range(labels.probation, labels.n_rows):
        w = labels.window_of_row[i]
        detected = anomaly_scores[i] >= threshold
        if w is None:
            if detected:
                fp += 1
                fp_total += values[i]
            else:
                tn += 1
        elif detected:
            tp += 1
            best[w] = max(best[w], values[i])
        else:
            fn += 1
    return FileScore(
        threshold, fp_total + sum(best.values()), tp, tn, fp, fn, relative_path=labels.relative_path
    )


def normalize(raw: float, null: float, perfect: float) -> float:
    """NAB's normalized score: 0 for the null detector, 100 for the perfect one.

    >>> [normalize(raw, null=-116.0, perfect=116.0) for raw in (-116.0, 116.0, 0.0)]
    [0.0, 100.0, 50.0]
    """
    if perfect == null:
        return math.nan
    return 100 * (raw - null) / (perfect - null)


@dataclass(frozen=True)
class ProfileResult:
    """A detector's result for one profile."""

    profile: str
    threshold: float
    raw: float
    null: float
    perfect: float
    normalized: float
    files: tuple[FileScore, ...]


def score_corpus(
    labels: Sequence[FileLabels],
    anomaly_scores: Sequence[Sequence[float]],
    profiles: dict[str, CostMatrix],
) -> dict[str, ProfileResult]:
    """Optimize the threshold per profile over the whole corpus, score each file at it, normalize.

    ``S_null`` is the sweep's "no detection" entry; ``S_perfect`` is ``A_TP`` times the number of
    windows of the files scored (116 for the whole corpus, as NAB counts them in the labels).
    """
    files = list(zip(labels, anomaly_scores))
    n_windows = sum(f.n_windows for f in labels)
    out = {}
    for name, cost in profiles.items():
        sweep = threshold_sweep(files, cost)
        best = optimize_threshold(sweep)
        per_file = tuple(score_file(f, s, cost, best.threshold) for f, s in files)
        raw = math.fsum(f.score for f in per_file)
        null = sweep[0].score
        perfect = cost.tp_weight * n_windows
        out[name] = ProfileResult(
            name, best.threshold, raw, null, perfect, normalize(raw, null, perfect), per_file
        )
    return out


def write_scores_files(
    out_dir: Path, detector: str, results: dict[str, ProfileResult]
) -> list[Path]:
    """NAB's ``<detector>_<profile>_scores.csv``: a row per file and a ``Totals`` row."""
    paths = []
    for name, result in results.items():
        path = Path(out_dir) / detector / f"{detector}_{name}_scores.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(SCORES_HEADER)
            for s in result.files:
                writer.writerow(
                    (
                        detector,
                        name,
                        s.relative_path,
                        repr(s.threshold),
                        repr(s.score),
                        s.tp,
                        s.tn,
                        s.fp,
                        s.fn,
                        s.total,
                    )
                )
            totals = [
                sum(getattr(s, k) for s in result.files) for k in ("tp", "tn", "fp", "fn", "total")
            ]
            writer.writerow(("Totals", "", "", "", repr(result.raw), *totals))
        paths.append(path)
    return paths


# -- runner --------------------------------------------------------------------------------

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
    feature_set = features.feature_set(spec.features)

    def score_rows(data: DataFile, labels: FileLabels, windows) -> list[float]:
        params = dict(spec.params)
        if nab_inputs:  # what NAB's runner hands every detector: a look at the whole series
            values = [float(v) for v in data.values]
            params |= spec.estimator_class.nab_inputs(min(values), max(values), labels.probation)
        detector = specs.build({**spec.to_dict(), "params": params})  # fresh per file, as NAB does
        return [
            spec.anomaly_score(
                score_then_learn(
                    detector, feature_set(count=float(value), minute_of_day=_minute_of_day(t))
                )
            )
            for value, t in zip(data.values, data.times)
        ]

    return score_rows


def _run(
    nab_dir: Path, out_dir: Path, detector: str, score_rows, progress: Progress | None
) -> dict:
    nab_dir, out_dir = Path(nab_dir), Path(out_dir)
    relative_paths = list_data_files(nab_dir)
    windows = load_windows(nab_dir)
    profiles = load_profiles(nab_dir)
    unlabelled = [p for p in relative_paths if p not in windows]
    if unlabelled:
        raise NabDataError(
            f"no windows in labels/combined_windows.json for {', '.join(unlabelled)}"
        )

    all_labels, all_scores = [], []
    n_points = 0
    started = time.perf_counter()
    for done, relative_path in enumerate(relative_paths, start=1):
        data = read_data_file(nab_dir, relative_path)
        labels = label_rows(relative_path, data.times, windows[relative_path])
        scores = score_rows(data, labels, windows[relative_path])
        write_results_file(out_dir, detector, data, scores)
        all_labels.append(labels)
        all_scores.append(scores)
        n_points += len(data)
        if progress is not None:
            progress(done, len(relative_paths), relative_path)
    detect_s = time.perf_counter() - started

    started = time.perf_counter()
    results = score_corpus(all_labels, all_scores, profiles)
    write_scores_files(out_dir, detector, results)
    score_s = time.perf_counter() - started
    return {
        "detector": detector,
        "results_dir": str(out_dir / detector),
        "nab_dir": str(nab_dir),
        "n_files": len(relative_paths),
        "n_points": n_points,
        "n_windows": sum(f.n_windows for f in all_labels),
        "detect_s": detect_s,
        "points_per_s": n_points / detect_s if detect_s > 0 else math.inf,
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
    (:func:`~personastream_models.detectors.score_then_learn`), in file order. With
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
    argv: Iterable[str] | None = None, prog: str = "python -m personastream_models.nab"
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


if __name__ == "__main__":
    sys.exit(main())

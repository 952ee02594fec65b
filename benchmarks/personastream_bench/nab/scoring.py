"""NAB's scoring, reimplemented (verified against NAB's published Random detector to 1e-10).

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
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Sequence

from personastream_bench.nab.corpus import CostMatrix, NabDataError, NabError

PROBATION_PERCENT = 0.15
#: NAB caps probation at ``probationPercent * 5000`` rows.
PROBATION_MAX_ROWS = 750
#: NAB's starting threshold, above every score: nothing is detected.
NO_DETECTION_THRESHOLD = 1.1
#: Beyond this many window widths after a window, a false positive costs the full ``A_FP``.
FP_FULL_COST_WIDTHS = 3.0
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


def row_values(labels: FileLabels, cost: CostMatrix) -> list[float]:
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
        values = row_values(labels, cost)
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
    values = row_values(labels, cost)
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



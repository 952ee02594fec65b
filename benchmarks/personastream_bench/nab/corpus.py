"""The NAB corpus (NAB v1.1 layout: ``data/<category>/<file>.csv``, ``labels/combined_windows.json``,
``config/profiles.json``) and NAB's results layout::

    DIR/<detector>/<category>/<detector>_<file>.csv    timestamp,value,anomaly_score
    DIR/<detector>/<detector>_<profile>_scores.csv     per-file scores at the profile's threshold

``anomaly_score`` is in [0, 1], one row per input row, matched to the data file by position.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Sequence

#: The copy of the corpus in the repository (``benchmarks/data/nab``, MIT, see its README.md);
#: the ``nab_dir`` setting or ``--nab-dir`` reads another.
DEFAULT_NAB_DIR = Path(__file__).resolve().parents[2] / "data" / "nab"
RESULTS_HEADER = ("timestamp", "value", "anomaly_score")


class NabError(Exception):
    """Base class of NAB benchmark errors."""


class NabDataError(NabError):
    """The corpus, labels, profiles or a results file are not as NAB lays them out."""


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



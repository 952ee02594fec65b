"""Model specs: versioned JSON files that say which estimator a job runs and how.

A spec lives at ``specs/<name>/<version>.json`` beside this module and is immutable once
published: a change is a new version, and the old file stays so that a job can roll back.
Versions are SchemaVer ``MODEL-REVISION-ADDITION`` (``1-0-0``), like the event schemas:
``MODEL`` when state learned under the old spec cannot be carried over (other estimator or
features), ``REVISION`` for other parameter or threshold changes, ``ADDITION`` for
description-only changes. ``load(name)`` returns the highest version.

Fields
------
``name``
    snake_case model name, equal to the folder name.
``version``
    ``MODEL-REVISION-ADDITION``, equal to the file name.
``kind``
    ``detector`` (``learn_one``, ``score_one`` in [0, 1]) or ``clusterer`` (``learn_one``,
    ``predict_one`` returning a stable cluster id).
``estimator``
    dotted path of a class in ``personastream_models.`` or ``river.``.
``params``
    keyword arguments of the estimator's constructor; ``seed`` is required when the constructor
    takes one.
``features``
    name of a feature set in :mod:`personastream_models.features`.
``threshold``, ``direction``
    detectors: a score in [0, 1] and ``above`` (a score at or above the threshold is anomalous:
    high means anomalous, the detector contract) or ``below``; clusterers: ``null``.
``description``
    optional free text.
``stand_in``
    optional, detectors only: ``{"version": V, "windows": N}``, another published version of
    the same model (without a stand-in of its own) that scores an item's windows while this
    version's detector of the item has learned fewer than ``N`` windows; both learn meanwhile,
    then this version scores and the stand-in's detector is dropped
    (:func:`personastream_models.placement_scoring.score_window`). For a detector that needs
    many windows before it scores (e.g. ``learning_period``), so that a new item is scored from
    the first minutes.

Examples
--------
>>> spec = load("trends_detector", "1-0-0")
>>> spec.key, spec.kind, spec.features
('trends_detector/1-0-0', 'detector', 'trend_count')
>>> detector = build(spec)
>>> type(detector).__name__
'ScaledHalfSpaceTrees'
>>> try:
...     validate({**spec.to_dict(), "threshold": "high"})
... except InvalidSpec as error:
...     print(error)  # doctest: +NORMALIZE_WHITESPACE
spec trends_detector/1-0-0: field 'threshold' must be a number in [0, 1],
got 'high'
"""

from __future__ import annotations

import copy
import importlib
import inspect
import json
import math
import re
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Callable, Mapping

from personastream_models import features as feature_sets

__all__ = [
    "DIRECTIONS",
    "ESTIMATOR_PACKAGES",
    "InvalidSpec",
    "KINDS",
    "ModelSpec",
    "SpecError",
    "SpecNotFound",
    "StandIn",
    "available",
    "build",
    "check_bump",
    "spec_path",
    "load",
    "loader",
    "validate",
    "version_key",
    "versions",
]

KINDS = {"detector": ("learn_one", "score_one"), "clusterer": ("learn_one", "predict_one")}
DIRECTIONS = ("above", "below")
#: Packages an ``estimator`` may come from: a spec file must not import arbitrary code.
ESTIMATOR_PACKAGES = ("personastream_models", "river")
REQUIRED_FIELDS = (
    "name",
    "version",
    "kind",
    "estimator",
    "params",
    "features",
    "threshold",
    "direction",
)
OPTIONAL_FIELDS = ("description", "stand_in")
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
VERSION_PATTERN = re.compile(r"^(0|[1-9][0-9]*)-(0|[1-9][0-9]*)-(0|[1-9][0-9]*)$")
SPECS_DIR = "specs"


class SpecError(Exception):
    """Base class of spec errors."""


class SpecNotFound(SpecError, LookupError):
    """No spec file for that name or version."""


class InvalidSpec(SpecError, ValueError):
    """A spec whose content breaks the rules; the message names the field."""


def version_key(version: str) -> tuple[int, int, int]:
    """Sort key of a SchemaVer version.

    >>> sorted(["1-10-0", "1-2-0", "2-0-0"], key=version_key)
    ['1-2-0', '1-10-0', '2-0-0']
    """
    match = VERSION_PATTERN.match(version)
    if match is None:
        raise ValueError(f"version {version!r} is not MODEL-REVISION-ADDITION, e.g. '1-0-0'")
    return tuple(int(part) for part in match.groups())  # type: ignore[return-value]


@dataclass(frozen=True)
class StandIn:
    """A detector spec's ``stand_in``: ``version`` scores an item until the spec's own detector of
    the item has learned ``windows`` windows."""

    version: str
    windows: int

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "windows": self.windows}


@dataclass(frozen=True)
class ModelSpec:
    """A validated spec (made by :func:`validate` or :func:`load`); picklable.

    Treat ``params`` as read-only: :func:`build` and :meth:`to_dict` hand out copies.
    """

    name: str
    version: str
    kind: str
    estimator: str
    params: Mapping[str, Any]
    features: str
    threshold: float | None
    direction: str | None
    description: str = ""
    estimator_class: type = field(repr=False, compare=False, default=object)
    stand_in: StandIn | None = None

    @property
    def key(self) -> str:
        """``name/version``, how errors and logs name the spec."""
        return f"{self.name}/{self.version}"

    @property
    def slug(self) -> str:
        """``name-version``, a file-system friendly name (e.g. the NAB detector directory)."""
        return f"{self.name}-{self.version}"

    def to_dict(self) -> dict[str, Any]:
        """The spec as its JSON object."""
        out = {
            "name": self.name,
            "version": self.version,
            "kind": self.kind,
            "estimator": self.estimator,
            "params": copy.deepcopy(dict(self.params)),
            "features": self.features,
            "threshold": self.threshold,
            "direction": self.direction,
        }
        if self.description:
            out["description"] = self.description
        if self.stand_in is not None:
            out["stand_in"] = self.stand_in.to_dict()
        return out

    def anomaly_score(self, score: float) -> float:
        """Orient a detector's score so that high means anomalous (``1 - score`` for ``below``).

        >>> load("trends_detector", "1-0-0").anomaly_score(0.25)
        0.25
        """
        self._require_detector("anomaly_score")
        return score if self.direction == "above" else 1.0 - score

    def is_anomaly(self, score: float) -> bool:
        """Whether a detector's score reaches the spec's threshold in the spec's direction.

        ``score >= threshold`` for ``above``, as NAB counts a detection; ``<=`` for ``below``.
        """
        self._require_detector("is_anomaly")
        if self.direction == "above":
            return score >= self.threshold
        return score <= self.threshold

    def _require_detector(self, what: str) -> None:
        if self.kind != "detector":
            raise SpecError(f"spec {self.key}: {what} needs a detector spec, this is a {self.kind}")


def _fail(label: str, field_name: str, problem: str) -> InvalidSpec:
    return InvalidSpec(f"spec {label}: field {field_name!r} {problem}")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _stand_in(label: str, name: str, version: str, kind: str, value: Any) -> StandIn:
    """Check a ``stand_in`` field: a published detector version of the same model, other than
    ``version`` and without a stand-in of its own, and a positive number of windows."""
    if kind != "detector":
        raise _fail(label, "stand_in", f"is for detectors only, this is a {kind}")
    if not (isinstance(value, Mapping) and set(value) == {"version", "windows"}):
        raise _fail(label, "stand_in", 'must be an object {"version": "MODEL-REVISION-ADDITION", '
                                       f'"windows": N}}, got {value!r}')
    stand_version, windows = value["version"], value["windows"]
    if not (isinstance(windows, int) and not isinstance(windows, bool) and windows > 0):
        raise _fail(label, "stand_in", "'windows' must be a positive integer (the windows this "
                                       "version's detector learns before it scores), got "
                                       f"{windows!r}")
    if not (isinstance(stand_version, str) and VERSION_PATTERN.match(stand_version)):
        raise _fail(label, "stand_in", "'version' must be MODEL-REVISION-ADDITION such as "
                                       f"'2-0-0', got {stand_version!r}")
    if stand_version == version:
        raise _fail(label, "stand_in", f"'version' must be another version than {version}")
    published = available().get(name, [])
    if stand_version not in published:
        raise _fail(label, "stand_in", f"'version' names {name} {stand_version}, which is not "
                                       f"published (published: {', '.join(published) or 'none'})")
    raw = _read_published(name, stand_version)
    if isinstance(raw, Mapping) and "stand_in" in raw:  # checked before validating it: no cycles
        raise _fail(label, "stand_in", f"'version' names {name} {stand_version}, which has a "
                                       "stand-in itself (a stand-in must score on its own)")
    stand_spec = validate(raw, path_name=name, path_version=stand_version)
    if stand_spec.kind != "detector":
        raise _fail(label, "stand_in", f"'version' names {stand_spec.key}, a {stand_spec.kind}, "
                                       "not a detector")
    return StandIn(stand_version, windows)


def _import_estimator(label: str, path: str) -> type:
    module_name, _, class_name = path.rpartition(".")
    if not module_name or module_name.split(".")[0] not in ESTIMATOR_PACKAGES:
        raise _fail(
            label,
            "estimator",
            f"must be a dotted class path in {' or '.join(p + '.' for p in ESTIMATOR_PACKAGES)}, "
            f"got {path!r}",
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise _fail(
            label, "estimator", f"names module {module_name!r}, which does not import: {error}"
        ) from None
    estimator_class = getattr(module, class_name, None)
    if not inspect.isclass(estimator_class):
        raise _fail(
            label, "estimator", f"names {class_name!r}, which is not a class in {module_name}"
        )
    return estimator_class


def validate(
    spec: Mapping[str, Any] | ModelSpec,
    *,
    path_name: str | None = None,
    path_version: str | None = None,
) -> ModelSpec:
    """Check a spec (its JSON object) field by field and return it as a :class:`ModelSpec`.

    Parameters
    ----------
    spec
        The decoded JSON object (or a ``ModelSpec``, re-checked).
    path_name, path_version
        The folder and file name the spec was read from, which ``name`` and ``version`` must
        equal.

    Raises
    ------
    InvalidSpec
        Naming the spec and the first bad field, what was expected and what arrived.
    """
    if isinstance(spec, ModelSpec):
        spec = spec.to_dict()
    if not isinstance(spec, Mapping):
        raise InvalidSpec(f"a spec must be a JSON object, got {type(spec).__name__}")
    label = f"{spec.get('name', path_name or '?')}/{spec.get('version', path_version or '?')}"

    unknown = sorted(set(spec) - set(REQUIRED_FIELDS) - set(OPTIONAL_FIELDS))
    if unknown:
        raise _fail(
            label,
            unknown[0],
            f"is not a spec field (fields: {', '.join(REQUIRED_FIELDS + OPTIONAL_FIELDS)})",
        )
    for name in REQUIRED_FIELDS:
        if name not in spec:
            raise _fail(label, name, "is required")

    name, version = spec["name"], spec["version"]
    if not (isinstance(name, str) and NAME_PATTERN.match(name)):
        raise _fail(label, "name", f"must be snake_case (a-z, 0-9, _), got {name!r}")
    if path_name is not None and name != path_name:
        raise _fail(label, "name", f"must equal its folder name {path_name!r}, got {name!r}")
    if not (isinstance(version, str) and VERSION_PATTERN.match(version)):
        raise _fail(
            label, "version", f"must be MODEL-REVISION-ADDITION such as '1-0-0', got {version!r}"
        )
    if path_version is not None and version != path_version:
        raise _fail(
            label, "version", f"must equal its file name {path_version!r}.json, got {version!r}"
        )

    kind = spec["kind"]
    if kind not in KINDS:
        raise _fail(label, "kind", f"must be one of {', '.join(KINDS)}, got {kind!r}")

    estimator = spec["estimator"]
    if not isinstance(estimator, str):
        raise _fail(label, "estimator", f"must be a dotted class path, got {estimator!r}")
    estimator_class = _import_estimator(label, estimator)
    missing_methods = [m for m in KINDS[kind] if not callable(getattr(estimator_class, m, None))]
    if missing_methods:
        raise _fail(
            label,
            "estimator",
            f"{estimator} is not a {kind}: it lacks {', '.join(missing_methods)}",
        )

    params = spec["params"]
    if not isinstance(params, Mapping):
        raise _fail(label, "params", f"must be an object of constructor arguments, got {params!r}")
    signature = inspect.signature(estimator_class)
    accepted = [p for p in signature.parameters if p not in ("self", "args", "kwargs")]
    for key in params:
        if key not in signature.parameters:
            raise _fail(
                label,
                "params",
                f"has {key!r}, which {estimator} does not take (it takes: {', '.join(accepted)})",
            )
    try:
        signature.bind(**params)
    except TypeError as error:
        raise _fail(label, "params", f"does not fit {estimator}: {error}") from None
    if "seed" in signature.parameters:
        seed = params.get("seed")
        if not (isinstance(seed, int) and not isinstance(seed, bool)):
            raise _fail(
                label,
                "params",
                f"must set 'seed' to an integer ({estimator} is random), got {seed!r}",
            )

    feature_name = spec["features"]
    if feature_name not in feature_sets.FEATURE_SETS:
        raise _fail(
            label,
            "features",
            f"must name a feature set ({', '.join(sorted(feature_sets.FEATURE_SETS))}), "
            f"got {feature_name!r}",
        )

    threshold, direction = spec["threshold"], spec["direction"]
    if kind == "detector":
        if not (_is_number(threshold) and 0 <= threshold <= 1):
            raise _fail(label, "threshold", f"must be a number in [0, 1], got {threshold!r}")
        if direction not in DIRECTIONS:
            raise _fail(
                label, "direction", f"must be one of {', '.join(DIRECTIONS)}, got {direction!r}"
            )
    else:
        if threshold is not None:
            raise _fail(label, "threshold", f"must be null for a {kind}, got {threshold!r}")
        if direction is not None:
            raise _fail(label, "direction", f"must be null for a {kind}, got {direction!r}")

    description = spec.get("description", "")
    if not isinstance(description, str):
        raise _fail(label, "description", f"must be a string, got {description!r}")
    stand_in = spec.get("stand_in")
    if stand_in is not None:
        stand_in = _stand_in(label, name, version, kind, stand_in)

    return ModelSpec(
        name=name,
        version=version,
        kind=kind,
        estimator=estimator,
        params=copy.deepcopy(dict(params)),
        features=feature_name,
        threshold=float(threshold) if threshold is not None else None,
        direction=direction,
        description=description,
        estimator_class=estimator_class,
        stand_in=stand_in,
    )


def _specs_root():
    return resources.files(__package__).joinpath(SPECS_DIR)


def versioned_files(root, version_pattern: re.Pattern = VERSION_PATTERN,
                    key: Callable[[str], tuple] = version_key) -> dict[str, list[str]]:
    """The ``<name>/<version>.json`` files under ``root`` (a folder of this package's
    resources): ``{name: [versions, lowest first]}``; other names are skipped."""
    out: dict[str, list[str]] = {}
    for folder in root.iterdir():
        if not folder.is_dir() or not NAME_PATTERN.match(folder.name):
            continue
        found = [f.name[: -len(".json")] for f in folder.iterdir() if f.name.endswith(".json")]
        found = [v for v in found if version_pattern.fullmatch(v)]
        if found:
            out[folder.name] = sorted(found, key=key)
    return dict(sorted(out.items()))


def available() -> dict[str, list[str]]:
    """Every published spec: ``{name: [versions, lowest first]}``."""
    return versioned_files(_specs_root())


def versions(name: str) -> list[str]:
    """Published versions of ``name``, lowest first."""
    published = available()
    if name not in published:
        raise SpecNotFound(
            f"no model spec named {name!r}; published: {', '.join(published) or 'none'}"
        )
    return published[name]


def load(name: str, version: str | None = None) -> ModelSpec:
    """Read and validate ``specs/<name>/<version>.json`` (the highest version when None)."""
    published = versions(name)
    if version is None:
        version = published[-1]
    elif version not in published:
        raise SpecNotFound(
            f"model spec {name!r} has no version {version!r}; published: {', '.join(published)}"
        )
    return validate(_read_published(name, version), path_name=name, path_version=version)


def _read_published(name: str, version: str) -> Any:
    """The JSON of the published ``specs/<name>/<version>.json``, not validated."""
    text = _specs_root().joinpath(name, f"{version}.json").read_text(encoding="utf-8")
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidSpec(f"spec {name}/{version}: not valid JSON: {error}") from None


def loader(name: str, *known: ModelSpec,
           load_version: Callable[[str], ModelSpec] | None = None) -> Callable[[str], ModelSpec]:
    """``version -> spec`` of model ``name``, each version loaded once (``known``: specs
    already loaded; ``load_version``: how a version is loaded, by default
    ``load(name, version)``), e.g. the spec of a placement's versions or of a stand-in.

    >>> spec_of = loader("trends_detector")
    >>> spec_of("3-5-0") is spec_of("3-5-0"), spec_of("3-5-0").stand_in.version
    (True, '2-0-0')
    """
    loaded = {spec.version: spec for spec in known}

    def spec_of(version: str) -> ModelSpec:
        if version not in loaded:
            loaded[version] = load_version(version) if load_version else load(name, version)
        return loaded[version]

    return spec_of


def build(spec: ModelSpec | Mapping[str, Any]) -> Any:
    """A fresh, untrained estimator as the spec describes it (validates first).

    >>> km = build(load("customer_segments"))
    >>> type(km).__name__, km.n_clusters
    ('BufferedKMeans', 6)
    """
    if not isinstance(spec, ModelSpec):
        spec = validate(spec)
    return spec.estimator_class(**copy.deepcopy(dict(spec.params)))


def check_bump(previous: ModelSpec, candidate: ModelSpec) -> None:
    """Refuse ``candidate`` as the next version after ``previous`` unless its version bump fits
    what changed: ``MODEL`` for another kind, estimator or feature set (learned state cannot
    carry over), at least ``REVISION`` for parameters, threshold, direction or stand-in, at
    least ``ADDITION`` for the description.

    >>> old = load("trends_detector", "2-0-0")
    >>> new = validate({**old.to_dict(), "version": "2-1-0", "estimator":
    ...                 "personastream_models.detectors.ScaledHalfSpaceTrees", "params": {"seed": 1}})
    >>> try:
    ...     check_bump(old, new)
    ... except InvalidSpec as error:
    ...     print(error)  # doctest: +NORMALIZE_WHITESPACE
    spec trends_detector/2-1-0: field 'version' must bump MODEL (to 3-0-0): estimator,
    params changed since 2-0-0
    """
    if candidate.name != previous.name:
        raise _fail(candidate.key, "name", f"must be {previous.name!r} to follow {previous.key}")
    old, new = version_key(previous.version), version_key(candidate.version)
    changed = [f for f in ("kind", "estimator", "features", "params", "threshold", "direction",
                           "stand_in", "description")
               if getattr(previous, f) != getattr(candidate, f)]
    if not changed:
        raise _fail(candidate.key, "version", f"changes nothing since {previous.version}")
    if {"kind", "estimator", "features"} & set(changed):
        level, needed = 0, f"{old[0] + 1}-0-0"
    elif {"params", "threshold", "direction", "stand_in"} & set(changed):
        level, needed = 1, f"{old[0]}-{old[1] + 1}-0"
    else:
        level, needed = 2, f"{old[0]}-{old[1]}-{old[2] + 1}"
    if new[:level + 1] <= old[:level + 1]:
        raise _fail(candidate.key, "version",
                    f"must bump {('MODEL', 'REVISION', 'ADDITION')[level]} (to {needed}): "
                    f"{', '.join(changed)} changed since {previous.version}")


def spec_path(name: str, version: str):
    """Where ``name/version`` is (or would be) published."""
    return _specs_root().joinpath(name, f"{version}.json")

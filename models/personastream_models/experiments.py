"""Experiments: versioned JSON files saying which customers see which variant of a placement.

An experiment lives at ``experiments/<name>/<version>.json`` beside this module, like a
promotion rule, and follows the JSON Schema ``schemas/experiment/1-0-0.json`` (draft 2020-12,
the one description of the format). A published version never changes; versions are SchemaVer
``MODEL-REVISION-ADDITION``. It names a ``placement`` (``recommendations``: its variants rank
differently, ``live``, ``daily_batch`` or ``popularity``; ``promotion_banner``: promotions on or
off), its ``variants`` with integer ``weight`` s, the ``control`` variant, ``start``/``end``
(RFC 3339) and its outcome ``metrics``.

Assignment is deterministic and sticky: bucket = the first 8 hex digits of
SHA-256(``name:customer``) as an integer, modulo :data:`BUCKETS`; variant *i* holds the
buckets below its cumulative weight's share. The name, not the version, is hashed: a revision
keeps every customer in their variant (a new name reshuffles). :func:`assign` is the Python
(the API; the promotions job, whose held-out customers get no offer:
:func:`personastream_models.promotion_offers.exposure`), :func:`assignment_sql` the Flink SQL
(the attribution job), over the same boundaries; a unit test runs both on many keys.

Examples
--------
>>> aa = load("aa_ranking")
>>> aa.key, aa.control, [(v.name, v.weight, v.ranking) for v in aa.variants]
('aa_ranking/1-0-0', 'a', [('a', 50, 'live'), ('b', 50, 'live')])
>>> bucket("aa_ranking", "u-42"), assign(aa, "u-42").name
(1311, 'a')
>>> broken = aa.to_dict()
>>> broken["control"] = "c"
>>> try:
...     validate(broken)
... except InvalidExperiment as error:
...     print(error)
experiment aa_ranking/1-0-0: field 'control' must name one of the variants (a, b), got 'c'
"""
from __future__ import annotations

import copy
import functools
import hashlib
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Mapping

from personastream_contracts import event_schemas
from personastream_contracts.errors import PersonastreamError
from personastream_contracts.formats import epoch_ms
from personastream_contracts.schemaver import SCHEMAVER, version_tuple
from personastream_models.promotion_rules import InvalidFile, Problem, file_problems
from personastream_models.specs import versioned_files

__all__ = ["BUCKETS", "Experiment", "ExperimentError", "ExperimentNotFound",
           "InvalidExperiment", "SIMULATION_PREFIX", "Variant", "assign", "assignment_sql",
           "available", "bucket", "bucket_sql", "is_simulation", "load", "load_all",
           "read_file", "running", "schema", "validate"]

EXPERIMENTS_DIR = "experiments"
SCHEMA_KEY = ("experiment", "1-0-0")
BUCKETS = 10_000
"""Assignment granularity: a variant's share is a whole number of 0.01 % buckets."""
HASH_HEX_DIGITS = 8
"""How much of the SHA-256 hex digest the bucket reads (32 bits, a BIGINT in SQL)."""
SIMULATION_PREFIX = "sim_"
"""An experiment named ``sim_*`` is run by simulated shoppers only (``personastream experiments
simulate``): :func:`load_all` leaves it out unless asked, so the API never assigns a customer
to it, and its results never mix with a real experiment's (another name)."""
_HEX = "0123456789abcdef"


class ExperimentError(PersonastreamError):
    """Base class of experiment errors."""


class ExperimentNotFound(ExperimentError, LookupError):
    """No experiment file of that name or version."""


class InvalidExperiment(ExperimentError, InvalidFile):
    """An experiment that breaks the format; ``problems`` names every bad field."""

    WHAT = "experiment"


@dataclass(frozen=True)
class Variant:
    """One arm: its share ``weight``, and what it changes (``ranking`` or ``promotions``)."""

    name: str
    weight: int
    ranking: str | None = None
    promotions: bool | None = None


@dataclass(frozen=True)
class Experiment:
    """A validated experiment (made by :func:`validate`, :func:`load` or :func:`read_file`)."""

    name: str
    version: str
    placement: str
    control: str
    variants: tuple[Variant, ...]
    start_ms: int
    end_ms: int
    metrics: tuple[str, ...]
    content: Mapping[str, Any] = field(repr=False, compare=False)

    @property
    def key(self) -> str:
        return f"{self.name}/{self.version}"

    @property
    def boundaries(self) -> tuple[int, ...]:
        """Per variant, the first bucket past it (cumulative weight share of :data:`BUCKETS`).

        >>> load("ranking_live_vs_batch").boundaries
        (3400, 6700, 10000)
        """
        total, cumulative, out = sum(v.weight for v in self.variants), 0, []
        for v in self.variants:
            cumulative += v.weight
            out.append(cumulative * BUCKETS // total)
        return tuple(out)

    def variant(self, name: str) -> Variant:
        return next(v for v in self.variants if v.name == name)

    def is_running(self, now_ms: int) -> bool:
        return self.start_ms <= now_ms < self.end_ms

    def to_dict(self) -> dict[str, Any]:
        return copy.deepcopy(dict(self.content))


def schema() -> dict:
    """The experiment format (JSON Schema 2020-12), ``schemas/experiment/1-0-0.json``."""
    name, version = SCHEMA_KEY
    return json.loads(resources.files(__package__).joinpath(
        "schemas", name, f"{version}.json").read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=1)
def _schema_validator():
    return event_schemas.validator({SCHEMA_KEY: schema()}, SCHEMA_KEY)


#: What each placement's variants must say.
CHANGES = {"recommendations": "ranking", "promotion_banner": "promotions"}


def _semantic_problems(exp: Mapping[str, Any]) -> Iterable[Problem]:
    if epoch_ms(exp["start"]) >= epoch_ms(exp["end"]):
        yield Problem("end", f"must be after start ({exp['start']}), got {exp['end']!r}")
    names = [v["name"] for v in exp["variants"]]
    for i, name in enumerate(names):
        if name in names[:i]:
            yield Problem(f"variants[{i}].name", f"repeats variant {name!r}")
    if exp["control"] not in names:
        yield Problem("control", f"must name one of the variants ({', '.join(names)}), got "
                                 f"{exp['control']!r}")
    needed = CHANGES[exp["placement"]]
    for i, v in enumerate(exp["variants"]):
        if needed not in v:
            yield Problem(f"variants[{i}].{needed}", f"is required: a {exp['placement']} "
                                                     f"experiment's variants each set {needed}")
        for other in set(CHANGES.values()) - {needed}:
            if other in v:
                yield Problem(f"variants[{i}].{other}", f"does not apply to a "
                                                        f"{exp['placement']} experiment "
                                                        f"(it varies {needed})")


def validate(exp: Mapping[str, Any], *, path_name: str | None = None,
             path_version: str | None = None) -> Experiment:
    """Check an experiment (its JSON object) and return it as an :class:`Experiment`.

    Raises :class:`InvalidExperiment` naming every bad field (its path), what was expected and
    what arrived.

    >>> exp = load("promotions_on_off").to_dict()
    >>> exp["variants"][0] = {"name": "holdout", "weight": 0, "ranking": "live"}
    >>> try:
    ...     validate(exp)
    ... except InvalidExperiment as error:
    ...     print(error)
    experiment promotions_on_off/1-0-0: field 'variants[0].weight' must be at least 1, got 0
    >>> exp["variants"][0]["weight"] = 10
    >>> try:
    ...     validate(exp)
    ... except InvalidExperiment as error:
    ...     print(*(p.field for p in error.problems))
    variants[0].promotions variants[0].ranking
    """
    if not isinstance(exp, Mapping):
        raise InvalidExperiment(f"{path_name or '?'}/{path_version or '?'}",
                                [Problem("(experiment)", f"must be a JSON object, got "
                                                         f"{type(exp).__name__}")])
    label = f"{exp.get('name', path_name or '?')}/{exp.get('version', path_version or '?')}"
    exp = copy.deepcopy(dict(exp))
    problems = file_problems(_schema_validator(), exp, path_name, path_version)
    if not problems:
        problems += _semantic_problems(exp)
    if problems:
        raise InvalidExperiment(label, problems)
    return Experiment(
        name=exp["name"], version=exp["version"], placement=exp["placement"],
        control=exp["control"],
        variants=tuple(Variant(v["name"], v["weight"], v.get("ranking"), v.get("promotions"))
                       for v in exp["variants"]),
        start_ms=epoch_ms(exp["start"]), end_ms=epoch_ms(exp["end"]),
        metrics=tuple(exp["metrics"]), content=exp)


def _root():
    return resources.files(__package__).joinpath(EXPERIMENTS_DIR)


def available() -> dict[str, list[str]]:
    """Every experiment file: ``{name: [versions, lowest first]}``.

    >>> sorted(available())
    ['aa_ranking', 'promotions_on_off', 'ranking_live_vs_batch', 'sim_ranking_live_vs_batch']
    """
    return versioned_files(_root(), SCHEMAVER, version_tuple)


def _decode(text: str, label: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidExperiment(label, [Problem("(experiment)", f"is not valid JSON: {error}")]
                                ) from None


def load(name: str, version: str | None = None) -> Experiment:
    """Read and validate ``experiments/<name>/<version>.json`` (the highest version when None)."""
    known = available()
    if name not in known:
        raise ExperimentNotFound(f"no experiment named {name!r} in {EXPERIMENTS_DIR}/ of "
                                 f"personastream_models; experiments: "
                                 f"{', '.join(known) or 'none'}")
    version = version or known[name][-1]
    if version not in known[name]:
        raise ExperimentNotFound(f"experiment {name!r} has no version {version!r}; versions: "
                                 f"{', '.join(known[name])}")
    text = _root().joinpath(name, f"{version}.json").read_text(encoding="utf-8")
    return validate(_decode(text, f"{name}/{version}"), path_name=name, path_version=version)


def is_simulation(experiment: Experiment) -> bool:
    """Whether ``experiment`` is for simulated shoppers only (named ``sim_*``).

    >>> is_simulation(load("sim_ranking_live_vs_batch")), is_simulation(load("aa_ranking"))
    (True, False)
    """
    return experiment.name.startswith(SIMULATION_PREFIX)


def load_all(simulations: bool = False) -> list[Experiment]:
    """The highest version of every experiment, by name; simulation experiments
    (:func:`is_simulation`) only with ``simulations``.

    >>> [e.name for e in load_all(simulations=True) if e not in load_all()]
    ['sim_ranking_live_vs_batch']
    """
    every = [load(name) for name in available()]
    return [e for e in every if simulations or not is_simulation(e)]


def read_file(path: str | Path) -> Experiment:
    """Read and validate an experiment file anywhere (a candidate not published yet)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ExperimentNotFound(f"cannot read experiment file {path}: {error}") from None
    return validate(_decode(text, str(path)))


def running(experiments: Iterable[Experiment], placement: str, now_ms: int) -> Experiment | None:
    """The experiment of ``placement`` running at ``now_ms`` (of several, the latest started,
    then the first by name), or None.

    >>> running(load_all(), "recommendations", epoch_ms("2026-12-04T00:00:00Z")).name
    'aa_ranking'
    >>> running(load_all(), "recommendations", epoch_ms("2027-04-01T00:00:00Z")) is None
    True
    """
    live = [e for e in experiments if e.placement == placement and e.is_running(now_ms)]
    return min(live, key=lambda e: (-e.start_ms, e.name), default=None)


# --- assignment ---------------------------------------------------------------------------

def bucket(experiment: str, customer: str) -> int:
    """The customer's bucket in ``experiment`` (by name): SHA-256 of ``experiment:customer``
    (UTF-8), its first :data:`HASH_HEX_DIGITS` hex digits as an integer, mod :data:`BUCKETS`.

    >>> bucket("aa_ranking", "anon:web-1"), bucket("aa_ranking", "anon:web-1")
    (5951, 5951)
    """
    digest = hashlib.sha256(f"{experiment}:{customer}".encode("utf-8")).hexdigest()
    return int(digest[:HASH_HEX_DIGITS], 16) % BUCKETS


def assign(experiment: Experiment, customer: str) -> Variant:
    """The customer's variant (sticky: the same for every call and every version)."""
    b = bucket(experiment.name, customer)
    return next(v for v, end in zip(experiment.variants, experiment.boundaries) if b < end)


def bucket_sql(experiment_sql: str, customer_sql: str) -> str:
    """:func:`bucket` as a Flink SQL expression (BIGINT) over two string expressions; Flink's
    ``SHA256`` gives the lower-case hex digest, each digit read by its position in
    ``0123456789abcdef``.

    >>> bucket_sql("'x'", "user_key")[:80]
    "MOD((CAST(POSITION(SUBSTRING(SHA256(CONCAT('x', ':', user_key)) FROM 1 FOR 1) IN"
    """
    digest = f"SHA256(CONCAT({experiment_sql}, ':', {customer_sql}))"
    digits = [f"(CAST(POSITION(SUBSTRING({digest} FROM {i + 1} FOR 1) IN '{_HEX}') AS BIGINT)"
              f" - 1) * {16 ** (HASH_HEX_DIGITS - 1 - i)}" for i in range(HASH_HEX_DIGITS)]
    return f"MOD({' + '.join(digits)}, {BUCKETS})"


def _literal(name: str) -> str:
    # names are validated snake_case (schema pattern): nothing to escape
    if not name.replace("_", "").isalnum() or not name.isascii():
        raise ValueError(f"{name!r} is not a snake_case name; experiments and variants are")
    return f"'{name}'"


def assignment_sql(experiments: Iterable[Experiment], experiment_sql: str,
                   customer_sql: str) -> str:
    """The variant of customer ``customer_sql`` in the experiment named by ``experiment_sql``
    (SQL string expressions), as a Flink SQL expression: :func:`assign` for each of
    ``experiments``, NULL for any other name.

    >>> print(assignment_sql([load("aa_ranking")], "experiment", "k").replace(
    ...     bucket_sql("'aa_ranking'", "k"), "<bucket>"))
    CASE experiment WHEN 'aa_ranking' THEN CASE WHEN <bucket> < 5000 THEN 'a' ELSE 'b' END ELSE CAST(NULL AS STRING) END
    """
    branches = []
    for exp in experiments:
        b = bucket_sql(_literal(exp.name), customer_sql)
        arms = [f"WHEN {b} < {end} THEN {_literal(v.name)}"
                for v, end in zip(exp.variants[:-1], exp.boundaries)]
        branches.append(f"WHEN {_literal(exp.name)} THEN CASE {' '.join(arms)} "
                        f"ELSE {_literal(exp.variants[-1].name)} END")
    return f"CASE {experiment_sql} {' '.join(branches)} ELSE CAST(NULL AS STRING) END"

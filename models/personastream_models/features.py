"""Feature sets: the one place where model inputs are computed from stream values.

A model spec names a feature set (``"features": "trend_count"``); the Flink UDFs, the NAB
benchmark and the tests all build a model's input with that set, so a feature is defined once.

- ``trend_count``: inputs ``count`` (and ``minute_of_day``, ignored); features ``count``.
- ``behaviour_vector``: input ``profile`` (keys in :data:`PROFILE_KEYS`); features
  :data:`BEHAVIOUR_KEYS`, each in [0, 1].

A new feature set is a new entry in :data:`FEATURE_SETS`; an existing entry never changes what it
returns, since published specs depend on it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping

__all__ = [
    "AFFINITY_WEIGHTS",
    "BEHAVIOUR_KEYS",
    "BEHAVIOUR_SCALES",
    "FEATURE_SETS",
    "FeatureInputError",
    "FeatureSet",
    "MINUTES_PER_DAY",
    "PROFILE_KEYS",
    "UnknownFeatureSet",
    "behaviour_vector",
    "feature_set",
    "trend_features",
]

MINUTES_PER_DAY = 24 * 60

#: How much one event adds to a customer's affinity for the item's category and brand (the
#: profile job decays the sums with time); other event types carry no category.
AFFINITY_WEIGHTS = {"product_view": 1.0, "add_to_cart": 3.0}

#: Keys of the profile dict that :func:`behaviour_vector` reads (the profile job produces them).
PROFILE_KEYS = {
    "n_days": "days the profile covers, > 0 (e.g. days since first seen, capped by the window)",
    "n_product_views": "product views in those days, >= 0",
    "n_add_to_carts": "add-to-cart events in those days, >= 0",
    "n_purchases": "orders placed in those days, >= 0",
    "spend": "sum of order totals in those days (profile currency), >= 0",
    "category_views": "optional: product views per category, {category: count}",
}

#: Rates are squashed with ``r / (r + scale)``: a customer at ``scale`` per day scores 0.5.
BEHAVIOUR_SCALES = {
    "views_per_day": 10.0,
    "carts_per_day": 1.0,
    "purchases_per_day": 0.2,
    "spend_per_day": 20.0,
}

#: The features of ``behaviour_vector``, in order; every value lies in [0, 1].
BEHAVIOUR_KEYS = (
    "views_per_day",
    "carts_per_day",
    "purchases_per_day",
    "spend_per_day",
    "cart_rate",
    "purchase_rate",
    "top_category_share",
    "category_entropy",
)


class FeatureInputError(ValueError):
    """A feature function received an input it cannot use."""


class UnknownFeatureSet(LookupError):
    """A feature set name that is not in :data:`FEATURE_SETS`."""


def trend_features(count: float, minute_of_day: int | None = None) -> dict[str, float]:
    """Features of one item's event count in one window (e.g. views per minute).

    Parameters
    ----------
    count
        Events of the item in the window; NAB series may be negative, so any real is accepted.
    minute_of_day
        Minute of the window start in the day, 0 to 1439, or None when unknown.

    Returns
    -------
    dict
        ``count``; ``log1p_count`` (``sign(count) * log1p(|count|)``, which tames heavy tails);
        with ``minute_of_day``, also ``minute_sin`` and ``minute_cos`` (the time of day on a
        circle, so 23:59 is next to 00:00).

    Examples
    --------
    >>> trend_features(3)
    {'count': 3.0, 'log1p_count': 1.3862943611198906}
    >>> f = trend_features(0, minute_of_day=360)
    >>> round(f['minute_sin'], 6), round(f['minute_cos'], 6)
    (1.0, 0.0)
    """
    count = float(count)
    if not math.isfinite(count):
        raise FeatureInputError(f"trend_features: count must be a finite number, got {count!r}")
    features = {"count": count, "log1p_count": math.copysign(math.log1p(abs(count)), count)}
    if minute_of_day is not None:
        if not 0 <= minute_of_day < MINUTES_PER_DAY:
            raise FeatureInputError(
                f"trend_features: minute_of_day must be in [0, {MINUTES_PER_DAY}), "
                f"got {minute_of_day!r}"
            )
        angle = 2 * math.pi * minute_of_day / MINUTES_PER_DAY
        features["minute_sin"] = math.sin(angle)
        features["minute_cos"] = math.cos(angle)
    return features


def _squash(rate: float, scale: float) -> float:
    return rate / (rate + scale)


def _ratio(numerator: float, denominator: float) -> float:
    if denominator <= 0:
        return 0.0
    return min(1.0, numerator / denominator)


def _non_negative(profile: Mapping[str, Any], key: str) -> float:
    try:
        value = float(profile[key])
    except KeyError:
        raise FeatureInputError(
            f"behaviour_vector: profile is missing {key!r} "
            f"(expected keys: {', '.join(PROFILE_KEYS)})"
        ) from None
    if not (math.isfinite(value) and value >= 0):
        raise FeatureInputError(f"behaviour_vector: profile[{key!r}] must be >= 0, got {value!r}")
    return value


def behaviour_vector(profile: Mapping[str, Any]) -> dict[str, float]:
    """A customer's behaviour as a fixed-length vector in [0, 1] for clustering.

    Parameters
    ----------
    profile
        A dict with the keys of :data:`PROFILE_KEYS`.

    Returns
    -------
    dict
        :data:`BEHAVIOUR_KEYS`: four per-day rates squashed by :data:`BEHAVIOUR_SCALES`,
        ``cart_rate`` (carts per product view), ``purchase_rate`` (orders per cart),
        ``top_category_share`` (share of views in the most viewed category) and
        ``category_entropy`` (entropy of the category shares divided by its maximum, 0 for
        one category or none).

    Examples
    --------
    >>> v = behaviour_vector({"n_days": 10, "n_product_views": 100, "n_add_to_carts": 10,
    ...                       "n_purchases": 2, "spend": 200.0,
    ...                       "category_views": {"shoes": 75, "bags": 25}})
    >>> {k: round(x, 3) for k, x in v.items()}  # doctest: +NORMALIZE_WHITESPACE
    {'views_per_day': 0.5, 'carts_per_day': 0.5, 'purchases_per_day': 0.5,
     'spend_per_day': 0.5, 'cart_rate': 0.1, 'purchase_rate': 0.2,
     'top_category_share': 0.75, 'category_entropy': 0.811}
    """
    n_days = _non_negative(profile, "n_days")
    if n_days == 0:
        raise FeatureInputError("behaviour_vector: profile['n_days'] must be > 0, got 0")
    views = _non_negative(profile, "n_product_views")
    carts = _non_negative(profile, "n_add_to_carts")
    purchases = _non_negative(profile, "n_purchases")
    spend = _non_negative(profile, "spend")
    category_views = profile.get("category_views") or {}
    counts = [float(c) for c in category_views.values() if float(c) > 0]
    total = sum(counts)
    shares = [c / total for c in counts] if total > 0 else []
    entropy = -sum(s * math.log(s) for s in shares)
    return {
        "views_per_day": _squash(views / n_days, BEHAVIOUR_SCALES["views_per_day"]),
        "carts_per_day": _squash(carts / n_days, BEHAVIOUR_SCALES["carts_per_day"]),
        "purchases_per_day": _squash(purchases / n_days, BEHAVIOUR_SCALES["purchases_per_day"]),
        "spend_per_day": _squash(spend / n_days, BEHAVIOUR_SCALES["spend_per_day"]),
        "cart_rate": _ratio(carts, views),
        "purchase_rate": _ratio(purchases, carts),
        "top_category_share": max(shares, default=0.0),
        "category_entropy": entropy / math.log(len(shares)) if len(shares) > 1 else 0.0,
    }


@dataclass(frozen=True)
class FeatureSet:
    """A named selection of the features that ``function`` computes.

    Calling the set with the function's inputs returns exactly the ``keys``, in that order.

    Examples
    --------
    >>> feature_set("trend_count")(count=4.0, minute_of_day=3)
    {'count': 4.0}
    """

    name: str
    function: Callable[..., dict[str, float]]
    keys: tuple[str, ...]
    description: str

    def __call__(self, *args: Any, **kwargs: Any) -> dict[str, float]:
        computed = self.function(*args, **kwargs)
        missing = [key for key in self.keys if key not in computed]
        if missing:
            raise FeatureInputError(
                f"feature set {self.name!r} needs {missing} but {self.function.__name__} "
                f"returned only {sorted(computed)}: pass the inputs they are computed from"
            )
        return {key: computed[key] for key in self.keys}


FEATURE_SETS: dict[str, FeatureSet] = {
    fs.name: fs
    for fs in (
        FeatureSet(
            name="trend_count",
            function=trend_features,
            keys=("count",),
            description="the raw per-window count of an item",
        ),
        FeatureSet(
            name="behaviour_vector",
            function=behaviour_vector,
            keys=BEHAVIOUR_KEYS,
            description="a customer's rates, conversion and category mix, each in [0, 1]",
        ),
    )
}


def feature_set(name: str) -> FeatureSet:
    """Return the feature set called ``name``.

    Examples
    --------
    >>> feature_set("behaviour_vector").keys[:2]
    ('views_per_day', 'carts_per_day')
    """
    try:
        return FEATURE_SETS[name]
    except KeyError:
        raise UnknownFeatureSet(
            f"unknown feature set {name!r}; known: {', '.join(sorted(FEATURE_SETS))}"
        ) from None

"""The project's estimator classes and the one scoring step shared by Flink and the benchmark.

Contract of a detector (River's): ``learn_one(x) -> None``, ``score_one(x) -> float`` in [0, 1]
with high meaning anomalous, fully defined by its ``__init__`` parameters (``seed`` for
randomness), picklable, deep-copyable and clonable with ``river.base.Estimator.clone``.

Every consumer runs a trends model the same way (the Flink UDF per key, the NAB runner per
row)::

    spec = specs.load("trends_detector")
    detector = specs.build(spec)                      # one per item (Flink keyed state)
    x = features.feature_set(spec.features)(count=n, minute_of_day=m)
    raw = score_then_learn(detector, x)
    anomalous = spec.is_anomaly(raw)                  # applies the spec's direction itself
    score = spec.anomaly_score(raw)                   # oriented: high = anomalous (stored, NAB)

The segments clusterer lives here too (:class:`SeededKMeans`): estimator classes of the project
share one module so that a spec's ``estimator`` path is ``personastream_models.detectors.<Class>``.
"""

from __future__ import annotations

import math
from collections import deque

from river import anomaly, cluster, preprocessing, stats

__all__ = ["GaussianTail", "ScaledHalfSpaceTrees", "ScoreOutOfRange", "SeededKMeans",
           "score_then_learn"]


class ScoreOutOfRange(ValueError):
    """A detector returned a score outside [0, 1] (or not a number)."""


def score_then_learn(detector, features: dict) -> float:
    """Score ``features`` with ``detector``, then let it learn them: the online step.

    Scoring first means a point never helps to explain itself (NAB's "no look-ahead" rule).
    This is the function the Flink trends UDF calls for each window and the NAB benchmark calls
    for each row.

    Parameters
    ----------
    detector
        Any River-style anomaly detector whose scores lie in [0, 1].
    features
        The model input, built by the spec's feature set.

    Returns
    -------
    float
        The score of ``features`` before learning them, in [0, 1].

    Examples
    --------
    A count between the two usual levels of a series stands out:

    >>> detector = ScaledHalfSpaceTrees(n_trees=5, height=4, window_size=20, seed=42)
    >>> series = [0, 1, 2, 98, 99, 100] * 10 + [50]
    >>> scores = [score_then_learn(detector, {"count": c}) for c in series]
    >>> scores[0]  # nothing learned yet
    0.0
    >>> round(max(scores[:-1]), 2), round(scores[-1], 2)
    (0.56, 0.93)
    """
    score = detector.score_one(features)
    if not (isinstance(score, (int, float)) and 0.0 <= score <= 1.0):
        raise ScoreOutOfRange(
            f"{type(detector).__name__}.score_one returned {score!r} for {features!r}; "
            "a detector must return a number in [0, 1] (wrap it to rescale its scores)"
        )
    detector.learn_one(features)
    return float(score)


class ScaledHalfSpaceTrees(anomaly.base.AnomalyDetector):
    """Half-Space Trees behind a running min-max scaler, scoring in [0, 1].

    River's ``HalfSpaceTrees`` assumes features in [0, 1]; stream counts are not, so each
    feature is first scaled by the running minimum and maximum seen so far (River's
    ``MinMaxScaler``). A value beyond the range seen so far scales outside [0, 1] and falls in
    the trees' outermost cells. Equivalent to ``MinMaxScaler() | HalfSpaceTrees(...)``, as one
    class so that a spec can name it and its parameters.

    Parameters
    ----------
    n_trees
        Number of trees.
    height
        Height of each tree.
    window_size
        Observations per reference window; scores are 0 during the first window.
    seed
        Seed of the trees' random splits.

    Examples
    --------
    >>> detector = ScaledHalfSpaceTrees(n_trees=5, height=4, window_size=20, seed=42)
    >>> for count in [0, 1, 2, 98, 99, 100] * 10:
    ...     detector.learn_one({"count": count})
    >>> [round(detector.score_one({"count": c}), 2) for c in (1, 99, 50)]
    [0.55, 0.44, 0.93]

    Counts beyond the range seen so far land in the outermost cells, with the largest or
    smallest counts seen: the scaler makes the trees blind to new extremes, one reason why this
    baseline scores low on NAB.
    """

    def __init__(
        self, n_trees: int = 10, height: int = 8, window_size: int = 250, seed: int | None = None
    ):
        self.n_trees = n_trees
        self.height = height
        self.window_size = window_size
        self.seed = seed
        self._scaler = preprocessing.MinMaxScaler()
        self._trees = anomaly.HalfSpaceTrees(
            n_trees=n_trees, height=height, window_size=window_size, seed=seed
        )

    def learn_one(self, x: dict) -> None:
        self._scaler.learn_one(x)
        self._trees.learn_one(self._scaler.transform_one(x))

    def score_one(self, x: dict) -> float:
        score = float(self._trees.score_one(self._scaler.transform_one(x)))
        if math.isnan(score):
            raise ScoreOutOfRange(f"HalfSpaceTrees scored {x!r} as NaN")
        return min(1.0, max(0.0, score))

    @classmethod
    def _unit_test_params(cls):
        yield {"n_trees": 3, "height": 3, "window_size": 5, "seed": 42}


class GaussianTail(anomaly.base.AnomalyDetector):
    """Tail probability of a value under a Gaussian fitted to the recent past of the series.

    The mean and variance are those of the last ``window_size`` values (River's rolling
    ``Var``); the score is the Gaussian CDF of the value's z-score, so a count far above the
    recent level scores close to 1. ``two_sided`` also scores drops (``2 * CDF(|z|) - 1``).
    The standard deviation has a floor (``min_std``) so that a flat history does not turn
    every change into a certainty; nothing is scored before ``warmup`` values were learned.
    Unlike tree ensembles it needs a handful of points, not hundreds: an item's minute counts
    are scored from its first quarter of an hour.

    Parameters
    ----------
    window_size
        How many recent values the Gaussian is fitted to.
    warmup
        Values to learn before scoring (scores are 0 until then).
    min_std
        Floor of the standard deviation, in the feature's unit.
    two_sided
        Score unusually low values too.
    feature
        The feature (key of ``x``) the detector reads.

    Examples
    --------
    >>> detector = GaussianTail(window_size=50, warmup=5, min_std=1.0)
    >>> for count in [4, 5, 6, 5, 4, 6, 5, 5]:
    ...     detector.learn_one({"count": count})
    >>> [round(detector.score_one({"count": c}), 3) for c in (5, 6, 9, 60)]
    [0.5, 0.841, 1.0, 1.0]
    """

    def __init__(self, window_size: int = 1000, warmup: int = 10, min_std: float = 1.0,
                 two_sided: bool = False, feature: str = "count"):
        self.window_size = window_size
        self.warmup = warmup
        self.min_std = min_std
        self.two_sided = two_sided
        self.feature = feature
        self._window: deque = deque(maxlen=window_size)  # the last values
        self._var = stats.Var()  # of the values in the window
        self._n = 0

    def learn_one(self, x: dict) -> None:
        # river's utils.Rolling(stats.Var()) without its (args, kwargs) pair per value
        value = x[self.feature]
        if len(self._window) == self.window_size:
            self._var.revert(self._window[0])
        self._var.update(value)
        self._window.append(value)
        self._n += 1

    def score_one(self, x: dict) -> float:
        if self._n < self.warmup:
            return 0.0
        std = max(math.sqrt(max(self._var.get(), 0.0)), self.min_std)
        z = (x[self.feature] - self._var.mean.get()) / std
        cdf = 0.5 * (1.0 + math.erf((abs(z) if self.two_sided else z) / math.sqrt(2.0)))
        return min(1.0, max(0.0, 2.0 * cdf - 1.0 if self.two_sided else cdf))

    def __getstate__(self) -> tuple:
        """Plain numbers, no River objects: the trends job pickles an item's detectors on every
        window (this one as 4-x's stand-in for an item's first windows)."""
        var = self._var
        return (self.window_size, self.warmup, self.min_std, self.two_sided, self.feature,
                self._n, list(self._window), var.ddof, var.mean.n, var.mean._mean, var._S)

    def __setstate__(self, state) -> None:
        if isinstance(state, dict):  # pickled before 2026-12-07, with river's Rolling
            rolling = state.pop("_var")
            state["_window"] = deque((args[0] for args, _ in rolling.window),
                                     maxlen=state["window_size"])
            state["_var"] = rolling.obj
            self.__dict__.update(state)
            return
        (self.window_size, self.warmup, self.min_std, self.two_sided, self.feature, self._n,
         values, ddof, n, mean, sum_squares) = state
        self._window = deque(values, maxlen=self.window_size)
        self._var = stats.Var(ddof)
        self._var.mean.n, self._var.mean._mean, self._var._S = n, mean, sum_squares

    @classmethod
    def _unit_test_params(cls):
        yield {"window_size": 20, "warmup": 3, "min_std": 0.5}


def checked_centres(centres, n_clusters: int) -> list[dict]:
    """``centres`` as a list, if it holds one dict per cluster id (what ``warm_start`` takes).

    >>> checked_centres(iter([{"a": 1.0}]), 1)
    [{'a': 1.0}]
    >>> checked_centres([{"a": 1.0}, [1.0]], 2)
    Traceback (most recent call last):
    ...
    ValueError: warm_start: centre 1 must be a dict of feature name to coordinate, got list
    """
    centres = list(centres)
    if len(centres) != n_clusters:
        raise ValueError(f"warm_start needs {n_clusters} centres (one per cluster id "
                         f"0 .. {n_clusters - 1}), got {len(centres)}")
    for i, centre in enumerate(centres):
        if not isinstance(centre, dict):
            raise ValueError(f"warm_start: centre {i} must be a dict of feature name to "
                             f"coordinate, got {type(centre).__name__}")
    return centres


class SeededKMeans(cluster.KMeans):
    """River's online k-means, reproducible from its seed in any process.

    Cluster ids are the fixed indices ``0 .. n_clusters - 1`` of the centres, so a customer's
    segment id keeps its meaning as the centres move (unlike DBSTREAM or DenStream, which
    renumber). River draws each centre coordinate lazily the first time a feature is seen,
    iterating a ``set`` of feature names, whose order depends on ``PYTHONHASHSEED``; this
    subclass visits the names in sorted order, so the same seed gives the same centres in every
    Python process (Flink workers included). Parameters are River's ``KMeans``'s.

    Examples
    --------
    >>> km = SeededKMeans(n_clusters=2, halflife=0.3, mu=0.5, sigma=0.3, seed=1)
    >>> for x in [{"a": 0.1, "b": 0.1}, {"a": 0.9, "b": 0.8}] * 5:
    ...     km.learn_one(x)
    >>> km.predict_one({"a": 0.1, "b": 0.2}), km.predict_one({"a": 0.9, "b": 0.9})
    (1, 0)
    """

    def nearest(self, x: dict) -> tuple[int, float]:
        """The id of the centre nearest to ``x`` and the Minkowski distance (order ``p``) to it.

        >>> km = SeededKMeans(n_clusters=2, halflife=0.3, mu=0.5, sigma=0.3, seed=1)
        >>> km.learn_one({"a": 0.0})
        >>> cluster_id, distance = km.nearest({"a": 0.0})
        >>> cluster_id in (0, 1) and distance >= 0
        True
        """
        def distance(c: int) -> float:
            center = self.centers[c]
            return sum(abs(center[k] - x.get(k, 0)) ** self.p for k in sorted({*center, *x}))

        best = min(self.centers, key=distance)
        return best, distance(best) ** (1 / self.p)

    def predict_one(self, x: dict) -> int:
        return self.nearest(x)[0]

    def warm_start(self, centres: list[dict]) -> None:
        """Replace the centres with given ones: cluster id ``i`` gets ``centres[i]``.

        The offline start of the online clusterer (e.g.
        :func:`personastream_models.clustering.initial_centres`); learning then goes on as
        usual. A feature missing from a given centre is still drawn from the seed the first time
        it is seen. Centres are learned state, not parameters: ``clone()`` drops them.

        Parameters
        ----------
        centres
            ``n_clusters`` dicts of feature name to coordinate.

        Raises
        ------
        ValueError
            When there are not exactly ``n_clusters`` centres, or a centre is not a dict.

        Examples
        --------
        >>> km = SeededKMeans(n_clusters=2, seed=1)
        >>> km.warm_start([{"a": 0.9}, {"a": 0.1}])
        >>> km.predict_one({"a": 0.2}), km.predict_one({"a": 0.8})
        (1, 0)
        >>> km.warm_start([{"a": 0.5}])
        Traceback (most recent call last):
        ...
        ValueError: warm_start needs 2 centres (one per cluster id 0 .. 1), got 1
        """
        centres = checked_centres(centres, self.n_clusters)
        for i, centre in enumerate(centres):
            # Keep River's defaultdict (and its seeded factory): only the coordinates change.
            self.centers[i].clear()
            self.centers[i].update({k: float(v) for k, v in centre.items()})

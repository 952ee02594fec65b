"""Offline quality check of a clusterer spec on labelled data, and its offline start.

The segments clusterer (a ``clusterer`` spec such as ``customer_segments``) learns online and has
no labels in production. :func:`evaluate` measures how well the spec's estimator recovers known
classes on a labelled set that ships inside a package, River's ``ImageSegments`` (2,310 image
regions, 18 features, 7 balanced classes; the CSV is part of the River wheel and read from disk,
nothing is downloaded), with the adjusted Rand index (ARI) next to scikit-learn's batch
``KMeans`` on the same inputs. :func:`initial_centres` fits scikit-learn centres that
:meth:`~personastream_models.detectors.SeededKMeans.warm_start` can load, so an online clusterer
may begin from an offline fit instead of random centres.

The evaluation uses the spec's estimator and parameters, not its feature set: the features are
the data set's own, min-max scaled to [0, 1], the range the spec's estimator assumes.
"""

from __future__ import annotations

import math
import random
import time
from typing import Any, Callable, Mapping

from personastream_models import specs

__all__ = ["DATASETS", "evaluate", "format_report", "initial_centres", "load_dataset",
           "minmax_scale"]

#: Share of the stream that the warm-started run fits its initial centres on.
WARM_START_SHARE = 0.2


def _image_segments() -> tuple[list[dict[str, float]], list[Any]]:
    from river import datasets

    rows = list(datasets.ImageSegments())  # bundled segment.csv.zip, read locally
    return [{k: float(v) for k, v in x.items()} for x, _ in rows], [y for _, y in rows]


#: Labelled data sets :func:`evaluate` knows: name -> loader returning (feature dicts, labels).
DATASETS: dict[str, Callable[[], tuple[list[dict[str, float]], list[Any]]]] = {
    "image_segments": _image_segments,
}


def load_dataset(name: str) -> tuple[list[dict[str, float]], list[Any]]:
    """The feature dicts and labels of a bundled labelled data set, in file order.

    >>> X, y = load_dataset("image_segments")
    >>> len(X), len(X[0]), len(set(y))
    (2310, 18, 7)
    """
    try:
        loader = DATASETS[name]
    except KeyError:
        raise ValueError(
            f"unknown data set {name!r}; known: {', '.join(sorted(DATASETS))}"
        ) from None
    return loader()


def minmax_scale(vectors: list[dict[str, float]]) -> list[dict[str, float]]:
    """Scale every feature to [0, 1] by its minimum and maximum over ``vectors`` (offline).

    A feature that is constant over ``vectors`` becomes 0; a missing feature counts as 0.

    >>> minmax_scale([{"a": 2.0, "b": 5.0}, {"a": 4.0, "b": 5.0}, {"a": 3.0, "b": 5.0}])
    [{'a': 0.0, 'b': 0.0}, {'a': 1.0, 'b': 0.0}, {'a': 0.5, 'b': 0.0}]
    """
    names = sorted({k for x in vectors for k in x})
    low = {k: min(x.get(k, 0.0) for x in vectors) for k in names}
    high = {k: max(x.get(k, 0.0) for x in vectors) for k in names}
    return [
        {
            k: (x.get(k, 0.0) - low[k]) / (high[k] - low[k]) if high[k] > low[k] else 0.0
            for k in names
        }
        for x in vectors
    ]


def _kmeans(n_clusters: int, seed: int, matrix):
    """scikit-learn's ``KMeans(n_clusters, n_init=10, random_state=seed)`` fitted on one thread:
    on a few thousand points OpenMP threads cost more than they save on a shared machine."""
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return KMeans(n_clusters=n_clusters, n_init=10, random_state=seed).fit(matrix)


def _matrix(vectors: list[dict[str, float]], names: list[str]):
    import numpy as np

    return np.array([[x.get(k, 0.0) for k in names] for x in vectors], dtype=float)


def initial_centres(vectors: list[dict], n_clusters: int, seed: int) -> list[dict]:
    """Centres of scikit-learn's batch k-means over feature dicts: an offline start.

    Features are the sorted union of the dicts' keys (a missing one counts as 0, as in River's
    k-means); ``KMeans(n_clusters, n_init=10, random_state=seed)``, so a seed gives the same
    centres every time. Load them with
    :meth:`~personastream_models.detectors.SeededKMeans.warm_start`.

    Parameters
    ----------
    vectors
        Feature dicts, e.g. the first part of a stream.
    n_clusters
        How many centres; at most ``len(vectors)``.
    seed
        ``random_state`` of scikit-learn's ``KMeans``.

    Returns
    -------
    list of dict
        ``n_clusters`` dicts of feature name to coordinate (floats), in scikit-learn's order.

    Examples
    --------
    >>> points = [{"a": 0.0, "b": 0.1}, {"a": 0.1, "b": 0.0}, {"a": 0.9, "b": 1.0},
    ...           {"a": 1.0, "b": 0.9}]
    >>> centres = initial_centres(points, n_clusters=2, seed=0)
    >>> sorted((round(c["a"], 2), round(c["b"], 2)) for c in centres)
    [(0.05, 0.05), (0.95, 0.95)]
    >>> centres == initial_centres(points, n_clusters=2, seed=0)
    True
    """
    if not isinstance(n_clusters, int) or n_clusters < 1:
        raise ValueError(f"initial_centres: n_clusters must be an integer >= 1, got {n_clusters!r}")
    if len(vectors) < n_clusters:
        raise ValueError(
            f"initial_centres: {n_clusters} centres need at least {n_clusters} vectors, "
            f"got {len(vectors)}"
        )
    names = sorted({k for x in vectors for k in x})
    if not names:
        raise ValueError("initial_centres: the vectors have no features")
    model = _kmeans(n_clusters, seed, _matrix(vectors, names))
    return [
        {k: float(v) for k, v in zip(names, centre)} for centre in model.cluster_centers_
    ]


def _clusterer_spec(spec: specs.ModelSpec | Mapping[str, Any] | str) -> specs.ModelSpec:
    if isinstance(spec, str):
        spec = specs.load(spec)
    elif not isinstance(spec, specs.ModelSpec):
        spec = specs.validate(spec)
    if spec.kind != "clusterer":
        raise specs.SpecError(
            f"spec {spec.key}: evaluate needs a clusterer spec, this is a {spec.kind}"
        )
    return spec


def _build(spec: specs.ModelSpec, n_clusters: int, model_seed: int | None = None):
    """The spec's estimator, with ``n_clusters`` (and ``seed`` when given) replaced (validated
    like any spec)."""
    params = {**spec.params, "n_clusters": n_clusters}
    if model_seed is not None:
        params["seed"] = model_seed
    return specs.build({**spec.to_dict(), "params": params})


def _predict_then_learn(model, stream: list[dict[str, float]]) -> list[int]:
    """Each point's cluster before the model learns it (River's ``learn_predict_one`` does
    both in one search of the nearest centre)."""
    step = getattr(model, "learn_predict_one", None)
    if callable(step):
        return [step(x) for x in stream]
    assignments = []
    for x in stream:
        assignments.append(model.predict_one(x))
        model.learn_one(x)
    return assignments


def evaluate(
    spec: specs.ModelSpec | Mapping[str, Any] | str,
    dataset: str = "image_segments",
    *,
    seed: int | None = None,
    model_seed: int | None = None,
) -> dict[str, Any]:
    """Adjusted Rand index of a clusterer spec on a bundled labelled set, online and offline.

    Steps:

    1. Load the data set and min-max scale each feature to [0, 1] over the whole set
       (:func:`minmax_scale`; offline, so both methods get the very same inputs), then shuffle
       the order with ``random.Random(seed)``.
    2. Online (a, b): the spec's estimator (``specs.build``, with ``n_clusters`` set to the
       number of classes ``k``) sees the stream once; each point is predicted, then learned.
       ``ari_online`` scores those predict-then-learn assignments, ``ari_final`` the final
       model's assignments of all points.
    3. Warm start (c): centres fitted by :func:`initial_centres` on the first 20 % of the
       stream are loaded with ``warm_start``; the model then predicts-then-learns the other
       80 %. ``ari_warm_start`` scores those assignments, ``ari_warm_start_final`` the final
       model's assignments of all points; ``ari_online_tail`` is ``ari_online`` over the same
       80 %, the like-for-like comparison. ``None`` when the estimator has no ``warm_start``.
    4. Offline: scikit-learn ``KMeans(n_clusters=k, n_init=10, random_state=seed)`` on the
       same scaled points (``ari_sklearn``), single-threaded like :func:`initial_centres`.

    Parameters
    ----------
    spec
        A clusterer spec (``ModelSpec``, its JSON object or a published name).
    dataset
        A name in :data:`DATASETS`.
    seed
        Seed of the shuffle and of scikit-learn; the spec's ``seed`` parameter when None.
    model_seed
        Seed of the online estimator; the spec's own ``seed`` when None (``models evaluate
        --seeds`` sets both to each seed in turn).

    Returns
    -------
    dict
        ``spec``, ``estimator``, ``dataset``, ``n``, ``k``, ``n_features``, ``seed``,
        ``model_seed``, ``scaling``; the ARIs
        (in [-1, 1], 0 for chance, 1 for the classes exactly) ``ari_online``, ``ari_final``,
        ``ari_online_tail``, ``ari_warm_start``, ``ari_warm_start_final``, ``ari_sklearn``; and
        ``clusters_used_final`` and ``clusters_used_warm_start``, how many of the ``k`` ids the
        final models assign to some point (a random centre far from the data never becomes
        nearest, so never moves: a dead cluster); and wall-clock ``seconds_online`` (the pass),
        ``seconds_final`` (assigning all points), ``seconds_warm_start`` (offline fit plus the
        pass), ``seconds_sklearn``.

    Examples
    --------
    River's online k-means (1-0-0) from cold, then k-means++ over a buffer (2-0-0):

    >>> river = evaluate(specs.load("customer_segments", "1-0-0"))
    >>> river["n"], river["k"], river["seed"]
    (2310, 7, 42)
    >>> round(river["ari_online"], 3), round(river["ari_final"], 3)
    (0.091, 0.11)
    >>> river["clusters_used_final"]  # of 7: the spec's random start leaves 4 centres dead
    3
    >>> river["ari_online"] < river["ari_warm_start"] and river["ari_sklearn"] > 0.45
    True
    >>> buffered = evaluate(specs.load("customer_segments", "2-0-0"))
    >>> round(buffered["ari_online"], 3), round(buffered["ari_final"], 3)
    (0.495, 0.503)
    >>> buffered["clusters_used_final"], round(buffered["ari_sklearn"], 3)
    (7, 0.504)
    >>> buffered["ari_online"] >= 0.9 * buffered["ari_sklearn"]
    True
    """
    from sklearn.metrics import adjusted_rand_score

    spec = _clusterer_spec(spec)
    if seed is None:
        seed = spec.params.get("seed", 0)
    vectors, labels = load_dataset(dataset)
    scaled = minmax_scale(vectors)
    order = list(range(len(scaled)))
    random.Random(seed).shuffle(order)
    stream = [scaled[i] for i in order]
    truth = [labels[i] for i in order]
    n, k = len(stream), len(set(truth))
    names = sorted(stream[0])

    # (a, b) the spec's online clusterer, cold start
    start = time.perf_counter()
    model = _build(spec, k, model_seed)
    online = _predict_then_learn(model, stream)
    seconds_online = time.perf_counter() - start
    start = time.perf_counter()
    final = [model.predict_one(x) for x in stream]
    seconds_final = time.perf_counter() - start

    # (c) warm start on the first 20 %, online over the rest
    split = max(k, math.ceil(WARM_START_SHARE * n))
    ari_warm = ari_warm_final = used_warm = None
    seconds_warm = None
    if callable(getattr(spec.estimator_class, "warm_start", None)):
        start = time.perf_counter()
        warm = _build(spec, k, model_seed)
        warm.warm_start(initial_centres(stream[:split], k, seed))
        warm_online = _predict_then_learn(warm, stream[split:])
        seconds_warm = time.perf_counter() - start
        ari_warm = float(adjusted_rand_score(truth[split:], warm_online))
        warm_final = [warm.predict_one(x) for x in stream]
        ari_warm_final = float(adjusted_rand_score(truth, warm_final))
        used_warm = len(set(warm_final))

    # offline reference
    start = time.perf_counter()
    batch = _kmeans(k, seed, _matrix(stream, names)).labels_
    seconds_sklearn = time.perf_counter() - start

    return {
        "spec": spec.key,
        "estimator": spec.estimator,
        "dataset": dataset,
        "n": n,
        "k": k,
        "n_features": len(names),
        "seed": seed,
        "model_seed": spec.params.get("seed") if model_seed is None else model_seed,
        "scaling": "min-max over the whole data set (offline), same inputs for every method",
        "ari_online": float(adjusted_rand_score(truth, online)),
        "ari_final": float(adjusted_rand_score(truth, final)),
        "ari_online_tail": float(adjusted_rand_score(truth[split:], online[split:])),
        "ari_warm_start": ari_warm,
        "ari_warm_start_final": ari_warm_final,
        "ari_sklearn": float(adjusted_rand_score(truth, batch)),
        "clusters_used_final": len(set(final)),
        "clusters_used_warm_start": used_warm,
        "seconds_online": seconds_online,
        "seconds_final": seconds_final,
        "seconds_warm_start": seconds_warm,
        "seconds_sklearn": seconds_sklearn,
    }


#: Columns of :func:`format_report`: (heading, result key, what it is).
REPORT_COLUMNS = [
    ("cold", "ari_online", "from cold, each point predicted then learned, whole stream"),
    ("cold final", "ari_final", "the cold model after the pass, all points"),
    ("cold 80%", "ari_online_tail", "cold predict-then-learn over the last 80 % only"),
    ("warm 80%", "ari_warm_start", "from KMeans centres of the first 20 %, "
                                   "predict-then-learn over the last 80 %"),
    ("warm final", "ari_warm_start_final", "the warm model after the pass, all points"),
    ("offline", "ari_sklearn", "scikit-learn KMeans(n_init=10) over all points"),
]


def format_report(results: list[dict[str, Any]], command: str = "") -> str:
    """The ARIs of :func:`evaluate` runs (one per seed) side by side, with mean and minimum.

    >>> rows = [{"spec": "s/1-0-0", "estimator": "E", "dataset": "d", "n": 10, "k": 2,
    ...          "seed": s, "model_seed": s, "ari_online": a, "ari_final": 0.5,
    ...          "ari_online_tail": 0.4, "ari_warm_start": None, "ari_warm_start_final": None,
    ...          "ari_sklearn": 0.5, "clusters_used_final": 2, "clusters_used_warm_start": None}
    ...         for s, a in ((1, 0.45), (2, 0.4))]
    >>> print(format_report(rows))  # doctest: +NORMALIZE_WHITESPACE
    adjusted Rand index of s/1-0-0 on d (n 10, k 2), per seed (shuffle, KMeans and model)
    seed   cold  cold final  cold 80%  warm 80%  warm final  offline  used cold/warm
    1     0.450       0.500     0.400         -           -    0.500  2/-
    2     0.400       0.500     0.400         -           -    0.500  2/-
    mean  0.425       0.500     0.400         -           -    0.500
    min   0.400       0.500     0.400         -           -    0.500
    cold / offline: 0.85x (mean), 0.80x (min)
    warm start: E has no warm_start
    cold: from cold, each point predicted then learned, whole stream
    cold final: the cold model after the pass, all points
    cold 80%: cold predict-then-learn over the last 80 % only
    warm 80%: from KMeans centres of the first 20 %, predict-then-learn over the last 80 %
    warm final: the warm model after the pass, all points
    offline: scikit-learn KMeans(n_init=10) over all points
    """
    first = results[0]
    lines = [f"adjusted Rand index of {first['spec']} on {first['dataset']} (n {first['n']:,}, "
             f"k {first['k']}), per seed (shuffle, KMeans and model)",
             "seed  " + "".join(f"{h:>{max(len(h), 5) + 2}}" for h, _, _ in REPORT_COLUMNS)
             + "  used cold/warm"]

    def cells(values: list) -> str:
        return "".join(f"{'-' if v is None else format(v, '.3f'):>{max(len(h), 5) + 2}}"
                       for (h, _, _), v in zip(REPORT_COLUMNS, values))

    for r in results:
        used = f"{r['clusters_used_final']}/{r['clusters_used_warm_start'] or '-'}"
        seed = str(r["seed"]) if r["seed"] == r["model_seed"] else f"{r['seed']}/{r['model_seed']}"
        lines.append(f"{seed:<6}" + cells([r[key] for _, key, _ in REPORT_COLUMNS])
                     + f"  {used}")
    columns = [[r[key] for r in results] for _, key, _ in REPORT_COLUMNS]
    for label, pick in (("mean", lambda v: sum(v) / len(v)), ("min", min)):
        lines.append(f"{label:<6}" + cells([None if None in v else pick(v) for v in columns]))
    cold, offline = columns[0], columns[-1]
    lines.append(f"cold / offline: {sum(cold) / sum(offline):.2f}x (mean), "
                 f"{min(c / o for c, o in zip(cold, offline)):.2f}x (min)")
    if first["ari_warm_start"] is None:
        lines.append(f"warm start: {first.get('estimator', first['spec'])} has no warm_start")
    lines += [f"{h}: {what}" for h, _, what in REPORT_COLUMNS]
    if command:
        lines.append(f"command: {command}")
    return "\n".join(lines)

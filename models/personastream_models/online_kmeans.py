"""Online k-means that learns from cold: k-means++ over a buffer of the first points, then
mini-batch updates, with fixed segment ids.

:class:`BufferedKMeans` is the ``customer_segments`` 2-0-0 clusterer. River's online ``KMeans``
(1-0-0, :class:`~personastream_models.detectors.SeededKMeans`) starts from random centres, and
a centre that is never the nearest never moves, so from cold it uses few of its ids (3 of 7 on
ImageSegments, ARI 0.09). This one keeps the first ``buffer_size`` points, seeds its centres
from them the way batch k-means does (k-means++, best of ``n_init`` starts, Lloyd iterations),
then goes on online with each centre's learning rate ``1 / points it has taken`` (Sculley's
mini-batch k-means with batches of one, i.e. MacQueen's running means), at least ``min_rate``
so centres keep following a drifting population.

Segment ids are the centre indices ``0 .. n_clusters - 1``. Once seeded, centre ``i`` keeps id
``i`` forever (centres move, they are never renumbered or replaced). Before the buffer is full,
ids come from provisional centres (the first ``n_clusters`` distinct points, each then the
running mean of the points nearest to it); at seeding, the new centres take the provisional
ids greedily by distance (nearest pair first), so a segment keeps its id across the seeding as
far as the centres allow.

Everything random comes from ``random.Random(seed)`` and features are visited in sorted order,
so a seed gives the same centres and ids in every process, whatever ``PYTHONHASHSEED``; all
state is plain lists, dicts and floats (picklable, as Flink keeps it in keyed state).

Examples
--------
>>> km = BufferedKMeans(n_clusters=2, buffer_size=6, seed=3)
>>> stream = [{"a": 0.1, "b": 0.1}, {"a": 0.9, "b": 0.8}, {"a": 0.2, "b": 0.1},
...           {"a": 0.8, "b": 0.9}, {"a": 0.1, "b": 0.2}, {"a": 0.9, "b": 0.9}]
>>> for x in stream:
...     km.learn_one(x)
>>> km.seeded
True
>>> km.predict_one({"a": 0.0, "b": 0.0}), km.predict_one({"a": 1.0, "b": 1.0})
(0, 1)
>>> {i: {k: round(v, 3) for k, v in c.items()} for i, c in km.centers.items()}
{0: {'a': 0.133, 'b': 0.133}, 1: {'a': 0.867, 'b': 0.867}}
"""
from __future__ import annotations

import math
import random

from river import base

from personastream_models.detectors import checked_centres

__all__ = ["BufferedKMeans"]


def _sq_distance(a: dict, b: dict) -> float:
    """Squared Euclidean distance over the union of the keys (a missing feature counts as 0)."""
    return sum((a.get(k, 0.0) - b.get(k, 0.0)) ** 2 for k in sorted({*a, *b}))


def _sq(u: list[float], v: list[float]) -> float:
    return sum((a - b) * (a - b) for a, b in zip(u, v))


def _kmeans_pp(points: list[list[float]], k: int, rng: random.Random) -> list[list[float]]:
    """k-means++ seeding (Arthur and Vassilvitskii, 2007): the first centre uniformly, each next
    one with probability proportional to its squared distance to the nearest centre so far."""
    centres = [list(points[rng.randrange(len(points))])]
    d2 = [_sq(p, centres[0]) for p in points]
    while len(centres) < k:
        total = sum(d2)
        if total <= 0.0:  # fewer distinct points than centres: repeat one (it stays unused)
            chosen = rng.randrange(len(points))
        else:
            target, chosen = rng.random() * total, len(points) - 1
            for i, d in enumerate(d2):
                target -= d
                if target < 0.0:
                    chosen = i
                    break
        centres.append(list(points[chosen]))
        d2 = [min(d, _sq(p, centres[-1])) for d, p in zip(d2, points)]
    return centres


def _lloyd(points: list[list[float]], centres: list[list[float]],
           iterations: int) -> tuple[list[list[float]], list[int], float]:
    """Lloyd's iterations from ``centres``: (centres, cluster sizes, inertia). A centre that
    loses all its points stays where it is."""
    k, dims = len(centres), len(points[0])
    labels: list[int] | None = None
    for _ in range(iterations + 1):
        new = [min(range(k), key=lambda c: _sq(p, centres[c])) for p in points]
        if new == labels:
            break  # settled: ``labels`` is already the assignment to these centres
        labels = new
        sums = [[0.0] * dims for _ in range(k)]
        sizes = [0] * k
        for p, c in zip(points, labels):
            sizes[c] += 1
            row = sums[c]
            for j, v in enumerate(p):
                row[j] += v
        centres = [[v / sizes[c] for v in sums[c]] if sizes[c] else centres[c]
                   for c in range(k)]
    else:  # the iterations ran out after moving the centres: assign to where they are now
        labels = [min(range(k), key=lambda c: _sq(p, centres[c])) for p in points]
    sizes = [labels.count(c) for c in range(k)]
    inertia = sum(_sq(p, centres[c]) for p, c in zip(points, labels))
    return centres, sizes, inertia


def _match(old: list[dict], new: list[dict]) -> list[int]:
    """``order`` such that ``new[order[i]]`` takes id ``i``: provisional ids first go to the
    nearest new centres (closest pair first, ties by index); the rest in index order."""
    pairs = sorted((_sq_distance(o, n), i, j) for i, o in enumerate(old) for j, n in enumerate(new))
    order: dict[int, int] = {}
    taken: set[int] = set()
    for _, i, j in pairs:
        if i not in order and j not in taken:
            order[i] = j
            taken.add(j)
    free = iter(j for j in range(len(new)) if j not in taken)
    return [order[i] if i in order else next(free) for i in range(len(new))]


class BufferedKMeans(base.Clusterer):
    """Online k-means seeded by k-means++ over its first ``buffer_size`` points.

    Parameters
    ----------
    n_clusters
        Number of centres, i.e. segment ids ``0 .. n_clusters - 1``.
    buffer_size
        Points kept before seeding (at least ``n_clusters``); the buffer is dropped once seeded.
    n_init
        k-means++ starts over the buffer; the one with the lowest inertia after Lloyd wins.
    lloyd_iterations
        At most this many Lloyd iterations per start (fewer when the assignment settles).
    min_rate
        Floor of a centre's learning rate ``1 / n`` (``n``: points it has taken, buffer
        included); 0 keeps exact running means.
    seed
        Seed of the k-means++ draws.

    Attributes
    ----------
    seeded : bool
        Whether the buffer was full and the centres seeded (or given by :meth:`warm_start`).
    n_learned : int
        Points learned so far.

    Notes
    -----
    Before any point is learned there is no centre: :meth:`predict_one` returns 0 and
    :meth:`nearest` ``(0, inf)``. Until seeding the ids come from the provisional centres (see
    the module's description), so the first ``buffer_size`` assignments are rougher.
    """

    def __init__(self, n_clusters: int = 6, buffer_size: int = 100, n_init: int = 10,
                 lloyd_iterations: int = 20, min_rate: float = 0.0, seed: int | None = None):
        for name, value, low in (("n_clusters", n_clusters, 1), ("n_init", n_init, 1),
                                 ("lloyd_iterations", lloyd_iterations, 0),
                                 ("buffer_size", buffer_size, n_clusters)):
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"BufferedKMeans: {name} must be an integer >= {low}, "
                                 f"got {value!r}")
        if not 0.0 <= min_rate <= 1.0:
            raise ValueError(f"BufferedKMeans: min_rate must be in [0, 1], got {min_rate!r}")
        self.n_clusters = n_clusters
        self.buffer_size = buffer_size
        self.n_init = n_init
        self.lloyd_iterations = lloyd_iterations
        self.min_rate = min_rate
        self.seed = seed
        self._rng = random.Random(seed)
        self._centres: list[dict[str, float]] = []
        self._counts: list[int] = []
        self._buffer: list[dict[str, float]] = []
        self.seeded = False
        self.n_learned = 0

    @property
    def centers(self) -> dict[int, dict[str, float]]:
        """A copy of the centres by id (River's ``KMeans.centers``); fewer than ``n_clusters``
        before ``n_clusters`` distinct points were seen."""
        return {i: dict(c) for i, c in enumerate(self._centres)}

    def nearest(self, x: dict) -> tuple[int, float]:
        """The id of the centre nearest to ``x`` and the Euclidean distance to it (the lowest
        id on a tie).

        >>> km = BufferedKMeans(n_clusters=2, buffer_size=4, seed=1)
        >>> km.nearest({"a": 0.5})
        (0, inf)
        >>> km.learn_one({"a": 0.0}); km.learn_one({"a": 1.0})
        >>> km.nearest({"a": 0.9})
        (1, 0.09999999999999998)
        """
        if not self._centres:
            return 0, math.inf
        distances = [_sq_distance(c, x) for c in self._centres]
        best = min(range(len(distances)), key=distances.__getitem__)
        return best, math.sqrt(distances[best])

    def predict_one(self, x: dict) -> int:
        return self.nearest(x)[0]

    def learn_one(self, x: dict) -> None:
        x = {k: float(v) for k, v in x.items()}
        self.n_learned += 1
        if not self.seeded:
            self._buffer.append(x)
            if len(self._centres) < self.n_clusters and all(c != x for c in self._centres):
                self._centres.append(dict(x))
                self._counts.append(1)
                x = None
        if x is not None:
            self._move(self.nearest(x)[0], x)
        if not self.seeded and len(self._buffer) >= self.buffer_size:
            if len(self._centres) == self.n_clusters:
                self._seed()
            else:  # fewer distinct points than centres so far: keep the latest ones only
                del self._buffer[: len(self._buffer) - self.buffer_size]

    def _move(self, i: int, x: dict) -> None:
        self._counts[i] += 1
        rate = max(1.0 / self._counts[i], self.min_rate)
        centre = self._centres[i]
        for k in sorted({*centre, *x}):
            c = centre.get(k, 0.0)
            centre[k] = c + rate * (x.get(k, 0.0) - c)

    def _seed(self) -> None:
        names = sorted({k for x in self._buffer for k in x} | {k for c in self._centres for k in c})
        points = [[x.get(k, 0.0) for k in names] for x in self._buffer]
        if len({tuple(p) for p in points}) < self.n_clusters:
            # the distinct points seen have left the buffer: seed over them too
            points += [[c.get(k, 0.0) for k in names] for c in self._centres]
        best = None
        for _ in range(self.n_init):
            start = _kmeans_pp(points, self.n_clusters, self._rng)
            fit = _lloyd(points, start, self.lloyd_iterations)
            if best is None or fit[2] < best[2]:
                best = fit
        centres, sizes, _ = best
        new = [dict(zip(names, c)) for c in centres]
        order = _match(self._centres, new)
        self._centres = [new[j] for j in order]
        self._counts = [max(1, sizes[j]) for j in order]
        self._buffer = []
        self.seeded = True

    def warm_start(self, centres: list[dict]) -> None:
        """Start from given centres (id ``i`` gets ``centres[i]``) instead of a buffer.

        Each centre counts as ``buffer_size // n_clusters`` points learned (at least 1), so the
        first points move it as if it had been seeded from a full buffer. Centres are learned
        state, not parameters: ``clone()`` drops them.

        Raises
        ------
        ValueError
            When there are not exactly ``n_clusters`` centres, or a centre is not a dict.

        Examples
        --------
        >>> km = BufferedKMeans(n_clusters=2, buffer_size=4, seed=1)
        >>> km.warm_start([{"a": 0.9}, {"a": 0.1}])
        >>> km.seeded, km.predict_one({"a": 0.2}), km.predict_one({"a": 0.8})
        (True, 1, 0)
        >>> km.warm_start([{"a": 0.5}])
        Traceback (most recent call last):
        ...
        ValueError: warm_start needs 2 centres (one per cluster id 0 .. 1), got 1
        """
        centres = checked_centres(centres, self.n_clusters)
        self._centres = [{k: float(v) for k, v in c.items()} for c in centres]
        self._counts = [max(1, self.buffer_size // self.n_clusters)] * self.n_clusters
        self._buffer = []
        self.seeded = True

    @classmethod
    def _unit_test_params(cls):
        yield {"n_clusters": 3, "buffer_size": 10, "seed": 1}

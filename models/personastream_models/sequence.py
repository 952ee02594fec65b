"""Sequence novelty: is the recent run of coarse levels one the series has not made lately?

:class:`SequenceNoveltyDetector` is a fast, bounded-memory, online detector of another family
than the contextual one (:mod:`personastream_models.contextual`), built for the trends job at
tens of thousands of values per second on one core:

- a value becomes a *level*, its bin on a coarse grid (``n_bins`` bins) over the range learned
  so far, widened by ``margin`` on each side; a value beyond the grid is an overflow level
  that grows with the log of the distance, so nothing on the grid explains it. The grid stays
  where it is until a learned value falls off it; it is then re-fitted to the learned range
  and the last ``relearn_window`` values are learned again on it (as 3-3-0's grid does);
- the detector counts the runs of 1 to ``order + 1`` consecutive levels it learned among the
  last ``memory`` values (older runs are forgotten, so a pattern the series stopped making
  long ago is new again);
- the raw score of a value is the share of its contexts (the runs of 2 to ``order + 1``
  levels ending with it) that are not among those counted: 1 when even the step from the
  previous level to its level is new, ``1 / order`` when only the longest run is new;
- the reported score is the raw score weighed by how unusual the value's size is,
  ``floor + (1 - floor) * erf(|z| / sqrt(2))`` (``z`` from an exponentially weighted mean and
  variance), 1 for a value beyond the learned range by more than ``spatial_tolerance`` of it,
  0 during a rest of ``rest_period`` values after a reported score of ``rest_threshold`` or
  more (a value beyond the range is scored even then), and divided by ``1 + rate_damping * r``,
  ``r`` the exponentially weighted share of raw scores of ``base_threshold`` or more (a series
  that often makes new runs raises fewer alarms for one);
- nothing is scored before ``learning_period`` values were learned.

The state is a few numbers and flat arrays: the last ``relearn_window`` values; the levels of
the last ``memory`` values (the run ending at each is read from them); the runs' codes, sorted,
and their counts (:class:`RunCounts`, at most ``memory * (order + 1)`` runs). The trends job
unpickles and pickles an item's detector on every window, and objects are what a pickle pays
for: 4-1-0 at the end of a NAB series of 4,000 values or more pickles to ~15 KB and round-trips
in ~20 µs, against 52 KB and ~0.8 ms with a tuple per remembered run in a deque and a dict of
runs (``benchmarks/results/trends-state-2026-12-06/``).
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left
from functools import lru_cache

from river import anomaly

from personastream_models.contextual import size_weight

__all__ = ["RunCounts", "SequenceNoveltyDetector", "fitted_grid", "level", "on_grid",
           "share_new"]

#: Farthest position, in bins, that :func:`level` tells apart (beyond: the same overflow level).
_FAR = 2.0 ** 62
#: Levels are kept as 2-byte ints: from -63 to ``n_bins + 63`` (:func:`level`).
LEVEL_TYPECODE = "h"
MAX_BINS = 2 ** 15 - 64
#: Added to a level in a run's code, so that every level's bits are positive (levels >= -63).
_LEVEL_OFFSET = 64


def level(value: float, low: float, step: float, n_bins: int) -> int:
    """The level of ``value`` on a grid of ``n_bins`` bins of width ``step`` from ``low``.

    A value beyond the grid gets an overflow level, ``n_bins`` and up above it, negative below
    it, growing with the log of the distance in bins.

    >>> [level(v, 0.0, 1.0, 8) for v in (0.0, 7.9, 8.0, 9.5, 40.0, -0.5, -3.0)]
    [0, 7, 9, 10, 14, -1, -2]
    >>> level(1e300, 0.0, 1e-13, 8)  # beyond 2 ** 62 bins: one overflow level
    70
    """
    b = math.floor(max(-_FAR, min(_FAR, (value - low) / step)))
    if b >= n_bins:
        return n_bins + (b - n_bins + 1).bit_length()
    if b < 0:
        return -(-b).bit_length()
    return b


def fitted_grid(lo: float, hi: float, margin: float, n_bins: int) -> tuple[float, float]:
    """``(low end, bin width)`` of a grid of ``n_bins`` bins over ``lo`` to ``hi`` widened by
    ``margin`` of the span on each side (bins of 1 for a single value).

    >>> fitted_grid(0.0, 10.0, 0.1, 6), fitted_grid(5.0, 5.0, 0.3, 8)
    ((-1.0, 2.0), (5.0, 1.0))
    """
    span = hi - lo
    width = span * (1 + 2 * margin)
    return lo - margin * span, width / n_bins if width > 0 else 1.0


def on_grid(value: float, grid: tuple[float, float], n_bins: int) -> bool:
    """Whether ``value`` falls in one of the ``n_bins`` bins of ``grid`` (:func:`fitted_grid`).

    >>> on_grid(11.0, (-1.0, 2.0), 6), on_grid(-1.0, (-1.0, 2.0), 6)
    (False, True)
    """
    low, step = grid
    return low <= value < low + step * n_bins


class RunCounts:
    """How many times each run of levels was learned, flat: each run's code
    (:meth:`code`: its levels plus 64, ``bits`` bits each) in one sorted array,
    the counts in another. It pickles as two arrays, where a dict held a tuple per run.

    >>> runs = RunCounts(bits=8)
    >>> runs.add((0, 1, 2), 1)  # the runs (2,), (1, 2) and (0, 1, 2)
    >>> runs.add((5, 1, 2), 1)
    >>> runs.as_dict()
    {(2,): 2, (1, 2): 2, (0, 1, 2): 1, (5, 1, 2): 1}
    >>> runs.add((0, 1, 2), -1)
    >>> runs.holds(runs.code((0, 1, 2))), runs.holds(runs.code((1, 2)))
    (False, True)
    """

    def __init__(self, bits: int):
        self.bits = bits
        self.codes = array("Q")
        self.counts = array("l")

    def code(self, levels: tuple) -> int:
        """One int for a run of levels; its suffix of ``n`` levels is ``code & mask(n)``."""
        code, bits = 0, self.bits
        for lv in levels:
            code = (code << bits) | (lv + _LEVEL_OFFSET)
        return code

    def mask(self, n: int) -> int:
        """The bits of a code's last ``n`` levels."""
        return _masks(self.bits)[n]

    @classmethod
    def from_dict(cls, bits: int, runs: dict[tuple, int]) -> RunCounts:
        """The counts ``{run of levels: count}`` (:meth:`as_dict`'s form) in flat form.

        >>> RunCounts.from_dict(8, {(1, 2): 3, (2,): 3}).as_dict()
        {(2,): 3, (1, 2): 3}
        """
        counts = cls(bits)
        for code, count in sorted((counts.code(run), count) for run, count in runs.items()):
            counts.codes.append(code)
            counts.counts.append(count)
        return counts

    def holds(self, code: int) -> bool:
        """Whether the run of code ``code`` is counted."""
        codes = self.codes
        i = bisect_left(codes, code)
        return i < len(codes) and codes[i] == code

    def add(self, levels: tuple, change: int, suffixes: bool = True) -> None:
        """Add ``change`` to the count of each run ending ``levels`` (its suffixes; with
        ``suffixes`` False, of ``levels`` alone); a run whose count falls to 0 is dropped."""
        codes, counts, code = self.codes, self.counts, self.code(levels)
        masks = _masks(self.bits)[len(levels):0:-1]
        for n, mask in enumerate(masks if suffixes else masks[:1]):
            key = code & mask
            i = bisect_left(codes, key)
            if i < len(codes) and codes[i] == key:
                counts[i] += change
                if counts[i] <= 0:
                    del codes[i], counts[i]
            elif change > 0:
                codes.insert(i, key)
                counts.insert(i, change)
            else:
                raise KeyError(f"run {levels[n:]} was not counted")

    def as_dict(self) -> dict[tuple, int]:
        """``{run of levels: count}``, shortest runs first."""
        digit, runs = self.mask(1), {}
        for code, count in zip(self.codes, self.counts):
            levels = []
            while code:
                levels.append((code & digit) - _LEVEL_OFFSET)
                code >>= self.bits
            runs[tuple(reversed(levels))] = count
        return runs

    def __len__(self) -> int:
        return len(self.codes)


@lru_cache(maxsize=None)
def _masks(bits: int) -> tuple[int, ...]:
    """``masks[n]``: the bits of a code's last ``n`` levels."""
    return tuple((1 << (bits * n)) - 1 for n in range(64 // bits + 1))


def level_bits(n_bins: int) -> int:
    """Bits a level takes in a run's code: levels go from -63 to ``n_bins + 63``
    (:func:`level`), plus 64: from 1 to ``n_bins + 127``.

    >>> level_bits(8), level_bits(100), level_bits(200)
    (8, 8, 9)
    >>> runs = RunCounts(level_bits(100))  # the lowest and the highest levels, side by side
    >>> runs.add((-63, 163), 1)
    >>> runs.as_dict()
    {(163,): 1, (-63, 163): 1}
    """
    return (n_bins + 127).bit_length()


def share_new(runs: RunCounts, recent: tuple) -> float:
    """The share of the contexts ending ``recent`` (its suffixes of two levels or more) that
    ``runs`` does not hold (0 when ``recent`` holds a single level).

    >>> runs = RunCounts(bits=8)
    >>> runs.add((0, 1, 2), 1)
    >>> share_new(runs, (0, 1, 2)), share_new(runs, (3, 1, 2)), share_new(runs, (1, 3))
    (0.0, 0.5, 1.0)
    """
    n_contexts = len(recent) - 1
    if n_contexts <= 0:
        return 0.0
    code, masks = runs.code(recent), _masks(runs.bits)
    return sum(not runs.holds(code & masks[n]) for n in range(2, len(recent) + 1)) / n_contexts


class SequenceNoveltyDetector(anomaly.base.AnomalyDetector):
    """Novelty of the run of coarse levels ending with a value, among the series' recent runs.

    Parameters
    ----------
    feature
        The key of ``x`` that is read.
    n_bins
        Bins of the value grid over the learned range widened by ``margin`` on each side.
    order
        Longest context: the runs of up to ``order + 1`` levels are counted.
    margin
        Width added to each side of the learned range, as a fraction of it.
    relearn_window
        Values kept to learn again when the grid is re-fitted.
    memory
        Runs remembered: those of the last ``memory`` learned values (0: all).
    learning_period
        Values learned before scoring (scores are 0 until then).
    rest_period
        After a reported alarm, that many following scores are 0 (but a spatial anomaly's).
    rest_threshold
        A reported score at or above it (or a spatial anomaly) starts a rest.
    spatial_tolerance
        A value beyond the learned range by more than this fraction of the range scores 1,
        even during a rest (0: off).
    magnitude_floor
        Weight of a score whose value sits at the mean (1: scores are not weighed by size).
    magnitude_alpha
        Weight of each new value in the exponentially weighted mean and variance.
    base_threshold
        Raw score counted in the rate of high raw scores.
    rate_alpha
        Weight of each value in that rate.
    rate_damping
        Scores are divided by ``1 + rate_damping * rate`` (0: off).

    Examples
    --------
    A series that repeats a daily shape; a value that breaks the shape, inside the usual range,
    scores high:

    >>> detector = SequenceNoveltyDetector(learning_period=20, rest_period=10)
    >>> shape = [10, 12, 15, 20, 26, 30, 26, 20, 15, 12]
    >>> scores = []
    >>> for count in shape * 40 + [10, 12, 29]:
    ...     scores.append(detector.score_one({"count": count}))
    ...     detector.learn_one({"count": count})
    >>> max(scores[100:-1]), round(scores[-1], 2)
    (0.0, 0.98)
    """

    def __init__(
        self,
        feature: str = "count",
        n_bins: int = 8,
        order: int = 3,
        margin: float = 0.3,
        relearn_window: int = 750,
        memory: int = 4000,
        learning_period: int = 100,
        rest_period: int = 120,
        rest_threshold: float = 0.55,
        spatial_tolerance: float = 0.05,
        magnitude_floor: float = 0.6,
        magnitude_alpha: float = 0.003,
        base_threshold: float = 0.65,
        rate_alpha: float = 0.0005,
        rate_damping: float = 12.0,
    ):
        if not 1 <= n_bins <= MAX_BINS or order < 1 or relearn_window < 1 or memory < 0:
            raise ValueError(f"n_bins must be 1 to {MAX_BINS:,}, order and relearn_window >= 1, "
                             f"memory >= 0 (got {n_bins}, {order}, {relearn_window}, {memory})")
        if (order + 1) * level_bits(n_bins) > 64:
            raise ValueError(f"a run of order + 1 = {order + 1} levels of {level_bits(n_bins)} "
                             f"bits (n_bins {n_bins}) must fit 64 bits: lower order or n_bins")
        self.feature = feature
        self.n_bins = n_bins
        self.order = order
        self.margin = margin
        self.relearn_window = relearn_window
        self.memory = memory
        self.learning_period = learning_period
        self.rest_period = rest_period
        self.rest_threshold = rest_threshold
        self.spatial_tolerance = spatial_tolerance
        self.magnitude_floor = magnitude_floor
        self.magnitude_alpha = magnitude_alpha
        self.base_threshold = base_threshold
        self.rate_alpha = rate_alpha
        self.rate_damping = rate_damping
        self._n = 0
        self._lo = self._hi = 0.0  # learned range
        self._grid: tuple[float, float] | None = None  # (low end, bin width)
        self._recent = array("d")  # the last relearn_window values learned
        self._runs = RunCounts(level_bits(n_bins))  # times each run was learned in the memory
        # the levels of the values remembered since the grid was fitted (_since_fit of them),
        # the last memory + order + 1 at most: the run ending at each remembered value
        self._history = array(LEVEL_TYPECODE)
        self._since_fit = 0
        self._levels: tuple = ()  # the last order + 1 levels learned
        self._mean = 0.0
        self._var = 0.0
        self._since_alarm = rest_period  # values learned since the last alarm
        self._rate = 0.0

    # -- levels and runs -------------------------------------------------------------------

    def _level(self, value: float) -> int:
        low, step = self._grid
        return level(value, low, step, self.n_bins)

    def _ending_with(self, value: float) -> tuple:
        """The last ``order + 1`` levels if ``value`` were learned next."""
        return (self._levels + (self._level(value),))[-self.order - 1:]

    def _remember(self, value: float) -> None:
        """Count the runs ending with ``value``; forget those of the value ``memory`` ago."""
        self._levels = self._ending_with(value)
        self._runs.add(self._levels, 1)
        history = self._history
        history.append(self._levels[-1])
        self._since_fit += 1
        forgotten = self._since_fit - 1 - self.memory  # position since the fit, if any
        if self.memory and forgotten >= 0:
            start = self._since_fit - len(history)
            first = max(0, forgotten - self.order)
            self._runs.add(tuple(history[first - start:forgotten - start + 1]), -1)
        if len(history) > self.memory + self.order + 1:
            del history[0]

    def remembered_runs(self) -> list[tuple]:
        """The run of levels ending at each remembered value (the last ``memory``, or all since
        the grid was fitted), oldest first: what :meth:`runs` counts.

        >>> d = SequenceNoveltyDetector(n_bins=2, memory=3, learning_period=0)
        >>> for v in (0.0, 10.0, 0.0, 10.0, 10.0):
        ...     d.learn_one({"count": v})
        >>> d.remembered_runs()
        [(0, 1, 0), (0, 1, 0, 1), (1, 0, 1, 1)]
        """
        if not self.memory:
            raise ValueError("memory 0 counts every run since the grid was fitted; only the "
                             "last order + 1 levels are kept")
        start = self._since_fit - len(self._history)
        kept = min(self._since_fit, self.memory)
        return [tuple(self._history[max(0, p - self.order) - start:p + 1 - start])
                for p in range(self._since_fit - kept, self._since_fit)]

    def runs(self) -> dict[tuple, int]:
        """``{run of levels: times learned among the memory}``."""
        return self._runs.as_dict()

    def _refit(self) -> None:
        """Fit the grid to the learned range; learn the recent values again on it."""
        self._grid = fitted_grid(self._lo, self._hi, self.margin, self.n_bins)
        self._runs = RunCounts(level_bits(self.n_bins))
        self._history, self._since_fit, self._levels = array(LEVEL_TYPECODE), 0, ()
        for value in self._recent:
            self._remember(value)

    def _on_grid(self, value: float) -> bool:
        return on_grid(value, self._grid, self.n_bins)

    # -- scores ----------------------------------------------------------------------------

    def _raw(self, value: float) -> float:
        return share_new(self._runs, self._ending_with(value))

    def _spatial(self, value: float) -> bool:
        """Whether ``value`` lies beyond the learned range by more than the tolerance."""
        reach = self.spatial_tolerance * (self._hi - self._lo)
        return reach > 0 and (value > self._hi + reach or value < self._lo - reach)

    def _size_weight(self, value: float) -> float:
        """``floor + (1 - floor) * P(|Z| < |z|)`` for the value's z-score."""
        return size_weight(value, self._mean, self._var, self.magnitude_floor)

    def _report(self, value: float, raw: float) -> float:
        if self._spatial(value):
            score = 1.0
        elif self._since_alarm < self.rest_period:
            return 0.0
        else:
            score = raw * self._size_weight(value)
        return score / (1.0 + self.rate_damping * self._rate)

    # -- River API -------------------------------------------------------------------------

    def _value(self, x: dict) -> float:
        value = float(x[self.feature])
        if not math.isfinite(value):
            raise ValueError(f"{self.feature} must be a finite number, got {value!r}")
        return value

    def _scoring(self) -> bool:
        """Whether values are scored: after the learning period and the first value."""
        return self._n >= max(1, self.learning_period)

    def score_one(self, x: dict) -> float:
        if not self._scoring():
            return 0.0
        value = self._value(x)
        return self._report(value, self._raw(value))

    def learn_one(self, x: dict) -> None:
        value = self._value(x)
        scoring = self._scoring()
        raw = self._raw(value) if scoring else 0.0
        alarm = scoring and (self._spatial(value)
                             or self._report(value, raw) >= self.rest_threshold)
        self._since_alarm = 0 if alarm else self._since_alarm + 1
        self._rate += self.rate_alpha * ((raw >= self.base_threshold) - self._rate)
        self._learn_size(value)
        self._recent.append(value)
        if len(self._recent) > self.relearn_window:
            del self._recent[0]
        if self._grid is None or not self._on_grid(value):
            self._refit()
        else:
            self._remember(value)

    def _learn_size(self, value: float) -> None:
        """Update the learned range, the count and the weighted mean and variance."""
        if self._n == 0:
            self._lo = self._hi = self._mean = value
        else:
            self._lo, self._hi = min(self._lo, value), max(self._hi, value)
            delta, alpha = value - self._mean, self.magnitude_alpha
            self._mean += alpha * delta
            self._var = (1 - alpha) * (self._var + alpha * delta * delta)
        self._n += 1

    def __setstate__(self, state: dict) -> None:
        if "_learned" in state:
            state = _flat(state)
        self.__dict__.update(state)

    @classmethod
    def _unit_test_params(cls):
        yield {"learning_period": 10, "rest_period": 5, "relearn_window": 50, "memory": 200}


def _flat(state: dict) -> dict:
    """A detector's state pickled before 2026-12-06 (a deque of the remembered runs, a deque of
    the recent values, a dict of the runs' counts) in the flat form: the same detector, as a
    checkpoint restores it.

    >>> from collections import deque
    >>> old = {"n_bins": 8, "_learned": deque([(0,), (0, 1), (0, 1, 0)]), "_levels": (0, 1, 0),
    ...        "_recent": deque([0.0, 10.0, 0.0], maxlen=750),
    ...        "_runs": {(0,): 2, (1,): 1, (0, 1): 1, (1, 0): 1, (0, 1, 0): 1}}
    >>> new = _flat(old)
    >>> new["_history"], new["_since_fit"], new["_recent"]
    (array('h', [0, 1, 0]), 3, array('d', [0.0, 10.0, 0.0]))
    >>> new["_runs"].as_dict() == old["_runs"]
    True
    """
    state = dict(state)
    learned = state.pop("_learned")
    # the oldest remembered run holds the levels before it; each later one adds its last level
    levels = [*learned[0], *(run[-1] for run in list(learned)[1:])] if learned \
        else list(state["_levels"])
    state.update(_history=array(LEVEL_TYPECODE, levels), _since_fit=len(levels),
                 _recent=array("d", state["_recent"]),
                 _runs=RunCounts.from_dict(level_bits(state["n_bins"]), state["_runs"]))
    return state

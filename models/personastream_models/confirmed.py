"""Two-scale sequence novelty whose fine novelty is confirmed on coarser value grids.

:class:`ConfirmedSequenceDetector` is
:class:`~personastream_models.multiscale.MultiScaleSequenceDetector` (5-x) whose fine raw score
counts only when the run of values is new on a coarser grid too: a run of levels that is new on
the 8-bin grid but made before on each grid of ``confirm_bins`` bins (4 and 6) is a value that
crossed a bin edge it usually stays near (jitter), and its fine raw score becomes 0. The
coarser grids' edges fall elsewhere, so jitter at one grid's edge is seldom new on the others,
while a real change of shape is new on all of them.

- each confirming member (:class:`RunSet`) counts the runs of ``order + 1`` levels on its own
  grid of ``confirm_bins[k]`` bins among the last ``memory`` values, re-fitted as the fine
  grid is (the fine member's ``order``, ``margin``, ``relearn_window``, ``memory``); it
  learns every value, only whether the value's run is new on its grid is read (a run with a
  new shorter suffix is new too);
- the raw score is ``max(fine, coarse_weight * coarse)`` as in 5-x, with ``fine`` 0 when no
  confirming member sees a new run; the coarse member (block means) is not gated; the rest,
  size weight, spatial score and rate damping then apply as in 5-x (the rate counts the
  confirmed raw scores);
- on NAB (6-0-0, at its in-sample threshold): 205 false-positive rows instead of 5-0-0's 236
  for 104 windows detected instead of 105; ~0.7 times 5-0-0's values per CPU second, ~20,000
  (``benchmarks/results/nab-2026-12-07/``).
"""

from __future__ import annotations

from array import array

from personastream_models.multiscale import MultiScaleSequenceDetector
from personastream_models.sequence import (LEVEL_TYPECODE, RunCounts, fitted_grid, level,
                                           level_bits, on_grid)

__all__ = ["ConfirmedSequenceDetector", "RunSet"]


class RunSet:
    """The runs of ``order + 1`` levels that the last ``memory`` values made on a grid of
    ``n_bins`` bins, re-fitted as :class:`~personastream_models.sequence.SequenceNoveltyDetector`
    re-fits its grid (to the learned range widened by ``margin``, when a value falls off it,
    learning the last ``relearn_window`` values again). Only whole runs are counted (a
    confirming grid asks whether a run is new, not which share of its contexts is): one sorted
    array of run codes and one of counts, two short arrays of recent values and levels.

    >>> runs = RunSet(n_bins=2, order=1, margin=0.1, relearn_window=10, memory=3)
    >>> for v in (0.0, 10.0, 0.0, 10.0):
    ...     runs.learn(v)
    >>> runs.is_new(0.0), runs.is_new(10.0)  # after 10 (level 1): (1, 0) was made, (1, 1) not
    (False, True)
    """

    def __init__(self, n_bins: int, order: int, margin: float, relearn_window: int,
                 memory: int):
        self.n_bins, self.order, self.margin = n_bins, order, margin
        self.relearn_window, self.memory = relearn_window, memory
        self._lo = self._hi = 0.0
        self._n = 0
        self._grid: tuple[float, float] | None = None
        self._recent = array("d")  # the last relearn_window values learned
        self._runs = RunCounts(level_bits(n_bins))  # whole runs only
        self._history = array(LEVEL_TYPECODE)  # levels of the last memory + order values
        self._since_fit = 0

    def _ending_with(self, value: float) -> tuple:
        """The run of levels ending with ``value`` if it were learned next."""
        low, step = self._grid
        value_level = level(value, low, step, self.n_bins)
        return (*self._history[-self.order:], value_level) if self.order and self._since_fit \
            else (value_level,)

    def is_new(self, value: float) -> bool:
        """Whether the run ending with ``value`` is not among the remembered ones."""
        return not self._runs.holds(self._runs.code(self._ending_with(value)))

    def _remember(self, value: float) -> None:
        levels = self._ending_with(value)
        self._history.append(levels[-1])
        self._since_fit += 1
        self._runs.add(levels, 1, suffixes=False)
        if self.memory and self._since_fit > self.memory:  # forget the run memory values ago
            end = len(self._history) - 1 - self.memory
            start = max(0, end - self.order, end - (self._since_fit - 1 - self.memory))
            self._runs.add(tuple(self._history[start:end + 1]), -1, suffixes=False)
        if len(self._history) > self.memory + self.order + 1:
            del self._history[0]

    def _refit(self) -> None:
        self._grid = fitted_grid(self._lo, self._hi, self.margin, self.n_bins)
        self._runs = RunCounts(self._runs.bits)
        self._history, self._since_fit = array(LEVEL_TYPECODE), 0
        for value in self._recent:
            self._remember(value)

    def learn(self, value: float) -> None:
        """Learn ``value``: the range, the recent values and the run ending with it."""
        self._lo, self._hi = (min(self._lo, value), max(self._hi, value)) if self._n \
            else (value, value)
        self._n += 1
        self._recent.append(value)
        if len(self._recent) > self.relearn_window:
            del self._recent[0]
        if self._grid is None or not on_grid(value, self._grid, self.n_bins):
            self._refit()
        else:
            self._remember(value)


class ConfirmedSequenceDetector(MultiScaleSequenceDetector):
    """5-x's two-scale sequence novelty; the fine novelty must be new on a coarser grid too.

    Parameters
    ----------
    confirm_bins
        Bins of each confirming grid; a fine raw score counts when any of them sees a new run
        (empty: never confirmed, only the coarse member and the spatial score alarm).
    block ... rate_damping
        :class:`~personastream_models.multiscale.MultiScaleSequenceDetector`'s (defaults:
        5-0-0's); the confirming members take ``order``, ``margin``, ``relearn_window`` and
        ``memory`` from them.

    Examples
    --------
    Values that swap at random between 2.9 and 3.1 (after 0 and 10, a range of 0 to 10): on
    the 8-bin grid they are two levels (an edge at 3) whose runs keep being new among the last
    20 values, on the 4- and 6-bin grids they are one level and nothing is new. The fine
    member alone reports the jitter; confirmed, it stays silent:

    >>> import random
    >>> from personastream_models.sequence import SequenceNoveltyDetector
    >>> rng = random.Random(1)
    >>> values = [0.0, 10.0] + [rng.choice((2.9, 3.1)) for _ in range(600)]
    >>> def top(detector):
    ...     scores = []
    ...     for v in values:
    ...         scores.append(detector.score_one({"count": v}))
    ...         detector.learn_one({"count": v})
    ...     return max(scores[100:])
    >>> params = dict(learning_period=50, memory=20, rest_period=10, rate_damping=0.0)
    >>> round(top(SequenceNoveltyDetector(**params)), 2)
    0.86
    >>> top(ConfirmedSequenceDetector(coarse_weight=0.0, **params))
    0.0
    """

    def __init__(
        self,
        feature: str = "count",
        confirm_bins: tuple = (4, 6),
        block: int = 8,
        coarse_weight: float = 0.8,
        n_bins: int = 8,
        order: int = 3,
        margin: float = 0.3,
        relearn_window: int = 750,
        memory: int = 4000,
        learning_period: int = 100,
        rest_period: int = 160,
        rest_threshold: float = 0.55,
        spatial_tolerance: float = 0.05,
        magnitude_floor: float = 0.6,
        magnitude_alpha: float = 0.003,
        base_threshold: float = 0.65,
        rate_alpha: float = 0.0005,
        rate_damping: float = 8.0,
    ):
        super().__init__(
            feature=feature, block=block, coarse_weight=coarse_weight, n_bins=n_bins,
            order=order, margin=margin, relearn_window=relearn_window, memory=memory,
            learning_period=learning_period, rest_period=rest_period,
            rest_threshold=rest_threshold, spatial_tolerance=spatial_tolerance,
            magnitude_floor=magnitude_floor, magnitude_alpha=magnitude_alpha,
            base_threshold=base_threshold, rate_alpha=rate_alpha, rate_damping=rate_damping)
        self.confirm_bins = tuple(confirm_bins)
        self._confirming = [RunSet(bins, order, margin, relearn_window, memory)
                            for bins in self.confirm_bins]

    def _confirmed(self, value: float) -> bool:
        """Whether a confirming member has not made the run of levels ending with ``value``."""
        return any(member.is_new(value) for member in self._confirming)

    def _fine_raw(self, value: float) -> float:
        raw = super()._fine_raw(value)
        return raw if not raw or self._confirmed(value) else 0.0

    def learn_one(self, x: dict) -> None:
        super().learn_one(x)  # scores with the confirming members as they were
        value = self._value(x)
        for member in self._confirming:
            member.learn(value)

    @classmethod
    def _unit_test_params(cls):
        yield {"block": 4, "learning_period": 10, "rest_period": 5, "relearn_window": 50,
               "memory": 200}

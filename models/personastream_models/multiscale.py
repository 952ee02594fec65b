"""Two-scale sequence novelty: the runs of levels of the values and of their block means.

:class:`MultiScaleSequenceDetector` is
:class:`~personastream_models.sequence.SequenceNoveltyDetector` (4-x) with a second, coarse
member of the same family: a sequence novelty detector fed the mean of each block of ``block``
consecutive values, so that its runs of ``order + 1`` levels span ``(order + 1) * block``
values where the fine ones span ``order + 1``. The two fail differently: a change of shape
that keeps every short run familiar is new at the coarse scale, and a single odd value is new
only at the fine one.

- the raw score of a value is the fine raw score; when the value completes a block, it is
  ``max(fine, coarse_weight * coarse)``, ``coarse`` the coarse member's raw score of the block's
  mean (scored before it is learned, as every value is);
- everything after the raw score is applied once, on the combined score, as in 4-x: the weight
  by the value's size, 1 beyond the learned range, the rest after a reported alarm and the
  damping by the rate of high raw (combined) scores;
- the coarse member scores once it learned ``max(10, learning_period // block)`` block means,
  with the other parameters of the fine one. It learns one value in ``block``; ``bench nab``
  measured 5-0-0 (block 8) at ~0.7 times 4-1-0's values per second (~40,000 on one core).
"""

from __future__ import annotations

from personastream_models.sequence import SequenceNoveltyDetector

__all__ = ["MultiScaleSequenceDetector"]


class MultiScaleSequenceDetector(SequenceNoveltyDetector):
    """Sequence novelty of a value's run of levels, and of its block's run of block means.

    Parameters
    ----------
    block
        Values per block of the coarse member (its input is each block's mean).
    coarse_weight
        The coarse member's raw score is multiplied by it before the max with the fine one.
    n_bins ... rate_damping
        :class:`~personastream_models.sequence.SequenceNoveltyDetector`'s (defaults: 4-1-0's),
        for both members; the coarse member's learning period is
        ``max(10, learning_period // block)`` block means.

    Examples
    --------
    A day of four flat quarters (10, 20, 30, 20), then a day whose third quarter is 10: every
    run of 4 values in it was made before (the fine member alone scores 0), the run of quarter
    means (10, 20, 10) was not:

    >>> from personastream_models.sequence import SequenceNoveltyDetector
    >>> day = [10] * 4 + [20] * 4 + [30] * 4 + [20] * 4
    >>> odd = [10] * 4 + [20] * 4 + [10] * 4 + [20] * 4
    >>> def scores(detector):
    ...     out = []
    ...     for count in day * 30 + odd:
    ...         out.append(detector.score_one({"count": count}))
    ...         detector.learn_one({"count": count})
    ...     return out
    >>> fine = scores(SequenceNoveltyDetector(learning_period=40, rest_period=20))
    >>> both = scores(MultiScaleSequenceDetector(block=4, learning_period=40, rest_period=20))
    >>> max(fine[200:]), max(both[200:480]), round(both[480 + 11], 2)
    (0.0, 0.0, 0.47)
    """

    def __init__(
        self,
        feature: str = "count",
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
        if block < 1 or not 0.0 <= coarse_weight <= 1.0:
            raise ValueError(f"block must be >= 1 and coarse_weight in [0, 1] "
                             f"(got {block}, {coarse_weight})")
        params = dict(n_bins=n_bins, order=order, margin=margin, relearn_window=relearn_window,
                      memory=memory, rest_period=rest_period, rest_threshold=rest_threshold,
                      spatial_tolerance=spatial_tolerance, magnitude_floor=magnitude_floor,
                      magnitude_alpha=magnitude_alpha, base_threshold=base_threshold,
                      rate_alpha=rate_alpha, rate_damping=rate_damping)
        super().__init__(feature=feature, learning_period=learning_period, **params)
        self.block = block
        self.coarse_weight = coarse_weight
        self._coarse = SequenceNoveltyDetector(
            learning_period=max(10, learning_period // block), **params)
        self._block_sum = 0.0
        self._block_n = 0

    def _block_mean(self, value: float) -> float | None:
        """The mean of the block ``value`` completes, or None if it does not complete one."""
        if self._block_n + 1 < self.block:
            return None
        return (self._block_sum + value) / self.block

    def _fine_raw(self, value: float) -> float:
        """The fine member's raw score (4-x's)."""
        return super()._raw(value)

    def _coarse_raw(self, mean: float) -> float:
        """The coarse member's raw score of a block's ``mean``, weighed by ``coarse_weight``."""
        return self.coarse_weight * self._coarse._raw(mean)

    def _raw(self, value: float) -> float:
        raw = self._fine_raw(value)
        mean = self._block_mean(value)
        if mean is not None and self._coarse._scoring():
            raw = max(raw, self._coarse_raw(mean))
        return raw

    def learn_one(self, x: dict) -> None:
        value = self._value(x)
        mean = self._block_mean(value)
        super().learn_one(x)  # scores with the block as it was
        if mean is None:
            self._block_sum += value
            self._block_n += 1
        else:
            self._coarse.learn_one({"count": mean})
            self._block_sum, self._block_n = 0.0, 0

    @classmethod
    def _unit_test_params(cls):
        yield {"block": 4, "learning_period": 10, "rest_period": 5, "relearn_window": 50,
               "memory": 200}

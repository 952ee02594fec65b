"""6-x's detector whose coarse novelty is weighed by how unusual the block's mean is.

:class:`SizedCoarseDetector` is :class:`~personastream_models.confirmed.ConfirmedSequenceDetector`
(6-x) with one change: the coarse member's raw score (the novelty of the run of block means) is
multiplied by the size weight of the block's mean,
``floor + (1 - floor) * erf(|z| / sqrt(2))`` with ``z`` from the fine member's weighted mean
and variance of the values (the weight 6-x already puts on every reported score, for the
value alone). A new run of block means whose mean is an ordinary value (a familiar level in an
unfamiliar order) is weighed down, to ``magnitude_floor`` of it at the least; one whose mean is
far from the usual is kept.

- on NAB, at 6-0-0's in-sample threshold, the coarse member alone raised 70 false-positive
  alarms for 18 first detections, the worst ratio of 6-0-0's alarm kinds; weighing it by the
  block mean's size raised reward_low_FP in every 6-x neighbour tried at coarse weight 0.8
  (8, 7 or 9 bins, rest 120 to 200, rate damping 6 to 12; ``benchmarks/results/
  nab-ensemble-2026-12-07/``);
- one more size weight per block of values on top of 6-0-0's work (its speed was not
  measured on its own in CPU time).
"""

from __future__ import annotations

from personastream_models.confirmed import ConfirmedSequenceDetector

__all__ = ["SizedCoarseDetector"]


class SizedCoarseDetector(ConfirmedSequenceDetector):
    """6-x's confirmed two-scale novelty; coarse novelty weighed by the block mean's size.

    Parameters are :class:`~personastream_models.confirmed.ConfirmedSequenceDetector`'s
    (defaults: 6-0-0's); ``magnitude_floor`` and ``magnitude_alpha`` also set the block mean's
    weight.

    Examples
    --------
    A day of four flat quarters (10, 20, 30, 20), then a day whose third quarter is 10: the run
    of quarter means (10, 20, 10) is new, but 10 is an ordinary value, so its coarse novelty is
    weighed down; a third quarter of 60 is far from the usual and keeps most of it:

    >>> day = [10] * 4 + [20] * 4 + [30] * 4 + [20] * 4
    >>> def coarse_score(detector, third):
    ...     odd = [10] * 4 + [20] * 4 + [third] * 4
    ...     for count in day * 30 + odd[:-1]:
    ...         detector.learn_one({"count": count})
    ...     return detector._raw(third)
    >>> params = dict(block=4, learning_period=40, rest_period=20, confirm_bins=())
    >>> plain = coarse_score(ConfirmedSequenceDetector(**params), 10)
    >>> sized = coarse_score(SizedCoarseDetector(**params), 10)
    >>> round(plain, 2), round(sized, 2)
    (0.53, 0.47)
    >>> round(coarse_score(SizedCoarseDetector(**params), 60), 2)
    0.8
    """

    def _coarse_raw(self, mean: float) -> float:
        return super()._coarse_raw(mean) * self._size_weight(mean)

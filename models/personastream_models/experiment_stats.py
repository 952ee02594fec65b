"""The statistics of an experiment report: proportions, their difference, sample sizes.

Pure Python (``statistics.NormalDist``), checked against scipy in the unit tests.

- A rate's interval is **Wilson's score interval** (good coverage at small counts and rates
  near 0, unlike the Wald interval).
- A variant against control: the difference of rates with the **unpooled normal (Wald)
  interval**, and the two-sided **pooled two-proportion z-test** p-value.
- A variant's relative lift over another's rate (``p1 / p0 - 1``) with **Katz's log interval**
  of the risk ratio, ``exp(ln(p1/p0) +- z sqrt(1/x1 - 1/n1 + 1/x0 - 1/n0)) - 1`` (scipy's
  ``relative_risk(...).confidence_interval()``).
- The sample size per variant to detect a relative lift: the normal-approximation formula
  (Fleiss, without continuity correction) for two equal groups,
  ``n = (z_{1-a/2} sqrt(2 p(1-p)) + z_{1-b} sqrt(p1(1-p1) + p2(1-p2)))^2 / (p2 - p1)^2``
  with ``p`` the mean of ``p1`` and ``p2``.

These treat each trial (an impression for CTR, an exposed customer for conversion) as
independent; impressions of one customer are not quite, so a CTR interval is a little narrow
when customers see many impressions.

Examples
--------
>>> [round(x, 4) for x in wilson_interval(50, 1000)]
[0.0381, 0.0653]
>>> c = compare(100, 1000, 130, 1000)
>>> round(c.difference, 3), [round(x, 4) for x in c.interval], round(c.p_value, 4)
(0.03, [0.0021, 0.0579], 0.0355)
>>> sample_size_per_variant(0.05, 1.0)  # p 0.05 -> 0.10: Fleiss' table, 435 without correction
435
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

__all__ = ["Comparison", "compare", "relative_lift_interval", "sample_size_per_variant",
           "wilson_interval"]

_NORMAL = NormalDist()


def _z(confidence: float) -> float:
    return _NORMAL.inv_cdf(1 - (1 - confidence) / 2)


def wilson_interval(successes: int, trials: int, confidence: float = 0.95
                    ) -> tuple[float, float]:
    """Wilson's score interval of ``successes / trials``; ``(0.0, 1.0)`` for no trials.

    >>> wilson_interval(0, 0), [round(x, 4) for x in wilson_interval(0, 20)]
    ((0.0, 1.0), [0.0, 0.1611])
    """
    if trials <= 0:
        return 0.0, 1.0
    if not 0 <= successes <= trials:
        raise ValueError(f"successes must be between 0 and trials ({trials}), got {successes}")
    z, p = _z(confidence), successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z / (1 + z * z / trials) * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials ** 2))
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Comparison:
    """A variant's rate against control's: ``difference`` (variant - control), its
    ``interval``, the ``relative_lift`` (difference / control rate; None when that is 0), the
    test's ``z`` and two-sided ``p_value``."""

    difference: float
    interval: tuple[float, float]
    relative_lift: float | None
    z: float
    p_value: float


def compare(control_successes: int, control_trials: int, successes: int, trials: int,
            confidence: float = 0.95) -> Comparison:
    """The variant's rate against control's (unpooled Wald interval, pooled z-test).

    >>> c = compare(10, 100, 10, 100)
    >>> c.difference, c.p_value, c.relative_lift
    (0.0, 1.0, 0.0)
    """
    if control_trials <= 0 or trials <= 0:
        raise ValueError(f"both groups need trials to compare, got {control_trials} (control) "
                         f"and {trials}")
    p0, p1 = control_successes / control_trials, successes / trials
    diff = p1 - p0
    se = math.sqrt(p0 * (1 - p0) / control_trials + p1 * (1 - p1) / trials)
    half = _z(confidence) * se
    pooled = (control_successes + successes) / (control_trials + trials)
    se0 = math.sqrt(pooled * (1 - pooled) * (1 / control_trials + 1 / trials))
    z = diff / se0 if se0 > 0 else 0.0
    p_value = 2 * _NORMAL.cdf(-abs(z))
    return Comparison(diff, (diff - half, diff + half), diff / p0 if p0 > 0 else None, z,
                      p_value)


def relative_lift_interval(control_successes: int, control_trials: int, successes: int,
                           trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """Katz's log interval of the relative lift ``(x1/n1) / (x0/n0) - 1``; both groups need
    successes.

    >>> [round(x, 4) for x in relative_lift_interval(100, 1000, 130, 1000)]
    [0.017, 0.6618]
    """
    if min(control_successes, successes) <= 0 or min(control_trials, trials) <= 0:
        raise ValueError(f"a relative lift's interval needs successes in both groups, got "
                         f"{control_successes}/{control_trials} (control) and "
                         f"{successes}/{trials}")
    log_ratio = math.log((successes / trials) / (control_successes / control_trials))
    se = math.sqrt(1 / successes - 1 / trials + 1 / control_successes - 1 / control_trials)
    half = _z(confidence) * se
    return math.exp(log_ratio - half) - 1, math.exp(log_ratio + half) - 1


def sample_size_per_variant(baseline: float, relative_lift: float, alpha: float = 0.05,
                            power: float = 0.8) -> int:
    """Customers (or impressions) per variant for a two-sided test at ``alpha`` to detect a
    rate of ``baseline * (1 + relative_lift)`` against ``baseline`` with ``power``.

    >>> sample_size_per_variant(0.10, 0.15)
    6693
    >>> sample_size_per_variant(0.0, 0.15)
    Traceback (most recent call last):
    ...
    ValueError: baseline rate must be strictly between 0 and 1 (no sample size for a rate of 0.0); measure a baseline first
    """
    if not 0 < baseline < 1:
        raise ValueError(f"baseline rate must be strictly between 0 and 1 (no sample size for "
                         f"a rate of {baseline}); measure a baseline first")
    target = baseline * (1 + relative_lift)
    if not 0 < target < 1 or relative_lift == 0:
        raise ValueError(f"the lifted rate {target:.4g} must differ from the baseline and lie "
                         f"strictly between 0 and 1; choose a smaller --lift")
    mean = (baseline + target) / 2
    numerator = (_z(1 - alpha) * math.sqrt(2 * mean * (1 - mean))
                 + _NORMAL.inv_cdf(power) * math.sqrt(baseline * (1 - baseline)
                                                      + target * (1 - target)))
    return math.ceil(numerator ** 2 / (target - baseline) ** 2)

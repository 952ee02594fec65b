"""Contextual anomaly detection: how new is the transition into the current value?

:class:`ContextualAnomalyDetector` is an online, bounded-memory implementation of the idea of
the Contextual Anomaly Detector (CAD OSE, M. Smirnov, 2016; NAB standard score 69.9), written
for this project from its published description:

- a value becomes a few discrete *facts* (the bits of its bin on a coarse grid);
- a *context* pairs a left semi-context (facts of the previous step: its value's facts plus
  the contexts then active, as "neuron" facts) with a right semi-context (facts of the current
  value); contexts are remembered, and crossing a new context with the remembered ones yields
  more general contexts (sub-sets of facts);
- a step's raw score is high when few of the contexts whose left part matches the past are
  confirmed by the present, and when most of the contexts the step would create are new;
- after a raw score at or above ``base_threshold`` the detector rests for ``rest_period``
  values (scores 0), so that one anomaly raises one alarm; only a value far beyond the
  range seen so far (``rest_override``) is scored during a rest. As in CAD OSE, a high raw
  score during a rest extends it; with ``rest_extends=False`` only an alarm that is
  reported (outside a rest) starts one, so that a long unsettled stretch cannot silence the
  detector;
- optionally (``magnitude_floor`` < 1), a score is weighed by how unusual the value's size
  is: it is multiplied by ``floor + (1 - floor) * erf(|z| / sqrt(2))``, ``z`` the value's
  distance from an exponentially weighted mean in standard deviations, so that a new
  transition between ordinary values counts less than one into an extreme value;
- optionally (``relearn_window`` > 0), the grid stays where it is until a learned value falls
  off it; then it is re-fitted to the range learned so far, memory is forgotten and the last
  ``relearn_window`` values are learned again on the new grid, so that what is remembered is
  always encoded on the grid that encodes the present (a grid that follows every new extreme
  re-encodes the present while memory keeps the old encoding, and a slow fall never looks
  new);
- optionally (``spatial_tolerance`` > 0), a value beyond the range learned so far by more
  than that fraction of the range scores 1, even during a rest, and starts a rest (the
  "spatial anomaly" of NAB's HTM detector): a new extreme is reported however familiar the
  transition into its overflow fact is;
- optionally (``rate_damping`` > 0), a score is divided by ``1 + rate_damping * r``, ``r``
  the exponentially weighted share (weight ``rate_alpha``, starting from 0) of the values
  whose raw score reached ``base_threshold``: a series that often makes new transitions
  raises fewer alarms for one, a per-series normalization in the spirit of HTM's anomaly
  likelihood (which NAB's score needs, as one threshold serves every series);
- optionally (``rest_threshold`` > 0), a rest starts from a reported score (weighed and
  damped as above) at or above it instead of from a raw score, so that the alarms that rest
  are the ones a detection threshold near it reports;
- optionally (``value_min``, ``value_max``), the grid starts on a range known in advance.
  NAB's runner gives every detector its series' minimum and maximum (a look at the whole
  series), and CAD OSE's published score is made with them; :meth:`nab_inputs` maps them to
  parameters, so that ``personastream bench nab --nab-inputs`` compares like with like. The
  trends job knows no such range.

Differences from CAD OSE: the value grid is learned online (CAD OSE is given the minimum and
maximum of the whole series; here a value beyond the range seen so far is an overflow fact),
the rest period is a fixed count (CAD OSE derives it from NAB's probationary period, i.e. from
the series length), memory is bounded (``max_contexts``, the least used contexts are
forgotten) so that the state fits in Flink keyed state, and the two options above.
"""

from __future__ import annotations

import math
from collections import deque

from river import anomaly

__all__ = ["ContextualAnomalyDetector", "size_weight"]

#: "Neuron" facts (active contexts) are numbered above every value fact.
_NEURON_BASE = 1 << 40
#: Facts of values beyond the value grid (above: positive, below: negative).
_OVERFLOW = 1 << 20


def size_weight(value: float, mean: float, var: float, floor: float) -> float:
    """``floor + (1 - floor) * P(|Z| < |z|)``, ``z`` the z-score of ``value`` (weighted ``mean``
    and ``var``): how unusual its size is, shared by the detectors that weigh scores by it.

    >>> size_weight(10.0, 10.0, 4.0, 0.6), round(size_weight(14.0, 10.0, 4.0, 0.6), 3)
    (0.6, 0.982)
    """
    sd = math.sqrt(var)
    if sd > 0:
        z = abs(value - mean) / sd
    else:
        z = 0.0 if value == mean else math.inf
    return floor + (1 - floor) * math.erf(z / math.sqrt(2))


class ContextualAnomalyDetector(anomaly.base.AnomalyDetector):
    """Contextual anomaly detector (CAD-style) with an online value grid and bounded memory.

    Parameters
    ----------
    feature
        The key of ``x`` that is read.
    n_bits
        The value grid has ``2 ** n_bits`` bins over the range of the values learned so far
        (widened by ``margin`` on each side); a value on the grid is encoded as the bits of its
        bin. A value beyond the grid becomes an overflow fact that nothing learned shares, so
        it scores high (1 when the transition into it is new).
    learning_period
        Values learned before scoring (scores are 0 until then); with ``freeze_grid``, the
        grid is the range of these values and stays fixed afterwards.
    rest_period
        After a raw score at or above ``base_threshold``, that many following scores are 0.
    base_threshold
        Raw score that starts a rest period.
    max_left_facts
        Largest left semi-context created by crossing contexts.
    max_active_contexts
        How many of the active contexts (most often confirmed first) become facts of the next
        step.
    max_contexts
        Memory bound: when more contexts are stored, the least confirmed (oldest first) are
        forgotten down to ``prune_to * max_contexts``.
    prune_to
        Fraction of ``max_contexts`` kept by a pruning.
    freeze_grid
        Freeze the grid after ``learning_period`` values (default: it follows the range).
    margin
        Width added to each side of the range, as a fraction of the range.
    rest_override
        A value farther beyond the (widened) range than this many widened ranges is scored
        even during a rest period, so that a huge spike right after an alarm is not silenced
        (0 disables).
    rest_extends
        Whether a raw score at or above ``base_threshold`` during a rest restarts it (CAD OSE);
        if not, a rest starts only from a reported alarm.
    magnitude_floor
        Weight of a score whose value sits at the mean (1: scores are not weighed by size).
    magnitude_alpha
        Weight of each new value in the exponentially weighted mean and variance.
    relearn_window
        0: the grid follows the learned range at every value. N > 0: the grid is re-fitted
        only when a learned value falls off it, and memory is then rebuilt from the last N
        values (kept in the state).
    spatial_tolerance
        0: off. Else a value farther beyond the learned range than this fraction of the range
        scores 1, even during a rest, and starts a rest (a value that ``rest_override`` lets
        through a rest lies beyond it too, for any tolerance below ``margin``).
    rate_alpha
        Weight of each value in the rate of raw scores at or above ``base_threshold``.
    rate_damping
        0: off. Else scores are divided by ``1 + rate_damping * rate``.
    rest_threshold
        0: a rest starts from a raw score at or above ``base_threshold``. Else it starts from
        a reported score (after the size weight and the rate damping) at or above this, so
        that the alarms a detection threshold near it reports are the ones that rest.
    value_min, value_max
        A range known in advance (both or neither): the grid starts on it instead of on the
        first value, and widens with values beyond it as the learned range does.

    Examples
    --------
    >>> detector = ContextualAnomalyDetector(learning_period=20, rest_period=10)
    >>> scores = []
    >>> for count in [10, 12, 11, 13, 12, 10, 11, 12] * 30 + [40]:
    ...     scores.append(detector.score_one({"count": count}))
    ...     detector.learn_one({"count": count})
    >>> round(max(scores[-100:-1]), 2), round(scores[-1], 2)
    (0.21, 1.0)
    """

    def __init__(
        self,
        feature: str = "count",
        n_bits: int = 3,
        learning_period: int = 150,
        rest_period: int = 120,
        base_threshold: float = 0.75,
        max_left_facts: int = 7,
        max_active_contexts: int = 15,
        max_contexts: int = 3000,
        prune_to: float = 0.75,
        freeze_grid: bool = False,
        margin: float = 0.25,
        rest_override: float = 1.0,
        rest_extends: bool = True,
        magnitude_floor: float = 1.0,
        magnitude_alpha: float = 0.005,
        relearn_window: int = 0,
        spatial_tolerance: float = 0.0,
        rate_alpha: float = 0.0005,
        rate_damping: float = 0.0,
        rest_threshold: float = 0.0,
        value_min: float | None = None,
        value_max: float | None = None,
    ):
        value_min, value_max = (None if v is None else float(v) for v in (value_min, value_max))
        if (value_min is None) != (value_max is None) or (
            value_min is not None and not value_min <= value_max
        ):
            raise ValueError(
                f"value_min and value_max: give both, with value_min <= value_max, or neither "
                f"(got {value_min!r}, {value_max!r})"
            )
        if rest_threshold and rest_extends:
            raise ValueError("rest_threshold starts rests from reported scores only, "
                             "rest_extends from raw scores during a rest too: choose one")
        if relearn_window and freeze_grid:
            raise ValueError("relearn_window re-fits the grid, freeze_grid fixes it: choose one")
        self.feature = feature
        self.n_bits = n_bits
        self.learning_period = learning_period
        self.rest_period = rest_period
        self.base_threshold = base_threshold
        self.max_left_facts = max_left_facts
        self.max_active_contexts = max_active_contexts
        self.max_contexts = max_contexts
        self.prune_to = prune_to
        self.freeze_grid = freeze_grid
        self.margin = margin
        self.rest_override = rest_override
        self.rest_extends = rest_extends
        self.magnitude_floor = magnitude_floor
        self.magnitude_alpha = magnitude_alpha
        self.relearn_window = relearn_window
        self.spatial_tolerance = spatial_tolerance
        self.rate_alpha = rate_alpha
        self.rate_damping = rate_damping
        self.rest_threshold = rest_threshold
        self.value_min = value_min
        self.value_max = value_max
        self._mean: float | None = None  # exponentially weighted mean and variance
        self._var = 0.0
        self._n = 0
        self._lo = math.inf if value_min is None else value_min
        self._hi = -math.inf if value_max is None else value_max
        self._since_alarm = 0  # values learned since the last alarm (the start of a rest)
        self._rate = 0.0  # weighted share of raw scores >= base_threshold
        # with relearn_window: the grid (low end, width) of the last re-fit, the last values
        self._fitted: tuple[float, float] | None = None
        self._recent = deque(maxlen=relearn_window) if relearn_window else None
        self._forget()

    # -- state -----------------------------------------------------------------------------

    def _forget(self) -> None:
        """Empty memory: no semi-contexts, contexts or left group."""
        self._next_id = 0
        # semi-contexts, side 0 = left, 1 = right: id -> facts tuple
        self._semi: tuple[dict, dict] = ({}, {})
        # contexts: id -> [n_confirmed, zero_level, left id, right id]
        self._contexts: dict[int, list] = {}
        self._left_group: tuple = ()
        self._rebuild_indexes()
        self._crossed_left: dict[int, tuple] = {}
        self._last_match: tuple | None = None  # (value, n) -> the match a score computed

    def _rebuild_indexes(self) -> None:
        """Derived lookups (not pickled): facts -> semi-context id, fact -> ids, links."""
        self._ids = tuple({facts: sid for sid, facts in side.items()} for side in self._semi)
        self._index: tuple[dict, dict] = ({}, {})
        for side in (0, 1):
            index = self._index[side]
            for sid, facts in self._semi[side].items():
                for fact in facts:
                    index.setdefault(fact, []).append(sid)
        self._links: dict[int, dict[int, int]] = {}
        for cid, (_, _, lid, rid) in self._contexts.items():
            self._links.setdefault(lid, {})[rid] = cid

    def __getstate__(self):
        state = self.__dict__.copy()
        for derived in ("_ids", "_index", "_links", "_last_match"):
            del state[derived]
        return state

    def __setstate__(self, state):
        # states pickled before these parameters existed
        state = {"rest_extends": True, "magnitude_floor": 1.0, "magnitude_alpha": 0.005,
                 "_mean": None, "_var": 0.0, "value_min": None, "value_max": None,
                 "relearn_window": 0, "_fitted": None, "_recent": None,
                 "spatial_tolerance": 0.0, "rate_alpha": 0.0005, "rate_damping": 0.0,
                 "rest_threshold": 0.0,
                 "_rate": 0.0, **state}
        self.__dict__.update(state)
        self._last_match = None
        self._rebuild_indexes()

    def _semi_id(self, side: int, facts: tuple) -> int:
        sid = self._ids[side].get(facts)
        if sid is None:
            sid = self._next_id
            self._next_id += 1
            self._semi[side][sid] = facts
            self._ids[side][facts] = sid
            for fact in facts:
                self._index[side].setdefault(fact, []).append(sid)
        return sid

    def _add_context(self, left: tuple, right: tuple, zero_level: bool) -> tuple[int, bool]:
        """Store the context ``left -> right``; its id and whether it is new."""
        lid, rid = self._semi_id(0, left), self._semi_id(1, right)
        links = self._links.setdefault(lid, {})
        cid = links.get(rid)
        if cid is None:
            cid = self._next_id
            self._next_id += 1
            links[rid] = cid
            self._contexts[cid] = [0, zero_level, lid, rid]
            return cid, True
        if zero_level:
            self._contexts[cid][1] = True
        return cid, False

    def _prune(self) -> None:
        """Forget the least confirmed contexts (oldest first) and semi-contexts left unused."""
        keep = int(self.prune_to * self.max_contexts)
        ranked = sorted(self._contexts, key=lambda c: (self._contexts[c][0], c), reverse=True)
        self._contexts = {c: self._contexts[c] for c in sorted(ranked[:keep])}
        used = ({v[2] for v in self._contexts.values()}, {v[3] for v in self._contexts.values()})
        self._semi = tuple(
            {sid: f for sid, f in self._semi[side].items() if sid in used[side]} for side in (0, 1)
        )
        self._crossed_left = {k: v for k, v in self._crossed_left.items() if k in used[0]}
        self._rebuild_indexes()

    # -- encoding --------------------------------------------------------------------------

    def _facts(self, value: float) -> tuple:
        """The facts of a value: the bits of its bin on the grid, or one overflow fact.

        A value beyond the grid shares no fact with the values on it (so nothing learned
        explains it); its overflow fact grows with the log of the distance, in grid steps.
        """
        n_bins = (1 << self.n_bits) - 1
        lo, width = self._grid()
        step = width / n_bins if width > 0 else 1.0
        b = math.floor((value - lo) / step) if self._hi >= self._lo else 0
        if b > n_bins:
            return (_OVERFLOW + (b - n_bins).bit_length(),)
        if b < 0:
            return (-_OVERFLOW - (-b).bit_length(),)
        return tuple(2 * i + ((b >> i) & 1) for i in range(self.n_bits))

    def _grid(self) -> tuple[float, float]:
        """The grid's low end and width: the last re-fit's, or else the learned range's."""
        return self._fitted if self._fitted is not None else self._learned_grid()

    def _learned_grid(self) -> tuple[float, float]:
        """The learned range widened by ``margin`` on each side, as (low end, width)."""
        span = self._hi - self._lo
        return self._lo - self.margin * span, span * (1 + 2 * self.margin)

    def _refit(self) -> None:
        """Fit the grid to the learned range and learn the recent values again on it."""
        self._fitted = self._learned_grid()
        self._forget()
        for value in self._recent:
            self._step(value, commit=True)

    # -- one step --------------------------------------------------------------------------

    def _match(self, value: float) -> tuple:
        """What ``value`` meets in memory (reads only): its facts, the zero-level context
        (previous step -> value) and whether it is new, how many remembered contexts the past
        selects, those the value confirms, and the partial matches to generalize."""
        current = self._facts(value)
        left_group = self._left_group
        zero = (left_group, current) if left_group else None
        is_new = zero is not None and not self._known(left_group, current)

        crossed_right: dict[int, list] = {}
        for fact in current:
            for sid in self._index[1].get(fact, ()):
                crossed_right.setdefault(sid, []).append(fact)

        contexts, right_semi, left_semi = self._contexts, self._semi[1], self._semi[0]
        n_selected = 0
        active = []
        candidates = []
        limit = self.max_left_facts
        for lid, crossed in self._crossed_left.items():
            links = self._links.get(lid)
            if not links:
                continue
            full_left = len(crossed) == len(left_semi[lid])
            for rid, cid in links.items():
                right = crossed_right.get(rid)
                if full_left:
                    n_selected += 1
                    if right:
                        if len(right) == len(right_semi[rid]):
                            active.append(cid)
                        elif is_new and contexts[cid][1] and len(crossed) <= limit:
                            candidates.append((crossed, tuple(right)))
                elif is_new and right and contexts[cid][1] and len(crossed) <= limit:
                    candidates.append((crossed, tuple(right)))
        return current, zero, is_new, n_selected, active, candidates

    def _step(self, value: float, commit: bool) -> float:
        """Raw score of ``value``; with ``commit``, also learn it (the only mutating path).

        A value is matched and scored once: the learning of the value a score just saw reuses
        that score's match and raw score (``_last_match``, not pickled).
        """
        key = (value, self._n)
        if self._last_match is not None and self._last_match[0] == key:
            match, raw = self._last_match[1]
        else:
            match = self._match(value)
            raw = self._raw(match)
        self._last_match = None if commit else (key, (match, raw))
        if commit:
            self._learn(match)
        return raw

    def _raw(self, match: tuple) -> float:
        """``(1 - share of selected contexts confirmed + share of contexts new) / 2``; the new
        ones are the zero-level context and the generalizations not yet remembered, counted
        only when the zero-level context is new."""
        _, zero, is_new, n_selected, active, candidates = match
        share_confirmed = len(active) / n_selected if n_selected else 0.0
        share_new = 0.0
        if is_new:
            unique = set(candidates) | {zero}
            n_new = 1 + sum(1 for c in unique if c != zero and not self._known(*c))
            share_new = n_new / len(unique)
        return (1.0 - share_confirmed + share_new) / 2.0

    def _learn(self, match: tuple) -> None:
        """Remember a match: its contexts, the confirmations, and the next left group."""
        current, zero, _, _, active, candidates = match
        if zero is not None:
            self._add_context(*zero, True)
        contexts = self._contexts
        for cid in active:
            contexts[cid][0] += 1
        active = sorted(active, key=lambda c: (contexts[c][0], c))
        neurons = {_NEURON_BASE + c for c in active[-self.max_active_contexts:]}
        self._left_group = tuple(sorted(set(current) | neurons))
        for left, right in candidates:
            self._add_context(left, right, False)

        crossed_left: dict[int, list] = {}
        for fact in self._left_group:
            for sid in self._index[0].get(fact, ()):
                crossed_left.setdefault(sid, []).append(fact)
        self._crossed_left = {sid: tuple(f) for sid, f in crossed_left.items()}
        if len(self._contexts) > self.max_contexts:
            self._prune()

    def _known(self, left: tuple, right: tuple) -> bool:
        lid = self._ids[0].get(left)
        rid = self._ids[1].get(right)
        return lid is not None and rid is not None and rid in self._links.get(lid, ())

    # -- River API -------------------------------------------------------------------------

    def _value(self, x: dict) -> float:
        value = float(x[self.feature])
        if not math.isfinite(value):
            raise ValueError(f"{self.feature} must be a finite number, got {value!r}")
        return value

    def learn_one(self, x: dict) -> None:
        value = self._value(x)
        if self._n == 0 and self.value_min is None:
            self._lo = self._hi = value
        resting = self._resting(value)  # as the score saw it
        spatial = self._spatial(value)
        reported = self._report(value, resting, spatial) if self.rest_threshold else 0.0
        raw = self._step(value, commit=True)  # on the grid the score saw
        if self._n < self.learning_period or not self.freeze_grid:
            self._lo, self._hi = min(self._lo, value), max(self._hi, value)
        self._n += 1
        high = raw >= self.base_threshold
        if self.rest_threshold:
            alarm = spatial or reported >= self.rest_threshold
        else:
            alarm = spatial or (high and (self.rest_extends or not resting))
        self._rate += self.rate_alpha * (high - self._rate)
        self._since_alarm = 0 if alarm else self._since_alarm + 1
        if self._mean is None:
            self._mean = value
        else:
            delta, alpha = value - self._mean, self.magnitude_alpha
            self._mean += alpha * delta
            self._var = (1 - alpha) * (self._var + alpha * delta * delta)
        if self.relearn_window:
            self._recent.append(value)
            if self._fitted is None or not 0 <= value - self._fitted[0] <= self._fitted[1]:
                self._refit()

    def _size_weight(self, value: float) -> float:
        """``floor + (1 - floor) * P(|Z| < |z|)`` for the value's z-score (1 without a floor)."""
        if self.magnitude_floor >= 1 or self._mean is None:
            return 1.0
        return size_weight(value, self._mean, self._var, self.magnitude_floor)

    def _beyond(self, value: float, reach: float) -> bool:
        """Whether ``value`` lies farther than ``reach`` beyond the learned range."""
        return value > self._hi + reach or value < self._lo - reach

    def _far_beyond(self, value: float) -> bool:
        """Whether ``value`` lies more than ``rest_override`` widened ranges beyond the range."""
        span = self._hi - self._lo
        return self._beyond(value, (self.margin + self.rest_override * (1 + 2 * self.margin))
                            * span)

    def _spatial(self, value: float) -> bool:
        """Whether ``value``, after the learning period, lies farther beyond the learned range
        than ``spatial_tolerance`` of the range (never when it is off or the range empty)."""
        span = self._hi - self._lo
        return self.spatial_tolerance > 0 and self._n >= self.learning_period and span > 0 \
            and self._beyond(value, self.spatial_tolerance * span)

    def _resting(self, value: float) -> bool:
        """Whether ``value`` is scored 0: still learning, or resting and not far beyond."""
        return self._n < self.learning_period or (
            self._since_alarm < self.rest_period
            and not (self.rest_override > 0 and self._far_beyond(value))
        )

    def score_one(self, x: dict) -> float:
        if self._n < self.learning_period:
            return 0.0
        value = self._value(x)
        return self._report(value, self._resting(value), self._spatial(value))

    def _report(self, value: float, resting: bool, spatial: bool) -> float:
        """The score reported for ``value``: 1 for a spatial anomaly, else 0 in a rest, else
        the raw score weighed by size; then damped by the rate of high raw scores."""
        if spatial:
            score = 1.0
        elif resting:
            return 0.0
        else:
            raw = min(1.0, max(0.0, self._step(value, commit=False)))
            score = raw * self._size_weight(value) if raw > 0 else raw
        return score / (1.0 + self.rate_damping * self._rate)

    @staticmethod
    def nab_inputs(input_min: float, input_max: float, probationary_period: int) -> dict:
        """Parameters from what NAB's runner gives every detector (``nab/detectors/base.py``:
        the series' minimum, maximum and probationary period), used as CAD OSE uses them: the
        grid is exactly the range, and the rest lasts a fifth of the probationary period.

        >>> ContextualAnomalyDetector.nab_inputs(2.0, 9.5, 750)
        {'value_min': 2.0, 'value_max': 9.5, 'margin': 0.0, 'rest_period': 150}
        """
        return {"value_min": input_min, "value_max": input_max, "margin": 0.0,
                "rest_period": max(1, probationary_period // 5)}

    @classmethod
    def _unit_test_params(cls):
        yield {"learning_period": 10, "rest_period": 5, "max_contexts": 200}

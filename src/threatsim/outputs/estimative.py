"""Probabilities in words, without claiming more than the Monte Carlo sample knows.

A probability estimated from *n* draws has a Monte Carlo interval. A brief may
call it by one term of a named scale only when that whole interval lies inside
the term's band; otherwise it names the terms at the two ends of the interval
("likely to very likely"), gives the number, and says how many draws would
settle it (the smallest draw count at which the interval around the same
estimate fits inside one band, or that none would, when the estimate sits on a
band's edge).

Scales:

* ``ICD203``, the default: the bands of US Intelligence Community Directive 203
  (Analytic Standards, 2015): almost no chance 1-5 %, very unlikely 5-20 %,
  unlikely 20-45 %, roughly even chance 45-55 %, likely 55-80 %, very likely
  80-95 %, almost certain 95-99 %. The directive leaves below 1 % and above
  99 % unnamed; here the end terms reach 0 and 100 %.
* ``IPCC``: the calibrated likelihood language of the IPCC's guidance note for
  its Fifth Assessment authors (Mastrandrea et al., 2010). Its ranges are nested
  (likely is 66-100 %, very likely 90-100 %, ...); a probability gets the
  narrowest term whose range holds it, which splits [0, 1] into bands:
  exceptionally unlikely below 1 %, extremely unlikely 1-5 %, very unlikely
  5-10 %, unlikely 10-33 %, about as likely as not 33-66 %, likely 66-90 %, very
  likely 90-95 %, extremely likely 95-99 %, virtually certain 99 % and above.

The interval is Wilson's score interval (scipy's ``binomtest(...).proportion_ci``),
which stays inside [0, 1] and behaves near 0 and 1, where a brief's most
important probabilities often lie.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import stats

from threatsim.core.errors import ScenarioError

__all__ = ["ICD203", "IPCC", "SCALES", "Estimate", "Scale", "describe", "percent"]


@dataclass(frozen=True, slots=True)
class Scale:
    """A named scale of estimative terms: consecutive bands ``[edges[i], edges[i+1])``
    (the last one closed), one term each.

    >>> ICD203.term_of(0.7)
    'likely'
    """

    name: str
    citation: str
    terms: tuple[str, ...]
    edges: tuple[float, ...]  # len(terms) + 1, from 0 to 1

    def band_of(self, p: float) -> int:
        """Index of the band that holds probability *p*."""
        for i in range(len(self.terms)):
            if p < self.edges[i + 1]:
                return i
        return len(self.terms) - 1

    def term_of(self, p: float) -> str:
        """The term of the band that holds *p*."""
        return self.terms[self.band_of(p)]

    def holds(self, i: int, low: float, high: float) -> bool:
        """Whether band *i* holds the whole interval [low, high]."""
        last = i == len(self.terms) - 1
        return self.edges[i] <= low and (high <= self.edges[i + 1] if last
                                         else high < self.edges[i + 1])


ICD203 = Scale(
    name="ICD 203",
    citation="US Intelligence Community Directive 203, Analytic Standards (2015)",
    terms=("almost no chance", "very unlikely", "unlikely", "roughly even chance", "likely",
           "very likely", "almost certain"),
    edges=(0.0, 0.05, 0.20, 0.45, 0.55, 0.80, 0.95, 1.0))

IPCC = Scale(
    name="IPCC",
    citation="IPCC AR5 guidance note on the consistent treatment of uncertainties "
             "(Mastrandrea et al., 2010)",
    terms=("exceptionally unlikely", "extremely unlikely", "very unlikely", "unlikely",
           "about as likely as not", "likely", "very likely", "extremely likely",
           "virtually certain"),
    edges=(0.0, 0.01, 0.05, 0.10, 0.33, 0.66, 0.90, 0.95, 0.99, 1.0))

SCALES = {"icd203": ICD203, "ipcc": IPCC}

#: The largest draw count :func:`describe` searches for one that settles the term.
MAX_DRAWS = 10**9


@dataclass(frozen=True, slots=True)
class Estimate:
    """A probability, its Monte Carlo interval and its words (see :func:`describe`)."""

    probability: float
    draws: int
    low: float
    high: float
    confidence: float
    scale: Scale
    terms: tuple[str, ...]  # one term, or the terms at the interval's two ends
    draws_to_settle: int | None  # None: settled already, or no draw count would

    @property
    def settled(self) -> bool:
        """One term holds the whole Monte Carlo interval."""
        return len(self.terms) == 1

    @property
    def words(self) -> str:
        """``"likely"`` or ``"likely to very likely"``."""
        return " to ".join(self.terms)

    def text(self) -> str:
        """The sentence a brief prints, with the number and, if unsettled, the remedy.

        >>> print(describe(0.62, 10_000).text())
        likely (62 %; 95 % Monte Carlo interval 61-63 %, ICD 203 scale)
        """
        pct = f"{percent(self.probability)} %"
        ci = (f"{round(self.confidence * 100)} % Monte Carlo interval "
              f"{percent(self.low)}-{percent(self.high)} %, {self.scale.name} scale")
        if self.settled:
            return f"{self.words} ({pct}; {ci})"
        if self.draws_to_settle is None:
            remedy = ("the estimate sits on the edge between the terms: more draws would "
                      "not settle it")
        else:
            remedy = f"about {self.draws_to_settle:,} draws in all would settle the term"
        return f"{self.words} ({pct}; {ci}; {remedy})"


def percent(p: float) -> str:
    """A probability as a percentage for a reader: whole between 1 and 99 %, two
    significant digits towards 0 %, one decimal towards 100 % (never ``1e+02``).

    >>> [percent(p) for p in (0.0002, 0.0123, 0.62, 0.994, 0.9999, 1.0)]
    ['0.02', '1', '62', '99.4', '100', '100']
    """
    x = 100.0 * p
    if 1.0 <= x <= 99.0:
        return f"{x:.0f}"
    if x < 1.0:
        return f"{x:.2g}"
    return f"{x:.1f}" if x < 99.95 else "100"



def _interval(p: float, n: int, confidence: float) -> tuple[float, float]:
    k = min(n, max(0, round(p * n)))
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


def _settles(scale: Scale, p: float, n: int, confidence: float) -> bool:
    low, high = _interval(p, n, confidence)
    return scale.holds(scale.band_of(p), low, high)


def _draws_to_settle(scale: Scale, p: float, n: int, confidence: float) -> int | None:
    """The smallest draw count above *n* whose interval around *p* fits one band."""
    hi = n
    while not _settles(scale, p, hi, confidence):
        if hi >= MAX_DRAWS:
            return None
        hi = min(MAX_DRAWS, hi * 2)
    lo = max(n, hi // 2)
    # the interval narrows as the draws grow: bisect the first count that settles it
    while lo < hi:
        mid = (lo + hi) // 2
        if _settles(scale, p, mid, confidence):
            hi = mid
        else:
            lo = mid + 1
    return hi


def describe(probability: float, draws: int, *, scale: Scale | str = ICD203,
             confidence: float = 0.95) -> Estimate:
    """Words for a probability estimated from *draws* Monte Carlo draws.

    >>> describe(0.62, 10_000).words
    'likely'
    >>> e = describe(0.79, 400)  # the interval crosses 80 %
    >>> e.words, e.settled, e.draws_to_settle is not None
    ('likely to very likely', False, True)
    >>> describe(0.62, 10_000, scale="ipcc").words
    'about as likely as not'
    """
    if isinstance(scale, str):
        if scale not in SCALES:
            raise ScenarioError(f"must be one of {', '.join(SCALES)}", key="scale",
                                value=scale)
        scale = SCALES[scale]
    if (isinstance(probability, bool) or not isinstance(probability, (int, float))
            or not 0.0 <= probability <= 1.0):
        raise ScenarioError("must be a probability from 0 to 1", key="probability",
                            value=probability)
    if isinstance(draws, bool) or not isinstance(draws, int) or draws < 1:
        raise ScenarioError("must be a whole number >= 1", key="draws", value=draws)
    if not 0.0 < confidence < 1.0 or math.isnan(confidence):
        raise ScenarioError("must be in (0, 1)", key="confidence", value=confidence)
    p = float(probability)
    low, high = _interval(p, draws, confidence)
    first, last = scale.band_of(low), scale.band_of(high)
    if last > first and high == scale.edges[last]:
        last -= 1  # an interval ending exactly on an edge stays in the band below it
    terms = ((scale.terms[first],) if first == last
             else (scale.terms[first], scale.terms[last]))
    settle = None if first == last else _draws_to_settle(scale, p, draws, confidence)
    return Estimate(probability=p, draws=draws, low=low, high=high, confidence=confidence,
                    scale=scale, terms=terms, draws_to_settle=settle)

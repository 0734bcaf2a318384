r"""Proper scoring rules for an ensemble forecast against a reported figure.

A forecast is an ensemble of members (a run's draws and replicates at the
observed month); its empirical distribution function is :math:`F`. The truth is
a point ``y``, a range ``[a, b]`` or a one-sided bound (``a`` or ``b``
infinite). Later threat reports give ranges, and a range is treated as an
interval-censored truth, never as its midpoint.

========================  =============================  ======================
score                     what it measures               orientation
========================  =============================  ======================
``crps``                  distance of F from the truth   lower is better
``log_score``             -log of F's mass in the range  lower is better
``interval_score_50/90``  width + penalty for a miss     lower is better
``coverage_50/90``        truth inside the central band  nominal (0.5, 0.9)
``pit``                   F at the truth                 uniform over many obs
========================  =============================  ======================

:mod:`threatsim.outputs.leaderboard` scores a run against a file of observations
with these, and against two reference forecasts.

References
----------
Gneiting, T. and Raftery, A. E. (2007). Strictly proper scoring rules,
prediction, and estimation. JASA 102(477), 359-378.
Czado, C., Gneiting, T. and Held, L. (2009). Predictive model assessment for
count data. Biometrics 65(4), 1254-1261 (the non-randomised PIT).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from threatsim.core.errors import ScenarioError

__all__ = [
    "LEVELS",
    "FloatArray",
    "coverage",
    "crps_ensemble",
    "crps_interval",
    "ensemble_members",
    "interval_score",
    "log_score_interval",
    "pit_interval",
    "score_forecast",
]

FloatArray = npt.NDArray[np.float64]
#: The central bands whose coverage and interval score every forecast gets.
LEVELS = (0.5, 0.9)


def ensemble_members(x: Any) -> FloatArray:
    """The members of an ensemble forecast, flattened and sorted; finite and at least one.

    >>> ensemble_members([[3.0, 1.0], [2.0, 0.0]])
    array([0., 1., 2., 3.])
    """
    arr = np.sort(np.asarray(x, dtype=np.float64).ravel())
    if arr.size == 0:
        raise ScenarioError("must have at least one member", key="forecast", value=[])
    if not np.all(np.isfinite(arr)):
        raise ScenarioError("must be finite (a flow has no value at the first month)",
                            key="forecast", value=int(np.sum(~np.isfinite(arr))))
    return arr


def _half_mean_abs_diff(xs: FloatArray) -> float:
    """0.5 E|X - X'| for the empirical distribution of sorted *xs*, in O(m)."""
    m = xs.size
    # sum_{i,j} |x_i - x_j| = 2 sum_i (2i - m + 1) x_(i), i = 0..m-1 (sorted)
    weights = 2.0 * np.arange(m) - m + 1.0
    return float(np.dot(weights, xs)) / (m * m)


def crps_ensemble(forecast: Any, y: Any) -> FloatArray | float:
    r"""CRPS of an ensemble forecast for a point truth (exact for the empirical CDF).

    .. math::
        \mathrm{CRPS}(F, y) = \int (F(z) - 1\{z \ge y\})^2 dz
                          = \frac1m \sum_i |x_i - y|
                            - \frac1{2m^2} \sum_{i,j} |x_i - x_j|

    computed in :math:`O(m \log m)` after sorting (the "energy" form, equal to
    ``scoringrules.crps_ensemble(..., estimator="nrg")`` and
    ``properscoring.crps_ensemble``). Lower is better; 0 only for a forecast
    that puts all its mass on ``y``. Units: those of ``y``.

    Parameters
    ----------
    forecast
        The ensemble members (any shape; flattened).
    y
        One truth or an array of truths (each scored against the same forecast).

    Examples
    --------
    >>> float(crps_ensemble([0.0, 1.0], 0.0))
    0.25
    """
    xs = ensemble_members(forecast)
    m = xs.size
    ys = np.asarray(y, dtype=np.float64)
    csum = np.concatenate([[0.0], np.cumsum(xs)])
    k = np.searchsorted(xs, ys, side="left")  # members below y
    below = k * ys - csum[k]
    above = (csum[m] - csum[k]) - (m - k) * ys
    out = (below + above) / m - _half_mean_abs_diff(xs)
    return float(out) if out.ndim == 0 else out


def _censored_below(xs: FloatArray, a: float) -> float:
    r""":math:`\int_{-\infty}^{a} F(z)^2 dz` for sorted members *xs*."""
    k = int(np.searchsorted(xs, a, side="right"))  # members <= a
    if k == 0:
        return 0.0
    edges = np.append(xs[:k], a)
    levels = np.arange(1, k + 1) / xs.size
    return float(np.dot(levels**2, np.diff(edges)))


def crps_interval(forecast: Any, low: float, high: float) -> float:
    r"""CRPS for an interval-censored truth: a range, a point or a one-sided bound.

    **Range** ``a < b`` (the report says "between a and b"): the CRPS
    averaged over a truth read as uniform on the range,

    .. math::
        \mathrm{CRPS}_{[a,b]}(F) = \frac{1}{b-a}\int_a^b \mathrm{CRPS}(F, y)\,dy
            = \mathbb{E}_F\, g(X) - \tfrac12 \mathbb{E}_F |X - X'|,

    .. math::
        g(x) = \frac{1}{b-a}\int_a^b |x-y|\,dy = \begin{cases}
            \frac{a+b}{2} - x & x \le a \\
            \frac{(x-a)^2 + (b-x)^2}{2(b-a)} & a < x < b \\
            x - \frac{a+b}{2} & x \ge b. \end{cases}

    It is proper for that reading (its expectation is minimised by the
    forecast equal to the truth's distribution) and tends to
    :func:`crps_ensemble` as ``b - a -> 0`` (:math:`g(x) \to |x - y|`). A
    perfect forecast of a uniform truth still scores :math:`(b-a)/6`: the
    report's own vagueness.

    **Point** ``a == b``: :func:`crps_ensemble`.

    **One-sided bound** (``"at least a"``: ``b = inf``; ``"at most b"``:
    ``a = -inf``): a uniform over a half-line does not exist, so the score is
    the distance from F to the nearest distribution consistent with the
    bound,

    .. math::
        \int_{-\infty}^{a} F(z)^2 dz \quad\text{or}\quad
        \int_{b}^{\infty} (1 - F(z))^2 dz,

    zero when F respects the bound. Their sum at ``a == b`` is the point CRPS.
    Lower is better; units those of the truth.

    Examples
    --------
    >>> round(crps_interval([0.0, 1.0], 0.0, 0.0), 6)
    0.25
    >>> crps_interval([0.0, 1.0], 2.0, math.inf)    # F(z)^2 over [0,1): 1/4, [1,2): 1
    1.25
    """
    xs = ensemble_members(forecast)
    a, b = float(low), float(high)
    if not a <= b or (math.isinf(a) and math.isinf(b)):
        raise ScenarioError("must satisfy low <= high with one finite bound",
                            key="truth", value=(low, high))
    if a == b:
        return float(crps_ensemble(xs, a))
    if math.isinf(b):
        return _censored_below(xs, a)
    if math.isinf(a):
        return _censored_below(-xs[::-1], -b)
    mid = 0.5 * (a + b)
    g = np.empty_like(xs)
    lo, hi = xs <= a, xs >= b
    inside = ~(lo | hi)
    g[lo] = mid - xs[lo]
    g[hi] = xs[hi] - mid
    xi = xs[inside]
    width = 2.0 * (b - a)  # ((x-a)^2 + (b-x)^2) / (2 (b-a)), no square of a huge bound
    g[inside] = (xi - a) * ((xi - a) / width) + (b - xi) * ((b - xi) / width)
    return float(np.mean(g)) - _half_mean_abs_diff(xs)


def log_score_interval(forecast: Any, low: float, high: float) -> float:
    r"""Log score of the mass the forecast puts in the reported range: :math:`-\ln p`.

    ``p`` is the forecast's probability of ``low <= X <= high`` estimated
    from ``m`` members of which ``k`` fall in the range as
    :math:`p = (k + 1/2) / (m + 1)` (the Krichevsky-Trofimov estimate), so a
    missed range costs :math:`\ln(2(m+1))` instead of infinity. Lower is
    better (0 when all mass is in the range); in nats. One-sided bounds use
    the half-line. A point truth has no mass under a continuous forecast, so
    its log score is NaN (use the CRPS).

    Examples
    --------
    >>> round(log_score_interval([1.0, 2.0, 3.0], 0.0, 10.0), 4)  # p = 3.5 / 4
    0.1335
    """
    xs = ensemble_members(forecast)
    if float(low) == float(high):
        return math.nan
    k = int(np.searchsorted(xs, high, side="right") - np.searchsorted(xs, low, side="left"))
    return -math.log((k + 0.5) / (xs.size + 1))


def pit_interval(forecast: Any, low: float, high: float) -> tuple[float, float]:
    r"""The PIT of the truth as an interval: :math:`[F(a^-), F(b)]`.

    For a point without ties both ends are :math:`F(y)`; ties (counts of
    people) and ranges give an interval, and ``"at least a"`` gives
    :math:`[F(a^-), 1]`. Under a calibrated forecast, spreading each
    observation's PIT uniformly over its interval gives a uniform histogram
    (the non-randomised PIT of Czado, Gneiting and Held 2009); the PIT value
    reported is the interval's midpoint.

    >>> pit_interval([1.0, 2.0, 2.0, 3.0], 2.0, 2.0)  # ties: the PIT is an interval
    (0.25, 0.75)
    """
    xs = ensemble_members(forecast)
    m = xs.size
    lo = float(np.searchsorted(xs, low, side="left")) / m if math.isfinite(low) else 0.0
    hi = float(np.searchsorted(xs, high, side="right")) / m if math.isfinite(high) else 1.0
    return lo, hi


def coverage(pit_low: Any, pit_high: Any, level: float) -> FloatArray | float:
    r"""Whether the truth lies in the forecast's central ``level`` band, as a share.

    The band is :math:`[(1-c)/2, (1+c)/2]` in PIT space. The result is the
    share of the PIT interval inside it: 1 or 0 for a point truth without
    ties (1 when the truth lies between the band's empirical quantiles), and
    a fraction for a range. Averaged over observations it should be close to
    ``level`` for a calibrated forecast.

    Examples
    --------
    >>> float(coverage(0.3, 0.3, 0.5)), float(coverage(0.0, 0.5, 0.5))
    (1.0, 0.5)
    """
    lo, hi = np.asarray(pit_low, dtype=float), np.asarray(pit_high, dtype=float)
    band_lo, band_hi = (1.0 - level) / 2.0, (1.0 + level) / 2.0
    width = hi - lo
    overlap = np.clip(np.minimum(hi, band_hi) - np.maximum(lo, band_lo), 0.0, None)
    inside = ((lo >= band_lo) & (lo <= band_hi)).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(width > 0, overlap / np.where(width > 0, width, 1.0), inside)
    return float(out) if out.ndim == 0 else out


def _expected_shortfall(level: float, a: float, b: float) -> float:
    """E[(level - Y)+] for Y uniform on [a, b]."""
    if level <= a:
        return 0.0
    if level >= b:
        return level - 0.5 * (a + b)
    d = level - a  # (level - a)^2 / (2 (b - a)), without squaring a huge bound first
    return d * (d / (2.0 * (b - a)))


def interval_score(forecast: Any, low: float, high: float, level: float) -> float:
    r"""Interval score of the forecast's central ``level`` band (Gneiting & Raftery 2007).

    With :math:`\alpha = 1 - c` and the band :math:`[l, u]` between the
    empirical :math:`\alpha/2` and :math:`1-\alpha/2` quantiles, for a point
    truth

    .. math::
        \mathrm{IS}_\alpha = (u - l) + \tfrac{2}{\alpha}(l - y)_+
                                     + \tfrac{2}{\alpha}(y - u)_+ .

    A range is read as a uniform truth and the score averaged over it (closed
    form); a one-sided bound takes the most favourable truth consistent with
    it. Lower is better; units those of the truth.

    >>> interval_score([0.0, 1.0, 2.0, 3.0, 4.0], 2.0, 2.0, 0.5)  # y inside: the band's width
    2.0
    """
    xs = ensemble_members(forecast)
    alpha = 1.0 - level
    lq, uq = np.quantile(xs, [alpha / 2.0, 1.0 - alpha / 2.0])
    lq, uq = float(lq), float(uq)
    a, b = float(low), float(high)
    if math.isinf(a) or math.isinf(b) or a == b:
        # the consistent truth nearest the band: no penalty if the bound allows the band
        miss = b - lq if b < lq else a - uq if a > uq else 0.0
        return (uq - lq) + 2.0 / alpha * abs(miss)
    below = _expected_shortfall(lq, a, b)                   # E (l - Y)+
    above = _expected_shortfall(-uq, -b, -a)                # E (Y - u)+
    return (uq - lq) + 2.0 / alpha * (below + above)


def score_forecast(forecast: Any, low: float, high: float) -> dict[str, float]:
    """Every score of one forecast against one truth (see the module table).

    >>> scores = score_forecast([0.0, 1.0, 2.0, 3.0], 1.0, 2.0)
    >>> round(scores["crps"], 4), scores["coverage_90"]
    (0.375, 1.0)
    """
    xs = ensemble_members(forecast)
    pit_lo, pit_hi = pit_interval(xs, low, high)
    out = {
        "crps": crps_interval(xs, low, high),
        "log_score": log_score_interval(xs, low, high),
        "pit": 0.5 * (pit_lo + pit_hi),
        "pit_low": pit_lo,
        "pit_high": pit_hi,
    }
    for level in LEVELS:
        tag = f"{round(level * 100)}"
        out[f"coverage_{tag}"] = float(coverage(pit_lo, pit_hi, level))
        out[f"interval_score_{tag}"] = interval_score(xs, low, high, level)
    return out

"""Monte Carlo standard errors of sample quantiles, from order statistics.

The number of draws below the true ``p``-quantile is Binomial(n, p), so the
CDF value of the sample quantile is Beta(np + 1, n(1 - p) + 1) distributed;
the sample's values at that Beta's 15.9 % and 84.1 % points bracket one
standard error each side (Vehtari et al. 2021, sec. 4.3; ArviZ's
``mcse(method="quantile")``). :func:`threatsim.results.mcse_quantile` applies
this to a DataArray.
"""

from __future__ import annotations

import numpy as np
from scipy import special

__all__ = ["mcse_levels", "mcse_sorted"]

# CDF of the standard normal at -1 and +1: the +-1 standard error bracket (scipy.special's
# functions, which scipy.stats.norm.cdf and beta.ppf call: the same numbers without
# importing scipy.stats, 40 MB of a bounded run's memory).
_LOW, _HIGH = float(special.ndtr(-1.0)), float(special.ndtr(1.0))


def _interp_sorted(s: np.ndarray, m: np.ndarray, prob: np.ndarray) -> np.ndarray:
    """Linear-interpolation quantile (numpy's default) of sorted columns with *m* valid rows."""
    h = prob * np.maximum(m - 1, 0)
    lo = np.floor(h).astype(np.int64)
    hi = np.minimum(lo + 1, np.maximum(m - 1, 0))
    vlo = np.take_along_axis(s, lo[None], axis=0)[0]
    vhi = np.take_along_axis(s, hi[None], axis=0)[0]
    with np.errstate(invalid="ignore"):
        out: np.ndarray = vlo + (h - lo) * (vhi - vlo)
    return out



def mcse_levels(m: np.ndarray | int, q: float) -> tuple[np.ndarray, np.ndarray]:
    """The probabilities whose sample quantiles bracket the sample *q*-quantile of *m*
    values by one standard error each side: the CDF value of that quantile is
    Beta(m q + 1, m (1 - q) + 1) distributed; its 15.9 % and 84.1 % points.

    >>> lo, hi = mcse_levels(1000, 0.5)
    >>> round(float(lo), 3), round(float(hi), 3)
    (0.484, 0.516)
    """
    a = special.betaincinv(m * q + 1, m * (1 - q) + 1, _LOW)  # = stats.beta.ppf(_LOW, ...)
    b = special.betaincinv(m * q + 1, m * (1 - q) + 1, _HIGH)
    return a, b



def mcse_sorted(s: np.ndarray, m: np.ndarray, q: float) -> np.ndarray:
    """MCSE of the *q*-quantile of each column of *s* (sorted, NaN last, *m* valid rows).

    >>> from scipy import stats
    >>> x = stats.norm.ppf((np.arange(10_000) + 0.5) / 10_000)[:, None]  # an ideal normal
    >>> se = mcse_sorted(x, np.array([10_000]), 0.5)
    >>> round(float(se[0] * 100), 2)  # sqrt(pi / 2) sigma / sqrt(n) = 1.25 / 100
    1.25
    """
    a, b = mcse_levels(m, q)
    out = (_interp_sorted(s, m, b) - _interp_sorted(s, m, a)) / 2
    return np.where(m >= 2, out, np.nan)

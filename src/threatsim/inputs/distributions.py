"""From a reported range to a distribution.

A report says "between X and Y", "up to N", "approximately N". A
:class:`DistSpec` says how such a range is read, and maps uniforms in (0, 1)
to values through the inverse CDF, so every sampler (plain Monte Carlo, Latin
hypercube, Sobol) goes through one function, :meth:`DistSpec.ppf`.

Readings (``kind``):

``uniform``      hard bounds: every value in [low, high] equally likely.
``triangular``   [low, high] with a most likely value ``mode``.
``pert``         Beta-PERT on [low, high] with ``mode`` (smoother than triangular).
``normal90``     [low, high] is the central 90 % interval of a normal.
``lognormal90``  [low, high] is the central 90 % interval of a lognormal.
``point``        a single known ``value``.
``discrete``     ``values`` with ``weights``.
``poisson``      a count with mean ``value``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt
from scipy import special

if TYPE_CHECKING:  # scipy.stats costs a run 40 MB and a second: imported where it is used
    from scipy import stats

__all__ = ["COUNT_CEILING", "DIST_KINDS", "Z95", "DistSpec"]

#: The largest count of people a draw takes: far above any planning figure (the world
#: has about 8.2e9 people) and far below int64's 9.2e18, so counted flows stay exact.
COUNT_CEILING = 1e12

DistKind = Literal[
    "uniform", "triangular", "pert", "normal90", "lognormal90", "point", "discrete", "poisson"
]
DIST_KINDS: tuple[str, ...] = (
    "uniform",
    "triangular",
    "pert",
    "normal90",
    "lognormal90",
    "point",
    "discrete",
    "poisson",
)
RANGED_KINDS = ("uniform", "triangular", "pert", "normal90", "lognormal90")

#: The 95th percentile of the standard normal: a 90 % central interval is mu +- Z95 sigma.
Z95 = float(special.ndtri(0.95))  # what scipy.stats.norm.ppf(0.95) computes

# A normal90 reading of a quantity that cannot be negative is refused when it
# puts more than this probability below zero (it would need silent clipping).
NEGATIVE_MASS_TOLERANCE = 1e-6


@dataclass(frozen=True, slots=True, kw_only=True)
class DistSpec:
    """How one uncertain quantity is distributed.

    Parameters
    ----------
    kind
        One of :data:`DIST_KINDS`.
    low, high
        The range, for the ranged kinds.
    mode
        Most likely value, for ``triangular`` and ``pert``.
    value
        The value (``point``) or the mean (``poisson``).
    values, weights
        Support and weights of a ``discrete`` spec (weights are normalised).
    integer
        Round to whole numbers (counts of people).

    Examples
    --------
    >>> spec = DistSpec(kind="lognormal90", low=50e6, high=300e6)
    >>> [round(float(x) / 1e6, 3) for x in spec.ppf(np.array([0.05, 0.95]))]
    [50.0, 300.0]
    """

    kind: str
    low: float | None = None
    high: float | None = None
    mode: float | None = None
    value: float | None = None
    values: tuple[float, ...] = ()
    weights: tuple[float, ...] = ()
    integer: bool = False

    def __post_init__(self) -> None:
        problem = self.problem()
        if problem is not None:
            raise ValueError(problem)

    def problem(self, *, nonnegative: bool = False) -> str | None:
        """Say what is wrong with this spec, or ``None`` when it is valid.

        >>> DistSpec(kind="uniform", low=-1.0, high=1.0).problem(nonnegative=True)
        'must be >= 0 (got low=-1): this quantity cannot be negative'
        """
        kind = self.kind
        if kind not in DIST_KINDS:
            return f"dist must be one of {', '.join(DIST_KINDS)}"
        numbers = [x for x in (self.low, self.high, self.mode, self.value) if x is not None]
        numbers += list(self.values) + list(self.weights)
        if any(not math.isfinite(x) for x in numbers):
            return "must be finite numbers"
        if kind in RANGED_KINDS:
            if self.low is None or self.high is None:
                return f"dist {kind!r} needs a range [low, high]"
            if self.low > self.high:
                return f"must have low <= high (got low={self.low:g} > high={self.high:g})"
            if kind in ("triangular", "pert"):
                if self.mode is None:
                    return f"dist {kind!r} needs a mode"
                if not self.low <= self.mode <= self.high:
                    return f"mode={self.mode:g} must lie within [{self.low:g}, {self.high:g}]"
            if kind == "lognormal90" and self.low <= 0:
                return "dist 'lognormal90' needs low > 0 (a lognormal has no mass at or below 0)"
            if kind in ("normal90", "lognormal90") and self.low == self.high:
                return f"dist {kind!r} needs low < high (use dist = 'point' for a single value)"
            if nonnegative and self.low < 0:
                return f"must be >= 0 (got low={self.low:g}): this quantity cannot be negative"
            if nonnegative and kind == "normal90":
                below = float(self._frozen().cdf(0.0))
                if below > NEGATIVE_MASS_TOLERANCE:
                    return (
                        f"normal90 over [{self.low:g}, {self.high:g}] puts {below:.2%} of draws "
                        "below 0 for a quantity that cannot be negative; use 'lognormal90', "
                        "'pert' or 'uniform'"
                    )
        elif kind in ("point", "poisson"):
            if self.value is None:
                return f"dist {kind!r} needs a value"
            if kind == "poisson" and self.value < 0:
                return "a Poisson mean must be >= 0"
            if nonnegative and self.value < 0:
                return "must be >= 0: this quantity cannot be negative"
        elif kind == "discrete":
            if not self.values:
                return "dist 'discrete' needs values"
            if self.weights and len(self.weights) != len(self.values):
                return "discrete weights must have one entry per value"
            if any(w < 0 for w in self.weights) or (self.weights and sum(self.weights) <= 0):
                return "discrete weights must be >= 0 and not all 0"
            if nonnegative and min(self.values) < 0:
                return "must be >= 0: this quantity cannot be negative"
        return None

    # -- the distribution ---------------------------------------------------------

    def frozen(self) -> stats.rv_continuous | stats.rv_discrete | None:
        """The scipy.stats frozen distribution (``None`` for point and discrete).

        >>> float(DistSpec(kind="uniform", low=2.0, high=4.0).frozen().mean())
        3.0
        """
        # Imported here, not with the module: a run of uniform and point ranges (W1) never
        # needs it, and it is 40 MB of a bounded run's memory.
        from scipy import stats

        if self.kind == "poisson":
            return stats.poisson(self._value())
        if self.kind not in RANGED_KINDS:
            return None
        lo, hi = self._range()
        if self.kind == "uniform":
            return stats.uniform(loc=lo, scale=hi - lo)
        if self.kind == "triangular":
            width = hi - lo
            c = 0.5 if width == 0 else (self._mode() - lo) / width
            return stats.triang(c, loc=lo, scale=width)
        if self.kind == "pert":
            width = hi - lo
            a = 1 + 4 * (self._mode() - lo) / width if width else 3.0
            b = 1 + 4 * (hi - self._mode()) / width if width else 3.0
            return stats.beta(a, b, loc=lo, scale=width)
        if self.kind == "normal90":
            return stats.norm(loc=(lo + hi) / 2, scale=(hi - lo) / (2 * Z95))
        mu = (math.log(lo) + math.log(hi)) / 2  # lognormal90, the last ranged kind
        sigma = (math.log(hi) - math.log(lo)) / (2 * Z95)
        return stats.lognorm(s=sigma, scale=math.exp(mu))

    # __post_init__ has checked that each kind has the fields it needs; these say so to
    # the type checker.
    def _range(self) -> tuple[float, float]:
        assert self.low is not None, self.kind
        assert self.high is not None, self.kind
        return self.low, self.high

    def _mode(self) -> float:
        assert self.mode is not None, self.kind
        return self.mode

    def _value(self) -> float:
        assert self.value is not None, self.kind
        return self.value

    def _frozen(self) -> Any:
        frozen = self.frozen()
        assert frozen is not None, self.kind
        return frozen

    def ppf(self, u: npt.NDArray[np.float64], *,
            overwrite: bool = False) -> npt.NDArray[np.float64]:
        """Map uniforms in (0, 1) to values (the inverse CDF), rounding counts.

        With *overwrite* the values may be written over *u* (a uniform range and the
        rounding are: a run of 10^7 draws then holds one array of them, not three);
        the values are the same either way.

        >>> DistSpec(kind="uniform", low=0.0, high=10.0, integer=True).ppf(np.array([0.26]))
        array([3.])
        >>> u = np.array([0.25, 0.5])
        >>> DistSpec(kind="uniform", low=2.0, high=4.0).ppf(u, overwrite=True) is u
        True
        """
        u = np.asarray(u, dtype=np.float64)
        in_place = overwrite and u.flags.writeable
        if self.kind == "point":
            out = np.full(u.shape, self._value())
        elif self.kind == "discrete":
            w = np.asarray(self.weights or [1.0] * len(self.values), dtype=np.float64)
            cdf = np.cumsum(w / w.sum())
            cdf[-1] = 1.0
            idx = np.searchsorted(cdf, u, side="right")
            out = np.asarray(self.values, dtype=np.float64)[np.minimum(idx, len(cdf) - 1)]
        elif self.kind == "uniform":  # scipy's uniform.ppf is loc + scale * u; skip its overhead
            lo, hi = self._range()
            if in_place:  # the same two operations: x * y == y * x, x + y == y + x exactly
                out = np.multiply(u, hi - lo, out=u)
                out += lo
            else:
                out = lo + (hi - lo) * u
        else:
            # Degenerate ranges (low == high) of triangular/pert have zero width.
            if self.kind in ("triangular", "pert") and self.low == self.high:
                out = np.full(u.shape, self._range()[0])
            else:
                out = np.asarray(self._frozen().ppf(u), dtype=np.float64)
        if self.integer and self.kind != "poisson":
            # A long-tailed count (lognormal90) is held below COUNT_CEILING so that sums
            # over regions, months and draws stay exact in int64.
            # out is a new array, or u itself only where overwriting was allowed
            out = np.minimum(np.rint(out, out=out), COUNT_CEILING, out=out)
        return out

    def mean(self) -> float:
        """Expected value (exact, from scipy where it applies).

        >>> DistSpec(kind="pert", low=0.0, high=6.0, mode=3.0).mean()
        3.0
        """
        if self.kind == "point":
            return self._value()
        if self.kind == "discrete":
            w = np.asarray(self.weights or [1.0] * len(self.values), dtype=np.float64)
            return float(np.dot(w / w.sum(), self.values))
        if self.low == self.high and self.kind in ("uniform", "triangular", "pert"):
            return self._range()[0]
        return float(self._frozen().mean())

    def bounds(self) -> tuple[float, float]:
        """The smallest and largest value a sample can take.

        >>> DistSpec(kind="discrete", values=(1.0, 5.0)).bounds()
        (1.0, 5.0)
        >>> DistSpec(kind="poisson", value=2.0).bounds()
        (0.0, inf)
        """
        if self.kind == "point":
            return self._value(), self._value()
        if self.kind == "discrete":
            return float(min(self.values)), float(max(self.values))
        if self.kind in ("uniform", "triangular", "pert"):
            lo, hi = self._range()
            return float(lo), float(hi)
        if self.kind == "lognormal90":
            return 0.0, math.inf
        if self.kind == "poisson":
            return 0.0, math.inf
        return -math.inf, math.inf

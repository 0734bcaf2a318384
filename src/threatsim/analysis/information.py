"""Value of information: which uncertain parameter is most worth finding out.

For an outcome ``Y`` of a run (an output at a month, or the answer to a headline
question, ``1`` where it is below or above a level), learning parameter ``X_i``
exactly would leave, on average, the variance ``E[Var(Y | X_i)]``; the law of
total variance makes the expected reduction

    Var(E[Y | X_i])

(for a question's probability: how far the answer could move once ``X_i`` is
known). This is the expected value of partial perfect information of a
variance (quadratic) loss, and the numerator of ``X_i``'s first-order Sobol
index; the ranking tells a planner what to collect first.

It is estimated by regression on the run's own draws, as Strong, Oakley and
Brennan (2014, *Medical Decision Making* 34: 311-326) estimate EVPPI: ``E[Y |
X_i]`` is a smoothing spline of ``Y`` on ``X_i`` (scipy's
``make_smoothing_spline``, its smoothness chosen by generalised cross-validation,
through the means of 200 equal-count bins of ``X_i``), or the mean of ``Y`` at each
value for a parameter with few distinct values, and
the estimate is the covariance, over the draws, of ``Y`` with that fitted mean,
cross-fitted (fitted on one half of the draws, paired with the other half, both
ways) so that the noise the smoother keeps adds nothing on average; it is cut to
[0, Var(Y)]. No new model run is needed. Parameters are taken one at a time, as the
regression does; a parameter that matters only together with another shows little
on its own.
"""

from __future__ import annotations

import math

import numpy as np
import xarray as xr
from scipy.interpolate import make_smoothing_spline

from threatsim.core.errors import ScenarioError

__all__ = ["information_value"]

#: Below this many distinct values a parameter's conditional means are used as they are.
FEW_VALUES = 12
#: Equal-count bins of a parameter's draws whose means the spline goes through.
BINS = 200


def _outcome(ds: xr.Dataset, output: str, at: str | None, below: float | None,
             above: float | None) -> np.ndarray:
    if output not in ds.data_vars:
        outputs = [str(k) for k, v in ds.data_vars.items()
                   if v.attrs.get("role") != "parameter"]
        raise ScenarioError(f"is not an output of this run; outputs: {', '.join(outputs)}",
                            key="output", value=output)
    da = ds[output]
    if "time" in da.dims:
        if at is None:
            raise ScenarioError("is required for an output over time (a month YYYY-MM)",
                                key="at", value=None)
        try:
            da = da.sel(time=np.datetime64(at, "M"))
        except (KeyError, ValueError):
            raise ScenarioError("must be a month of the run (YYYY-MM)", key="at",
                                value=at) from None
    if "replicate" in da.dims:
        da = da.mean("replicate")  # chance given the parameters: its mean per draw
    extra = [str(d) for d in da.dims if d != "draw"]
    if extra:
        raise ScenarioError(f"has dims {', '.join(extra)} besides draw and time: select "
                            "one label of each first (ds[output].sel(...))", key="output",
                            value=output)
    y = np.asarray(da.values, dtype=np.float64)
    if below is not None and above is not None:
        raise ScenarioError("give below or above, not both", key="above", value=above)
    if below is not None:
        y = (y < below).astype(np.float64)
    elif above is not None:
        y = (y > above).astype(np.float64)
    elif not np.all(np.isfinite(y)):
        raise ScenarioError("has values that are not finite (e.g. a month never reached): "
                            "ask a question of it with below= or above=", key="output",
                            value=output)
    return y


def _fit_predict(x_fit: np.ndarray, y_fit: np.ndarray, x_new: np.ndarray) -> np.ndarray:
    """E[Y | X] fitted on one half of the draws, read at the other half's x."""
    values, inverse, counts = np.unique(x_fit, return_inverse=True, return_counts=True)
    if values.size < FEW_VALUES:
        means = np.bincount(inverse, weights=y_fit) / counts
        at = np.clip(np.searchsorted(values, x_new), 0, values.size - 1)
        found = values[at] == x_new
        return np.where(found, means[at], float(np.mean(y_fit)))
    lo, hi = float(values[0]), float(values[-1])
    u_fit, u_new = (x_fit - lo) / (hi - lo), (x_new - lo) / (hi - lo)
    order = np.argsort(u_fit, kind="stable")
    bins = np.array_split(order, min(BINS, x_fit.size))
    bx = np.array([u_fit[b].mean() for b in bins])
    by = np.array([y_fit[b].mean() for b in bins])
    bw = np.array([b.size for b in bins], dtype=np.float64)
    keep = np.concatenate(([True], np.diff(bx) > 1e-12))  # strictly increasing knots
    if keep.sum() < FEW_VALUES:
        return np.asarray(np.interp(u_new, bx[keep], by[keep]))
    spline = make_smoothing_spline(bx[keep], by[keep], w=bw[keep])
    return np.asarray(spline(np.clip(u_new, bx[keep][0], bx[keep][-1])))


def _reduction(x: np.ndarray, y: np.ndarray, total: float) -> float:
    """Var(E[Y | X]) by two-fold cross-fitting: the mean fitted on one half of the draws,
    its covariance with Y on the other half, both ways. The fit's own noise is then
    independent of the Y it is paired with, so it adds nothing on average, where the
    variance of in-sample fitted values would count the noise the smoother kept."""
    if x.size < 4:
        return 0.0
    halves = (np.arange(x.size) % 2 == 0, np.arange(x.size) % 2 == 1)
    covs = []
    for fit, new in (halves, halves[::-1]):
        f = _fit_predict(x[fit], y[fit], x[new])
        covs.append(float(np.mean((f - f.mean()) * (y[new] - y[new].mean()))))
    return min(max(float(np.mean(covs)), 0.0), total)


def information_value(ds: xr.Dataset, output: str, *, at: str | None = None,
                      below: float | None = None, above: float | None = None) -> xr.Dataset:
    """Rank the run's sampled parameters by the expected reduction of the outcome's
    variance if each were known (see the module docstring).

    Parameters
    ----------
    output, at
        The outcome: an output of *ds*, at month *at* (``YYYY-MM``) if it is over time.
    below, above
        Make the outcome a question: ``1`` where the output is below (above) the level.

    Returns
    -------
    xarray.Dataset
        On ``parameter``, largest first: ``variance_reduction`` (Var(E[Y | X_i]), in
        the outcome's unit squared, or of a probability), ``share`` (of Var(Y)), and
        ``provenance`` (the parameter's source or assumption, as the run records it).
        Attrs: the outcome's variance and mean.

    Examples
    --------
    >>> import threatsim
    >>> ds = threatsim.run(threatsim.load_scenario("scenarios/financing.toml"), draws=2000,
    ...                    seed=1, progress=False)
    >>> voi = information_value(ds, "reserves", at="2020-01", below=50e6)
    >>> str(voi["parameter"].values[0]), bool(voi["share"].values[0] > voi["share"].values[-1])
    ('reserves_initial', True)
    """
    y = _outcome(ds, output, at, below, above)
    total = float(np.var(y))
    names = [str(k) for k, v in ds.data_vars.items()
             if v.attrs.get("role") == "parameter" and v.dims == ("draw",)
             and np.unique(v.values).size > 1]
    if not names:
        raise ScenarioError("has no sampled parameter that varies", key="parameters",
                            value=[])
    reduction = [_reduction(np.asarray(ds[name].values, dtype=np.float64), y, total)
                 for name in names]
    order = np.argsort(reduction)[::-1]
    share = [r / total if total > 0 else math.nan for r in reduction]
    provenance = [str(ds[n].attrs.get("provenance", "")) for n in names]
    what = output if below is None and above is None else (
        f"P({output} {'<' if below is not None else '>'} "
        f"{below if below is not None else above})")
    return xr.Dataset(
        {"variance_reduction": ("parameter", np.asarray(reduction)[order],
                                {"long_name": f"Var(E[{what} | parameter])"}),
         "share": ("parameter", np.asarray(share)[order],
                   {"long_name": "share of the outcome's variance"}),
         "provenance": ("parameter", np.asarray(provenance, dtype=str)[order])},
        coords={"parameter": np.asarray(names, dtype=str)[order]},
        attrs={"outcome": what, "at": at or "", "variance": total,
               "mean": float(np.mean(y)), "draws": int(y.size)})

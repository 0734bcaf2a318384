"""Convergence: the Monte Carlo standard error of every band, and running to a precision.

A band is a sample quantile over the draws. Its Monte Carlo standard error
(MCSE) comes from order statistics: the number of draws below the true
``p``-quantile is Binomial(n, p), so the CDF value of the sample quantile is
Beta(np + 1, n(1 - p) + 1) distributed. The values of the sample at that
Beta's 15.9 % and 84.1 % points bracket +-1 standard error; half their
distance is the MCSE. This is the method of Vehtari et al. (2021, "Rank-
normalization, folding, and localization", sec. 4.3), used by ArviZ's
``mcse(method="quantile")``, with the effective sample size equal to the
number of draws (Monte Carlo draws are independent). It needs no density
estimate and no assumption on the shape of the distribution. A band of a
count (whole months, people) whose MCSE is at most half a unit counts as
precise: a count cannot be pinned down finer than its unit.

For a normal output the MCSE of the median is sqrt(pi / 2) sigma / sqrt(n)
(tested). With ``replicate`` the draws and replicates are treated as one
sample, which understates the MCSE when replicates of a draw are alike; with
``lhs`` and ``sobol`` samplers the formula is conservative (those designs
converge faster than independent draws).

:func:`run_to_precision` doubles the draws until every reported band's
relative MCSE is under a target. With the ``mc`` sampler each parameter's
stream is consumed in order and each draw's chance is keyed by its index, so
the first ``n`` draws of a larger run are exactly a run of ``n`` draws; the
chunk size divides every run, so each doubling only adds chunks (earlier
chunks are reused, not recomputed), and the same seed and target always stop
at the same draws. The ``sobol``
sampler extends the same way; ``lhs`` does not (its strata depend on the
number of draws), so each doubling reruns every chunk, still reproducibly.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from threatsim.core.errors import ScenarioError
from threatsim.engine.executors import ExecutorArg
from threatsim.engine.options import RunOptions
from threatsim.engine.reuse import ReuseChunks
from threatsim.engine.runner import run_with
from threatsim.inputs.scenario import Scenario
from threatsim.results import mcse_quantile, sample_dims

__all__ = [
    "PrecisionResult",
    "mcse_quantile",
    "reported_precision",
    "run_to_precision",
]


def _reported(ds: xr.Dataset, report_months: Sequence[int]) -> Iterator[tuple[str, xr.DataArray]]:
    """The series ``threatsim run`` prints: each output at the report months, summed over
    model dims; per-draw scalars as they are."""
    for name, da in ds.data_vars.items():
        if da.attrs.get("role") == "parameter" or not sample_dims(da):
            continue
        extra = [d for d in da.dims if d not in ("draw", "replicate", "time")]
        if extra:
            da = da.sum(extra, skipna=False)
        if "time" in da.dims:
            da = da.isel(time=list(report_months))
        yield str(name), da


def reported_precision(ds: xr.Dataset, *, quantiles: Sequence[float],
                       report_months: Sequence[int]) -> xr.Dataset:
    """Band, MCSE and relative MCSE of every reported band, one variable each per output.

    The relative MCSE is ``MCSE / |band|``; a band at exactly 0 counts as precise
    when its MCSE is 0 too, and as infinitely imprecise otherwise.

    >>> import threatsim
    >>> sc = threatsim.load_scenario("scenarios/financing.toml")
    >>> ds = threatsim.run(sc, draws=400, progress=False)
    >>> prec = reported_precision(ds, quantiles=[0.5], report_months=[12])
    >>> prec["reserves_rel_mcse"].dims
    ('quantile', 'time')
    """
    out: dict[str, xr.DataArray] = {}
    for name, da in _reported(ds, report_months):
        with warnings.catch_warnings():  # a flow has no value before the first month
            warnings.simplefilter("ignore", RuntimeWarning)
            b = da.quantile(list(quantiles), dim=sample_dims(da))
        se = mcse_quantile(da, quantiles)
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = xr.where(se == 0, 0.0, se / abs(b))
        values = da.values[np.isfinite(da.values)]
        if values.size and np.array_equal(values, np.round(values)):
            # A count (months, people) cannot be pinned down finer than its unit.
            rel = xr.where(se <= 0.5, 0.0, rel)
        rel = rel.where(b.notnull() & se.notnull())
        out[name] = b
        out[f"{name}_mcse"] = se
        out[f"{name}_rel_mcse"] = rel
    return xr.Dataset(out)


def _worst(prec: xr.Dataset) -> tuple[float, str]:
    worst, where = 0.0, ""
    for name in prec.data_vars:
        if not str(name).endswith("_rel_mcse"):
            continue
        rel = prec[name]
        if not rel.notnull().any():
            continue
        idx = np.unravel_index(int(np.argmax(rel.fillna(-1).values)), rel.shape)
        value = float(rel.values[idx])
        if value > worst or not where:
            point = {d: rel[d].values[i] for d, i in zip(rel.dims, idx, strict=True)}
            label = f"{str(name).removesuffix('_rel_mcse')} {float(point['quantile']):.0%}"
            if "time" in point:
                label += f" at {np.datetime64(point['time'], 'M')}"
            worst, where = value, label
    return worst, where


@dataclass(frozen=True, slots=True)
class PrecisionResult:
    """What :func:`run_to_precision` found (see there for an example).

    >>> res = PrecisionResult(dataset=xr.Dataset(coords={"draw": np.arange(400)}), target=0.05,
    ...                       converged=True, worst=0.031, worst_at="reserves 50% at 2019-12",
    ...                       history=((200, 0.052), (400, 0.031)))
    >>> print(res.summary())
           200 draws: largest relative MCSE 5.20%
           400 draws: largest relative MCSE 3.10%
    precision target 5.00% reached: largest relative MCSE 3.10% (reserves 50% at 2019-12)
    with 400 draws
    """

    dataset: xr.Dataset
    target: float
    converged: bool
    worst: float
    worst_at: str
    history: tuple[tuple[int, float], ...] = field(default=())

    def summary(self) -> str:
        """One line per doubling, and the verdict.

        >>> import threatsim
        >>> sc = threatsim.load_scenario("scenarios/financing.toml")
        >>> res = run_to_precision(sc, 0.5, draws=200, chunk_size=100)
        >>> print(res.summary())  # doctest: +ELLIPSIS
                 200 draws: largest relative MCSE ...
                 400 draws: largest relative MCSE ...
        precision target 50.00% reached: ... with 400 draws
        """
        lines = [f"  {n:>10,} draws: largest relative MCSE {_pct(w)}" for n, w in self.history]
        verdict = ("reached" if self.converged else "NOT reached (stopped at --max-draws)")
        lines.append(f"precision target {self.target:.2%} {verdict}: largest relative MCSE "
                     f"{_pct(self.worst)} ({self.worst_at}) with "
                     f"{self.dataset.sizes['draw']:,} draws")
        return "\n".join(lines)


def _pct(x: float) -> str:
    return f"{x:.2%}" if math.isfinite(x) else "unbounded (a band at 0 whose MCSE is not 0)"


def run_to_precision(
    scenario: Scenario,
    target: float,
    *,
    draws: int | None = None,
    max_draws: int | None = None,
    seed: int | None = None,
    sampler: str | None = None,
    chunk_size: int | None = None,
    replicates: int | None = None,
    executor: ExecutorArg = None,
    progress: bool | None = False,
    quantiles: Sequence[float] | None = None,
    report_months: Sequence[int] | None = None,
    memory_budget: int | float | str | None = None,
    force_workers: bool = False,
) -> PrecisionResult:
    """Double the draws until every reported band's relative MCSE is below *target*.

    Parameters
    ----------
    target
        Relative MCSE to reach, e.g. ``0.01`` (1 % of the band's value).
    draws
        Draws of the first run (default 1,000). The chunk size is cut to
        *draws* when larger, and *draws* rounded up to whole chunks, so that
        every doubling adds whole chunks and keeps the draws already run.
    max_draws
        The cap (default 256 x *draws*): the last doubling that fits is run.
    quantiles, report_months
        The reported bands (default: those ``threatsim run`` prints: the 5,
        50 and 95 % bands of the scenario's quantiles at its report months).
    memory_budget, force_workers
        As for :func:`threatsim.run`: each doubling's run is refused, with the
        figure, if it would exceed the memory budget.

    Raises
    ------
    ScenarioError
        A target outside (0, 1), or draws / max_draws below 1.

    Examples
    --------
    >>> import threatsim
    >>> sc = threatsim.load_scenario("scenarios/financing.toml")
    >>> res = run_to_precision(sc, 0.5, draws=200, chunk_size=100)
    >>> res.converged, res.dataset.sizes["draw"], [n for n, _ in res.history]
    (True, 400, [200, 400])
    """
    if not isinstance(target, (int, float)) or not 0 < target < 1:
        raise ScenarioError("must be a relative standard error in (0, 1), e.g. 0.01",
                            key="precision", value=target)
    start = 1000 if draws is None else draws
    if isinstance(start, bool) or not isinstance(start, int) or start < 1:
        raise ScenarioError("must be a whole number >= 1", key="draws", value=draws)
    chunk = chunk_size or scenario.run.chunk_size
    if start <= chunk:
        chunk = start
    else:
        start = -(-start // chunk) * chunk
    cap = 256 * start if max_draws is None else max_draws
    if isinstance(cap, bool) or not isinstance(cap, int) or cap < start:
        raise ScenarioError(f"must be a whole number >= the first run's {start:,} draws",
                            key="max_draws", value=max_draws)
    qs = list(quantiles) if quantiles is not None else (
        [q for q in scenario.quantiles if q in (0.05, 0.5, 0.95)] or list(scenario.quantiles))
    months = list(report_months) if report_months is not None else list(scenario.report_months)
    options = RunOptions.build(scenario, draws=start, seed=seed, sampler=sampler,
                               chunk_size=chunk, replicates=replicates, executor=executor,
                               progress=progress, memory_budget=memory_budget,
                               force_workers=force_workers)
    if options.posterior is not None:
        # A posterior's resample is drawn for the run's whole draw count, so a doubling
        # would give every earlier draw new parameters: nothing could be kept.
        raise ScenarioError("does not go with a run to a precision (each doubling would "
                            "resample the posterior anew); run a fixed number of draws "
                            "on it and read its Monte Carlo errors",
                            path=scenario.path, key="posterior", value=scenario.posterior)
    # Every doubling's run shares the chunks already computed (the draws are checked).
    options = dataclasses.replace(options, executor=ReuseChunks(options.executor))
    history: list[tuple[int, float]] = []
    n = start
    while True:
        ds = run_with(scenario, dataclasses.replace(options, draws=n))
        worst, where = _worst(reported_precision(ds, quantiles=qs, report_months=months))
        history.append((n, worst))
        if worst < target or 2 * n > cap:
            break
        n *= 2
    ds.attrs.update({"precision_target": float(target), "precision_reached": int(worst < target),
                     "largest_relative_mcse": float(worst) if math.isfinite(worst) else -1.0})
    return PrecisionResult(dataset=ds, target=float(target), converged=worst < target,
                           worst=worst, worst_at=where, history=tuple(history))

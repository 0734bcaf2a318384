"""Rolling-origin evaluation: would updating on the reports so far have helped?

For each origin month *t*, the scenario is calibrated on the observations dated
up to *t* (:func:`~threatsim.outputs.calibration.calibrate`, on one prior run
shared by every origin), a run on that posterior is made, and the observations
dated after *t* are scored (:func:`~threatsim.outputs.leaderboard.leaderboard`)
three ways:

* ``prior``: the scenario as written, the run before any update;
* ``posterior``: the run on the posterior of origin *t*;
* ``persistence``: the leaderboard's reference, the last report's range carried
  forward: the observation's ``previous`` figure, or the run's own 5-95 % band
  at its first month where it gives none (docs/scoring.md, Reference forecasts).

Each (origin, observation) pair has a ``horizon``: months from the origin to the
observation's date. :func:`rolling_summary` averages the scaled CRPS (the CRPS
over the size of the reported figure, so that figures in different units can be
averaged) by origin and by horizon. This is the time-series cross-validation of
forecasting practice ("evaluation on a rolling forecasting origin", Hyndman and
Athanasopoulos, *Forecasting: Principles and Practice*, 5.10), with calibration
in the place of refitting.

Every origin's posterior run uses the scenario's seed, so prior and posterior
runs share each draw's chance (common random numbers); only the parameters
differ.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from threatsim.core.errors import ScenarioError
from threatsim.core.months import parse_month
from threatsim.engine.executors import ExecutorArg
from threatsim.engine.runner import run as run_scenario
from threatsim.inputs.scenario import Scenario
from threatsim.outputs.calibration import DEFAULT_REL_ERROR, calibrate
from threatsim.outputs.leaderboard import leaderboard
from threatsim.outputs.observations import Observation, ObservationSet, check_observations
from threatsim.results import posterior_from_dataset

__all__ = ["rolling_origin", "rolling_summary", "rolling_table"]

#: The forecasts scored at each origin, in the order tables show them.
FORECASTS = ("prior", "posterior", "persistence")


def _label(month: np.datetime64) -> str:
    return str(month.astype("datetime64[M]"))


def _month(obs: Observation) -> np.datetime64:
    """The month an observation is dated: for a figure over a period (``"2020-H2"``),
    its last month, the first at which the whole figure can have been reported."""
    month: np.datetime64 = obs.month.astype("datetime64[M]") + (int(obs.months) - 1)
    return month


def _origins(observations: ObservationSet, origins: Sequence[str] | None,
             ) -> list[np.datetime64]:
    months = sorted({_month(o) for o in observations})
    if origins is None:
        # every month with a report, but the last: each origin has something after it
        return months[:-1]
    out = []
    for text in origins:
        try:
            out.append(parse_month(str(text)))
        except (ValueError, TypeError):
            raise ScenarioError("must be a month YYYY-MM", key="origins",
                                value=text) from None
    return sorted(set(out))


def _subset(observations: ObservationSet, keep: Sequence[Observation]) -> ObservationSet:
    return dataclasses.replace(observations, observations=tuple(keep))


def rolling_origin(
    scenario: Scenario,
    observations: ObservationSet,
    *,
    origins: Sequence[str] | None = None,
    draws: int | None = None,
    seed: int | None = None,
    errors: Mapping[str, float] | None = None,
    rel_error: float = DEFAULT_REL_ERROR,
    method: str = "auto",
    executor: ExecutorArg = None,
    progress: bool | None = False,
) -> xr.Dataset:
    """Calibrate on the observations up to each origin, score those after it.

    Parameters
    ----------
    origins
        Months ``YYYY-MM`` (default: every month an observation is dated but the
        last). An origin with nothing dated at or before it, or nothing after it,
        is an error.
    draws, seed
        The prior run's draws and seed (default: the scenario's ``[run]``); the
        posterior runs have as many draws and the same seed.
    errors, rel_error, method
        As for :func:`~threatsim.outputs.calibration.calibrate`.

    Returns
    -------
    xarray.Dataset
        ``crps`` and ``crps_scaled`` on (``forecast``, ``origin``,
        ``observation``): NaN where the observation is not after the origin;
        ``horizon`` (months after the
        origin) on (``origin``, ``observation``); ``ess`` and ``method`` of each
        origin's calibration; coords ``variable`` and ``month`` of each
        observation.

    Examples
    --------
    >>> import threatsim
    >>> from threatsim.outputs.observations import observations_from_dict
    >>> sc = threatsim.load_scenario("scenarios/financing.toml")
    >>> obs = observations_from_dict({"document": "test", "observation": [
    ...     {"id": f"r{m}", "variable": "reserves", "date": f"2019-{m:02d}",
    ...      "low": 1.0e8, "high": 2.0e8, "unit": "usd"} for m in (3, 6, 9)]})
    >>> board = rolling_origin(sc, obs, draws=300, seed=1)
    >>> board["origin"].values.tolist()
    ['2019-03', '2019-06']
    >>> board["horizon"].sel(origin="2019-03").values.tolist()  # months after the origin
    [nan, 3.0, 6.0]
    """
    if not len(observations):
        raise ScenarioError("has no observations", path=observations.path,
                            key="observation", value=[])
    months = _origins(observations, origins)
    dated = [(o, _month(o)) for o in observations]
    for t in months:
        before = sum(m <= t for _, m in dated)
        after = sum(m > t for _, m in dated)
        if not before or not after:
            what = "no observation dated at or before it" if not before else (
                "no observation dated after it")
            raise ScenarioError(f"has {what}: an origin needs reports to learn from and "
                                "reports to score", key="origins", value=_label(t))
    if not months:
        raise ScenarioError("are all dated in one month: a rolling origin needs reports at "
                            "two dates at least", path=observations.path,
                            key="observation", value=_label(dated[0][1]))
    prior = run_scenario(scenario, draws=draws, seed=seed, executor=executor,
                         progress=progress)
    check_observations(observations, prior)
    run_seed = int(prior.attrs.get("seed", 0))
    n_draws = int(prior.sizes["draw"])
    ids = observations.ids()
    shape = (len(FORECASTS), len(months), len(ids))
    crps = np.full(shape, math.nan)
    scaled = np.full(shape, math.nan)
    horizon = np.full((len(months), len(ids)), math.nan)
    ess, methods = [], []
    index = {oid: j for j, oid in enumerate(ids)}
    # the prior and persistence do not depend on the origin: scored once, every figure
    prior_board = leaderboard(prior, observations)

    def put(k: int, i: int, board: xr.Dataset, column: str, only: set[str]) -> None:
        for j, oid in enumerate(board["observation"].values.tolist()):
            if oid in only:
                crps[k, i, index[oid]] = float(board[column].values[j])
                scaled[k, i, index[oid]] = (float(board[column].values[j])
                                            / float(board["scale"].values[j]))

    for i, t in enumerate(months):
        learn = _subset(observations, [o for o, m in dated if m <= t])
        test = _subset(observations, [o for o, m in dated if m > t])
        post = calibrate(scenario, learn, prior=prior, errors=_errors_for(errors, learn),
                         rel_error=rel_error, method=method, executor=executor,
                         progress=progress)
        ess.append(float(post.attrs.get("ess", math.nan)))
        methods.append(str(post.attrs.get("method", "")))
        post_run = run_scenario(scenario, draws=n_draws, seed=run_seed, executor=executor,
                                posterior=posterior_from_dataset(post), progress=progress)
        later = set(test.ids())
        for o, m in dated:
            if m > t:
                horizon[i, index[o.id]] = float((m - t).astype(int))
        put(FORECASTS.index("prior"), i, prior_board, "crps", later)
        put(FORECASTS.index("posterior"), i, leaderboard(post_run, test), "crps", later)
        put(FORECASTS.index("persistence"), i, prior_board, "crps_persistence", later)
    origin_labels = [_label(t) for t in months]
    coords: dict[str, Any] = {
        "forecast": list(FORECASTS), "origin": origin_labels, "observation": ids,
        "variable": ("observation", [o.variable for o in observations]),
        "month": ("observation", [o.month_label for o in observations]),
    }
    unit = "unit of the observation"
    return xr.Dataset(
        {"crps": (("forecast", "origin", "observation"), crps,
                  {"units": unit, "orientation": "lower is better"}),
         "crps_scaled": (("forecast", "origin", "observation"), scaled,
                         {"units": "1", "orientation": "lower is better",
                          "long_name": "CRPS over the size of the reported figure"}),
         "horizon": (("origin", "observation"), horizon,
                     {"units": "months", "long_name": "months from the origin to the figure"}),
         "ess": (("origin",), np.asarray(ess), {"long_name": "effective sample size"}),
         "method": (("origin",), np.asarray(methods, dtype=str))},
        coords=coords,
        attrs={"title": "threatsim rolling-origin evaluation",
               "scenario_name": prior.attrs.get("scenario_name", ""),
               "prior_run_id": prior.attrs.get("run_id", ""),
               "observations_file": observations.path or "", "draws": n_draws,
               "seed": run_seed})


def _errors_for(errors: Mapping[str, float] | None,
                learn: ObservationSet) -> dict[str, float] | None:
    if errors is None:
        return None
    ids = set(learn.ids())
    return {k: v for k, v in errors.items() if k in ids}


def rolling_summary(board: xr.Dataset) -> xr.Dataset:
    """Mean scaled CRPS per forecast, by origin and by horizon (NaN pairs left out), and
    how many figures each mean is over.

    >>> board = xr.Dataset(
    ...     {"crps_scaled": (("forecast", "origin", "observation"),
    ...                      [[[np.nan, 0.2, 0.4]], [[np.nan, 0.1, 0.3]],
    ...                       [[np.nan, np.nan, 0.5]]]),
    ...      "horizon": (("origin", "observation"), [[np.nan, 3.0, 6.0]])},
    ...     coords={"forecast": list(FORECASTS), "origin": ["2019-03"],
    ...             "observation": ["a", "b", "c"]})
    >>> s = rolling_summary(board)
    >>> s["by_origin"].sel(origin="2019-03").values.round(3).tolist()
    [0.3, 0.2, 0.5]
    >>> s["by_horizon"].sel(horizon=6.0).values.round(3).tolist()
    [0.4, 0.3, 0.5]
    >>> s["count_by_horizon"].values.tolist()
    [1, 1]
    """
    scaled = board["crps_scaled"]
    by_origin = scaled.mean("observation", skipna=True)
    horizons = np.unique(board["horizon"].values[np.isfinite(board["horizon"].values)])
    means, counts = [], []
    for h in horizons:
        mask = board["horizon"] == h
        means.append(scaled.where(mask).mean(("origin", "observation"), skipna=True))
        counts.append(int(mask.sum()))
    by_horizon = (xr.concat(means, dim=xr.DataArray(horizons, dims="horizon"))
                  if means else xr.DataArray(np.empty((0, scaled.sizes["forecast"])),
                                             dims=("horizon", "forecast")))
    return xr.Dataset({
        "by_origin": by_origin, "by_horizon": by_horizon.transpose("horizon", "forecast"),
        "count_by_origin": board["horizon"].notnull().sum("observation"),
        "count_by_horizon": ("horizon", np.asarray(counts, dtype=np.int64))})


def _cell(x: float) -> str:
    return "n/a" if not math.isfinite(x) else f"{x:.3f}"


def rolling_table(board: xr.Dataset) -> str:
    """The rolling-origin leaderboard as text: mean scaled CRPS by origin, then by horizon
    (lower is better; ``n/a``: no figure to average).

    >>> board = xr.Dataset(
    ...     {"crps_scaled": (("forecast", "origin", "observation"),
    ...                      [[[0.2]], [[0.1]], [[np.nan]]]),
    ...      "horizon": (("origin", "observation"), [[3.0]]),
    ...      "method": (("origin",), np.asarray(["importance"], dtype=object)),
    ...      "ess": (("origin",), [812.0])},
    ...     coords={"forecast": list(FORECASTS), "origin": ["2019-03"], "observation": ["a"]})
    >>> print(rolling_table(board))  # doctest: +NORMALIZE_WHITESPACE
    mean scaled CRPS by origin (lower is better)
      origin    figures   prior  posterior  persistence  calibration
      2019-03         1   0.200      0.100          n/a  importance, ESS 812
    <BLANKLINE>
    mean scaled CRPS by horizon (months after the origin)
      horizon   figures   prior  posterior  persistence
            3         1   0.200      0.100          n/a
    """
    s = rolling_summary(board)
    lines = ["mean scaled CRPS by origin (lower is better)",
             f"  {'origin':<8}{'figures':>9}{'prior':>8}{'posterior':>11}{'persistence':>13}"
             "  calibration"]
    for origin in board["origin"].values.tolist():
        row = s["by_origin"].sel(origin=origin).values
        n = int(s["count_by_origin"].sel(origin=origin))
        how = ""
        if "method" in board:
            how = (f"{board['method'].sel(origin=origin).item()}, ESS "
                   f"{float(board['ess'].sel(origin=origin)):.0f}")
        lines.append(f"  {origin:<8}{n:>9}{_cell(row[0]):>8}{_cell(row[1]):>11}"
                     f"{_cell(row[2]):>13}  {how}")
    lines += ["", "mean scaled CRPS by horizon (months after the origin)",
              f"  {'horizon':<8}{'figures':>9}{'prior':>8}{'posterior':>11}{'persistence':>13}"]
    for k, h in enumerate(s["by_horizon"]["horizon"].values.tolist()):
        row = s["by_horizon"].isel(horizon=k).values
        n = int(s["count_by_horizon"].values[k])
        lines.append(f"  {int(h):>7}{n:>9}{_cell(row[0]):>8}{_cell(row[1]):>11}"
                     f"{_cell(row[2]):>13}")
    return "\n".join(lines)

"""Two levels of uncertainty: how much of a band comes from the parameters, how much from chance.

A run with ``[run] replicates = R`` repeats each draw of the parameters (what
we do not know) ``R`` times with fresh chance (who is caught this month). The
law of total variance splits the variance over all (draw, replicate) cells::

    Var(X) = Var_draw( E[X | draw] ) + E_draw( Var[X | draw] )
             parameters               chance
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from threatsim.core.errors import ScenarioError

__all__ = ["variance_split"]


def variance_split(da: xr.DataArray) -> xr.Dataset:
    """Split the variance of *da* over ``draw`` and ``replicate`` into parameters and chance.

    Parameters
    ----------
    da
        An output of a run with replicates, e.g. ``ds["population_total"]``:
        dims ``draw`` and ``replicate`` (at least 2 replicates), and any others
        (``time``, ``region``, ...), which are kept.

    Returns
    -------
    xarray.Dataset
        ``total`` (the variance over all draw x replicate cells), ``parameters``
        (the variance over draws of the replicate means) and ``chance`` (the
        mean over draws of the variance over replicates), each with the dims of
        *da* less ``draw`` and ``replicate``. All three are population
        variances (divisor n), so ``parameters + chance == total`` exactly, up
        to rounding. With few replicates ``parameters`` also holds a part
        ``chance / R`` of the chance variance (the replicate means are noisy):
        ``parameters - chance / (R - 1)`` estimates the parameters' own share
        without that bias. Units are the square of *da*'s.

    Raises
    ------
    ScenarioError
        When *da* has no ``draw`` or ``replicate`` dim, or fewer than 2 replicates.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> x = xr.DataArray([[0.0, 2.0], [10.0, 12.0]], dims=("draw", "replicate"))
    >>> split = variance_split(x)
    >>> [float(split[k]) for k in ("total", "parameters", "chance")]
    [26.0, 25.0, 1.0]
    """
    missing = [d for d in ("draw", "replicate") if d not in da.dims]
    if missing:
        raise ScenarioError(
            f"must have dims draw and replicate (run with [run] replicates >= 2); missing "
            f"{', '.join(missing)}", key="variable", value=da.name)
    if da.sizes["replicate"] < 2:
        raise ScenarioError("needs at least 2 replicates to tell chance from parameters",
                            key="replicates", value=da.sizes["replicate"])
    x = da.astype(np.float64)
    # skipna=False: a month with no value (flows at the start) stays NaN, without warnings.
    means = x.mean("replicate", skipna=False)
    parameters = means.var("draw", skipna=False)
    chance = x.var("replicate", skipna=False).mean("draw", skipna=False)
    total = x.var(["draw", "replicate"], skipna=False)
    unit = da.attrs.get("units", "")
    units = f"({unit})^2" if unit else ""
    name = da.name if da.name is not None else "variable"
    return xr.Dataset(
        {
            "total": total.assign_attrs(units=units, long_name=f"variance of {name}"),
            "parameters": parameters.assign_attrs(
                units=units, long_name=f"variance of {name} from the parameters (between draws)"),
            "chance": chance.assign_attrs(
                units=units, long_name=f"variance of {name} from chance (within a draw)"),
        },
        attrs={"variable": str(name), "draws": da.sizes["draw"],
               "replicates": da.sizes["replicate"]},
    )

"""Helpers shared by the analysis modules: picking an output, a month, the sample."""

from __future__ import annotations

import difflib
import json
from typing import Any

import numpy as np
import xarray as xr

from threatsim.core.errors import ScenarioError
from threatsim.inputs.scenario import Scenario
from threatsim.models.registry import get_model
from threatsim.results import sample_dims

__all__ = [
    "at_month",
    "check_output_at",
    "model_dims",
    "outcome_series",
    "require_output",
    "series_names",
    "when_label",
]


def require_output(scenario: Scenario, name: str, *, key: str = "output") -> Scenario:
    """*scenario*, keeping output *name* (added to ``outputs.variables`` if left out).

    Raises a ScenarioError naming the closest output when the model has none
    called *name*.

    >>> import threatsim
    >>> sc = threatsim.load_scenario("scenarios/financing.toml")
    >>> "reserves" in require_output(sc, "reserves").variables
    True
    >>> require_output(sc, "reserve")
    Traceback (most recent call last):
    ...
    threatsim.core.errors.ScenarioError: output='reserve' is not an output of model ...
    """
    outputs = [o.name for o in get_model(scenario.model).info.outputs]
    if name not in outputs:
        close = difflib.get_close_matches(str(name), outputs, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ScenarioError(
            f"is not an output of model {scenario.model!r}; {hint}allowed: {', '.join(outputs)}",
            key=key, value=name)
    if name in scenario.variables:
        return scenario
    return scenario.with_values({"outputs.variables": [*scenario.variables, name]})


def series_names(ds: xr.Dataset) -> list[str]:
    """Outputs of a run (not the sampled parameters), in Dataset order.

    >>> ds = xr.Dataset({"reserves": ("draw", [1.0, 2.0]),
    ...                  "income": ("draw", [3.0, 4.0], {"role": "parameter"})})
    >>> series_names(ds)
    ['reserves']
    """
    return [str(n) for n, v in ds.data_vars.items()
            if v.attrs.get("role") != "parameter" and sample_dims(v)]


def _month_labels(ds: xr.Dataset) -> list[str]:
    return [str(np.datetime64(t, "M")) for t in ds["time"].values]


def at_month(ds: xr.Dataset, at: str | None, *, key: str = "at") -> int | None:
    """Index on ``ds.time`` of month ``"YYYY-MM"`` (the last month when *at* is None).

    >>> ds = xr.Dataset(coords={"time": np.arange("2019-01", "2019-04", dtype="M8[M]")})
    >>> at_month(ds, "2019-02"), at_month(ds, None)
    (1, 2)
    """
    if "time" not in ds.dims:
        return None
    labels = _month_labels(ds)
    if at is None:
        return len(labels) - 1
    if not isinstance(at, str) or len(at) != 7 or at[4] != "-":
        raise ScenarioError("must be a month written 'YYYY-MM' (e.g. '2020-06')", key=key,
                            value=at)
    if at not in labels:
        raise ScenarioError(f"must be within the run: {labels[0]} to {labels[-1]}", key=key,
                            value=at)
    return labels.index(at)


def when_label(ds: xr.Dataset, output: str, at: str | None) -> str:
    """``" at YYYY-MM"``: the month *at* (the run's last when None), for an *output* with
    a time axis; ``""`` for a per-draw scalar.

    >>> ds = xr.Dataset({"held": (("draw", "time"), np.ones((2, 3)))},
    ...                 coords={"time": np.arange("2019-01", "2019-04", dtype="M8[M]")})
    >>> when_label(ds, "held", None), when_label(ds, "held", "2019-02")
    (' at 2019-03', ' at 2019-02')
    """
    if "time" not in ds[output].dims:
        return ""
    month = ds["time"].values[-1] if at is None else at
    return f" at {np.datetime64(month, 'M')}"


def outcome_series(ds: xr.Dataset, name: str, at: str | None = None, *,
                   key: str = "output") -> xr.DataArray:
    """Output *name* at month *at*, summed over model dims (region...), on the sample dims.

    A per-draw scalar output (no ``time``) is returned as it is; giving
    ``at`` for it is an error.

    >>> ds = xr.Dataset({"held": (("draw", "time", "region"), np.ones((2, 3, 2)))},
    ...                 coords={"time": np.arange("2019-01", "2019-04", dtype="M8[M]")})
    >>> outcome_series(ds, "held", "2019-03").values  # both regions summed
    array([2., 2.])
    """
    if name not in ds.data_vars or ds[name].attrs.get("role") == "parameter":
        names = series_names(ds)
        close = difflib.get_close_matches(str(name), names, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ScenarioError(f"is not an output of this run; {hint}allowed: {', '.join(names)}",
                            key=key, value=name)
    da = ds[name]
    if "time" in da.dims:
        da = da.isel(time=at_month(ds, at))
    elif at is not None:
        raise ScenarioError(f"output {name!r} has no time axis (one value per draw); leave out "
                            "--at", key="at", value=at)
    extra = [d for d in model_dims(ds, name) if d in da.dims]
    if extra:
        attrs = da.attrs
        da = da.sum(extra, skipna=False)
        da.attrs = attrs
    return da


def model_dims(ds: xr.Dataset, name: str) -> list[str]:
    """The dims the model gives output *name* besides ``time`` (e.g. ``region``).

    Sample dims, ``scenario``, ``quantile`` and swept keys are not model dims.

    >>> ds = xr.Dataset({"held": (("draw", "time", "region"), np.ones((2, 3, 2)))})
    >>> model_dims(ds, "held")
    ['region']
    """
    try:
        decls = {o.name: o for o in get_model(str(ds.attrs.get("model"))).info.outputs}
    except KeyError:
        decls = {}
    if name in decls:
        return [d for d in decls[name].dims if d != "time"]
    swept = json.loads(ds.attrs.get("swept", "{}"))
    skip = {"draw", "replicate", "scenario", "quantile", "time", *swept}
    return [str(d) for d in ds[name].dims if d not in skip]


def jsonable(value: Any) -> Any:
    """Numbers and strings for JSON attrs (numpy scalars become Python ones)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    return value


def check_output_at(scenario: Scenario, output: str, at: str | None) -> Scenario:
    """Fail fast on a bad ``--output`` / ``--at`` pair, before anything runs.

    Returns the scenario keeping *output*.

    >>> import threatsim
    >>> sc = threatsim.load_scenario("scenarios/financing.toml")
    >>> check_output_at(sc, "reserves", "2020-01").name
    'financing'
    """
    scenario = require_output(scenario, output)
    decl = {o.name: o for o in get_model(scenario.model).info.outputs}[output]
    if at is not None:
        if "time" not in decl.dims:
            raise ScenarioError(f"output {output!r} has no time axis (one value per draw); "
                                "leave out --at", key="at", value=at)
        scenario.month_of(at, key="at")
    return scenario

"""Sweeps: run a scenario over a grid of key values, with common random numbers.

Each point of the grid is the scenario with some keys replaced
(:meth:`Scenario.with_values`, which revalidates), run with the same seed,
draws and chunk size as every other point. The result has one dim per swept
key, so ``ds.reserves.sel({"levers.seizure_effort": 2.0})`` is one run and
differences along a swept dim are paired, draw by draw.

Grid text (the CLI's ``--set``)::

    levers.courts=5:40:5          start:stop:step, stop included when on the grid
    levers.courts=5,10,20         a list
    parameters.fighters.dist=uniform,pert
    levers.courts=10              one value (a dim of length 1)
    parameters.reserves_initial.range=[50e6,300e6],[100e6,200e6]
                                  arrays (TOML syntax), for a range
"""

from __future__ import annotations

import dataclasses
import difflib
import itertools
import json
import math
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from threatsim.analysis._common import jsonable, outcome_series, when_label
from threatsim.core.errors import ScenarioError
from threatsim.core.formatting import format_value
from threatsim.engine.executors import ExecutorArg
from threatsim.engine.options import RunOptions
from threatsim.engine.progress import Progress, ProgressArg
from threatsim.engine.runner import run_with
from threatsim.inputs.scenario import Scenario
from threatsim.models.registry import get_model
from threatsim.results import Posterior, sample_dims

__all__ = ["parse_set", "sweep", "valid_keys"]

_INT = re.compile(r"^[+-]?\d+$")
_PARAM_FIELDS = ("dist", "range", "value", "mode", "values", "weights")
_MAX_POINTS = 10_000


def _scalar(text: str) -> Any:
    text = text.strip()
    if _INT.match(text.replace("_", "")):
        return int(text.replace("_", ""))
    try:
        return float(text.replace("_", ""))
    except ValueError:
        pass
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    return text


def _arange(key: str, spec: str) -> list[Any]:
    parts = spec.split(":")
    nums = [_scalar(p) for p in parts]
    if len(parts) != 3 or not all(isinstance(x, (int, float)) and not isinstance(x, bool)
                                  for x in nums):
        raise ScenarioError("must be start:stop:step with three numbers (e.g. 0:0.05:0.01), "
                            "a list a,b,c, or one value", key=key, value=spec)
    start, stop, step = nums
    if not all(math.isfinite(x) for x in nums) or step <= 0 or stop < start:
        raise ScenarioError("needs step > 0 and start <= stop", key=key, value=spec)
    count = math.floor((stop - start) / step * (1 + 1e-12) + 1e-9) + 1
    if count > _MAX_POINTS:
        raise ScenarioError(f"makes {count:,} points; at most {_MAX_POINTS:,}", key=key,
                            value=spec)
    if all(isinstance(x, int) for x in nums):
        return [start + i * step for i in range(count)]
    # Round to 12 significant digits so 0.1 + 2 * 0.1 reads 0.3, not 0.30000000000000004.
    return [float(f"{start + i * step:.12g}") for i in range(count)]


def parse_set(text: str) -> tuple[str, list[Any]]:
    """``"key=spec"`` -> ``(key, values)`` (see the module docstring for specs).

    >>> parse_set("levers.courts=5:20:5")
    ('levers.courts', [5, 10, 15, 20])
    >>> parse_set("parameters.fighters.dist=uniform,pert")
    ('parameters.fighters.dist', ['uniform', 'pert'])
    >>> parse_set("parameters.reserves_initial.range=[50e6, 300e6], [1e8, 2e8]")
    ('parameters.reserves_initial.range', [[50000000.0, 300000000.0], [100000000.0, 200000000.0]])
    """
    key, sep, spec = text.partition("=")
    key, spec = key.strip(), spec.strip()
    if not sep or not key or not spec:
        raise ScenarioError("must be key=values, e.g. levers.seizure_effort=1:3:0.5",
                            key="set", value=text)
    if spec.startswith("["):  # arrays, e.g. ranges: [1, 2], [2, 3]
        try:
            arrays = tomllib.loads(f"v = [{spec}]")["v"]
        except tomllib.TOMLDecodeError:
            arrays = None
        if not arrays or not all(isinstance(a, list) for a in arrays):
            raise ScenarioError("must be arrays written as in TOML, e.g. "
                                "parameters.NAME.range=[1, 2],[2, 4]", key=key, value=spec)
        return key, arrays
    if ":" in spec:
        return key, _arange(key, spec)
    values = [_scalar(v) for v in spec.split(",")]
    if any(v == "" for v in values):
        raise ScenarioError("has an empty value in its list", key=key, value=spec)
    return key, values


def _leaves(table: Any, prefix: str = "") -> list[str]:
    if isinstance(table, dict):
        out: list[str] = []
        for key, value in table.items():
            out += _leaves(value, f"{prefix}{key}.")
        return out
    return [prefix[:-1]]


def valid_keys(scenario: Scenario) -> list[str]:
    """Keys a sweep may set: the scenario's own, every lever, each parameter's fields.

    >>> import threatsim
    >>> sc = threatsim.load_scenario("scenarios/financing.toml")
    >>> "levers.seizure_effort" in valid_keys(sc), "model" in valid_keys(sc)
    (True, False)
    """
    keys = set(_leaves(scenario.resolved))
    info = get_model(scenario.model).info
    keys |= {f"levers.{d.name}" for d in info.levers}
    keys |= {f"parameters.{p}.{f}" for p in scenario.parameters for f in _PARAM_FIELDS}
    keys -= {"name", "description", "model", "start", "horizon", "extends"}
    # run.* are the same for every point (one set of run options for the whole grid)
    keys = {k for k in keys if not k.startswith(("sources", "timeline", "outputs", "run."))}
    return sorted(keys)


def _check_key(scenario: Scenario, key: str, values: Any) -> None:
    allowed = valid_keys(scenario)
    if key in allowed:
        return
    if key.startswith("run."):  # one set of run options serves every point of the grid
        raise ScenarioError("cannot be swept: every point of a sweep runs with the same run "
                            "settings (give them once: --draws, --seed, --sampler)", key=key,
                            value=values)
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.5)
    hint = f"did you mean {close[0]!r}? " if close else ""
    levers = ", ".join(k for k in allowed if k.startswith("levers."))
    raise ScenarioError(f"is not a key this scenario can sweep; {hint}levers: {levers}; "
                        "parameters: parameters.<name>.dist|range|value|mode", key=key,
                        value=values)


def _coord(values: Sequence[Any]) -> np.ndarray:
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return np.asarray(values)
    return np.asarray([v if isinstance(v, str) else json.dumps(v) for v in values])


def sweep(
    scenario: Scenario,
    grid: Mapping[str, Sequence[Any]],
    *,
    draws: int | None = None,
    seed: int | None = None,
    sampler: str | None = None,
    chunk_size: int | None = None,
    replicates: int | None = None,
    executor: ExecutorArg = None,
    progress: ProgressArg = None,
    posterior: Posterior | str | os.PathLike[str] | None = None,
) -> xr.Dataset:
    """Run *scenario* at every point of *grid* (key -> values) with common random numbers.

    *progress* counts the draws of every point's run, with a line as each point
    ends (:mod:`threatsim.engine.progress`): ``True``, a bar on stderr; ``None``,
    that when stderr is a terminal; a callable ``progress(done, total, label)``;
    ``False``: nothing. Default ``None``.

    *posterior*: a posterior sample (or its file) that drives every point with
    the same resample, draw by draw; a point that changes a sampled parameter
    is refused before anything runs (docs/calibration.md).

    Returns
    -------
    xarray.Dataset
        Every output and sampled parameter with one leading dim per swept
        key (named by the key, e.g. ``levers.seizure_effort``; its attrs
        give the key), then the run's own dims. attrs: the base scenario's,
        plus ``swept`` (JSON key -> values).

    Raises
    ------
    ScenarioError
        An empty grid, a key the scenario cannot take (with the closest
        valid key), or a value the scenario refuses (outside a lever's
        bounds or a parameter's support), before anything runs.

    Examples
    --------
    >>> import threatsim
    >>> sc = threatsim.load_scenario("scenarios/financing.toml")
    >>> ds = sweep(sc, {"levers.seizure_effort": [1, 2, 3]}, draws=200)
    >>> ds.reserves.sel({"levers.seizure_effort": 2}).dims
    ('draw', 'time')
    """
    if not grid:
        raise ScenarioError("needs at least one key to sweep", key="set", value={})
    keys = list(grid)
    values = {k: list(grid[k]) for k in keys}
    for key in keys:
        _check_key(scenario, key, values[key])
        if not values[key]:
            raise ScenarioError("needs at least one value", key=key, value=[])
    shape = tuple(len(values[k]) for k in keys)
    if math.prod(shape) > _MAX_POINTS:
        raise ScenarioError(f"has {math.prod(shape):,} points; at most {_MAX_POINTS:,}",
                            key="set", value=dict(zip(keys, shape, strict=True)))
    # Validate every point before running any.
    points: list[Scenario] = []
    for combo in itertools.product(*(values[k] for k in keys)):
        overrides = dict(zip(keys, combo, strict=True))
        try:
            points.append(scenario.with_values(overrides))
        except ScenarioError as exc:
            why = ScenarioError(exc.expected, key=exc.key, value=exc.value, problems=exc.problems)
            raise ScenarioError(f"the sweep point {json.dumps(jsonable(overrides))} is not a "
                                f"valid scenario: {why}", path=scenario.path) from None
    # One set of run options, the base scenario's where not given, for every point:
    # the same draws, seed and chunks everywhere (a falsy value: the base's too).
    options = RunOptions.build(scenario, draws=draws or None, seed=seed,
                               sampler=sampler or None, chunk_size=chunk_size or None,
                               replicates=replicates or None, executor=executor,
                               progress=False, posterior=posterior)
    if options.posterior is not None:
        for sc in points:
            options.posterior.check(sc)
    runs = []
    combos = list(itertools.product(*(values[k] for k in keys)))
    with Progress(len(points) * options.draws, progress=progress,
                  label=f"sweep of {scenario.name}") as bar:
        for i, (sc, combo) in enumerate(zip(points, combos, strict=True)):
            runs.append(run_with(sc, dataclasses.replace(options, progress=bar.part())))
            where = ", ".join(f"{k}={v}" for k, v in zip(keys, combo, strict=True))
            bar.advance(0, line=f"sweep point {i + 1} of {len(points)} done: {where}")
    first = runs[0]
    names = [n for n in first.data_vars if all(n in r for r in runs)]
    data: dict[str, xr.Variable] = {}
    for name in names:
        var = first[name]
        stacked = np.stack([r[name].values for r in runs]).reshape(*shape, *var.shape)
        data[str(name)] = xr.Variable((*keys, *var.dims), stacked, attrs=var.attrs)
    coords: dict[str, Any] = {str(k): v for k, v in first.coords.items()}
    for key in keys:
        coords[key] = xr.Variable((key,), _coord(values[key]), attrs={"key": key})
    attrs = dict(first.attrs)
    attrs.update({
        "title": f"threatsim sweep of scenario {scenario.name!r}",
        "scenario_name": scenario.name,
        "run_id": (scenario.run_id if options.posterior is None
                   else options.posterior.run_id(scenario.run_id)),
        "resolved_scenario": scenario.resolved_json,
        "swept": json.dumps({k: jsonable(values[k]) for k in keys}),
    })
    return xr.Dataset(data, coords=coords, attrs=attrs)


def sweep_table(ds: xr.Dataset, output: str, at: str | None = None,
                quantiles: Sequence[float] = (0.05, 0.5, 0.95)) -> str:
    """The text ``threatsim sweep`` prints: bands of *output* at month *at* per grid point.

    >>> import threatsim
    >>> sc = threatsim.load_scenario("scenarios/financing.toml")
    >>> ds = sweep(sc, {"levers.seizure_effort": [1, 2]}, draws=200)
    >>> len(sweep_table(ds, "reserves").splitlines())
    4
    """
    keys = list(json.loads(ds.attrs["swept"]))
    da = outcome_series(ds, output, at)
    unit = da.attrs.get("units", "")
    b = da.quantile(list(quantiles), dim=sample_dims(da))
    when = when_label(ds, output, at)
    lines = [f"sweep of {ds.attrs['scenario_name']!r}: {output} ({unit}){when}, "
             f"{ds.sizes['draw']:,} draws per point, seed {ds.attrs['seed']} "
             "(common random numbers)"]
    width = max(len(k) for k in keys) + 2
    lines.append("".join(f"{k:>{max(width, 12)}}" for k in keys)
                 + "".join(f"{f'{q:.0%}':>12}" for q in quantiles))
    for combo in itertools.product(*(range(ds.sizes[k]) for k in keys)):
        sel = dict(zip(keys, combo, strict=True))
        point = b.isel(sel)
        lines.append("".join(f"{ds[k].values[i]!s:>{max(width, 12)}}"
                             for k, i in sel.items())
                     + "".join(f"{format_value(float(point.sel(quantile=q)), unit, short=True):>12}"
                               for q in quantiles))
    return "\n".join(lines)

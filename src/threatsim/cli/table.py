"""The text table ``threatsim run`` prints, from every draw or from a summary.

Both forms go through one row printer: the bands, their Monte Carlo standard
errors and P(= 0) come from the draws (computed here) or from the summary
Dataset (computed by the engine while the chunks streamed past).
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Sequence

import numpy as np
import xarray as xr

from threatsim.core.formatting import format_band, format_se, printable
from threatsim.results import bands, mcse_quantile

__all__ = ["split_compartments", "summary_series", "summary_table"]

#: Dims shown entry by entry (summed over the other model dims): a population by
#: compartment, returnees by origin group, people by nationality (with two of them, one
#: entry per pair; origin groups and nationalities with nobody in them are left out).
_SPLIT_DIMS = ("compartment", "origin", "nationality")
_SKIP_EMPTY = ("origin", "nationality")
#: The bands a table shows when the scenario asks for them.
_TABLE_QUANTILES = (0.05, 0.5, 0.95)


def summary_series(ds: xr.Dataset) -> list[str]:
    """The banded series of a summary to draw: one per output, region totals when present.

    >>> ds = xr.Dataset({"reserves": (("quantile", "time"), np.zeros((3, 2))),
    ...                  "p_zero_reserves": (("time",), np.zeros(2))})
    >>> summary_series(ds)
    ['reserves']
    """
    return [str(n) for n, v in ds.data_vars.items()
            if v.dims == ("quantile", "time") and not str(n).startswith(("p_zero_", "mcse_"))]


def _split_parts(da: xr.DataArray, keep: tuple[str, ...]) -> list[tuple[str, xr.DataArray]]:
    """(entry, series) per entry of *da*'s split dims, other model dims summed."""
    splits = [d for d in _SPLIT_DIMS if d in da.dims]
    extra = [d for d in da.dims if d not in (*keep, *splits)]
    total = da.sum(extra, keep_attrs=True) if extra else da
    parts = [(" ".join(str(c) for c in combo),
              total.sel(dict(zip(splits, combo, strict=True)), drop=True))
             for combo in itertools.product(*(da[s].values for s in splits))]
    skip = any(s in _SKIP_EMPTY for s in splits)
    return [(c, part) for c, part in parts if not skip or bool(part.any())]


def _summary_items(ds: xr.Dataset) -> list[tuple[str, xr.DataArray]]:
    """Outputs to print, model dims summed; one item per compartment (origin) where there is one."""
    items = []
    for name, da in ds.data_vars.items():
        if da.attrs.get("role") == "parameter":
            continue
        if any(d in da.dims for d in _SPLIT_DIMS):  # e.g. population: all regions together
            items += [(f"{name} {c}", part)
                      for c, part in _split_parts(da, ("draw", "replicate", "time"))]
            continue
        extra = [d for d in da.dims if d not in ("draw", "replicate", "time")]
        items.append((str(name), da.sum(extra, keep_attrs=True) if extra else da))
    return items


def split_compartments(ds: xr.Dataset, series: list[str]) -> tuple[xr.Dataset, list[str]]:
    """One series per compartment (origin group) for variables with such a dim.

    A population summed over its compartments is only the people ever counted;
    the planner reads the compartments (active, detained, imprisoned...), each
    summed over regions.

    >>> ds = xr.Dataset({"population": (("draw", "region", "compartment"), np.ones((2, 3, 2)))},
    ...                 coords={"compartment": ["active", "detained"]})
    >>> split_compartments(ds, ["population"])[1]
    ['population_active', 'population_detained']
    """
    out, names = ds, []
    for name in series:
        if not any(d in ds[name].dims for d in _SPLIT_DIMS):
            names.append(name)
            continue
        for comp, part in _split_parts(ds[name], ("draw", "replicate", "time", "quantile")):
            label = f"{name}_{comp.replace(' ', '_')}"
            out = out.assign({label: part})
            names.append(label)
    return out, names


def _series_rows(name: str, unit: str, months: list[str], b: xr.DataArray,
                 se: xr.DataArray | None, zero: xr.DataArray | None,
                 qs: list[float]) -> list[str]:
    """A banded series: a header, then one row per report month (*b*, *se*, *zero* on them)."""
    width = 17 if se is not None else 10
    head = f"{name} ({unit})" + ("; ± Monte Carlo standard error" if se is not None else "")
    header = "  ".join(f"{f'{q:.0%}':>{width}}" for q in qs)
    lines = [f"\n{head}\n  {'month':<8}{header}" + (f"{'P(=0)':>9}" if zero is not None else "")]
    for i, month in enumerate(months):
        cells = [format_band(float(b.isel(time=i).sel(quantile=q)), unit) for q in qs]
        if se is not None:
            cells = [c + format_se(float(se.isel(time=i).sel(quantile=q)), unit)
                     for c, q in zip(cells, qs, strict=True)]
        row = "  ".join(f"{c:>{width}}" for c in cells)
        tail = f"{float(zero.isel(time=i)):>9.1%}" if zero is not None else ""
        lines.append(f"  {month:<8}{row}{tail}")
    return lines


def _reached_line(name: str, unit: str, da: xr.DataArray, qs: list[float],
                  mcse: bool) -> str:
    """A per-draw scalar that may never happen (NaN): the share reached and its bands."""
    finite = da.notnull()
    share = float(finite.mean())
    text = f"\n{name} ({unit}): reached in {share:.1%} of draws"
    if share > 0:
        vals = da.where(finite).quantile(qs, dim=list(da.dims)).values
        ses = mcse_quantile(da, qs).values if mcse else [math.nan] * len(qs)
        text += "; when reached: " + ", ".join(
            f"{q:.0%} {v:,.1f}{format_se(float(e), '')}"
            for q, v, e in zip(qs, vals, ses, strict=True))
    return text


def _name(ds: xr.Dataset) -> str:
    """The run's scenario name for the table's head: quoted, on one line, not too long."""
    return f"'{printable(ds.attrs.get('scenario_name', ''))}'"


def _posterior_line(ds: xr.Dataset) -> list[str]:
    """What a run on a posterior was conditioned on (nothing for other runs)."""
    if "posterior_id" not in ds.attrs:
        return []
    try:
        ids = json.loads(str(ds.attrs.get("posterior_observations", "[]")))
    except ValueError:
        ids = []
    src = ds.attrs.get("posterior_observation_file") or "an observation file"
    return [f"parameters drawn from posterior {ds.attrs['posterior_id']} "
            f"({ds.attrs.get('posterior_file') or 'in memory'}; "
            f"{ds.attrs.get('posterior_method', '')}, conditioned on {len(ids)} observation"
            f"{'s' if len(ids) != 1 else ''} of {src}: {', '.join(map(str, ids))})"]


def summary_table(ds: xr.Dataset, *, quantiles: Sequence[float],
                  report_months: Sequence[int], mcse: bool = True) -> str:
    """The compact text table ``threatsim run`` prints.

    With ``mcse`` every band carries its Monte Carlo standard error (``±``,
    same unit; :func:`threatsim.analysis.convergence.mcse_quantile`). A summary
    Dataset (``keep="summary"``) is printed from the bands it holds, with the
    standard errors it holds.

    >>> import threatsim
    >>> sc = threatsim.load_scenario("scenarios/financing.toml")
    >>> ds = threatsim.run(sc, draws=200, seed=1, progress=False)
    >>> print(summary_table(ds, quantiles=[0.05, 0.5, 0.95], report_months=[0])
    ...       .splitlines()[0])  # doctest: +ELLIPSIS
    scenario 'financing' (run ...): 200 draws, seed 1, sampler ...
    """
    qs = [q for q in quantiles if q in _TABLE_QUANTILES] or list(quantiles)
    months = [str(np.datetime64(ds.time.values[i], "M")) for i in report_months]
    at = list(report_months)
    if ds.attrs.get("keep") == "summary":  # bands already computed, no draws
        lines = [f"scenario {_name(ds)} (run {ds.attrs.get('run_id', '')}): "
                 f"{ds.attrs.get('draws', 0):,} draws, seed {ds.attrs.get('seed')}, sampler "
                 f"{ds.attrs.get('sampler')} (summary kept: exact bands from streamed chunks)"]
        lines += _posterior_line(ds)
        banded = set(summary_series(ds))
        for name, da in ds.data_vars.items():
            if da.attrs.get("role") == "parameter" or str(name).startswith(("p_zero_", "mcse_")):
                continue
            unit = da.attrs.get("units", "")
            if name in banded:
                se = ds.get(f"mcse_{name}")
                pz = ds.get(f"p_zero_{name}")
                lines += _series_rows(
                    str(name), unit, months, da.isel(time=at).sel(quantile=qs),
                    se.isel(time=at).sel(quantile=qs) if se is not None else None,
                    pz.isel(time=at) if pz is not None else None, qs)
            elif "draw" in da.dims and "time" not in da.dims:
                lines.append(_reached_line(str(name), unit, da, qs, mcse=True))
        return "\n".join(lines)
    run_id, draws = ds.attrs.get("run_id", ""), ds.sizes["draw"]
    lines = [f"scenario {_name(ds)} (run {run_id}): {draws:,} draws, "
             f"seed {ds.attrs.get('seed')}, sampler {ds.attrs.get('sampler')}"]
    lines += _posterior_line(ds)
    for name, da in _summary_items(ds):
        unit = da.attrs.get("units", "")
        if "time" in da.dims:
            sub = da.isel(time=at)
            zero = None
            if da.attrs.get("kind") == "stock":
                zero = (sub == 0).mean([d for d in ("draw", "replicate") if d in sub.dims])
            lines += _series_rows(name, unit, months, bands(sub, qs),
                                  mcse_quantile(sub, qs) if mcse else None, zero, qs)
        else:
            lines.append(_reached_line(name, unit, da, qs, mcse))
    return "\n".join(lines)

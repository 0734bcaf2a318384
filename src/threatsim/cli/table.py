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

import xarray as xr

from threatsim.core.formatting import format_estimate, printable
from threatsim.outputs.bands_table import BandRow, band_rows, split_parts
from threatsim.results import SPLIT_DIMS

__all__ = ["render_rows", "split_compartments", "summary_series", "summary_table"]


def summary_series(ds: xr.Dataset) -> list[str]:
    """The banded series of a summary to draw: one per output, region totals when present.

    >>> import numpy as np
    >>> ds = xr.Dataset({"reserves": (("quantile", "time"), np.zeros((3, 2))),
    ...                  "p_zero_reserves": (("time",), np.zeros(2))})
    >>> summary_series(ds)
    ['reserves']
    """
    return [str(n) for n, v in ds.data_vars.items()
            if v.dims == ("quantile", "time") and not str(n).startswith(("p_zero_", "mcse_"))]


def split_compartments(ds: xr.Dataset, series: list[str]) -> tuple[xr.Dataset, list[str]]:
    """One series per compartment (origin group) for variables with such a dim.

    A population summed over its compartments is only the people ever counted;
    the planner reads the compartments (active, detained, imprisoned...), each
    summed over regions.

    >>> import numpy as np
    >>> ds = xr.Dataset({"population": (("draw", "region", "compartment"), np.ones((2, 3, 2)))},
    ...                 coords={"compartment": ["active", "detained"]})
    >>> split_compartments(ds, ["population"])[1]
    ['population_active', 'population_detained']
    """
    out, names = ds, []
    for name in series:
        if not any(d in ds[name].dims for d in SPLIT_DIMS):
            names.append(name)
            continue
        for comp, part in split_parts(ds[name], ("draw", "replicate", "time", "quantile")):
            label = f"{name}_{comp.replace(' ', '_')}"
            out = out.assign({label: part})
            names.append(label)
    return out, names


def _series_lines(group: list[BandRow]) -> list[str]:
    """A banded series: a header, then one row per report month."""
    first = group[0]
    qs = list(first.quantiles)
    has_se = any(math.isfinite(e) for row in group for e in row.se.values())
    zero = any(row.p_zero is not None for row in group)
    cells = [[format_estimate(row.values[q], row.se[q] if has_se else None, row.unit)
              for q in qs] for row in group]
    width = max([10, *(len(c) + 1 for line in cells for c in line)])
    head = f"{first.label} ({first.unit})" + (
        "; ± Monte Carlo standard error" if has_se else "")
    header = "  ".join(f"{f'{q:.0%}':>{width}}" for q in qs)
    lines = [f"\n{head}\n  {'month':<8}{header}" + (f"{'P(=0)':>9}" if zero else "")]
    for row, line in zip(group, cells, strict=True):
        tail = f"{row.p_zero:>9.1%}" if row.p_zero is not None else ""
        lines.append(f"  {row.month:<8}" + "  ".join(f"{c:>{width}}" for c in line) + tail)
    return lines


def _reached_line(row: BandRow) -> str:
    """A per-draw output that may never happen (NaN): the share reached, and its bands over
    the draws where it was reached (say so: not over every draw)."""
    share = row.reached or 0.0
    count = row.draws_over or 0
    text = f"\n{row.label} ({row.unit}): reached in {share:.1%} of draws"
    if count:
        total = round(count / share)
        has_se = any(math.isfinite(e) for e in row.se.values())
        cells = [f"{q:.0%} "
                 f"{format_estimate(row.values[q], row.se[q] if has_se else None, row.unit)}"
                 for q in row.quantiles]
        text += f" ({count:,} of {total:,}); bands over those {count:,} draws only: " + \
            ", ".join(cells)
    return text


#: Said under the table when two outputs' "reached" bands are over different draws.
_REACHED_NOTE = ("\nnote: each \"reached\" line's bands are over only the draws where that "
                 "output was reached, so two lines are over different draws and need not be "
                 "ordered (a 90th-percentile wait, reached in fewer draws, can be below a "
                 "median wait)")


def render_rows(rows: list[BandRow]) -> list[str]:
    """The table's lines for *rows* (:func:`threatsim.outputs.bands_table.band_rows`)."""
    lines: list[str] = []
    reached_counts = set()
    for _, grouped in itertools.groupby(rows, key=lambda r: (r.output, r.entry, bool(r.month))):
        group = list(grouped)
        if group[0].month:
            lines += _series_lines(group)
        else:
            for row in group:
                lines.append(_reached_line(row))
                reached_counts.add(row.draws_over)
    if len(reached_counts) > 1:
        lines.append(_REACHED_NOTE)
    return lines


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
    rows = band_rows(ds, quantiles=quantiles, report_months=report_months, mcse=mcse)
    if ds.attrs.get("keep") == "summary":  # bands already computed, no draws
        lines = [f"scenario {_name(ds)} (run {ds.attrs.get('run_id', '')}): "
                 f"{ds.attrs.get('draws', 0):,} draws, seed {ds.attrs.get('seed')}, sampler "
                 f"{ds.attrs.get('sampler')} (summary kept: exact bands from streamed chunks)"]
    else:
        lines = [f"scenario {_name(ds)} (run {ds.attrs.get('run_id', '')}): "
                 f"{ds.sizes['draw']:,} draws, seed {ds.attrs.get('seed')}, "
                 f"sampler {ds.attrs.get('sampler')}"]
    lines += _posterior_line(ds)
    lines += render_rows(rows)
    return "\n".join(lines)

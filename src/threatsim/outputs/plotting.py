"""Pictures planners read: fan charts, comparisons, tornado charts, sweeps, exceedance curves.

Readable without colour: bands are shades of one grey-blue (lighter = wider),
medians are solid black lines; a second scenario is drawn with dashed lines
and hatched bands; heat maps print their value in every cell and use
cividis, whose lightness rises steadily, so they survive a grey printer.
Every function takes a Dataset (or an analysis result) and returns a
matplotlib Figure; :func:`save_figures` writes PNG and SVG.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: the CLI and tests run without a screen

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from threatsim.analysis._common import model_dims, outcome_series
from threatsim.analysis.discovery import PrimResult
from threatsim.core.atomic import atomic_path
from threatsim.core.errors import ScenarioError
from threatsim.core.formatting import format_value
from threatsim.outputs import charts as _charts
from threatsim.results import bands, sample_dims

__all__ = [
    "comparison_chart",
    "exceedance_chart",
    "fan_chart",
    "prim_chart",
    "save_figure",
    "save_figures",
    "sweep_heatmap",
    "tornado_chart",
]

_SAMPLE = ("draw", "replicate")
# The helpers every chart shares live in threatsim.outputs.charts (one place for units,
# labels and fans): the planner's charts and these analysis pictures draw alike.
_scale = _charts.scale_of
_text = _charts.text
_label = _charts.label
_month_x = _charts.month_x
_draw_fan = _charts.draw_fan


def _model_dims(ds: xr.Dataset, name: str) -> list[str]:
    return model_dims(ds, name)


def _marks(ax: Any, marks: Sequence[tuple[str, str]]) -> None:
    for month, text in marks:
        x = _month_x(month)
        ax.axvline(x, color="black", ls=":", lw=1)
        ax.annotate(text, (x, 1.0), xycoords=("data", "axes fraction"), fontsize=7,
                    rotation=90, va="top", ha="right")


def fan_chart(ds: xr.Dataset, variables: Sequence[str] | str, *,
              quantiles: Sequence[float] = (0.05, 0.25, 0.5, 0.75, 0.95),
              marks: Sequence[tuple[str, str]] = (), by: str | None = None) -> Figure:
    """Fan chart(s): nested quantile bands over ``time``, one panel per variable.

    Model dims beyond ``time`` (``region``...) are summed over, except *by*:
    with ``by="region"`` each variable gets one panel per region (small
    multiples, one row per variable). ``marks`` are ``(YYYY-MM, label)``
    pairs drawn as vertical lines (report dates).

    >>> import matplotlib.pyplot as plt
    >>> import threatsim
    >>> sc = threatsim.load_scenario("scenarios/financing.toml")

    >>> fig = fan_chart(threatsim.run(sc, draws=50), "reserves")
    >>> len(fig.axes)
    1
    >>> plt.close(fig)
    """
    names = [variables] if isinstance(variables, str) else list(variables)
    qs = sorted(quantiles)
    cols = list(ds[by].values) if by is not None and by in ds.dims else [None]
    width = min(len(cols), 3)  # small multiples wrap after three panels
    per = -(-len(cols) // width)  # rows per variable
    fig, grid = plt.subplots(len(names) * per, width,
                             figsize=(7.5 if width == 1 else 4.6 * width + 0.6,
                                      2.8 * len(names) * per),
                             squeeze=False, sharex=True)
    for r in range(len(names)):
        for k in range(len(cols), width * per):
            grid[r * per + k // width, k % width].set_visible(False)
    axes = np.array([[grid[r * per + c // width, c % width] for c in range(len(cols))]
                     for r in range(len(names))])
    t = ds["time"].values
    for r, name in enumerate(names):
        full = ds[name]
        for c, coord in enumerate(cols):
            ax = axes[r, c]
            ax.xaxis.set_major_locator(
                mdates.AutoDateLocator(minticks=3, maxticks=7))  # type: ignore[no-untyped-call]
            da = full
            if coord is not None and by in da.dims:
                da = da.sel({by: coord})
            extra = [d for d in _model_dims(ds, name) if d in da.dims]
            if extra:
                da = da.sum(extra)
            scale, label = _scale(full.attrs.get("units", ""))
            b = (da.sel(quantile=qs) if "quantile" in da.dims else bands(da, qs)) / scale
            _draw_fan(ax, t, b, qs, labelled=(r == 0 and c == 0))
            _marks(ax, marks)
            if c % width == 0:
                ax.set_ylabel(f"{name}\n({label})")
            if coord is not None:
                ax.set_title(f"{by} = {coord}", fontsize=9)
            ax.grid(True, color="0.85", lw=0.5)
            ax.set_ylim(bottom=min(0.0, float(b.min())))
    axes[0, 0].legend(loc="upper right", fontsize=7, frameon=False)
    title = _label(ds.attrs.get("scenario_name", ""))
    head = f"{title}: {ds.sizes['draw']:,} draws"
    if cols == [None]:
        axes[0, 0].set_title(head, fontsize=9)
    else:
        fig.suptitle(head, fontsize=10)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def comparison_chart(cds: xr.Dataset, variables: Sequence[str] | str | None = None, *,
                     quantiles: Sequence[float] = (0.05, 0.25, 0.5, 0.75, 0.95),
                     marks: Sequence[tuple[str, str]] = ()) -> Figure:
    """Base against what-if (left) and the paired difference (right), one row per variable.

    *cds* comes from :func:`threatsim.compare`. Left: the base's bands
    filled, its median solid; the what-if's 5-95 % band hatched and its
    median dashed. Right: the fan of the draw-by-draw difference what-if -
    base, with a line at zero.

    >>> import matplotlib.pyplot as plt
    >>> import threatsim
    >>> sc = threatsim.load_scenario("scenarios/financing.toml")

    >>> cds = threatsim.compare(sc, sc.with_values({"levers.seizure_effort": 2.0}), draws=50)
    >>> fig = comparison_chart(cds, "reserves")
    >>> plt.close(fig)
    """
    compared = json.loads(cds.attrs["compared"])
    if variables is None:
        names = [n for n in compared if "time" in cds[n].dims]
    else:
        names = [variables] if isinstance(variables, str) else list(variables)
    for n in names:
        if n not in compared or "time" not in cds[n].dims:
            raise ScenarioError(f"is not a monthly output of this comparison "
                                f"({', '.join(c for c in compared if 'time' in cds[c].dims)})",
                                key="variable", value=n)
    qs = sorted(quantiles)
    fig, axes = plt.subplots(len(names), 2, figsize=(12, 2.9 * len(names)), squeeze=False,
                             sharex=True)
    t = cds["time"].values
    for r, name in enumerate(names):
        extra = [d for d in _model_dims(cds, name) if d in cds[name].dims]
        da = cds[name].sum(extra) if extra else cds[name]
        diff = cds[f"{name}_diff"].sum(extra) if extra else cds[f"{name}_diff"]
        scale, label = _scale(cds[name].attrs.get("units", ""))
        left, right = axes[r]
        base = bands(da.sel(scenario="base"), qs) / scale
        what = bands(da.sel(scenario="whatif"), qs) / scale
        _draw_fan(left, t, base, qs, labelled=(r == 0))
        lo, hi = qs[0], qs[-1]
        left.fill_between(t, what.sel(quantile=lo).values, what.sel(quantile=hi).values,
                          facecolor="none", edgecolor="0.2", hatch="///", linewidth=0.6,
                          label=f"what-if {hi - lo:.0%} band" if r == 0 else None)
        if 0.5 in qs:
            left.plot(t, what.sel(quantile=0.5).values, color="black", ls="--", lw=1.5,
                      label="what-if median" if r == 0 else None)
        left.set_ylabel(f"{name}\n({label})")
        left.set_ylim(bottom=min(0.0, float(min(base.min(), what.min()))))
        db = bands(diff, qs) / scale
        _draw_fan(right, t, db, qs, labelled=False)
        right.axhline(0.0, color="black", lw=0.8)
        right.set_ylabel(f"what-if - base\n({label})")
        for ax in (left, right):
            _marks(ax, marks)
            ax.grid(True, color="0.85", lw=0.5)
    axes[0, 0].legend(loc="upper right", fontsize=7, frameon=True, framealpha=0.9)
    axes[0, 0].set_title(f"{_label(cds.attrs['base_name'])} (filled, solid) vs "
                         f"{_label(cds.attrs['whatif_name'])} (hatched, dashed)", fontsize=9)
    axes[0, 1].set_title(f"paired difference, {cds.sizes['draw']:,} draws with common "
                         "random numbers", fontsize=9)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def tornado_chart(sds: xr.Dataset, *, top: int = 12) -> Figure:
    """Tornado of rank correlations, Sobol indices with intervals, and the readings row.

    *sds* comes from :func:`threatsim.sensitivity`. Parameters are sorted by
    total Sobol index (by ``|rank correlation|`` when there are no indices);
    at most *top* are shown.

    >>> import matplotlib.pyplot as plt
    >>> import threatsim
    >>> sc = threatsim.load_scenario("scenarios/financing.toml")

    >>> sds = threatsim.sensitivity(sc, "reserves", at="2020-06", n=16, draws=50, n_resamples=9)
    >>> fig = tornado_chart(sds, top=3)
    >>> plt.close(fig)
    """
    total = np.nan_to_num(sds["total_order"].values, nan=-1.0)
    rho = sds["spearman"].values
    order = np.lexsort((-np.nan_to_num(abs(rho)), -total))[:top][::-1]
    names = [str(sds["parameter"].values[i]) for i in order]
    panels = 3 if "readings" in sds else 2
    fig, axes = plt.subplots(1, panels, figsize=(5.0 * panels, 0.45 * len(names) + 1.8),
                             squeeze=False)
    axes = axes[0]
    y = np.arange(len(names))
    r = np.nan_to_num(rho[order])
    ax = axes[0]
    ax.barh(y, r, color=["0.35" if v >= 0 else "white" for v in r], edgecolor="black",
            hatch=None, height=0.6)
    for yi, v in zip(y, r, strict=True):
        ax.annotate(f"{v:+.2f}", (v, yi), xytext=(3 if v >= 0 else -3, 0),
                    textcoords="offset points", va="center", ha="left" if v >= 0 else "right",
                    fontsize=7)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(y, names, fontsize=8)
    ax.set_xlim(-1.1, 1.1)
    ax.set_xlabel("Spearman rank correlation\n(filled: output rises with it; open: falls)")
    ax = axes[1]
    first, tot = sds["first_order"].values[order], sds["total_order"].values[order]
    if np.isfinite(tot).any():
        f_lo = first - sds["first_order_low"].values[order]
        f_hi = sds["first_order_high"].values[order] - first
        t_lo = tot - sds["total_order_low"].values[order]
        t_hi = sds["total_order_high"].values[order] - tot
        ax.barh(y + 0.18, tot, height=0.34, color="white", edgecolor="black", label="total",
                xerr=[np.maximum(t_lo, 0), np.maximum(t_hi, 0)], capsize=2)
        ax.barh(y - 0.18, first, height=0.34, color="0.35", edgecolor="black",
                label="first order", xerr=[np.maximum(f_lo, 0), np.maximum(f_hi, 0)],
                capsize=2)
        ax.legend(loc="lower right", fontsize=7, frameon=False)
        ax.set_xlim(0, max(1.0, float(np.nanmax(sds["total_order_high"].values)) + 0.05))
    else:
        ax.text(0.5, 0.5, "no Sobol indices\n(" + str(sds.attrs.get("note", "")) + ")",
                ha="center", va="center", fontsize=7, wrap=True, transform=ax.transAxes)
    ax.set_yticks(y, [""] * len(names))
    ax.set_xlabel(f"Sobol index ({sds.attrs.get('confidence', 0.95):.0%} bootstrap interval)")
    for a in axes[:2]:
        a.grid(True, axis="x", color="0.85", lw=0.5)
    if panels == 3:
        ax = axes[2]
        rd = sds["readings"]
        scale, label = _scale(rd.attrs.get("units", ""))
        readings = [str(v) for v in rd["reading"].values]
        qs = [float(q) for q in rd["quantile"].values]
        markers = ["o", "s", "^", "D", "v", "P"]
        for i, reading in enumerate(readings):
            row = rd.sel(reading=reading).values / scale
            y_row = len(readings) - 1 - i
            ax.plot([row[0], row[-1]], [y_row, y_row], color="black", lw=1.2)
            if 0.5 in qs:
                ax.plot(row[qs.index(0.5)], y_row, marker=markers[i % len(markers)],
                        color="black", markerfacecolor="white" if i else "black", ls="none")
        ax.set_yticks(np.arange(len(readings))[::-1], readings, fontsize=8)
        ax.set_xlabel(f"{sds.attrs['output']} ({label}): {qs[0]:.0%}-{qs[-1]:.0%} and median")
        ax.set_title("reading of the report's ranges", fontsize=9)
        ax.grid(True, axis="x", color="0.85", lw=0.5)
    when = f" at {sds.attrs['at']}" if sds.attrs.get("at") else ""
    fig.suptitle(f"what moves {sds.attrs['output']}{when} ({_label(sds.attrs['scenario_name'])})",
                 fontsize=10)
    fig.tight_layout()
    return fig


def sweep_heatmap(sw: xr.Dataset, variable: str, *, at: str | None = None,
                  quantile: float = 0.5) -> Figure:
    """The *quantile* (default the median) of *variable* at *at* over the swept grid.

    One swept key: the fan of bands against the key's values. Two keys: a
    heat map with the value printed in each cell. Three: one heat map per
    value of the third key.

    >>> import matplotlib.pyplot as plt
    >>> import threatsim
    >>> sc = threatsim.load_scenario("scenarios/financing.toml")

    >>> sw = threatsim.sweep(sc, {"levers.seizure_effort": [1.0, 2.0]}, draws=20)
    >>> fig = sweep_heatmap(sw, "reserves", at="2020-01")
    >>> plt.close(fig)
    """
    keys = list(json.loads(sw.attrs["swept"]))
    da = outcome_series(sw, variable, at)
    unit = da.attrs.get("units", "")
    scale, label = _scale(unit)
    when = f" at {at}" if at else (
        f" at {np.datetime64(sw['time'].values[-1], 'M')}" if "time" in sw[variable].dims else "")
    if len(keys) == 1:
        qs = (0.05, 0.25, 0.5, 0.75, 0.95)
        b = da.quantile(list(qs), dim=sample_dims(da)) / scale
        x = sw[keys[0]].values
        fig, ax = plt.subplots(figsize=(7, 3.6))
        if np.issubdtype(np.asarray(x).dtype, np.number):
            _draw_fan(ax, x, b, qs)
            ax.set_xticks(x)
        else:
            pos = np.arange(len(x))
            _draw_fan(ax, pos, b, qs)
            ax.set_xticks(pos, x)
        ax.set_xlabel(keys[0])
        ax.set_ylabel(f"{variable} ({label})")
        ax.legend(loc="best", fontsize=7, frameon=False)
        ax.grid(True, color="0.85", lw=0.5)
        ax.set_title(f"{variable}{when}: bands over {sw.sizes['draw']:,} draws per point",
                     fontsize=9)
        fig.tight_layout()
        return fig
    if len(keys) > 3:
        raise ScenarioError("can draw at most three swept keys (rows, columns, panels)",
                            key="set", value=keys)
    stat = da.quantile(quantile, dim=sample_dims(da))
    facets = list(sw[keys[2]].values) if len(keys) == 3 else [None]
    fig, axes = plt.subplots(1, len(facets), figsize=(5.2 * len(facets) + 1, 4.2),
                             squeeze=False)
    vals = stat.values / scale
    vmin, vmax = float(np.nanmin(vals)), float(np.nanmax(vals))
    image = None
    for ax, facet in zip(axes[0], facets, strict=True):
        grid = stat.sel({keys[2]: facet}) if facet is not None else stat
        grid = grid.transpose(keys[0], keys[1])
        image = ax.imshow(grid.values / scale, origin="lower", aspect="auto", cmap="cividis",
                          vmin=vmin, vmax=vmax)
        mid = (vmin + vmax) / 2
        for i in range(grid.shape[0]):
            for j in range(grid.shape[1]):
                v = float(grid.values[i, j])
                ax.text(j, i, _text(format_value(v, unit, short=True)), ha="center", va="center",
                        fontsize=7, color="black" if v / scale > mid else "white")
        ax.set_xticks(np.arange(grid.shape[1]), [str(v) for v in sw[keys[1]].values],
                      fontsize=8)
        ax.set_yticks(np.arange(grid.shape[0]), [str(v) for v in sw[keys[0]].values],
                      fontsize=8)
        ax.set_xlabel(keys[1])
        ax.set_ylabel(keys[0])
        if facet is not None:
            ax.set_title(f"{keys[2]} = {facet}", fontsize=9)
    assert image is not None  # the grid has at least one facet
    fig.colorbar(image, ax=axes[0].tolist(), label=f"{quantile:.0%} of {variable} ({label})")
    fig.suptitle(f"{variable}{when}, {quantile:.0%} quantile over {sw.sizes['draw']:,} draws "
                 "per point (common random numbers)", fontsize=9)
    return fig


_STYLES = ("-", "--", ":", "-.", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 3)))


def exceedance_chart(ds: xr.Dataset, variable: str, *, at: Sequence[str] | str | None = None,
                     levels: Sequence[float] = ()) -> Figure:
    """Exceedance curves P(*variable* > x) against x, one line style per month or scenario.

    For a comparison (a ``scenario`` dim) base is solid and what-if dashed
    at one month (*at*, default the last). For a run, one curve per month in
    *at* (default: the last month). ``levels`` are drawn as vertical lines.

    >>> import matplotlib.pyplot as plt
    >>> import threatsim
    >>> sc = threatsim.load_scenario("scenarios/financing.toml")

    >>> fig = exceedance_chart(threatsim.run(sc, draws=50), "reserves", at="2020-01")
    >>> plt.close(fig)
    """
    months = [at] if isinstance(at, str) or at is None else list(at)
    fig, ax = plt.subplots(figsize=(7, 3.8))
    unit = ds[variable].attrs.get("units", "")
    scale, label = _scale(unit)
    curves: list[tuple[str, np.ndarray]] = []
    for month in months:
        da = outcome_series(ds, variable, month)
        when = month or (str(np.datetime64(ds["time"].values[-1], "M"))
                         if "time" in ds[variable].dims else "")
        if "scenario" in da.dims:
            names = {"base": _label(ds.attrs.get("base_name", "base")),
                     "whatif": _label(ds.attrs.get("whatif_name", "what-if"))}
            for sc in da["scenario"].values:
                sub = da.sel(scenario=sc)
                curves.append((f"{names.get(str(sc), sc)} {when}".strip(), sub.values.ravel()))
        else:
            curves.append((when or variable, da.values.ravel()))
    for i, (name, values) in enumerate(curves):
        v = np.sort(values[np.isfinite(values)]) / scale
        if not v.size:
            continue
        p = 1.0 - np.arange(1, v.size + 1) / v.size
        ax.step(np.r_[v[0], v], np.r_[1.0, p], where="post", color="black",
                ls=_STYLES[i % len(_STYLES)], lw=1.4, label=name)
    for level in levels:
        ax.axvline(level / scale, color="0.4", lw=0.8, ls=":")
    finite = [v[np.isfinite(v)] for _, v in curves]
    finite = [v for v in finite if v.size]
    if finite:  # a long upper tail would squash the curves: stop at the 99.5 % point
        right = max(float(np.quantile(v, 0.995)) for v in finite) / scale
        left = min(float(v.min()) for v in finite) / scale
        if right > left:
            ax.set_xlim(left - 0.02 * (right - left), right)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(f"{variable} ({label})")
    ax.set_ylabel(f"P({variable} > x)")
    ax.grid(True, color="0.85", lw=0.5)
    ax.legend(loc="upper right", fontsize=8, frameon=False)
    if "scenario" in ds.dims:
        title = (f"{_label(ds.attrs.get('base_name', 'base'))} vs "
                 f"{_label(ds.attrs.get('whatif_name', 'what-if'))}")
    else:
        title = _label(ds.attrs.get("scenario_name", ""))
    ax.set_title(f"exceedance: {title}", fontsize=9)
    fig.tight_layout()
    return fig


def prim_chart(res: PrimResult) -> Figure:
    """PRIM's coverage/density trade-off along the peeling trajectory, the chosen box marked.

    >>> import matplotlib.pyplot as plt
    >>> import threatsim
    >>> sc = threatsim.load_scenario("scenarios/financing.toml")

    >>> res = threatsim.discover(threatsim.run(sc, draws=200), "reserves", below=50e6, at="2020-12")
    >>> fig = prim_chart(res)
    >>> plt.close(fig)
    """
    cov = np.array([b.coverage for b in res.trajectory])
    den = np.array([b.density for b in res.trajectory])
    fig, ax = plt.subplots(figsize=(6.5, 4))
    ax.plot(cov, den, color="black", lw=1, marker="o", markersize=3, markerfacecolor="white",
            label="peeling trajectory")
    ax.plot(cov[res.chosen], den[res.chosen], marker="*", markersize=14, color="black",
            ls="none", label="chosen box (before dropping idle limits)")
    ax.axhline(res.threshold, color="0.4", ls=":", lw=0.8, label="density threshold")
    ax.axhline(res.base_rate, color="0.4", ls="--", lw=0.8, label="base rate")
    ax.set_xlabel("coverage (share of all cases inside the box)")
    ax.set_ylabel("density (share of the box that are cases)")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.grid(True, color="0.85", lw=0.5)
    ax.legend(loc="lower left", fontsize=7, frameon=False)
    title = res.condition or "scenario discovery"
    rule = res.rules().replace(" and ", "\nand ").replace(": ", ":\n", 1)
    ax.set_title(_text(f"{title}\n{rule}"), fontsize=7)
    fig.tight_layout()
    return fig


def save_figure(fig: Figure, path: str | Path) -> Path:
    """Save *fig* (format from the suffix: .png or .svg) and close it.

    >>> import tempfile
    >>> import matplotlib.pyplot as plt
    >>> fig, _ = plt.subplots()
    >>> with tempfile.TemporaryDirectory() as d:
    ...     print(save_figure(fig, Path(d) / "fig.png").name)
    fig.png
    >>> plt.close(fig)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def save_figures(fig: Figure, stem: str | Path, formats: Sequence[str] = ("png", "svg")
                 ) -> list[Path]:
    """Save *fig* as ``stem.png`` and ``stem.svg`` (each written atomically) and close it.

    >>> import tempfile
    >>> import matplotlib.pyplot as plt
    >>> fig, _ = plt.subplots()
    >>> with tempfile.TemporaryDirectory() as d:
    ...     print([p.name for p in save_figures(fig, Path(d) / "fig")])
    ['fig.png', 'fig.svg']
    >>> plt.close(fig)
    """

    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    written = []
    try:
        for fmt in formats:
            path = stem.with_name(f"{stem.name}.{fmt}")
            with atomic_path(path, f".{fmt}") as tmp:
                fig.savefig(tmp, dpi=120, format=fmt)
            written.append(path)
    finally:
        plt.close(fig)
    return written

"""Pictures planners read: fan charts of bands over time.

Readable without colour: bands are shades of one grey-blue, the median is a
solid black line, and the legend names each band by its probability.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: the CLI and tests run without a screen

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from threatsim.results import bands  # noqa: E402

__all__ = ["fan_chart", "save_figure"]

_SCALE = {"usd": (1e6, "US$ million"), "usd_per_month": (1e6, "US$ million / month")}


def fan_chart(ds: xr.Dataset, variables: Sequence[str] | str, *,
              quantiles: Sequence[float] = (0.05, 0.25, 0.5, 0.75, 0.95),
              marks: Sequence[tuple[str, str]] = ()) -> Figure:
    """Fan chart(s): nested quantile bands over ``time``, one panel per variable.

    Variables with dims beyond ``time`` are summed over them first.
    ``marks`` are ``(YYYY-MM, label)`` pairs drawn as vertical lines (report dates).
    """
    names = [variables] if isinstance(variables, str) else list(variables)
    qs = sorted(quantiles)
    fig, axes = plt.subplots(len(names), 1, figsize=(7.5, 2.8 * len(names)), squeeze=False,
                             sharex=True)
    for ax, name in zip(axes[:, 0], names, strict=True):
        da = ds[name]
        extra = [d for d in da.dims if d not in ("draw", "replicate", "time")]
        if extra:
            da = da.sum(extra)
        scale, label = _SCALE.get(da.attrs.get("units", ""), (1.0, da.attrs.get("units", "")))
        b = bands(da, qs) / scale
        t = ds["time"].values
        pairs = [(qs[i], qs[-1 - i]) for i in range(len(qs) // 2)]
        for k, (lo, hi) in enumerate(pairs):
            shade = 0.25 + 0.5 * k / max(len(pairs), 1)
            ax.fill_between(t, b.sel(quantile=lo).values, b.sel(quantile=hi).values,
                            color=plt.cm.Blues(shade), linewidth=0,
                            label=f"{hi - lo:.0%} band ({lo:.0%}-{hi:.0%})")
        if 0.5 in qs:
            ax.plot(t, b.sel(quantile=0.5).values, color="black", lw=1.5, label="median")
        for month, text in marks:
            x = np.datetime64(month, "M").astype("datetime64[ns]")
            ax.axvline(x, color="black", ls=":", lw=1)
            ax.annotate(text, (x, 1.0), xycoords=("data", "axes fraction"), fontsize=7,
                        rotation=90, va="top", ha="right")
        ax.set_ylabel(f"{name}\n({label})")
        ax.grid(True, color="0.85", lw=0.5)
        ax.set_ylim(bottom=min(0.0, float(b.min())))
    axes[0, 0].legend(loc="upper right", fontsize=7, frameon=False)
    title = ds.attrs.get("scenario_name", "")
    axes[0, 0].set_title(f"{title}: {ds.sizes['draw']:,} draws", fontsize=9)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def save_figure(fig: Figure, path: str | Path) -> Path:
    """Save *fig* (format from the suffix: .png or .svg) and close it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path

"""Calibration pictures: a PIT histogram and a coverage plot, honest about n.

With a handful of observations calibration is weakly identified: a flat
PIT histogram of five points is compatible with badly miscalibrated models.
Both pictures therefore show the number of observations, draw the range a
calibrated model would produce by chance (binomial, 95 %), put binomial
error bars on what was observed, and say in words when n is small.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # files only: the CLI and tests run without a screen

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from scipy import stats

from threatsim.core.formatting import printable
from threatsim.outputs.scores import coverage

__all__ = ["WEAK_N", "coverage_plot", "pit_histogram", "pit_histogram_mass", "posterior_chart"]

#: Below this many observations the pictures say calibration is weakly identified:
#: with n = 50 the 95 % binomial range of a 10-bin histogram still spans about
#: 0.2-1.9 times the expected height, so a bar has to be very far off to mean anything.
WEAK_N = 50
LEVELS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def pit_histogram_mass(pit_low: Sequence[float] | np.ndarray,
                       pit_high: Sequence[float] | np.ndarray, bins: int = 10) -> np.ndarray:
    """Share of observations per PIT bin, each spread uniformly over its PIT interval.

    The non-randomised PIT histogram (Czado, Gneiting and Held 2009): an
    observation whose PIT is the interval ``[lo, hi]`` adds the share of that
    interval falling in each bin (all of it to one bin when ``lo == hi``).
    The result sums to 1 and is flat, in expectation, for a calibrated forecast.

    >>> pit_histogram_mass([0.0, 0.5], [0.5, 0.5], bins=2)  # a PIT interval, then a point
    array([0.5, 0.5])
    """
    lo = np.asarray(pit_low, dtype=float)
    hi = np.asarray(pit_high, dtype=float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    mass = np.zeros(bins)
    for a, b in zip(lo, hi, strict=True):
        if b > a:
            overlap = np.clip(np.minimum(edges[1:], b) - np.maximum(edges[:-1], a), 0, None)
            mass += overlap / (b - a)
        else:
            mass[min(int(a * bins), bins - 1)] += 1.0
    return mass / max(len(lo), 1)


def _jeffreys(k: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """95 % Jeffreys interval for a binomial share with (possibly fractional) count k."""
    lo = stats.beta.ppf(0.025, k + 0.5, n - k + 0.5)
    hi = stats.beta.ppf(0.975, k + 0.5, n - k + 0.5)
    return np.where(k <= 0, 0.0, lo), np.where(k >= n, 1.0, hi)


def _caption(n: int, marks: str) -> str:
    text = f"n = {n} observation{'s' if n != 1 else ''}"
    if n < WEAK_N:
        text += (": calibration is weakly identified with so few observations; "
                 f"{marks} inside the grey band are what a calibrated model gives by chance")
    return text


def _valid(board: xr.Dataset) -> xr.Dataset:
    keep = board["pit_low"].notnull() & board["pit_high"].notnull()
    return board.isel(observation=np.flatnonzero(keep.values))


def pit_histogram(board: xr.Dataset, *, bins: int = 10) -> Figure:
    """PIT histogram of a leaderboard (from :func:`threatsim.outputs.leaderboard.leaderboard`).

    Bars: density of the non-randomised PIT (1 = flat), with 95 % binomial
    (Jeffreys) error bars. Grey band: the 95 % range of a bin's height for a
    calibrated model with this many observations.

    >>> import threatsim
    >>> from threatsim.outputs.leaderboard import leaderboard
    >>> ds = threatsim.run(threatsim.load_scenario("scenarios/financing.toml"), draws=100)
    >>> board = leaderboard(ds, threatsim.load_observations(
    ...     "scenarios/observations/synthetic.toml", against=ds))

    >>> fig = pit_histogram(board, bins=5)
    >>> plt.close(fig)
    """
    board = _valid(board)
    n = board.sizes["observation"]
    mass = pit_histogram_mass(board["pit_low"].values, board["pit_high"].values, bins)
    fig, ax = plt.subplots(figsize=(6.0, 3.6))
    edges = np.linspace(0.0, 1.0, bins + 1)
    centres = 0.5 * (edges[1:] + edges[:-1])
    if n:
        low, high = stats.binom.interval(0.95, n, 1.0 / bins)
        ax.axhspan(low / n * bins, high / n * bins, color="0.85",
                   label="95 % range if calibrated")
        k = mass * n
        lo, hi = _jeffreys(k, n)
        ax.bar(centres, mass * bins, width=1.0 / bins, color=plt.cm.Blues(0.6),
               edgecolor="black", linewidth=0.5, label="observed")
        ax.errorbar(centres, mass * bins, yerr=[mass * bins - lo * bins, hi * bins - mass * bins],
                    fmt="none", ecolor="black", capsize=2, lw=0.8, label="95 % binomial error")
    ax.axhline(1.0, color="black", ls="--", lw=1, label="flat (calibrated)")
    ax.set_xlim(0, 1)
    ax.set_xlabel("PIT: forecast probability below the observed figure")
    ax.set_ylabel("density")
    ax.set_title(_title(board, "PIT histogram"), fontsize=9)
    fig.text(0.01, 0.01, _caption(n, "bars"), fontsize=7, wrap=True)
    ax.legend(loc="upper right", fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def coverage_plot(board: xr.Dataset, *, levels: Sequence[float] = LEVELS) -> Figure:
    """Observed against nominal coverage of central bands, with binomial error.

    Points: the mean over observations of :func:`threatsim.outputs.scores.coverage`
    at each level, with 95 % Jeffreys error bars. Grey band: the 95 % range
    a calibrated model would show by chance with this many observations.

    >>> import threatsim
    >>> from threatsim.outputs.leaderboard import leaderboard
    >>> ds = threatsim.run(threatsim.load_scenario("scenarios/financing.toml"), draws=100)
    >>> board = leaderboard(ds, threatsim.load_observations(
    ...     "scenarios/observations/synthetic.toml", against=ds))

    >>> fig = coverage_plot(board)
    >>> plt.close(fig)
    """
    board = _valid(board)
    n = board.sizes["observation"]
    nominal = np.asarray(levels, dtype=float)
    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    ax.plot([0, 1], [0, 1], color="black", ls="--", lw=1, label="calibrated")
    if n:
        observed = np.array([float(np.mean(coverage(board["pit_low"].values,
                                                    board["pit_high"].values, c)))
                             for c in nominal])
        band = np.array([stats.binom.interval(0.95, n, c) for c in nominal]) / n
        ax.fill_between(nominal, band[:, 0], band[:, 1], color="0.85",
                        label="95 % range if calibrated")
        lo, hi = _jeffreys(observed * n, n)
        ax.errorbar(nominal, observed, yerr=[observed - lo, hi - observed], fmt="o",
                    color=plt.cm.Blues(0.8), ecolor="black", capsize=2, lw=0.8, ms=4,
                    label="observed (95 % binomial error)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    ax.set_xlabel("nominal coverage of the central band")
    ax.set_ylabel("share of observations inside")
    ax.set_title(_title(board, "coverage"), fontsize=9)
    fig.text(0.01, 0.01, _caption(n, "points"), fontsize=7, wrap=True)
    ax.legend(loc="upper left", fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def _title(board: xr.Dataset, what: str) -> str:
    # the scenario's name on one line, no control character, ``$`` a dollar (not mathtext)
    name = printable(board.attrs.get("scenario_name", "")).replace("$", r"\$")
    n = board.sizes["observation"]
    return f"{what}: {name} ({n} observation{'s' if n != 1 else ''})".replace(":  (", ": (")


def _scaled_band(low: float, high: float, scale: float) -> tuple[float, float]:
    return low / scale, high / scale


def posterior_chart(post: xr.Dataset) -> Figure:
    """Prior and posterior 5-95 % bands of what each figure measures, with the figures
    drawn on them, and of each sampled parameter (a calibration's Dataset, from
    :func:`threatsim.outputs.calibration.calibrate`).

    Left: one row per observation, every band divided by the size of the reported
    figure (its largest finite bound), so figures in people and in dollars share an
    axis; the figure is a black bar (a range), a dot (a point) or an arrow (a bound).
    A figure outside the whole prior band is a prior-data conflict, marked in red.
    Right: one row per parameter, both bands on the prior band's scale (0 to 1): how
    far each moved.

    >>> import threatsim
    >>> from threatsim.outputs.calibration import calibrate
    >>> from threatsim.outputs.observations import observations_from_dict
    >>> sc = threatsim.load_scenario("scenarios/financing.toml")
    >>> obs = observations_from_dict({"document": "test", "observation": [
    ...     {"id": "r", "variable": "reserves", "date": "2019-07", "low": 1e8, "high": 2e8,
    ...      "unit": "usd"}]})
    >>> fig = posterior_chart(calibrate(sc, obs, draws=300, seed=1))
    >>> [t.get_text() for t in fig.axes[0].get_yticklabels()]
    ['r']
    >>> plt.close(fig)
    """
    ids = [str(i) for i in post["observation"].values.tolist()]
    params = [str(p) for p in post["parameter"].values.tolist()]
    fig, (ax_obs, ax_par) = plt.subplots(
        1, 2, figsize=(11, 1.2 + 0.38 * max(len(ids), len(params), 3)))
    for j in range(len(ids)):
        low, high = float(post["obs_low"][j]), float(post["obs_high"][j])
        finite = [abs(v) for v in (low, high) if np.isfinite(v)]
        scale = max(max(finite, default=1.0), 1e-300)
        y = len(ids) - 1 - j
        p0, p1 = _scaled_band(float(post["prior_pred_q05"][j]),
                              float(post["prior_pred_q95"][j]), scale)
        q0, q1 = _scaled_band(float(post["posterior_pred_q05"][j]),
                              float(post["posterior_pred_q95"][j]), scale)
        ax_obs.plot([p0, p1], [y + 0.12] * 2, color="0.6", lw=5, solid_capstyle="butt",
                    label="prior 5-95 %" if j == 0 else None)
        ax_obs.plot([q0, q1], [y - 0.12] * 2, color="tab:blue", lw=5, solid_capstyle="butt",
                    label="posterior 5-95 %" if j == 0 else None)
        colour = "tab:red" if float(post["conflict"][j]) else "black"
        if np.isfinite(low) and np.isfinite(high) and low == high:
            ax_obs.plot([low / scale], [y], "o", color=colour, ms=5)
        elif np.isfinite(low) and np.isfinite(high):
            ax_obs.plot([low / scale, high / scale], [y, y], color=colour, lw=1.5,
                        marker="|", ms=10)
        else:
            at = (low if np.isfinite(low) else high) / scale
            ax_obs.annotate("", xy=(at + (0.15 if np.isfinite(low) else -0.15), y),
                            xytext=(at, y), arrowprops={"arrowstyle": "->", "color": colour})
            ax_obs.plot([at], [y], "|", color=colour, ms=10)
    ax_obs.set_yticks(range(len(ids)), [printable(i) for i in reversed(ids)], fontsize=7)
    ax_obs.set_xlabel("value / size of the reported figure (black: the figure; red: outside "
                      "the whole prior)", fontsize=7)
    ax_obs.set_title("what the figures measure", fontsize=9)
    ax_obs.legend(loc="lower right", fontsize=7, frameon=False)
    for i in range(len(params)):
        lo, hi = float(post["prior_q05"][i]), float(post["prior_q95"][i])
        width = hi - lo if hi > lo else 1.0
        y = len(params) - 1 - i
        ax_par.plot([0.0, 1.0] if hi > lo else [0.5, 0.5], [y + 0.12] * 2, color="0.6", lw=5,
                    solid_capstyle="butt")
        a = (float(post["posterior_q05"][i]) - lo) / width
        b = (float(post["posterior_q95"][i]) - lo) / width
        ax_par.plot([a, b], [y - 0.12] * 2, color="tab:blue", lw=5, solid_capstyle="butt")
    ax_par.set_yticks(range(len(params)), [printable(p) for p in reversed(params)], fontsize=7)
    ax_par.set_xlabel("on the prior's 5-95 % band (0 to 1)", fontsize=7)
    ax_par.set_title("how far each parameter moved", fontsize=9)
    name = printable(post.attrs.get("scenario_name", "")).replace("$", r"\$")
    fig.suptitle(f"calibration of {name}: {post.attrs.get('method', '')}, ESS "
                 f"{float(post.attrs.get('ess', float('nan'))):,.0f}", fontsize=10)
    fig.tight_layout()
    return fig

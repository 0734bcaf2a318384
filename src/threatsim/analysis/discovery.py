"""Scenario discovery: where in parameter space does the outcome of interest happen?

PRIM (the Patient Rule Induction Method, Friedman and Fisher 1999, as used in
exploratory modelling by Bryant and Lempert 2010) starts from the box holding
every draw and repeatedly peels off a thin slice (``peel_alpha`` of the draws
still inside) from the low or high end of one parameter, choosing the slice
whose removal leaves the highest share of cases of interest inside. Each
step trades coverage (share of all cases of interest inside the box) for
density (share of the box's draws that are cases). The peeling trajectory is
that trade-off; the box reported is the first one (the widest) whose density
reaches ``threshold``, or the densest one when none does. Restrictions that
do not raise its density are then dropped, so the rule names only the
parameters that matter.

EMA Workbench has a full PRIM (with pasting and resampling statistics) but is
not a dependency; this one peels only, in a few dozen lines, and is tested on
planted boxes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from threatsim.analysis._common import outcome_series, when_label
from threatsim.core.errors import ScenarioError
from threatsim.core.formatting import format_value

__all__ = ["Box", "PrimResult", "discover", "prim"]


@dataclass(frozen=True, slots=True)
class Box:
    """A box in parameter space: ``limits[name] = (low, high)``, both inclusive.

    >>> box = Box(limits={"income": (2e6, 5e6)}, coverage=0.9, density=0.8, mass=0.3,
    ...           count=300)
    >>> box.rule({"income": "usd_per_month"}, full={"income": (1e6, 5e6)})
    'income >= $2.00M/month: 80% density, 90% coverage (300 draws, 30% of all)'
    """

    limits: dict[str, tuple[float, float]]
    coverage: float
    density: float
    mass: float
    count: int

    def rule(self, units: Mapping[str, str] | None = None,
             full: Mapping[str, tuple[float, float]] | None = None) -> str:
        """The box as a readable rule, naming only the restricted parameters."""
        units = units or {}
        parts = []
        for name, (lo, hi) in self.limits.items():
            unit = units.get(name, "")
            whole = full.get(name) if full else None
            low_cut = whole is None or lo > whole[0]
            high_cut = whole is None or hi < whole[1]
            if low_cut and high_cut:
                parts.append(f"{format_value(lo, unit)} <= {name} <= {format_value(hi, unit)}")
            elif low_cut:
                parts.append(f"{name} >= {format_value(lo, unit)}")
            elif high_cut:
                parts.append(f"{name} <= {format_value(hi, unit)}")
        text = " and ".join(parts) if parts else "anywhere (no restriction)"
        return (f"{text}: {self.density:.0%} density, {self.coverage:.0%} coverage "
                f"({self.count:,} draws, {self.mass:.0%} of all)")


@dataclass(frozen=True, slots=True)
class PrimResult:
    """The peeling trajectory and the box chosen on it (what :func:`discover` returns).

    >>> import numpy as np
    >>> x = np.linspace(0, 1, 400)
    >>> res = prim({"x": x}, x > 0.7)
    >>> res.box.limits["x"][0] > 0.6, res.box.density >= res.threshold  # the widest dense box
    (True, True)
    """

    names: tuple[str, ...]
    trajectory: tuple[Box, ...]
    chosen: int
    box: Box
    full: dict[str, tuple[float, float]]
    base_rate: float
    threshold: float
    units: dict[str, str] = field(default_factory=dict)
    condition: str = ""

    def rules(self) -> str:
        """The chosen box as a rule (see :meth:`Box.rule`)."""
        return self.box.rule(self.units, self.full)

    def summary(self) -> str:
        """Condition, base rate, the chosen rule and a few points of the trajectory."""
        lines = []
        if self.condition:
            lines.append(f"cases of interest: {self.condition}")
        lines.append(f"base rate: {self.base_rate:.1%} of {self.trajectory[0].count:,} draws; "
                     f"PRIM peeling, density threshold {self.threshold:.0%}")
        lines.append(f"box: {self.rules()}")
        lines.append("coverage/density trade-off (peeling trajectory):")
        lines.append(f"  {'step':>5}{'coverage':>10}{'density':>9}{'draws':>9}  restricted")
        steps = sorted({0, *np.linspace(0, len(self.trajectory) - 1, 8).astype(int),
                        self.chosen})
        for i in steps:
            b = self.trajectory[i]
            restricted = [n for n, (lo, hi) in b.limits.items()
                          if lo > self.full[n][0] or hi < self.full[n][1]]
            mark = " <-" if i == self.chosen else ""
            lines.append(f"  {i:>5}{b.coverage:>10.0%}{b.density:>9.0%}{b.count:>9,}  "
                         f"{', '.join(restricted) or '-'}{mark}")
        return "\n".join(lines)


def _stats(inside: np.ndarray, y: np.ndarray, total: float, n: int) -> tuple[float, float, float]:
    k = int(inside.sum())
    hits = float(y[inside].sum())
    return (hits / total if total else 0.0, hits / k if k else 0.0, k / n)


def prim(
    x: Mapping[str, np.ndarray],
    y: np.ndarray,
    *,
    peel_alpha: float = 0.05,
    mass_min: float = 0.05,
    threshold: float = 0.8,
) -> PrimResult:
    """PRIM peeling of the box where *y* (cases of interest: bool or 0..1) is dense.

    Parameters
    ----------
    x
        Parameter name -> values, one per draw.
    y
        True (or 1) for the draws where the outcome of interest happens.
    peel_alpha
        Share of the draws inside the box removed by one peel.
    mass_min
        Stop peeling when the box would hold fewer than this share of all draws.
    threshold
        Density the reported box must reach (the widest such box is chosen).

    Examples
    --------
    >>> a, b = np.meshgrid(np.linspace(0, 1, 50), np.linspace(0, 1, 40))
    >>> x = {"a": a.ravel(), "b": b.ravel()}
    >>> res = prim(x, x["a"] > 0.7)
    >>> round(res.box.limits["a"][0], 1), res.box.density >= 0.8
    (0.7, True)
    """
    names = tuple(x)
    if not names:
        raise ScenarioError("needs at least one parameter to peel", key="parameters", value=[])
    cols = np.column_stack([np.asarray(x[nm], dtype=np.float64) for nm in names])
    yv = np.asarray(y, dtype=np.float64)
    n = yv.shape[0]
    if cols.shape[0] != n:
        raise ScenarioError(f"parameters and outcome must have the same length ({cols.shape[0]}"
                            f" vs {n})", key="y", value=n)
    if not 0 < peel_alpha < 0.5 or not 0 < mass_min < 1 or not 0 < threshold <= 1:
        raise ScenarioError("need 0 < peel_alpha < 0.5, 0 < mass_min < 1, 0 < threshold <= 1",
                            key="prim", value={"peel_alpha": peel_alpha, "mass_min": mass_min,
                                               "threshold": threshold})
    total = float(yv.sum())
    if total == 0:
        raise ScenarioError("the outcome of interest happens in none of the draws; nothing to "
                            "discover (change the level or the month)", key="condition",
                            value=0)
    full = {nm: (float(cols[:, j].min()), float(cols[:, j].max()))
            for j, nm in enumerate(names)}
    limits = dict(full)
    inside = np.ones(n, dtype=bool)
    cov, den, mass = _stats(inside, yv, total, n)
    trajectory = [Box(dict(limits), cov, den, mass, n)]
    while True:
        idx = np.flatnonzero(inside)
        best: tuple[float, int, np.ndarray, str, int, float] | None = None
        for j in range(len(names)):
            v = cols[idx, j]
            for side in ("low", "high"):
                if side == "low":
                    cut = np.quantile(v, peel_alpha)
                    keep = v > cut if cut == v.min() else v >= cut
                else:
                    cut = np.quantile(v, 1 - peel_alpha)
                    keep = v < cut if cut == v.max() else v <= cut
                k = int(keep.sum())
                if k == idx.size or k < mass_min * n or k == 0:
                    continue
                density = float(yv[idx[keep]].mean())
                if best is None or (density, k) > (best[0], best[1]):
                    best = (density, k, keep, side, j, float(cut))
        if best is None:
            break
        _, _, keep, side, j, _ = best
        new_inside = np.zeros(n, dtype=bool)
        new_inside[idx[keep]] = True
        inside = new_inside
        v = cols[inside, j]
        lo, hi = limits[names[j]]
        limits[names[j]] = (float(v.min()), hi) if side == "low" else (lo, float(v.max()))
        cov, den, mass = _stats(inside, yv, total, n)
        trajectory.append(Box(dict(limits), cov, den, mass, int(inside.sum())))
    dens = np.array([b.density for b in trajectory])
    reach = np.flatnonzero(dens >= threshold)
    chosen = int(reach[0]) if reach.size else int(np.argmax(dens))
    box = _simplify(trajectory[chosen], cols, yv, names, full, total)
    return PrimResult(names=names, trajectory=tuple(trajectory), chosen=chosen, box=box,
                      full=full, base_rate=total / n, threshold=threshold)


def _simplify(box: Box, cols: np.ndarray, y: np.ndarray, names: Sequence[str],
              full: Mapping[str, tuple[float, float]], total: float) -> Box:
    """Drop restrictions whose removal does not lower the box's density (by 1 % or more)."""
    limits = {nm: lim for nm, lim in box.limits.items() if lim != full[nm]}

    def inside_of(lims: Mapping[str, tuple[float, float]]) -> np.ndarray:
        ok = np.ones(len(y), dtype=bool)
        for nm, (lo, hi) in lims.items():
            j = names.index(nm)
            ok &= (cols[:, j] >= lo) & (cols[:, j] <= hi)
        return ok

    changed = True
    while changed and limits:
        changed = False
        _, den, _ = _stats(inside_of(limits), y, total, len(y))
        for nm in sorted(limits, key=lambda k: names.index(k)):
            trial = {k: v for k, v in limits.items() if k != nm}
            _, d2, _ = _stats(inside_of(trial), y, total, len(y))
            if d2 >= den - 0.01:
                limits = trial
                changed = True
                break
    ins = inside_of(limits)
    cov, den, mass = _stats(ins, y, total, len(y))
    return Box(limits, cov, den, mass, int(ins.sum()))


def discover(
    ds: xr.Dataset,
    output: str,
    *,
    below: float | None = None,
    above: float | None = None,
    at: str | None = None,
    parameters: Sequence[str] | None = None,
    peel_alpha: float = 0.05,
    mass_min: float = 0.05,
    threshold: float = 0.8,
) -> PrimResult:
    """Find the box of sampled parameters where *output* at *at* is below / above a level.

    *ds* is a run (its sampled parameters are the variables with
    ``role="parameter"``); parameters that do not vary are left out. With
    replicates each (draw, replicate) is one case, its parameters those of
    its draw. NaN outputs count as not meeting the condition.

    Raises
    ------
    ScenarioError
        Not exactly one of below / above, an output the run does not have, a
        month outside the run, or a condition no draw meets.

    Examples
    --------
    >>> import threatsim
    >>> ds = threatsim.run(threatsim.load_scenario("scenarios/financing.toml"), draws=400,
    ...                    seed=3, progress=False)
    >>> res = discover(ds, "reserves", below=100e6, at="2020-12")
    >>> 0 < res.box.density <= 1
    True
    """
    if below is not None and above is None:
        level_value, sign = below, "<"
    elif above is not None and below is None:
        level_value, sign = above, ">"
    else:
        given = "both were given" if below is not None else "neither was given"
        raise ScenarioError(f"give exactly one of below= or above= ({given})")
    y = outcome_series(ds, output, at)
    hit = (y < level_value) if sign == "<" else (y > level_value)
    params = [str(n) for n, v in ds.data_vars.items() if v.attrs.get("role") == "parameter"]
    if parameters is not None:
        unknown = [p for p in parameters if p not in params]
        if unknown:
            raise ScenarioError(f"are not sampled parameters of this run ({', '.join(params)})",
                                key="parameters", value=unknown)
        params = list(parameters)
    params = [p for p in params if np.ptp(ds[p].values) > 0]
    if "replicate" in hit.dims:
        hit = hit.transpose("draw", "replicate")
        reps = hit.sizes["replicate"]
        x = {p: np.repeat(ds[p].values, reps) for p in params}
        yv = hit.values.reshape(-1)
    else:
        x = {p: ds[p].values for p in params}
        yv = hit.values
    res = prim(x, yv, peel_alpha=peel_alpha, mass_min=mass_min, threshold=threshold)
    unit = ds[output].attrs.get("units", "")
    when = when_label(ds, output, at)
    level = format_value(level_value, unit)
    condition = f"{output} {sign} {level}{when}"
    units = {p: ds[p].attrs.get("units", "") for p in params}
    return PrimResult(names=res.names, trajectory=res.trajectory, chosen=res.chosen, box=res.box,
                      full=res.full, base_rate=res.base_rate, threshold=res.threshold,
                      units=units, condition=condition)


def result_json(res: PrimResult) -> str:
    """The chosen box and the trajectory as JSON (for files and other tools)."""
    return json.dumps({
        "condition": res.condition, "base_rate": res.base_rate, "threshold": res.threshold,
        "box": {"limits": res.box.limits, "coverage": res.box.coverage,
                "density": res.box.density, "mass": res.box.mass, "rule": res.rules()},
        "trajectory": [{"coverage": b.coverage, "density": b.density, "mass": b.mass}
                       for b in res.trajectory],
    }, indent=2)

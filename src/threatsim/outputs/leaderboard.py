r"""The leaderboard: a run's forecasts scored against figures reported later.

A run's forecast for an observation is the ensemble of its draws (and
replicates) at the observed month, summed over the selected labels, scored by
the rules of :mod:`threatsim.outputs.scores`:

========================  =============================  ======================
score                     what it measures               orientation
========================  =============================  ======================
``crps``                  distance of F from the truth   lower is better
``log_score``             -log of F's mass in the range  lower is better
``interval_score_50/90``  width + penalty for a miss     lower is better
``coverage_50/90``        truth inside the central band  nominal (0.5, 0.9)
``pit``                   F at the truth                 uniform over many obs
``skill_*``               1 - crps / crps of reference   higher is better
========================  =============================  ======================

Two reference forecasts are built for each observation: ``persistence``
(the last report's range read as uniform and carried forward) and
``widened`` (the same, widened by the run's own spread), so a leaderboard
says whether the model adds skill over repeating the last report.

A row's skill is not defined (NaN, shown as ``n/a``, with the reason in the
``skill_note`` coord) when the reference's CRPS is below
:data:`SKILL_TOLERANCE` times the size of the reported figure: the reference
is then exact as far as a figure rounded to three significant digits can
tell, and the ratio would measure that rounding (a row could show a skill of
minus a million). The total skill is computed from summed CRPS, and such a
row still counts there.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from threatsim.core.atomic import atomic_path
from threatsim.core.errors import ScenarioError
from threatsim.core.formatting import format_number
from threatsim.outputs.observations import Observation, ObservationSet
from threatsim.outputs.scores import (
    FloatArray,
    crps_interval,
    ensemble_members,
    score_forecast,
)

__all__ = [
    "ORIENTATION",
    "SKILL_TOLERANCE",
    "leaderboard",
    "leaderboard_table",
    "leaderboard_to_csv",
    "leaderboard_totals",
    "rank_scenarios",
    "ranking_table",
    "reference_forecasts",
    "skill",
]

#: Which way each score is better; carried into the leaderboard's attrs.
ORIENTATION = {
    "crps": "lower is better",
    "crps_scaled": "lower is better",
    "log_score": "lower is better",
    "interval_score_50": "lower is better",
    "interval_score_90": "lower is better",
    "coverage_50": "closer to 0.5 (over many observations) is better",
    "coverage_90": "closer to 0.9 (over many observations) is better",
    "pit": "uniform on [0, 1] over many observations is better",
    "crps_persistence": "lower is better",
    "crps_widened": "lower is better",
    "skill_persistence": "higher is better (1 perfect, 0 no better than the reference)",
    "skill_widened": "higher is better (1 perfect, 0 no better than the reference)",
}
#: A row's skill is NaN when the reference's CRPS is below this share of the figure's size
#: (its ``scale``): reports round to two or three significant digits, so a reference
#: within 0.1 % of the figure is exact as far as the report can tell.
SKILL_TOLERANCE = 1e-3
#: Grid sizes that turn the references' uniform into an ensemble (see reference_forecasts).
_UNIFORM_GRID = 1000
_WIDEN_UNIFORM, _WIDEN_SPREAD = 64, 256



def _uniform_grid(low: float, high: float, k: int) -> FloatArray:
    if low == high:
        return np.array([low])
    return low + (high - low) * (np.arange(k) + 0.5) / k


def reference_forecasts(obs: Observation, ds: xr.Dataset,
                        forecast: Any | None = None) -> dict[str, FloatArray]:
    r"""The two forecasts a model must beat, as ensembles.

    ``persistence``: the last report's range read as uniform and carried
    forward to the observed month: the observation's ``previous`` figure when
    the file gives one (a one-sided ``previous``, "more than 500", is carried
    forward as a point at its bound), otherwise the run's own 5-95 % band at
    its first month with values (the scenario's reading of the report it
    starts from, in the observation's terms: summed, over the period, plus
    the offset). Represented by 1,000 evenly spaced quantiles of that uniform.

    ``widened``: that uniform plus the run's spread at the observed month,
    :math:`U + (X - \mathrm{median}\,X)`: 64 quantiles of the uniform times
    256 quantiles of the centred run, so it keeps the last report's location
    and takes the model's uncertainty. Both are deterministic.

    >>> import threatsim
    >>> ds = threatsim.run(threatsim.load_scenario("scenarios/financing.toml"), draws=200, seed=1)
    >>> obs = threatsim.load_observations("scenarios/observations/synthetic.toml", against=ds)

    >>> refs = reference_forecasts(next(iter(obs)), ds)
    >>> sorted(refs), refs["persistence"].size
    (['persistence', 'widened'], 1000)
    """
    xs = ensemble_members(obs.forecast(ds) if forecast is None else forecast)
    if obs.previous is not None:
        low, high = obs.previous.reference_range()
    else:
        start = obs.start_forecast(ds)
        if not np.all(np.isfinite(start)):
            raise ScenarioError(
                "has no value at the run's first month to carry forward; give "
                "previous = { low = .., high = .. } (the last report's figure)",
                key=f"observation.{obs.id}.previous", value=None)
        low, high = (float(q) for q in np.quantile(start, [0.05, 0.95]))
    spread = np.quantile(xs - np.median(xs), (np.arange(_WIDEN_SPREAD) + 0.5) / _WIDEN_SPREAD)
    widened = (_uniform_grid(low, high, _WIDEN_UNIFORM)[:, None] + spread[None, :]).ravel()
    return {"persistence": _uniform_grid(low, high, _UNIFORM_GRID), "widened": widened}


def _scale(obs: Observation) -> float:
    finite = [abs(v) for v in (obs.low, obs.high) if math.isfinite(v)]
    return max(max(finite), 1.0)


def skill(crps: float, crps_reference: float, scale: float) -> tuple[float, str]:
    """``1 - crps / crps_reference`` and ``""``; NaN and the reason when it is not defined.

    It is not defined when the reference's CRPS is below :data:`SKILL_TOLERANCE`
    times *scale* (the size of the reported figure).

    >>> skill(5.0, 10.0, 100.0)
    (0.5, '')
    >>> skill(5.0, 0.01, 100.0)[1]
    "the reference's CRPS (0.01) is below 0.001 x the figure's size (100)"
    """
    if not math.isfinite(crps_reference) or crps_reference < SKILL_TOLERANCE * scale:
        return math.nan, (f"the reference's CRPS ({format_number(crps_reference)}) is below "
                          f"{SKILL_TOLERANCE:g} x the figure's size ({format_number(scale)})")
    return 1.0 - crps / crps_reference, ""


def leaderboard(ds: xr.Dataset, observations: ObservationSet) -> xr.Dataset:
    """Score a run against every observation: a Dataset on dim ``observation``.

    Each score variable carries ``attrs["orientation"]`` (which way is
    better) and ``attrs["units"]``. ``crps_scaled`` divides the CRPS by the
    size of the reported figure (a fixed weight per observation, so it stays
    proper) to compare observations in different units. ``skill_*`` is NaN
    where the reference's CRPS is near zero (:func:`skill`; the reason is in
    the ``skill_note`` coord). See :func:`leaderboard_totals` for the total row.

    >>> import threatsim
    >>> ds = threatsim.run(threatsim.load_scenario("scenarios/financing.toml"), draws=200, seed=1)
    >>> obs = threatsim.load_observations("scenarios/observations/synthetic.toml", against=ds)

    >>> board = leaderboard(ds, obs)
    >>> board.sizes["observation"], board["crps"].attrs["orientation"]
    (6, 'lower is better')
    """
    if not len(observations):
        raise ScenarioError("has no observations to score", path=observations.path,
                            key="observation", value=[])
    rows: list[dict[str, float]] = []
    notes: list[str] = []
    for obs in observations:
        xs = _members_for(obs, ds)
        row = score_forecast(xs, obs.low, obs.high)
        refs = reference_forecasts(obs, ds, xs)
        why = []
        for name, ref in refs.items():
            ref_crps = crps_interval(ref, obs.low, obs.high)
            row[f"crps_{name}"] = ref_crps
            row[f"skill_{name}"], note = skill(row["crps"], ref_crps, _scale(obs))
            if note:
                why.append(f"{name}: {note}")
        notes.append("; ".join(why))
        row["crps_scaled"] = row["crps"] / _scale(obs)
        row["median"] = float(np.median(xs))
        row["q05"], row["q95"] = (float(q) for q in np.quantile(xs, [0.05, 0.95]))
        row["members"] = xs.size
        rows.append(row)
    ids = observations.ids()
    data_vars: dict[str, Any] = {}
    for name in rows[0]:
        attrs = {"orientation": ORIENTATION.get(name, "")}
        data_vars[name] = xr.Variable(("observation",), [r[name] for r in rows], attrs=attrs)
    coords = {
        "observation": ids,
        "variable": ("observation", [o.variable_label for o in observations]),
        "month": ("observation", [o.month_label for o in observations]),
        "window": ("observation", [o.window_for(ds) for o in observations]),
        "offset": ("observation", [o.offset for o in observations]),
        "truth": ("observation", [o.kind for o in observations]),
        "low": ("observation", [o.low for o in observations]),
        "high": ("observation", [o.high for o in observations]),
        "unit": ("observation", [o.unit for o in observations]),
        "source": ("observation", [o.citation() for o in observations]),
        "scale": ("observation", [_scale(o) for o in observations]),
        "skill_note": ("observation", notes),
    }
    board = xr.Dataset(data_vars, coords=coords, attrs={
        "title": "threatsim leaderboard",
        "scenario_name": ds.attrs.get("scenario_name", ""),
        "run_id": ds.attrs.get("run_id", ""),
        "observations_file": observations.path or "",
    })
    for name in ("crps", "interval_score_50", "interval_score_90", "crps_persistence",
                 "crps_widened", "median", "q05", "q95"):
        board[name].attrs["units"] = "unit of the observation"
    board["log_score"].attrs["units"] = "nats"
    return board


def _members_for(obs: Observation, ds: xr.Dataset) -> FloatArray:
    xs = obs.forecast(ds)
    if not np.all(np.isfinite(xs)):
        raise ScenarioError(f"has no value at {obs.month_label} (a flow has none at the "
                            "first month)", key=f"observation.{obs.id}.date",
                            value=obs.month_label)
    return ensemble_members(xs)


def leaderboard_totals(board: xr.Dataset) -> xr.Dataset:
    """The total row: means over observations (skipping NaN), with counts.

    ``crps`` and the interval scores are averaged only when every observation
    has the same unit (NaN otherwise; use ``crps_scaled``). The total
    ``skill_*`` is the skill of the summed scores,
    ``1 - sum(crps_i / s_i) / sum(crps_ref_i / s_i)`` with ``s_i`` the
    observation's ``scale`` (the size of its figure), so one observation
    the reference happens to nail cannot dominate it as a mean of ratios
    would. ``n_observations`` counts all observations; ``n_coverage`` and
    ``n_log_score`` those that entered.

    >>> import threatsim
    >>> ds = threatsim.run(threatsim.load_scenario("scenarios/financing.toml"), draws=200, seed=1)
    >>> obs = threatsim.load_observations("scenarios/observations/synthetic.toml", against=ds)

    >>> totals = leaderboard_totals(leaderboard(ds, obs))
    >>> int(totals["n_observations"]), bool(totals["crps_scaled"] > 0)
    (6, True)
    """
    same_unit = len(set(board["unit"].values.tolist())) == 1
    out: dict[str, Any] = {}
    for key, da in board.data_vars.items():
        name = str(key)
        if name in ("pit_low", "pit_high", "members", "median", "q05", "q95"):
            continue
        unit_bound = da.attrs.get("units") == "unit of the observation"
        value = float(da.mean(skipna=True)) if (same_unit or not unit_bound) else math.nan
        if name.startswith("skill_"):
            ref = board[f"crps_{name.removeprefix('skill_')}"] / board["scale"]
            ok = ref.notnull() & board["crps_scaled"].notnull()
            denominator = float(ref.where(ok).sum())
            numerator = float(board["crps_scaled"].where(ok).sum())
            value = 1.0 - numerator / denominator if denominator > 0 else math.nan
        out[name] = xr.Variable((), value, attrs=da.attrs)
    out["n_observations"] = xr.Variable((), board.sizes["observation"])
    out["n_coverage"] = xr.Variable((), int(board["coverage_90"].notnull().sum()))
    out["n_log_score"] = xr.Variable((), int(board["log_score"].notnull().sum()))
    return xr.Dataset(out, attrs=board.attrs)


def leaderboard_to_csv(board: xr.Dataset, path: str | os.PathLike[str]) -> Path:
    """Write the per-observation rows and a ``total`` row to CSV (atomically).

    A board with a ``scenario`` dim (from :func:`rank_scenarios`'s inputs,
    concatenated) is written with a ``scenario`` column.

    >>> import threatsim
    >>> ds = threatsim.run(threatsim.load_scenario("scenarios/financing.toml"), draws=200, seed=1)
    >>> obs = threatsim.load_observations("scenarios/observations/synthetic.toml", against=ds)

    >>> import csv, tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = leaderboard_to_csv(leaderboard(ds, obs), Path(d) / "board.csv")
    ...     rows = list(csv.DictReader(path.open()))
    >>> len(rows), rows[-1]["observation"]
    (7, 'total')
    """
    import pandas as pd

    frames = []
    boards = ([board.sel(scenario=s) for s in board["scenario"].values]
              if "scenario" in board.dims else [board])
    for b in boards:
        df = b.drop_vars("scenario", errors="ignore").to_dataframe().reset_index()
        tot: dict[str, float | str] = {
            str(k): float(v.values) for k, v in leaderboard_totals(b).data_vars.items()
            if k in df.columns}
        tot["observation"] = "total"
        df = pd.concat([df, pd.DataFrame([tot])], ignore_index=True)
        if "scenario" in b.coords:
            df.insert(0, "scenario", str(b["scenario"].values))
        frames.append(df)
    out = pd.concat(frames, ignore_index=True)
    path = Path(path)
    with atomic_path(path) as tmp:
        out.to_csv(tmp, index=False)
    return path


def rank_scenarios(boards: Mapping[str, xr.Dataset]) -> xr.Dataset:
    """Totals of several scenarios' leaderboards on a ``scenario`` dim, with a ``rank``.

    Scenarios are ranked by mean ``crps_scaled`` (lower is better), which is
    defined whatever the observations' units; ties keep the given order.

    >>> import threatsim
    >>> ds = threatsim.run(threatsim.load_scenario("scenarios/financing.toml"), draws=200, seed=1)
    >>> obs = threatsim.load_observations("scenarios/observations/synthetic.toml", against=ds)

    >>> board = leaderboard(ds, obs)
    >>> rank_scenarios({"a": board, "b": board})["rank"].values.tolist()  # a tie keeps the order
    [1, 2]
    """
    if not boards:
        raise ScenarioError("needs at least one scenario", key="scenarios", value=[])
    names = list(boards)
    totals = xr.concat([leaderboard_totals(boards[n]) for n in names], dim="scenario",
                       combine_attrs="drop")
    totals = totals.assign_coords(scenario=names)
    order = np.argsort(totals["crps_scaled"].values, kind="stable")
    rank = np.empty(len(names), dtype=int)
    rank[order] = np.arange(1, len(names) + 1)
    totals["rank"] = xr.Variable(("scenario",), rank,
                                 attrs={"orientation": "1 is best (lowest crps_scaled)"})
    return totals


def _truth_text(kind: str, low: float, high: float) -> str:
    if kind == "point":
        return format_number(low)
    if kind == "at_least":
        return f">={format_number(low)}"
    if kind == "at_most":
        return f"<={format_number(high)}"
    return f"{format_number(low)}-{format_number(high)}"


def _cell(column: str, value: float) -> str:
    if column.startswith("skill_") and math.isnan(value):
        return "n/a"
    return format_number(value)


def leaderboard_table(board: xr.Dataset) -> str:
    """The text table ``threatsim score`` prints: one row per observation and a total.

    >>> import threatsim
    >>> ds = threatsim.run(threatsim.load_scenario("scenarios/financing.toml"), draws=200, seed=1)
    >>> obs = threatsim.load_observations("scenarios/observations/synthetic.toml", against=ds)

    >>> print(leaderboard_table(leaderboard(ds, obs)).splitlines()[0])
    leaderboard of 'financing' against scenarios/observations/synthetic.toml
    """
    cols = ("crps", "log_score", "pit", "coverage_50", "coverage_90", "interval_score_90",
            "skill_persistence", "skill_widened")
    heads = ("CRPS", "logS", "PIT", "cov50", "cov90", "IS90", "skill_p", "skill_w")
    ids = [str(i) for i in board["observation"].values]
    width = max(12, *(len(i) for i in ids))
    header = (f"{'observation':<{width}} {'month':<8}{'truth':>16}{'forecast 5-50-95 %':>24}"
              + "".join(f"{h:>9}" for h in heads))
    lines = [f"leaderboard of {board.attrs.get('scenario_name', '')!r} against "
             f"{board.attrs.get('observations_file', '')}", header]
    undefined: list[str] = []
    for i, oid in enumerate(ids):
        row = board.isel(observation=i)
        truth = _truth_text(str(row["truth"].values), float(row["low"]), float(row["high"]))
        fc = "-".join(format_number(float(row[c])) for c in ("q05", "median", "q95"))
        vals = "".join(f"{_cell(c, float(row[c])):>9}" for c in cols)
        lines.append(f"{oid:<{width}} {row['month'].values!s:<8}{truth:>16}{fc:>24}{vals}")
        note = str(row["skill_note"].values) if "skill_note" in row.coords else ""
        if note:
            undefined.append(f"  {oid}: {note}")
    tot = leaderboard_totals(board)
    vals = "".join(f"{format_number(float(tot[c])):>9}" for c in cols)
    lines.append(f"{'total (mean)':<{width}} {'':<8}{'':>16}{'':>24}{vals}")
    n = int(tot["n_observations"])
    lines += [
        "",
        "CRPS (interval-censored), logS (nats), IS90: lower is better; skill_p / skill_w: "
        "1 - CRPS / CRPS of the reference (persistence / widened), higher is better, "
        "0 = no better; cov50 / cov90: share inside the central band, near 0.5 / 0.9 "
        "over many observations; PIT: uniform over many observations.",
        f"n = {n} observations ({int(tot['n_log_score'])} with a log score); mean scaled "
        f"CRPS {float(tot['crps_scaled']):.3g}."
        + (" With so few observations calibration (PIT, coverage) is weakly identified."
           if n < 50 else ""),
    ]
    if undefined:
        lines += [f"skill n/a: not defined where the reference's CRPS is below "
                  f"{SKILL_TOLERANCE:g} x the size of the figure (the reference is exact "
                  "as far as the report can tell); the total skill still counts these rows:",
                  *undefined]
    if math.isnan(float(tot["crps"])):
        lines.append("Total CRPS is not shown: the observations have different units; "
                     "the total skills use CRPS scaled by the size of each figure.")
    return "\n".join(lines)


def ranking_table(ranks: xr.Dataset) -> str:
    """The text table ``threatsim score --scenarios`` prints, best first.

    >>> import threatsim
    >>> ds = threatsim.run(threatsim.load_scenario("scenarios/financing.toml"), draws=200, seed=1)
    >>> obs = threatsim.load_observations("scenarios/observations/synthetic.toml", against=ds)

    >>> board = leaderboard(ds, obs)
    >>> print(ranking_table(rank_scenarios({"a": board})).splitlines()[1][:12])
    1    a
    """
    cols = ("crps_scaled", "log_score", "coverage_50", "coverage_90", "skill_persistence",
            "skill_widened")
    heads = ("CRPS/size", "logS", "cov50", "cov90", "skill_p", "skill_w")
    names = [str(s) for s in ranks["scenario"].values]
    width = max(10, *(len(s) for s in names))
    lines = [f"{'rank':<5}{'scenario':<{width}}" + "".join(f"{h:>11}" for h in heads)]
    for i in np.argsort(ranks["rank"].values, kind="stable"):
        row = ranks.isel(scenario=int(i))
        vals = "".join(f"{format_number(float(row[c])):>11}" for c in cols)
        lines.append(f"{int(row['rank']):<5}{names[i]:<{width}}{vals}")
    lines.append("\nranked by mean CRPS scaled by the size of each reported figure "
                 "(lower is better); skill: higher is better.")
    return "\n".join(lines)

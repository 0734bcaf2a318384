"""Paired comparison of a what-if against a base scenario, with common random numbers.

Both scenarios run with the same seed and draws. Parameters are sampled from
streams keyed by their names and the model's own chance from streams keyed by
(draw, replicate, what the number is for) (:mod:`threatsim.engine.streams`), so
draw ``i`` of the what-if sees the same parameter values and the same chance as
draw ``i`` of the base wherever the two scenarios agree, and an output the
what-if cannot reach is the same on every draw. The difference ``what-if - base``
is then taken draw by draw: a paired difference, whose bands are far
narrower than the difference of two independent bands.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from threatsim.analysis._common import jsonable
from threatsim.core.errors import ScenarioError
from threatsim.core.formatting import format_value
from threatsim.engine.executors import ExecutorArg
from threatsim.engine.options import RunOptions
from threatsim.engine.progress import Progress, ProgressArg
from threatsim.engine.runner import run_with
from threatsim.inputs.scenario import Scenario
from threatsim.models.registry import get_model
from threatsim.results import SPLIT_DIMS, Posterior, entry_better, sample_dims, split_entries

__all__ = ["NOISE_SE", "compare", "comparison_table", "difference_verdict", "pairing_gain",
           "scenario_changes"]

#: Which way an output is better; "none": neither (its P(better) is not given).
_BETTER = ("lower", "higher", "none")


def _flatten(table: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(table, dict):
        out: dict[str, Any] = {}
        for key, value in table.items():
            out.update(_flatten(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: table}


def scenario_changes(base: Scenario, whatif: Scenario) -> list[tuple[str, Any, Any]]:
    """What the what-if changed: ``(key, base value, what-if value)`` for every key that differs.

    Keys are dotted paths of the resolved scenarios (after ``extends``);
    a key present in only one of them shows ``None`` on the other side.
    ``name``, ``description`` and ``sources`` are left out.

    >>> import threatsim
    >>> base = threatsim.load_scenario("scenarios/financing.toml")
    >>> scenario_changes(base, base.with_values({"levers.seizure_effort": 2.0}))
    [('levers.seizure_effort', 1.0, 2.0)]
    """
    a, b = _flatten(base.resolved), _flatten(whatif.resolved)
    skip = ("name", "description", "sources")
    changes = []
    for key in sorted(set(a) | set(b)):
        if key in skip:
            continue
        if a.get(key) != b.get(key):
            changes.append((key, a.get(key), b.get(key)))
    return changes


def check_comparable(base: Scenario, whatif: Scenario) -> None:
    """Refuse scenarios that are not runs of the same model over the same months.

    >>> import threatsim
    >>> base = threatsim.load_scenario("scenarios/financing.toml")
    >>> other = threatsim.load_scenario("scenarios/detention_iraq_syria.toml")
    >>> check_comparable(base, other)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    threatsim.core.errors.ScenarioError: ...: 2 problems: model='detention' must be the same ...
    """
    problems = []
    for key, x, y in (("model", base.model, whatif.model),
                      ("start", base.month_label(0), whatif.month_label(0)),
                      ("horizon", base.horizon, whatif.horizon)):
        if x != y:
            problems.append(ScenarioError(
                f"must be the same in both scenarios to compare them draw by draw "
                f"(base {x!r}, what-if {y!r})", key=key, value=y))
    if problems:
        raise ScenarioError("cannot compare", path=whatif.path, problems=tuple(problems))


def _better_map(better: str | Mapping[str, str] | None, names: Sequence[str],
                declared: Mapping[str, str]) -> dict[str, str]:
    if better is None:
        better = {}
    elif isinstance(better, str):
        better = dict.fromkeys(names, better)
    out = {}
    for name in names:
        way = better.get(name, declared.get(name, "none"))
        if way not in _BETTER:
            raise ScenarioError("must be 'lower', 'higher' or 'none'", key=f"better.{name}",
                                value=way)
        out[name] = way
    for name in better:
        if name not in names:
            raise ScenarioError(f"is not an output of both runs ({', '.join(names)})",
                                key="better", value=name)
    return out


def compare(
    base: Scenario,
    whatif: Scenario,
    *,
    draws: int | None = None,
    seed: int | None = None,
    sampler: str | None = None,
    chunk_size: int | None = None,
    replicates: int | None = None,
    better: str | Mapping[str, str] | None = None,
    levels: Mapping[str, float] | None = None,
    quantiles: Sequence[float] | None = None,
    executor: ExecutorArg = None,
    progress: ProgressArg = None,
    posterior: Posterior | str | os.PathLike[str] | None = None,
    base_run: xr.Dataset | None = None,
) -> xr.Dataset:
    """Run *base* and *whatif* with common random numbers and take paired differences.

    Parameters
    ----------
    base, whatif
        Scenarios of the same model, start and horizon.
    draws, seed, sampler, chunk_size, replicates
        Shared by both runs; default to the base scenario's ``[run]``.
    better
        Which way is better: by default what the model declares per output
        (fewer active fighters, more seized; ``"none"`` where neither way is,
        e.g. spending or the convicted: no P(better) then). ``"lower"``,
        ``"higher"`` or ``"none"`` for every output, or a mapping from output
        name to that (the others as declared).
    levels
        Output name -> level for the exceedance probabilities. The event
        counted is the bad side of the level: above it when lower is better,
        below it when higher is better (above it where no way is better).
        Default: the base run's median in each month (so the base's
        probability is about 50 %).
    quantiles
        Bands of the difference (default: the base scenario's quantiles).
    progress
        Counts the draws of both runs (of the what-if only, given *base_run*),
        with a line as each ends (:mod:`threatsim.engine.progress`): ``True``,
        a bar on stderr; ``None``, that when stderr is a terminal; a callable
        ``progress(done, total, label)``; ``False``: nothing. Default ``None``.
    posterior
        A posterior sample (or its file) that drives both runs: both get the
        same resample, draw by draw, and the same chance (checked against both
        scenarios before either runs; see docs/calibration.md).
    base_run
        A run of *base* already made (every draw kept), used instead of running
        it again: it must be that run, with these options (its run id, seed,
        draws, sampler, chunk size and replicates are checked), else a
        :class:`ScenarioError` says which differs.

    Returns
    -------
    xarray.Dataset
        For every output ``x`` both runs share:

        * ``x`` on a ``scenario`` dim (``"base"``, ``"whatif"``) before the sample dims;
        * ``x_diff``: the paired difference what-if - base, per draw;
        * ``x_diff_bands``: its quantile bands (``quantile`` dim);
        * ``x_p_better``: P(what-if better than base), over draws where both are defined
          (NaN where no way is better);
        * ``x_pairing_gain``: how much pairing cut the variance of the difference,
          ``(Var(base) + Var(what-if)) / Var(what-if - base)`` (see :func:`pairing_gain`);
        * ``x_level``, ``x_p_exceed`` (per scenario) and ``x_p_exceed_diff``
          (what-if - base): the exceedance probabilities of the level.

        The sampled parameters (on ``scenario`` and ``draw``), and attrs
        naming both scenarios, the shared seed and the changes
        (``changes``: JSON list of [key, base, what-if]).

    Raises
    ------
    ScenarioError
        Scenarios of different models, starts or horizons; a bad ``better``
        or ``levels`` entry.

    Examples
    --------
    >>> import threatsim
    >>> base = threatsim.load_scenario("scenarios/financing.toml")
    >>> whatif = base.with_values({"levers.seizure_effort": 2.0})
    >>> cds = compare(base, whatif, draws=200)
    >>> cds["reserves"].dims[:2], cds["reserves_diff_bands"].dims
    (('scenario', 'draw'), ('quantile', 'time'))
    """
    check_comparable(base, whatif)
    if posterior is None and base.posterior != whatif.posterior:
        raise ScenarioError(
            "must name the posterior the base names (both runs draw their parameters from "
            f"one posterior, to stay paired): the base names {base.posterior or 'none'}",
            path=whatif.path, key="posterior", value=whatif.posterior)
    # One set of run options for both runs, the base's where not given (a falsy value:
    # the base's too).
    options = RunOptions.build(base, draws=draws or None, seed=seed, sampler=sampler or None,
                               chunk_size=chunk_size or None, replicates=replicates or None,
                               executor=executor, progress=False, posterior=posterior)
    if options.posterior is not None:
        options.posterior.check(whatif)
    names = [v for v in base.variables if v in whatif.variables]
    decls = {o.name: o for o in get_model(base.model).info.outputs}
    way = _better_map(better, names, {n: decls[n].better or "none" for n in names})
    levels = dict(levels or {})
    for name in levels:
        if name not in names:
            raise ScenarioError(f"is not an output of both runs ({', '.join(names)})",
                                key="level", value=name)
    qs = list(quantiles) if quantiles is not None else list(base.quantiles)

    if base_run is not None:
        _check_base_run(base_run, base, options)
    runs = 1 if base_run is not None else 2
    with Progress(runs * options.draws, progress=progress,
                  label=f"compare {base.name} / {whatif.name}") as bar:
        if base_run is not None:
            a = base_run
        else:
            a = run_with(base, dataclasses.replace(options, progress=bar.part()))
            bar.advance(0, line=f"compare: base {base.name} run")
        b = run_with(whatif, dataclasses.replace(options, progress=bar.part()))
        bar.advance(0, line=f"compare: what-if {whatif.name} run")

    index = pd.Index(["base", "whatif"], name="scenario")
    data: dict[str, xr.DataArray] = {}
    params = [str(n) for n in a.data_vars if a[n].attrs.get("role") == "parameter"]
    params += [str(n) for n in b.data_vars
               if b[n].attrs.get("role") == "parameter" and n not in params]
    for name in params:
        pair = [ds[name] if name in ds else xr.full_like(a["draw"], np.nan, dtype=float)
                for ds in (a, b)]
        var = xr.concat(pair, dim=index)
        var.attrs = (a[name] if name in a else b[name]).attrs
        data[name] = var
    for name in names:
        x, y = a[name], b[name]
        attrs = dict(x.attrs)
        data[name] = xr.concat([x, y], dim=index).assign_attrs(attrs)
        diff = (y - x).assign_attrs(units=attrs.get("units", ""),
                                    long_name=f"what-if minus base: {name}")
        data[f"{name}_diff"] = diff
        dims = sample_dims(diff)
        with warnings.catch_warnings():  # a flow has no value before the first month
            warnings.simplefilter("ignore", RuntimeWarning)
            data[f"{name}_diff_bands"] = diff.quantile(qs, dim=dims).assign_attrs(
                units=attrs.get("units", ""), long_name=f"bands of the paired difference: {name}")
            data[f"{name}_pairing_gain"] = pairing_gain(x, y).assign_attrs(
                units="ratio", long_name=f"variance of an unpaired difference over that of "
                f"the paired one: {name} (inf: the same on every draw)")
            lower = way[name] != "higher"  # the bad side of a level: above, unless higher
            valid = diff.notnull() & (way[name] != "none")
            gain = (diff < 0) if lower else (diff > 0)
            p_better = gain.where(valid).mean(dims)
            data[f"{name}_p_better"] = p_better.assign_attrs(
                units="probability", better=way[name],
                long_name=(f"P(what-if {way[name]} than base: {name})" if way[name] != "none"
                           else f"not given: no way is better for {name}"))
            if name in levels:
                level: xr.DataArray | float = float(levels[name])
                data[f"{name}_level"] = xr.DataArray(level, attrs={
                    "units": attrs.get("units", ""), "long_name": "level (given)",
                    "level_from": "given"})
            else:
                level = x.median(dims)
                data[f"{name}_level"] = level.assign_attrs(
                    units=attrs.get("units", ""), long_name="level: the base run's median",
                    level_from="base median")
        side = "above" if lower else "below"
        hit = (data[name] > level) if lower else (data[name] < level)
        p = hit.mean(dims)
        data[f"{name}_p_exceed"] = p.assign_attrs(
            units="probability", side=side, long_name=f"P({name} {side} level)")
        data[f"{name}_p_exceed_diff"] = (p.sel(scenario="whatif", drop=True)
                                         - p.sel(scenario="base", drop=True)).assign_attrs(
            units="probability", side=side,
            long_name=f"what-if minus base: P({name} {side} level)")
    changes = [[k, jsonable(u), jsonable(v)] for k, u, v in scenario_changes(base, whatif)]
    attrs = dict(a.attrs)
    attrs.update({
        "title": f"threatsim comparison: {whatif.name!r} against {base.name!r}",
        "base_name": base.name,
        "whatif_name": whatif.name,
        "whatif_run_id": b.attrs["run_id"],
        "whatif_resolved_scenario": b.attrs["resolved_scenario"],
        "changes": json.dumps(changes),
        "better": json.dumps(way),
        "compared": json.dumps(names),
        "quantiles": json.dumps(qs),
    })
    return xr.Dataset(data, attrs=attrs)


def _check_base_run(ds: xr.Dataset, base: Scenario, options: RunOptions) -> None:
    """*ds* is the run of *base* that *options* would make (else: what differs)."""
    run_id = (options.posterior.run_id(base.run_id) if options.posterior is not None
              else base.run_id)
    expected = {"run_id": run_id, "seed": options.seed, "draws": options.draws,
                "sampler": options.sampler, "chunk_size": options.chunk_size,
                "replicates": options.replicates, "keep": "draws"}
    got = {k: ds.attrs.get(k, "draws" if k == "keep" else None) for k in expected}
    differ = [f"{k} {got[k]!r} (this comparison: {v!r})" for k, v in expected.items()
              if str(got[k]) != str(v)]
    if differ or "draws_file" in ds.attrs:
        raise ScenarioError("is not the run of the base this comparison would make: "
                            + ("; ".join(differ) or "its draws were streamed to a file"),
                            key="base_run", value=ds.attrs.get("run_id"))


def pairing_gain(base: xr.DataArray, whatif: xr.DataArray) -> xr.DataArray:
    """How much common random numbers cut the variance of the difference *whatif* - *base*.

    Two independent runs would give a difference of variance ``Var(base) +
    Var(whatif)``; paired draws give ``Var(whatif - base)``. The ratio of the two
    (over the sample dims, per month and model dim) is the factor of draws
    pairing saves: 10 means an unpaired comparison would need ten times the draws
    for the same precision. ``inf`` where the two runs agree on every draw (an
    output the what-if cannot reach); NaN where neither varies.

    >>> base = xr.DataArray([1.0, 2.0, 3.0, 4.0], dims="draw")
    >>> float(pairing_gain(base, base + 0.5))  # a shift: no variance left at all
    inf
    >>> float(pairing_gain(base, base * 1.1).round(1))  # (1.67 + 2.02) / 0.017
    221.0
    """
    dims = sample_dims(base)
    with warnings.catch_warnings():  # a flow has no value before the first month
        warnings.simplefilter("ignore", RuntimeWarning)
        unpaired = base.var(dims, ddof=1) + whatif.var(dims, ddof=1)
        paired = (whatif - base).var(dims, ddof=1)
    ratio: xr.DataArray = xr.where(paired > 0, unpaired / paired.where(paired > 0), np.inf)
    return ratio.where(unpaired > 0)


#: A paired difference is "within Monte Carlo noise" when its mean is within this many
#: standard errors of 0 (about a 95 % interval): these draws cannot tell it from no change.
NOISE_SE = 2.0


def difference_verdict(diff: np.ndarray) -> str:
    """What paired differences (one per draw, NaN where undefined) say against noise.

    ``"no change"``: zero in every draw; ``"noise"``: the mean is within
    :data:`NOISE_SE` standard errors of 0; ``"clear"``: it is not; ``"-"``: no draw
    defines it.

    >>> difference_verdict(np.zeros(5)), difference_verdict(np.array([1.0, -1.0, 2.0, -2.0]))
    ('no change', 'noise')
    >>> difference_verdict(np.array([1.0, 1.1, 0.9, 1.0]))
    'clear'
    """
    valid = np.asarray(diff, dtype=float).ravel()
    valid = valid[np.isfinite(valid)]
    if valid.size == 0:
        return "-"
    if np.all(valid == 0):
        return "no change"
    se = float(valid.std(ddof=1) / math.sqrt(valid.size)) if valid.size > 1 else math.inf
    return "noise" if abs(float(valid.mean())) <= NOISE_SE * se else "clear"


def _pairing_text(gain: float) -> str:
    if np.isnan(gain):
        return "-"
    if np.isinf(gain):
        return "exact"
    if gain >= 1e5:  # a what-if that barely reaches the output: the ratio says only "huge"
        return ">100,000x"
    return f"{gain:,.0f}x" if gain >= 10 else f"{gain:.1f}x"


def _months(cds: xr.Dataset) -> list[str]:
    return [str(np.datetime64(t, "M")) for t in cds["time"].values]


def _entry_name(name: str, labels: Mapping[str, str]) -> str:
    return " ".join([name, *labels.values()])


def comparison_table(cds: xr.Dataset, *, report_months: Sequence[int] | None = None) -> str:
    """The text ``threatsim compare`` prints: what changed, then paired differences per output.

    An output with compartments (origin groups, nationalities) gets one section per
    entry, summed over its other model dims (regions), with that entry's declared
    direction: fewer active fighters is better, while the killed or the imprisoned
    have no better way. Each row says whether its difference stands out of the
    Monte Carlo noise (:func:`difference_verdict`).

    >>> import threatsim
    >>> base = threatsim.load_scenario("scenarios/financing.toml")
    >>> cds = compare(base, base.with_values({"levers.seizure_effort": 2.0}), draws=200)
    >>> comparison_table(cds).splitlines()[2]
    '  levers.seizure_effort: 1.0 -> 2.0'
    """
    names = json.loads(cds.attrs["compared"])
    qs = json.loads(cds.attrs["quantiles"])
    shown = [q for q in qs if q in (0.05, 0.5, 0.95)] or qs
    lines = [f"compare {cds.attrs['whatif_name']!r} (what-if) against "
             f"{cds.attrs['base_name']!r} (base): {cds.sizes['draw']:,} paired draws, seed "
             f"{cds.attrs['seed']}, sampler {cds.attrs['sampler']} (common random numbers)"]
    if "posterior_id" in cds.attrs:
        ids = json.loads(str(cds.attrs.get("posterior_observations", "[]")))
        lines.append(f"both runs draw their parameters from posterior {cds.attrs['posterior_id']}"
                     f" (conditioned on {len(ids)} observation{'s' if len(ids) != 1 else ''}"
                     f": {', '.join(map(str, ids))}), the same draw by draw")
    changes = json.loads(cds.attrs["changes"])
    lines.append("what the what-if changes:" if changes else
                 "what the what-if changes: nothing (same resolved scenario)")
    for key, old, new in changes:
        lines.append(f"  {key}: {json.dumps(old)} -> {json.dumps(new)}")
    months = _months(cds) if "time" in cds.dims else []
    if report_months is None:
        report_months = sorted({*range(0, len(months), 12), len(months) - 1}) if months else []
    for name in names:
        unit = cds[name].attrs.get("units", "")
        level = cds[f"{name}_level"]
        given = level.attrs.get("level_from") == "given"
        keep = ("scenario", "draw", "replicate", "time")
        extra = [d for d in cds[name].dims if d not in (*keep, *SPLIT_DIMS)]
        for labels, x in split_entries(cds[name], keep):
            better = (cds[f"{name}_p_better"].attrs["better"] if not labels
                      else entry_better(cds[name], labels))
            side = "below" if better == "higher" else "above"
            lvl = (format_value(float(level), unit) if given
                   else "the base run's median" + (" each month" if "time" in x.dims else ""))
            direction = "no way is better" if better == "none" else f"{better} is better"
            lines.append(f"\n{_entry_name(name, labels)} ({unit}); {direction}; difference = "
                         f"what-if - base; level = {lvl}"
                         + (f"; summed over {', '.join(extra)}" if extra else ""))
            lines.append(f"  {'month':<8}{'base 50%':>11}{'what-if 50%':>13}"
                         + "".join(f"{f'diff {q:.0%}':>11}" for q in shown)
                         + f"{'P(better)':>11}{'vs noise':>11}{f'P({side}) base':>15}"
                         + f"{'what-if':>9}{'change':>9}{'pairing':>11}")
            rows = [(months[i], {"time": i}) for i in report_months] if "time" in x.dims \
                else [("(draw)", {})]
            for label, sel in rows:
                lines.append(_comparison_row(
                    label, x.isel(sel) if sel else x, unit=unit, better=better, side=side,
                    level=float(level) if given else None, shown=shown))
    lines.append(f"\nvs noise: 'noise' where the mean paired difference is within {NOISE_SE:g} "
                 "standard errors of 0 (these draws cannot tell it from no change); "
                 "'no change' where it is 0 in every draw")
    return "\n".join(lines)


def _comparison_row(label: str, x: xr.DataArray, *, unit: str, better: str, side: str,
                    level: float | None, shown: Sequence[float]) -> str:
    """One month of one comparison section: medians, difference bands, P(better), the
    verdict against noise, the exceedance of the level, the pairing gain."""
    dims = sample_dims(x)
    diff = x.sel(scenario="whatif") - x.sel(scenario="base")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        med = x.median(dims)
        dq = diff.quantile(list(shown), dim=dims)
    gain = (diff < 0) if better == "lower" else (diff > 0)
    pb = float(gain.where(diff.notnull()).mean()) if better != "none" else math.nan
    pairing = float(pairing_gain(x.sel(scenario="base"), x.sel(scenario="whatif")))
    verdict = difference_verdict(diff.values)
    # The default level is the base's median (of the total over model dims).
    lv = level if level is not None else float(med.sel(scenario="base"))
    hit = (x > lv) if side == "above" else (x < lv)
    pe = hit.mean(dims).where(np.isfinite(lv))
    pe_a, pe_b = float(pe.sel(scenario="base")), float(pe.sel(scenario="whatif"))
    cells = (f"{format_value(float(med.sel(scenario='base')), unit, short=True):>11}"
             f"{format_value(float(med.sel(scenario='whatif')), unit, short=True):>13}"
             + "".join(f"{format_value(float(dq.sel(quantile=q)), unit, short=True):>11}"
                       for q in shown)
             + f"{'-' if verdict in ('no change', '-') else _pct(pb):>11}{verdict:>11}"
             f"{_pct(pe_a):>15}{_pct(pe_b):>9}"
             f"{_pct(pe_b - pe_a, True):>9}{_pairing_text(pairing):>11}")
    return f"  {label:<8}{cells}"


def _pct(x: float, signed: bool = False) -> str:
    if not np.isfinite(x):
        return "-"
    return f"{x:+.1%}" if signed else f"{x:.1%}"

"""The analysis subcommands of ``threatsim``: compare, sweep, sensitivity, discover, calibrate,
rolling.

Kept beside the analysis code so that :mod:`threatsim.cli.main` only registers
them (:func:`add_commands`). Every bad input is checked before anything runs
and raises a ScenarioError (exit status 2, one line on stderr).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from threatsim.analysis._common import check_output_at
from threatsim.analysis.compare import check_comparable, compare, comparison_table
from threatsim.analysis.discovery import discover, result_json
from threatsim.analysis.sensitivity import sensitivity, sensitivity_table
from threatsim.analysis.sweep import parse_set, sweep, sweep_table
from threatsim.core.atomic import file_stem
from threatsim.core.errors import ScenarioError
from threatsim.engine.runner import run as run_scenario
from threatsim.inputs.parts import SAMPLERS
from threatsim.inputs.scenario import Scenario, load_scenario
from threatsim.models.registry import get_model
from threatsim.outputs.calibration import (
    DEFAULT_REL_ERROR,
    METHODS,
    calibrate,
    calibration_report,
)
from threatsim.outputs.charts import comparison_figure, headline_series
from threatsim.outputs.observations import ObservationSet, load_observations
from threatsim.outputs.plotting import (
    exceedance_chart,
    prim_chart,
    save_figures,
    sweep_heatmap,
    tornado_chart,
)
from threatsim.outputs.plotting_calibration import posterior_chart
from threatsim.outputs.rolling import rolling_origin, rolling_table
from threatsim.results import write_netcdf

if TYPE_CHECKING:  # only its type: the charts come from threatsim.outputs.plotting
    from matplotlib.figure import Figure

#: A chart to write: its file stem and what draws it (called only when it is written).
NamedFigure = tuple[str, Callable[[], "Figure"]]

__all__ = ["add_commands", "parse_key_values"]


def parse_key_values(items: list[str] | None, *, option: str, numbers: bool) -> dict[str, Any]:
    """``["a=1", "b=2"]`` -> ``{"a": 1.0, "b": 2.0}`` (or strings), with a clear error.

    >>> parse_key_values(["reserves=50e6", "held=1_000"], option="--level", numbers=True)
    {'reserves': 50000000.0, 'held': 1000.0}
    >>> parse_key_values(["reserves"], option="--level", numbers=True)
    Traceback (most recent call last):
    ...
    threatsim.core.errors.ScenarioError: --level='reserves' must be NAME=VALUE
    """
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ScenarioError("must be NAME=VALUE", key=option, value=item)
        value = value.strip()
        if numbers:
            try:
                out[key.strip()] = float(value.replace("_", ""))
            except ValueError:
                raise ScenarioError("must be NAME=NUMBER (e.g. reserves=50e6)", key=option,
                                    value=item) from None
        else:
            out[key.strip()] = value
    return out


def _better(items: list[str] | None) -> str | dict[str, str] | None:
    """``--better``: None (as the model declares), one way for every output, or per name."""
    if not items:
        return None
    ways = ("lower", "higher", "none")
    plain = [i for i in items if "=" not in i]
    named = parse_key_values([i for i in items if "=" in i], option="--better", numbers=False)
    if len(plain) > 1:
        raise ScenarioError("give one default (lower, higher or none) and NAME=lower|higher|none "
                            "pairs", key="--better", value=items)
    if plain and plain[0] not in ways:
        raise ScenarioError("must be 'lower', 'higher', 'none' or NAME=lower|higher|none",
                            key="--better", value=plain[0])
    if not named:
        return plain[0]
    if plain:
        return {"*": plain[0], **named}
    return named


def _write_plots(folder: str, figures: list[NamedFigure]) -> list[Path]:
    written: list[Path] = []
    for stem, make in figures:
        written += save_figures(make(), Path(folder) / file_stem(stem))
    return written


def _finish(written: list[Path]) -> None:
    if written:
        print("\nwrote " + ", ".join(str(p) for p in written))


def _cmd_compare(args: argparse.Namespace) -> int:
    base = load_scenario(args.base)
    whatif = load_scenario(args.whatif)
    check_comparable(base, whatif)
    levels = parse_key_values(args.level, option="--level", numbers=True)
    better = _better(args.better)
    if isinstance(better, dict) and "*" in better:
        default = better.pop("*")
        names = [v for v in base.variables if v in whatif.variables]
        better = {**dict.fromkeys(names, default), **better}
    cds = compare(base, whatif, draws=args.draws, seed=args.seed, sampler=args.sampler,
                  better=better, levels=levels, progress=None if not args.quiet else False,
                  posterior=args.posterior)
    print(comparison_table(cds, report_months=base.report_months))
    written: list[Path] = []
    if args.out:
        written.append(write_netcdf(cds, args.out))
    if args.plot:
        compared = json.loads(cds.attrs["compared"])
        series = [n for n in compared if "time" in cds[n].dims]
        stem = f"compare_{base.name}_{whatif.name}"
        figures: list[NamedFigure] = [
            (f"{stem}_{s.stem}",
             lambda s=s: comparison_figure(cds, s, base=base, whatif=whatif))  # type: ignore[misc]
            for s in headline_series(cds, base) if s.output in compared]
        if series:
            first = series[0]
            lv = [levels[first]] if first in levels else []
            figures.append((f"{stem}_exceedance_{first}",
                            lambda: exceedance_chart(cds, first, levels=lv)))
        written += _write_plots(args.plot, figures)
    _finish(written)
    return 0


def _default_output(sc: Scenario) -> str:
    decls = {o.name: o for o in get_model(sc.model).info.outputs}
    monthly = [v for v in sc.variables if "time" in decls[v].dims]
    return monthly[0] if monthly else sc.variables[0]


def _cmd_sweep(args: argparse.Namespace) -> int:
    sc = load_scenario(args.scenario)
    grid: dict[str, list[Any]] = {}
    for text in args.set:
        key, values = parse_set(text)
        if key in grid:
            raise ScenarioError("is set twice; give each key once", key=key, value=text)
        grid[key] = values
    output = args.output or _default_output(sc)
    sc = check_output_at(sc, output, args.at)
    ds = sweep(sc, grid, draws=args.draws, seed=args.seed, sampler=args.sampler,
               progress=None if not args.quiet else False, posterior=args.posterior)
    print(sweep_table(ds, output, args.at))
    written: list[Path] = []
    if args.out:
        written.append(write_netcdf(ds, args.out))
    if args.plot:
        if len(grid) > 3:
            raise ScenarioError("can draw at most three swept keys; leave out --plot",
                                key="--plot", value=list(grid))
        written += _write_plots(args.plot, [(f"sweep_{sc.name}_{output}",
                                             lambda: sweep_heatmap(ds, output, at=args.at))])
    _finish(written)
    return 0


#: Why ``sensitivity --posterior`` is refused (docs/calibration.md).
POSTERIOR_SENSITIVITY = (
    "is not taken by sensitivity: Sobol indices (Saltelli designs) assume independent "
    "parameters, and a posterior's are dependent (conditioning on an observation ties "
    "them together), so the indices would be invalid; the reruns under other readings "
    "of the ranges do not apply either (the posterior replaces the ranges). Run on the "
    "posterior (threatsim run SCENARIO --posterior POST.nc --out RUN.nc) and read the "
    "rank correlations of its draws (threatsim.analysis.sensitivity.rank_correlations)")


def _cmd_sensitivity(args: argparse.Namespace) -> int:
    if args.posterior:
        raise ScenarioError(POSTERIOR_SENSITIVITY, key="--posterior", value=args.posterior)
    sc = load_scenario(args.scenario)
    sc = check_output_at(sc, args.output, args.at)
    sds = sensitivity(sc, args.output, at=args.at, n=args.n, draws=args.draws, seed=args.seed,
                      readings=not args.no_readings,
                      progress=None if not args.quiet else False)
    print(sensitivity_table(sds))
    written: list[Path] = []
    if args.out:
        written.append(write_netcdf(sds, args.out))
    if args.plot:
        written += _write_plots(args.plot, [(f"tornado_{sc.name}_{args.output}",
                                             lambda: tornado_chart(sds))])
    _finish(written)
    return 0


def _cmd_discover(args: argparse.Namespace) -> int:
    if (args.below is None) == (args.above is None):
        given = "both were given" if args.below is not None else "neither was given"
        raise ScenarioError(f"give exactly one of --below LEVEL or --above LEVEL ({given})")
    sc = load_scenario(args.scenario)
    sc = check_output_at(sc, args.output, args.at)
    ds = run_scenario(sc, draws=args.draws, seed=args.seed, sampler=args.sampler,
                       progress=None if not args.quiet else False)
    res = discover(ds, args.output, below=args.below, above=args.above, at=args.at,
                   threshold=args.threshold, peel_alpha=args.peel_alpha)
    print(f"scenario {sc.name!r}: {ds.sizes['draw']:,} draws, seed {ds.attrs['seed']}")
    print(res.summary())
    written: list[Path] = []
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(result_json(res) + "\n")
        written.append(path)
    if args.plot:
        written += _write_plots(args.plot, [(f"discover_{sc.name}_{args.output}",
                                             lambda: prim_chart(res))])
    _finish(written)
    return 0


def _cmd_calibrate(args: argparse.Namespace) -> int:
    sc, obs, errors = _calibration_inputs(args)
    post = calibrate(sc, obs, draws=args.draws, seed=args.seed, errors=errors,
                     rel_error=args.rel_error, method=args.method, particles=args.particles,
                     progress=None if not args.quiet else False)
    print(calibration_report(post))
    written: list[Path] = []
    if args.out:
        written.append(write_netcdf(post, args.out))
    if args.plot:
        written += _write_plots(args.plot, [(f"calibration_{sc.name}",
                                             lambda: posterior_chart(post))])
    _finish(written)
    return 0


def _cmd_rolling(args: argparse.Namespace) -> int:
    sc, obs, errors = _calibration_inputs(args)
    board = rolling_origin(sc, obs, origins=args.origin, draws=args.draws, seed=args.seed,
                           errors=errors, rel_error=args.rel_error, method=args.method,
                           progress=None if not args.quiet else False)
    print(f"scenario {sc.name!r}: {board.attrs['draws']:,} draws, seed {board.attrs['seed']}; "
          f"{board.sizes['origin']} origins, {board.sizes['observation']} figures")
    print(rolling_table(board))
    written: list[Path] = []
    if args.out:
        written.append(write_netcdf(board, args.out))
    _finish(written)
    return 0


def _posterior_option(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--posterior", metavar="POST.nc",
                   help=f"draw the sampled parameters of {what} from this posterior "
                        "(threatsim calibrate --out), draw by draw the same; see "
                        "docs/calibration.md")


def _calibration_options(p: argparse.ArgumentParser, only: str) -> None:
    """The scenario, the observations and how they are read: calibrate's and rolling's."""
    p.add_argument("scenario")
    p.add_argument("observations", help="observation file (TOML, see docs/scoring.md)")
    p.add_argument("--only", action="append", metavar="PATTERN",
                   help=f"{only} observations whose id matches (shell-style); repeatable")
    p.add_argument("--error", action="append", metavar="ID=REL",
                   help="relative reporting error of observation ID (see docs/calibration.md; "
                        "it overrides the file's reporting_error); repeatable")
    p.add_argument("--rel-error", type=float, default=DEFAULT_REL_ERROR,
                   help=f"relative reporting error of the others (default {DEFAULT_REL_ERROR})")
    p.add_argument("--method", choices=METHODS, default="auto",
                   help="importance reweighting, sequential Monte Carlo, or auto (default: "
                        "importance unless Pareto k > 0.7 or the ESS is too small)")


def _calibration_inputs(args: argparse.Namespace,
                        ) -> tuple[Scenario, ObservationSet, dict[str, Any]]:
    """The scenario, its observations and the --error overrides of calibrate and rolling."""
    return (load_scenario(args.scenario), load_observations(args.observations, only=args.only),
            parse_key_values(args.error, option="--error", numbers=True))


def _run_options(p: argparse.ArgumentParser, *, sampler: bool = True) -> None:
    p.add_argument("--draws", type=int, help="draws (default: the scenario's run.draws)")
    p.add_argument("--seed", type=int, help="seed (default: the scenario's run.seed)")
    if sampler:  # only where it is used: an option accepted and ignored misleads
        p.add_argument("--sampler", choices=SAMPLERS)
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register compare, sweep, sensitivity, discover, calibrate and rolling.

    >>> import argparse
    >>> sub = argparse.ArgumentParser(prog="threatsim").add_subparsers()
    >>> add_commands(sub)
    >>> sorted(sub.choices)
    ['calibrate', 'compare', 'discover', 'rolling', 'sensitivity', 'sweep']
    """
    p = sub.add_parser("compare", help="paired comparison of a what-if against a base, with "
                                       "common random numbers")
    p.add_argument("base", help="base scenario file")
    p.add_argument("whatif", help="what-if scenario file (same model, start and horizon)")
    _run_options(p)
    p.add_argument("--better", action="append", metavar="lower|higher|none|NAME=WAY",
                   help="which way is better (default: as the model declares per output, "
                        "see `threatsim models`); repeatable")
    p.add_argument("--level", action="append", metavar="NAME=VALUE",
                   help="level for the exceedance probabilities of output NAME (default: "
                        "the base run's median each month); repeatable")
    p.add_argument("--out", help="write the comparison Dataset to this NetCDF file")
    p.add_argument("--plot", metavar="DIR", help="write comparison and exceedance charts "
                                                 "(PNG and SVG) here")
    _posterior_option(p, "both runs")
    p.set_defaults(func=_cmd_compare)

    p = sub.add_parser("sweep", help="run a scenario over a grid of lever or parameter values")
    p.add_argument("scenario")
    p.add_argument("--set", action="append", required=True, metavar="KEY=SPEC",
                   help="KEY=start:stop:step, KEY=a,b,c or KEY=value; repeat for a grid")
    p.add_argument("--output", help="output to report (default: the first monthly output)")
    p.add_argument("--at", metavar="YYYY-MM", help="month to report (default: the last)")
    _run_options(p)
    p.add_argument("--out", help="write the sweep Dataset to this NetCDF file")
    p.add_argument("--plot", metavar="DIR", help="write the sweep chart (PNG and SVG) here")
    _posterior_option(p, "every point")
    p.set_defaults(func=_cmd_sweep)

    p = sub.add_parser("sensitivity", help="Sobol indices, rank correlations and the reading "
                                           "of the report's ranges for one output")
    p.add_argument("scenario")
    p.add_argument("--output", required=True)
    p.add_argument("--at", metavar="YYYY-MM", help="month (default: the last)")
    p.add_argument("--n", type=int, default=1024,
                   help="Sobol base sample, a power of 2: (parameters + 2) x n model runs "
                        "(default 1024)")
    p.add_argument("--draws", type=int, help="draws of the rank-correlation and reading runs")
    p.add_argument("--seed", type=int)
    p.add_argument("--no-readings", action="store_true",
                   help="skip the reruns under other readings of the reported ranges")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--out", help="write the indices to this NetCDF file")
    p.add_argument("--plot", metavar="DIR", help="write the tornado chart (PNG and SVG) here")
    p.add_argument("--posterior", metavar="POST.nc",
                   help="refused, with the reason: Sobol indices need independent "
                        "parameters (see docs/calibration.md)")
    p.set_defaults(func=_cmd_sensitivity)

    p = sub.add_parser("discover", help="scenario discovery (PRIM): where in parameter space "
                                        "an outcome happens")
    p.add_argument("scenario")
    p.add_argument("--output", required=True)
    p.add_argument("--below", type=float, metavar="LEVEL")
    p.add_argument("--above", type=float, metavar="LEVEL")
    p.add_argument("--at", metavar="YYYY-MM", help="month (default: the last)")
    _run_options(p)
    p.add_argument("--threshold", type=float, default=0.8,
                   help="density the reported box must reach (default 0.8)")
    p.add_argument("--peel-alpha", type=float, default=0.05,
                   help="share of the box peeled at each step (default 0.05)")
    p.add_argument("--json", metavar="FILE", help="write the box and the trajectory as JSON")
    p.add_argument("--plot", metavar="DIR", help="write the trade-off chart (PNG and SVG) here")
    p.set_defaults(func=_cmd_discover)

    p = sub.add_parser("calibrate", help="condition a scenario's parameters on reported figures "
                                         "(points, ranges, bounds): posterior sample and "
                                         "diagnostics")
    _calibration_options(p, "condition only on")
    p.add_argument("--particles", type=int, help="SMC particles (default: draws, at most 2000)")
    _run_options(p, sampler=False)
    p.add_argument("--out", help="write the posterior sample (NetCDF)")
    p.add_argument("--plot", metavar="DIR",
                   help="write the chart of prior and posterior bands, with the figures "
                        "(PNG and SVG) here")
    p.set_defaults(func=_cmd_calibrate)

    p = sub.add_parser("rolling", help="rolling-origin evaluation: calibrate on the figures up "
                                       "to each origin, score those after it (prior, "
                                       "posterior, persistence)")
    _calibration_options(p, "use only")
    p.add_argument("--origin", action="append", metavar="YYYY-MM",
                   help="an origin month (repeatable; default: every month a figure is dated "
                        "but the last)")
    _run_options(p, sampler=False)
    p.add_argument("--out", help="write the scores by origin and figure (NetCDF)")
    p.set_defaults(func=_cmd_rolling)

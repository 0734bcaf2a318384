"""The ``threatsim`` command.

Every subcommand prints one line and exits with status 2 on bad input
(a :class:`~threatsim.errors.ScenarioError`), and writes nothing then.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from threatsim._atomic import atomic_path
from threatsim.errors import ThreatsimError

__all__ = ["main"]

EXIT_BAD_INPUT = 2
#: The shell's status for a command stopped by Ctrl-C (128 + SIGINT).
EXIT_INTERRUPTED = 130


def _fmt(value: float, unit: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if unit.startswith("usd"):
        return f"${value / 1e6:,.1f}M"
    if unit == "people":
        return f"{value:,.0f}"
    return f"{value:,.3g}"


def _pm(se: float, unit: str) -> str:
    """`` ±x``: a band's Monte Carlo standard error, in the band's unit."""
    if se is None or not math.isfinite(se):
        return ""
    if unit.startswith("usd"):
        return f" ±${se / 1e6:.2g}M"
    return f" ±{se:.2g}"


def summary_table(ds: xr.Dataset, *, quantiles: Sequence[float],
                  report_months: Sequence[int], mcse: bool = True) -> str:
    """The compact text table ``threatsim run`` prints.

    With ``mcse`` every band carries its Monte Carlo standard error (``±``,
    same unit; :func:`threatsim.analysis.convergence.mcse_quantile`).
    """
    from threatsim.analysis.convergence import mcse_quantile
    from threatsim.results import bands

    if ds.attrs.get("keep") == "summary":  # bands already computed, no draws
        from threatsim.streaming import summary_table_of_summary

        return summary_table_of_summary(ds, quantiles=quantiles, report_months=report_months)
    lines: list[str] = []
    qs = [q for q in quantiles if q in (0.05, 0.5, 0.95)] or list(quantiles)
    run_id, draws = ds.attrs.get("run_id", ""), ds.sizes["draw"]
    lines.append(f"scenario {ds.attrs.get('scenario_name')!r} (run {run_id}): {draws:,} draws, "
                 f"seed {ds.attrs.get('seed')}, sampler {ds.attrs.get('sampler')}")
    months = [str(np.datetime64(ds.time.values[i], "M")) for i in report_months]
    for name, da in _summary_items(ds):
        unit = da.attrs.get("units", "")
        if "time" in da.dims:
            sub = da.isel(time=list(report_months))
            b = bands(sub, qs)
            se = mcse_quantile(sub, qs) if mcse else None
            width = 17 if mcse else 10
            head = f"{name} ({unit})" + ("; ± Monte Carlo standard error" if mcse else "")
            header = "  ".join(f"{f'{q:.0%}':>{width}}" for q in qs)
            is_stock = da.attrs.get("kind") == "stock"
            lines.append(f"\n{head}\n  {'month':<8}{header}"
                         + (f"{'P(=0)':>9}" if is_stock else ""))
            zero = (sub == 0).mean([d for d in ("draw", "replicate") if d in sub.dims])
            for i, month in enumerate(months):
                cells = [_fmt(float(b.isel(time=i).sel(quantile=q)), unit) for q in qs]
                if se is not None:
                    cells = [c + _pm(float(se.isel(time=i).sel(quantile=q)), unit)
                             for c, q in zip(cells, qs, strict=True)]
                row = "  ".join(f"{c:>{width}}" for c in cells)
                tail = f"{float(zero.isel(time=i)):>9.1%}" if is_stock else ""
                lines.append(f"  {month:<8}{row}{tail}")
        else:
            finite = da.notnull()
            share = float(finite.mean())
            text = f"\n{name} ({unit}): reached in {share:.1%} of draws"
            if share > 0:
                vals = da.where(finite).quantile(qs, dim=[d for d in da.dims]).values
                ses = (mcse_quantile(da, qs).values if mcse else [math.nan] * len(qs))
                text += "; when reached: " + ", ".join(
                    f"{q:.0%} {v:,.1f}{_pm(float(e), '')}"
                    for q, v, e in zip(qs, vals, ses, strict=True))
            lines.append(text)
    return "\n".join(lines)


#: Dims shown entry by entry (summed over the other model dims): a population by
#: compartment, returnees by origin group (groups with nobody in them are left out).
_SPLIT_DIMS = ("compartment", "origin")


def _split_parts(da: xr.DataArray, keep: tuple[str, ...]) -> list[tuple[str, xr.DataArray]]:
    """(entry, series) per entry of *da*'s split dim, other model dims summed."""
    split = next(d for d in _SPLIT_DIMS if d in da.dims)
    extra = [d for d in da.dims if d not in (*keep, split)]
    total = da.sum(extra, keep_attrs=True) if extra else da
    parts = [(str(c), total.sel({split: c}, drop=True)) for c in da[split].values]
    return [(c, part) for c, part in parts if split != "origin" or bool(part.any())]


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
    """
    out, names = ds, []
    for name in series:
        if not any(d in ds[name].dims for d in _SPLIT_DIMS):
            names.append(name)
            continue
        for comp, part in _split_parts(ds[name], ("draw", "replicate", "time", "quantile")):
            label = f"{name}_{comp}"
            out = out.assign({label: part})
            names.append(label)
    return out, names


def _atomic_figure(fig: object, path: Path) -> None:
    from threatsim.plotting import save_figure

    with atomic_path(path, path.suffix) as tmp:
        save_figure(fig, tmp)  # type: ignore[arg-type]


def _cmd_run(args: argparse.Namespace) -> int:
    from threatsim.executors import InterruptGuard, executor_from_options

    _check_run_options(args)
    if args.scheduler or args.cluster:
        _quiet_client_logs()
    written: list[Path] = []
    code: int | None = None  # set once the run has written its files and said so
    try:
        # the guard keeps Ctrl-C from being lost in a finaliser or deadlocking a NetCDF
        # write
        with _notes_on_stderr(not args.quiet), InterruptGuard(), executor_from_options(
                workers=args.workers, cluster=args.cluster, scheduler=args.scheduler,
                timeout=args.scheduler_timeout) as executor:
            code = _run_with(args, executor, written)
        return code
    except KeyboardInterrupt:
        if code is not None:  # while the executor closed: the files are complete
            if code == 0:
                print(f"threatsim: interrupted after the run had finished; "
                      f"its files are complete ({', '.join(map(str, written))})",
                      file=sys.stderr)
            return EXIT_INTERRUPTED
        if not args.checkpoint:
            raise
        print(f"threatsim: interrupted; no output was written; the finished chunks are "
              f"kept in {args.checkpoint} (run again with --resume to go on)", file=sys.stderr)
        return EXIT_INTERRUPTED


def _quiet_client_logs() -> None:
    """A scheduler that goes away mid-run makes dask's client (and tornado under it) log
    each failed gather and reconnection with its traceback, and a Ctrl-C while results
    are being gathered leaves asyncio a task whose exception nobody retrieved; the run
    then stops with one line of its own (ExecutorError, or "interrupted"). Those logs
    are left out."""
    import logging

    try:
        import distributed  # noqa: F401  (configures its loggers on import: first)
    except ImportError:
        return  # connect() says what to install
    logging.getLogger("distributed").setLevel(logging.ERROR)  # its INFO lines too
    for name in ("distributed.client", "distributed.batched", "tornado.application",
                 "asyncio"):  # "Task exception was never retrieved" after a Ctrl-C
        logging.getLogger(name).setLevel(logging.CRITICAL)


def _check_run_options(args: argparse.Namespace) -> None:
    """Options that cannot go together, refused before anything starts."""
    from threatsim.errors import ScenarioError

    if args.precision is None:
        if args.max_draws is not None:
            raise ScenarioError("goes with --precision (e.g. --precision 0.01)",
                                key="--max-draws", value=args.max_draws)
        return
    # A run to a precision doubles its draws in memory until the bands are precise
    # enough: it has no single run to stream, reduce, checkpoint or resume.
    for flag, value in (("--keep", args.keep), ("--checkpoint", args.checkpoint),
                        ("--resume", args.resume or None)):
        if value is not None:
            raise ScenarioError("does not go with --precision (a run to a precision keeps "
                                "every draw in memory and is not checkpointed)",
                                key=flag, value=value)


@contextlib.contextmanager
def _notes_on_stderr(enabled: bool) -> Iterator[None]:
    """Show the library's notes on a run (logger ``threatsim``, INFO: what a ``--resume``
    found, checked against this run) on stderr as ``threatsim: ...`` lines."""
    import logging

    if not enabled:
        yield
        return
    logger = logging.getLogger("threatsim")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("threatsim: %(message)s"))
    saved = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False  # once, whatever the caller's own logging does
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]


def _run_with(args: argparse.Namespace, executor: object, written: list[Path]) -> int:
    """Run, print the tables, write the files (each added to *written* once complete)."""
    import threatsim
    from threatsim.executors import is_interrupt

    sc = threatsim.load_scenario(args.scenario)
    precision = None
    if args.precision is not None:
        from threatsim.analysis.convergence import run_to_precision

        precision = run_to_precision(sc, args.precision, draws=args.draws,
                                     max_draws=args.max_draws, seed=args.seed,
                                     sampler=args.sampler, chunk_size=args.chunk_size,
                                     executor=executor,
                                     progress=None if not args.quiet else False)
        ds = precision.dataset
    else:
        ds = threatsim.run(sc, draws=args.draws, seed=args.seed, sampler=args.sampler,
                           chunk_size=args.chunk_size, executor=executor,
                           progress=None if not args.quiet else False,
                           keep=args.keep or sc.keep, checkpoint=args.checkpoint,
                           resume=args.resume,
                           out=(args.out or Path("results") / f"{sc.name}.nc")
                           if args.keep == "draws" else None)
    out = Path(args.out) if args.out else Path("results") / f"{sc.name}.nc"
    if "draws_file" in ds.attrs:
        written.append(out)  # streamed there
    try:
        print(summary_table(ds, quantiles=sc.quantiles, report_months=sc.report_months))
        if precision is not None:
            print("\n" + precision.summary())
        _write_outputs(args, sc, ds, out, written)
    except (KeyboardInterrupt, SystemError) as exc:
        if not (written and is_interrupt(exc)):
            raise
        print(f"threatsim: interrupted; wrote {', '.join(map(str, written))} only",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    print("\nwrote " + ", ".join(str(p) for p in written))
    return 0


def _write_outputs(args: argparse.Namespace, sc: Any, ds: xr.Dataset, out: Path,
                   written: list[Path]) -> None:
    """The run's files: NetCDF, fan chart, --plot charts; each added to *written* once
    it is complete (Ctrl-C in between leaves the ones before it)."""
    from threatsim.plotting import fan_chart
    from threatsim.results import write_netcdf

    if "draws_file" not in ds.attrs:
        written.append(write_netcdf(ds, out))
    if not args.no_plot:
        series = [n for n, v in ds.data_vars.items()
                  if "time" in v.dims and v.attrs.get("role") != "parameter"]
        if ds.attrs.get("keep") == "summary":
            from threatsim.streaming import summary_series

            series = summary_series(ds)
        plot_ds, series = split_compartments(ds, series)
        png = out.with_suffix(".png")
        _atomic_figure(fan_chart(plot_ds, series, quantiles=sc.quantiles), png)
        written.append(png)
    if args.plot:
        from threatsim.plotting import exceedance_chart, save_figures

        series = [n for n, v in ds.data_vars.items()
                  if "time" in v.dims and v.attrs.get("role") != "parameter"]
        summary_only = ds.attrs.get("keep") == "summary"
        if summary_only:
            from threatsim.streaming import summary_series

            series = summary_series(ds)
        marks = [(sc.month_label(i), "report") for i in sc.report_months if 0 < i < sc.horizon]
        written += save_figures(fan_chart(ds, series, quantiles=sc.quantiles, marks=marks),
                                Path(args.plot) / f"fan_{sc.name}")
        if series and not summary_only:  # exceedance curves need every draw
            months = [sc.month_label(i) for i in sc.report_months if i > 0][-3:]
            written += save_figures(exceedance_chart(ds, series[0], at=months or None),
                                    Path(args.plot) / f"exceedance_{sc.name}_{series[0]}")


def _cmd_validate(args: argparse.Namespace) -> int:
    import threatsim

    for path in args.scenarios:
        sc = threatsim.load_scenario(path)
        print(f"{path}: ok (model {sc.model}, {len(sc.parameters)} parameters, "
              f"{sc.horizon} months from {sc.month_label(0)}, run id {sc.run_id})")
    return 0


def _cmd_sources(args: argparse.Namespace) -> int:
    from threatsim.errors import ScenarioError
    from threatsim.sources import load_sources

    folder = Path(args.dir)
    if not folder.exists():
        raise ScenarioError("no source registry here; pass --dir DIR", path=str(folder))
    registry = load_sources(folder)
    if args.json:
        keys = ("id", "low", "high", "point", "unit", "document", "paragraph", "quote")
        rows = [{**{k: s.to_dict()[k] for k in keys}, "wording": s.wording, "as_of": s.as_of}
                for s in registry]
        print(json.dumps(rows, indent=2))
        return 0
    for s in registry:
        if s.point is not None:
            value = f"{s.wording} {s.point:,.0f}"
        elif s.low is not None and s.high is not None:
            value = f"{s.low:,.0f} - {s.high:,.0f}"
        else:
            bound = s.low if s.low is not None else s.high
            value = f"{s.wording.replace('_', ' ')} {bound:,.0f}"
        print(f"{s.id:<42} {value:>26} {s.unit:<8} {s.citation():<20} as of {s.as_of}")
    return 0


def _cmd_capacity(args: argparse.Namespace) -> int:
    import threatsim

    sc = threatsim.load_scenario(args.scenario)
    sol = threatsim.solve_capacity(sc, args.lever, target=args.target, by=args.by,
                                   probability=args.probability, output=args.output,
                                   draws=args.draws, seed=args.seed, executor=args.workers)
    print(sol)
    tried = ", ".join(f"{v}: {p:.3f}" for v, p in sorted(sol.tried))
    print(f"tried {sol.lever} (P): {tried}")
    return 0


def _cmd_models(args: argparse.Namespace) -> int:
    from threatsim.models import get_model, model_names

    for name in model_names():
        info = get_model(name).info
        if args.name and name != args.name:
            continue
        print(f"{name}: {info.doc}")
        print("  parameters:")
        for p in info.parameters:
            print(f"    {p.name:<32} {p.unit:<26} {p.doc}")
        print("  levers:")
        for lv in info.levers:
            print(f"    {lv.name:<32} default {lv.default:g} in [{lv.low:g}, {lv.high:g}] "
                  f"{lv.unit}: {lv.doc}")
        print("  outputs:")
        for o in info.outputs:
            dims = ", ".join(("draw", *o.dims))
            print(f"    {o.name:<32} ({dims}) {o.unit}: {o.doc}")
        if info.coords:
            print("  coords:")
            for dim, values in info.coords.items():
                print(f"    {dim:<32} {', '.join(values)}")
    return 0


def _cmd_score(args: argparse.Namespace) -> int:
    import threatsim
    from threatsim.errors import ScenarioError
    from threatsim.observations import load_observations
    from threatsim.plotting_calibration import coverage_plot, pit_histogram
    from threatsim.scoring import (
        leaderboard,
        leaderboard_table,
        leaderboard_to_csv,
        rank_scenarios,
        ranking_table,
    )

    inputs = list(args.inputs)
    obs_path = args.obs
    if args.scenarios:
        if inputs or not obs_path:
            raise ScenarioError("use: threatsim score --scenarios A.toml B.toml --obs OBS.toml",
                                key="arguments", value=inputs or None)
    else:
        if obs_path is None and len(inputs) == 2:
            inputs, obs_path = inputs[:1], inputs[1]
        if len(inputs) != 1 or obs_path is None:
            raise ScenarioError("use: threatsim score RUN.nc OBS.toml (or --scenarios ... "
                                "--obs OBS.toml)", key="arguments", value=inputs)
    runs: dict[str, xr.Dataset] = {}
    if args.scenarios:
        for path in args.scenarios:
            sc = threatsim.load_scenario(path)
            if sc.name in runs:
                raise ScenarioError("is used by two scenarios; names must differ",
                                    path=path, key="name", value=sc.name)
            runs[sc.name] = threatsim.run(sc, draws=args.draws, seed=args.seed,
                                          progress=False)
    else:
        ds = threatsim.open_results(inputs[0])
        runs[str(ds.attrs.get("scenario_name", Path(inputs[0]).stem))] = ds
    boards = {}
    for name, ds in runs.items():
        obs = load_observations(obs_path, against=ds, only=args.only)
        boards[name] = leaderboard(ds, obs)
    for board in boards.values():
        print(leaderboard_table(board) + "\n")
    if len(boards) > 1:
        print(ranking_table(rank_scenarios(boards)))
    written: list[Path] = []
    if args.csv:
        combined = (xr.concat(list(boards.values()), dim="scenario", combine_attrs="drop")
                    .assign_coords(scenario=list(boards)) if len(boards) > 1
                    else next(iter(boards.values())))
        written.append(leaderboard_to_csv(combined, args.csv))
    if args.plot:
        folder = Path(args.plot)
        folder.mkdir(parents=True, exist_ok=True)
        for name, board in boards.items():
            prefix = f"{name}_" if len(boards) > 1 else ""
            for stem, figure in (("pit_histogram", pit_histogram), ("coverage", coverage_plot)):
                png = folder / f"{prefix}{stem}.png"
                _atomic_figure(figure(board), png)
                written.append(png)
    if written:
        print("\nwrote " + ", ".join(str(p) for p in written))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for the docs and tests)."""
    parser = argparse.ArgumentParser(
        prog="threatsim", description="Scenario modelling of threat estimates.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="run a scenario, print bands, write NetCDF and a fan chart")
    p.add_argument("scenario")
    p.add_argument("--draws", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--sampler", choices=["mc", "lhs", "sobol"])
    p.add_argument("--chunk-size", type=int)
    p.add_argument("--workers", type=int, help="worker processes (default: run.workers)")
    p.add_argument("--out", help="NetCDF file to write (default results/<name>.nc)")
    p.add_argument("--no-plot", action="store_true", help="do not write the fan chart PNG")
    p.add_argument("--plot", metavar="DIR",
                   help="also write fan and exceedance charts (PNG and SVG) here")
    p.add_argument("--precision", type=float, metavar="REL",
                   help="double the draws (from --draws, default 1000) until every printed "
                        "band's relative Monte Carlo standard error is below REL, e.g. 0.01")
    p.add_argument("--max-draws", type=int, metavar="N",
                   help="cap for --precision (default 256 x the first draws)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--cluster", choices=["local"],
                   help="run the chunks on a new dask LocalCluster of --workers processes")
    p.add_argument("--scheduler", metavar="ADDR",
                   help="run the chunks on the dask scheduler at ADDR (tcp://host:8786)")
    p.add_argument("--scheduler-timeout", type=float, default=10.0, metavar="S",
                   help="seconds to wait for --scheduler before giving up (default 10)")
    p.add_argument("--keep", choices=["draws", "summary"],
                   help="draws: stream every trajectory to --out as chunks finish; summary: "
                        "keep only bands, P(=0), per-draw outputs (bounded memory); "
                        "default: outputs.keep, else all draws in memory")
    p.add_argument("--checkpoint", metavar="DIR",
                   help="store finished chunks in DIR (see --resume)")
    p.add_argument("--resume", action="store_true",
                   help="reuse the chunks already in --checkpoint DIR (same run only)")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("validate", help="check scenario files without running them")
    p.add_argument("scenarios", nargs="+")
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser("models", help="list the models with their parameters, levers, outputs")
    p.add_argument("name", nargs="?", help="only this model")
    p.set_defaults(func=_cmd_models)

    p = sub.add_parser("capacity", help="smallest capacity (e.g. courts) that meets a target "
                                        "by a date with a given probability")
    p.add_argument("scenario")
    p.add_argument("--lever", default="courts", help="whole-number lever to size (default courts)")
    p.add_argument("--target", type=float, required=True,
                   help="the output must be at or below this (e.g. 100 cases)")
    p.add_argument("--by", default="2021-01", help="month YYYY-MM of the target (default 2021-01)")
    p.add_argument("--probability", type=float, default=0.9,
                   help="share of draws that must meet it (default 0.9)")
    p.add_argument("--output", default="backlog_trial",
                   help="monthly output the target is on (default backlog_trial)")
    p.add_argument("--draws", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--workers", type=int, help="worker processes (default: run.workers)")
    p.set_defaults(func=_cmd_capacity)

    p = sub.add_parser("sources", help="list the registry of reported figures")
    p.add_argument("--dir", default="scenarios/sources", help="folder of source files")
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p.set_defaults(func=_cmd_sources)

    p = sub.add_parser("score", help="score runs against observations: leaderboard, "
                                     "skill, calibration pictures")
    p.add_argument("inputs", nargs="*", metavar="RUN.nc OBS.toml",
                   help="a run written by `threatsim run` and an observation file")
    p.add_argument("--scenarios", nargs="+", metavar="SCENARIO",
                   help="run each scenario file and rank them")
    p.add_argument("--obs", metavar="OBS.toml", help="observation file (with --scenarios)")
    p.add_argument("--draws", type=int, help="draws per scenario (with --scenarios)")
    p.add_argument("--seed", type=int, help="seed for every scenario (with --scenarios)")
    p.add_argument("--only", nargs="+", metavar="PATTERN",
                   help="score only observations whose id matches (shell patterns)")
    p.add_argument("--csv", help="write the leaderboard (and total rows) to this CSV")
    p.add_argument("--plot", metavar="DIR", help="write PIT histogram and coverage PNGs here")
    p.set_defaults(func=_cmd_score)

    from threatsim.analysis._cli import add_commands

    add_commands(sub)  # compare, sweep, sensitivity, discover
    return parser


class _PipeSafeStdout:
    """stdout that, once its reader has gone (``threatsim run ... | head``), discards
    what is printed instead of stopping the command before it writes its files."""

    def __init__(self, stream: object) -> None:
        self._stream = stream
        self._gone = False

    def write(self, text: str) -> int:
        if not self._gone:
            try:
                return int(self._stream.write(text))  # type: ignore[attr-defined]
            except BrokenPipeError:
                self._went()
        return len(text)

    def flush(self) -> None:
        if not self._gone:
            try:
                self._stream.flush()  # type: ignore[attr-defined]
            except BrokenPipeError:
                self._went()

    def _went(self) -> None:
        self._gone = True
        # and nothing left for the interpreter to flush into the closed pipe at exit
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.__stdout__.fileno())  # type: ignore[union-attr]
        os.close(devnull)

    def __getattr__(self, name: str) -> object:
        return getattr(self._stream, name)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``threatsim`` console script."""
    from threatsim.executors import is_interrupt

    stdout = sys.stdout
    if stdout is sys.__stdout__ and stdout is not None:
        sys.stdout = _PipeSafeStdout(stdout)  # type: ignore[assignment]
    try:
        args = build_parser().parse_args(argv)  # (its subcommands import modules too)
        return int(args.func(args))
    except ThreatsimError as exc:
        print(f"threatsim: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (KeyboardInterrupt, SystemError) as exc:
        if not is_interrupt(exc):
            raise
        print("threatsim: interrupted; nothing was written", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        if sys.stdout is not stdout:
            sys.stdout.flush()
            sys.stdout = stdout


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

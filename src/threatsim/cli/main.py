"""The ``threatsim`` command.

Every subcommand prints one line and exits with status 2 on bad input
(a :class:`~threatsim.core.errors.ScenarioError`), and writes nothing then.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import xarray as xr

from threatsim.analysis.capacity import solve_capacity
from threatsim.analysis.convergence import run_to_precision
from threatsim.cli.analysis import add_commands
from threatsim.cli.authoring import (
    add_new_command,
    add_set_option,
    apply_sets,
    only_outputs,
    parse_outputs,
)
from threatsim.cli.bands import add_bands_command
from threatsim.cli.extract import add_extract_commands
from threatsim.cli.report import add_report_command, check_brief_path
from threatsim.cli.table import summary_table
from threatsim.core.atomic import atomic_path, file_stem
from threatsim.core.errors import ScenarioError, ThreatsimError
from threatsim.core.interrupts import InterruptGuard, is_interrupt
from threatsim.core.version import __version__
from threatsim.engine import executors
from threatsim.engine.budget import parse_size
from threatsim.engine.progress import BarSafeHandler
from threatsim.engine.runner import run as run_scenario
from threatsim.inputs.parts import SAMPLERS
from threatsim.inputs.scenario import Scenario, load_scenario
from threatsim.inputs.sources import load_sources
from threatsim.models.registry import get_model, model_names
from threatsim.outputs.bands_table import check_bands_path, write_bands
from threatsim.outputs.charts import (
    family_figure,
    fan_figure,
    headline_series,
    monthly_outputs,
    output_family_series,
    overview_figure,
)
from threatsim.outputs.leaderboard import (
    leaderboard,
    leaderboard_table,
    leaderboard_to_csv,
    rank_scenarios,
    ranking_table,
)
from threatsim.outputs.observations import load_observations
from threatsim.outputs.plotting import exceedance_chart, save_figure, save_figures
from threatsim.outputs.plotting_calibration import coverage_plot, pit_histogram
from threatsim.outputs.questions import Answer, answer, answers_text
from threatsim.outputs.report import brief_from_run, write_brief
from threatsim.results import is_zarr_path, open_results, write_results

__all__ = ["main"]

EXIT_BAD_INPUT = 2
#: ``run --precision`` stopped at --max-draws before every band was precise enough.
EXIT_NOT_CONVERGED = 3
#: The shell's status for a command stopped by Ctrl-C (128 + SIGINT).
EXIT_INTERRUPTED = 130


def _atomic_figure(fig: object, path: Path) -> None:
    with atomic_path(path, path.suffix) as tmp:
        save_figure(fig, tmp)  # type: ignore[arg-type]


def _cmd_run(args: argparse.Namespace) -> int:

    _check_run_options(args)
    budget = args.memory_budget
    args.memory_budget = None if budget is None else parse_size(budget, key="--memory-budget")
    if args.scheduler or args.cluster:
        _quiet_client_logs()
    written: list[Path] = []
    code: int | None = None  # set once the run has written its files and said so
    try:
        # the guard keeps Ctrl-C from being lost in a finaliser or deadlocking a NetCDF
        # write
        with _notes_on_stderr(not args.quiet), InterruptGuard(), executors.executor_from_options(
                workers=args.workers, cluster=args.cluster, scheduler=args.scheduler,
                timeout=args.scheduler_timeout, force_workers=args.force_workers) as executor:
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
    if args.no_save:  # the table only: options that write the run's files go against it
        for flag, value in (("--out", args.out), ("--keep", "draws" if args.keep == "draws"
                                                 else None),
                            ("--checkpoint", args.checkpoint)):
            if value is not None:
                raise ScenarioError("does not go with --no-save (which writes no results "
                                    "file; --plot, --brief and --csv are still written)",
                                    key=flag, value=value)
    if args.csv is not None:
        check_bands_path(args.csv, kind="csv", key="--csv")
    if args.out is not None and is_zarr_path(args.out) and args.keep == "draws":
        raise ScenarioError("streams the draws to a NetCDF file as chunks finish; a Zarr "
                            "store is written from memory: --out RUN.nc, or no --keep draws",
                            key="--keep", value="draws")
    if args.brief is not None:
        check_brief_path(args.brief, key="--brief")
        if args.keep == "summary":
            raise ScenarioError("needs every draw of the run; --keep summary keeps bands only",
                                key="--brief", value=args.brief)
    if args.precision is None:
        if args.max_draws is not None:
            raise ScenarioError("goes with --precision (e.g. --precision 0.01)",
                                key="--max-draws", value=args.max_draws)
        return
    # A run to a precision doubles its draws in memory until the bands are precise
    # enough: it has no single run to stream, reduce, checkpoint or resume.
    for flag, value in (("--keep", args.keep), ("--checkpoint", args.checkpoint),
                        ("--resume", args.resume or None), ("--posterior", args.posterior)):
        if value is not None:
            raise ScenarioError("does not go with --precision (a run to a precision keeps "
                                "every draw in memory and is not checkpointed)",
                                key=flag, value=value)


@contextlib.contextmanager
def _notes_on_stderr(enabled: bool) -> Iterator[None]:
    """Show the library's notes on a run (logger ``threatsim``: what a ``--resume``
    found, INFO; workers capped, draws streamed over the memory budget, WARNING) on
    stderr as ``threatsim: ...`` lines; with *enabled* False (``--quiet``) the
    warnings only."""
    logger = logging.getLogger("threatsim")
    handler = BarSafeHandler(sys.stderr)  # a line of its own, never onto a bar's line
    handler.setFormatter(logging.Formatter("threatsim: %(message)s"))
    saved = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO if enabled else logging.WARNING)
    logger.propagate = False  # once, whatever the caller's own logging does
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]


def _run_with(args: argparse.Namespace, executor: executors.ExecutorArg,
              written: list[Path]) -> int:
    """Run, print the tables, write the files (each added to *written* once complete)."""
    sc = apply_sets(load_scenario(args.scenario), args.sets)
    shown = parse_outputs(args.outputs, list(sc.variables)) if args.outputs else None
    if args.brief is not None and (args.keep or sc.keep) == "summary":
        raise ScenarioError("needs every draw of the run; the scenario keeps a summary "
                            "(outputs.keep = \"summary\")", key="--brief", value=args.brief)
    precision = None
    out = Path(args.out) if args.out else Path("results") / f"{file_stem(sc.name)}.nc"
    # the draws may be streamed (over the memory budget) only to a NetCDF file that is kept
    stream_to = None if args.no_save or is_zarr_path(out) else out
    if args.precision is not None:
        precision = run_to_precision(sc, args.precision, draws=args.draws,
                                     max_draws=args.max_draws, seed=args.seed,
                                     sampler=args.sampler, chunk_size=args.chunk_size,
                                     executor=executor,
                                     progress=None if not args.quiet else False,
                                     memory_budget=args.memory_budget,
                                     force_workers=args.force_workers)
        ds = precision.dataset
    else:
        # --keep draws streams the draws to the file; with the scenario's keep = "draws"
        # they are kept in memory, unless that would exceed the memory budget: then they
        # are streamed to the file all the same (and the run says so)
        keep = args.keep or sc.keep
        ds = run_scenario(sc, draws=args.draws, seed=args.seed, sampler=args.sampler,
                           chunk_size=args.chunk_size, executor=executor,
                           progress=None if not args.quiet else False,
                           keep=keep, checkpoint=args.checkpoint, resume=args.resume,
                           out=out if args.keep == "draws" else None,
                           memory_budget=args.memory_budget, force_workers=args.force_workers,
                           stream_over_budget=stream_to if keep == "draws" else None,
                           posterior=args.posterior)
    if "draws_file" in ds.attrs:
        written.append(out)  # streamed there
    try:
        answers = None
        if sc.questions:  # the answers first
            if all("draw" in ds[q.output].dims for q in sc.questions):
                answers = [answer(ds, q) for q in sc.questions]
                print(answers_text(answers) + "\n")
            else:
                print("Questions: not answered: a summary run keeps bands only (run with "
                      "keep = \"draws\" to answer them)\n")
        if args.sets:  # in the resolved scenario, so in the run id the table's head shows
            print("changed for this run (--set): " + ", ".join(args.sets))
        print(summary_table(only_outputs(ds, shown), quantiles=sc.quantiles,
                            report_months=sc.report_months))
        if precision is not None:
            print("\n" + precision.summary())
        _write_outputs(args, sc, ds, out, written, answers)
    except (KeyboardInterrupt, SystemError) as exc:
        if not (written and is_interrupt(exc)):
            raise
        print(f"threatsim: interrupted; wrote {', '.join(map(str, written))} only",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    print("\nwrote " + (", ".join(str(p) for p in written) if written
                        else "nothing (--no-save)"))
    if precision is not None and not precision.converged:  # the files hold the largest run
        print("threatsim: the precision target was not reached (see above); raise "
              "--max-draws or loosen --precision", file=sys.stderr)
        return EXIT_NOT_CONVERGED
    return 0


def _write_outputs(args: argparse.Namespace, sc: Scenario, ds: xr.Dataset, out: Path,
                   written: list[Path], answers: list[Answer] | None = None) -> None:
    """The run's files: NetCDF (or Zarr), fan chart, --csv bands, --plot charts; each
    added to *written* once it is complete (Ctrl-C in between leaves the ones before it).
    With --no-save neither the results file nor the fan chart."""
    if "draws_file" not in ds.attrs and not args.no_save:
        written.append(write_results(ds, out))
    if args.csv is not None:
        written.append(write_bands(ds, args.csv, quantiles=sc.quantiles,
                                   report_months=sc.report_months, kind="csv", key="--csv"))
    if args.brief is not None:
        if ds.attrs.get("keep") == "summary" or "draws_file" in ds.attrs:
            raise ScenarioError("needs every draw in memory: this run kept a summary, or "
                                "streamed its draws to the file (over the memory budget)",
                                key="--brief", value=args.brief)
        written.append(write_brief(brief_from_run(sc, ds, answers=answers), args.brief))
    headline = headline_series(ds, sc)
    if not (args.no_plot or args.no_save) and headline:  # the headline series, six panels
        png = out.with_suffix(".png")
        _atomic_figure(overview_figure(ds, headline, scenario=sc), png)
        written.append(png)
    if args.plot:  # one figure per headline series and per output family
        folder = Path(args.plot)
        for s in headline:
            written += save_figures(fan_figure(ds, s, scenario=sc),
                                    folder / file_stem(f"fan_{sc.name}_{s.stem}"))
        drawn = {s.output for s in headline if not s.select}
        for name in monthly_outputs(ds):  # every other output: split by entry, or its fan
            family = output_family_series(ds, name)
            if len(family) > 1 or (family and family[0].select):
                written += save_figures(family_figure(ds, family, scenario=sc),
                                        folder / file_stem(f"family_{sc.name}_{name}"))
            elif family and name not in drawn:
                written += save_figures(fan_figure(ds, family[0], scenario=sc),
                                        folder / file_stem(f"fan_{sc.name}_{name}"))
        if headline and ds.attrs.get("keep") != "summary":  # exceedance needs every draw
            months = [sc.month_label(i) for i in sc.report_months if i > 0][-3:]
            first = headline[0].output
            stem = file_stem(f"exceedance_{sc.name}_{first}")
            written += save_figures(exceedance_chart(ds, first, at=months or None),
                                    folder / stem)


def _cmd_validate(args: argparse.Namespace) -> int:
    for path in args.scenarios:
        sc = apply_sets(load_scenario(path), args.sets)
        print(f"{path}: ok (model {sc.model}, {len(sc.parameters)} parameters, "
              f"{sc.horizon} months from {sc.month_label(0)}, run id {sc.run_id})")
    return 0


def _cmd_sources(args: argparse.Namespace) -> int:
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
        print(f"{s.id:<42} {s.figure():>38} {s.unit:<8} {s.citation():<20} as of {s.as_of}")
    return 0


def _cmd_capacity(args: argparse.Namespace) -> int:
    sc = load_scenario(args.scenario)
    sol = solve_capacity(sc, args.lever, target=args.target, by=args.by,
                                   probability=args.probability, output=args.output,
                                   draws=args.draws, seed=args.seed, executor=args.workers,
                                   progress=None if not args.quiet else False)
    print(sol)
    tried = ", ".join(f"{v}: {p:.3f}" for v, p in sorted(sol.tried))
    print(f"tried {sol.lever} (P): {tried}")
    return 0


def _cmd_models(args: argparse.Namespace) -> int:
    if args.name and args.name not in model_names():
        raise ScenarioError(f"is not a model; allowed: {', '.join(model_names())}",
                            key="model", value=args.name)
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
            better = (f"{o.better} is better" if o.better else "no direction") + "".join(
                f", {way} {label}" for label, way in o.better_by_compartment.items() if way)
            print(f"    {o.name:<32} ({dims}) {o.unit}; {better}: {o.doc}")
        print(f"  --workers N runs: {info.parallel_words()}")
        if info.coords:
            print("  coords:")
            for dim, values in info.coords.items():
                print(f"    {dim:<32} {', '.join(values)}")
    return 0


def _cmd_score(args: argparse.Namespace) -> int:
    inputs = list(args.inputs)
    obs_path = args.obs
    if args.scenarios:
        if inputs or not obs_path:
            raise ScenarioError("use: threatsim score --scenarios A.toml B.toml --obs OBS.toml",
                                key="arguments", value=inputs or None)
    else:
        if obs_path is None and len(inputs) == 2:
            inputs, obs_path = inputs[:1], inputs[1]
            if inputs[0].endswith(".toml") and obs_path.endswith(".nc"):
                raise ScenarioError("the arguments look swapped: use threatsim score RUN.nc "
                                    "OBS.toml (the run first)", key="arguments",
                                    value=[*inputs, obs_path])
        if len(inputs) != 1 or obs_path is None:
            raise ScenarioError("use: threatsim score RUN.nc OBS.toml (or --scenarios ... "
                                "--obs OBS.toml)", key="arguments", value=inputs)
    runs: dict[str, xr.Dataset] = {}
    if args.scenarios:
        for path in args.scenarios:
            sc = load_scenario(path)
            if sc.name in runs:
                raise ScenarioError("is used by two scenarios; names must differ",
                                    path=path, key="name", value=sc.name)
            runs[sc.name] = run_scenario(sc, draws=args.draws, seed=args.seed,
                                          progress=False, posterior=args.posterior)
    else:
        if args.posterior:
            raise ScenarioError("goes with --scenarios (a results file was run on the "
                                "posterior it records, if any: threatsim run --posterior)",
                                key="--posterior", value=args.posterior)
        ds = open_results(inputs[0])
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
            prefix = f"{file_stem(name)}_" if len(boards) > 1 else ""
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
    parser.add_argument("--version", action="version", version=f"threatsim {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="run a scenario, print bands, write NetCDF and a fan chart")
    p.add_argument("scenario")
    p.add_argument("--draws", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--sampler", choices=SAMPLERS)
    p.add_argument("--chunk-size", type=int)
    p.add_argument("--workers", type=int,
                   help="workers (default: run.workers): threads for a model whose chunks "
                        "release the GIL, processes for the others (threatsim models says "
                        "which; docs/scaling.md)")
    p.add_argument("--out", help="results file to write: NetCDF (default "
                                 "results/<name>.nc), or a Zarr store for a name ending "
                                 ".zarr (needs the zarr extra)")
    p.add_argument("--no-plot", action="store_true", help="do not write the fan chart PNG")
    p.add_argument("--no-save", action="store_true",
                   help="print the table and write no results file and no fan chart; "
                        "refused with --out, --keep draws and --checkpoint (--plot, "
                        "--brief and --csv, explicit asks, are still written)")
    p.add_argument("--csv", metavar="OUT.csv",
                   help="also write the table's bands (each quantile with its Monte Carlo "
                        "standard error, P(=0), provenance) to this CSV (threatsim bands)")
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
    p.add_argument("--memory-budget", metavar="SIZE",
                   help="memory the run may hold, e.g. 4GB, 512MiB or 50%% (of the memory "
                        "available; default THREATSIM_MEMORY_BUDGET, else 50%%): above it "
                        "the draws are streamed to the --out file, or the run is refused")
    p.add_argument("--force-workers", action="store_true",
                   help="run --workers (or run.workers) processes even on fewer CPUs "
                        "(otherwise capped at the CPU count)")
    p.add_argument("--checkpoint", metavar="DIR",
                   help="store finished chunks in DIR (see --resume)")
    p.add_argument("--resume", action="store_true",
                   help="reuse the chunks already in --checkpoint DIR (same run only)")
    p.add_argument("--posterior", metavar="POST.nc",
                   help="draw the sampled parameters from this posterior (threatsim "
                        "calibrate --out); see docs/calibration.md")
    p.add_argument("--brief", metavar="BRIEF.html",
                   help="also write the HTML brief of this run (threatsim report without "
                        "what-ifs; needs every draw)")
    add_set_option(p)
    p.add_argument("--outputs", metavar="A,B",
                   help="print only these outputs in the table (the file keeps every one)")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("validate", help="check scenario files without running them")
    p.add_argument("scenarios", nargs="+")
    add_set_option(p)
    p.set_defaults(func=_cmd_validate)

    add_new_command(sub)

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
    p.add_argument("--quiet", action="store_true",
                   help="no progress on stderr (by default, when stderr is a terminal: a "
                        "line per value tried with its probability, and each run's bar)")
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
    p.add_argument("--posterior", metavar="POST.nc",
                   help="run every scenario on this posterior (with --scenarios)")
    p.add_argument("--only", nargs="+", metavar="PATTERN",
                   help="score only observations whose id matches (shell patterns)")
    p.add_argument("--csv", help="write the leaderboard (and total rows) to this CSV")
    p.add_argument("--plot", metavar="DIR", help="write PIT histogram and coverage PNGs here")
    p.set_defaults(func=_cmd_score)

    add_commands(sub)  # compare, sweep, sensitivity, discover, calibrate
    add_report_command(sub)
    add_extract_commands(sub)  # extract, diff-sources
    add_bands_command(sub)
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
    """Entry point of the ``threatsim`` console script: the exit status.

    >>> main(["validate", "scenarios/financing.toml"])  # doctest: +ELLIPSIS
    scenarios/financing.toml: ok (model financing, ...)
    0
    """
    stdout = sys.stdout
    if stdout is sys.__stdout__ and stdout is not None:
        sys.stdout = _PipeSafeStdout(stdout)
    try:
        args = build_parser().parse_args(argv)  # (its subcommands import modules too)
        return int(args.func(args))
    except ThreatsimError as exc:
        print(f"threatsim: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as exc:  # a path the system refuses (too long, not allowed, disk full)
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"threatsim: error: {str(where)[:200]}{exc.strerror or exc}", file=sys.stderr)
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


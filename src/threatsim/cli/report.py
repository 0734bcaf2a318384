"""``threatsim report``: the HTML brief (:mod:`threatsim.outputs.report`).

Every input (scenarios, what-ifs, questions, observations, posterior, the
output path) is read and checked before the first draw, so a bad one costs no
run and writes nothing.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from threatsim.core.errors import ScenarioError
from threatsim.inputs.scenario import load_scenario
from threatsim.outputs.estimative import SCALES
from threatsim.outputs.observations import load_observations
from threatsim.outputs.report import brief, write_brief
from threatsim.results import open_posterior

__all__ = ["add_report_command", "check_brief_path"]


def check_brief_path(path: str, *, key: str = "--out") -> Path:
    """An .html path whose folder exists or can be made (checked before any run).

    >>> check_brief_path("results/brief.pdf")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    threatsim.core.errors.ScenarioError: --out='results/brief.pdf' must be an .html file ...
    """
    target = Path(path)
    if target.suffix.lower() not in (".html", ".htm"):
        raise ScenarioError("must be an .html file (the brief is one HTML page; print it to PDF "
                            "from a browser)", key=key, value=path)
    if target.exists() and target.is_dir():
        raise ScenarioError("is a folder; name the .html file to write", key=key, value=path)
    return target


def _cmd_report(args: argparse.Namespace) -> int:
    out = check_brief_path(args.out)
    base = load_scenario(args.scenario)
    whatifs = [load_scenario(w) for w in args.whatifs]
    if args.posterior:
        open_posterior(args.posterior).check(base)  # refused before anything runs
    if args.obs:
        load_observations(args.obs)  # its own problems, before the run (then against it)
    b = brief(base, whatifs, questions=args.question or (), observations=args.obs,
              posterior=args.posterior, draws=args.draws, seed=args.seed, scale=args.scale,
              executor=args.workers, progress=None if not args.quiet else False)
    for a in b.answers:
        print(f"{a.question.id}: {a.question.text or a.question.what()}: {a.estimate.text()}")
    print(f"wrote {write_brief(b, out)}")
    return 0


def add_report_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``report``.

    >>> sub = argparse.ArgumentParser(prog="threatsim").add_subparsers()
    >>> add_report_command(sub)
    >>> sorted(sub.choices)
    ['report']
    """
    p = sub.add_parser("report", help="write a self-contained HTML brief: headline questions "
                                      "answered first, fan charts, what-ifs, sources")
    p.add_argument("scenario")
    p.add_argument("whatifs", nargs="*", metavar="WHATIF",
                   help="what-if scenarios to compare with it, draw by draw")
    p.add_argument("--out", required=True, metavar="BRIEF.html", help="the page to write")
    p.add_argument("--question", action="append", metavar="OUTPUT[DIM=LABEL]<LEVEL@YYYY-MM",
                   help="a headline question besides the scenario's own, e.g. "
                        "'reserves<50e6@2020-12' or 'detained_foreign[region=all]>2000@2020-06'"
                        "; repeatable")
    p.add_argument("--obs", metavar="OBS.toml", help="score the run against these observations")
    p.add_argument("--posterior", metavar="POST.nc",
                   help="draw the parameters from this posterior (threatsim calibrate --out) "
                        "and show its diagnostics")
    p.add_argument("--scale", choices=sorted(SCALES), default="icd203",
                   help="words for probabilities (default icd203; ipcc: IPCC's calibrated "
                        "language)")
    p.add_argument("--draws", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--workers", type=int, help="worker processes (default: run.workers)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_report)

"""``threatsim extract`` and ``threatsim diff-sources``: a new report's figures as a
draft registry (or draft observations), and what it changed against the old one.

Every input is checked before anything is written; a bad one exits 2 and writes
nothing (docs/extract.md).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

from threatsim.core.atomic import atomic_path
from threatsim.core.errors import ScenarioError
from threatsim.core.months import parse_month
from threatsim.inputs.extract import extract_figures, read_report
from threatsim.inputs.scenario import load_scenario
from threatsim.inputs.source_drafts import diff_registries, diff_text, draft_registry
from threatsim.inputs.sources import load_sources
from threatsim.outputs.observation_drafts import draft_observations

__all__ = ["add_extract_commands"]

_SYMBOL = re.compile(r"\b(?:S|A|E)/(?:RES/)?\d{2,4}/\d+\b")


def _document(text: str, given: str | None, path: str) -> str:
    if given:
        if not given.strip():
            raise ScenarioError("must be the report's symbol, e.g. S/2019/103",
                                key="--document", value=given)
        return given.strip()
    found = _SYMBOL.search(text[:3000])
    if found is None:
        raise ScenarioError("names no document symbol in its first page: pass --document "
                            "(e.g. --document S/2019/570)", path=path)
    return found.group(0)


def _check_out(out: str, force: bool) -> Path:
    path = Path(out)
    if path.suffix != ".toml":
        raise ScenarioError("must be a .toml file (a draft registry or observation file)",
                            key="--out", value=out)
    if path.exists() and not force:
        raise ScenarioError("exists already (a draft you may have reviewed): choose another "
                            "name or pass --force", path=out)
    if not path.parent.is_dir():
        raise ScenarioError("is not a folder (create it first)", key="--out",
                            value=path.parent)
    return path


def _cmd_extract(args: argparse.Namespace) -> int:
    out = _check_out(args.out, args.force)
    if args.as_of is not None:
        try:
            parse_month(args.as_of)
        except ValueError as exc:
            raise ScenarioError(str(exc), key="--as-of", value=args.as_of) from None
    scenario = None
    if args.as_ == "observations":
        if not args.scenario:
            raise ScenarioError("needs --scenario SCENARIO.toml: the run the observations are "
                                "for (its outputs and dims)", key="--as", value=args.as_)
        scenario = load_scenario(args.scenario)
    elif args.scenario:
        raise ScenarioError("goes with --as observations", key="--scenario", value=args.scenario)
    text = read_report(args.report)
    document = _document(text, args.document, args.report)
    report = extract_figures(text, as_of=args.as_of)
    if scenario is not None:
        body, filled = draft_observations(report, scenario, document=document,
                                          source_file=args.report)
    else:
        body = draft_registry(report, document=document, source_file=args.report)
    with atomic_path(out) as tmp:
        tmp.write_text(body, encoding="utf-8")
    review = sum(bool(f.review) for f in report.figures)
    print(f"{args.report}: {len(report.paragraphs)} numbered paragraphs, "
          f"{len(report.figures)} figures ({review} marked for review), "
          f"{len(report.unread)} quantitative statements not entered (listed at the end of "
          f"the draft)")
    if scenario is not None:
        print(f"{filled} of {len(report.figures)} observations have their variable and dims "
              f"proposed; fill in the others (threatsim score checks them)")
    print(f"wrote {out}")
    return 0


def _cmd_diff_sources(args: argparse.Namespace) -> int:
    old = load_sources(args.old)
    new = load_sources(args.new)
    print(diff_text(diff_registries(old, new)))
    return 0


def add_extract_commands(sub: Any) -> None:
    """Register ``extract`` and ``diff-sources``."""
    p = sub.add_parser("extract", help="find a report's figures (paragraph, wording, quote) "
                                       "and write a draft source registry or observations")
    p.add_argument("report", help="the report: .txt as it is, or .pdf (with a text layer)")
    p.add_argument("--out", required=True, metavar="DRAFT.toml", help="the draft to write")
    p.add_argument("--document", metavar="SYMBOL",
                   help="the report's symbol (default: the first S/YYYY/N on its first page)")
    p.add_argument("--as-of", metavar="YYYY-MM",
                   help="the month the report's undated figures describe (default: the "
                        "latest month it names, marked for review)")
    p.add_argument("--as", dest="as_", choices=["sources", "observations"], default="sources",
                   help="sources: a draft registry (default); observations: a draft "
                        "observation file for --scenario")
    p.add_argument("--scenario", metavar="SCENARIO.toml",
                   help="with --as observations: the scenario whose outputs they observe")
    p.add_argument("--force", action="store_true", help="replace --out if it exists")
    p.set_defaults(func=_cmd_extract)

    p = sub.add_parser("diff-sources", help="what a new registry changed against an old one, "
                                            "figure by figure")
    p.add_argument("old", metavar="OLD.toml", help="the old registry (file or folder)")
    p.add_argument("new", metavar="NEW.toml", help="the new registry (file or folder)")
    p.set_defaults(func=_cmd_diff_sources)

"""Writing and changing scenarios from the command line: ``threatsim new``, ``--set``,
``--outputs``.

* ``threatsim new MODEL FILE.toml`` writes a scenario to fill in
  (:func:`threatsim.inputs.template.scenario_template`); ``validate`` then lists
  what is left.
* ``--set KEY=VALUE`` (``run``, ``validate``) changes one key of the
  resolved scenario for this command only; the change is checked as in a file and,
  being part of the resolved scenario, changes the run id.
* ``--outputs a,b`` chooses what ``run``'s table prints (the file keeps every output).
"""

from __future__ import annotations

import argparse
import re
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import xarray as xr

from threatsim.core.atomic import atomic_path
from threatsim.core.errors import ScenarioError
from threatsim.inputs.scenario import Scenario
from threatsim.inputs.sources import SourceRegistry, load_sources
from threatsim.inputs.template import scenario_template
from threatsim.models.registry import model_names

__all__ = ["add_new_command", "add_set_option", "apply_sets", "only_outputs", "parse_outputs",
           "parse_set"]

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*$")


def parse_set(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` as (dotted key, value); the value is read as TOML (``2``, ``0.5``,
    ``[50e6, 300e6]``, ``"text"``), a bare word as a string.

    >>> parse_set("levers.seizure_effort=2")
    ('levers.seizure_effort', 2)
    >>> parse_set("parameters.fighters.range=[14000, 20000]")
    ('parameters.fighters.range', [14000, 20000])
    >>> parse_set("run.sampler=lhs")
    ('run.sampler', 'lhs')
    """
    key, eq, raw = text.partition("=")
    key, raw = key.strip(), raw.strip()
    if not eq or not _KEY.match(key):
        raise ScenarioError("must be KEY=VALUE with a dotted key of the scenario, e.g. "
                            "levers.seizure_effort=2 or run.draws=500", key="--set", value=text)
    try:
        return key, tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        pass
    if re.fullmatch(r"[A-Za-z0-9_.:/+-]+", raw):  # a bare word: lhs, 2020-01, a path
        return key, raw
    raise ScenarioError("is not a TOML value: write a number (2.5), a list ([1, 2]) or "
                        "quoted text (\"a b\")", key=f"--set {key}", value=raw)


def apply_sets(scenario: Scenario, sets: Sequence[str] | None) -> Scenario:
    """*scenario* with every ``--set KEY=VALUE`` applied (checked as in a file).

    >>> from threatsim.inputs.scenario import load_scenario
    >>> sc = load_scenario("scenarios/financing.toml")
    >>> apply_sets(sc, ["levers.seizure_effort=2"]).levers["seizure_effort"]
    2.0
    """
    if not sets:
        return scenario
    changes = dict(parse_set(s) for s in sets)
    try:
        return scenario.with_values(changes)
    except ScenarioError as err:
        where = f"{err.path or scenario.path} (with --set {' '.join(sets)})"
        raise ScenarioError(err.expected, path=where, key=err.key, value=err.value,
                            problems=err.problems) from None


def add_set_option(parser: argparse.ArgumentParser) -> None:
    """The ``--set KEY=VALUE`` option (repeatable)."""
    parser.add_argument("--set", action="append", metavar="KEY=VALUE", dest="sets",
                        help="change one key of the scenario for this run, e.g. "
                             "levers.courts=20 or parameters.fighters.range=[14000,20000] "
                             "(repeatable; checked as in a file; changes the run id)")


def parse_outputs(names: str, allowed: Sequence[str]) -> list[str]:
    """The outputs ``--outputs a,b`` names, each checked against *allowed* (the
    scenario's kept outputs) before anything runs.

    >>> parse_outputs("reserves, seized", ["reserves", "revenue", "seized"])
    ['reserves', 'seized']
    """
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    if not wanted or any(n not in allowed for n in wanted):
        raise ScenarioError(f"must name outputs of this run, separated by commas; allowed: "
                            f"{', '.join(allowed)}", key="--outputs", value=names)
    return wanted


def only_outputs(ds: xr.Dataset, wanted: Sequence[str] | None) -> xr.Dataset:
    """*ds* with only the outputs *wanted* and what their rows need (a summary's
    ``p_zero_`` and ``mcse_`` companions); every output with ``None``.

    >>> ds = xr.Dataset({"reserves": ("draw", [1.0]), "revenue": ("draw", [2.0])})
    >>> list(only_outputs(ds, ["reserves"]).data_vars)
    ['reserves']
    """
    if wanted is None:
        return ds
    return ds[[n for n in ds.data_vars if _output_of(str(n)) in wanted]]


def _output_of(variable: str) -> str:
    """The output a summary's companion variable (``p_zero_x``, ``mcse_x``) belongs to."""
    for prefix in ("p_zero_", "mcse_"):
        if variable.startswith(prefix):
            return variable.removeprefix(prefix)
    return variable


def _cmd_new(args: argparse.Namespace) -> int:
    if args.model not in model_names():
        raise ScenarioError(f"is not a model; allowed: {', '.join(model_names())}",
                            key="model", value=args.model)
    path = Path(args.file)
    if path.suffix != ".toml":
        raise ScenarioError("must end in .toml (a scenario file)", key="FILE", value=args.file)
    if path.exists() and not args.force:
        raise ScenarioError("exists already; choose another name or pass --force to "
                            "replace it", path=str(path))
    if not path.parent.is_dir():
        raise ScenarioError("is not a folder (create it first)", key="FILE",
                            value=path.parent)
    sources: SourceRegistry | None = None
    folder = Path(args.sources)
    if folder.is_dir():
        sources = load_sources(folder)
    elif args.sources != _DEFAULT_SOURCES:
        raise ScenarioError("is not a folder of source files", key="--sources",
                            value=args.sources)
    text = scenario_template(args.model, path.stem, sources=sources)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    print(f"wrote {path}: fill in every \"FILL IN\" value, then run threatsim validate {path}")
    return 0


_DEFAULT_SOURCES = "scenarios/sources"


def add_new_command(sub: Any) -> None:
    """Register ``threatsim new``."""
    p = sub.add_parser("new", help="write a new scenario file to fill in: every parameter "
                                   "of MODEL with its unit, readings and placeholders")
    p.add_argument("model", help="a model of `threatsim models`")
    p.add_argument("file", help="the scenario file to write (FILE.toml)")
    p.add_argument("--sources", default=_DEFAULT_SOURCES, metavar="DIR",
                   help="registry whose figures are listed under each parameter of their "
                        "unit (default scenarios/sources, when present)")
    p.add_argument("--force", action="store_true", help="replace FILE if it exists")
    p.set_defaults(func=_cmd_new)

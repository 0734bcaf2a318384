"""The validation of a scenario's tables: every key checked against the schema and
the model's declarations, every problem gathered.

Each ``check_*`` function reads one table of a resolved scenario (after
``extends``), adds what is wrong to a :class:`Problems` and returns the
validated value (a default where the input was bad, so that later tables are
still checked). :func:`threatsim.inputs.scenario.scenario_from_dict` calls them
in the file's order and raises one :class:`~threatsim.core.errors.ScenarioError`
naming every problem. The parameter tables are checked by
:mod:`threatsim.inputs.parameter_validation`.
"""

from __future__ import annotations

import datetime
import difflib
from dataclasses import dataclass
from typing import Any

import numpy as np

from threatsim.core.errors import ScenarioError
from threatsim.core.months import month_index, month_label, parse_month
from threatsim.inputs.parts import (
    DEFAULT_QUANTILES,
    MAX_HORIZON,
    SAMPLERS,
    Parameter,
    RunSettings,
    TimelineEntry,
)
from threatsim.models.contract import Model
from threatsim.models.registry import get_model, model_names

__all__ = [
    "ORIGIN_KEYS",
    "OUTPUT_KEYS",
    "PARAM_KEYS",
    "RUN_KEYS",
    "TIMELINE_KEYS",
    "TOP_KEYS",
    "Header",
    "ModelView",
    "Outputs",
    "Problems",
    "check_header",
    "check_levers",
    "check_outputs",
    "check_run_settings",
    "check_timeline",
    "is_number",
]

# The keys each table accepts (docs/scenario-reference.md documents each; tests/test_docs.py
# keeps the two equal).
TOP_KEYS = ("name", "description", "extends", "model", "start", "horizon", "time_step",
            "sources", "run", "parameters", "levers", "timeline", "outputs", "origins",
            "correlations", "families", "courts", "events", "shocks", "detention",
            "posterior", "questions", "observe")
RUN_KEYS = ("draws", "seed", "sampler", "chunk_size", "workers", "replicates")
PARAM_KEYS = ("dist", "range", "value", "mode", "values", "weights", "unit", "source",
              "assumption", "range_assumption", "share_of", "description")
TIMELINE_KEYS = ("at", "levers", "note")
OUTPUT_KEYS = ("variables", "quantiles", "report_months", "keep")
ORIGIN_KEYS = tuple(k for k in PARAM_KEYS if k != "share_of")


class Problems:
    """Every problem found in a scenario's tables, gathered for one ScenarioError.

    >>> p = Problems()
    >>> p.unknown("run.", {"draw": 10}, ("draws", "seed"))
    >>> str(p.items[0])
    "run.draw=10 is not a known key; did you mean 'draws'? allowed: draws, seed"
    """

    def __init__(self) -> None:
        self.items: list[ScenarioError] = []

    def add(self, key: str, value: Any, expected: str) -> None:
        """Note a problem with *key* (the message shows a key's first problem only)."""
        self.items.append(ScenarioError(expected, key=key, value=value))

    def unknown(self, prefix: str, table: dict[str, Any], allowed: tuple[str, ...]) -> None:
        for key in table:
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                self.add(f"{prefix}{key}", table[key],
                         f"is not a known key; {hint}allowed: {', '.join(allowed)}")


def is_number(x: Any) -> bool:
    """A TOML number (a bool is not one).

    >>> is_number(2), is_number(2.5), is_number(True), is_number("2")
    (True, True, False, False)
    """
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return False
    try:  # a TOML integer may be longer than any float
        float(x)
    except OverflowError:
        return False
    return True


def _dates_and_times(data: dict[str, Any]) -> list[tuple[str, Any]]:
    """Every TOML date, time or date-time in *data*, with its key path (no recursion:
    nesting depth is the file's)."""
    found: list[tuple[str, Any]] = []
    stack: list[tuple[str, Any]] = [("", data)]
    while stack:
        prefix, node = stack.pop()
        items = (node.items() if isinstance(node, dict)
                 else ((f"[{i}]", v) for i, v in enumerate(node)))
        for name, value in items:
            key = f"{prefix}{name}" if name.startswith("[") or not prefix \
                else f"{prefix}.{name}"
            if isinstance(value, (dict, list)):
                stack.append((key, value))
            elif isinstance(value, (datetime.date, datetime.time)):
                found.append((key, value))
    return sorted(found)


def _int_setting(p: Problems, table: dict[str, Any], key: str, default: int, low: int) -> int:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        p.add(f"run.{key}", value, f"must be a whole number >= {low}")
        return default
    return value


def check_run_settings(p: Problems, table: Any) -> RunSettings:
    """The ``[run]`` table as :class:`RunSettings` (defaults where a value is bad).

    Counts have upper bounds where the arithmetic or the chance key would break
    (the same as :data:`threatsim.engine.options.LIMITS`, which the engine
    cannot give this layer: a draw's index has 40 bits in its chance key, a
    replicate 24, see :mod:`threatsim.stats.variates`).

    >>> p = Problems()
    >>> check_run_settings(p, {"draws": 0, "sampler": "lhs", "workers": 5000})
    RunSettings(draws=10000, seed=0, sampler='lhs', chunk_size=8192, workers=1, replicates=1)
    >>> [str(e) for e in p.items]  # doctest: +NORMALIZE_WHITESPACE
    ['run.draws=0 must be a whole number >= 1',
     'run.workers=5000 must be a whole number from 1 to 1024 (each is a process on this
      machine)']
    """
    if not isinstance(table, dict):
        p.add("run", table, "must be a table")
        return RunSettings()
    p.unknown("run.", table, RUN_KEYS)
    sampler = table.get("sampler", "mc")
    if sampler not in SAMPLERS:
        p.add("run.sampler", sampler, f"must be one of {', '.join(SAMPLERS)}")
        sampler = "mc"
    limits = {  # (default, least, largest, why)
        "draws": (10_000, 1, 2**40 - 1, "a draw's index has 40 bits in its chance key"),
        "seed": (0, 0, 2**63 - 1, "it is stored as a 64-bit integer"),
        "chunk_size": (8_192, 1, 2**40 - 1, "a chunk holds at most every draw"),
        "workers": (1, 1, 1024, "each is a process on this machine"),
        "replicates": (1, 1, 2**24 - 1, "a replicate has 24 bits in its chance key"),
    }
    values: dict[str, int] = {}
    for key, (default, low, high, why) in limits.items():
        value = _int_setting(p, table, key, default, low)
        if value > high:
            p.add(f"run.{key}", value, f"must be a whole number from {low} to {high} ({why})")
            value = default
        values[key] = value
    return RunSettings(sampler=sampler, **values)


def _month(p: Problems, key: str, value: Any) -> np.datetime64 | None:
    try:
        return parse_month(value)
    except ValueError as exc:
        p.add(key, value, str(exc))
        return None


@dataclass(frozen=True, slots=True)
class Header:
    """The top-level keys of a scenario, validated (None where missing or bad).

    >>> check_header(Problems(), {"model": "fighters", "horizon": 12}).model.info.name
    'fighters'
    """

    name: str
    description: str
    model_name: Any
    model: Model | None
    start: np.datetime64 | None
    horizon: int
    #: False when ``horizon`` was missing or bad: checks of months against the run's
    #: end are then skipped (they would only repeat that problem).
    horizon_known: bool = True


def check_header(p: Problems, data: dict[str, Any]) -> Header:
    """The top-level keys: unknown and required keys, name, time step, model, start, horizon.

    >>> p = Problems()
    >>> h = check_header(p, {"name": "x", "model": "financing", "start": "2024-01",
    ...                      "horizon": 0})
    >>> h.model_name, h.horizon, [str(e) for e in p.items]
    ('financing', 1, ['horizon=0 must be a whole number of months from 1 to 600'])
    """
    p.unknown("", data, TOP_KEYS)
    for key in ("name", "model", "start", "horizon"):
        if key not in data:
            p.add(key, None, "is required")
    for key, value in _dates_and_times(data):
        p.add(key, value, "is a TOML date or time, which scenarios do not use; write a "
              'month as a string, e.g. "2019-01"')
    name = data.get("name", "")
    if not isinstance(name, str):
        p.add("name", name, "must be a string")
        name = ""
    description = data.get("description", "")
    if not isinstance(description, str):
        p.add("description", description, "must be a string")
        description = ""
    if data.get("time_step", "month") != "month":
        p.add("time_step", data["time_step"], "must be 'month' (the only time step for now)")
    model_name = data.get("model")
    model = None
    if model_name is not None:
        if not isinstance(model_name, str) or model_name not in model_names():
            close = difflib.get_close_matches(str(model_name), model_names(), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            p.add("model", model_name, f"is not a model; {hint}allowed: {', '.join(model_names())}")
        else:
            model = get_model(model_name)
    start = _month(p, "start", data["start"]) if "start" in data else None
    horizon = data.get("horizon")
    horizon_known = (not isinstance(horizon, bool) and isinstance(horizon, int)
                     and 1 <= horizon <= MAX_HORIZON)
    if horizon is not None and not horizon_known:
        p.add("horizon", horizon, f"must be a whole number of months from 1 to {MAX_HORIZON}")
    return Header(name=name, description=description, model_name=model_name, model=model,
                  start=start, horizon=horizon if isinstance(horizon, int) and horizon_known
                  else 1,
                  horizon_known=horizon_known)


def check_levers(p: Problems, raw_levers: Any, head: Header) -> dict[str, float]:
    """``[levers]``: the model's levers with their defaults, overridden where given.

    >>> p = Problems()
    >>> head = check_header(p, {"model": "financing"})
    >>> check_levers(p, {"seizure_effort": 2}, head)["seizure_effort"]
    2.0
    """
    model, model_name = head.model, head.model_name
    lever_decls = {d.name: d for d in model.info.levers} if model else {}
    levers = {n: d.default for n, d in lever_decls.items()}
    if not isinstance(raw_levers, dict):
        p.add("levers", raw_levers, "must be a table")
        raw_levers = {}
    if model is None:  # no model (or a bad one, reported): no levers to check against
        return levers
    for lname, value in raw_levers.items():
        if model is not None and lname not in lever_decls:
            close = difflib.get_close_matches(lname, list(lever_decls), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            p.add(f"levers.{lname}", value, f"is not a lever of model {model_name!r}; {hint}"
                  f"allowed: {', '.join(lever_decls) or 'none'}")
            continue
        problem = lever_decls[lname].problem(value) if lname in lever_decls else None
        if problem:
            p.add(f"levers.{lname}", value, problem)
        else:
            levers[lname] = float(value)
    return levers


def check_timeline(p: Problems, raw_timeline: Any, head: Header) -> list[TimelineEntry]:
    """``[[timeline]]``: lever changes from a month on, sorted by month.

    >>> p = Problems()
    >>> head = check_header(p, {"model": "financing", "start": "2024-01", "horizon": 24})
    >>> check_timeline(p, [{"at": "2025-01", "levers": {"seizure_effort": 1.5}}], head)
    [TimelineEntry(at=12, levers={'seizure_effort': 1.5}, note='')]
    """
    lever_decls = {d.name: d for d in head.model.info.levers} if head.model else {}
    start, horizon = head.start, head.horizon
    timeline: list[TimelineEntry] = []
    if not isinstance(raw_timeline, list):
        p.add("timeline", raw_timeline, "must be an array of tables ([[timeline]])")
        raw_timeline = []
    for i, entry in enumerate(raw_timeline):
        key = f"timeline[{i}]"
        if not isinstance(entry, dict):
            p.add(key, entry, "must be a table with at and levers")
            continue
        p.unknown(f"{key}.", entry, TIMELINE_KEYS)
        at = _month(p, f"{key}.at", entry.get("at"))
        if at is not None and start is not None and head.horizon_known:
            idx = month_index(start, at)
            if not 0 <= idx < horizon:
                p.add(f"{key}.at", entry.get("at"),
                      f"must be within the run: {month_label(start, 0)} to "
                      f"{month_label(start, horizon - 1)}")
                continue
        else:
            continue
        changes = entry.get("levers", {})
        if not isinstance(changes, dict) or not changes:
            p.add(f"{key}.levers", changes, "must be a non-empty table of lever values")
            continue
        good: dict[str, float] = {}
        for lname, value in changes.items():
            if lname not in lever_decls:
                close = difflib.get_close_matches(lname, list(lever_decls), n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                p.add(f"{key}.levers.{lname}", value,
                      f"is not a lever; {hint}allowed: {', '.join(lever_decls) or 'none'}")
            elif problem := lever_decls[lname].problem(value):
                p.add(f"{key}.levers.{lname}", value, problem)
            else:
                good[lname] = float(value)
        timeline.append(TimelineEntry(at=idx, levers=good, note=str(entry.get("note", ""))))
    timeline.sort(key=lambda e: e.at)
    return timeline


@dataclass(frozen=True, slots=True)
class Outputs:
    """The ``[outputs]`` table, validated.

    >>> Outputs(variables=("reserves",), quantiles=(0.5,), report_months=(0, 12), keep="draws").keep
    'draws'
    """

    variables: tuple[str, ...]
    quantiles: tuple[float, ...]
    report_months: tuple[int, ...]
    keep: str


def check_outputs(p: Problems, outputs: Any, head: Header) -> Outputs:
    """``[outputs]``: the variables kept, the quantiles, the report months, draws or summary.

    >>> p = Problems()
    >>> head = check_header(p, {"model": "financing", "start": "2024-01", "horizon": 24})
    >>> check_outputs(p, {"quantiles": [0.1, 0.9]}, head).report_months
    (0, 12, 24)
    """
    model, model_name = head.model, head.model_name
    start, horizon = head.start, head.horizon
    if not isinstance(outputs, dict):
        p.add("outputs", outputs, "must be a table")
        outputs = {}
    p.unknown("outputs.", outputs, OUTPUT_KEYS)
    all_outputs = [o.name for o in model.info.outputs] if model else []
    variables = outputs.get("variables", all_outputs)
    if not isinstance(variables, list):
        p.add("outputs.variables", variables, "must be a list of output names")
        variables = all_outputs
    elif model is not None and any(v not in all_outputs for v in variables):
        # Without a known model there is nothing to check the names against;
        # the model's own problem has been reported already.
        p.add("outputs.variables", variables,
              f"must be a list of outputs of model {model_name!r}: {', '.join(all_outputs)}")
        variables = all_outputs
    quantiles = outputs.get("quantiles", list(DEFAULT_QUANTILES))
    if (not isinstance(quantiles, list) or not quantiles
            or not all(is_number(q) and 0 < q < 1 for q in quantiles)):
        p.add("outputs.quantiles", quantiles, "must be a list of numbers in (0, 1)")
        quantiles = list(DEFAULT_QUANTILES)
    keep = outputs.get("keep", "draws")
    if keep not in ("draws", "summary"):
        p.add("outputs.keep", keep, "must be one of draws, summary")
        keep = "draws"
    report_months: list[int] = []
    if "report_months" in outputs and start is not None and head.horizon_known:
        raw = outputs["report_months"]
        for j, text in enumerate(raw if isinstance(raw, list) else [raw]):
            m = _month(p, f"outputs.report_months[{j}]", text)
            if m is not None:
                idx = month_index(start, m)
                if 0 <= idx <= horizon:
                    report_months.append(idx)
                else:
                    p.add(f"outputs.report_months[{j}]", text, "must be within the run")
    else:
        report_months = sorted({*range(0, horizon + 1, 12), horizon})
    return Outputs(variables=tuple(variables), quantiles=tuple(float(q) for q in quantiles),
                   report_months=tuple(report_months), keep=keep)


@dataclass(frozen=True, slots=True)
class ModelView:
    """What a model's ``check`` sees: validated parts of a scenario.

    >>> ModelView(parameters={}, levers={"seizure_effort": 1.0}, timeline=[], horizon=12).horizon
    12
    """

    parameters: dict[str, Parameter]
    levers: dict[str, float]
    timeline: list[TimelineEntry]
    horizon: int

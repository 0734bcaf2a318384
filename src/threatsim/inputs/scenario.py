"""Scenario files: TOML in, a validated :class:`Scenario` out.

This is the only module that reads scenario TOML. It resolves ``extends``
(what-ifs override only what they name), checks every key against the schema
in :mod:`threatsim.inputs.schema` and the model's declarations, gathers *all* the
problems of a file into one :class:`~threatsim.core.errors.ScenarioError`, and
returns frozen dataclasses that the engine runs.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from threatsim.core.errors import ScenarioError
from threatsim.core.months import month_index, month_label, month_range, parse_month
from threatsim.inputs.distributions import RANGED_KINDS, DistSpec
from threatsim.inputs.schema import (
    INTEGER_UNITS,
    PARAMETER_UNITS,
    SHARE_UNITS,
    SOURCE_UNIT_FOR,
)
from threatsim.inputs.sources import Source, SourceRegistry, load_sources
from threatsim.models.contract import ORIGIN_REST, origin_share_parameter
from threatsim.models.registry import get_model, model_names

__all__ = [
    "Parameter",
    "RunSettings",
    "Scenario",
    "TimelineEntry",
    "load_scenario",
    "scenario_from_dict",
]

SAMPLERS = ("mc", "lhs", "sobol")
DEFAULT_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
MAX_HORIZON = 600

_TOP_KEYS = ("name", "description", "extends", "model", "start", "horizon", "time_step",
             "sources", "run", "parameters", "levers", "timeline", "outputs", "origins")
_RUN_KEYS = ("draws", "seed", "sampler", "chunk_size", "workers", "replicates")
_PARAM_KEYS = ("dist", "range", "value", "mode", "values", "weights", "unit", "source",
               "assumption", "range_assumption", "share_of", "description")
_TIMELINE_KEYS = ("at", "levers", "note")
_OUTPUT_KEYS = ("variables", "quantiles", "report_months", "keep")
_ORIGIN_KEYS = tuple(k for k in _PARAM_KEYS if k != "share_of")


@dataclass(frozen=True, slots=True, kw_only=True)
class Parameter:
    """A named uncertain input: a distribution plus its provenance."""

    name: str
    dist: DistSpec
    unit: str
    source: str | None = None
    assumption: str | None = None
    range_assumption: str | None = None
    share_of: str | None = None
    description: str = ""

    def provenance(self, sources: SourceRegistry | None = None) -> str:
        """One line saying where the range comes from."""
        if self.source is not None:
            text = f"source {self.source}"
            if sources is not None and self.source in sources:
                text = f"{sources[self.source].citation()} ({self.source})"
            if self.range_assumption:
                text += f"; range: {self.range_assumption}"
            return text
        return f"assumption: {self.assumption}"


@dataclass(frozen=True, slots=True, kw_only=True)
class RunSettings:
    """How a scenario is run by default; the CLI and ``run()`` may override."""

    draws: int = 10_000
    seed: int = 0
    sampler: str = "mc"
    chunk_size: int = 65_536
    workers: int = 1
    replicates: int = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class TimelineEntry:
    """Lever values that apply from month ``at`` (an index from the start) on."""

    at: int
    levers: dict[str, float]
    note: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    """A resolved, validated scenario."""

    name: str
    description: str
    model: str
    start: np.datetime64
    horizon: int
    parameters: dict[str, Parameter]
    levers: dict[str, float]
    timeline: tuple[TimelineEntry, ...]
    run: RunSettings
    variables: tuple[str, ...]
    quantiles: tuple[float, ...]
    report_months: tuple[int, ...]
    sources: SourceRegistry = field(repr=False)
    resolved: dict[str, Any] = field(repr=False)
    path: str | None = None
    keep: str = "draws"

    @property
    def resolved_json(self) -> str:
        """The resolved scenario (after ``extends``) as canonical JSON."""
        return json.dumps(self.resolved, sort_keys=True, separators=(",", ":"))

    @property
    def run_id(self) -> str:
        """Short content hash of the resolved scenario."""
        return hashlib.sha256(self.resolved_json.encode()).hexdigest()[:12]

    def time(self) -> np.ndarray:
        """The month-start dates of the time axis (horizon + 1 of them)."""
        return month_range(self.start, self.horizon + 1)

    def month_label(self, index: int) -> str:
        """``YYYY-MM`` of month *index*."""
        return month_label(self.start, index)

    def month_of(self, text: str, *, key: str = "month") -> int:
        """Index of month ``"YYYY-MM"`` on the time axis, or a ScenarioError."""
        try:
            idx = month_index(self.start, parse_month(text))
        except ValueError as exc:
            raise ScenarioError(str(exc), key=key, value=text) from None
        if not 0 <= idx <= self.horizon:
            msg = (f"must be within the run: {self.month_label(0)} to "
                   f"{self.month_label(self.horizon)}")
            raise ScenarioError(msg, key=key, value=text)
        return idx

    def lever_schedule(self) -> dict[str, np.ndarray]:
        """Each lever's value in force during months 0..horizon-1."""
        schedule = {name: np.full(self.horizon, float(v)) for name, v in self.levers.items()}
        for entry in self.timeline:
            for name, value in entry.levers.items():
                schedule[name][entry.at:] = float(value)
        return schedule

    def with_values(self, overrides: dict[str, Any]) -> Scenario:
        """A copy with keys replaced, e.g. ``{"levers.seizure_effort": 2.0}``; revalidated."""
        data = copy.deepcopy(self.resolved)
        for dotted, value in overrides.items():
            parts = dotted.split(".")
            node = data
            for part in parts[:-1]:
                node = node.setdefault(part, {})
                if not isinstance(node, dict):
                    raise ScenarioError("is not a table", key=dotted, value=value)
            node[parts[-1]] = value
        return scenario_from_dict(data, path=self.path, sources=self.sources)

    def provenance(self) -> dict[str, str]:
        """Parameter name -> where its range comes from."""
        return {name: p.provenance(self.sources) for name, p in self.parameters.items()}


# -- reading and resolving ----------------------------------------------------------


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ScenarioError("no such scenario file", path=str(path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"is not valid TOML: {exc}", path=str(path)) from None


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Tables merge key by key, to any depth; other values replace."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _resolve(path: Path, chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    path = path.resolve()
    if path in chain:
        cycle = " -> ".join(p.name for p in (*chain, path))
        raise ScenarioError(f"forms a cycle of extends: {cycle}", path=str(chain[0]),
                            key="extends", value=path.name)
    data = _read_toml(path)
    parent = data.pop("extends", None)
    if parent is None:
        return data
    if not isinstance(parent, str):
        raise ScenarioError("must be a path (string) relative to this file", path=str(path),
                            key="extends", value=parent)
    parent_path = path.parent / parent
    if not parent_path.is_file():
        raise ScenarioError(f"names a file that does not exist ({parent_path})",
                            path=str(path), key="extends", value=parent)
    base = _resolve(parent_path, (*chain, path))
    # Paths inside the parent (sources) stay relative to the parent's folder.
    if "sources" in base and "sources" not in data:
        base["sources"] = [str((parent_path.parent / s).resolve()) for s in base["sources"]]
    return _merge(base, data)


def _find_sources(folder: Path) -> Path | None:
    for candidate in (folder, *folder.parents):
        if (candidate / "sources").is_dir():
            return candidate / "sources"
    return None


def load_scenario(path: str | Path, *, sources: SourceRegistry | None = None) -> Scenario:
    """Read, resolve and validate a scenario file.

    Parameters
    ----------
    path
        The TOML file.
    sources
        A source registry; by default the files named by the scenario's
        ``sources`` key, or the nearest ``sources/`` folder above the file.

    Raises
    ------
    ScenarioError
        Naming the file, the key path, the value and what is allowed, for
        every problem found.

    Examples
    --------
    >>> sc = load_scenario("scenarios/baseline.toml")  # doctest: +SKIP
    >>> sc.model
    'coupled'
    """
    path = Path(path)
    data = _resolve(path)
    if sources is None:
        named = data.get("sources")
        if named is not None:
            if not isinstance(named, list) or not all(isinstance(s, str) for s in named):
                raise ScenarioError("must be a list of paths", path=str(path), key="sources",
                                    value=named)
            sources = load_sources(*[path.resolve().parent / s for s in named])
        else:
            folder = _find_sources(path.resolve().parent)
            sources = load_sources(folder) if folder else SourceRegistry({})
    return scenario_from_dict(data, path=str(path), sources=sources)


# -- validation ----------------------------------------------------------------------


class _Problems:
    def __init__(self) -> None:
        self.items: list[ScenarioError] = []

    def add(self, key: str, value: Any, expected: str) -> None:
        self.items.append(ScenarioError(expected, key=key, value=value))

    def unknown(self, prefix: str, table: dict[str, Any], allowed: tuple[str, ...]) -> None:
        for key in table:
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                self.add(f"{prefix}{key}", table[key],
                         f"is not a known key; {hint}allowed: {', '.join(allowed)}")


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _int_setting(p: _Problems, table: dict, key: str, default: int, low: int) -> int:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        p.add(f"run.{key}", value, f"must be a whole number >= {low}")
        return default
    return value


def _run_settings(p: _Problems, table: Any) -> RunSettings:
    if not isinstance(table, dict):
        p.add("run", table, "must be a table")
        return RunSettings()
    p.unknown("run.", table, _RUN_KEYS)
    sampler = table.get("sampler", "mc")
    if sampler not in SAMPLERS:
        p.add("run.sampler", sampler, f"must be one of {', '.join(SAMPLERS)}")
        sampler = "mc"
    return RunSettings(
        draws=_int_setting(p, table, "draws", 10_000, 1),
        seed=_int_setting(p, table, "seed", 0, 0),
        sampler=sampler,
        chunk_size=_int_setting(p, table, "chunk_size", 65_536, 1),
        workers=_int_setting(p, table, "workers", 1, 1),
        replicates=_int_setting(p, table, "replicates", 1, 1),
    )


def _check_against_source(p: _Problems, key: str, spec: dict, dist: DistSpec,
                          src: Source, has_range_assumption: bool) -> None:
    """A sourced parameter's range must agree with what the report says."""
    stated = "a range_assumption sentence saying why"
    if dist.kind in RANGED_KINDS:
        lo, hi = dist.low, dist.high
        if src.wording == "between":
            if (lo, hi) != (src.low, src.high) and not has_range_assumption:
                p.add(f"{key}.range", [lo, hi],
                      f"differs from the reported range [{src.low:g}, {src.high:g}] of "
                      f"{src.citation()}; keep it, or give {stated}")
        elif src.wording == "up_to":
            if not has_range_assumption:
                p.add(f"{key}.range", spec.get("range"),
                      f"source {src.id!r} says 'up to {src.high:g}' ({src.citation()}): the "
                      f"lower bound is not reported; state it with {stated}")
            elif hi != src.high:
                p.add(f"{key}.range", [lo, hi],
                      f"must end at the reported upper bound {src.high:g} ({src.citation()})")
        elif src.wording in ("more_than", "or_more"):
            if not has_range_assumption:
                p.add(f"{key}.range", spec.get("range"),
                      f"source {src.id!r} says '{src.wording.replace('_', ' ')} {src.low:g}' "
                      f"({src.citation()}): the upper bound is not reported; state it with "
                      f"{stated}")
            elif lo != src.low:
                p.add(f"{key}.range", [lo, hi],
                      f"must start at the reported lower bound {src.low:g} ({src.citation()})")
        else:  # a point figure read as a range
            if not has_range_assumption:
                p.add(f"{key}.range", [lo, hi],
                      f"source {src.id!r} reports a single figure ({src.wording} "
                      f"{src.point:g}, {src.citation()}); reading it as a range needs {stated}")
            elif not lo <= src.point <= hi:
                p.add(f"{key}.range", [lo, hi],
                      f"must contain the reported figure {src.point:g} ({src.citation()})")
    elif dist.kind == "point":
        reported = src.point if src.point is not None else None
        if reported is None:
            p.add(f"{key}.dist", "point",
                  f"source {src.id!r} reports a range, not a single value; use a ranged dist")
        elif dist.value != reported and not has_range_assumption:
            p.add(f"{key}.value", dist.value,
                  f"differs from the reported {reported:g} ({src.citation()}); keep it, or "
                  f"give {stated}")


def _parameter(p: _Problems, name: str, spec: Any, sources: SourceRegistry,
               declared_unit: str | None) -> Parameter | None:
    key = f"parameters.{name}"
    if not isinstance(spec, dict):
        p.add(key, spec, "must be a table with dist, unit and source or assumption")
        return None
    before = len(p.items)
    p.unknown(f"{key}.", spec, _PARAM_KEYS)
    unit = spec.get("unit")
    if unit not in PARAMETER_UNITS:
        p.add(f"{key}.unit", unit, f"must be one of {', '.join(PARAMETER_UNITS)}")
    elif declared_unit is not None and unit != declared_unit:
        p.add(f"{key}.unit", unit, f"must be {declared_unit!r} (the unit the model uses)")
    source_id, assumption = spec.get("source"), spec.get("assumption")
    src: Source | None = None
    if (source_id is None) == (assumption is None):
        p.add(key, None if source_id is None else source_id,
              "needs exactly one of source = '<registry id>' (a reported figure) or "
              "assumption = '<why this range>' (analyst judgement)")
    elif source_id is not None:
        if source_id not in sources:
            close = difflib.get_close_matches(str(source_id), sources.ids(), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            p.add(f"{key}.source", source_id, f"is not in the source registry{hint}")
        else:
            src = sources[source_id]
            want = SOURCE_UNIT_FOR.get(str(unit))
            if want is not None and src.unit != want:
                p.add(f"{key}.source", source_id,
                      f"reports {src.unit}, but the parameter's unit is {unit!r}")
    elif not isinstance(assumption, str) or not assumption.strip():
        p.add(f"{key}.assumption", assumption, "must be a sentence saying why this range")
    range_assumption = spec.get("range_assumption")
    if range_assumption is not None and (not isinstance(range_assumption, str)
                                         or not range_assumption.strip()):
        p.add(f"{key}.range_assumption", range_assumption, "must be a sentence")
    kind = spec.get("dist")
    rng_ = spec.get("range")
    if rng_ is None and src is not None and src.wording == "between":
        rng_ = [src.low, src.high]
    value = spec.get("value")
    if value is None and src is not None and src.point is not None and kind in ("point", "poisson"):
        value = src.point
    fields: dict[str, Any] = {"kind": kind}
    if rng_ is not None:
        if (not isinstance(rng_, list) or len(rng_) != 2 or not all(_is_number(x) for x in rng_)):
            p.add(f"{key}.range", rng_, "must be [low, high], two numbers")
        else:
            fields["low"], fields["high"] = float(rng_[0]), float(rng_[1])
    for opt in ("value", "mode"):
        v = value if opt == "value" else spec.get(opt)
        if v is not None:
            if not _is_number(v):
                p.add(f"{key}.{opt}", v, "must be a number")
            else:
                fields[opt] = float(v)
    for opt in ("values", "weights"):
        v = spec.get(opt)
        if v is not None:
            if not isinstance(v, list) or not all(_is_number(x) for x in v):
                p.add(f"{key}.{opt}", v, "must be a list of numbers")
            else:
                fields[opt] = tuple(float(x) for x in v)
    if len(p.items) > before:
        return None
    fields["integer"] = unit in INTEGER_UNITS
    try:
        dist = DistSpec(**fields)
        problem = dist.problem(nonnegative=True)
    except ValueError as exc:
        problem = str(exc)
    if problem is not None:
        if "range" in problem or "low" in problem or "finite" in problem:
            where, shown = ("range", rng_) if rng_ is not None else ("value", value)
        elif "mode" in problem:
            where, shown = "mode", spec.get("mode")
        elif "discrete" in problem:
            where, shown = "values", spec.get("values")
        else:
            where, shown = "dist", kind
        p.add(f"{key}.{where}", shown, problem)
        return None
    if unit in SHARE_UNITS:
        _, hi = dist.bounds()
        if hi > 1:
            p.add(f"{key}.range" if rng_ is not None else f"{key}.value",
                  rng_ if rng_ is not None else value, f"must lie in [0, 1] (unit {unit!r})")
            return None
    if src is not None:
        _check_against_source(p, key, spec, dist, src, range_assumption is not None)
    share_of = spec.get("share_of")
    return Parameter(name=name, dist=dist, unit=str(unit), source=source_id,
                     assumption=assumption, range_assumption=range_assumption,
                     share_of=share_of, description=str(spec.get("description", "")))


def _origins(p: _Problems, raw: Any, model: Any, sources: SourceRegistry) -> dict[str, Parameter]:
    """``[origins.<region>.<origin>]`` tables: origin shares, sampled as parameters."""
    coords, name = model.info.coords, model.info.name
    if "origin" not in coords:
        p.add("origins", "...", f"model {name!r} has no origin groups; [origins] tables "
              "belong to models with an origin coord (fighters, coupled)")
        return {}
    if not isinstance(raw, dict):
        p.add("origins", raw, "must be a table of [origins.<region>.<origin>] tables")
        return {}
    regions = tuple(coords["region"])
    groups = tuple(g for g in coords["origin"] if g != ORIGIN_REST)
    out: dict[str, Parameter] = {}
    for region, table in raw.items():
        if region not in regions:
            close = difflib.get_close_matches(str(region), regions, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            p.add(f"origins.{region}", "...", f"is not a region of model {name!r}; {hint}"
                  f"allowed: {', '.join(regions)}")
            continue
        if not isinstance(table, dict):
            p.add(f"origins.{region}", table, "must be a table of [origins.<region>.<origin>] "
                  "tables")
            continue
        for origin, spec in table.items():
            key = f"origins.{region}.{origin}"
            if origin not in groups:
                close = difflib.get_close_matches(str(origin), groups, n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                why = ("is the rest (1 minus the declared shares) and is never given"
                       if origin == ORIGIN_REST else "is not an origin group")
                p.add(key, "...", f"{why}; {hint}allowed: {', '.join(groups)}")
                continue
            if not isinstance(spec, dict):
                p.add(key, spec, "must be a table with dist, value or range, and source or "
                      "assumption (unit share)")
                continue
            p.unknown(f"{key}.", spec, _ORIGIN_KEYS)
            pname = origin_share_parameter(region, origin)
            sub = _Problems()
            spec = {"unit": "share", **{k: v for k, v in spec.items() if k in _ORIGIN_KEYS}}
            param = _parameter(sub, pname, spec, sources, "share")
            for e in sub.items:
                p.add(str(e.key).replace(f"parameters.{pname}", key, 1), e.value, e.expected)
            if param is not None:
                out[pname] = param
    return out


def _month(p: _Problems, key: str, value: Any) -> np.datetime64 | None:
    try:
        return parse_month(value)
    except ValueError as exc:
        p.add(key, value, str(exc))
        return None


def scenario_from_dict(data: dict[str, Any], *, path: str | None = None,
                       sources: SourceRegistry | None = None) -> Scenario:
    """Validate a resolved scenario table (after ``extends``) into a :class:`Scenario`."""
    sources = sources if sources is not None else SourceRegistry({})
    resolved = copy.deepcopy(data)
    resolved.pop("extends", None)
    p = _Problems()
    p.unknown("", data, _TOP_KEYS)
    for key in ("name", "model", "start", "horizon"):
        if key not in data:
            p.add(key, None, "is required")
    name = data.get("name", "")
    if not isinstance(name, str):
        p.add("name", name, "must be a string")
    description = data.get("description", "")
    if data.get("time_step", "month") != "month":
        p.add("time_step", data["time_step"], "must be 'month' (the only time step for now)")
    model_name = data.get("model")
    model = None
    if model_name is not None:
        if model_name not in model_names():
            close = difflib.get_close_matches(str(model_name), model_names(), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            p.add("model", model_name, f"is not a model; {hint}allowed: {', '.join(model_names())}")
        else:
            model = get_model(model_name)
    start = _month(p, "start", data["start"]) if "start" in data else None
    horizon = data.get("horizon", 1)
    if isinstance(horizon, bool) or not isinstance(horizon, int) or not 1 <= horizon <= MAX_HORIZON:
        p.add("horizon", horizon, f"must be a whole number of months from 1 to {MAX_HORIZON}")
        horizon = 1
    run = _run_settings(p, data.get("run", {}))

    # Parameters: the model's declarations say which exist and in which unit.
    declared = {d.name: d for d in model.info.parameters} if model else {}
    raw_params = data.get("parameters", {})
    parameters: dict[str, Parameter] = {}
    if not isinstance(raw_params, dict):
        p.add("parameters", raw_params, "must be a table of parameter tables")
        raw_params = {}
    for pname, spec in raw_params.items():
        if model is not None and pname not in declared:
            close = difflib.get_close_matches(pname, list(declared), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            p.add(f"parameters.{pname}", "...",
                  f"is not a parameter of model {model_name!r}; {hint}allowed: "
                  f"{', '.join(declared)}")
            continue
        decl = declared.get(pname)
        param = _parameter(p, pname, spec, sources, decl.unit if decl else None)
        if param is not None:
            parameters[pname] = param
    for pname in declared:
        if pname not in raw_params:
            p.add(f"parameters.{pname}", None,
                  f"is required by model {model_name!r} ({declared[pname].doc}; unit "
                  f"{declared[pname].unit!r})")
    if model is not None and "origins" in data:
        parameters.update(_origins(p, data["origins"], model, sources))
    for pname, param in parameters.items():
        if param.share_of is not None:
            parent = parameters.get(param.share_of)
            if parent is None:
                p.add(f"parameters.{pname}.share_of", param.share_of,
                      f"must name another parameter ({', '.join(parameters)})")
            elif parent.unit != param.unit:
                p.add(f"parameters.{pname}.share_of", param.share_of,
                      f"must name a parameter in the same unit ({param.unit!r})")
            elif parent.share_of is not None:
                p.add(f"parameters.{pname}.share_of", param.share_of,
                      "must name a top-level parameter (nesting is one level deep)")

    # Levers and the timeline.
    lever_decls = {d.name: d for d in model.info.levers} if model else {}
    raw_levers = data.get("levers", {})
    levers = {n: d.default for n, d in lever_decls.items()}
    if not isinstance(raw_levers, dict):
        p.add("levers", raw_levers, "must be a table")
        raw_levers = {}
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
    timeline: list[TimelineEntry] = []
    raw_timeline = data.get("timeline", [])
    if not isinstance(raw_timeline, list):
        p.add("timeline", raw_timeline, "must be an array of tables ([[timeline]])")
        raw_timeline = []
    for i, entry in enumerate(raw_timeline):
        key = f"timeline[{i}]"
        if not isinstance(entry, dict):
            p.add(key, entry, "must be a table with at and levers")
            continue
        p.unknown(f"{key}.", entry, _TIMELINE_KEYS)
        at = _month(p, f"{key}.at", entry.get("at"))
        if at is not None and start is not None:
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

    # Outputs.
    outputs = data.get("outputs", {})
    if not isinstance(outputs, dict):
        p.add("outputs", outputs, "must be a table")
        outputs = {}
    p.unknown("outputs.", outputs, _OUTPUT_KEYS)
    all_outputs = [o.name for o in model.info.outputs] if model else []
    variables = outputs.get("variables", all_outputs)
    if not isinstance(variables, list) or any(v not in all_outputs for v in variables):
        p.add("outputs.variables", variables,
              f"must be a list of outputs of model {model_name!r}: {', '.join(all_outputs)}")
        variables = all_outputs
    quantiles = outputs.get("quantiles", list(DEFAULT_QUANTILES))
    if (not isinstance(quantiles, list) or not quantiles
            or not all(_is_number(q) and 0 < q < 1 for q in quantiles)):
        p.add("outputs.quantiles", quantiles, "must be a list of numbers in (0, 1)")
        quantiles = list(DEFAULT_QUANTILES)
    keep = outputs.get("keep", "draws")
    if keep not in ("draws", "summary"):
        p.add("outputs.keep", keep, "must be one of draws, summary")
        keep = "draws"
    report_months: list[int] = []
    if "report_months" in outputs and start is not None:
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

    if model is not None and not p.items:
        p.items.extend(model.check(_Partial(parameters, levers, timeline, horizon)))
    if p.items:
        raise ScenarioError("invalid scenario", path=path, problems=tuple(p.items))
    assert start is not None
    assert model_name is not None
    return Scenario(
        name=name, description=str(description), model=model_name, start=start,
        horizon=horizon, parameters=parameters, levers=levers, timeline=tuple(timeline),
        run=run, variables=tuple(variables), quantiles=tuple(float(q) for q in quantiles),
        report_months=tuple(report_months), sources=sources, resolved=resolved, path=path,
        keep=keep,
    )


@dataclass(frozen=True, slots=True)
class _Partial:
    """What a model's ``check`` sees: validated parts of a scenario."""

    parameters: dict[str, Parameter]
    levers: dict[str, float]
    timeline: list[TimelineEntry]
    horizon: int


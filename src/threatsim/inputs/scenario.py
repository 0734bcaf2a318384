"""Scenario files: TOML in, a validated :class:`Scenario` out.

This is the only module that reads scenario TOML. It resolves ``extends``
(what-ifs override only what they name, :func:`threatsim.inputs.correlations.merge_correlations`
for the correlations), has every table checked
(:mod:`threatsim.inputs.validation` against the schema in
:mod:`threatsim.inputs.schema` and the model's declarations), gathers *all* the
problems of a file into one :class:`~threatsim.core.errors.ScenarioError`, and
returns frozen dataclasses that the engine runs.
"""

from __future__ import annotations

import copy
import datetime
import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from threatsim.core.errors import ScenarioError
from threatsim.core.months import month_index, month_label, month_range, parse_month
from threatsim.inputs.correlations import check_correlations, merge_correlations
from threatsim.inputs.custody import check_custody
from threatsim.inputs.files import NotShown, read_toml, shown_path
from threatsim.inputs.observe import ObservedAs, check_observe
from threatsim.inputs.parameter_validation import check_parameters
from threatsim.inputs.parts import (
    Correlation,
    FrozenDict,
    Parameter,
    RunSettings,
    TimelineEntry,
    freeze,
)
from threatsim.inputs.questions import Question, check_questions
from threatsim.inputs.sources import SourceRegistry, combine_registries, load_sources
from threatsim.inputs.template import placeholder_problems
from threatsim.inputs.validation import (
    ModelView,
    Problems,
    check_header,
    check_levers,
    check_outputs,
    check_run_settings,
    check_timeline,
)

__all__ = [
    "Parameter",
    "RunSettings",
    "Scenario",
    "TimelineEntry",
    "load_scenario",
    "scenario_from_dict",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    """A resolved, validated scenario.

    >>> sc = load_scenario("scenarios/financing.toml")
    >>> sc.model, sc.month_label(0), len(sc.time()), sc.run_id == sc.with_values({}).run_id
    ('financing', '2019-01', 37, True)
    >>> sc.with_values({"levers.seizure_effort": 2.0}).levers["seizure_effort"]
    2.0
    """

    name: str
    description: str
    model: str
    start: np.datetime64
    horizon: int
    parameters: Mapping[str, Parameter]
    levers: Mapping[str, float]
    timeline: tuple[TimelineEntry, ...]
    run: RunSettings
    variables: tuple[str, ...]
    quantiles: tuple[float, ...]
    report_months: tuple[int, ...]
    sources: SourceRegistry = field(repr=False)
    resolved: Mapping[str, Any] = field(repr=False)
    path: str | None = None
    keep: str = "draws"
    #: The posterior file (``threatsim calibrate --out``) the top-level ``posterior`` key
    #: names, as an absolute path: runs draw the sampled parameters from it.
    posterior: str | None = None
    #: The headline questions (``[[questions]]``), answered first by ``threatsim run``.
    questions: tuple[Question, ...] = ()
    #: What reported figures measure in the outputs (``[observe.<key>]``), for
    #: ``threatsim extract --as observations``.
    observe: tuple[ObservedAs, ...] = ()
    #: The ``[[correlations]]`` entries (rank correlations between parameters); each
    #: correlated parameter also holds its group (:attr:`Parameter.correlated`).
    correlations: tuple[Correlation, ...] = ()

    def __post_init__(self) -> None:
        # Read-only, to any depth: the scenario, its run id and the resolved table stored
        # with the results always describe what runs; with_values() is the way to edit.
        object.__setattr__(self, "parameters", FrozenDict(self.parameters))
        object.__setattr__(self, "levers", FrozenDict(self.levers))
        object.__setattr__(self, "resolved", freeze(self.resolved))

    @property
    def resolved_json(self) -> str:
        """The resolved scenario (after ``extends``) as canonical JSON."""
        return json.dumps(self.resolved, sort_keys=True, separators=(",", ":"))

    @property
    def run_id(self) -> str:
        """Short content hash of the resolved scenario.

        The ``posterior`` key is left out: a run on a posterior combines this id with
        the posterior's own content hash (:meth:`threatsim.results.Posterior.run_id`),
        which does not depend on where the file lies. So are the ``questions`` and the
        ``observe`` table: they ask of a run, and change none of its numbers.
        """
        table = {k: v for k, v in self.resolved.items()
                 if k not in ("posterior", "questions", "observe")}
        text = json.dumps(table, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:12]

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

    def with_values(self, overrides: Mapping[str, Any]) -> Scenario:
        """A copy with keys replaced, e.g. ``{"levers.seizure_effort": 2.0}``; revalidated.

        A scenario is read-only (its tables are :class:`~threatsim.inputs.parts.FrozenDict`):
        this is the way to change it, and the change is checked as in a file.

        >>> sc = load_scenario("scenarios/financing.toml")
        >>> sc.levers["seizure_effort"] = 4.0
        Traceback (most recent call last):
        ...
        TypeError: a scenario is read-only: edit it with Scenario.with_values({...}), ...
        >>> sc.with_values({"levers.seizure_effort": 4.0}).run_id != sc.run_id
        True
        >>> sc.with_values({"levers.seizure_effort": -5.0})
        Traceback (most recent call last):
        ...
        threatsim.core.errors.ScenarioError: ...levers.seizure_effort=-5.0 ...
        """
        data = copy.deepcopy(dict(self.resolved))  # plain, editable dicts and lists
        for dotted, value in overrides.items():
            parts = dotted.split(".")
            node = data
            for part in parts[:-1]:
                if not isinstance(node, dict):
                    break
                node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ScenarioError("does not name a key of a table", key=dotted, value=value)
            node[parts[-1]] = value
        return scenario_from_dict(data, path=self.path, sources=self.sources)

    def provenance(self) -> dict[str, str]:
        """Parameter name -> where its range comes from."""
        return {name: p.provenance(self.sources) for name, p in self.parameters.items()}

    def correlation_provenance(self) -> list[dict[str, object]]:
        """Each rank correlation: its pair, rho, and where it comes from.

        >>> load_scenario("scenarios/financing.toml").correlation_provenance()
        []
        """
        return [c.record(self.sources) for c in self.correlations]



# -- reading and resolving ----------------------------------------------------------

#: The longest chain of ``extends`` followed (the shipped what-ifs use one or two).
MAX_EXTENDS = 32


#: Which files each leaf of a resolved table came from (tables and arrays: the same
#: shape, down to the leaves).
_Origins = dict[str, Any]


def _tag(data: Any, file: frozenset[str]) -> Any:
    """The origin tree of one file's table: every leaf (arrays included) -> {file}."""
    if isinstance(data, dict):
        return {k: _tag(v, file) for k, v in data.items()}
    return file


def _merge(base: dict[str, Any], override: dict[str, Any], base_from: _Origins,
           override_from: _Origins) -> tuple[dict[str, Any], _Origins]:
    """Tables merge key by key, to any depth; other values replace (origins alike)."""
    out, out_from = copy.deepcopy(base), dict(base_from)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key], out_from[key] = _merge(out[key], value, out_from[key], override_from[key])
        else:
            out[key], out_from[key] = copy.deepcopy(value), override_from[key]
    return out, out_from


def _files_under(tree: Any) -> set[str]:
    if isinstance(tree, dict):
        return set().union(*(_files_under(v) for v in tree.values()))
    return set(tree)


def _key_parts(key: str) -> list[str | int]:
    return [int(index) if index else name
            for name, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", key)]


def _files_at(origins: _Origins, key: str | None) -> set[str]:
    """The files the value at dotted *key* (``parameters.x.range``, ``timeline[0].at``)
    came from; where the key is not in the table, those of its nearest enclosing table."""
    node: Any = origins
    for part in _key_parts(key or ""):
        if not isinstance(node, dict) or part not in node:
            break
        node = node[part]
    return _files_under(node)


@dataclass(frozen=True, slots=True)
class _Layer:
    """One file of an extends chain, as read."""

    path: Path  # resolved
    shown: str  # as errors name it
    data: dict[str, Any]  # its table, without extends
    registries: tuple[tuple[Path, str], ...]  # the registries it names: (path, which key)


def _resolve_path(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError, ValueError):
        return path.absolute()


def _value(value: Any, layer_is_named: bool) -> Any:
    return value if layer_is_named else NotShown()


def _registries_of(data: dict[str, Any], path: Path, shown: str,
                   via: str | None) -> tuple[tuple[Path, str], ...]:
    """The source registries a file names (``sources``), or its nearest ``sources/``."""
    listed = data.get("sources")
    if listed is None:
        folder = _find_sources(path.parent)
        return ((folder, f"the nearest sources/ folder of {shown}"),) if folder else ()
    if (not isinstance(listed, list) or not listed
            or not all(isinstance(s, str) and s for s in listed)):
        raise ScenarioError("must be a list of paths (strings) of source files or folders, "
                            "relative to this file" + (f" ({via})" if via else ""), path=shown,
                            key="sources", value=_value(listed, via is None))
    return tuple((path.parent / s, f"named by sources in {shown}") for s in listed)


def _chain(path: Path) -> list[_Layer]:
    """The files of an extends chain, the named one first; each read once."""
    layers: list[_Layer] = []
    seen: list[Path] = []
    first: Any = None
    current, shown, via = path, str(path), None
    while True:
        resolved = _resolve_path(current)
        if resolved in seen:
            cycle = " -> ".join(p.name for p in (*seen, resolved))
            raise ScenarioError(f"forms a cycle of extends: {cycle}", path=str(path),
                                key="extends", value=resolved.name)
        if len(layers) == MAX_EXTENDS:
            raise ScenarioError(f"starts a chain of more than {MAX_EXTENDS} files that extend "
                                f"one another (the last one read: {layers[-1].shown}); "
                                f"at most {MAX_EXTENDS}", path=str(path), key="extends",
                                value=first)
        seen.append(resolved)
        named = not layers
        data = read_toml(current, via=via)
        parent = data.pop("extends", None)
        if named:
            first = parent
        if isinstance(data.get("posterior"), str) and data["posterior"].strip():
            # relative to the file that names it, whichever file of the chain that is
            data["posterior"] = str(_resolve_path(resolved.parent / data["posterior"]))
        if not named and isinstance(data.get("sources"), list):
            # a parent's sources stay relative to the parent's folder in the resolved table
            data["sources"] = [str(_resolve_path(resolved.parent / s))
                               if isinstance(s, str) and s else s for s in data["sources"]]
        layers.append(_Layer(path=resolved, shown=shown, data=data,
                             registries=_registries_of(data, resolved, shown, via)))
        if parent is None:
            return layers
        if not isinstance(parent, str) or not parent.strip():
            raise ScenarioError("must be the path (a string) of another scenario file, "
                                "relative to this file" + (f" ({via})" if via else ""),
                                path=shown, key="extends", value=_value(parent, named))
        current = resolved.parent / parent
        via = f"named by extends in {shown}"
        shown = shown_path(_resolve_path(current))


def _resolve(path: Path) -> tuple[dict[str, Any], _Origins, list[_Layer]]:
    """The resolved table of *path* (its extends chain merged), where each leaf came from,
    and the chain's files."""
    layers = _chain(path)
    root = layers[-1]
    data, origins = root.data, _tag(root.data, frozenset({root.shown}))
    for layer in reversed(layers[:-1]):
        child = layer.data
        child_from = _tag(child, frozenset({layer.shown}))
        if isinstance(data.get("correlations"), list) and isinstance(child.get("correlations"),
                                                                      list):
            # an array would replace the parent's whole; a child names only the pairs it changes
            child = {**child, "correlations": merge_correlations(data["correlations"],
                                                                 child["correlations"])}
            child_from["correlations"] = origins["correlations"] | child_from["correlations"]
        data, origins = _merge(data, child, origins, child_from)
    return data, origins, layers


def _find_sources(folder: Path) -> Path | None:
    for candidate in (folder, *folder.parents):
        try:
            if (candidate / "sources").is_dir():
                return candidate / "sources"
        except OSError:  # a folder that cannot be searched: look further up
            continue
    return None


def _registry(layers: list[_Layer]) -> tuple[SourceRegistry, list[str]]:
    """The source registries of every file of the chain, as one (a parameter's source is
    looked up in the registry of the file that declares it, or of a file it extends), and
    where it looked."""
    loaded: list[SourceRegistry] = []
    looked: list[str] = []
    done: set[Path] = set()
    for layer in layers:
        for registry, why in layer.registries:
            resolved = _resolve_path(registry)
            if resolved in done:
                continue
            done.add(resolved)
            looked.append(shown_path(resolved))
            loaded.append(load_sources(resolved, via=why, reveal=False))
    return combine_registries(loaded), looked


def _where_it_looked(looked: list[str], path: Path) -> str:
    where = (f"looked in {', '.join(looked)}" if looked else
             f"found no registry: no sources/ folder beside {path} or above it, and no "
             "sources key")
    return (f"; {where}. Name a registry with sources = [\"path/to/registry.toml\"] "
            "(relative to the file), or keep one in a sources/ folder beside the file")


def _quiet(err: ScenarioError, origins: _Origins, named: str, looked: list[str],
           path: Path) -> ScenarioError:
    """*err* with every value from a file other than *named* replaced by :class:`NotShown`
    (and quoted nowhere else in the message), and, where a source id was not found,
    where the registry was looked for."""
    problems = err.problems or (err,)
    hidden: list[Any] = []
    kept = []
    for problem in problems:
        value = problem.value
        others = sorted(_files_at(origins, problem.key) - {named})
        if value is not None and value != "..." and others:
            hidden.append(value)
            value = NotShown(", ".join(others))
        kept.append((problem, value))
    # quoted elsewhere (a message naming the model, say): strings and tables, not numbers,
    # whose digits are everywhere in messages
    texts = ({repr(v) for v in hidden if isinstance(v, str) and len(v) > 3}
             | {v for v in hidden if isinstance(v, str) and len(v) > 5}
             | {repr(v) for v in hidden if isinstance(v, (list, dict)) and len(repr(v)) > 7})
    out = []
    for problem, value in kept:
        expected = problem.expected
        for text in sorted(texts, key=len, reverse=True):
            expected = expected.replace(text, "<not shown>")
        if (problem.key or "").endswith(".source") and "source registry" in expected:
            expected += _where_it_looked(looked, path)
        out.append(ScenarioError(expected, path=problem.path, key=problem.key, value=value))
    if not err.problems:
        return ScenarioError(out[0].expected, path=err.path, key=err.key, value=out[0].value)
    return ScenarioError(err.expected, path=err.path, problems=tuple(out))


def load_scenario(path: str | os.PathLike[str], *,
                  sources: SourceRegistry | None = None) -> Scenario:
    """Read, resolve and validate a scenario file.

    Parameters
    ----------
    path
        The TOML file.
    sources
        A source registry; by default those of the scenario's files: each file's
        ``sources`` (paths relative to it), or else the nearest ``sources/`` folder
        above it, for the file and every file it extends.

    Raises
    ------
    ScenarioError
        Naming the file, the key path, the value and what is allowed, for
        every problem found. A value from another file than *path* (one it
        extends, a source registry) is never quoted: it shows as ``<not shown>``.

    Examples
    --------
    >>> sc = load_scenario("scenarios/baseline.toml")
    >>> sc.model, sc.horizon
    ('coupled', 36)
    """
    if not isinstance(path, (str, os.PathLike)):
        raise ScenarioError("must be the path of a scenario file (a str or a pathlib.Path)",
                            key="path", value=type(path).__name__)
    path = Path(path)
    data, origins, layers = _resolve(path)
    if sources is None:
        sources, looked = _registry(layers)
    else:
        looked = [shown_path(f) for f in sources.files] or ["the registry given to load_scenario"]
    try:
        return scenario_from_dict(data, path=str(path), sources=sources)
    except ScenarioError as err:
        raise _quiet(err, origins, layers[0].shown, looked, path) from None


def _check_plain_values(p: Problems, data: dict[str, Any]) -> None:
    """TOML dates and times: no key of a scenario takes one (months are strings)."""
    flagged = {e.key for e in p.items}
    stack: list[tuple[Any, str]] = [(data, "")]
    while stack:
        value, key = stack.pop()
        if isinstance(value, dict):
            stack.extend((v, f"{key}.{k}" if key else str(k)) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, f"{key}[{i}]") for i, v in enumerate(value))
        elif isinstance(value, (datetime.date, datetime.time)) and key not in flagged:
            p.add(key, value.isoformat(), "is a TOML date or time; no key takes one: write "
                  "a month as a string ('2019-01') and text in quotes")


def scenario_from_dict(data: Mapping[str, Any], *, path: str | None = None,
                       sources: SourceRegistry | None = None) -> Scenario:
    """Validate a resolved scenario table (after ``extends``) into a :class:`Scenario`.

    Every table is checked, in the file's order, before anything is raised: the
    error names every problem found.

    >>> sc = load_scenario("scenarios/financing.toml")
    >>> scenario_from_dict(sc.resolved, sources=sc.sources).run_id == sc.run_id
    True
    >>> try:
    ...     scenario_from_dict({"name": "x", "model": "financing", "start": "2024-01",
    ...                         "horizon": 12})
    ... except ScenarioError as err:
    ...     print(len(err.problems), err.problems[0].key)
    12 parameters.reserves_initial
    """
    sources = sources if sources is not None else SourceRegistry({})
    resolved: dict[str, Any] = copy.deepcopy(dict(data))  # plain dicts, even from a Scenario
    resolved.pop("extends", None)
    p = Problems()
    # A file from `threatsim new` not filled in yet: what is left, key by key, and only
    # that (the checks below would only restate it less helpfully).
    for key, value, what in placeholder_problems(resolved):
        p.add(key, value, f"is still a placeholder: replace it with {what}")
    if p.items:
        raise ScenarioError(f"{len(p.items)} values still to fill in", path=path,
                            problems=tuple(p.items))
    head = check_header(p, resolved)
    run = check_run_settings(p, resolved.get("run", {}))
    parameters = check_parameters(p, resolved, head, sources)
    parameters.update(check_custody(p, resolved, head, sources))  # [families], [events] ...
    correlations: tuple[Correlation, ...] = ()
    if "correlations" in resolved:
        correlations, parameters = check_correlations(p, resolved["correlations"], parameters,
                                                      sources)
    levers = check_levers(p, resolved.get("levers", {}), head)
    timeline = check_timeline(p, resolved.get("timeline", []), head)
    outputs = check_outputs(p, resolved.get("outputs", {}), head)
    questions = (check_questions(p, resolved["questions"], head) if "questions" in resolved
                 else ())
    observe = check_observe(p, resolved["observe"], head) if "observe" in resolved else ()
    for q in questions:
        if q.output not in outputs.variables:
            p.add(f"questions.{q.id}.output", q.output, "is not kept by this scenario: add it "
                  "to outputs.variables")
    posterior = resolved.get("posterior")
    if "posterior" in resolved and (not isinstance(posterior, str) or not posterior.strip()):
        p.add("posterior", posterior, "must be the path (a string) of a posterior file "
              "(threatsim calibrate --out), relative to this file")
        posterior = None
    if head.model is not None and not p.items:
        p.items.extend(head.model.check(ModelView(parameters, levers, timeline, head.horizon)))
    _check_plain_values(p, resolved)
    if p.items:
        raise ScenarioError("invalid scenario", path=path, problems=tuple(p.items))
    assert head.start is not None
    assert head.model_name is not None
    return Scenario(
        name=head.name, description=head.description, model=head.model_name,
        start=head.start, horizon=head.horizon, parameters=parameters, levers=levers,
        timeline=tuple(timeline), run=run, variables=outputs.variables,
        quantiles=outputs.quantiles, report_months=outputs.report_months, sources=sources,
        resolved=resolved, path=path, keep=outputs.keep, correlations=correlations,
        posterior=posterior, questions=questions, observe=observe,
    )

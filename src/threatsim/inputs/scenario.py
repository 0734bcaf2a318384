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
import hashlib
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from threatsim.core.errors import ScenarioError
from threatsim.core.months import month_index, month_label, month_range, parse_month
from threatsim.inputs.correlations import check_correlations, merge_correlations
from threatsim.inputs.custody import check_custody
from threatsim.inputs.parameter_validation import check_parameters
from threatsim.inputs.parts import Correlation, Parameter, RunSettings, TimelineEntry
from threatsim.inputs.sources import SourceRegistry, load_sources
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
    #: The ``[[correlations]]`` entries (rank correlations between parameters); each
    #: correlated parameter also holds its group (:attr:`Parameter.correlated`).
    correlations: tuple[Correlation, ...] = ()

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

    def correlation_provenance(self) -> list[dict[str, object]]:
        """Each rank correlation: its pair, rho, and where it comes from.

        >>> load_scenario("scenarios/financing.toml").correlation_provenance()
        []
        """
        return [c.record(self.sources) for c in self.correlations]



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
    if isinstance(base.get("correlations"), list) and isinstance(data.get("correlations"), list):
        # an array would replace the parent's whole; a child names only the pairs it changes
        data["correlations"] = merge_correlations(base["correlations"], data["correlations"])
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
    >>> sc = load_scenario("scenarios/baseline.toml")
    >>> sc.model, sc.horizon
    ('coupled', 36)
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



def scenario_from_dict(data: dict[str, Any], *, path: str | None = None,
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
    resolved = copy.deepcopy(data)
    resolved.pop("extends", None)
    p = Problems()
    head = check_header(p, data)
    run = check_run_settings(p, data.get("run", {}))
    parameters = check_parameters(p, data, head, sources)
    parameters.update(check_custody(p, data, head, sources))  # [families], [events] ...
    correlations: tuple[Correlation, ...] = ()
    if "correlations" in data:
        correlations, parameters = check_correlations(p, data["correlations"], parameters,
                                                      sources)
    levers = check_levers(p, data.get("levers", {}), head)
    timeline = check_timeline(p, data.get("timeline", []), head)
    outputs = check_outputs(p, data.get("outputs", {}), head)
    if head.model is not None and not p.items:
        p.items.extend(head.model.check(ModelView(parameters, levers, timeline, head.horizon)))
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
    )

"""A report's figures as a draft observation file (docs/scoring.md's format).

For each figure :func:`~threatsim.inputs.extract.extract_figures` found, an
``[[observation]]`` with the reported value or bounds, unit, paragraph, quote
and month. What it measures in the run (``variable`` and a label for each other
dim) is proposed where the scenario says so (``[observe.<key>]``, keyed by what
the figure counts or by the id of a registry source with the same paragraph and
figures), and otherwise left as a ``FILL IN`` placeholder, so that
:func:`~threatsim.outputs.observations.load_observations` names each one left
to fill in.
"""

from __future__ import annotations

import json
import re

from threatsim.inputs.extract import Figure, Report
from threatsim.inputs.observe import ObservedAs
from threatsim.inputs.scenario import Scenario
from threatsim.inputs.source_drafts import draft_ids
from threatsim.models.registry import get_model

__all__ = ["draft_observations", "observed_as"]

#: How a value left for the user to fill in starts (as in a scenario from `threatsim new`).
FILL_IN = "FILL IN"


def _slug(text: str) -> str:
    return "_".join(re.findall(r"[a-z0-9]+", text.lower()))


def _registry_id(f: Figure, scenario: Scenario, document: str) -> str | None:
    """The id of the scenario's registry source that is this figure (same document,
    paragraph, wording and values), if any."""
    for s in scenario.sources:
        if (s.document, s.paragraph, s.wording, s.unit) == (document, f.paragraph, f.wording,
                                                           f.unit) \
                and (s.low, s.high, s.point) == (f.low, f.high, f.point):
            return str(s.id)
    return None


def observed_as(f: Figure, scenario: Scenario, document: str) -> tuple[ObservedAs | None, str]:
    """What the scenario says figure *f* measures, and by which key: a source id of its
    registry that is this figure, or what the figure counts.

    >>> from threatsim.inputs.extract import extract_figures
    >>> from threatsim.inputs.scenario import load_scenario
    >>> sc = load_scenario("scenarios/fighters.toml")
    >>> f = extract_figures("1. There are 900 dependants.", as_of="2019-01").figures[0]
    >>> found, key = observed_as(f, sc, "X/1")
    >>> key, found.variable
    ('dependants', 'dependants_held')
    """
    by_key = {o.key: o for o in scenario.observe}
    source = _registry_id(f, scenario, document)
    if source is not None and source in by_key:
        return by_key[source], source
    counted = _slug(f.counted)
    for key in (counted, *(_slug(" ".join(counted.split("_")[i:]))
                          for i in range(1, len(counted.split("_"))))):
        if key in by_key:
            return by_key[key], key
    return None, ""


def _toml(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def draft_observations(report: Report, scenario: Scenario, *, document: str,
                       source_file: str = "") -> tuple[str, int]:
    """The text of a draft observation file for *report*'s figures against *scenario*,
    and how many have their variable and dims proposed.

    >>> from threatsim.inputs.extract import extract_figures
    >>> from threatsim.inputs.scenario import load_scenario
    >>> report = extract_figures("1. Nearly 900 dependants are held.", as_of="2019-01")
    >>> text, filled = draft_observations(report, load_scenario("scenarios/fighters.toml"),
    ...                                   document="X/1")
    >>> filled, 'variable = "dependants_held"' in text
    (1, True)
    """
    outputs = [o.name for o in get_model(scenario.model).info.outputs if "time" in o.dims]
    ids = draft_ids(report.figures)
    lines = [
        f"# Draft observations of {document} for scenario {scenario.name!r}, written by "
        f"`threatsim extract --as observations`" + (f" from {source_file}" if source_file
                                                     else "") + ".",
        "# A \"FILL IN\" value is what the figure measures in the run: name the output and a",
        "# label (a list, or \"all\") for each of its other dims, or delete the observation.",
        "# `threatsim score RUN.nc THIS.toml` checks every entry; [observe.<what is counted>]",
        "# in the scenario proposes them next time (docs/extract.md).",
        f"title = {_toml(f'Figures of {document}')}",
        f"document = {_toml(document)}",
    ]
    filled = 0
    for f, fid in zip(report.figures, ids, strict=True):
        found, key = observed_as(f, scenario, document)
        lines += ["", "[[observation]]", f"id = {_toml(fid)}"]
        if found is None:
            todo = f"{FILL_IN}: an output of {scenario.model}: {', '.join(outputs)}"
            lines.append(f"variable = {_toml(todo)}")
        else:
            filled += 1
            lines.append(f"variable = {_toml(found.variable)}  # [observe.{key}]")
            for dim, labels in found.select:
                shown = labels if isinstance(labels, str) else list(labels)
                lines.append(f"{dim} = {_toml(shown)}")
        lines.append(f"date = {_toml(f.as_of)}")
        if f.wording == "between":
            lines += [f"low = {f.low:.15g}", f"high = {f.high:.15g}"]
        elif f.wording == "up_to":
            lines.append(f"high = {f.high:.15g}")
        elif f.wording in ("more_than", "or_more"):
            lines.append(f"low = {f.low:.15g}")
        else:
            lines.append(f"point = {f.point:.15g}")
        lines += [f"unit = {_toml(f.unit)}", f"paragraph = {f.paragraph}",
                  f"quote = {_toml(f.quote)}",
                  f"description = {_toml(f.counted + (f' ({f.label})' if f.label else ''))}"]
        reasons = list(f.review)
        if f.wording in ("approximately", "nearly"):
            reasons.append(f"'{f.wording}' read as a point: consider low/high around it")
        if reasons:
            lines.append(f"assumption = {_toml('To review: ' + '; '.join(reasons))}")
    return "\n".join(lines) + "\n", filled

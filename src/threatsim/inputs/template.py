"""A new scenario file to fill in: every parameter a model needs, with its readings.

``threatsim new MODEL FILE.toml`` writes :func:`scenario_template`. Every value
the user must supply is a string starting with :data:`PLACEHOLDER`; the loader
recognises them and says, for each, what to put there
(:func:`placeholder_problems`), so ``threatsim validate`` is the checklist of
what is left to fill in.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from threatsim.inputs.distributions import DIST_KINDS
from threatsim.inputs.sources import Source, SourceRegistry
from threatsim.models.registry import get_model

__all__ = ["PLACEHOLDER", "placeholder_problems", "scenario_template"]

#: How a value left for the user to fill in starts (``range = "FILL IN: [low, high] ..."``).
PLACEHOLDER = "FILL IN"

#: What each reading of a range needs (docs/scenario-reference.md, "How ranges are read").
_READINGS = {
    "uniform": "range = [low, high]: hard bounds, every value equally likely",
    "triangular": "range = [low, high], mode = most likely",
    "pert": "range = [low, high], mode = most likely (smoother than triangular)",
    "normal90": "range = [low, high] read as a central 90 % interval of a normal",
    "lognormal90": "range = [low, high], low > 0, a central 90 % interval on a log scale",
    "point": "value = the one known value (or a point source)",
    "discrete": "values = [...], weights = [...]",
    "poisson": "value = the mean count",
}

#: What to write instead of a placeholder, by the key it stands for.
_WHAT_TO_WRITE = {
    "range": "[low, high] (or dist = \"point\" and value = ...)",
    "assumption": "a sentence saying why this range, or delete it and write source = \"ID\" "
                  "(ids: threatsim sources)",
    "description": "one sentence",
}


def _toml(value: Any) -> str:
    """A TOML value for a string or a number (json's quoting is TOML's for these)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return f"{value:.1f}"
    return json.dumps(value)


def scenario_template(model: str, name: str, *, sources: SourceRegistry | None = None,
                      start: str = "2019-01", horizon: int = 36) -> str:
    """The text of a new scenario file for *model*: every parameter it needs, its unit,
    what it means, the readings allowed, and placeholders for the range and its
    provenance; every lever at its default with its allowed interval.

    With *sources*, the reported figures of that unit are listed under each
    parameter, so a sourced one is a matter of choosing an id.

    >>> text = scenario_template("financing", "my_case")
    >>> print(text.splitlines()[3])
    name = "my_case"
    >>> text.count('range = "FILL IN'), text.count('[parameters.')
    (12, 12)
    """
    info = get_model(model).info
    by_unit: dict[str, list[Source]] = {}
    for s in sources or ():
        by_unit.setdefault(s.unit, []).append(s)
    lines = [
        f"# A new scenario for the {model} model, written by `threatsim new`.",
        f"# Replace every \"{PLACEHOLDER} ...\" value, then check the file with",
        "# `threatsim validate FILE`: it lists what is still to fill in, key by key.",
        f"name = {_toml(name)}",
        f"description = {_toml(PLACEHOLDER + ': what this scenario asks, in one sentence')}",
        f"model = {_toml(model)}",
        f"start = {_toml(start)}     # the first month (YYYY-MM)",
        f"horizon = {horizon}          # months simulated from the start",
        "",
        "[run]",
        "draws = 2000             # Monte Carlo draws; more narrows the bands' standard errors",
        "seed = 1                 # the same seed gives the same numbers, bit for bit",
        "sampler = \"mc\"           # or \"lhs\", \"sobol\"",
        "",
        "# Each parameter is a range read one way (dist):",
        *(f"#   {kind:<12} {_READINGS[kind]}" for kind in DIST_KINDS),
        "# and names exactly one provenance: source = \"ID\" (a figure of the registry,",
        "# `threatsim sources` lists them, with document and paragraph) or assumption =",
        "# \"a sentence saying why this range\".",
    ]
    if by_unit:
        lines.append("#\n# Reported figures of the registry, by unit (id: value, citation):")
        for unit, found in by_unit.items():
            lines.append(f"#   {unit}:")
            lines += [f"#     {s.id}: {s.figure()}, {s.citation()}" for s in found]
    for p in info.parameters:
        lines += ["", f"[parameters.{p.name}]", f"# {p.doc}",
                  f"unit = {_toml(p.unit)}",
                  "dist = \"uniform\"",
                  f"range = {_toml(f'{PLACEHOLDER}: [low, high] in {p.unit}')}",
                  f"assumption = {_toml(f'{PLACEHOLDER}: why this range')}"]
        if p.unit in by_unit:
            lines.append(f"# or, for a reported figure: source = \"ID\" instead of range and "
                         f"assumption (figures in {p.unit} are listed at the top)")
    if info.levers:
        lines += ["", "# Policy settings: not sampled; may change at dates in [[timeline]].",
                  "[levers]"]
        for lv in info.levers:
            value = int(lv.default) if lv.integer else float(lv.default)
            lines.append(f"{lv.name} = {_toml(value)}  # in [{lv.low:g}, {lv.high:g}] "
                         f"{lv.unit}: {lv.doc}")
        first = info.levers[0]
        lines += ["", "# A change of policy at a month (uncomment to use):",
                  "# [[timeline]]", "# at = \"2020-01\"",
                  f"# levers = {{ {first.name} = {_toml(float(first.high))} }}",
                  "# note = \"why the setting changes then\""]
    lines += ["", "[outputs]", "quantiles = [0.05, 0.25, 0.5, 0.75, 0.95]",
              f"# variables = [...]   # every output by default: "
              f"{', '.join(o.name for o in info.outputs)}", ""]
    return "\n".join(lines)


def _walk(data: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(data, Mapping):
        for key, value in data.items():
            yield from _walk(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from _walk(value, f"{prefix}[{i}]")
    else:
        yield prefix, data


def placeholder_problems(data: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """``(key, value, what to write)`` for every value of *data* (a scenario file's
    tables) still holding a :data:`PLACEHOLDER`.

    >>> [key for key, _, _ in placeholder_problems(
    ...     {"parameters": {"x": {"range": "FILL IN: [low, high] in usd", "unit": "usd"}}})]
    ['parameters.x.range']
    """
    found = []
    for key, value in _walk(data):
        if isinstance(value, str) and value.startswith(PLACEHOLDER):
            leaf = key.rsplit(".", 1)[-1]
            what = _WHAT_TO_WRITE.get(leaf, "the value the placeholder asks for")
            found.append((key, value, what))
    return found

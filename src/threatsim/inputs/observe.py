"""What reported figures measure in a scenario's outputs (``[observe.<key>]``), validated.

A later report says "about 1,200 foreign terrorist fighters are detained in Iraq";
to score a run against it, someone must say which output and which labels that
is. A scenario can say it once, so that ``threatsim extract --as observations``
proposes it for every figure of that kind:

    [observe.foreign_terrorist_fighters]   # what a figure counts, as extract reads it,
    variable = "population"                #   or the id of a source in the registry
    region = ["iraq", "syria"]
    compartment = ["active_foreign"]

Each other dim of the output is named as in an observation file: a label, a
list of labels (summed) or ``"all"``. The table changes no number of a run and
is left out of the run id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from threatsim.inputs.validation import Header, Problems

__all__ = ["OBSERVE_KEYS", "ObservedAs", "check_observe"]

#: Keys of an ``[observe.<key>]`` entry that are not dim names.
OBSERVE_KEYS = ("variable",)
_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]*$")


@dataclass(frozen=True, slots=True)
class ObservedAs:
    """What figures of one kind (a counted noun or a source id) measure."""

    key: str
    variable: str
    select: tuple[tuple[str, str | tuple[str, ...]], ...]  # dim -> label, labels or "all"


def check_observe(p: Problems, raw: Any, head: Header) -> tuple[ObservedAs, ...]:
    """The ``[observe]`` table of a scenario (every problem added to *p*).

    >>> from threatsim.inputs.validation import check_header
    >>> data = {"name": "o", "model": "fighters", "start": "2019-01", "horizon": 12}
    >>> p = Problems()
    >>> found = check_observe(p, {"militants": {"variable": "population", "region": "all",
    ...                     "compartment": ["active_local", "active_foreign"]}},
    ...                     check_header(p, data))
    >>> found[0].variable, found[0].select, p.items
    ('population', (('region', 'all'), ('compartment', ('active_local', 'active_foreign'))), [])
    """
    if not isinstance(raw, dict) or not all(isinstance(v, dict) for v in raw.values()):
        p.add("observe", None, "must be a table of tables ([observe.<what is counted>])")
        return ()
    model = head.model
    outputs = {o.name: o for o in model.info.outputs if "time" in o.dims} if model else {}
    found: list[ObservedAs] = []
    for key, entry in raw.items():
        where = f"observe.{key}"
        n_before = len(p.items)
        if not _KEY.match(str(key)):
            p.add(where, None, "must be named by what a figure counts (letters, digits, _) or "
                  "a source id")
        variable = entry.get("variable")
        decl = outputs.get(variable) if isinstance(variable, str) else None
        if model is not None and decl is None:
            p.add(f"{where}.variable", variable, f"must be an output over time of model "
                  f"{head.model_name!r}: {', '.join(outputs)}")
        dims = [d for d in decl.dims if d != "time"] if decl is not None else []
        for name in entry:
            if name not in OBSERVE_KEYS and name not in dims and decl is not None:
                p.add(f"{where}.{name}", entry[name],
                      f"is not a known key; allowed: {', '.join((*OBSERVE_KEYS, *dims))}")
        select: list[tuple[str, str | tuple[str, ...]]] = []
        for dim in dims:
            labels = tuple(model.info.coords.get(dim, ())) if model is not None else ()
            value = entry.get(dim)
            picked = value if isinstance(value, list) else [value]
            if value is None:
                p.add(f"{where}.{dim}", None, f"is required (output {variable!r} has dim "
                      f"{dim}): a label of {', '.join(labels)}, a list of them, or \"all\"")
            elif value == "all":
                select.append((dim, "all"))
            elif not picked or not all(isinstance(v, str) and v in labels for v in picked):
                p.add(f"{where}.{dim}", value, f"must be a label of {', '.join(labels)}, a "
                      "list of them, or \"all\"")
            else:
                select.append((dim, str(value) if isinstance(value, str) else tuple(picked)))
        if len(p.items) == n_before and decl is not None:
            found.append(ObservedAs(key=str(key), variable=str(variable),
                                    select=tuple(select)))
    return tuple(found)

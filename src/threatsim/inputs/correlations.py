"""Rank correlations between sampled parameters: the ``[[correlations]]`` tables.

Each entry names two sampled parameters, the Spearman rank correlation ``rho``
their draws should have and, like a parameter, exactly one of ``source`` (an id
of the source registry) or ``assumption`` (a sentence saying why). Pairs not
listed are independent. The pairs make one matrix, which must be positive
semi-definite (no joint distribution has any other); the parameters linked by
non-zero pairs form groups (:class:`~threatsim.inputs.parts.CorrelationGroup`)
that the engine samples jointly (:func:`threatsim.engine.sampling.iman_conover`).

A file that ``extends`` another inherits its correlations; an entry for a pair
the parent already gives replaces the parent's entry (:func:`merge_correlations`),
so a what-if can add, change or (with ``rho = 0``) drop a pair.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from typing import Any

import numpy as np
from scipy import linalg

from threatsim.inputs.parts import (
    Correlation,
    CorrelationGroup,
    Parameter,
    normal_score_correlation,
)
from threatsim.inputs.sources import SourceRegistry
from threatsim.inputs.validation import Problems, is_number

__all__ = ["CORRELATION_KEYS", "PSD_TOLERANCE", "check_correlations", "merge_correlations"]

#: The keys a ``[[correlations]]`` entry accepts (docs/scenario-reference.md documents each).
CORRELATION_KEYS = ("between", "rho", "source", "assumption", "description")

#: Eigenvalues down to this are rounding of a singular (but valid) matrix, such as
#: rho = 1 or three parameters all correlated 1; below it the matrix is refused.
PSD_TOLERANCE = 1e-10


def _pair(entry: Any) -> frozenset[str] | None:
    """The unordered pair an entry names, or None when it names no valid pair."""
    between = entry.get("between") if isinstance(entry, dict) else None
    if (isinstance(between, list) and len(between) == 2
            and all(isinstance(name, str) for name in between)):
        return frozenset(between)
    return None


def merge_correlations(base: list[Any], override: list[Any]) -> list[Any]:
    """A child file's ``[[correlations]]`` over its parent's: an entry for a pair the
    parent gives replaces that entry (whole: its rho and its provenance), others are
    added. A pair the child itself gives twice stays twice, and is refused.

    >>> parent = [{"between": ["a", "b"], "rho": 0.5}, {"between": ["a", "c"], "rho": 0.2}]
    >>> child = [{"between": ["c", "a"], "rho": 0.0}, {"between": ["b", "c"], "rho": -0.3}]
    >>> [(e["between"], e["rho"]) for e in merge_correlations(parent, child)]
    [(['a', 'b'], 0.5), (['c', 'a'], 0.0), (['b', 'c'], -0.3)]
    """
    out = list(base)
    at = {pair: i for i, entry in enumerate(base) if (pair := _pair(entry)) is not None}
    for entry in override:
        pair = _pair(entry)
        i = at.pop(pair, None) if pair is not None else None
        if i is None:
            out.append(entry)
        else:
            out[i] = entry
    return out


def _check_names(p: Problems, key: str, between: Any,
                 parameters: dict[str, Parameter]) -> tuple[str, str] | None:
    """The two parameters of an entry, or None after a problem."""
    if (not isinstance(between, list) or len(between) != 2
            or not all(isinstance(name, str) for name in between)):
        p.add(key, between, "must be two parameter names, e.g. "
              "between = ['reserves_initial', 'extortion_income']")
        return None
    a, b = between
    if a == b:
        p.add(key, between, f"names {a!r} twice: a parameter is always fully correlated "
              "with itself; name two different parameters")
        return None
    sampled = [n for n, q in parameters.items() if q.dist.kind != "point"]
    ok = True
    for name in (a, b):
        if name not in parameters:
            close = difflib.get_close_matches(name, sampled, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            p.add(key, between, f"{name!r} is not a parameter of this scenario; {hint}"
                  f"allowed: its sampled parameters ({', '.join(sampled) or 'none'})")
            ok = False
        elif parameters[name].dist.kind == "point":
            p.add(key, between, f"{name!r} is a point (dist = 'point'): it is not sampled, "
                  f"so it cannot be correlated; allowed: its sampled parameters "
                  f"({', '.join(sampled) or 'none'})")
            ok = False
    return (a, b) if ok else None


def _check_provenance(p: Problems, key: str, entry: dict[str, Any],
                      sources: SourceRegistry) -> None:
    source_id, assumption = entry.get("source"), entry.get("assumption")
    if (source_id is None) == (assumption is None):
        p.add(key, None if source_id is None else source_id,
              "needs exactly one of source = '<registry id>' (a reported figure) or "
              "assumption = '<why these move together>' (analyst judgement)")
    elif source_id is not None and source_id not in sources:
        close = difflib.get_close_matches(str(source_id), sources.ids(), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        p.add(f"{key}.source", source_id, f"is not in the source registry{hint}")
    elif assumption is not None and (not isinstance(assumption, str) or not assumption.strip()):
        p.add(f"{key}.assumption", assumption,
              "must be a sentence saying why these parameters move together")


def _check_matrix(p: Problems, entries: list[Correlation]) -> None:
    """The pairs' matrix, and the normal-score matrix imposed for it, must be PSD."""
    names = sorted({n for c in entries for n in c.between})
    if not names:
        return
    index = {n: i for i, n in enumerate(names)}
    rho = np.eye(len(names))
    for c in entries:
        i, j = index[c.between[0]], index[c.between[1]]
        rho[i, j] = rho[j, i] = c.rho
    shown = {f"{c.between[0]}, {c.between[1]}": c.rho for c in entries}
    smallest = float(linalg.eigvalsh(rho)[0])
    if smallest < -PSD_TOLERANCE:
        p.add("correlations", shown,
              f"make a rank correlation matrix over ({', '.join(names)}) that is not "
              f"positive semi-definite (smallest eigenvalue {smallest:.3g}): no joint "
              "distribution has these correlations; weaken some of them, or make their "
              "signs agree (a~b and b~c strongly positive cannot go with a~c negative)")
        return
    smallest = float(linalg.eigvalsh(normal_score_correlation(rho))[0])
    if smallest < -PSD_TOLERANCE:
        p.add("correlations", shown,
              f"are a valid rank correlation matrix, but the normal-score correlations "
              f"2 sin(pi rho / 6) that impose it are not positive semi-definite (smallest "
              f"eigenvalue {smallest:.3g}); weaken the strongest of them slightly")


def _groups(entries: list[Correlation]) -> dict[str, CorrelationGroup]:
    """Parameter name -> its group: the connected sets of non-zero pairs."""
    linked = [c for c in entries if c.rho != 0]
    parent: dict[str, str] = {}

    def root(name: str) -> str:
        while parent.setdefault(name, name) != name:
            name = parent[name]
        return name

    for c in linked:
        parent[root(c.between[0])] = root(c.between[1])
    members: dict[str, list[str]] = {}
    for name in parent:
        members.setdefault(root(name), []).append(name)
    out: dict[str, CorrelationGroup] = {}
    for names in members.values():
        ordered = tuple(sorted(names))
        index = {n: i for i, n in enumerate(ordered)}
        rho = np.eye(len(ordered))
        for c in linked:
            if c.between[0] in index:
                i, j = index[c.between[0]], index[c.between[1]]
                rho[i, j] = rho[j, i] = c.rho
        group = CorrelationGroup(names=ordered,
                                 rho=tuple(tuple(float(x) for x in row) for row in rho))
        out.update(dict.fromkeys(ordered, group))
    return out


def check_correlations(p: Problems, raw: Any, parameters: dict[str, Parameter],
                       sources: SourceRegistry
                       ) -> tuple[tuple[Correlation, ...], dict[str, Parameter]]:
    """``[[correlations]]``: the validated entries, and *parameters* with each correlated
    one holding its group (the others, and their order, as they were).

    >>> from threatsim.inputs.distributions import DistSpec
    >>> params = {n: Parameter(name=n, dist=DistSpec(kind="uniform", low=0.0, high=1.0),
    ...                        unit="share", assumption="x") for n in ("a", "b", "c")}
    >>> p = Problems()
    >>> entries, params = check_correlations(
    ...     p, [{"between": ["b", "a"], "rho": 0.5, "assumption": "they move together"}],
    ...     params, SourceRegistry({}))
    >>> params["a"].correlated.names, params["c"].correlated, p.items
    (('a', 'b'), None, [])
    >>> check_correlations(p, [{"between": ["a", "d"], "rho": 2}], params, SourceRegistry({}))[0]
    ()
    >>> [e.key for e in p.items]
    ['correlations[0].between', 'correlations[0].rho', 'correlations[0]']
    """
    if not isinstance(raw, list):
        p.add("correlations", raw, "must be an array of tables ([[correlations]]), each with "
              "between, rho and source or assumption")
        return (), parameters
    before = len(p.items)
    entries: list[Correlation] = []
    seen: dict[frozenset[str], int] = {}
    for i, entry in enumerate(raw):
        key = f"correlations[{i}]"
        if not isinstance(entry, dict):
            p.add(key, entry, "must be a table with between, rho and source or assumption")
            continue
        start = len(p.items)
        p.unknown(f"{key}.", entry, CORRELATION_KEYS)
        pair = _check_names(p, f"{key}.between", entry.get("between"), parameters)
        if pair is not None:
            first = seen.setdefault(frozenset(pair), i)
            if first != i:
                p.add(f"{key}.between", entry["between"],
                      f"names the same pair as correlations[{first}]: give each pair once "
                      "(a file that extends another replaces the parent's entry for a pair)")
        rho: Any = entry.get("rho")
        if not is_number(rho) or not math.isfinite(rho) or not -1 <= rho <= 1:
            p.add(f"{key}.rho", rho, "must be a number from -1 to 1 (a Spearman rank "
                  "correlation)")
        _check_provenance(p, key, entry, sources)
        if len(p.items) == start and pair is not None:
            entries.append(Correlation(
                between=pair, rho=float(rho), source=entry.get("source"),
                assumption=entry.get("assumption"),
                description=str(entry.get("description", ""))))
    if len(p.items) > before:
        return (), parameters
    _check_matrix(p, entries)
    if len(p.items) > before:
        return (), parameters
    groups = _groups(entries)
    correlated = {name: dataclasses.replace(q, correlated=groups[name]) if name in groups else q
                  for name, q in parameters.items()}
    return tuple(entries), correlated

"""The validation of a scenario's parameter tables, and of its origin shares: each
one a distribution with its provenance, checked against what its source reports.

A sourced range must agree with the report's wording (``between``, ``up to``,
``more than``, a point figure) unless a ``range_assumption`` sentence says why it
does not; an assumed range must say why in ``assumption``.
"""

from __future__ import annotations

import difflib
from typing import Any

from threatsim.inputs.distributions import DIST_KINDS, RANGED_KINDS, DistSpec
from threatsim.inputs.parts import Parameter
from threatsim.inputs.schema import (
    INTEGER_UNITS,
    PARAMETER_UNITS,
    SHARE_UNITS,
    SOURCE_UNIT_FOR,
    UNIT_MAXIMUM,
)
from threatsim.inputs.sources import Source, SourceRegistry
from threatsim.inputs.validation import ORIGIN_KEYS, PARAM_KEYS, Header, Problems, is_number
from threatsim.models.contract import ORIGIN_REST, Model, origin_share_parameter

__all__ = ["check_parameter", "check_parameters"]


def _check_against_source(p: Problems, key: str, spec: dict[str, Any], dist: DistSpec,
                          src: Source, has_range_assumption: bool) -> None:
    """A sourced parameter's range must agree with what the report says."""
    stated = "a range_assumption sentence saying why"
    if dist.kind in RANGED_KINDS:
        lo, hi = dist.low, dist.high
        # a ranged kind has both (DistSpec checks)
        assert lo is not None
        assert hi is not None
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
            assert src.point is not None  # the point wordings carry one (load_sources checks)
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


def check_parameter(p: Problems, name: str, spec: Any, sources: SourceRegistry,
                    declared_unit: str | None) -> Parameter | None:
    """One ``[parameters.<name>]`` table as a :class:`Parameter`, or None after a problem.

    >>> p = Problems()
    >>> spec = {"dist": "uniform", "range": [1, 2], "unit": "people", "assumption": "a guess"}
    >>> check_parameter(p, "arrivals", spec, SourceRegistry({}), "people").dist.bounds()
    (1.0, 2.0)
    >>> check_parameter(p, "arrivals", {**spec, "range": [2, 1]}, SourceRegistry({}), None)
    >>> p.items[0].key
    'parameters.arrivals.range'
    """
    key = f"parameters.{name}"
    if not isinstance(spec, dict):
        p.add(key, spec, "must be a table with dist, unit and source or assumption")
        return None
    before = len(p.items)
    p.unknown(f"{key}.", spec, PARAM_KEYS)
    unit = spec.get("unit")
    if not isinstance(unit, str) or unit not in PARAMETER_UNITS:
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
        if not isinstance(source_id, str):
            p.add(f"{key}.source", source_id, "must be an id of the source registry (a string)")
        elif source_id not in sources:
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
    for text_key in ("share_of", "description"):
        if text_key in spec and not isinstance(spec[text_key], str):
            p.add(f"{key}.{text_key}", spec[text_key], "must be a string")
    kind = spec.get("dist")
    if not isinstance(kind, str) or kind not in DIST_KINDS:
        # the other keys are read by the dist: with none known, only this is reported
        close = difflib.get_close_matches(str(kind), DIST_KINDS, n=1) if kind else []
        hint = f"did you mean {close[0]!r}? " if close else ""
        what = "is required" if kind is None else "is not a dist"
        p.add(f"{key}.dist", kind, f"{what}; {hint}allowed: {', '.join(DIST_KINDS)}")
        return None
    rng_ = spec.get("range")
    if rng_ is None and src is not None and src.wording == "between":
        rng_ = [src.low, src.high]
    value = spec.get("value")
    if value is None and src is not None and src.point is not None and kind in ("point", "poisson"):
        value = src.point
    fields: dict[str, Any] = {"kind": kind}
    if rng_ is not None:
        if (not isinstance(rng_, list) or len(rng_) != 2 or not all(is_number(x) for x in rng_)):
            p.add(f"{key}.range", rng_, "must be [low, high], two numbers")
        else:
            fields["low"], fields["high"] = float(rng_[0]), float(rng_[1])
    for opt in ("value", "mode"):
        v = value if opt == "value" else spec.get(opt)
        if v is not None:
            if not is_number(v):
                p.add(f"{key}.{opt}", v, "must be a number")
            else:
                fields[opt] = float(v)
    for opt in ("values", "weights"):
        v = spec.get(opt)
        if v is not None:
            if not isinstance(v, list) or not all(is_number(x) for x in v):
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
    largest = UNIT_MAXIMUM[str(unit)]  # shares: the [0, 1] check below says more
    for opt in ("low", "high", "value", "mode") if unit not in SHARE_UNITS else ():
        if opt in fields and abs(fields[opt]) > largest:
            where = "range" if opt in ("low", "high") else opt
            p.add(f"{key}.{where}", spec.get(where, fields[opt]),
                  f"must be at most {largest:g} in magnitude (unit {unit!r})")
            return None
    if unit not in SHARE_UNITS and any(abs(v) > largest for v in fields.get("values", ())):
        p.add(f"{key}.values", spec.get("values"),
              f"must each be at most {largest:g} in magnitude (unit {unit!r})")
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
    if share_of is not None and not isinstance(share_of, str):
        return None  # reported above
    return Parameter(name=name, dist=dist, unit=str(unit), source=source_id,
                     assumption=assumption, range_assumption=range_assumption,
                     share_of=share_of, description=str(spec.get("description", "")))


def _origins(p: Problems, raw: Any, model: Model, sources: SourceRegistry) -> dict[str, Parameter]:
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
            p.unknown(f"{key}.", spec, ORIGIN_KEYS)
            pname = origin_share_parameter(region, origin)
            sub = Problems()
            spec = {"unit": "share", **{k: v for k, v in spec.items() if k in ORIGIN_KEYS}}
            param = check_parameter(sub, pname, spec, sources, "share")
            for e in sub.items:
                p.add(str(e.key).replace(f"parameters.{pname}", key, 1), e.value, e.expected)
            if param is not None:
                out[pname] = param
    return out


def check_parameters(p: Problems, data: dict[str, Any], head: Header,
                     sources: SourceRegistry) -> dict[str, Parameter]:
    """``[parameters]`` and ``[origins]``: the model's declarations say which exist and in
    which unit; ``share_of`` must name a top-level parameter in the same unit.

    >>> from threatsim.inputs.validation import check_header
    >>> p = Problems()
    >>> head = check_header(p, {"model": "financing"})
    >>> check_parameters(p, {"parameters": {"reserve": {}}}, head, SourceRegistry({}))
    {}
    >>> [str(e).split(";")[0] for e in p.items if e.key == "parameters.reserve"]
    ["parameters.reserve='...' is not a parameter of model 'financing'"]
    """
    model, model_name = head.model, head.model_name
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
        param = check_parameter(p, pname, spec, sources, decl.unit if decl else None)
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
            if parent is None and param.share_of in raw_params:
                continue  # the parent has its own problem, reported above
            if parent is None:
                p.add(f"parameters.{pname}.share_of", param.share_of,
                      f"must name another parameter ({', '.join(parameters)})")
            elif parent.unit != param.unit:
                p.add(f"parameters.{pname}.share_of", param.share_of,
                      f"must name a parameter in the same unit ({param.unit!r})")
            elif parent.share_of is not None:
                p.add(f"parameters.{pname}.share_of", param.share_of,
                      "must name a top-level parameter (nesting is one level deep)")
    return parameters

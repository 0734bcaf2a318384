"""The custody tables of a scenario (issue 19): ``[families]``, ``[courts]``,
``[events.<name>]`` and ``[shocks.<name>]``, validated into parameters.

Each number in them is a parameter table (``dist``, ``range`` or ``value``,
``source`` or ``assumption``; the unit is the one the field has, so it may be
left out), sampled per draw like any parameter and kept in the Dataset under
the name :mod:`threatsim.models.fighters.custody` gives it
(``family_ratio_foreign``, ``fall_syria_hajin_strength``, ...). An event's
month comes from its ``window`` (each draw's month equally likely among the
window's months) with the ``window_assumption`` that says why. Any of the
tables also sets ``custody_by_nationality``: foreign and local detainees stay
apart through trial, prison and release. Only models with a ``nationality``
coord (fighters, coupled) take them.

Every problem is added to the scenario's :class:`~threatsim.inputs.validation.Problems`
under the key it concerns (``families.ratio_local.range``,
``events.hajin.window``, ``events.hajin``).
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from threatsim.core.months import month_index, month_label, parse_month
from threatsim.inputs.distributions import DistSpec
from threatsim.inputs.parameter_validation import check_parameter
from threatsim.inputs.parts import Parameter
from threatsim.inputs.sources import SourceRegistry
from threatsim.inputs.validation import ORIGIN_KEYS, Header, Problems
from threatsim.models.fighters.custody import (
    CUSTODY_FLAG,
    FALL_FIELDS,
    FAMILY_FIELDS,
    REGIME_FIELDS,
    SHOCK_FIELDS,
    fall_parameter,
    shock_parameter,
)
from threatsim.models.fighters.declarations import REGIONS
from threatsim.models.fighters_detention import MODEL_NAME as LINKED_MODEL
from threatsim.models.fighters_detention import detention_region_parameter

__all__ = ["CUSTODY_KEYS", "EVENT_KEYS", "SHOCK_KEYS", "check_custody"]

#: The top-level tables this module reads.
CUSTODY_KEYS = ("families", "courts", "events", "shocks")
#: Keys of one ``[events.<name>]`` table besides its parameter tables.
EVENT_KEYS = ("region", "window", "window_assumption", "flee_to", "note")
#: Keys of the ``[detention]`` table (the ``fighters_detention`` model).
DETENTION_KEYS = ("region", "note")
#: Keys of one ``[shocks.<name>]`` table besides its parameter tables.
SHOCK_KEYS = ("kind", "region", "note")
_NAME = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
_FLAG_ASSUMPTION = ("The scenario has custody tables ([families], [courts], [events], "
                    "[shocks]): foreign and local detainees are kept apart through trial, "
                    "prison and release.")


def _table(p: Problems, key: str, raw: Any, what: str) -> dict[str, Any] | None:
    if not isinstance(raw, dict):
        p.add(key, raw, f"must be a table ({what})")
        return None
    return raw


def _parameter(p: Problems, key: str, name: str, spec: Any, unit: str,
               sources: SourceRegistry) -> Parameter | None:
    """A parameter table at *key*, sampled as parameter *name* in *unit*."""
    if not isinstance(spec, dict):
        p.add(key, spec, f"must be a parameter table: dist, value or range, and source or "
              f"assumption (unit {unit})")
        return None
    p.unknown(f"{key}.", spec, ORIGIN_KEYS)
    sub = Problems()
    given = {"unit": unit, **{k: v for k, v in spec.items() if k in ORIGIN_KEYS}}
    param = check_parameter(sub, name, given, sources, unit)
    for e in sub.items:
        p.add(str(e.key).replace(f"parameters.{name}", key, 1), e.value, e.expected)
    return param


def _region(p: Problems, key: str, value: Any, regions: tuple[str, ...]) -> str | None:
    if value in regions:
        return str(value)
    close = difflib.get_close_matches(str(value), regions, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    p.add(key, value, f"must be a region of the model; {hint}allowed: {', '.join(regions)}")
    return None


def _name(p: Problems, key: str, name: str) -> bool:
    if _NAME.match(name):
        return True
    p.add(key, "...", "must be a name of lower-case letters, digits and single underscores, "
          "starting with a letter")
    return False


def _families(p: Problems, raw: Any, sources: SourceRegistry) -> dict[str, Parameter]:
    table = _table(p, "families", raw, f"with {', '.join(FAMILY_FIELDS)}")
    if table is None:
        return {}
    p.unknown("families.", table, tuple(FAMILY_FIELDS))
    out = {}
    for field, unit in FAMILY_FIELDS.items():
        key = f"families.{field}"
        if field not in table:
            p.add(key, None, f"is required (a parameter table, unit {unit})")
            continue
        param = _parameter(p, key, f"family_{field}", table[field], unit, sources)
        if param is not None:
            out[param.name] = param
    return out


def _courts(p: Problems, raw: Any, regions: tuple[str, ...],
            sources: SourceRegistry) -> dict[str, Parameter]:
    table = _table(p, "courts", raw, "of [courts.<region>] tables")
    if table is None:
        return {}
    out = {}
    for region, spec in table.items():
        key = f"courts.{region}"
        if _region(p, key, region, regions) is None:
            continue
        regime = _table(p, key, spec, f"with {' or '.join(REGIME_FIELDS)}")
        if regime is None:
            continue
        p.unknown(f"{key}.", regime, tuple(REGIME_FIELDS))
        for field, unit in REGIME_FIELDS.items():
            if field in regime:
                param = _parameter(p, f"{key}.{field}", f"{field}_{region}", regime[field],
                                   unit, sources)
                if param is not None:
                    out[param.name] = param
    return out


def _window(p: Problems, key: str, raw: Any, head: Header) -> list[int] | None:
    """An event's window: months [first, last] within the run, as indices."""
    if (not isinstance(raw, list) or len(raw) != 2
            or not all(isinstance(m, str) for m in raw)):
        p.add(key, raw, "must be [first, last]: two months 'YYYY-MM'")
        return None
    if head.start is None:
        return None
    try:
        first, last = (month_index(head.start, parse_month(m)) for m in raw)
    except ValueError as exc:
        p.add(key, raw, str(exc))
        return None
    run = (f"must be within the run: {month_label(head.start, 0)} to "
           f"{month_label(head.start, head.horizon - 1)}, first <= last")
    if not head.horizon_known:  # a missing horizon is reported; the run's end is unknown
        return None
    if not 0 <= first <= last < head.horizon:
        p.add(key, raw, run)
        return None
    return list(range(first, last + 1))


def _upper_sum(params: list[Parameter | None]) -> float:
    return sum(float(q.dist.bounds()[1]) for q in params if q is not None)


def _events(p: Problems, raw: Any, head: Header, regions: tuple[str, ...],
            sources: SourceRegistry) -> dict[str, Parameter]:
    table = _table(p, "events", raw, "of [events.<name>] tables")
    if table is None:
        return {}
    out: dict[str, Parameter] = {}
    for name, spec in table.items():
        key = f"events.{name}"
        if not _name(p, key, name):
            continue
        event = _table(p, key, spec, "the fall of a holding: region, window, "
                       "window_assumption, strength, foreign_share, surrender, flee, killed")
        if event is None:
            continue
        p.unknown(f"{key}.", event, (*EVENT_KEYS, *FALL_FIELDS))
        region = _region(p, f"{key}.region", event.get("region"), regions)
        flee_to = event.get("flee_to")
        if flee_to is not None:
            flee_to = _region(p, f"{key}.flee_to", flee_to, regions)
            if flee_to is not None and flee_to == region:
                p.add(f"{key}.flee_to", flee_to, "must be another region (leave flee_to out "
                      "for those who flee into the desert and stay in the region)")
                flee_to = None
        months = _window(p, f"{key}.window", event.get("window"), head)
        why = event.get("window_assumption")
        if not isinstance(why, str) or not why.strip():
            p.add(f"{key}.window_assumption", why, "must be a sentence saying why this "
                  "window (the report dates no fall)")
        if region is None:
            continue
        fields: dict[str, Parameter | None] = {}
        for field, unit in FALL_FIELDS.items():
            if field not in event:
                p.add(f"{key}.{field}", None, f"is required (a parameter table, unit {unit})")
                fields[field] = None
                continue
            pname = fall_parameter(region, name, field if field != "flee" or flee_to is None
                                   else f"flee_to_{flee_to}")
            fields[field] = _parameter(p, f"{key}.{field}", pname, event[field], unit,
                                       sources)
        total = _upper_sum([fields["surrender"], fields["flee"], fields["killed"]])
        if total > 1.0 + 1e-12:
            p.add(key, round(total, 6), "surrender + flee + killed must sum to at most 1 at "
                  "their upper bounds (shares of the holding's fighters; the rest hold on); "
                  "lower those ranges")
        if months is not None and isinstance(why, str) and why.strip():
            dist = (DistSpec(kind="point", value=float(months[0])) if len(months) == 1 else
                    DistSpec(kind="discrete", values=tuple(float(m) for m in months),
                             weights=tuple(1.0 for _ in months)))
            pname = fall_parameter(region, name, "month")
            out[pname] = Parameter(name=pname, dist=dist, unit="months", assumption=why,
                                   description=f"month of the fall (from the start), "
                                               f"{event['window'][0]} to {event['window'][1]}")
        out.update({q.name: q for q in fields.values() if q is not None})
    return out


def _shocks(p: Problems, raw: Any, regions: tuple[str, ...],
            sources: SourceRegistry) -> dict[str, Parameter]:
    table = _table(p, "shocks", raw, "of [shocks.<name>] tables")
    if table is None:
        return {}
    kinds = tuple(SHOCK_FIELDS)
    out = {}
    for name, spec in table.items():
        key = f"shocks.{name}"
        if not _name(p, key, name):
            continue
        shock = _table(p, key, spec, "kind, region, probability, size")
        if shock is None:
            continue
        p.unknown(f"{key}.", shock, (*SHOCK_KEYS, "probability", "size"))
        kind = shock.get("kind")
        if kind not in kinds:
            p.add(f"{key}.kind", kind, f"must be one of {', '.join(kinds)}")
            kind = None
        region = _region(p, f"{key}.region", shock.get("region"), regions)
        for field in ("probability", "size"):
            if field not in shock:
                p.add(f"{key}.{field}", None, "is required (a parameter table)")
        if kind is None or region is None:
            continue
        for field, unit in (("probability", "share_per_month"), ("size", SHOCK_FIELDS[kind])):
            if field in shock:
                param = _parameter(p, f"{key}.{field}",
                                   shock_parameter(kind, region, name, field), shock[field],
                                   unit, sources)
                if param is not None:
                    out[param.name] = param
    return out


def check_custody(p: Problems, data: dict[str, Any], head: Header,
                  sources: SourceRegistry) -> dict[str, Parameter]:
    """The parameters of a scenario's custody tables (none: ``{}``, and nothing changes).

    >>> from threatsim.inputs.validation import check_header
    >>> data = {"model": "fighters", "start": "2019-01", "horizon": 12,
    ...         "events": {"hajin": {"region": "syria", "window": ["2019-02", "2019-13"]}}}
    >>> p = Problems()
    >>> sorted(check_custody(p, data, check_header(p, data), SourceRegistry({})))
    ['custody_by_nationality']
    >>> [e.key for e in p.items if e.key.startswith("events")][:3]
    ['events.hajin.window', 'events.hajin.window_assumption', 'events.hajin.strength']
    """
    model = head.model
    linked = _detention(p, data, head) if model is not None else {}
    present = [k for k in CUSTODY_KEYS if k in data]
    if not present or model is None:
        return linked
    if "nationality" not in model.info.coords:
        for k in present:
            p.add(k, "...", f"model {head.model_name!r} keeps no people in custody; [{k}] "
                  "belongs to the fighters and coupled models")
        return {}
    regions = tuple(model.info.coords["region"])
    out: dict[str, Parameter] = {CUSTODY_FLAG: Parameter(
        name=CUSTODY_FLAG, dist=DistSpec(kind="point", value=1.0), unit="share",
        assumption=_FLAG_ASSUMPTION)}
    if "families" in data:
        out.update(_families(p, data["families"], sources))
    if "courts" in data:
        out.update(_courts(p, data["courts"], regions, sources))
    if "events" in data:
        out.update(_events(p, data["events"], head, regions, sources))
    if "shocks" in data:
        out.update(_shocks(p, data["shocks"], regions, sources))
    return {**out, **linked}


def _detention(p: Problems, data: dict[str, Any], head: Header) -> dict[str, Parameter]:
    """``[detention] region``: the region whose newly detained the detention DES of the
    ``fighters_detention`` model takes in, as its flag parameter."""
    if "detention" not in data:
        return {}  # the model's own check says it is required, where it is
    if head.model_name != LINKED_MODEL:
        p.add("detention", "...", f"belongs to the {LINKED_MODEL} model (the region whose "
              f"newly detained its detention DES takes in), not to {head.model_name!r}")
        return {}
    table = _table(p, "detention", data["detention"], "with region and, if you like, note")
    if table is None:
        return {}
    p.unknown("detention.", table, DETENTION_KEYS)
    if "region" not in table:
        p.add("detention.region", None, f"is required; allowed: {', '.join(REGIONS)}")
        return {}
    region = _region(p, "detention.region", table["region"], REGIONS)
    if region is None:
        return {}
    if "note" in table and not isinstance(table["note"], str):
        p.add("detention.note", table["note"], "must be a string")
    name = detention_region_parameter(region)
    return {name: Parameter(
        name=name, dist=DistSpec(kind="point", value=1.0), unit="share",
        assumption=f"The detention DES takes its arrivals from the fighters newly detained "
                   f"in {region} ([detention] region).")}

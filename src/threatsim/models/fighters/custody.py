"""What a scenario's custody tables give the fighters model, read from its parameters.

A scenario's ``[families]``, ``[courts]``, ``[events.<name>]`` and
``[shocks.<name>]`` tables (:mod:`threatsim.inputs.custody` reads them) become
parameters like any other, sampled per draw with their provenance and kept in
the Dataset; their names say what they are for (the helpers below make them),
so the model needs nothing but its parameters:

==================================  ==================================================
``custody_by_nationality``          1 when any of the tables is present: foreign and local
                                    detainees stay apart through trial, prison and release
``family_<field>``                  ratio_local, ratio_foreign (dependants per detained or
                                    surrendered fighter), children_share, return_rate
``trial_rate_<region>``,            a region's own trial rate and conviction share
``conviction_share_<region>``
``fall_<region>_<name>_<field>``    strength, month, foreign_share, surrender, killed,
                                    and flee (stay in the region) or flee_to_<region>
``<kind>_<region>_<name>_<field>``  a shock (collapse, surge, prison_break):
                                    probability, size
==================================  ==================================================

Without any of them the model runs the nationality-blind courts of before, bit
for bit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from threatsim.models.contract import FloatArray
from threatsim.models.fighters.declarations import REGIONS, SHOCK_KINDS

__all__ = [
    "CUSTODY_FLAG",
    "FALL_FIELDS",
    "FAMILY_FIELDS",
    "REGIME_FIELDS",
    "SHOCK_FIELDS",
    "Custody",
    "Fall",
    "Shock",
    "custody_config",
    "fall_parameter",
    "shock_parameter",
]

#: The parameter that says the scenario keeps nationality through the courts.
CUSTODY_FLAG = "custody_by_nationality"
#: ``[families]``: field -> unit.
FAMILY_FIELDS: dict[str, str] = {"ratio_local": "per_person", "ratio_foreign": "per_person",
                                 "children_share": "share", "return_rate": "share_per_month"}
#: ``[courts.<region>]``: field -> unit (each optional; the shared parameter otherwise).
REGIME_FIELDS: dict[str, str] = {"trial_rate": "share_per_month", "conviction_share": "share"}
#: ``[events.<name>]``: the parameter tables, field -> unit (``month`` comes from ``window``).
FALL_FIELDS: dict[str, str] = {"strength": "people", "foreign_share": "share",
                               "surrender": "share", "flee": "share", "killed": "share"}
#: ``[shocks.<name>]``: the size's unit by kind (the probability is share_per_month).
SHOCK_FIELDS: dict[str, str] = {"collapse": "share", "surge": "people_per_month",
                                "prison_break": "share"}


def fall_parameter(region: str, name: str, field: str) -> str:
    """The parameter of a holding's fall.

    >>> fall_parameter("syria", "hajin", "strength")
    'fall_syria_hajin_strength'
    """
    return f"fall_{region}_{name}_{field}"


def shock_parameter(kind: str, region: str, name: str, field: str) -> str:
    """The parameter of a shock.

    >>> shock_parameter("prison_break", "syria", "camps", "probability")
    'prison_break_syria_camps_probability'
    """
    return f"{kind}_{region}_{name}_{field}"


@dataclass(frozen=True, slots=True)
class Fall:
    """The fall of a holding in one region: per draw its month (an index from the
    start), strength, foreign share and the shares that surrender, flee and are
    killed; ``flee_to`` is the region the fleeing join (``None``: they stay in the
    region as active fighters)."""

    name: str
    region: int
    month: np.ndarray
    strength: np.ndarray
    foreign_share: FloatArray
    surrender: FloatArray
    flee: FloatArray
    killed: FloatArray
    flee_to: int | None


@dataclass(frozen=True, slots=True)
class Shock:
    """A stochastic jump in one region: its kind (an index of :data:`SHOCK_KINDS`), its
    monthly probability and its size (a share, or a Poisson mean for a surge), per draw."""

    name: str
    kind: int
    region: int
    probability: FloatArray
    size: FloatArray


@dataclass(frozen=True, slots=True)
class Custody:
    """The custody settings of one chunk of draws (see the module docstring)."""

    by_nationality: bool
    families: dict[str, FloatArray] | None
    trial_rate: dict[int, FloatArray]
    conviction_share: dict[int, FloatArray]
    falls: tuple[Fall, ...]
    shocks: tuple[Shock, ...]


def _f64(x: FloatArray) -> FloatArray:
    return np.asarray(x, dtype=np.float64)


def _count(x: FloatArray) -> np.ndarray:
    return np.rint(np.asarray(x, dtype=np.float64)).astype(np.int64)


def _falls(params: Mapping[str, FloatArray]) -> list[Fall]:
    out = []
    for r, region in enumerate(REGIONS):
        head, tail = f"fall_{region}_", "_strength"
        names = sorted(k[len(head):-len(tail)] for k in params
                       if k.startswith(head) and k.endswith(tail))
        for name in names:
            def get(field: str, name: str = name, region: str = region) -> FloatArray:
                return _f64(params[fall_parameter(region, name, field)])
            flee_to = next((d for d, dest in enumerate(REGIONS)
                            if fall_parameter(region, name, f"flee_to_{dest}") in params), None)
            flee = get("flee" if flee_to is None else f"flee_to_{REGIONS[flee_to]}")
            out.append(Fall(name=name, region=r, month=_count(get("month")),
                            strength=_count(get("strength")), foreign_share=get("foreign_share"),
                            surrender=get("surrender"), flee=flee, killed=get("killed"),
                            flee_to=flee_to))
    return out


def _shocks(params: Mapping[str, FloatArray]) -> list[Shock]:
    out = []
    for k, kind in enumerate(SHOCK_KINDS):
        for r, region in enumerate(REGIONS):
            head, tail = f"{kind}_{region}_", "_probability"
            for name in sorted(p[len(head):-len(tail)] for p in params
                               if p.startswith(head) and p.endswith(tail)):
                out.append(Shock(
                    name=name, kind=k, region=r,
                    probability=_f64(params[shock_parameter(kind, region, name, "probability")]),
                    size=_f64(params[shock_parameter(kind, region, name, "size")])))
    return out


def custody_config(params: Mapping[str, FloatArray]) -> Custody:
    """The custody settings in *params* (nothing set: the courts of before).

    >>> one = np.ones(2)
    >>> c = custody_config({CUSTODY_FLAG: one, "trial_rate_syria": 0 * one,
    ...                     "prison_break_syria_camps_probability": 0.1 * one,
    ...                     "prison_break_syria_camps_size": 0.5 * one})
    >>> c.by_nationality, sorted(c.trial_rate), [(s.name, s.kind, s.region) for s in c.shocks]
    (True, [1], [('camps', 2, 1)])
    >>> custody_config({}).by_nationality
    False
    """
    families = None
    if all(f"family_{f}" in params for f in FAMILY_FIELDS):
        families = {f: _f64(params[f"family_{f}"]) for f in FAMILY_FIELDS}
    return Custody(
        by_nationality=CUSTODY_FLAG in params,
        families=families,
        trial_rate={r: _f64(params[f"trial_rate_{region}"])
                    for r, region in enumerate(REGIONS) if f"trial_rate_{region}" in params},
        conviction_share={r: _f64(params[f"conviction_share_{region}"])
                          for r, region in enumerate(REGIONS)
                          if f"conviction_share_{region}" in params},
        falls=tuple(_falls(params)),
        shocks=tuple(_shocks(params)),
    )

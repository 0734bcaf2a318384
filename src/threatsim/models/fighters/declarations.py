"""What the ``fighters`` model declares: regions, compartments, origin groups,
parameters, levers and outputs (read by the loader, the engine and ``threatsim models``)."""

from __future__ import annotations

import numpy as np

from threatsim.models.contract import (
    ORIGIN_REST,
    LeverDecl,
    ModelInfo,
    OutputDecl,
    ParameterDecl,
    SeriesDecl,
)

__all__ = [
    "AFFILIATES",
    "COMPARTMENTS",
    "EVENT_OUTCOMES",
    "FIGHTER_COORDS",
    "FIGHTER_HEADLINE",
    "FIGHTER_LEVERS",
    "FIGHTER_OUTPUTS",
    "FIGHTER_PARAMETERS",
    "INFO",
    "IRAQ",
    "NATIONALITIES",
    "N_REGIONS",
    "ORIGINS",
    "REGIONS",
    "SHOCK_KINDS",
    "SYRIA",
]

REGIONS: tuple[str, ...] = ("iraq", "syria", "afghanistan", "lake_chad", "greater_sahara",
                            "tunisia")
COMPARTMENTS: tuple[str, ...] = ("active_local", "active_foreign", "detained", "imprisoned",
                                 "released", "departed", "killed")
AFFILIATES: tuple[str, ...] = REGIONS[2:]
IRAQ, SYRIA = 0, 1
#: Origin groups of the foreign fighters who go home, after the regional sections of
#: S/2019/103 (II.A.1-5: Middle East, Africa, Europe, Central and South Asia, South-East
#: Asia), with the western Balkans (paras 36-37, the one origin cohort the report counts)
#: apart from the rest of Europe. ``unspecified`` is the rest ("various, sometimes
#: undetermined, nationalities", para 17): 1 minus the shares a scenario declares.
ORIGINS: tuple[str, ...] = ("middle_east", "africa", "europe", "western_balkans",
                            "central_south_asia", "south_east_asia", ORIGIN_REST)
N_REGIONS = len(REGIONS)
#: Nationality of a person in custody or of a dependant: ``local`` (from the region),
#: ``foreign`` (a foreign terrorist fighter or the family of one), ``unspecified``: in a
#: scenario without the custody tables (families, courts, events, shocks) the courts are
#: nationality-blind, as before issue 19, and the imprisoned and released are counted here.
NATIONALITIES: tuple[str, ...] = ("local", "foreign", "unspecified")
LOCAL, FOREIGN, UNSPECIFIED = 0, 1, 2
#: What the fall of a holding does with the people in it (``[events.<name>]``).
EVENT_OUTCOMES: tuple[str, ...] = ("surrendered", "fled", "killed")
#: The kinds of stochastic jumps a scenario may declare (``[shocks.<name>]``).
SHOCK_KINDS: tuple[str, ...] = ("collapse", "surge", "prison_break")

_P = ParameterDecl
FIGHTER_PARAMETERS: tuple[ParameterDecl, ...] = (
    # -- the state at the start month ------------------------------------------------
    _P(name="fighters_iraq_syria", unit="people",
       doc="militants ISIL controls in Iraq and Syria, local and foreign (para 17)"),
    _P(name="foreign_iraq_syria", unit="people",
       doc="foreign terrorist fighters among them (para 17)"),
    _P(name="share_in_iraq", unit="share",
       doc="share of the Iraq-Syria militants who are in Iraq (paras 18, 22)"),
    _P(name="foreign_share_in_iraq", unit="share",
       doc="share of the Iraq-Syria foreign fighters who are in Iraq"),
    _P(name="detained_foreign_iraq", unit="people",
       doc="foreign fighters under arrest in Iraq (para 17)"),
    _P(name="detained_foreign_syria", unit="people",
       doc="foreign fighters detained in north-east Syria (para 17)"),
    _P(name="detained_local_iraq", unit="people",
       doc="local fighters detained in Iraq, not yet tried"),
    _P(name="detained_local_syria", unit="people",
       doc="local fighters detained in Syria, not yet tried"),
    _P(name="dependants_detained_syria", unit="people",
       doc="dependants of foreign fighters detained in north-east Syria (para 17)"),
    *(_P(name=f"fighters_{r}", unit="people", doc=f"fighters in {r} ({where})")
      for r, where in zip(AFFILIATES, ("para 38", "ISWAP, para 31", "ISGS, para 30", "para 29"),
                          strict=True)),
    _P(name="foreign_share_affiliates", unit="share",
       doc="share of foreign fighters among the affiliates' fighters (paras 11, 31, 40)"),
    # -- recruitment ---------------------------------------------------------------------
    *(_P(name=f"recruits_{r}", unit="people_per_month",
         doc=f"mean new local recruits a month in {r} (Poisson)") for r in REGIONS),
    # -- monthly rates, shared by all regions ---------------------------------------------
    _P(name="kill_rate", unit="share_per_month",
       doc="probability an active fighter is killed in a month (x pressure)"),
    _P(name="detention_rate", unit="share_per_month",
       doc="probability an active fighter is arrested in a month (x effort x pressure)"),
    _P(name="surrender_rate", unit="share_per_month",
       doc="probability an active fighter surrenders to the authorities (para 40; x pressure)"),
    _P(name="desertion_rate", unit="share_per_month",
       doc="probability a local fighter quits and goes home in a month (para 33)"),
    _P(name="departure_rate", unit="share_per_month",
       doc="probability a foreign fighter leaves the region in a month (para 10)"),
    _P(name="relocation_share", unit="share",
       doc="share of departing foreign fighters who relocate to another region (para 11)"),
    _P(name="syria_to_iraq_rate", unit="share_per_month",
       doc="share of Syria's local fighters crossing into Iraq a month (paras 6, 22)"),
    _P(name="trial_rate", unit="share_per_month",
       doc="probability a detainee's case is tried in a month (x prosecution capacity)"),
    _P(name="conviction_share", unit="share",
       doc="share of trials that end in a prison sentence (the rest are released)"),
    _P(name="release_rate", unit="share_per_month",
       doc="probability a prisoner's sentence ends in a month (1 / mean sentence)"),
    _P(name="reengagement_rate", unit="share_per_month",
       doc="probability a released person rejoins the fight in a month (para 10)"),
)

FIGHTER_LEVERS: tuple[LeverDecl, ...] = (
    LeverDecl(name="detention_effort", default=1.0, low=0.0, high=20.0, unit="multiplier",
              doc="multiplies the detention rate (2 = arrests twice as frequent)"),
    LeverDecl(name="prosecution_capacity", default=1.0, low=0.0, high=20.0, unit="multiplier",
              doc="multiplies the trial rate (0.5 = prosecution capacity halved, paras 56-58)"),
    LeverDecl(name="repatriation_rate", default=0.0, low=0.0, high=1.0, unit="share_per_month",
              doc="share of detained foreign fighters repatriated a month (paras 21, 44)"),
    LeverDecl(name="dependant_repatriation_rate", default=0.0, low=0.0, high=1.0,
              unit="share_per_month",
              doc="share of detained dependants repatriated a month (paras 44, 62-63)"),
    LeverDecl(name="rehabilitation", default=0.0, low=0.0, high=1.0, unit="share",
              doc="share by which rehabilitation cuts re-engagement (paras 59-61)"),
    LeverDecl(name="prison_release_share", default=0.0, low=0.0, high=1.0, unit="share",
              doc="share of prisoners released at once in each month it is in force (a shock: "
                  "set it at the month, reset it the month after; paras 10, 35)"),
    *(LeverDecl(name=f"pressure_{r}", default=1.0, low=0.0, high=20.0, unit="multiplier",
                doc=f"military and security pressure in {r}: multiplies kill, detention and "
                    "surrender rates")
      for r in REGIONS),
    # -- issue 19: trial regimes by region, released foreign fighters --------------------
    *(LeverDecl(name=f"prosecution_capacity_{r}", default=1.0, low=0.0, high=20.0,
                unit="multiplier",
                doc=f"multiplies the trial rate in {r} (0 = pretrial detention only, no "
                    "trials, para 56)")
      for r in REGIONS),
    *(LeverDecl(name=f"foreign_trials_{r}", default=1.0, low=0.0, high=20.0, unit="multiplier",
                doc=f"multiplies the trial rate of foreign detainees in {r} (0 = foreign "
                    "detainees are held untried, paras 21, 58)")
      for r in REGIONS),
    *(LeverDecl(name=f"transfer_rate_{r}", default=0.0, low=0.0, high=1.0,
                unit="share_per_month",
                doc=f"share of {r}'s untried detainees handed to another jurisdiction a month "
                    "(para 21: moving detainees on)")
      for r in REGIONS),
    LeverDecl(name="released_repatriation_rate", default=0.0, low=0.0, high=1.0,
              unit="share_per_month",
              doc="share of released foreign fighters repatriated a month (paras 10, 44; with "
                  "the custody tables only: without them release is nationality-blind)"),
)

_RT = ("time", "region")
_RTN = ("time", "region", "nationality")


#: Fewer active fighters is better; the other compartments have no direction of their own
#: (more detained means fewer at large but more in custody; the killed and the departed
#: are not a planner's aim).
_BETTER_BY_COMPARTMENT: dict[str, str | None] = {
    "active_local": "lower", "active_foreign": "lower"}


def _people(name: str, dims: tuple[str, ...], doc: str, *, title: str,
            better: str | None = None) -> OutputDecl:
    """An output counting whole people: int64, as the flows count them."""
    by = _BETTER_BY_COMPARTMENT if "compartment" in dims else None
    return OutputDecl(name=name, dims=dims, unit="people", dtype=np.int64, doc=doc,
                      title=title, better=better, better_by_compartment=by)


FIGHTER_OUTPUTS: tuple[OutputDecl, ...] = (
    _people("population", ("time", "region", "compartment"),
            "people in each compartment of each region at the start of the month",
            title="People by region and compartment"),
    _people("population_total", ("time", "compartment"),
            "people in each compartment, all regions together",
            title="People by compartment"),
    _people("detained_foreign", _RT, "foreign fighters among the detained",
            title="Foreign fighters detained"),
    _people("recruited", _RT, "cumulative local recruits since the start",
            title="Recruited (cumulative)", better="lower"),
    _people("arrived", _RT,
            "cumulative arrivals from other regions (relocation, syria -> iraq)",
            title="Arrived from other regions (cumulative)"),
    _people("moved_out", _RT,
            "cumulative departures to other regions (relocation, syria -> iraq)",
            title="Moved to other regions (cumulative)"),
    _people("returned_home", _RT,
            "cumulative foreign fighters who went home from the region, repatriated "
            "or on their own",
            title="Foreign fighters gone home (cumulative)"),
    _people("returned_home_by_origin", ("time", "origin"),
            "cumulative foreign fighters who went home, all regions, by origin group "
            "(the scenario's [origins] shares; the rest is unspecified)",
            title="Gone home by origin group (cumulative)"),
    _people("dependants_detained", ("time",),
            "dependants of foreign fighters detained in north-east Syria",
            title="Dependants detained, north-east Syria", better="lower"),
    _people("dependants_repatriated", ("time",), "cumulative dependants repatriated",
            title="Dependants repatriated (cumulative)", better="higher"),
    # -- issue 19: nationality, families, transfers, events, shocks ----------------------
    _people("population_by_nationality", ("time", "region", "compartment", "nationality"),
            "population by nationality (imprisoned and released are unspecified without "
            "the custody tables)",
            title="People by nationality"),
    _people("dependants_held", _RTN,
            "dependants (women and children) held in camps, by nationality of the family",
            title="Dependants held in camps", better="lower"),
    _people("children_held", _RTN, "children among the dependants held (with [families])",
            title="Children held in camps", better="lower"),
    _people("dependants_arrived", _RTN,
            "cumulative dependants who arrived with detained or surrendered fighters",
            title="Dependants arrived (cumulative)"),
    _people("dependants_left", _RTN,
            "cumulative dependants who left the camps: repatriated (foreign) or returned to "
            "their communities (local)",
            title="Dependants who left the camps (cumulative)", better="higher"),
    _people("transferred", _RTN,
            "cumulative untried detainees handed to another jurisdiction (in departed)",
            title="Transferred to another jurisdiction (cumulative)"),
    _people("event_outcomes", ("time", "region", "outcome"),
            "cumulative people of fallen holdings who surrendered, fled or were killed",
            title="Outcomes of fallen holdings (cumulative)"),
    _people("shock_outcomes", ("time", "region", "shock"),
            "cumulative people moved by shocks: lost in a collapse, recruited in a surge, "
            "at large after a prison break",
            title="People moved by shocks (cumulative)"),
)

#: What a planner reads first of the fighters: the active fighters (local and foreign), the
#: detained, the foreign fighters among them and the families held in camps.
FIGHTER_HEADLINE: tuple[SeriesDecl, ...] = (
    SeriesDecl("population", {"compartment": ("active_local", "active_foreign")},
               "Active fighters"),
    SeriesDecl("population", {"compartment": ("detained",)}, "Detained, awaiting trial"),
    SeriesDecl("detained_foreign", title="Foreign fighters detained"),
    SeriesDecl("dependants_held", title="Dependants held in camps"),
    SeriesDecl("population", {"compartment": ("imprisoned",)}, "In prison"),
    SeriesDecl("returned_home", title="Foreign fighters gone home (cumulative)"),
)

FIGHTER_COORDS: dict[str, tuple[str, ...]] = {
    "region": REGIONS, "compartment": COMPARTMENTS, "origin": ORIGINS,
    "nationality": NATIONALITIES, "outcome": EVENT_OUTCOMES, "shock": SHOCK_KINDS}

INFO = ModelInfo(
    name="fighters",
    doc="ISIL fighters by region and compartment: recruitment, attrition, detention, trial, "
        "release, re-engagement, departure (S/2019/103 paras 6-46)",
    parameters=FIGHTER_PARAMETERS,
    levers=FIGHTER_LEVERS,
    outputs=FIGHTER_OUTPUTS,
    coords=FIGHTER_COORDS,
    headline=FIGHTER_HEADLINE,
    # Each month a chunk runs a few dozen numpy and compiled calls from Python: on
    # chunks of 2,048 draws (the shipped scenarios') that Python holds the GIL long
    # enough for processes to gain more, from 8,192 (W2's 12,500) the kernels dominate
    # and threads gain more (docs/scaling.md, "Threads or processes").
    threads_from=8192,
)

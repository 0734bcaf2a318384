"""Model ``fighters``: people in ISIL's regional networks as monthly compartments.

Regions with a reported strength (S/2019/103): ``iraq`` and ``syria`` (para 17
gives 14,000-18,000 for the two together, up to 3,000 of them foreign; the
split between the two is an assumption, paras 18, 22), ``afghanistan``
(para 38), ``lake_chad`` (ISWAP, para 31), ``greater_sahara`` (ISGS, para 30)
and ``tunisia`` (para 29). Compartments in each region:

==================  =========================================================
``active_local``    fighters from the region
``active_foreign``  foreign terrorist fighters
``detained``        arrested or surrendered, not yet tried (``detained_foreign``
                    counts the foreign fighters among them)
``imprisoned``      convicted, serving a sentence
``released``        out of prison (or acquitted), at large in the region
``departed``        left the fight: foreign fighters who went home (or were
                    repatriated) and local fighters who deserted
``killed``          absorbing
==================  =========================================================

Each month ``t``, in every region, for every draw at once, all transitions are
drawn from the state at the start of the month (binomial and multinomial draws
on integer counts, so every person is in exactly one compartment)::

    active_local   -> killed, detained (detention or surrender), departed
                      (desertion), active_local of iraq (syria only: the net
                      flow of Iraqis across the border, paras 6, 22)
    active_foreign -> killed, detained, departed (home), active_foreign of
                      another region (relocation, para 11)
    detained       -> tried (-> imprisoned if convicted, else released);
                      foreign detainees also -> departed (repatriated)
    imprisoned     -> released (end of sentence; plus a one-off release shock)
    released       -> active_local (re-engagement, para 10)
    recruits ~ Poisson(recruits_<region>) -> active_local

with monthly probabilities ::

    killed      kill_rate      * pressure_<region>[t]
    detained    detention_rate * detention_effort[t] * pressure_<region>[t]
              + surrender_rate * pressure_<region>[t]
    deserted    desertion_rate                         (local fighters)
    departed    departure_rate                         (foreign fighters; a share
                relocation_share relocates to another region, chosen in
                proportion to the other regions' active strength)
    tried       trial_rate * prosecution_capacity[t]   (then conviction_share)
    repatriated repatriation_rate[t]                   (detained foreign fighters)
    released    release_rate                            (1 / mean sentence)
                + prison_release_share[t] of those left (a shock)
    re-engaged  reengagement_rate * (1 - rehabilitation[t])

Competing exits from one compartment are one multinomial draw (as a chain of
conditional binomials). Relocation and the syria -> iraq flow move people
between regions and never create them, so per draw and month the sum over
regions and compartments equals the initial total plus the cumulative
``recruited``; per region it also moves by ``arrived - moved_out``.

A one-month shock (e.g. a mass prison release, paras 10, 35) is a lever set in
a ``[[timeline]]`` entry at its month and reset in the next entry.

Returnees by origin group (:mod:`~threatsim.models.fighters.origins`): a
scenario's ``[origins.<region>.<origin>]`` shares fix the origin composition of
each region's foreign fighters; each month's returnees of a region are split
among the groups by a multinomial draw (the rest is ``unspecified``), output as
``returned_home_by_origin`` (draw, time, origin).

People in custody (issue 19, :mod:`~threatsim.models.fighters.custody`): a
scenario's ``[families]``, ``[courts]``, ``[events.<name>]`` and
``[shocks.<name>]`` tables add dependants in camps by region and nationality
(:mod:`.families`), nationality kept through trial, prison and release (released
foreign fighters re-engage as foreign, are repatriated or stay), the fall of a
holding on a sampled month (surrender, flight, death) and stochastic jumps
(collapse, surge, prison break); the levers ``prosecution_capacity_<region>``,
``foreign_trials_<region>`` and ``transfer_rate_<region>`` set each region's trial
regime. Without the tables the flows draw exactly what they drew before.

The package is cut by concept: :mod:`.declarations` (names, parameters, levers,
outputs), :mod:`.draws` (what each random number is for, and chains of
conditional binomials), :mod:`.flows` (one month), :mod:`.origins` (the split
by origin), :mod:`.custody` (what the custody tables give), :mod:`.families` (the
camps), :mod:`.checks` (load-time rate checks) and :mod:`.model` (the Model
contract).
"""

from __future__ import annotations

from threatsim.models.fighters.checks import rate_problems
from threatsim.models.fighters.declarations import (
    AFFILIATES,
    COMPARTMENTS,
    FIGHTER_COORDS,
    FIGHTER_HEADLINE,
    FIGHTER_LEVERS,
    FIGHTER_OUTPUTS,
    FIGHTER_PARAMETERS,
    INFO,
    IRAQ,
    N_REGIONS,
    ORIGINS,
    REGIONS,
    SYRIA,
)
from threatsim.models.fighters.flows import FighterFlows
from threatsim.models.fighters.model import FightersModel, people_residuals
from threatsim.models.fighters.origins import origin_shares, split_by_origin

__all__ = [
    "AFFILIATES",
    "COMPARTMENTS",
    "FIGHTER_COORDS",
    "FIGHTER_HEADLINE",
    "FIGHTER_LEVERS",
    "FIGHTER_OUTPUTS",
    "FIGHTER_PARAMETERS",
    "INFO",
    "IRAQ",
    "N_REGIONS",
    "ORIGINS",
    "REGIONS",
    "SYRIA",
    "FighterFlows",
    "FightersModel",
    "origin_shares",
    "people_residuals",
    "rate_problems",
    "split_by_origin",
]

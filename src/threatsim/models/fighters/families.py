"""Dependants in camps, by region and nationality (a scenario's ``[families]``).

Dependants (women and children) arrive with the fighters who are detained or
surrender (arrests, surrenders, and the surrender of a fallen holding): in
month ``t`` and region ``r`` ::

    arrived[nat]  ~ Poisson(ratio_<nat> * newly_detained[nat])   (nat: local, foreign)
    children[nat] ~ Binomial(arrived[nat], children_share)

so each newly detained fighter brings Poisson(ratio) dependants, the families
of local fighters and of foreign fighters at their own ratio (the report gives
no ratio: paras 17 and 62 give counts, stated assumptions in the scenario).
They are held in the region's camps by nationality, adults and children apart,
and leave them, from the stock at the start of the month, ::

    foreign  repatriated            dependant_repatriation_rate[t]  (lever; paras 44, 62-63)
    local    return to communities  return_rate                     (a parameter; para 55)

drawn for adults and children alike. The dependants of foreign fighters
detained in north-east Syria at the start (``dependants_detained_syria``, para
17) are the first stock of (syria, foreign), ``children_share`` of them (a
binomial draw) children. Nobody is created or lost: per region and nationality
``held[t] = held[0] + arrived[t] - left[t]`` exactly.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from threatsim.models.contract import Chance, FloatArray
from threatsim.models.fighters.declarations import FOREIGN, LOCAL, N_REGIONS, SYRIA
from threatsim.models.fighters.draws import FighterFlow, flow_id

__all__ = ["Camps"]


class Camps:
    """The dependants of one chunk of draws: adults and children, (nationality, region, draw).

    >>> from threatsim.stats.variates import ChanceStreams
    >>> chance = ChanceStreams(seed=0, draw_index=[0, 1])
    >>> fam = {"ratio_local": np.zeros(2), "ratio_foreign": np.full(2, 2.0),
    ...        "children_share": np.full(2, 0.5), "return_rate": np.zeros(2)}
    >>> camps = Camps(fam, np.full(2, 10), chance)
    >>> newly = np.zeros((2, N_REGIONS, 2), dtype=np.int64)
    >>> newly[FOREIGN, SYRIA] = 5  # five foreign fighters detained in syria this month
    >>> camps.step(0, chance, newly, repatriation=0.0)
    >>> bool((camps.held()[FOREIGN, SYRIA] == 10 + camps.arrived[FOREIGN, SYRIA]).all())
    True
    """

    def __init__(self, families: Mapping[str, FloatArray], initial_syria: np.ndarray,
                 chance: Chance) -> None:
        n = initial_syria.shape[0]
        self.ratio = np.stack([families["ratio_local"], families["ratio_foreign"]])
        self.children_share = np.asarray(families["children_share"], dtype=np.float64)
        self.return_rate = np.asarray(families["return_rate"], dtype=np.float64)
        shape = (2, N_REGIONS, n)
        self.adults, self.children = (np.zeros(shape, dtype=np.int64),
                                      np.zeros(shape, dtype=np.int64))
        self.arrived, self.left = np.zeros(shape, dtype=np.int64), np.zeros(shape, dtype=np.int64)
        if initial_syria.any():
            kids = chance.binomial(initial_syria, self.children_share, month=0, event=2,
                                   flow=flow_id(FighterFlow.FAMILY_CHILDREN, SYRIA))
            self.children[FOREIGN, SYRIA] = kids
            self.adults[FOREIGN, SYRIA] = initial_syria - kids

    def held(self) -> np.ndarray:
        """Dependants held, (nationality, region, draw)."""
        return self.adults + self.children

    def step(self, t: int, chance: Chance, newly: np.ndarray, *, repatriation: float) -> None:
        """Month *t*: the outflows from the stock at its start, then the arrivals with the
        month's *newly* detained fighters, (nationality, region, draw)."""
        for r in range(N_REGIONS):
            for nat, rate in ((LOCAL, self.return_rate), (FOREIGN, repatriation)):
                if not np.any(rate):
                    continue
                for child, stock in enumerate((self.adults, self.children)):
                    held = stock[nat, r]
                    if not held.any():
                        continue
                    went = chance.binomial(held, rate, month=t, event=2 * nat + child,
                                           flow=flow_id(FighterFlow.FAMILY_EXITS, r))
                    held -= went
                    self.left[nat, r] += went
            for nat in (LOCAL, FOREIGN):
                count = newly[nat, r]
                if not count.any() or not self.ratio[nat].any():
                    continue
                came = chance.poisson(self.ratio[nat] * count, month=t, event=nat,
                                      flow=flow_id(FighterFlow.FAMILY_ARRIVALS, r))
                if not came.any():
                    continue
                kids = chance.binomial(came, self.children_share, month=t, event=nat,
                                       flow=flow_id(FighterFlow.FAMILY_CHILDREN, r))
                self.children[nat, r] += kids
                self.adults[nat, r] += came - kids
                self.arrived[nat, r] += came

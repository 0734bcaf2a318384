"""Model ``coupled``: ISIL's reserves and its fighters in one monthly loop.

The ``financing`` model's reserves (:class:`~threatsim.models.financing.ReservesStock`)
and the ``fighters`` model's compartments (:class:`~threatsim.models.fighters.FighterFlows`)
step together. Two links tie them:

* **Upkeep follows the active fighters.** Planned spending in month ``t`` is ::

      upkeep_per_fighter * active[t] + transfers_to_affiliates + operations_spending

  where ``active[t]`` counts the active fighters (local and foreign) in iraq and
  syria at the start of the month: the centre pays the core (para 17), the
  affiliates get transfers (paras 5, 9) and are expected to finance themselves
  (para 14). The financing model's fixed ``fighters`` parameter is gone.
* **Empty reserves weaken the group.** In a month that starts with reserves at
  0, recruitment means are multiplied by ``1 - recruitment_drop_when_depleted``
  and ``desertion_rise_when_depleted`` is added to the monthly desertion
  (local fighters) and departure (foreign fighters) probabilities, in every
  region. Both are scenario parameters: the report gives no figure, so they
  are stated assumptions.

Both halves draw from each draw's own streams, the fighters' flows and the
reserves' cache discoveries at counters of their own (the flow words of
:class:`~threatsim.models.fighters.draws.FighterFlow` start above every
:class:`~threatsim.models.financing.FinancingFlow`), so the determinism
contract holds as for each model alone. Each model still runs alone.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from threatsim.core.errors import ScenarioError
from threatsim.models.contract import (
    Chance,
    FloatArray,
    Model,
    ModelInfo,
    ParameterDecl,
    ScenarioParts,
    SeriesDecl,
)
from threatsim.models.fighters import (
    FIGHTER_COORDS,
    FIGHTER_HEADLINE,
    FIGHTER_LEVERS,
    FIGHTER_OUTPUTS,
    FIGHTER_PARAMETERS,
    IRAQ,
    SYRIA,
    FighterFlows,
    rate_problems,
)
from threatsim.models.fighters.checks import custody_problems
from threatsim.models.fighters.model import people_residuals
from threatsim.models.fighters.origins import share_problems
from threatsim.models.financing import INFO as FINANCING_INFO
from threatsim.models.financing import ReservesStock, reserves_residuals

__all__ = ["CoupledModel"]

COUPLING_PARAMETERS: tuple[ParameterDecl, ...] = (
    ParameterDecl(name="recruitment_drop_when_depleted", unit="share",
                  doc="share by which recruitment falls in a month that starts with no reserves"),
    ParameterDecl(name="desertion_rise_when_depleted", unit="share_per_month",
                  doc="added to the monthly desertion and departure probabilities in a month "
                      "that starts with no reserves"),
)

INFO = ModelInfo(
    name="coupled",
    doc="Reserves and fighters in one monthly loop: upkeep follows the active fighters in "
        "Iraq and Syria; empty reserves cut recruitment and raise desertion",
    parameters=(*(p for p in FINANCING_INFO.parameters if p.name != "fighters"),
                *FIGHTER_PARAMETERS, *COUPLING_PARAMETERS),
    levers=(*FINANCING_INFO.levers, *FIGHTER_LEVERS),
    outputs=(*FINANCING_INFO.outputs, *FIGHTER_OUTPUTS),
    coords=FIGHTER_COORDS,
    headline=(SeriesDecl("reserves"), *FIGHTER_HEADLINE[:4]),
)

_FINANCING_OUTPUTS = frozenset(o.name for o in FINANCING_INFO.outputs)


class CoupledModel(Model):
    """Financing and fighters stepped together (see module docstring).

    >>> model = CoupledModel()
    >>> params = {p.name: np.zeros(2) for p in INFO.parameters}
    >>> params["fighters_iraq_syria"] = np.full(2, 100.0)
    >>> params["upkeep_per_fighter"] = np.full(2, 1.0)
    >>> params["reserves_initial"] = np.full(2, 250.0)
    >>> levers = {lever.name: np.full(4, lever.default) for lever in INFO.levers}
    >>> from threatsim.stats.variates import ChanceStreams
    >>> got = model.simulate(params, levers, n_months=4,
    ...                      chance=ChanceStreams(seed=2, draw_index=[0, 1]),
    ...                      outputs=frozenset({"reserves", "depletion_month"}))
    >>> got["reserves"].tolist()  # 100 active fighters cost 100 a month
    [[250.0, 150.0, 50.0, 0.0, 0.0], [250.0, 150.0, 50.0, 0.0, 0.0]]
    >>> got["depletion_month"].tolist()
    [3.0, 3.0]
    """

    info = INFO
    #: Returns new arrays: its outputs mix int64 counts and float64 money.
    writes_into_buffers = False
    buffer_dtype = None

    def check(self, scenario: ScenarioParts) -> list[ScenarioError]:
        """Competing rates (desertion rise added) and origin shares each sum to at most 1."""
        return (rate_problems(scenario, extra_exit="desertion_rise_when_depleted")
                + share_problems(scenario) + custody_problems(scenario))

    def _simulate(
        self,
        params: Mapping[str, FloatArray],
        levers: Mapping[str, FloatArray],
        *,
        n_months: int,
        chance: Chance,
        want: frozenset[str],
        out: Mapping[str, np.ndarray] | None,
    ) -> dict[str, np.ndarray]:
        """One chunk of draws; arrays are (draw, time, ...) and (draw,)."""
        stock = ReservesStock(params, n_months=n_months, want=want & _FINANCING_OUTPUTS)
        flows = FighterFlows(params, levers, n_months=n_months, want=want, chance=chance)
        upkeep = np.asarray(params["upkeep_per_fighter"], dtype=np.float64)
        other = params["transfers_to_affiliates"] + params["operations_spending"]
        drop = np.asarray(params["recruitment_drop_when_depleted"], dtype=np.float64)
        rise = np.asarray(params["desertion_rise_when_depleted"], dtype=np.float64)
        for t in range(n_months):
            # Both halves see the state at the start of the month.
            plan = upkeep * flows.active((IRAQ, SYRIA)) + other
            broke = stock.reserves <= 0.0
            if broke.any():
                flows.step(t, chance, recruit_factor=1.0 - drop * broke,
                           extra_exit=rise * broke)
            else:
                flows.step(t, chance)
            stock.step(t, plan, levers, chance)
        # The origin split of the returnees is drawn last, after every month of both halves.
        return {**stock.outputs(), **flows.outputs(chance)}

    def conservation_residuals(self, outputs: Mapping[str, np.ndarray],
                               ) -> dict[str, np.ndarray]:
        """Both halves' identities: the reserves' and the fighters' (people conserved)."""
        return {**reserves_residuals(outputs), **people_residuals(outputs)}

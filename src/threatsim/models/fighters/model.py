"""The ``fighters`` model: the Model contract over :class:`FighterFlows`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from threatsim.core.errors import ScenarioError
from threatsim.models.contract import FloatArray
from threatsim.models.fighters.checks import rate_problems
from threatsim.models.fighters.declarations import INFO
from threatsim.models.fighters.flows import FighterFlows
from threatsim.models.fighters.origins import share_problems

__all__ = ["FightersModel"]


class FightersModel:
    """Vectorised monthly compartment model over regions (see :mod:`threatsim.models.fighters`)."""

    info = INFO
    #: ``simulate`` accepts ``out=``: the engine's result buffers (int64) to fill in place.
    writes_into_buffers = True
    buffer_dtype = np.int64

    def check(self, scenario: Any) -> list[ScenarioError]:
        """Competing rates sum to at most 1 in every month; origin shares to at most 1."""
        return rate_problems(scenario) + share_problems(scenario)

    def simulate(
        self,
        params: Mapping[str, FloatArray],
        levers: Mapping[str, FloatArray],
        *,
        n_months: int,
        rng: np.random.Generator,
        outputs: frozenset[str] | None = None,
        out: Mapping[str, np.ndarray] | None = None,
    ) -> dict[str, np.ndarray]:
        """Run one chunk of draws; arrays are (draw, time, ...).

        With *out* (int64 arrays (time, ..., draw) for every wanted output) the
        months are recorded there, and the returned arrays are views of them.
        """
        want = outputs if outputs is not None else frozenset(o.name for o in INFO.outputs)
        flows = FighterFlows(params, levers, n_months=n_months, want=want, out=out)
        for t in range(n_months):
            flows.step(t, rng)
        return flows.outputs(rng)

"""The ``fighters`` model: the Model contract over :class:`FighterFlows`."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from threatsim.core.errors import ScenarioError
from threatsim.models.contract import Chance, FloatArray, Model, ScenarioParts
from threatsim.models.fighters.checks import custody_problems, rate_problems
from threatsim.models.fighters.declarations import (
    COMPARTMENTS,
    FOREIGN,
    INFO,
    LOCAL,
    SYRIA,
    UNSPECIFIED,
)
from threatsim.models.fighters.flows import FighterFlows
from threatsim.models.fighters.origins import share_problems

__all__ = ["FightersModel", "people_residuals"]

_C = {name: i for i, name in enumerate(COMPARTMENTS)}


class FightersModel(Model):
    """Vectorised monthly compartment model over regions (see :mod:`threatsim.models.fighters`).

    >>> model = FightersModel()
    >>> params = {p.name: np.zeros(3) for p in INFO.parameters}
    >>> params["fighters_tunisia"] = np.full(3, 100.0)
    >>> params["kill_rate"] = np.full(3, 0.1)
    >>> levers = {lever.name: np.full(6, lever.default) for lever in INFO.levers}
    >>> from threatsim.stats.variates import ChanceStreams
    >>> got = model.simulate(params, levers, n_months=6,
    ...                      chance=ChanceStreams(seed=1, draw_index=np.arange(3)),
    ...                      outputs=frozenset({"population_total"}))
    >>> total = got["population_total"]  # (draw, time, compartment), int64
    >>> total.dtype, total.shape
    (dtype('int64'), (3, 7, 7))
    >>> total.sum(axis=2).tolist() == [[100] * 7] * 3  # nobody is lost or created
    True
    """

    info = INFO
    #: ``simulate`` accepts ``out=``: the engine's result buffers (int64) to fill in place.
    writes_into_buffers = True
    buffer_dtype = np.dtype(np.int64)

    def check(self, scenario: ScenarioParts) -> list[ScenarioError]:
        """Competing rates sum to at most 1 in every month (with the regions' court regimes);
        origin shares to at most 1."""
        return (rate_problems(scenario) + share_problems(scenario)
                + custody_problems(scenario))

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
        """One chunk of draws; arrays are (draw, time, ...).

        With *out* (int64 arrays (time, ..., draw) for every wanted output) the
        months are recorded there, and the returned arrays are views of them.
        """
        flows = FighterFlows(params, levers, n_months=n_months, want=want, out=out,
                             chance=chance)
        for t in range(n_months):
            flows.step(t, chance)
        return flows.outputs(chance)

    def conservation_residuals(self, outputs: Mapping[str, np.ndarray],
                               ) -> dict[str, np.ndarray]:
        """People are conserved (see :func:`people_residuals`)."""
        return people_residuals(outputs)


def people_residuals(outputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The identities of the fighters' counts, as residuals that are exactly 0.

    From (draw, time, ...) arrays: nobody is a negative count; everyone is in
    one compartment, so the total moves only by the recruits, and a region's
    total by its recruits, arrivals and departures; the regional sums are
    ``population_total``; the returnees by origin add up to the regions'
    returnees; dependants are held, arrived or left; the population by
    nationality adds up, and with nationality kept through the courts foreign
    fighters are neither created nor lost (issue 19).

    >>> # (draw, time, region, compartment): one draw, two months, two regions, two compartments
    >>> pop = np.array([[[[5, 0], [0, 0]], [[3, 2], [1, 0]]]])
    >>> zero = np.zeros((1, 2, 2), dtype=np.int64)
    >>> recruited = np.array([[[0, 0], [0, 1]]])
    >>> got = people_residuals({"population": pop, "recruited": recruited, "arrived": zero,
    ...                         "moved_out": zero})
    >>> sorted(k for k, v in got.items() if v.any())
    []
    """
    out: dict[str, np.ndarray] = {}
    for name in sorted(INFO.output_names & set(outputs)):
        out[f"{name} never negative"] = np.minimum(outputs[name], 0)
    pop = outputs.get("population")
    if pop is not None and "recruited" in outputs:
        by_region = pop.sum(axis=3)  # (draw, time, region)
        total = by_region.sum(axis=2)
        recruited = outputs["recruited"]
        out["people conserved"] = total - total[:, :1] - recruited.sum(axis=2)
        if "arrived" in outputs and "moved_out" in outputs:
            out["people conserved in each region"] = (
                by_region - by_region[:, :1] - recruited - outputs["arrived"]
                + outputs["moved_out"])
    if pop is not None and "population_total" in outputs:
        out["population_total is the sum over regions"] = (
            outputs["population_total"] - pop.sum(axis=2))
    if "returned_home_by_origin" in outputs and "returned_home" in outputs:
        out["returnees by origin add up"] = (outputs["returned_home_by_origin"].sum(axis=2)
                                             - outputs["returned_home"].sum(axis=2))
    if "dependants_detained" in outputs and "dependants_repatriated" in outputs:
        held = outputs["dependants_detained"] + outputs["dependants_repatriated"]
        came = (outputs["dependants_arrived"][:, :, SYRIA, FOREIGN]
                if "dependants_arrived" in outputs else 0)
        out["dependants held or repatriated"] = held - held[:, :1] - came
    out.update(_custody_residuals(outputs))
    return out


def _custody_residuals(outputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The identities of issue 19's outputs (see :func:`people_residuals`)."""
    out: dict[str, np.ndarray] = {}
    by_nat = outputs.get("population_by_nationality")  # (draw, time, region, comp, nat)
    pop = outputs.get("population")
    if by_nat is not None:
        if pop is not None:
            out["population_by_nationality adds up to population"] = (
                by_nat.sum(axis=4) - pop)
        if "detained_foreign" in outputs:
            out["foreign detainees are detained_foreign"] = (
                by_nat[..., _C["detained"], FOREIGN] - outputs["detained_foreign"])
        # only the nationality-blind courts' imprisoned and released are unspecified, and
        # nobody changes nationality but through them
        for c in ("active_local", "active_foreign", "detained", "departed", "killed"):
            out[f"{c} has a nationality"] = by_nat[..., _C[c], UNSPECIFIED]
        out["active_local are local"] = by_nat[..., _C["active_local"], FOREIGN]
        out["active_foreign are foreign"] = by_nat[..., _C["active_foreign"], LOCAL]
        blind = np.asarray(by_nat[..., UNSPECIFIED].reshape(by_nat.shape[0], -1).any(axis=1))
        foreign = by_nat[..., FOREIGN].sum(axis=(2, 3))  # (draw, time)
        out["foreign fighters are never created or lost"] = np.where(
            blind[:, None], 0, foreign - foreign[:, :1])
        if "recruited" in outputs:
            local = by_nat[..., LOCAL].sum(axis=(2, 3))
            out["local fighters change only by recruits"] = np.where(
                blind[:, None], 0, local - local[:, :1] - outputs["recruited"].sum(axis=2))
        if "transferred" in outputs:
            out["the transferred are among the departed"] = np.maximum(
                outputs["transferred"][..., :2] - by_nat[..., _C["departed"], :2], 0)
    if all(k in outputs for k in ("dependants_held", "dependants_arrived", "dependants_left")):
        held = outputs["dependants_held"]
        out["dependants held = at the start + arrived - left"] = (
            held - held[:, :1] - outputs["dependants_arrived"] + outputs["dependants_left"])
        if "children_held" in outputs:
            out["children are among the dependants"] = np.maximum(
                outputs["children_held"] - held, 0)
        if "dependants_detained" in outputs:
            out["dependants_detained is syria's foreign families"] = (
                outputs["dependants_detained"] - held[:, :, SYRIA, FOREIGN])
        if "dependants_repatriated" in outputs:
            out["dependants_repatriated is syria's foreign families that left"] = (
                outputs["dependants_repatriated"]
                - outputs["dependants_left"][:, :, SYRIA, FOREIGN])
    for name in ("dependants_arrived", "dependants_left", "transferred", "event_outcomes",
                 "shock_outcomes"):
        if name in outputs:  # cumulative counts
            out[f"{name} never decreases"] = np.minimum(np.diff(outputs[name], axis=1), 0)
    return out

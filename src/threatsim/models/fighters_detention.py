"""Model ``fighters_detention``: the fighters' flows feed the detention DES of one region.

The ``fighters`` model counts, month by month, the fighters newly detained in
each region: those arrested, those who surrender, and the surrendered of a
fallen holding (S/2019/103 para 22: of the foreign fighters who try to flee
Hajin, "many are intercepted and detained"). The ``detention`` model
(docs/detention.md) takes detainees through screening, trial, prison and
repatriation as a discrete-event model, but on its own its arrivals are a
Poisson process at a fixed rate. Here the DES of the region named in the
scenario's ``[detention] region`` takes the fighters' count instead:

* **At the start**, the region's detained fighters (local and foreign:
  ``detained_local_<region>``, ``detained_foreign_<region>``, para 17) are the
  DES's initial stock, and, in Syria, the dependants detained with the foreign
  fighters (``dependants_detained_syria``, para 17) are its dependants held.
* **In month t**, exactly the fighters' newly detained of month *t* in the
  region arrive, local and foreign as the fighters model counted them, at
  uniform times within the month (their nationalities in random order). So the
  DES's cumulative ``detention_arrived`` moves from month to month by exactly
  the fighters' ``detention_intake`` (a conservation identity checked on every
  draw).
* **Shared meanings, shared values.** ``conviction_share`` (a trial ending in
  prison) and the lever ``repatriation_rate`` (the share of waiting foreign
  detainees their States take back each month) are one parameter and one
  lever for both halves.

The link is one way: what the DES does with its detainees (screening, trial,
prison, release) does not flow back into the fighters' compartments, whose own
courts go on as the scenario sets them. The DES is the custody view of the
region, with queues, capacities and waiting times; the fighters' outputs are
the region's view of everyone. For the two to agree on who is still held, give
the region's fighters courts the DES's pace (``[courts.<region>]``), or read
each for what it models.

The DES's outputs carry the prefix ``detention_`` (``detention_backlog_trial``,
``detention_pretrial_wait_median``, ...); the fighters' outputs keep their
names. Both halves draw from each draw's own streams (the fighters' flow words
start at :data:`~threatsim.models.fighters.draws.FIGHTER_FLOW_BASE`, above every
:class:`~threatsim.models.detention.cases.DetentionFlow`), so the determinism
contract holds as for each model alone.
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
    OutputDecl,
    ScenarioParts,
    SeriesDecl,
)
from threatsim.models.detention.cases import GivenArrivals, Plan
from threatsim.models.detention.fastpath import fast_path_applies
from threatsim.models.detention.model import INFO as DETENTION_INFO
from threatsim.models.detention.model import DetentionModel, simulate_rows
from threatsim.models.fighters import (
    FIGHTER_COORDS,
    FIGHTER_HEADLINE,
    FIGHTER_LEVERS,
    FIGHTER_OUTPUTS,
    FIGHTER_PARAMETERS,
    SYRIA,
    FighterFlows,
)
from threatsim.models.fighters.declarations import INFO as FIGHTERS_INFO
from threatsim.models.fighters.declarations import NATIONALITIES, REGIONS
from threatsim.models.fighters.model import FightersModel, people_residuals

__all__ = ["MODEL_NAME", "PREFIX", "FightersDetentionModel", "detention_region_parameter",
           "linked_region"]

MODEL_NAME = "fighters_detention"
#: The DES's outputs are named with this prefix.
PREFIX = "detention_"
_SHARED_PARAMETERS = frozenset(p.name for p in FIGHTER_PARAMETERS)
_SHARED_LEVERS = frozenset(lever.name for lever in FIGHTER_LEVERS)
#: The DES's own parameters: its stocks and arrivals come from the fighters.
_FROM_FIGHTERS = frozenset({"detained_iraq", "detained_syria", "dependants_syria",
                            "arrivals_per_month", "arrivals_foreign_share"})
DES_PARAMETERS = tuple(p for p in DETENTION_INFO.parameters
                       if p.name not in _FROM_FIGHTERS and p.name not in _SHARED_PARAMETERS)
DES_LEVERS = tuple(lever for lever in DETENTION_INFO.levers
                   if lever.name not in _SHARED_LEVERS)
_DES_OUTPUT_NAMES = tuple(o.name for o in DETENTION_INFO.outputs)
DES_OUTPUTS = tuple(OutputDecl(name=PREFIX + o.name, dims=o.dims, unit=o.unit, dtype=o.dtype,
                               doc=f"detention DES of the linked region: {o.doc}",
                               kind=o.kind, nonnegative=o.nonnegative,
                               better=o.better, title=f"{o.title} (detention)")
                    for o in DETENTION_INFO.outputs)
INTAKE = OutputDecl(
    name="detention_intake", dims=("time", "nationality"), unit="people", dtype=np.int64,
    title="Newly detained (cumulative)",
    doc="cumulative fighters newly detained in the linked region (arrests, surrenders, the "
        "surrendered of falls), by nationality: the DES's arrivals after the start")

INFO = ModelInfo(
    name=MODEL_NAME,
    doc="The fighters' flows, whose newly detained in one region ([detention] region) are "
        "the arrivals of the detention DES (S/2019/103 paras 17, 22, 52-64)",
    parameters=(*FIGHTER_PARAMETERS, *DES_PARAMETERS),
    levers=(*FIGHTER_LEVERS, *DES_LEVERS),
    outputs=(*FIGHTER_OUTPUTS, *DES_OUTPUTS, INTAKE),
    coords=FIGHTER_COORDS,
    headline=(*FIGHTER_HEADLINE[:2], SeriesDecl(PREFIX + "backlog_trial"),
              SeriesDecl(PREFIX + "in_prison"), FIGHTER_HEADLINE[3]),
)
_FIGHTER_OUTPUT_NAMES = FIGHTERS_INFO.output_names


def detention_region_parameter(region: str) -> str:
    """The flag parameter ``[detention] region`` sets (value 1: the linked region).

    >>> detention_region_parameter("syria")
    'detention_region_syria'
    """
    return f"detention_region_{region}"


def linked_region(names: object) -> int | None:
    """The index of the region whose flag parameter is among *names* (None: none, or
    more than one).

    >>> linked_region(["kill_rate", "detention_region_syria"]) == SYRIA
    True
    """
    found = [i for i, r in enumerate(REGIONS)
             if detention_region_parameter(r) in names]  # type: ignore[operator]
    return found[0] if len(found) == 1 else None


class FightersDetentionModel(Model):
    """The fighters' flows with the detention DES of one region (see module docstring).

    >>> model = FightersDetentionModel()
    >>> params = {p.name: np.zeros(2) for p in INFO.parameters}
    >>> params["fighters_iraq_syria"] = np.full(2, 400.0)  # all in syria
    >>> params["detention_rate"] = np.full(2, 0.25)
    >>> params["trial_days"], params["sentence_months"] = np.full(2, 30.0), np.full(2, 60.0)
    >>> params["detention_region_syria"] = np.ones(2)
    >>> levers = {lever.name: np.full(3, float(lever.default)) for lever in INFO.levers}
    >>> from threatsim.stats.variates import ChanceStreams
    >>> got = model.simulate(params, levers, n_months=3,
    ...                      chance=ChanceStreams(seed=3, draw_index=[0, 1]),
    ...                      outputs=frozenset({"detention_arrived", "detention_intake"}))
    >>> arrived, intake = got["detention_arrived"], got["detention_intake"].sum(axis=2)
    >>> bool((arrived - arrived[:, :1] == intake).all()), bool(intake[:, -1].min() > 0)
    (True, True)
    """

    info = INFO
    #: Returns new arrays: int64 counts of the fighters, float64 of the DES.
    writes_into_buffers = False
    buffer_dtype = None

    def check(self, scenario: ScenarioParts) -> list[ScenarioError]:
        """The fighters' checks, the DES's (a trial takes time), and one linked region."""
        problems = FightersModel().check(scenario) + DetentionModel().check(scenario)
        if linked_region(set(scenario.parameters)) is None:
            problems.append(ScenarioError(
                "is required: the region whose newly detained the detention DES takes in; "
                f"allowed: {', '.join(REGIONS)}", key="detention.region", value=None))
        return problems

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
        """One chunk: the fighters' months, then the DES on their newly detained."""
        region = linked_region(set(params))
        if region is None:
            msg = "no linked region: [detention] region sets one detention_region_<region>"
            raise ValueError(msg)
        flows = FighterFlows(params, levers, n_months=n_months, want=want, chance=chance,
                             intake_region=region)
        n = flows.n
        # the DES starts from the fighters' own stocks at month 0, read before they move
        initial = np.stack([flows.detained_local[region], flows.detained_foreign[region]],
                           axis=1).copy()
        dependants = (flows.dependants.copy() if region == SYRIA
                      else np.zeros(n, dtype=np.int64))
        for t in range(n_months):
            flows.step(t, chance)
        series = {k: v for k, v in flows.outputs(chance).items() if k in want}
        assert flows.intake is not None
        monthly = np.moveaxis(flows.intake, 2, 0)  # (draw, month, nationality)
        if INTAKE.name in want:
            intake = np.zeros((n, n_months + 1, len(NATIONALITIES)), dtype=np.int64)
            np.cumsum(monthly, axis=1, out=intake[:, 1:, :2])
            series[INTAKE.name] = intake
        des_want = frozenset(name for name in _DES_OUTPUT_NAMES if PREFIX + name in want)
        if des_want:
            given = GivenArrivals(initial=initial, monthly=monthly, dependants=dependants)
            series.update(_detention(params, levers, n_months, chance, given, des_want))
        return series

    def conservation_residuals(self, outputs: Mapping[str, np.ndarray],
                               ) -> dict[str, np.ndarray]:
        """The fighters' identities, the DES's, and the link: the DES takes in exactly the
        fighters' newly detained of the region, month by month."""
        out = people_residuals({k: v for k, v in outputs.items()
                                if k in _FIGHTER_OUTPUT_NAMES})
        des = {name: outputs[PREFIX + name] for name in _DES_OUTPUT_NAMES
               if PREFIX + name in outputs}
        out.update({f"detention: {k}": v
                    for k, v in DetentionModel().conservation_residuals(des).items()})
        if "arrived" in des and INTAKE.name in outputs:
            arrived = des["arrived"]
            out["the DES takes in the fighters' newly detained"] = (
                arrived - arrived[:, :1] - outputs[INTAKE.name].sum(axis=2))
        if INTAKE.name in outputs:
            out["detention_intake never decreases"] = np.minimum(
                np.diff(outputs[INTAKE.name], axis=1), 0)
        return out


def _detention(params: Mapping[str, FloatArray], levers: Mapping[str, FloatArray],
               n_months: int, chance: Chance, given: GivenArrivals,
               want: frozenset[str]) -> dict[str, np.ndarray]:
    """The detention model's own driver on *given* arrivals; outputs prefixed."""
    plan = Plan.from_levers({k: np.asarray(v) for k, v in levers.items()}, n_months)
    names = [p.name for p in DES_PARAMETERS] + ["conviction_share"]
    lists = {name: np.asarray(params[name], dtype=np.float64).tolist() for name in names}
    n = int(given.initial.shape[0])
    rows = [{name: values[k] for name, values in lists.items()} for k in range(n)]
    series = simulate_rows(plan, fast_path_applies(plan), rows, chance, want, given)
    return {PREFIX + name: arr for name, arr in series.items()}

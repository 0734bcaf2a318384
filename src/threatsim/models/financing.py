"""Model ``financing``: ISIL's reserves as a monthly stock over Monte Carlo draws.

Stock: reserves, starting from the reported $50-300 million (S/2019/103
para 12). Inflows the report names: extortion and other criminal income
(para 14), kidnapping for ransom (paras 14, 28), extortion of oil cargos
(para 13), returns on reserves invested in legitimate businesses (para 13).
Outflows: upkeep of fighters (para 17), money sent to provinces and
affiliates (paras 5, 9), operations. Disruption: a monthly seizure and
asset-freeze fraction (uncertain today, scaled by the ``seizure_effort``
lever, paras 73-76) and rare discoveries of bulk-
stored cash (para 13) as Poisson shocks, each taking a share of what is left.

Each month ``t``, for every draw at once::

    revenue  = (extortion + ransom + oil) * (1 - revenue_disruption[t])
               + investment_return * R[t]
    seized   = min(1, seizure_rate * seizure_effort[t]) * R[t] + cache losses
    spending = min(planned spending, R[t] - seized + revenue)
    R[t+1]   = R[t] - seized - spending + revenue      (0 when spending was capped)

so money never goes negative and the identity holds exactly whenever
reserves are not exhausted. The cache discoveries of month ``t`` are a Poisson
count per draw from the draw's own stream (flow :attr:`FinancingFlow.CACHE_FINDS`).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntEnum

import numpy as np

from threatsim.core import compiled
from threatsim.core.errors import ScenarioError
from threatsim.models.contract import (
    Chance,
    FloatArray,
    LeverDecl,
    Model,
    ModelInfo,
    OutputDecl,
    ParameterDecl,
    ScenarioParts,
    SeriesDecl,
)

__all__ = ["FinancingFlow", "FinancingModel", "ReservesStock", "reserves_residuals"]


class FinancingFlow(IntEnum):
    """What each random number of the reserves stock is for (its counter's flow word).

    Part of every run's identity: never renumber, only append. The ``coupled``
    model draws these beside the fighters' flows, whose words start at
    ``fighters.draws.FIGHTER_FLOW_BASE`` (2**20): keep these below it.

    >>> from threatsim.models.fighters.draws import FIGHTER_FLOW_BASE
    >>> int(FinancingFlow.CACHE_FINDS), FinancingFlow.CACHE_FINDS < FIGHTER_FLOW_BASE
    (1, True)
    """

    CACHE_FINDS = 1  # caches of stored cash found in the month (Poisson)

#: The monthly series the reserves stock records (besides ``depletion_month``).
RESERVES_SERIES = ("reserves", "revenue", "spending", "seized")

INFO = ModelInfo(
    name="financing",
    doc="ISIL reserves: revenue, upkeep, transfers, seizures (S/2019/103 paras 12-15)",
    # one compiled (numba, nogil) or vectorised numpy loop over a chunk's draws: threads
    # share its buffers, where processes would copy every chunk's trajectories back
    parallel="threads",
    parameters=(
        ParameterDecl(name="reserves_initial", unit="usd",
                      doc="reserves at the start month (para 12)"),
        ParameterDecl(name="fighters", unit="people",
                      doc="fighters whose upkeep the reserves pay (para 17)"),
        ParameterDecl(name="upkeep_per_fighter", unit="usd_per_person_per_month",
                      doc="monthly cost of one fighter: pay, food, arms"),
        ParameterDecl(name="extortion_income", unit="usd_per_month",
                      doc="extortion and other criminal income (para 14)"),
        ParameterDecl(name="ransom_income", unit="usd_per_month",
                      doc="kidnapping for ransom (paras 14, 19, 28)"),
        ParameterDecl(name="oil_extortion_income", unit="usd_per_month",
                      doc="extortion of oil cargos extracted by others (para 13)"),
        ParameterDecl(name="investment_return", unit="share_per_month",
                      doc="monthly return on reserves invested in businesses (para 13)"),
        ParameterDecl(name="transfers_to_affiliates", unit="usd_per_month",
                      doc="money sent to provinces and affiliates (paras 5, 9)"),
        ParameterDecl(name="operations_spending", unit="usd_per_month",
                      doc="spending on operations, propaganda, logistics"),
        ParameterDecl(name="seizure_rate", unit="share_per_month",
                      doc="share of reserves seized or frozen a month under current measures "
                          "(paras 73-76)"),
        ParameterDecl(name="cache_discovery_rate", unit="events_per_month",
                      doc="expected discoveries of bulk-stored cash per month (para 13)"),
        ParameterDecl(name="cache_share", unit="share",
                      doc="share of remaining reserves lost in one discovered cache"),
    ),
    levers=(
        LeverDecl(name="seizure_effort", default=1.0, low=0.0, high=100.0, unit="multiplier",
                  doc="multiplies the seizure rate (2 = counter-financing twice as effective; "
                      "the seized share is capped at 1)"),
        LeverDecl(name="revenue_disruption", default=0.0, low=0.0, high=1.0, unit="share",
                  doc="share of criminal and oil income cut off by counter-financing"),
        LeverDecl(name="cache_search_intensity", default=1.0, low=0.0, high=100.0,
                  unit="multiplier", doc="multiplies the cache discovery rate"),
    ),
    outputs=(
        OutputDecl(name="reserves", dims=("time",), unit="usd", dtype=np.float64,
                   title="Reserves", better="lower",  # less money for the group
                   doc="reserves at the start of the month"),
        OutputDecl(name="revenue", dims=("time",), unit="usd_per_month", kind="flow",
                   title="Revenue", better="lower",
                   dtype=np.float64,
                   doc="revenue during the month before"),
        OutputDecl(name="spending", dims=("time",), unit="usd_per_month", kind="flow",
                   # it runs the reserves down and also pays for operations: no direction
                   title="Spending",
                   dtype=np.float64,
                   doc="spending actually made during the month before"),
        OutputDecl(name="seized", dims=("time",), unit="usd_per_month", kind="flow",
                   title="Seized, frozen or found", better="higher",
                   dtype=np.float64,
                   doc="reserves seized, frozen or found during the month before"),
        OutputDecl(name="depletion_month", dims=(), unit="months", dtype=np.float64,
                   title="Months until reserves run out", better="lower",
                   doc="months from the start until reserves first reach 0 (NaN: never)"),
    ),
    headline=(SeriesDecl("reserves"), SeriesDecl("revenue"), SeriesDecl("seized"),
              SeriesDecl("spending")),
)


class FinancingModel(Model):
    """Vectorised monthly reserves model (see module docstring).

    >>> model = FinancingModel()
    >>> params = {name: np.zeros(2) for name in (p.name for p in INFO.parameters)}
    >>> params["reserves_initial"] = np.array([100.0, 50.0])
    >>> params["operations_spending"] = np.array([30.0, 30.0])
    >>> levers = {lever.name: np.full(3, lever.default) for lever in INFO.levers}
    >>> from threatsim.stats.variates import ChanceStreams
    >>> got = model.simulate(params, levers, n_months=3,
    ...                      chance=ChanceStreams(seed=0, draw_index=[0, 1]))
    >>> got["reserves"].tolist()
    [[100.0, 70.0, 40.0, 10.0], [50.0, 20.0, 0.0, 0.0]]
    >>> got["depletion_month"].tolist()
    [nan, 2.0]
    """

    info = INFO
    #: ``simulate`` accepts ``out=``: the engine's result buffers to fill in place.
    writes_into_buffers = True
    buffer_dtype = np.dtype(np.float64)

    def check(self, scenario: ScenarioParts) -> list[ScenarioError]:
        """No cross-parameter rules beyond the schema.

        >>> FinancingModel().check(None)
        []
        """
        return []

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
        """One chunk of draws; arrays are (draw, time) and (draw,).

        With *out* (arrays (time, draw) and (draw,) for every wanted output) the
        series are written there and the returned arrays are views of them.
        """
        stock = ReservesStock(params, n_months=n_months, want=want, out=out)
        plan = (params["fighters"] * params["upkeep_per_fighter"]
                + params["transfers_to_affiliates"] + params["operations_spending"])
        if compiled.enabled() and not stock.any_cache:  # no chance to draw month by month
            stock.run_months(n_months, plan, levers)
        else:
            for t in range(n_months):
                stock.step(t, plan, levers, chance)
        return stock.outputs()

    def conservation_residuals(self, outputs: Mapping[str, np.ndarray],
                               ) -> dict[str, np.ndarray]:
        """Money never negative and the month's stock-flow identity (:func:`reserves_residuals`)."""
        return reserves_residuals(outputs)


def reserves_residuals(outputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The identities of the reserves stock, as residuals that are exactly 0.

    Money is never negative (reserves and every flow), and wherever the
    reserves are left above 0, ``R[t+1] = R[t] - seized - spending + revenue``
    to the last bit (computed in that order, as the model does).

    >>> series = {"reserves": np.array([[10.0, 7.0]]), "seized": np.array([[np.nan, 1.0]]),
    ...           "spending": np.array([[np.nan, 4.0]]), "revenue": np.array([[np.nan, 2.0]])}
    >>> {k: v.tolist() for k, v in reserves_residuals(series).items()}["stock-flow identity"]
    [[0.0]]
    """
    out: dict[str, np.ndarray] = {}
    for name in ("reserves", "revenue", "spending", "seized"):
        if name in outputs:  # flows have no value (NaN) at index 0
            values = outputs[name] if name == "reserves" else outputs[name][:, 1:]
            out[f"{name} never negative"] = np.minimum(values, 0.0)
    if {"reserves", "revenue", "spending", "seized"} <= set(outputs):
        r = outputs["reserves"]
        after = r[:, 1:]
        expected = r[:, :-1] - outputs["seized"][:, 1:] - outputs["spending"][:, 1:] + (
            outputs["revenue"][:, 1:])
        # Exhausted reserves are set to exactly 0 (the rounding hair is dropped).
        out["stock-flow identity"] = np.where(after != 0.0, after - expected, 0.0)
    return out


class ReservesStock:
    """The reserves of one chunk of draws, stepped one month at a time.

    Shared by the ``financing`` model (planned spending fixed per draw) and the
    ``coupled`` model (upkeep follows the active fighters each month). Only
    ``plan`` differs between them; the month's arithmetic is this one method.

    >>> params = {p.name: np.zeros(1) for p in INFO.parameters}
    >>> params["reserves_initial"] = np.array([100.0])
    >>> params["extortion_income"] = np.array([5.0])
    >>> levers = {lever.name: np.full(2, lever.default) for lever in INFO.levers}
    >>> stock = ReservesStock(params, n_months=2, want=frozenset({"reserves", "revenue"}))
    >>> from threatsim.stats.variates import ChanceStreams
    >>> for t in range(2):
    ...     stock.step(t, np.array([20.0]), levers, ChanceStreams(seed=0, draw_index=[0]))
    >>> {name: values.tolist() for name, values in stock.outputs().items()}
    {'reserves': [[100.0, 85.0, 70.0]], 'revenue': [[nan, 5.0, 5.0]]}
    """

    def __init__(self, params: Mapping[str, FloatArray], *, n_months: int,
                 want: frozenset[str], out: Mapping[str, np.ndarray] | None = None) -> None:
        self.want = want
        self.reserves = reserves = np.array(params["reserves_initial"], dtype=np.float64)
        n = reserves.shape[0]
        self.income = (params["extortion_income"] + params["ransom_income"]
                       + params["oil_extortion_income"])
        self.invest = np.asarray(params["investment_return"], dtype=np.float64)
        self.seize = np.asarray(params["seizure_rate"], dtype=np.float64)
        self.seize_now = np.empty(n)
        self.cache_rate = np.asarray(params["cache_discovery_rate"], dtype=np.float64)
        self.cache_keep = 1.0 - np.asarray(params["cache_share"], dtype=np.float64)
        self.any_invest = bool(np.any(self.invest))
        self.any_cache = bool(np.any(self.cache_rate)) and bool(np.any(self.cache_keep < 1.0))

        # Month-major buffers: each month writes one contiguous row.
        shape = (n_months + 1, n)
        given = out if out is not None else {}
        self.rec = rec = {name: given[name] if name in given else np.zeros(shape)
                          for name in RESERVES_SERIES if name in want}
        if "reserves" in rec:
            rec["reserves"][0] = reserves
        for name in ("revenue", "spending", "seized"):
            if name in rec:  # no month before the start: flows at index 0 are missing
                rec[name][0] = np.nan
        self.depleted_at = given.get("depletion_month", np.empty(n))
        self.depleted_at.fill(np.nan)
        self.seized = np.empty(n)
        self.revenue = np.empty(n)
        self.avail = np.empty(n)
        self.spend = np.empty(n)
        self.exhausted = np.empty(n, dtype=bool)
        self.track_depletion = "depletion_month" in want

    def _monthly_rates(self, t: int, levers: Mapping[str, FloatArray]) -> tuple[FloatArray,
                                                                                  FloatArray]:
        """Revenue before investment returns and the seized share, for month *t*.

        Both depend on the month only through lever values, which change at a few
        timeline dates at most: they are recomputed only when those values change.
        """
        key = (float(levers["revenue_disruption"][t]), float(levers["seizure_effort"][t]))
        if key != getattr(self, "_rates_key", None):
            self._rates_key = key
            self._income_now = self.income * (1.0 - key[0])
            self._seize_share = np.minimum(self.seize * key[1], 1.0)
        return self._income_now, self._seize_share

    def _cache_losses(self, t: int, levers: Mapping[str, FloatArray],
                      chance: Chance) -> tuple[np.ndarray, np.ndarray] | None:
        """Draws that lose a cache this month and the share of what is left they lose."""
        if not self.any_cache:
            return None
        lam = self.cache_rate * levers["cache_search_intensity"][t]
        hits = chance.poisson(lam, month=t, flow=FinancingFlow.CACHE_FINDS)
        found = np.flatnonzero(hits)
        if not found.size:
            return None
        return found, 1.0 - self.cache_keep[found] ** hits[found]

    def step(self, t: int, plan: FloatArray, levers: Mapping[str, FloatArray],
             chance: Chance) -> None:
        """Advance month *t* with planned spending *plan*; record month ``t + 1``."""
        if compiled.enabled():
            self._step_compiled(t, plan, levers, chance)
        else:
            self._step_numpy(t, plan, levers, chance)

    def _step_compiled(self, t: int, plan: FloatArray, levers: Mapping[str, FloatArray],
                       chance: Chance) -> None:
        """:meth:`_step_numpy` as compiled loops over the draws (the same numbers)."""
        income_now, seize_share = self._monthly_rates(t, levers)
        losses = self._cache_losses(t, levers, chance)
        found, lost_share = losses if losses is not None else (_NO_INDEX, _NO_VALUES)
        rec, n = self.rec, self.reserves.shape[0]
        # Element by element the new stock may overwrite the old one in place.
        new = rec["reserves"][t + 1] if "reserves" in rec else self.reserves
        revenue_row, spend_row, seized_row = (
            rec[name][t + 1] if name in rec else scratch for name, scratch in
            (("revenue", self.revenue), ("spending", self.spend), ("seized", self.seized)))
        _reserves_month(
            self.reserves, _per_draw(income_now, n), _per_draw(seize_share, n),
            _per_draw(self.invest, n), self.any_invest, _per_draw(plan, n), found, lost_share,
            new, revenue_row, spend_row, seized_row,
            any(name in rec for name in ("revenue", "spending", "seized")),
            self.depleted_at, self.track_depletion, float(t + 1))
        self.reserves = new

    def run_months(self, n_months: int, plan: FloatArray,
                   levers: Mapping[str, FloatArray]) -> None:
        """Every month of the horizon in one compiled call (:func:`_reserves_months`):
        what :meth:`step` gives month by month, where no cache can be found (so no chance
        is drawn between months) and the planned spending is fixed.

        One call per chunk instead of one per month: the Python between months held
        the GIL, which kept two threads from running two chunks at once.
        """
        rec, n = self.rec, self.reserves.shape[0]
        none = np.empty((0, n))  # a table of no rows: not recorded
        _reserves_months(
            self.reserves, _per_draw(self.income, n), _per_draw(self.seize, n),
            _per_draw(self.invest, n), self.any_invest, _per_draw(plan, n),
            np.ascontiguousarray(levers["revenue_disruption"][:n_months], dtype=np.float64),
            np.ascontiguousarray(levers["seizure_effort"][:n_months], dtype=np.float64),
            rec.get("reserves", none), rec.get("revenue", none), rec.get("spending", none),
            rec.get("seized", none),
            self.depleted_at, self.track_depletion)
        if "reserves" in rec:
            self.reserves = rec["reserves"][n_months]

    def _step_numpy(self, t: int, plan: FloatArray, levers: Mapping[str, FloatArray],
                    chance: Chance) -> None:
        """The month in vectorised numpy: the reference the compiled kernel must equal."""
        reserves, seized = self.reserves, self.seized
        avail, spend = self.avail, self.spend
        income_now, seize_share = self._monthly_rates(t, levers)
        if self.any_invest:
            revenue = self.revenue
            np.multiply(self.invest, reserves, out=revenue)
            revenue += income_now
        else:
            revenue = income_now
        np.multiply(reserves, seize_share, out=seized)
        losses = self._cache_losses(t, levers, chance)
        if losses is not None:
            found, lost_share = losses
            left = reserves[found] - seized[found]
            # Never more than is there (seized + left * share can round an ulp above).
            seized[found] = np.minimum(seized[found] + left * lost_share, reserves[found])
        np.subtract(reserves, seized, out=avail)
        avail += revenue
        np.minimum(plan, avail, out=spend)
        exhausted = np.greater_equal(plan, avail, out=self.exhausted)
        # R - seized - spending + revenue, left to right, as documented; written
        # straight into the record row when reserves are recorded.
        rec = self.rec
        new = rec["reserves"][t + 1] if "reserves" in rec else reserves
        np.subtract(reserves, seized, out=new)
        new -= spend
        new += revenue
        # When spending took everything, the rounding of that sum may leave a hair
        # either side of zero: it is exactly zero.
        np.copyto(new, 0.0, where=exhausted)
        np.maximum(new, 0.0, out=new)
        # The new stock is next month's starting stock (no copy when it is a record row).
        self.reserves = new
        if self.track_depletion:
            first = (new == 0.0) & np.isnan(self.depleted_at)
            self.depleted_at[first] = t + 1
        if "revenue" in rec:
            rec["revenue"][t + 1] = revenue
        if "spending" in rec:
            rec["spending"][t + 1] = spend
        if "seized" in rec:
            rec["seized"][t + 1] = seized

    def outputs(self) -> dict[str, np.ndarray]:
        """The recorded series as (draw, time) and ``depletion_month`` as (draw,)."""
        out: dict[str, np.ndarray] = {name: arr.T for name, arr in self.rec.items()}
        if "depletion_month" in self.want:
            out["depletion_month"] = self.depleted_at
        return out



_NO_INDEX = np.empty(0, dtype=np.intp)
_NO_VALUES = np.empty(0)


def _per_draw(x: FloatArray, n: int) -> np.ndarray:
    """*x* as a float array of n values (a scalar broadcast), for the kernel."""
    arr = np.asarray(x, dtype=np.float64)
    return arr if arr.shape == (n,) else np.broadcast_to(arr, (n,))


@compiled.kernel
def _settle(r: float, rev: float, seized: float,  # pragma: no cover - compiled
            plan: float) -> tuple[float, float]:
    """Spending and the new stock of one draw, as ``_step_numpy`` computes them."""
    avail = r - seized + rev
    spend = plan if plan <= avail else avail  # np.minimum(plan, avail)
    value = r - seized - spend + rev
    if plan >= avail:  # spending took everything: exactly zero, not a rounding hair
        value = 0.0
    return (value if value >= 0.0 else 0.0), spend  # np.maximum(value, 0.0)


@compiled.kernel
def _reserves_month(  # pragma: no cover - compiled
        reserves: np.ndarray, income_now: np.ndarray, seize_share: np.ndarray,
        invest: np.ndarray, any_invest: bool, plan: np.ndarray, found: np.ndarray,
        lost_share: np.ndarray, new: np.ndarray, revenue_row: np.ndarray,
        spend_row: np.ndarray, seized_row: np.ndarray, keep_flows: bool,
        depleted_at: np.ndarray, track_depletion: bool, month: float) -> None:
    """One month of :meth:`ReservesStock._step_numpy` for every draw.

    The same operations in the same order as the numpy code, so the same
    doubles. Loops are kept free of branches that change per draw so that
    they vectorise: the rare draws that lose a cache this month (*found*) are
    settled again afterwards from their saved starting stock, and the flows
    are computed in a loop of their own only when they are recorded. *new*
    may be *reserves* itself (the stock updated in place).
    """
    n = reserves.shape[0]
    n_found = found.shape[0]
    before = np.empty(n_found)
    for k in range(n_found):
        before[k] = reserves[found[k]]
    if keep_flows:
        for i in range(n):
            r = reserves[i]
            rev = invest[i] * r + income_now[i] if any_invest else income_now[i]
            seized = r * seize_share[i]
            spend = _settle(r, rev, seized, plan[i])[1]
            revenue_row[i] = rev
            spend_row[i] = spend
            seized_row[i] = seized
    if any_invest:
        for i in range(n):
            r = reserves[i]
            new[i] = _settle(r, invest[i] * r + income_now[i], r * seize_share[i], plan[i])[0]
    else:
        for i in range(n):
            r = reserves[i]
            new[i] = _settle(r, income_now[i], r * seize_share[i], plan[i])[0]
    for k in range(n_found):
        i = found[k]
        r = before[k]
        rev = invest[i] * r + income_now[i] if any_invest else income_now[i]
        seized = r * seize_share[i]
        seized = seized + (r - seized) * lost_share[k]
        seized = seized if seized <= r else r  # np.minimum(seized, r)
        value, spend = _settle(r, rev, seized, plan[i])
        new[i] = value
        if keep_flows:
            revenue_row[i] = rev
            spend_row[i] = spend
            seized_row[i] = seized
    if track_depletion:
        for i in range(n):
            d = depleted_at[i]
            depleted_at[i] = month if (new[i] == 0.0 and d != d) else d


@compiled.kernel
def _reserves_months(  # pragma: no cover - compiled
        reserves: np.ndarray, income: np.ndarray, seize: np.ndarray, invest: np.ndarray,
        any_invest: bool, plan: np.ndarray, disruption: np.ndarray, effort: np.ndarray,
        rec_reserves: np.ndarray, rec_revenue: np.ndarray, rec_spending: np.ndarray,
        rec_seized: np.ndarray, depleted_at: np.ndarray, track_depletion: bool) -> None:
    """Every month of :meth:`ReservesStock._step_compiled` for every draw, without caches.

    Month *t*'s rates are :meth:`ReservesStock._monthly_rates`' (income times
    ``1 - disruption[t]``, the seized share ``min(seize * effort[t], 1)``), recomputed
    only when the levers change, and the month is :func:`_reserves_month` itself: the
    same doubles. A ``rec_*`` table of no rows is not recorded; *reserves* holds the
    starting stock and, when the stock is not recorded, ends as the last month's.
    """
    n = reserves.shape[0]
    keep_stock = rec_reserves.shape[0] > 0
    keep = (rec_revenue.shape[0] > 0, rec_spending.shape[0] > 0, rec_seized.shape[0] > 0)
    keep_flows = keep[0] or keep[1] or keep[2]
    # The month runs on contiguous copies: a chunk's records are often a view of the run's
    # (time, draw) table, strided rows that would keep the loops from vectorising.
    cur = reserves.copy() if not keep_stock else rec_reserves[0].copy()
    nxt = np.empty(n)
    income_now = np.empty(n)
    seize_share = np.empty(n)
    flows = np.empty((3, n))
    invest_c = invest.copy()
    plan_c = plan.copy()
    no_index = np.empty(0, dtype=np.intp)
    no_values = np.empty(0)
    last_d = np.nan
    last_e = np.nan
    for t in range(disruption.shape[0]):
        d, e = disruption[t], effort[t]
        if t == 0 or d != last_d or e != last_e:
            factor = 1.0 - d
            for i in range(n):
                income_now[i] = income[i] * factor
                share = seize[i] * e
                seize_share[i] = 1.0 if share > 1.0 else share  # np.minimum: NaN stays
            last_d, last_e = d, e
        _reserves_month(cur, income_now, seize_share, invest_c, any_invest, plan_c, no_index,
                        no_values, nxt, flows[0], flows[1], flows[2], keep_flows, depleted_at,
                        track_depletion, float(t + 1))
        if keep_stock:
            rec_reserves[t + 1, :] = nxt
        if keep[0]:
            rec_revenue[t + 1, :] = flows[0]
        if keep[1]:
            rec_spending[t + 1, :] = flows[1]
        if keep[2]:
            rec_seized[t + 1, :] = flows[2]
        cur, nxt = nxt, cur
    reserves[:] = cur

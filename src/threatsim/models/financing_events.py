"""Model ``financing_events``: ISIL's money moving in lumps, as SimPy events.

The ``financing`` model treats income and spending as smooth monthly flows.
The report describes lumps: ransoms (S/2019/103 paras 14, 28), extortion
collections (para 14), levies on oil cargos (para 13), transfers through
unregistered money-service businesses and gold exchanges (para 15), bulk
cash caches found and seized (para 13). This model simulates those events in
SimPy, one replication per draw, and keeps the same reserves stock on the
same monthly grid as ``financing``, with the same parameters plus the rate of
each kind of event.

Within month ``t`` (days ``t * DAYS_PER_MONTH`` to ``(t + 1) * DAYS_PER_MONTH``):

* At the first instant, a share ``min(1, seizure_rate * seizure_effort[t])``
  of the reserves is seized or frozen. What is left is the bulk-stored cash
  that caches can be found in.
* **Income events** (extortion collections, ransoms, oil levies) arrive as
  Poisson processes at ``*_events`` a month. Each amount is heavy-tailed
  (Pareto type II, tail index :data:`TAIL_INDEX`) with mean
  ``*_income / *_events``, so the expected income a month is ``*_income``
  as in ``financing``. Counter-financing prevents each with probability
  ``revenue_disruption[t]`` (as in ``financing``); the rest reach the group
  through a money-service business or gold exchange (para 15) and are stopped
  on the way with probability ``interception[t]``.
* **Outgoing transfers** to provinces and affiliates (paras 5, 9) arrive at
  ``transfer_events`` a month with mean ``transfers_to_affiliates /
  transfer_events``; an intercepted one is seized on the way (it still leaves
  the reserves). A transfer never sends more than what is left.
* **Cache discoveries** arrive at ``cache_discovery_rate *
  cache_search_intensity[t]`` a month; each takes ``cache_share`` of the
  bulk-stored cash still in the caches.
* At the last instant: the return ``investment_return * R[t]`` is earned,
  then upkeep (``fighters * upkeep_per_fighter``) and operations are paid, as
  far as the reserves allow. A month in which a payment or a transfer could
  not be met in full (the reserves reached 0) sets ``depletion_month``.

So, month by month, ``R[t+1] = R[t] - seized - spending + revenue`` exactly,
money never goes negative, and in expectation (away from exhaustion) the
stock follows the ``financing`` model's arithmetic: with the same parameters
and levers and ``interception = 0`` the two models are two readings of one
process, one smooth and one lumpy (``scenarios/financing_events.toml``
extends ``scenarios/financing.toml``).

Chance: each replication's events come from numpy Generators on its draw's own
stream, one per kind of event (:class:`EventFlow`; each income stream its own
event number), so the events of one kind do not move when another kind's rate,
or another draw, changes.
"""

from __future__ import annotations

import math
from collections.abc import Generator, Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import numpy as np
import simpy

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
from threatsim.models.detention.model import DAYS_PER_MONTH
from threatsim.models.financing import INFO as FINANCING_INFO

__all__ = ["TAIL_INDEX", "EventFlow", "FinancingEventsModel", "simulate_replication"]


class EventFlow(IntEnum):
    """What each Generator of a replication is for (its counter's flow word).

    Part of every run's identity: never renumber, only append.

    >>> [(flow.name, int(flow)) for flow in EventFlow]
    [('INCOME', 1), ('TRANSFERS', 2), ('CACHES', 3)]
    """

    INCOME = 1  # income events: times, amounts, fates (event: the stream in INCOME_STREAMS)
    TRANSFERS = 2  # outgoing transfers: times, amounts, interceptions
    CACHES = 3  # cache discoveries: times

#: Tail index of the Pareto type II (Lomax) amounts: P(amount > x) falls as
#: x ** -2.5 far out, so a few large ransoms carry much of the total, while the
#: variance stays finite (Monte Carlo errors are well defined).
TAIL_INDEX = 2.5

#: Income streams: (name of the event-rate parameter, name of the income parameter).
INCOME_STREAMS = (
    ("extortion_events", "extortion_income"),
    ("ransom_events", "ransom_income"),
    ("oil_events", "oil_extortion_income"),
)

INFO = ModelInfo(
    name="financing_events",
    doc="ISIL reserves with money moving in lumps: ransoms, extortion, oil levies, "
        "transfers, caches (SimPy; S/2019/103 paras 12-15, 28)",
    parameters=(
        *FINANCING_INFO.parameters,
        ParameterDecl(name="extortion_events", unit="events_per_month",
                      doc="extortion collections a month (para 14)"),
        ParameterDecl(name="ransom_events", unit="events_per_month",
                      doc="ransoms paid a month (paras 14, 28)"),
        ParameterDecl(name="oil_events", unit="events_per_month",
                      doc="levies on oil cargos collected a month (para 13)"),
        ParameterDecl(name="transfer_events", unit="events_per_month",
                      doc="transfers to provinces and affiliates a month (paras 5, 9, 15)"),
    ),
    levers=(
        LeverDecl(name="seizure_effort", default=1.0, low=0.0, high=100.0, unit="multiplier",
                  doc="multiplies the seizure rate (the seized share is capped at 1)"),
        LeverDecl(name="revenue_disruption", default=0.0, low=0.0, high=1.0, unit="share",
                  doc="share of criminal and oil income cut off at the source by "
                      "counter-financing (each income event prevented with this chance)"),
        LeverDecl(name="interception", default=0.0, low=0.0, high=1.0, unit="share",
                  doc="chance that one transfer through a money-service business or gold "
                      "exchange is stopped (para 15): income lost, or money to affiliates "
                      "seized"),
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
                   doc="income that reached the group, and investment return, during the "
                       "month before"),
        OutputDecl(name="spending", dims=("time",), unit="usd_per_month", kind="flow",
                   # it runs the reserves down and also pays for operations: no direction
                   title="Spending",
                   dtype=np.float64,
                   doc="upkeep, operations and transfers delivered during the month before"),
        OutputDecl(name="seized", dims=("time",), unit="usd_per_month", kind="flow",
                   title="Seized, frozen or found", better="higher",
                   dtype=np.float64,
                   doc="frozen, found in caches or seized in transfers during the month before"),
        OutputDecl(name="intercepted", dims=("time",), unit="usd_per_month", kind="flow",
                   title="Transfers intercepted", better="higher",
                   dtype=np.float64,
                   doc="value of transfers stopped (income and outgoing) during the month "
                       "before"),
        OutputDecl(name="depletion_month", dims=(), unit="months", dtype=np.float64,
                   title="Months until reserves run out", better="lower",
                   doc="months from the start until reserves first reach 0 (NaN: never)"),
    ),
    headline=(SeriesDecl("reserves"), SeriesDecl("revenue"), SeriesDecl("seized"),
              SeriesDecl("intercepted")),
)

_SERIES = ("reserves", "revenue", "spending", "seized", "intercepted")


def _poisson_times(g: np.random.Generator, rate_per_month: np.ndarray) -> np.ndarray:
    """Event times (days) of a Poisson process with a rate constant within each month."""
    counts = g.poisson(np.maximum(rate_per_month, 0.0))
    total = int(counts.sum())
    if total == 0:
        return np.empty(0)
    month = np.repeat(np.arange(rate_per_month.shape[0]), counts)
    return np.sort((month + g.random(total)) * DAYS_PER_MONTH)


def _amounts(g: np.random.Generator, n: int, mean: float) -> np.ndarray:
    """*n* heavy-tailed amounts with the given mean (Pareto type II)."""
    if n == 0 or mean <= 0.0:
        return np.zeros(n)
    return mean * (TAIL_INDEX - 1.0) * g.pareto(TAIL_INDEX, n)


@dataclass(slots=True)
class _Ledger:
    """The state of one replication, which the event callbacks update."""

    reserves: float
    stored: float = 0.0
    start: float = 0.0
    month: int = 0
    revenue: float = 0.0
    spending: float = 0.0
    seized: float = 0.0
    intercepted: float = 0.0
    capped: bool = False


def simulate_replication(row: Mapping[str, float], levers: Mapping[str, np.ndarray],
                         n_months: int, chance: Chance) -> dict[str, Any]:
    """One replication: the monthly series (``n_months + 1``) and the depletion month.

    *chance* holds the replication's one stream. Every random number is drawn up
    front from Generators on it, one per kind of event (:class:`EventFlow`; one per
    income stream), so changing one rate leaves the other kinds as they were.

    >>> row = {p.name: 0.0 for p in INFO.parameters}
    >>> row.update(reserves_initial=100.0, fighters=10.0, upkeep_per_fighter=3.0,
    ...            seizure_rate=0.5)
    >>> levers = {lever.name: np.full(2, lever.default) for lever in INFO.levers}
    >>> from threatsim.stats.variates import ChanceStreams
    >>> rec = simulate_replication(row, levers, 2, ChanceStreams(seed=0, draw_index=[0]))
    >>> rec["reserves"].tolist(), rec["seized"].tolist()  # half frozen, then 30 paid
    ([100.0, 20.0, 0.0], [nan, 50.0, 10.0])
    >>> rec["depletion_month"]
    2
    """
    g_out = chance.generator(0, flow=EventFlow.TRANSFERS)
    g_cache = chance.generator(0, flow=EventFlow.CACHES)
    interception = np.asarray(levers["interception"], dtype=np.float64)
    disruption = np.asarray(levers["revenue_disruption"], dtype=np.float64)
    effort = np.asarray(levers["seizure_effort"], dtype=np.float64)
    search = np.asarray(levers["cache_search_intensity"], dtype=np.float64)
    ones = np.ones(n_months)

    # The events of the whole run: (time, amount, uniform for interception).
    streams: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]] = []
    for j, (rate_name, income_name) in enumerate(INCOME_STREAMS):
        g_inc = chance.generator(0, flow=EventFlow.INCOME, event=j)
        rate = float(row[rate_name])
        times = _poisson_times(g_inc, rate * ones) if rate > 0 else np.empty(0)
        mean = float(row[income_name]) / rate if rate > 0 else 0.0
        streams.append(("income", times, _amounts(g_inc, times.shape[0], mean),
                        g_inc.random(len(times))))
    rate = float(row["transfer_events"])
    times = _poisson_times(g_out, rate * ones) if rate > 0 else np.empty(0)
    mean = float(row["transfers_to_affiliates"]) / rate if rate > 0 else 0.0
    streams.append(("transfer", times, _amounts(g_out, times.shape[0], mean),
                    g_out.random(len(times))))
    cache_rate = float(row["cache_discovery_rate"]) * search
    times = _poisson_times(g_cache, cache_rate)
    streams.append(("cache", times, np.zeros(times.shape[0]), np.zeros(times.shape[0])))

    seize = float(row["seizure_rate"])
    cache_share = float(row["cache_share"])
    invest = float(row["investment_return"])
    due = float(row["fighters"]) * float(row["upkeep_per_fighter"]) + float(
        row["operations_spending"])

    rec = {name: np.empty(n_months + 1) for name in _SERIES}
    rec["reserves"][0] = float(row["reserves_initial"])
    for name in _SERIES[1:]:
        rec[name][0] = math.nan
    # The state: one object, so the callbacks below can update it.
    s = _Ledger(reserves=float(row["reserves_initial"]))
    depleted = [math.nan]

    def open_month(m: int) -> None:
        s.month = m
        s.start = s.reserves
        frozen = min(1.0, seize * effort[m]) * s.reserves
        s.reserves -= frozen
        s.stored = s.reserves
        s.revenue = s.spending = s.intercepted = 0.0
        s.seized = frozen
        s.capped = False

    def close_month(m: int) -> None:
        gain = invest * s.start
        s.reserves += gain
        s.revenue += gain
        paid = min(due, s.reserves)
        s.reserves -= paid
        s.spending += paid
        if paid < due:
            s.capped = True
        if s.capped and math.isnan(depleted[0]):
            depleted[0] = m + 1
        rec["reserves"][m + 1] = s.reserves
        rec["revenue"][m + 1] = s.revenue
        rec["spending"][m + 1] = s.spending
        rec["seized"][m + 1] = s.seized
        rec["intercepted"][m + 1] = s.intercepted

    def income(amount: float, u: float) -> None:
        m = s.month
        # One uniform decides both: prevented at the source, stopped in transit, or received.
        if u < disruption[m]:
            return
        if u < disruption[m] + (1.0 - disruption[m]) * interception[m]:
            s.intercepted += amount
        else:
            s.reserves += amount
            s.revenue += amount

    def transfer(amount: float, u: float) -> None:
        sent = min(amount, s.reserves)
        if sent < amount:
            s.capped = True
        s.reserves -= sent
        if u < interception[s.month]:
            s.intercepted += sent
            s.seized += sent
        else:
            s.spending += sent

    def cache(amount: float, u: float) -> None:
        loss = cache_share * s.stored
        loss = min(loss, s.reserves)
        s.stored -= loss
        s.reserves -= loss
        s.seized += loss

    handlers = {"income": income, "transfer": transfer, "cache": cache}
    env = simpy.Environment()
    timeout = env.timeout

    def stream(kind: str, times: np.ndarray, amounts: np.ndarray,
               us: np.ndarray) -> Generator[simpy.Event, Any, None]:
        apply = handlers[kind]
        for t, a, u in zip(times.tolist(), amounts.tolist(), us.tolist(), strict=True):
            yield timeout(t - env._now)
            apply(a, u)

    def ledger() -> Generator[simpy.Event, Any, None]:
        for m in range(n_months):
            yield timeout((m + 1) * DAYS_PER_MONTH - env._now)
            close_month(m)
            if m + 1 < n_months:
                open_month(m + 1)

    open_month(0)
    # The ledger is started first: at a shared instant its month-end comes first.
    env.process(ledger())
    for kind, times, amounts, us in streams:
        if times.shape[0]:
            env.process(stream(kind, times, amounts, us))
    env.run()
    return {**rec, "depletion_month": depleted[0]}


class FinancingEventsModel(Model):
    """ISIL reserves with lumpy income, transfers and cache seizures (see module docstring).

    >>> model = FinancingEventsModel()
    >>> params = {p.name: np.zeros(2) for p in INFO.parameters}
    >>> params["reserves_initial"] = np.full(2, 1000.0)
    >>> params["ransom_income"], params["ransom_events"] = np.full(2, 300.0), np.full(2, 2.0)
    >>> levers = {lever.name: np.full(12, lever.default) for lever in INFO.levers}
    >>> from threatsim.stats.variates import ChanceStreams
    >>> got = model.simulate(params, levers, n_months=12,
    ...                      chance=ChanceStreams(seed=3, draw_index=[0, 1]))
    >>> got["reserves"].shape, bool((got["reserves"][:, -1] > 1000.0).all())
    ((2, 13), True)
    """

    info = INFO
    #: Returns new arrays: one SimPy replication per draw fills its own rows.
    writes_into_buffers = False
    buffer_dtype = None

    def check(self, scenario: ScenarioParts) -> list[ScenarioError]:
        """Income needs events to arrive in: a positive income needs a positive event rate."""
        problems: list[ScenarioError] = []
        pairs = (*INCOME_STREAMS, ("transfer_events", "transfers_to_affiliates"))
        for rate_name, amount_name in pairs:
            rate, amount = scenario.parameters.get(rate_name), scenario.parameters.get(
                amount_name)
            if rate is None or amount is None:
                continue
            if rate.dist.bounds()[0] <= 0.0 and amount.dist.bounds()[1] > 0.0:
                key = f"parameters.{rate_name}." + ("value" if rate.dist.kind == "point"
                                                     else "range")
                shown = rate.dist.value if rate.dist.kind == "point" else [rate.dist.low,
                                                                           rate.dist.high]
                problems.append(ScenarioError(
                    f"must be > 0 in every draw while {amount_name} can be above 0: the "
                    "money arrives in events, so no events would mean no money",
                    key=key, value=shown))
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
        """One chunk of draws, one SimPy replication each; (draw, time) and (draw,)."""
        n = int(next(iter(params.values())).shape[0])
        series: dict[str, np.ndarray] = {name: np.empty((n, n_months + 1)) for name in _SERIES
                                         if name in want}
        if "depletion_month" in want:
            series["depletion_month"] = np.empty(n)
        for k in range(n):
            row = {name: float(values[k]) for name, values in params.items()}
            rec = simulate_replication(row, levers, n_months, chance[k:k + 1])
            for name, arr in series.items():
                arr[k] = rec[name]
        return series

    def conservation_residuals(self, outputs: Mapping[str, np.ndarray],
                               ) -> dict[str, np.ndarray]:
        """Money is never negative: the reserves and every flow (NaN at index 0 skipped).

        (The stock-flow identity holds only to rounding here: the events add up
        in another order than the month's flows.)
        """
        out: dict[str, np.ndarray] = {}
        for name in _SERIES:
            if name in outputs:
                values = outputs[name] if name == "reserves" else outputs[name][:, 1:]
                out[f"{name} never negative"] = np.minimum(values, 0.0)
        return out

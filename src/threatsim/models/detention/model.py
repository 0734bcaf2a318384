"""Model ``detention``: screening, trial, prison and repatriation as a discrete-event model.

Detainees are held in Iraq and north-east Syria: about 1,000 foreign terrorist
fighters under arrest in Iraq, nearly 1,000 more plus more than 500 dependants
in north-east Syria, a growing number (S/2019/103 para 17). Criminal justice
systems near the conflict zone are strained (para 58), cases wait in pretrial
detention for long periods (para 56), screening capacity is short (para 54),
some States exempt surrendered members who committed no serious crime
(para 54), and origin States are slow to take back their nationals and their
children (paras 21, 44, 62-63).

One replication per draw (and per replicate), in SimPy:

* **Arrivals**: the initial stock (all foreign) at time 0, then new detainees
  as a Poisson process at ``arrivals_per_month``; a share of them is foreign.
* **Screening**: ``screening_teams`` identical teams (a :class:`Pool`, a
  ``simpy.Resource``), first come first served; each screening takes a random
  time with mean ``screening_days``. ``screening_days = 0`` means no screening
  station (detainees are referred at once).
* **Exemption** (para 54): at the end of screening a share
  ``exemption_share`` (a lever, the value in force that month) is exempted from
  prosecution and leaves custody.
* **Trial**: ``courts`` identical courts, first come first served; each trial
  takes a random time with mean ``trial_days``; a share ``conviction_share``
  is convicted and serves a sentence (mean ``sentence_months``) before release,
  the rest are acquitted and released.
* **Repatriation** (paras 44, 63): at the end of each month the origin States
  take back a share ``repatriation_rate`` of those eligible: dependants still
  held and foreign detainees *waiting* for screening or trial (not those being
  screened or tried). With ``children_first = 1`` children go first.
* Durations are gamma distributed with coefficient of variation
  ``duration_cv`` (1 is exponential, 0 is fixed).
* Levers may change at timeline months; a capacity change takes effect at the
  first instant of its month (waiting cases start at once when courts are
  added; when courts are removed, trials under way finish and no new trial
  starts until fewer than the new number are busy).

Time runs in days; a month is ``DAYS_PER_MONTH = 365.25 / 12`` days. Month
``m`` of the grid is the instant ``m * DAYS_PER_MONTH``; stocks at index ``m``
count every event at or before that instant.

Every random number of a replication is drawn from Generators on the draw's
own stream (keyed by the run seed, the draw's global index and its replicate),
one per purpose (:class:`~threatsim.models.detention.cases.DetentionFlow`:
arrivals, screening times, trial times, sentences, outcomes, repatriation), so
two runs that differ only in levers see the same detainees with the same
durations and outcomes (common random numbers), no draw's numbers depend on
the chunk it runs in, and the fast path below can be fed the very same numbers.

Fast path
---------
Where no one can leave a queue early (``repatriation_rate`` is 0 in every
month) and the numbers of teams and courts never change, both stations are
plain FIFO queues with identical servers: each case starts at
``max(arrival, earliest time a server is free)`` (the Kiefer-Wolfowitz
recursion); it is exact and gives the same times as the SimPy model on the
same random numbers. ``simulate`` uses it automatically. Where numba is
installed it runs fused (:mod:`~threatsim.models.detention.fused`): each
replication drawn into reused row buffers (only the purposes the requested
outputs need) and queued and recorded on the monthly grid in one compiled
pass; otherwise vectorised in numpy over the draws of a chunk, one step per
case, the whole chunk's grid recorded at once. Both give the same numbers.

Compiled event loop
-------------------
Elsewhere (repatriation, capacity changes) ``auto`` runs
:func:`~threatsim.models.detention.events.simulate_events`: SimPy's event
loop replayed in numba, event for event in SimPy's order, so the traces and
the repatriation Generator's state are SimPy's exactly; ``method="simpy"``
forces SimPy itself (the reference semantics), as does the absence of numba.

The model is split by concept; this module holds the declaration and the
chunk driver and re-exports the rest:

* :mod:`~threatsim.models.detention.cases`: random inputs (:class:`Cases`,
  :class:`CaseBatch`), lever :class:`Plan`, :class:`Trace`, drawing;
* :mod:`~threatsim.models.detention.simpy_des`: the SimPy model (:class:`Pool`,
  :func:`simulate_replication`);
* :mod:`~threatsim.models.detention.events`: the SimPy model's event loop compiled
  (:func:`simulate_events`);
* :mod:`~threatsim.models.detention.fastpath`: the Kiefer-Wolfowitz recursion;
* :mod:`~threatsim.models.detention.record`: from times to the monthly grid;
* :mod:`~threatsim.models.detention.fused`: the fast path drawn, queued and
  recorded in one compiled pass per replication (where numba is installed).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

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
from threatsim.models.detention.cases import (
    ALL_FLOWS,
    DAYS_PER_MONTH,
    CaseBatch,
    Cases,
    DetentionFlow,
    GivenArrivals,
    Plan,
    Trace,
    draw_batch,
    draw_cases,
)
from threatsim.models.detention.events import simulate_events
from threatsim.models.detention.fastpath import (
    BATCH_CELLS,
    FifoBatch,
    batch_traces,
    fast_path_applies,
    fifo_batch,
    fifo_starts,
    fifo_traces,
)
from threatsim.models.detention.fused import flows_for, fused_rows
from threatsim.models.detention.record import record, record_batch
from threatsim.models.detention.simpy_des import Pool, simulate_replication

__all__ = [
    "DAYS_PER_MONTH",
    "CaseBatch",
    "Cases",
    "DetentionModel",
    "FifoBatch",
    "Plan",
    "Pool",
    "Trace",
    "batch_traces",
    "draw_batch",
    "draw_cases",
    "fast_path_applies",
    "fifo_batch",
    "fifo_starts",
    "fifo_traces",
    "record",
    "record_batch",
    "simulate_chunk",
    "simulate_events",
    "simulate_replication",
    "simulate_rows",
    "simulate_traces",
]

Method = Literal["auto", "simpy", "fifo", "events"]

INFO = ModelInfo(
    name="detention",
    doc="Detainees through screening, trial, prison and repatriation (SimPy; "
        "S/2019/103 paras 17, 21, 44, 52-64)",
    parameters=(
        ParameterDecl(name="detained_iraq", unit="people",
                      doc="foreign terrorist fighters under arrest in Iraq at the start (para 17)"),
        ParameterDecl(name="detained_syria", unit="people",
                      doc="foreign terrorist fighters detained in north-east Syria (para 17)"),
        ParameterDecl(name="dependants_syria", unit="people",
                      doc="their dependants detained in north-east Syria (para 17)"),
        ParameterDecl(name="arrivals_per_month", unit="people_per_month",
                      doc="new detainees a month (Poisson arrivals)"),
        ParameterDecl(name="arrivals_foreign_share", unit="share",
                      doc="share of new detainees who are foreign (may be repatriated)"),
        ParameterDecl(name="dependants_child_share", unit="share",
                      doc="share of dependants who are children (paras 21, 62)"),
        ParameterDecl(name="screening_days", unit="days",
                      doc="mean time one team takes to screen one detainee (0: no screening)"),
        ParameterDecl(name="trial_days", unit="days",
                      doc="mean time one court takes to try one case"),
        ParameterDecl(name="duration_cv", unit="share",
                      doc="coefficient of variation of screening, trial and sentence "
                          "durations (1: exponential, 0: fixed)"),
        ParameterDecl(name="conviction_share", unit="share",
                      doc="share of trials that end in a conviction"),
        ParameterDecl(name="sentence_months", unit="months",
                      doc="mean prison sentence of the convicted"),
    ),
    levers=(
        LeverDecl(name="screening_teams", default=10, low=1, high=1000, integer=True,
                  unit="teams", doc="screening teams working at once (para 54)"),
        LeverDecl(name="courts", default=10, low=1, high=1000, integer=True, unit="courts",
                  doc="courts (or trial chambers) trying cases at once (paras 56-58)"),
        LeverDecl(name="exemption_share", default=0.0, low=0.0, high=1.0, unit="share",
                  doc="share of screened detainees exempted from prosecution after "
                      "surrender (para 54)"),
        LeverDecl(name="repatriation_rate", default=0.0, low=0.0, high=1.0,
                  unit="share_per_month",
                  doc="share of eligible foreign detainees and dependants their States "
                      "take back each month (paras 44, 63)"),
        LeverDecl(name="children_first", default=0, low=0, high=1, integer=True, unit="flag",
                  doc="1: children are repatriated before anyone else (para 63)"),
    ),
    # Counts of people are whole numbers held as float64, as the recorders fill them.
    outputs=(
        OutputDecl(name="backlog_screening", dims=("time",), unit="people", dtype=np.float64,
                   title="Awaiting screening", better="lower",
                   doc="detainees awaiting or in screening"),
        OutputDecl(name="backlog_trial", dims=("time",), unit="people", dtype=np.float64,
                   title="Trial backlog", better="lower",
                   doc="detainees referred for trial whose trial has not ended"),
        OutputDecl(name="in_prison", dims=("time",), unit="people", dtype=np.float64,
                   title="In prison",
                   doc="convicted and serving a sentence"),
        OutputDecl(name="held_dependants", dims=("time",), unit="people", dtype=np.float64,
                   title="Dependants held", better="lower",
                   doc="dependants still held (awaiting repatriation)"),
        OutputDecl(name="repatriated", dims=("time",), unit="people", dtype=np.float64,
                   title="Repatriated (cumulative)", better="higher",
                   doc="detainees and dependants repatriated so far (cumulative)"),
        OutputDecl(name="released", dims=("time",), unit="people", dtype=np.float64,
                   title="Released after sentence (cumulative)",
                   doc="released after serving a sentence (cumulative)"),
        OutputDecl(name="exempted", dims=("time",), unit="people", dtype=np.float64,
                   title="Exempted after screening (cumulative)",
                   doc="exempted from prosecution after screening (cumulative)"),
        OutputDecl(name="convicted", dims=("time",), unit="people", dtype=np.float64,
                   title="Convicted (cumulative)",
                   doc="trials ended in conviction (cumulative)"),
        OutputDecl(name="acquitted", dims=("time",), unit="people", dtype=np.float64,
                   title="Acquitted (cumulative)",
                   doc="trials ended in acquittal (cumulative)"),
        OutputDecl(name="arrived", dims=("time",), unit="people", dtype=np.float64,
                   title="Everyone held so far",
                   doc="everyone held so far: initial stock, dependants and new arrivals "
                       "(cumulative)"),
        OutputDecl(name="pretrial_wait_median", dims=(), unit="days", dtype=np.float64,
                   title="Median wait for trial", better="lower",
                   doc="median days from arrival to the start of trial of those referred "
                       "for trial (NaN: more than half still waiting at the end)"),
        OutputDecl(name="pretrial_wait_p90", dims=(), unit="days", dtype=np.float64,
                   title="90th percentile wait for trial", better="lower",
                   doc="90th percentile of the same waits (NaN: more than 10 % still "
                       "waiting at the end)"),
    ),
    headline=(SeriesDecl("backlog_trial"), SeriesDecl("backlog_screening"),
              SeriesDecl("in_prison"), SeriesDecl("held_dependants"),
              SeriesDecl("repatriated")),
)


# -- the model ----------------------------------------------------------------------------


def _rows(params: Mapping[str, FloatArray], n: int) -> list[dict[str, float]]:
    lists = {name: np.asarray(values, dtype=np.float64).tolist()
             for name, values in params.items()}
    return [{name: values[k] for name, values in lists.items()} for k in range(n)]


def _use_fifo(plan: Plan, method: str) -> bool:
    if method not in ("auto", "simpy", "fifo", "events"):
        msg = f"method must be 'auto', 'simpy', 'fifo' or 'events' (got {method!r})"
        raise ValueError(msg)
    return method == "fifo" or (method == "auto" and fast_path_applies(plan))


def _prepare(params: Mapping[str, FloatArray], levers: Mapping[str, np.ndarray],
             n_months: int, method: str) -> tuple[Plan, bool, list[dict[str, float]]]:
    """The plan, whether the fast path runs, and each draw's parameters."""
    plan = Plan.from_levers(levers, n_months)
    fifo = _use_fifo(plan, method)
    if fifo and not fast_path_applies(plan):
        msg = "the fast path needs fixed capacities and no repatriation"
        raise ValueError(msg)
    n = int(next(iter(params.values())).shape[0]) if params else 0
    return plan, fifo, _rows(params, n)


def _run(plan: Plan, fifo: bool, rows: list[dict[str, float]], chance: Chance,
         given: GivenArrivals | None = None, *, simpy: bool = False,
         flows: frozenset[DetentionFlow] = ALL_FLOWS,
         ) -> tuple[CaseBatch, FifoBatch | list[Trace]]:
    """Draw and run the replications of *rows* (*chance*: their streams; *given*: their
    arrivals, if another model counted them). Off the fast path each replication runs
    compiled (:func:`simulate_events`, the same trace), or in SimPy with *simpy*. Only
    the purposes *flows* are drawn (:func:`~threatsim.models.detention.fused.flows_for`)."""
    cb = draw_batch(rows, plan.n_months, chance, exempts=plan.exempts, given=given,
                    flows=flows)
    if fifo:
        return cb, fifo_batch(cb, plan)
    replicate = simulate_replication if simpy else simulate_events
    return cb, [replicate(cb.case(k), plan, chance.generator(k, flow=DetentionFlow.REPATRIATION))
                for k in range(cb.size)]


def _parts(rows: list[dict[str, float]], n_months: int,
           given: GivenArrivals | None = None) -> list[slice]:
    """Consecutive draws, in parts of about :data:`BATCH_CELLS` expected cases in all.

    Each draw has its own stream, so how a chunk is cut does not change any
    number; it bounds memory whatever the chunk size.
    """
    if not rows:
        return []
    widest = (float(given.total().max()) if given is not None else
              max(int(r["detained_iraq"]) + int(r["detained_syria"])
                  + float(r["arrivals_per_month"]) * n_months for r in rows))
    per = max(1, int(BATCH_CELLS // max(1.0, widest)))
    return [slice(i, min(len(rows), i + per)) for i in range(0, len(rows), per)]


def simulate_rows(plan: Plan, fifo: bool, rows: list[dict[str, float]], chance: Chance,
                  want: frozenset[str], given: GivenArrivals | None = None, *,
                  simpy: bool = False) -> dict[str, np.ndarray]:
    """The wanted outputs of every draw of *rows*, (draw, time) or (draw,): drawn and run
    part by part of the chunk (:func:`_parts`), so memory is bounded by
    :data:`BATCH_CELLS`, not by the chunk. *given*: arrivals another model counted
    (the ``fighters_detention`` model), instead of the Poisson process. *fifo*: the
    fast path (fused, one compiled pass a replication, where numba is installed:
    :func:`~threatsim.models.detention.fused.fused_rows`, the same numbers); otherwise
    the compiled event loop, or SimPy itself with *simpy*."""
    if fifo and compiled.enabled():
        return fused_rows(plan, rows, chance, want, given)
    n = len(rows)
    series: dict[str, np.ndarray] = {}
    for decl in INFO.outputs:
        if decl.name in want:
            series[decl.name] = np.empty((n, plan.n_months + 1) if decl.dims else (n,))
    for part in _parts(rows, plan.n_months, given):
        cb, result = _run(plan, fifo, rows[part], chance[part],
                          None if given is None else given[part], simpy=simpy,
                          flows=flows_for(want) if fifo else ALL_FLOWS)
        if isinstance(result, FifoBatch):
            recorded = record_batch(cb, result, plan, want)
            for name, arr in series.items():
                arr[part] = recorded[name]
            continue
        for k, trace in enumerate(result):
            rec = record(cb.case(k), trace, plan)
            for name, arr in series.items():
                arr[part.start + k] = rec[name]
    return series


def simulate_chunk(
    params: Mapping[str, FloatArray],
    levers: Mapping[str, np.ndarray],
    *,
    n_months: int,
    chance: Chance,
    method: Method = "auto",
) -> tuple[Plan, CaseBatch, FifoBatch | list[Trace]]:
    """Draw and run every replication of a chunk, all at once (for inspection).

    The fast path's result is a :class:`FifoBatch` (times as rows, see
    :func:`record_batch`), the other paths' one :class:`Trace` per draw.
    *method*: ``"simpy"`` (the reference semantics), ``"events"`` (SimPy's
    event loop compiled, :func:`simulate_events`: the same traces), ``"fifo"``
    (the exact fast path; refused where it does not apply) or ``"auto"`` (the
    fast path where it applies, else the compiled event loop). Draw *k* has its
    own stream, ``chance[k]``: one Generator on it for each purpose of its cases
    and one for the repatriation rounds.

    >>> row = dict(detained_iraq=3, detained_syria=0, dependants_syria=2,
    ...            arrivals_per_month=0.0, arrivals_foreign_share=0.0,
    ...            dependants_child_share=1.0, screening_days=0.0, trial_days=10.0,
    ...            duration_cv=0.0, conviction_share=1.0, sentence_months=100.0)
    >>> params = {name: np.full(2, float(value)) for name, value in row.items()}
    >>> levers = {"screening_teams": np.full(2, 1.0), "courts": np.full(2, 1.0),
    ...           "exemption_share": np.zeros(2), "repatriation_rate": np.zeros(2),
    ...           "children_first": np.zeros(2)}
    >>> from threatsim.stats.variates import ChanceStreams
    >>> chance = ChanceStreams(seed=0, draw_index=[0, 1])
    >>> plan, cb, result = simulate_chunk(params, levers, n_months=2, chance=chance)
    >>> cb.size, type(result).__name__  # fixed capacities, no repatriation: the fast path
    (2, 'FifoBatch')
    """
    plan, fifo, rows = _prepare(params, levers, n_months, method)
    cb, result = _run(plan, fifo, rows, chance, simpy=method == "simpy")
    return plan, cb, result


def simulate_traces(
    params: Mapping[str, FloatArray],
    levers: Mapping[str, np.ndarray],
    *,
    n_months: int,
    chance: Chance,
    method: Method = "auto",
) -> tuple[Plan, list[Cases], list[Trace]]:
    """:func:`simulate_chunk` with one :class:`Cases` and one :class:`Trace` per draw.

    >>> row = dict(detained_iraq=3, detained_syria=0, dependants_syria=2,
    ...            arrivals_per_month=0.0, arrivals_foreign_share=0.0,
    ...            dependants_child_share=1.0, screening_days=0.0, trial_days=10.0,
    ...            duration_cv=0.0, conviction_share=1.0, sentence_months=100.0)
    >>> params = {name: np.full(2, float(value)) for name, value in row.items()}
    >>> levers = {"screening_teams": np.full(2, 1.0), "courts": np.full(2, 1.0),
    ...           "exemption_share": np.zeros(2), "repatriation_rate": np.zeros(2),
    ...           "children_first": np.zeros(2)}
    >>> from threatsim.stats.variates import ChanceStreams
    >>> chance = ChanceStreams(seed=0, draw_index=[0, 1])
    >>> plan, cases, traces = simulate_traces(params, levers, n_months=2, chance=chance,
    ...                                       method="simpy")
    >>> len(cases), traces[0].trial_end.tolist()
    (2, [10.0, 20.0, 30.0])"""
    plan, cb, result = simulate_chunk(params, levers, n_months=n_months, chance=chance,
                                      method=method)
    cases = [cb.case(k) for k in range(cb.size)]
    traces = batch_traces(cb, result, plan) if isinstance(result, FifoBatch) else result
    return plan, cases, traces


class DetentionModel(Model):
    """Detainees through screening, trial, prison and repatriation (see module docstring).

    *method* picks the path each chunk runs: ``"auto"`` (the fast path where
    it applies, else the compiled event loop), ``"simpy"``, ``"events"`` or
    ``"fifo"`` (see :func:`simulate_chunk`).

    >>> model = DetentionModel()
    >>> params = {p.name: np.zeros(2) for p in INFO.parameters}
    >>> params["detained_iraq"] = np.full(2, 5.0)
    >>> params["trial_days"], params["conviction_share"] = np.full(2, 10.0), np.ones(2)
    >>> params["sentence_months"] = np.full(2, 100.0)
    >>> levers = {lever.name: np.full(3, float(lever.default)) for lever in INFO.levers}
    >>> from threatsim.stats.variates import ChanceStreams
    >>> got = model.simulate(params, levers, n_months=3,
    ...                      chance=ChanceStreams(seed=4, draw_index=[0, 1]),
    ...                      outputs=frozenset({"backlog_trial", "in_prison"}))
    >>> (got["backlog_trial"] + got["in_prison"]).tolist()  # five detainees, tried in turn
    [[5.0, 5.0, 5.0, 5.0], [5.0, 5.0, 5.0, 5.0]]
    >>> got["in_prison"][:, -1].tolist()  # ten courts, ten days a trial: all tried
    [5.0, 5.0]
    """

    info = INFO
    #: Returns new arrays (filled part by part of the chunk).
    writes_into_buffers = False
    buffer_dtype = None

    def __init__(self, method: Method = "auto") -> None:
        self.method: Method = method

    def check(self, scenario: ScenarioParts) -> list[ScenarioError]:
        """A trial must take some time: ``trial_days`` must be above 0 in every draw."""
        problems: list[ScenarioError] = []
        trial = scenario.parameters.get("trial_days")
        if trial is not None:
            low, _ = trial.dist.bounds()
            if not low > 0.0:
                key = "parameters.trial_days." + ("value" if trial.dist.kind == "point"
                                                  else "range")
                shown = trial.dist.value if trial.dist.kind == "point" else [
                    trial.dist.low, trial.dist.high]
                problems.append(ScenarioError(
                    "must be > 0 days in every draw: a trial takes time (a court that "
                    "tries cases instantly never builds a backlog)", key=key, value=shown))
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
        """One chunk of draws, one replication each; arrays (draw, time) and (draw,)."""
        plan, fifo, rows = _prepare(params, levers, n_months, self.method)
        return simulate_rows(plan, fifo, rows, chance, want, simpy=self.method == "simpy")

    def conservation_residuals(self, outputs: Mapping[str, np.ndarray],
                               ) -> dict[str, np.ndarray]:
        """Everyone who arrived is in exactly one state; the convicted are in prison or
        released; no count is negative."""
        out: dict[str, np.ndarray] = {}
        for name in (*_STATES, "convicted", "arrived"):
            if name in outputs:
                out[f"{name} never negative"] = np.minimum(outputs[name], 0.0)
        if set(_STATES) | {"arrived"} <= set(outputs):
            out["everyone in one state"] = (sum(outputs[s] for s in _STATES)
                                            - outputs["arrived"])
        if {"convicted", "in_prison", "released"} <= set(outputs):
            out["convicted in prison or released"] = (
                outputs["convicted"] - outputs["in_prison"] - outputs["released"])
        return out


#: The states a person held is in at each month (their sum is ``arrived``).
_STATES = ("backlog_screening", "backlog_trial", "in_prison", "held_dependants", "repatriated",
           "released", "exempted", "acquitted")

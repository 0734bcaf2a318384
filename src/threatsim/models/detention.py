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

Every random number of a replication is drawn before it runs, from streams
spawned per draw and per purpose (arrivals, screening times, trial times,
sentences, outcomes, repatriation), so two runs that differ only in levers see
the same detainees with the same durations and outcomes (common random
numbers), and the fast path below can be fed the very same numbers.

Fast path
---------
Where no one can leave a queue early (``repatriation_rate`` is 0 in every
month) and the numbers of teams and courts never change, both stations are
plain FIFO queues with identical servers: each case starts at
``max(arrival, earliest time a server is free)`` (the Kiefer-Wolfowitz
recursion). :func:`fifo_traces` runs it vectorised in numpy over the draws of a
chunk, one step per case; it is exact and gives the same times as the SimPy
model on the same random numbers. ``simulate`` uses it automatically.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import simpy

from threatsim.errors import ScenarioError
from threatsim.models import FloatArray, LeverDecl, ModelInfo, OutputDecl, ParameterDecl

__all__ = [
    "DAYS_PER_MONTH",
    "Cases",
    "DetentionModel",
    "Plan",
    "Pool",
    "Trace",
    "draw_cases",
    "fast_path_applies",
    "fifo_starts",
    "fifo_traces",
    "record",
    "simulate_replication",
    "simulate_traces",
]

#: The time unit of the model is the day; a month is a twelfth of a Julian year.
DAYS_PER_MONTH = 365.25 / 12

Method = Literal["auto", "simpy", "fifo"]

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
    outputs=(
        OutputDecl(name="backlog_screening", dims=("time",), unit="people",
                   doc="detainees awaiting or in screening"),
        OutputDecl(name="backlog_trial", dims=("time",), unit="people",
                   doc="detainees referred for trial whose trial has not ended"),
        OutputDecl(name="in_prison", dims=("time",), unit="people",
                   doc="convicted and serving a sentence"),
        OutputDecl(name="held_dependants", dims=("time",), unit="people",
                   doc="dependants still held (awaiting repatriation)"),
        OutputDecl(name="repatriated", dims=("time",), unit="people",
                   doc="detainees and dependants repatriated so far (cumulative)"),
        OutputDecl(name="released", dims=("time",), unit="people",
                   doc="released after serving a sentence (cumulative)"),
        OutputDecl(name="exempted", dims=("time",), unit="people",
                   doc="exempted from prosecution after screening (cumulative)"),
        OutputDecl(name="convicted", dims=("time",), unit="people",
                   doc="trials ended in conviction (cumulative)"),
        OutputDecl(name="acquitted", dims=("time",), unit="people",
                   doc="trials ended in acquittal (cumulative)"),
        OutputDecl(name="arrived", dims=("time",), unit="people",
                   doc="everyone held so far: initial stock, dependants and new arrivals "
                       "(cumulative)"),
        OutputDecl(name="pretrial_wait_median", dims=(), unit="days",
                   doc="median days from arrival to the start of trial of those referred "
                       "for trial (NaN: more than half still waiting at the end)"),
        OutputDecl(name="pretrial_wait_p90", dims=(), unit="days",
                   doc="90th percentile of the same waits (NaN: more than 10 % still "
                       "waiting at the end)"),
    ),
)

_INF = math.inf


# -- random inputs, plan, trace ------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class Cases:
    """One replication's random inputs, detainees in arrival order (days).

    The first ``n_initial`` detainees are the initial stock, held at time 0.
    Dependants are not prosecuted; they are held until repatriated.
    """

    arrive: FloatArray
    foreign: np.ndarray
    screen_days: FloatArray
    trial_days: FloatArray
    sentence_days: FloatArray
    u_exempt: FloatArray
    convicted: np.ndarray
    child: np.ndarray
    n_initial: int
    horizon_days: float

    @property
    def n(self) -> int:
        """Number of detainees (dependants not counted)."""
        return int(self.arrive.shape[0])

    @property
    def skip_screening(self) -> bool:
        """No screening station in this replication (all screening times are 0)."""
        return not bool(np.any(self.screen_days))


@dataclass(frozen=True, slots=True, eq=False)
class Plan:
    """Lever schedules (the value in force during each month) and the horizon."""

    n_months: int
    screening_teams: np.ndarray
    courts: np.ndarray
    exemption_share: FloatArray
    repatriation_rate: FloatArray
    children_first: np.ndarray

    @classmethod
    def from_levers(cls, levers: Mapping[str, np.ndarray], n_months: int) -> Plan:
        """Build a plan from the engine's lever schedules (arrays of ``n_months``)."""
        def get(name: str) -> np.ndarray:
            arr = np.asarray(levers[name], dtype=np.float64)
            if arr.shape != (n_months,):
                arr = np.broadcast_to(arr, (n_months,)).copy()
            return arr
        return cls(
            n_months=n_months,
            screening_teams=np.rint(get("screening_teams")).astype(np.int64),
            courts=np.rint(get("courts")).astype(np.int64),
            exemption_share=get("exemption_share"),
            repatriation_rate=get("repatriation_rate"),
            children_first=np.rint(get("children_first")).astype(np.int64),
        )

    @property
    def horizon_days(self) -> float:
        """Length of the run in days."""
        return self.n_months * DAYS_PER_MONTH

    def grid(self) -> FloatArray:
        """The instants (days) of the monthly grid, ``n_months + 1`` of them."""
        return np.arange(self.n_months + 1) * DAYS_PER_MONTH


@dataclass(frozen=True, slots=True, eq=False)
class Trace:
    """What happened to each detainee (days; ``inf``: not by the end of the run).

    ``repatriated_from`` is 0 (not repatriated), 1 (from the screening queue) or
    2 (from the trial queue).
    """

    screen_end: FloatArray
    trial_start: FloatArray
    trial_end: FloatArray
    exempt: np.ndarray
    repatriated_at: FloatArray
    repatriated_from: np.ndarray
    dependant_repatriated_at: FloatArray


def _durations(g: np.random.Generator, n: int, mean: float, cv: float) -> FloatArray:
    """*n* gamma durations with *mean* and coefficient of variation *cv*."""
    if n == 0 or mean <= 0.0:
        return np.zeros(n)
    if cv <= 0.0:
        return np.full(n, mean)
    if cv == 1.0:
        return g.exponential(mean, n)
    shape = 1.0 / (cv * cv)
    return g.gamma(shape, mean / shape, n)


def draw_cases(row: Mapping[str, float], n_months: int, rng: np.random.Generator) -> Cases:
    """Draw one replication's detainees and their durations and outcomes.

    *row* holds one draw's parameter values; *rng* is that draw's own stream.
    Each purpose has its own child stream, so a change in one parameter (say
    ``trial_days``) leaves the arrival times and outcomes as they were.
    """
    g_arr, g_scr, g_tri, g_sen, g_out, g_dep = rng.spawn(6)
    horizon = n_months * DAYS_PER_MONTH
    n0 = int(row["detained_iraq"]) + int(row["detained_syria"])
    n_dep = int(row["dependants_syria"])
    rate = float(row["arrivals_per_month"]) / DAYS_PER_MONTH
    n_new = int(g_arr.poisson(rate * horizon)) if rate > 0 else 0
    # A Poisson process on [0, horizon]: given a Poisson count n, the times are the
    # order statistics of n uniforms, i.e. the first n partial sums of n + 1
    # exponentials over their total (no sort needed).
    sums = np.cumsum(g_arr.standard_exponential(n_new + 1))
    arrive = np.concatenate([np.zeros(n0), sums[:-1] * (horizon / sums[-1])])
    foreign = np.concatenate([np.ones(n0, dtype=bool),
                              g_arr.random(n_new) < float(row["arrivals_foreign_share"])])
    n = n0 + n_new
    cv = float(row["duration_cv"])
    screen_days = _durations(g_scr, n, float(row["screening_days"]), cv)
    trial_days = _durations(g_tri, n, float(row["trial_days"]), cv)
    sentence_days = _durations(g_sen, n, float(row["sentence_months"]) * DAYS_PER_MONTH, cv)
    u_exempt = g_out.random(n)
    convicted = g_out.random(n) < float(row["conviction_share"])
    child = g_dep.random(n_dep) < float(row["dependants_child_share"])
    return Cases(arrive=arrive, foreign=foreign, screen_days=screen_days,
                 trial_days=trial_days, sentence_days=sentence_days, u_exempt=u_exempt,
                 convicted=convicted, child=child, n_initial=n0, horizon_days=horizon)


# -- the SimPy model -------------------------------------------------------------------


class _FifoQueue(deque):
    """A deque that also answers ``pop(0)`` in O(1) (SimPy pops the head of the queue)."""

    def pop(self, idx: int = -1) -> Any:  # type: ignore[override]
        if idx == 0:
            return self.popleft()
        if idx == -1:
            return super().pop()
        item = self[idx]
        del self[idx]
        return item


class Pool(simpy.Resource):
    """``simpy.Resource`` whose capacity can change during a run.

    Requests wait in a deque (first come first served; long queues stay cheap).
    Raising the capacity admits waiting requests at once; lowering it lets the
    current users finish and admits no one until fewer than the new capacity
    are busy.
    """

    PutQueue = _FifoQueue

    def set_capacity(self, capacity: int) -> None:
        """Change the number of servers from now on."""
        if capacity < 1:
            msg = f"capacity must be >= 1 (got {capacity})"
            raise ValueError(msg)
        self._capacity = int(capacity)
        # SimPy's Resource admits one waiting request per trigger; admit until full.
        while self.put_queue and len(self.users) < self._capacity:
            self._trigger_put(None)

    def withdraw(self, requests: Iterable[simpy.resources.resource.Request]) -> None:
        """Take waiting *requests* out of the queue (they will never be granted)."""
        gone = set(map(id, requests))
        keep = [r for r in self.put_queue if id(r) not in gone]
        self.put_queue.clear()
        self.put_queue.extend(keep)


def simulate_replication(cases: Cases, plan: Plan, rng: np.random.Generator) -> Trace:
    """Run one replication in SimPy (the reference semantics).

    *rng* is used only for the repatriation rounds (how many, and whom); all
    other chance is in *cases*. Events are plain callbacks on SimPy events
    (no per-detainee process objects); what happens is written into
    preallocated lists indexed by detainee.
    """
    n, n_months = cases.n, plan.n_months
    horizon = plan.horizon_days
    grid = plan.grid()
    env = simpy.Environment()
    screening = Pool(env, capacity=int(plan.screening_teams[0]))
    courts = Pool(env, capacity=int(plan.courts[0]))
    arrive = cases.arrive.tolist()
    sdur = cases.screen_days.tolist()
    tdur = cases.trial_days.tolist()
    u_ex = cases.u_exempt.tolist()
    ex_share = plan.exemption_share.tolist()
    foreign = cases.foreign.tolist()
    t_se = [_INF] * n
    t_ts = [_INF] * n
    t_te = [_INF] * n
    exempt = bytearray(n)
    rep_at = [_INF] * n
    rep_from = bytearray(n)
    n_dep = int(cases.child.shape[0])
    dep_at = [_INF] * n_dep
    timeout = env.timeout
    ask_screen, ask_court = screening.request, courts.request
    release_screen, release_court = screening.release, courts.release
    last_month = n_months - 1

    def trial_end(ev: simpy.Event) -> None:
        req = ev._value
        release_court(req)
        t_te[req.case] = env._now

    def trial_start(req: simpy.Event) -> None:
        i = req.case
        t_ts[i] = env._now
        timeout(tdur[i], req).callbacks.append(trial_end)

    def screened(i: int) -> None:
        now = env._now
        t_se[i] = now
        m = int(now / DAYS_PER_MONTH)
        if u_ex[i] < ex_share[m if m < last_month else last_month]:
            exempt[i] = 1
        else:
            req = ask_court()
            req.case = i
            req.callbacks.append(trial_start)

    def screen_end(ev: simpy.Event) -> None:
        req = ev._value
        release_screen(req)
        screened(req.case)

    def screen_start(req: simpy.Event) -> None:
        timeout(sdur[req.case], req).callbacks.append(screen_end)

    if cases.skip_screening:
        admit = screened
    else:
        def admit(i: int) -> None:
            req = ask_screen()
            req.case = i
            req.callbacks.append(screen_start)

    def arrival(ev: simpy.Event) -> None:
        i = ev._value
        admit(i)
        j = i + 1
        if j < n:
            timeout(arrive[j] - env._now, j).callbacks.append(arrival)

    for i in range(cases.n_initial):
        admit(i)
    if cases.n_initial < n:
        timeout(arrive[cases.n_initial], cases.n_initial).callbacks.append(arrival)

    # Month-boundary actions: repatriation at the end of month b - 1, then the
    # capacities of month b.
    held = list(range(n_dep))
    child = cases.child.tolist()
    rates = plan.repatriation_rate
    first = plan.children_first
    teams, crts = plan.screening_teams, plan.courts

    def repatriate(m: int, at: float) -> None:
        waiting = [(1, r) for r in screening.put_queue if foreign[r.case]]
        waiting += [(2, r) for r in courts.put_queue if foreign[r.case]]
        eligible = len(held) + len(waiting)
        if eligible == 0:
            return
        k = int(rng.binomial(eligible, rates[m]))
        if k == 0:
            return
        # Eligible people are numbered: held dependants first, then the queues.
        if first[m]:
            kids = [j for j, d in enumerate(held) if child[d]]
            if k <= len(kids):
                chosen = [kids[j] for j in rng.choice(len(kids), size=k, replace=False)]
            else:
                is_kid = set(kids)
                rest = [j for j in range(eligible) if j not in is_kid]
                chosen = kids + [rest[j] for j in rng.choice(len(rest), size=k - len(kids),
                                                             replace=False)]
        else:
            chosen = rng.choice(eligible, size=k, replace=False).tolist()
        n_held = len(held)
        gone_deps = set()
        gone: dict[int, list] = {1: [], 2: []}
        for j in chosen:
            if j < n_held:
                d = held[j]
                dep_at[d] = at
                gone_deps.add(d)
            else:
                where, req = waiting[j - n_held]
                rep_at[req.case] = at
                rep_from[req.case] = where
                gone[where].append(req)
        if gone_deps:
            held[:] = [d for d in held if d not in gone_deps]
        if gone[1]:
            screening.withdraw(gone[1])
        if gone[2]:
            courts.withdraw(gone[2])

    actions = []
    for b in range(1, n_months + 1):
        rep = rates[b - 1] > 0.0
        cap = b < n_months and (teams[b] != teams[b - 1] or crts[b] != crts[b - 1])
        if rep or cap:
            actions.append((b, rep, cap))

    def control() -> Any:
        for b, rep, cap in actions:
            yield timeout(grid[b] - env._now)
            if rep:
                repatriate(b - 1, float(grid[b]))
            if cap:
                if teams[b] != teams[b - 1]:
                    screening.set_capacity(int(teams[b]))
                if crts[b] != crts[b - 1]:
                    courts.set_capacity(int(crts[b]))

    if actions:
        env.process(control())
    # Run a hair past the horizon so that events at the last instant happen.
    env.run(until=horizon * (1.0 + 1e-12) + 1e-9)
    return _censor(Trace(
        screen_end=np.array(t_se), trial_start=np.array(t_ts), trial_end=np.array(t_te),
        exempt=np.frombuffer(bytes(exempt), dtype=np.uint8).astype(bool),
        repatriated_at=np.array(rep_at),
        repatriated_from=np.frombuffer(bytes(rep_from), dtype=np.uint8).astype(np.int8),
        dependant_repatriated_at=np.array(dep_at, dtype=np.float64),
    ), horizon)


def _censor(trace: Trace, horizon: float) -> Trace:
    """Times after the end of the run become ``inf`` (not seen in the run)."""
    def cut(t: FloatArray) -> FloatArray:
        return np.where(t <= horizon, t, _INF)
    se = cut(trace.screen_end)
    ts = cut(trace.trial_start)
    te = np.where(np.isfinite(ts), cut(trace.trial_end), _INF)
    return Trace(screen_end=se, trial_start=ts, trial_end=te,
                 exempt=trace.exempt & np.isfinite(se),
                 repatriated_at=trace.repatriated_at,
                 repatriated_from=trace.repatriated_from,
                 dependant_repatriated_at=trace.dependant_repatriated_at)


# -- the fast path: Kiefer-Wolfowitz over replications ------------------------------------


def fast_path_applies(plan: Plan) -> bool:
    """True when both stations are plain FIFO queues with fixed identical servers.

    That holds when no one leaves a queue before service (no repatriation in
    any month) and the numbers of teams and courts never change.
    """
    return (not np.any(plan.repatriation_rate > 0.0)
            and bool(np.all(plan.screening_teams == plan.screening_teams[0]))
            and bool(np.all(plan.courts == plan.courts[0])))


def fifo_starts(arrive: FloatArray, service: FloatArray, servers: int) -> FloatArray:
    """Start times of service at a FIFO station with *servers* identical servers.

    The Kiefer-Wolfowitz recursion, vectorised over replications: *arrive*
    and *service* have shape ``(cases, replications)``, cases in arrival order
    in each column (``inf`` arrivals pad the shorter columns). Each case
    starts at ``max(arrival, earliest time a server is free)``; that server is
    then free at ``start + service``.
    """
    n, reps = arrive.shape
    free = np.zeros((reps, servers))
    flat = free.reshape(-1)
    base = np.arange(reps) * servers
    starts = np.empty((n, reps))
    for k in range(n):
        idx = free.argmin(axis=1)
        idx += base
        start = starts[k]
        np.maximum(arrive[k], flat[idx], out=start)
        flat[idx] = start + service[k]
    return starts


#: Largest (replications x cases) array the fast path builds at once (8 bytes a cell).
BATCH_CELLS = 8_000_000


def _rows(columns: Sequence[FloatArray], n: int, fill: float) -> FloatArray:
    """Stack 1-d arrays as rows of an ``(len(columns), n)`` array padded with *fill*."""
    out = np.empty((len(columns), n))
    for j, col in enumerate(columns):
        m = col.shape[0]
        out[j, :m] = col
        out[j, m:] = fill
    return out


def _station(arrive: FloatArray, service: FloatArray, servers: int) -> FloatArray:
    """FIFO start times for ``(replications, cases)`` arrays (cases sorted by arrival)."""
    starts = fifo_starts(np.ascontiguousarray(arrive.T), np.ascontiguousarray(service.T),
                         servers)
    return np.ascontiguousarray(starts.T)


def fifo_traces(cases_list: Sequence[Cases], plan: Plan) -> list[Trace]:
    """Traces of several replications by the exact FIFO recursion (the fast path).

    Valid only where :func:`fast_path_applies`; gives the same times as
    :func:`simulate_replication` on the same *cases*.
    """
    if not fast_path_applies(plan):
        msg = "the fast path needs fixed capacities and no repatriation"
        raise ValueError(msg)
    horizon = plan.horizon_days
    teams, courts = int(plan.screening_teams[0]), int(plan.courts[0])
    ex_share = plan.exemption_share
    any_exempt = bool(np.any(ex_share > 0.0))
    last = plan.n_months - 1
    out: list[Trace] = []
    # Equal batches of replications, so that the (replications x cases) arrays stay
    # below BATCH_CELLS cells (the loop runs once per case, whatever the batch width).
    total = len(cases_list)
    widest = max((c.n for c in cases_list), default=1) or 1
    n_batches = -(-total // max(1, BATCH_CELLS // widest)) if total else 0
    size = -(-total // n_batches) if n_batches else 0
    for i in range(0, total, size or 1):
        j = min(total, i + size)
        batch = cases_list[i:j]
        n_max = max(1, max(c.n for c in batch))
        arrive = _rows([c.arrive for c in batch], n_max, _INF)
        # Screening (replications with no screening have zero durations: start = arrival).
        if any(not c.skip_screening for c in batch):
            sdur = _rows([c.screen_days for c in batch], n_max, 0.0)
            screen_end = _station(arrive, sdur, teams) + sdur
        else:
            screen_end = arrive
        if any_exempt:
            u_ex = _rows([c.u_exempt for c in batch], n_max, 1.0)
            month = np.minimum(
                (np.minimum(screen_end, horizon) / DAYS_PER_MONTH).astype(np.int64), last)
            exempt = (u_ex < ex_share[month]) & (screen_end <= horizon)
            referred = np.where(exempt, _INF, screen_end)
        else:
            exempt = np.zeros(screen_end.shape, dtype=bool)
            referred = screen_end
        # Courts: cases queue in the order they were referred (stable for ties).
        tdur = _rows([c.trial_days for c in batch], n_max, 0.0)
        if np.all(referred[:, 1:] >= referred[:, :-1]):
            trial_start = _station(referred, tdur, courts)
        else:
            order = np.argsort(referred, axis=1, kind="stable")
            started = _station(np.take_along_axis(referred, order, axis=1),
                               np.take_along_axis(tdur, order, axis=1), courts)
            trial_start = np.empty_like(started)
            np.put_along_axis(trial_start, order, started, axis=1)
        for row, c in enumerate(batch):
            m = c.n
            ts = trial_start[row, :m]
            out.append(_censor(Trace(
                screen_end=screen_end[row, :m], trial_start=ts,
                trial_end=ts + c.trial_days, exempt=exempt[row, :m],
                repatriated_at=np.full(m, _INF), repatriated_from=np.zeros(m, dtype=np.int8),
                dependant_repatriated_at=np.full(c.child.shape[0], _INF),
            ), horizon))
    return out


# -- from traces to the monthly grid ----------------------------------------------------


def _bins(times: FloatArray, grid: FloatArray) -> np.ndarray:
    """Index of the first grid instant at or after each time (``len(grid)``: never)."""
    return np.searchsorted(grid, times, side="left")


def _bins_sorted(times: FloatArray, grid: FloatArray) -> np.ndarray:
    """:func:`_bins` for sorted *times*: found from the grid side, in O(len(grid) log n)."""
    counts = np.searchsorted(times, grid, side="right")
    steps = np.diff(counts, prepend=0, append=times.shape[0])
    return np.repeat(np.arange(grid.shape[0] + 1), steps)


def _count(bins: np.ndarray, size: int, mask: np.ndarray | None = None) -> np.ndarray:
    """How many events (binned by :func:`_bins`) are at or before each of *size* instants."""
    picked = bins if mask is None else bins[mask]
    return np.cumsum(np.bincount(picked, minlength=size + 1)[:size])


def _order_quantiles(values: FloatArray, qs: Sequence[float]) -> list[float]:
    """For each q, the smallest v with at least a share q of *values* <= v.

    NaN when there are no values, or when that v is ``inf`` (censored).
    """
    n = values.shape[0]
    if n == 0:
        return [math.nan] * len(qs)
    ks = [max(0, math.ceil(q * n) - 1) for q in qs]
    part = np.partition(values, sorted(set(ks)))
    return [float(part[k]) if math.isfinite(part[k]) else math.nan for k in ks]


def record(cases: Cases, trace: Trace, plan: Plan) -> dict[str, Any]:
    """Stocks on the monthly grid and the per-draw wait statistics of one replication."""
    grid = plan.grid()
    size = grid.shape[0]
    n_dep = cases.child.shape[0]
    ex, conv = trace.exempt, cases.convicted
    # Each kind of time is binned once; the outputs are counts of masked subsets.
    b_arrive = _bins_sorted(cases.arrive, grid)  # arrival times are sorted
    same = cases.skip_screening and np.array_equal(trace.screen_end, cases.arrive)
    b_screened = b_arrive if same else _bins(trace.screen_end, grid)
    b_tried = _bins(trace.trial_end, grid)
    b_released = _bins(trace.trial_end[conv] + cases.sentence_days[conv], grid)
    rep_from = trace.repatriated_from
    rep_at = trace.repatriated_at
    arrived_det = _count(b_arrive, size)
    rep_s = _count(_bins(rep_at[rep_from == 1], grid), size)
    rep_t = _count(_bins(rep_at[rep_from == 2], grid), size)
    dep_at = trace.dependant_repatriated_at
    rep_d = _count(_bins(dep_at[np.isfinite(dep_at)], grid), size)
    exempted = _count(b_screened, size, ex)
    convicted = _count(b_tried, size, conv)
    acquitted = _count(b_tried, size, ~conv)
    released = _count(b_released, size)
    out: dict[str, Any] = {
        "backlog_screening": arrived_det - _count(b_screened, size) - rep_s,
        "backlog_trial": _count(b_screened, size) - exempted - convicted - acquitted - rep_t,
        "in_prison": convicted - released,
        "held_dependants": n_dep - rep_d,
        "repatriated": rep_s + rep_t + rep_d,
        "released": released,
        "exempted": exempted,
        "convicted": convicted,
        "acquitted": acquitted,
        "arrived": arrived_det + n_dep,
    }
    # Pretrial waits of those referred for trial (not exempted, not repatriated
    # from the trial queue); still waiting at the end: censored, counted as inf.
    who = np.isfinite(trace.screen_end) & ~ex & (rep_from != 2)
    waits = trace.trial_start[who] - cases.arrive[who]
    out["pretrial_wait_median"], out["pretrial_wait_p90"] = _order_quantiles(waits, (0.5, 0.9))
    return out


# -- the model ----------------------------------------------------------------------------


def _row(params: Mapping[str, FloatArray], k: int) -> dict[str, float]:
    return {name: float(values[k]) for name, values in params.items()}


def simulate_traces(
    params: Mapping[str, FloatArray],
    levers: Mapping[str, np.ndarray],
    *,
    n_months: int,
    rng: np.random.Generator,
    method: Method = "auto",
) -> tuple[Plan, list[Cases], list[Trace]]:
    """Draw and run every replication of a chunk; the cases and traces, for inspection.

    *method*: ``"simpy"`` (the general path), ``"fifo"`` (the exact fast
    path; refused where it does not apply) or ``"auto"`` (the fast path where
    it applies).
    """
    plan = Plan.from_levers(levers, n_months)
    n = int(next(iter(params.values())).shape[0]) if params else 0
    streams = rng.spawn(n)
    pairs = [s.spawn(2) for s in streams]  # (cases, repatriation) per draw
    cases_list = [draw_cases(_row(params, k), n_months, pairs[k][0]) for k in range(n)]
    use_fifo = method == "fifo" or (method == "auto" and fast_path_applies(plan))
    if use_fifo:
        traces = fifo_traces(cases_list, plan)
    elif method in ("auto", "simpy"):
        traces = [simulate_replication(c, plan, pairs[k][1]) for k, c in enumerate(cases_list)]
    else:
        msg = f"method must be 'auto', 'simpy' or 'fifo' (got {method!r})"
        raise ValueError(msg)
    return plan, cases_list, traces


class DetentionModel:
    """Detainees through screening, trial, prison and repatriation (see module docstring)."""

    info = INFO

    def check(self, scenario: Any) -> list[ScenarioError]:
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

    def simulate(
        self,
        params: Mapping[str, FloatArray],
        levers: Mapping[str, FloatArray],
        *,
        n_months: int,
        rng: np.random.Generator,
        outputs: frozenset[str] | None = None,
        method: Method = "auto",
    ) -> dict[str, np.ndarray]:
        """Run one chunk of draws, one replication each; arrays (draw, time) and (draw,)."""
        want = outputs if outputs is not None else frozenset(o.name for o in INFO.outputs)
        plan, cases_list, traces = simulate_traces(params, levers, n_months=n_months,
                                                   rng=rng, method=method)
        n = len(cases_list)
        out: dict[str, np.ndarray] = {}
        for decl in INFO.outputs:
            if decl.name in want:
                shape = (n, n_months + 1) if decl.dims else (n,)
                out[decl.name] = np.empty(shape)
        for k, (cases, trace) in enumerate(zip(cases_list, traces, strict=True)):
            rec = record(cases, trace, plan)
            for name, arr in out.items():
                arr[k] = rec[name]
        return out

"""The detention model in SimPy: the general path and the reference semantics.

One replication runs as plain callbacks on SimPy events (no process object
per detainee); what happens is written into preallocated lists indexed by
detainee and returned as a :class:`~threatsim.models.detention.cases.Trace`.
Screening teams and courts are :class:`Pool` resources whose capacity can
change at month boundaries; repatriation rounds take people out of the queues
at the end of a month.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Generator, Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
import simpy
from simpy.core import BoundClass
from simpy.resources.resource import Request

from threatsim.models.detention.cases import DAYS_PER_MONTH, Cases, Plan, Trace, censor

__all__ = ["CaseRequest", "Pool", "simulate_replication"]

_INF = math.inf

class _FifoQueue(deque[Any]):
    """A deque that also answers ``pop(0)`` in O(1) (SimPy pops the head of the queue)."""

    def pop(self, idx: int = -1) -> Any:
        if idx == 0:
            return self.popleft()
        if idx == -1:
            return super().pop()
        item = self[idx]
        del self[idx]
        return item


class CaseRequest(Request):
    """A request for a server (a screening team, a court) made for one detainee.

    >>> import simpy
    >>> env = simpy.Environment()
    >>> request = Pool(env, capacity=1).request()
    >>> request.case = 42  # the detainee it is for
    >>> type(request).__name__, request.case
    ('CaseRequest', 42)
    """

    #: The detainee's index (set by whoever makes the request).
    case: int


class Pool(simpy.Resource):
    """``simpy.Resource`` whose capacity can change during a run.

    Requests wait in a deque (first come first served; long queues stay cheap).
    Raising the capacity admits waiting requests at once; lowering it lets the
    current users finish and admits no one until fewer than the new capacity
    are busy.

    >>> import simpy
    >>> env = simpy.Environment()
    >>> courts = Pool(env, capacity=1)
    >>> first, second = courts.request(), courts.request()
    >>> env.run()
    >>> first.triggered, second.triggered  # one court: the second case waits
    (True, False)
    >>> courts.set_capacity(2)  # a court added: the waiting case starts at once
    >>> env.run()
    >>> second.triggered
    True
    """

    PutQueue = _FifoQueue

    # Requests say for whom they are made (CaseRequest); SimPy binds it as it binds its own.
    if TYPE_CHECKING:
        def request(self) -> CaseRequest: ...
    else:
        request = BoundClass(CaseRequest)

    def set_capacity(self, capacity: int) -> None:
        """Change the number of servers from now on."""
        if capacity < 1:
            msg = f"capacity must be >= 1 (got {capacity})"
            raise ValueError(msg)
        self._capacity = int(capacity)
        # SimPy's Resource admits one waiting request per trigger; admit until full.
        while self.put_queue and len(self.users) < self._capacity:
            self._trigger_put(None)

    def withdraw(self, requests: Iterable[Request]) -> None:
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

    >>> from threatsim.models.detention.cases import Plan, draw_cases

    >>> from threatsim.stats.variates import ChanceStreams
    >>> row = dict(detained_iraq=3, detained_syria=0, dependants_syria=2,
    ...            arrivals_per_month=0.0, arrivals_foreign_share=0.0,
    ...            dependants_child_share=1.0, screening_days=0.0, trial_days=10.0,
    ...            duration_cv=0.0, conviction_share=1.0, sentence_months=100.0)
    >>> levers = {"screening_teams": np.full(2, 1.0), "courts": np.full(2, 1.0),
    ...           "exemption_share": np.zeros(2), "repatriation_rate": np.zeros(2),
    ...           "children_first": np.zeros(2)}
    >>> levers["repatriation_rate"] = np.full(2, 0.5)  # the general path: SimPy
    >>> plan = Plan.from_levers(levers, 2)
    >>> cases = draw_cases(row, 2, ChanceStreams(seed=0, draw_index=[0]))
    >>> trace = simulate_replication(cases, plan, np.random.Generator(np.random.PCG64(1)))
    >>> trace.trial_start.tolist()[:1], trace.dependant_repatriated_at.shape
    ([0.0], (2,))
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

    def trial_start(req: CaseRequest) -> None:
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

    def screen_start(req: CaseRequest) -> None:
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
        gone: dict[int, list[CaseRequest]] = {1: [], 2: []}
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

    def control() -> Generator[simpy.Event, Any, None]:
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
    return censor(Trace(
        screen_end=np.array(t_se), trial_start=np.array(t_ts), trial_end=np.array(t_te),
        exempt=np.frombuffer(bytes(exempt), dtype=np.uint8).astype(bool),
        repatriated_at=np.array(rep_at),
        repatriated_from=np.frombuffer(bytes(rep_from), dtype=np.uint8).astype(np.int8),
        dependant_repatriated_at=np.array(dep_at, dtype=np.float64),
    ), horizon)


"""The detention model's general case compiled: SimPy's event loop, event for event.

:func:`simulate_events` gives the very same :class:`~threatsim.models.detention.cases.Trace`
as :func:`~threatsim.models.detention.simpy_des.simulate_replication` (the
reference semantics) on the same cases and repatriation Generator, for any plan:
repatriation rounds, children first, capacity changes at month boundaries,
exemption shares by month. It does so by replaying what SimPy does rather than
a model of it: a heap of pending events ordered as SimPy's is, by time and then
by the order in which they were scheduled (``Environment.schedule`` numbers
every event it schedules), with the same kinds of event scheduled at the same
moments:

* a detainee's arrival (a ``Timeout`` at ``now + (arrive - now)``, as
  ``simpy_des`` computes it) admits them and schedules the next arrival;
* a request for a team or a court joins the queue's tail and then, as
  ``Put.__init__`` does, the queue's *head* is granted if a server is free
  (a grant is a ``Request`` event scheduled now; its processing starts the
  screening or the trial, a ``Timeout`` of its duration);
* the end of a screening or a trial releases the server at once
  (``Release.__init__`` removes the user) and schedules a ``Release`` event,
  whose processing grants the queue's head if a server is free; a screening's
  end then decides exemption and asks for a court;
* a month boundary with an action is a ``Timeout`` of the control process,
  scheduled when the previous one is processed (the first when the process
  starts, after the initial stock's requests and the first arrival): the
  repatriation round (drawn in Python, see below), then the new capacities,
  ``Pool.set_capacity`` granting heads until the pool is full;
* the run stops before the first event at or after SimPy's ``until``.

The heap holds (time, schedule number) pairs, so events are processed in exactly
SimPy's order, ties included (the initial stock at time 0, equal durations
with ``duration_cv = 0``, events on a month boundary). At a month boundary with
repatriation the kernel returns to Python, which draws the round with the same
Generator calls as ``simpy_des`` (``rng.binomial`` on the eligible count, then
``rng.choice(..., replace=False)``, the children-first variant alike) over the
eligible people in the same order (held dependants, then foreign detainees
waiting for screening, then those waiting for trial, each queue in its order),
takes the chosen out of the queues, and resumes the kernel.

The kernel is compiled with numba (:mod:`threatsim.core.compiled`); where
numba is absent or switched off, :func:`simulate_events` runs the SimPy model
itself, which gives the same trace.
"""

from __future__ import annotations

import math

import numpy as np

from threatsim.core import compiled
from threatsim.models.contract import FloatArray
from threatsim.models.detention.cases import DAYS_PER_MONTH, Cases, Plan, Trace, censor
from threatsim.models.detention.simpy_des import simulate_replication

__all__ = ["simulate_events"]

# Kinds of pending event.
_ARRIVAL = 0  # a detainee arrives (value: the detainee)
_GRANT_S = 1  # a screening team is granted to a request (value: the detainee)
_SCREENED = 2  # a screening ends (value: the detainee)
_FREED_S = 3  # the Release event of a screening team
_GRANT_C = 4  # a court is granted
_TRIED = 5  # a trial ends
_FREED_C = 6  # the Release event of a court
_CONTROL = 7  # the control process's month boundary (value: the action's index)

# Slots of the integer state (``st``).
_SIZE = 0  # events in the heap (those later than now)
_EID = 1  # the next schedule number
_HEAD = 2  # 2, 3: first waiting request of the screening queue, of the court queue
_TAIL = 4  # 4, 5: one past the last waiting request of each queue
_USERS = 6  # 6, 7: servers busy (len(users)) in each pool
_CAP = 8  # 8, 9: each pool's capacity
_ACTION = 10  # the control action being processed
_NOW_HEAD = 11  # first event of the ring of events scheduled for now
_NOW_COUNT = 12  # events in that ring
_HELD = 13  # dependants still held
_ELIGIBLE = 14  # eligible for the round being drawn
_KIDS = 15  # of whom children held
_WAIT_S = 16  # of whom waiting for screening
_CHOSEN = 17  # how many the round takes (positions in ``work[_PICKS]``)
_SKIP = 18  # 1: no screening station
_N_INITIAL = 19  # the initial stock
_STATE = 20

# Rows of the integer work array (``work``, one column per detainee or dependant).
_QUEUE = 0  # 0, 1: the screening queue and the court queue (detainees)
_HELD_ROW = 2  # the dependants held, in order
_WHO = 3  # the eligible of a round: held dependants, then the queues' foreign waiting
_ORDER = 4  # their positions, children held first (then the others, in order)
_PICKS = 5  # the positions the round takes

# Rows of the byte array (``flags``).
_EXEMPT = 0  # exempted at the end of screening (detainees)
_FOREIGN = 1  # foreign (detainees)
_FROM = 2  # repatriated from 1: the screening queue, 2: the court queue (detainees)
_CHILD = 3  # a child (dependants)

# Rows of the float outputs (``times``).
_SCREEN_END, _TRIAL_START, _TRIAL_END, _REPATRIATED = 0, 1, 2, 3


@compiled.kernel
def _admit(st: np.ndarray, work: np.ndarray, flags: np.ndarray, times: FloatArray,
           u_exempt: FloatArray, exemption_share: FloatArray, case: int, now: float,
           ot: FloatArray, oi: np.ndarray, n_out: int) -> int:  # pragma: no cover - compiled
    """One detainee of the initial stock: ``simpy_des``'s ``admit`` (a request for a team,
    or with no screening ``screened``); the grants it causes go to the outbox
    (*ot*, *oi* from *n_out*); returns the outbox's new length."""
    if st[_SKIP]:
        times[_SCREEN_END, case] = now
        m = int(now / DAYS_PER_MONTH)
        last = exemption_share.shape[0] - 1
        if u_exempt[case] < exemption_share[m if m < last else last]:
            flags[_EXEMPT, case] = 1
            return n_out
        pool = 1
    else:
        pool = 0
    work[_QUEUE + pool, st[_TAIL + pool]] = case
    st[_TAIL + pool] += 1
    head = st[_HEAD + pool]
    if head < st[_TAIL + pool] and st[_USERS + pool] < st[_CAP + pool]:
        st[_HEAD + pool] = head + 1
        st[_USERS + pool] += 1
        ot[n_out] = now
        oi[n_out, 0] = _GRANT_S if pool == 0 else _GRANT_C
        oi[n_out, 1] = work[_QUEUE + pool, head]
        n_out += 1
    return n_out


@compiled.kernel
def _capacity_step(st: np.ndarray, work: np.ndarray, grid: FloatArray, actions: np.ndarray,
                   now: float, ot: FloatArray, oi: np.ndarray) -> int:  # pragma: no cover
    """The rest of a control step after its repatriation round: the month's capacities
    (``Pool.set_capacity``: grant heads until full), then the next boundary's Timeout,
    all to the outbox; returns its length."""
    a = st[_ACTION]
    n_out = 0
    for pool in range(2):
        capacity = actions[2 + pool, a]
        if capacity < 0:
            continue
        st[_CAP + pool] = capacity
        while st[_HEAD + pool] < st[_TAIL + pool] and st[_USERS + pool] < capacity:
            head = st[_HEAD + pool]
            st[_HEAD + pool] = head + 1
            st[_USERS + pool] += 1
            ot[n_out] = now
            oi[n_out, 0] = _GRANT_S if pool == 0 else _GRANT_C
            oi[n_out, 1] = work[_QUEUE + pool, head]
            n_out += 1
    if a + 1 < actions.shape[1]:
        ot[n_out] = now + (grid[actions[0, a + 1]] - now)
        oi[n_out, 0] = _CONTROL
        oi[n_out, 1] = a + 1
        n_out += 1
    return n_out


@compiled.kernel
def _eligible(st: np.ndarray, work: np.ndarray, flags: np.ndarray) -> None:  # pragma: no cover
    """List a round's eligible people in ``simpy_des``'s order (held dependants, then the
    foreign waiting for screening, then for trial) and their positions, children first."""
    who, order = work[_WHO], work[_ORDER]
    n_held = st[_HELD]
    e = 0
    kids = 0
    for j in range(n_held):
        d = work[_HELD_ROW, j]
        who[e] = d
        if flags[_CHILD, d]:
            order[kids] = e
            kids += 1
        e += 1
    for pool in range(2):
        for j in range(st[_HEAD + pool], st[_TAIL + pool]):
            case = work[_QUEUE + pool, j]
            if flags[_FOREIGN, case]:
                who[e] = case
                e += 1
        if pool == 0:
            st[_WAIT_S] = e - n_held
    r = kids
    for j in range(e):
        if j >= n_held or not flags[_CHILD, who[j]]:
            order[r] = j
            r += 1
    st[_ELIGIBLE] = e
    st[_KIDS] = kids


@compiled.kernel
def _take_back(st: np.ndarray, work: np.ndarray, flags: np.ndarray, times: FloatArray,
               dependant_at: FloatArray, at: float) -> None:  # pragma: no cover - compiled
    """The round's chosen leave: dependants from the held, detainees from their queue
    (``Pool.withdraw``: the others keep their order)."""
    n_held = st[_HELD]
    screening_end = n_held + st[_WAIT_S]
    for j in range(st[_CHOSEN]):
        pos = work[_PICKS, j]
        who = work[_WHO, pos]
        if pos < n_held:
            dependant_at[who] = at
        else:
            times[_REPATRIATED, who] = at
            flags[_FROM, who] = 1 if pos < screening_end else 2
    kept = 0
    for j in range(n_held):
        d = work[_HELD_ROW, j]
        if dependant_at[d] == math.inf:
            work[_HELD_ROW, kept] = d
            kept += 1
    st[_HELD] = kept
    for pool in range(2):
        head = st[_HEAD + pool]
        kept = head
        for j in range(head, st[_TAIL + pool]):
            case = work[_QUEUE + pool, j]
            if flags[_FROM, case] == 0:
                work[_QUEUE + pool, kept] = case
                kept += 1
        st[_TAIL + pool] = kept


@compiled.kernel
def _advance(ht: FloatArray, hi: np.ndarray, ring: np.ndarray, st: np.ndarray,
             clock: FloatArray, work: np.ndarray, flags: np.ndarray, inputs: FloatArray,
             times: FloatArray, dependant_at: FloatArray, exemption_share: FloatArray,
             grid: FloatArray, actions: np.ndarray, ot: FloatArray, oi: np.ndarray,
             mode: int) -> int:  # pragma: no cover - compiled
    """Run the events until a repatriation round is due (returns 1) or the run ends (0).

    *mode* 0 starts the run (the initial stock, the first arrival, the control
    process's first Timeout); 1 resumes a control step: the round's chosen
    (``st[_CHOSEN]`` positions in ``work[_PICKS]``) leave, then the capacities.
    ``clock`` is ``[now, until]``; ``inputs`` rows are arrival times, screening
    and trial durations and the exemption uniforms; ``actions`` columns are the
    control steps: grid index, repatriation (0/1), new teams and new courts (-1:
    unchanged). Before returning 1 it lists the round's eligible people.

    Each event's handling puts the events it schedules, in SimPy's order, into an
    outbox (*ot*: times, *oi*: kinds and values), scheduled before the next event
    is taken: one written-out loop, no helper calls per event (numba counts the
    references of arrays passed to helpers, atomically, which cost more than the
    events themselves). Events for *now* (grants, releases, zero durations) go
    to a ring in the order scheduled, later ones to a binary heap on (time, eid).
    """
    n = inputs.shape[1]
    arrive, sdur, tdur, u_exempt = inputs[0], inputs[1], inputs[2], inputs[3]
    until = clock[1]
    now = clock[0]
    skip = st[_SKIP] != 0
    last_month = exemption_share.shape[0] - 1
    size = ring.shape[0]
    n_out = 0
    if mode == 0:
        n_initial = st[_N_INITIAL]
        for i in range(n_initial):
            n_out = _admit(st, work, flags, times, u_exempt, exemption_share, i, now,
                           ot, oi, n_out)
        if n_initial < n:
            ot[n_out] = now + (arrive[n_initial] - now)
            oi[n_out, 0] = _ARRIVAL
            oi[n_out, 1] = n_initial
            n_out += 1
        if actions.shape[1] > 0:
            ot[n_out] = now + (grid[actions[0, 0]] - now)
            oi[n_out, 0] = _CONTROL
            oi[n_out, 1] = 0
            n_out += 1
    else:
        _take_back(st, work, flags, times, dependant_at, grid[actions[0, st[_ACTION]]])
        n_out = _capacity_step(st, work, grid, actions, now, ot, oi)
    while True:
        # Schedule the outbox, in order: each gets the next eid (SimPy's heappush).
        for o in range(n_out):
            t = ot[o]
            eid = st[_EID]
            st[_EID] = eid + 1
            if t == now:
                c = st[_NOW_COUNT]
                if c >= size:
                    raise RuntimeError("event ring full")
                j = st[_NOW_HEAD] + c
                if j >= size:
                    j -= size
                ring[j, 0] = eid
                ring[j, 1] = oi[o, 0]
                ring[j, 2] = oi[o, 1]
                st[_NOW_COUNT] = c + 1
                continue
            j = st[_SIZE]
            if j >= ht.shape[0]:
                raise RuntimeError("event heap full")
            while j > 0:
                p = (j - 1) >> 1
                if ht[p] <= t:  # earlier, or as early and scheduled before
                    break
                ht[j] = ht[p]
                hi[j, 0] = hi[p, 0]
                hi[j, 1] = hi[p, 1]
                hi[j, 2] = hi[p, 2]
                j = p
            ht[j] = t
            hi[j, 0] = eid
            hi[j, 1] = oi[o, 0]
            hi[j, 2] = oi[o, 1]
            st[_SIZE] += 1
        n_out = 0
        # The next event: the ring's first (scheduled for now) or the heap's, whichever
        # SimPy's heap gives first: the earlier time, then the earlier eid.
        from_heap = False
        if st[_NOW_COUNT] > 0:
            r = st[_NOW_HEAD]
            if st[_SIZE] > 0 and ht[0] == now and hi[0, 0] < ring[r, 0]:
                from_heap = True
            else:
                kind, v = ring[r, 1], ring[r, 2]
                st[_NOW_HEAD] = r + 1 if r + 1 < size else 0
                st[_NOW_COUNT] -= 1
        elif st[_SIZE] > 0 and ht[0] < until:
            from_heap = True
        else:
            break
        if from_heap:
            now = ht[0]
            kind, v = hi[0, 1], hi[0, 2]
            h = st[_SIZE] - 1
            st[_SIZE] = h
            if h > 0:
                t, e = ht[h], hi[h, 0]
                k2, v2 = hi[h, 1], hi[h, 2]
                j = 0
                while True:
                    c = 2 * j + 1
                    if c >= h:
                        break
                    if c + 1 < h and (ht[c + 1] < ht[c]
                                      or (ht[c + 1] == ht[c] and hi[c + 1, 0] < hi[c, 0])):
                        c += 1
                    if t < ht[c] or (t == ht[c] and e < hi[c, 0]):
                        break
                    ht[j] = ht[c]
                    hi[j, 0] = hi[c, 0]
                    hi[j, 1] = hi[c, 1]
                    hi[j, 2] = hi[c, 2]
                    j = c
                ht[j] = t
                hi[j, 0] = e
                hi[j, 1] = k2
                hi[j, 2] = v2
        # What the event does; what it schedules goes to the outbox in SimPy's order.
        screened = -1  # a detainee whose screening ends now (or who needs none)
        ask = -1  # a detainee who asks for a team
        grant_s = grant_c = False  # try to grant the queue's head (SimPy's _trigger_put)
        if kind == _ARRIVAL:
            if skip:
                screened = v
            else:
                ask = v
        elif kind == _GRANT_S:
            ot[0] = now + sdur[v]
            oi[0, 0] = _SCREENED
            oi[0, 1] = v
            n_out = 1
        elif kind == _SCREENED:
            st[_USERS] -= 1  # Release.__init__ frees the team at once
            ot[0] = now
            oi[0, 0] = _FREED_S
            oi[0, 1] = 0
            n_out = 1
            screened = v
        elif kind == _FREED_S:
            grant_s = True
        elif kind == _GRANT_C:
            times[_TRIAL_START, v] = now
            ot[0] = now + tdur[v]
            oi[0, 0] = _TRIED
            oi[0, 1] = v
            n_out = 1
        elif kind == _TRIED:
            st[_USERS + 1] -= 1
            ot[0] = now
            oi[0, 0] = _FREED_C
            oi[0, 1] = 0
            n_out = 1
            times[_TRIAL_END, v] = now
        elif kind == _FREED_C:
            grant_c = True
        else:  # _CONTROL
            st[_ACTION] = v
            if actions[1, v]:
                clock[0] = now
                _eligible(st, work, flags)
                st[_CHOSEN] = 0
                return 1
            n_out = _capacity_step(st, work, grid, actions, now, ot, oi)
            continue
        if ask >= 0:  # Request.__init__: join the tail, then try the head
            work[_QUEUE, st[_TAIL]] = ask
            st[_TAIL] += 1
            grant_s = True
        if grant_s:
            head = st[_HEAD]
            if head < st[_TAIL] and st[_USERS] < st[_CAP]:
                st[_HEAD] = head + 1
                st[_USERS] += 1
                ot[n_out] = now
                oi[n_out, 0] = _GRANT_S
                oi[n_out, 1] = work[_QUEUE, head]
                n_out += 1
        if screened >= 0:  # simpy_des's screened: exemption, or a court request
            times[_SCREEN_END, screened] = now
            m = int(now / DAYS_PER_MONTH)
            if u_exempt[screened] < exemption_share[m if m < last_month else last_month]:
                flags[_EXEMPT, screened] = 1
            else:
                work[_QUEUE + 1, st[_TAIL + 1]] = screened
                st[_TAIL + 1] += 1
                grant_c = True
        if grant_c:
            head = st[_HEAD + 1]
            if head < st[_TAIL + 1] and st[_USERS + 1] < st[_CAP + 1]:
                st[_HEAD + 1] = head + 1
                st[_USERS + 1] += 1
                ot[n_out] = now
                oi[n_out, 0] = _GRANT_C
                oi[n_out, 1] = work[_QUEUE + 1, head]
                n_out += 1
        if kind == _ARRIVAL and v + 1 < n:  # the arrival process's next Timeout
            ot[n_out] = now + (arrive[v + 1] - now)
            oi[n_out, 0] = _ARRIVAL
            oi[n_out, 1] = v + 1
            n_out += 1
    clock[0] = now
    return 0


def _actions(plan: Plan) -> np.ndarray:
    """The control process's steps as columns: grid index, repatriation, teams, courts.

    The same boundaries as ``simpy_des``: those after a month that repatriates,
    and those where a capacity changes (``-1``: that pool's capacity stays).

    >>> levers = {"screening_teams": np.full(3, 1.0), "courts": np.array([1.0, 1.0, 4.0]),
    ...           "exemption_share": np.zeros(3), "repatriation_rate": np.array([0.1, 0, 0]),
    ...           "children_first": np.zeros(3)}
    >>> _actions(Plan.from_levers(levers, 3)).T.tolist()  # a round, then four courts
    [[1, 1, -1, -1], [2, 0, -1, 4]]
    """
    teams, courts, rates = plan.screening_teams, plan.courts, plan.repatriation_rate
    steps = []
    for b in range(1, plan.n_months + 1):
        rep = bool(rates[b - 1] > 0.0)
        changes = b < plan.n_months and (teams[b] != teams[b - 1] or courts[b] != courts[b - 1])
        if rep or changes:
            steps.append((b, int(rep),
                          int(teams[b]) if changes and teams[b] != teams[b - 1] else -1,
                          int(courts[b]) if changes and courts[b] != courts[b - 1] else -1))
    return np.array(steps, dtype=np.int64).reshape(-1, 4).T.copy()


def _draw_round(rng: np.random.Generator, st: np.ndarray, work: np.ndarray, rate: float,
                first: bool) -> None:
    """Whom a round takes back, drawn with ``simpy_des``'s very calls (positions among the
    eligible into ``work[_PICKS]``, their number into ``st[_CHOSEN]``)."""
    eligible = int(st[_ELIGIBLE])
    if eligible == 0:
        return
    k = int(rng.binomial(eligible, rate))
    if k == 0:
        return
    order = work[_ORDER]
    if not first:
        chosen = rng.choice(eligible, size=k, replace=False)
    else:
        kids = int(st[_KIDS])
        if k <= kids:
            chosen = order[rng.choice(kids, size=k, replace=False)]
        else:
            rest = order[kids:eligible]  # the others, in order (simpy_des's ``rest``)
            chosen = np.concatenate([order[:kids], rest[rng.choice(
                eligible - kids, size=k - kids, replace=False)]])
    work[_PICKS, :k] = chosen
    st[_CHOSEN] = k


def simulate_events(cases: Cases, plan: Plan, rng: np.random.Generator) -> Trace:
    """One replication, compiled: the same trace as the SimPy model, for any plan.

    *rng* is used only for the repatriation rounds, with the same calls as
    :func:`~threatsim.models.detention.simpy_des.simulate_replication`, so it
    ends in the same state. Without numba (or with ``THREATSIM_COMPILED=0``)
    it runs that SimPy model.

    >>> from threatsim.models.detention.cases import draw_cases
    >>> from threatsim.stats.variates import ChanceStreams
    >>> row = dict(detained_iraq=30, detained_syria=0, dependants_syria=20,
    ...            arrivals_per_month=5.0, arrivals_foreign_share=0.5,
    ...            dependants_child_share=0.5, screening_days=3.0, trial_days=10.0,
    ...            duration_cv=1.0, conviction_share=1.0, sentence_months=100.0)
    >>> levers = {"screening_teams": np.full(6, 2.0), "courts": np.full(6, 1.0),
    ...           "exemption_share": np.full(6, 0.1), "repatriation_rate": np.full(6, 0.2),
    ...           "children_first": np.ones(6)}
    >>> plan = Plan.from_levers(levers, 6)
    >>> cases = draw_cases(row, 6, ChanceStreams(seed=0, draw_index=[0]))
    >>> fast = simulate_events(cases, plan, np.random.Generator(np.random.PCG64(1)))
    >>> ref = simulate_replication(cases, plan, np.random.Generator(np.random.PCG64(1)))
    >>> bool(np.array_equal(fast.trial_end, ref.trial_end)
    ...      and np.array_equal(fast.repatriated_at, ref.repatriated_at))
    True
    """
    if not compiled.enabled():
        return simulate_replication(cases, plan, rng)
    n, horizon = cases.n, plan.horizon_days
    n_dep = int(cases.child.shape[0])
    inputs = np.empty((4, n))
    inputs[0], inputs[1], inputs[2], inputs[3] = (
        cases.arrive, cases.screen_days, cases.trial_days, cases.u_exempt)
    times = np.full((4, n), math.inf)
    dependant_at = np.full(n_dep, math.inf)
    width = n + n_dep + 1
    work = np.zeros((6, width), dtype=np.int64)
    work[_HELD_ROW, :n_dep] = np.arange(n_dep)
    flags = np.zeros((4, width), dtype=np.uint8)
    flags[_FOREIGN, :n] = cases.foreign
    flags[_CHILD, :n_dep] = cases.child
    size = 2 * n + 8  # pending at once: two events a detainee at most, and the control's
    ht = np.empty(size)
    hi = np.empty((size, 3), dtype=np.int64)
    ring = np.empty((size, 3), dtype=np.int64)
    ot = np.empty(n + 8)  # the outbox: at most a grant a detainee, an arrival, a control
    oi = np.empty((n + 8, 2), dtype=np.int64)
    st = np.zeros(_STATE, dtype=np.int64)
    st[_CAP], st[_CAP + 1] = int(plan.screening_teams[0]), int(plan.courts[0])
    st[_HELD], st[_SKIP], st[_N_INITIAL] = n_dep, int(cases.skip_screening), cases.n_initial
    clock = np.array([0.0, horizon * (1.0 + 1e-12) + 1e-9])  # SimPy's until, as simpy_des
    grid = plan.grid()
    actions = _actions(plan)
    exemption_share = np.ascontiguousarray(plan.exemption_share, dtype=np.float64)
    rates, first = plan.repatriation_rate, plan.children_first
    args = (ht, hi, ring, st, clock, work, flags, inputs, times, dependant_at,
            exemption_share, grid, actions, ot, oi)
    mode = 0
    while _advance(*args, mode):
        mode = 1
        m = int(actions[0, st[_ACTION]]) - 1
        _draw_round(rng, st, work, rates[m], bool(first[m]))
    return censor(Trace(
        screen_end=times[_SCREEN_END], trial_start=times[_TRIAL_START],
        trial_end=times[_TRIAL_END], exempt=flags[_EXEMPT, :n].astype(bool),
        repatriated_at=times[_REPATRIATED],
        repatriated_from=flags[_FROM, :n].astype(np.int8),
        dependant_repatriated_at=dependant_at,
    ), horizon)

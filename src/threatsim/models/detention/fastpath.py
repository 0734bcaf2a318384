"""The detention model's exact fast path: the Kiefer-Wolfowitz recursion over replications.

Where no one can leave a queue early (``repatriation_rate`` is 0 in every
month) and the numbers of teams and courts never change, both stations are
plain FIFO queues with identical servers: each case starts at
``max(arrival, earliest time a server is free)`` (the Kiefer-Wolfowitz
recursion). :func:`fifo_batch` runs it vectorised in numpy over the
replications of a chunk, one step per case; it is exact and gives the same
times as the SimPy model on the same random numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from threatsim.core import compiled
from threatsim.models.contract import FloatArray
from threatsim.models.detention.cases import (
    DAYS_PER_MONTH,
    CaseBatch,
    Cases,
    Plan,
    Trace,
    censor,
)

__all__ = ["BATCH_CELLS", "FifoBatch", "fast_path_applies", "fifo_batch", "fifo_starts",
           "fifo_traces"]

_INF = math.inf

#: Largest (replications x cases) block of a chunk run at once (bounds the temporaries).
BATCH_CELLS = 8_000_000


def fast_path_applies(plan: Plan) -> bool:
    """True when both stations are plain FIFO queues with fixed identical servers.

    That holds when no one leaves a queue before service (no repatriation in
    any month) and the numbers of teams and courts never change.

    >>> levers = {"screening_teams": np.full(2, 1.0), "courts": np.full(2, 1.0),
    ...           "exemption_share": np.zeros(2), "repatriation_rate": np.zeros(2),
    ...           "children_first": np.zeros(2)}
    >>> fast_path_applies(Plan.from_levers(levers, 2))
    True
    >>> fast_path_applies(Plan.from_levers({**levers, "courts": np.array([1.0, 2.0])}, 2))
    False
    """
    return (not np.any(plan.repatriation_rate > 0.0)
            and bool(np.all(plan.screening_teams == plan.screening_teams[0]))
            and bool(np.all(plan.courts == plan.courts[0])))


def _free_times(reps: int, servers: int) -> FloatArray:
    """The servers' state at the start: all free at 0 (see :func:`_steps`)."""
    free = np.zeros((2, servers + 1, reps))
    free[:, servers] = _INF
    return free


def _steps(arrive: FloatArray, service: FloatArray, starts: FloatArray,
           free: FloatArray) -> None:
    """Advance the recursion by one case per row of *arrive*, *service* (cases, replications).

    ``free[0, j]`` is when the ``j``-th earliest server of each replication is
    next free, sorted in ``j``, with a row of ``inf`` below (``free[1]`` is
    scratch); it is updated in place. Each case starts at
    ``max(arrival, free[0, 0])`` and ends at ``e = start + service``; the
    earliest free time is replaced by ``e`` and the order kept, without a
    search: ``new[j] = min(free[j + 1], max(free[j], e))`` (``free[j] <= e``
    for the ``j`` below ``e``'s place, ``free[j + 1] >= e`` from it on). Only
    ``max``, ``min`` and the one addition: the same numbers as taking the
    argmin server, whatever the ties.
    """
    servers = free.shape[1] - 1
    views = [(f[0], f[:servers], f[1:]) for f in (free[0], free[1])]
    top = np.empty((servers, free.shape[2]))
    end = np.empty(free.shape[2])
    maximum, minimum, add = np.maximum, np.minimum, np.add
    i = 0
    for a, s, start in zip(arrive, service, starts, strict=True):
        first, head, tail = views[i]
        maximum(a, first, out=start)
        add(start, s, out=end)
        maximum(head, end, out=top)
        i = 1 - i
        minimum(tail, top, out=views[i][1])
    if i:
        free[0] = free[1]


def fifo_starts(arrive: FloatArray, service: FloatArray, servers: int) -> FloatArray:
    """Start times of service at a FIFO station with *servers* identical servers.

    The Kiefer-Wolfowitz recursion, vectorised over replications: *arrive*
    and *service* have shape ``(cases, replications)``, cases in arrival order
    in each column (``inf`` arrivals pad the shorter columns). Each case
    starts at ``max(arrival, earliest time a server is free)``; that server is
    then free at ``start + service``.

    >>> arrive = np.array([[0.0], [0.0], [1.0]])  # three cases, one replication
    >>> fifo_starts(arrive, np.full((3, 1), 4.0), servers=2).ravel().tolist()
    [0.0, 0.0, 4.0]
    """
    n, reps = arrive.shape
    starts = np.empty((n, reps))
    _steps(arrive, service, starts, _free_times(reps, servers))
    return starts


#: Cases per block of :func:`_station`: its transposed blocks stay in the CPU's cache.
BLOCK_CASES = 512


@compiled.kernel
def _station_rows(arrive: FloatArray, service: FloatArray, servers: int,
                  out: FloatArray) -> None:  # pragma: no cover - compiled
    """:func:`_steps` one replication row at a time, compiled (the same numbers).

    Each row keeps its servers' free times sorted; the earliest is replaced
    by the case's end and moved up to its place (the same values move as in
    :func:`_steps`: only comparisons and the one addition).
    """
    reps, width = arrive.shape
    free = np.empty(servers)
    for r in range(reps):
        free[:] = 0.0
        for k in range(width):
            start = max(arrive[r, k], free[0])
            out[r, k] = start
            end = start + service[r, k]
            j = 0
            while j + 1 < servers and free[j + 1] < end:
                free[j] = free[j + 1]
                j += 1
            free[j] = end


def _station(arrive: FloatArray, service: FloatArray, servers: int,
             out: FloatArray) -> None:
    """FIFO start times for ``(replications, cases)`` rows (cases sorted by arrival) into *out*.

    Compiled where numba is installed (:mod:`threatsim.core.compiled`). Otherwise
    the recursion runs over all replications at once, one case at a time:
    the rows are transposed a block of :data:`BLOCK_CASES` cases at a time
    (the servers' state carries over), so no transposed copy of the whole
    chunk is made.
    """
    if compiled.enabled():
        _station_rows(arrive, service, servers, out)
        return
    reps, width = arrive.shape
    free = _free_times(reps, servers)
    blocks = np.empty((3, min(BLOCK_CASES, width), reps))
    for j in range(0, width, BLOCK_CASES):
        w = min(BLOCK_CASES, width - j)
        a, s, st = blocks[0, :w], blocks[1, :w], blocks[2, :w]
        np.copyto(a, arrive[:, j:j + w].T)
        np.copyto(s, service[:, j:j + w].T)
        _steps(a, s, st, free)
        out[:, j:j + w] = st.T


@dataclass(frozen=True, slots=True, eq=False)
class FifoBatch:
    """Times of a :class:`CaseBatch` by the recursion, rows as in the batch (not censored).

    ``screen_end`` may be the batch's own ``arrive`` array (no screening);
    ``exempt`` is already limited to screenings that ended within the run.
    Trials end at ``trial_start + trial_days``.

    >>> row = dict(detained_iraq=3, detained_syria=0, dependants_syria=2,
    ...            arrivals_per_month=0.0, arrivals_foreign_share=0.0,
    ...            dependants_child_share=1.0, screening_days=0.0, trial_days=10.0,
    ...            duration_cv=0.0, conviction_share=1.0, sentence_months=100.0)
    >>> levers = {"screening_teams": np.full(2, 1.0), "courts": np.full(2, 1.0),
    ...           "exemption_share": np.zeros(2), "repatriation_rate": np.zeros(2),
    ...           "children_first": np.zeros(2)}
    >>> from threatsim.models.detention.cases import draw_batch
    >>> from threatsim.stats.variates import ChanceStreams
    >>> cb = draw_batch([row], 2, ChanceStreams(seed=0, draw_index=[0]))
    >>> fifo_batch(cb, Plan.from_levers(levers, 2)).trial_start.tolist()
    [[0.0, 10.0, 20.0]]
    """

    screen_end: FloatArray
    trial_start: FloatArray
    exempt: np.ndarray | None  # None: no one exempted


def _block(cb: CaseBatch, rows: slice, plan: Plan, screen_end: FloatArray,
           trial_start: FloatArray, exempt: np.ndarray | None) -> None:
    """Run the recursion on the replications *rows* of *cb*, writing into the outputs."""
    horizon = plan.horizon_days
    teams, courts = int(plan.screening_teams[0]), int(plan.courts[0])
    arrive = cb.arrive[rows]
    if cb.screens[rows].any():
        sdur = cb.screen_days[rows]
        se = screen_end[rows]
        _station(arrive, sdur, teams, se)
        se += sdur
    elif screen_end is cb.arrive:
        se = arrive
    else:  # other blocks screen; this one does not (screened on arrival)
        se = screen_end[rows]
        se[...] = arrive
    if exempt is not None:
        month = np.minimum(
            (np.minimum(se, horizon) / DAYS_PER_MONTH).astype(np.int64), plan.n_months - 1)
        ex = exempt[rows]
        np.less(cb.u_exempt[rows], plan.exemption_share[month], out=ex)
        ex &= se <= horizon
        referred = np.where(ex, _INF, se)
        monotone = bool(np.all(referred[:, 1:] >= referred[:, :-1]))
    else:
        referred = se
        monotone = se is arrive or bool(np.all(se[:, 1:] >= se[:, :-1]))  # arrivals are sorted
    # Courts: cases queue in the order they were referred (stable for ties).
    tdur = cb.trial_days[rows]
    if monotone:
        _station(referred, tdur, courts, trial_start[rows])
    else:
        order = np.argsort(referred, axis=1, kind="stable")
        started = np.empty_like(referred)
        _station(np.take_along_axis(referred, order, axis=1),
                 np.take_along_axis(tdur, order, axis=1), courts, started)
        np.put_along_axis(trial_start[rows], order, started, axis=1)


def fifo_batch(cb: CaseBatch, plan: Plan) -> FifoBatch:
    """Times of every replication of *cb* by the exact FIFO recursion (the fast path).

    Valid only where :func:`fast_path_applies`. Replications run together in
    equal blocks of at most :data:`BATCH_CELLS` cells (the loop runs once per
    case, whatever the width).

    >>> row = dict(detained_iraq=3, detained_syria=0, dependants_syria=2,
    ...            arrivals_per_month=0.0, arrivals_foreign_share=0.0,
    ...            dependants_child_share=1.0, screening_days=0.0, trial_days=10.0,
    ...            duration_cv=0.0, conviction_share=1.0, sentence_months=100.0)
    >>> levers = {"screening_teams": np.full(2, 1.0), "courts": np.full(2, 1.0),
    ...           "exemption_share": np.zeros(2), "repatriation_rate": np.zeros(2),
    ...           "children_first": np.zeros(2)}
    >>> from threatsim.models.detention.cases import draw_batch
    >>> from threatsim.stats.variates import ChanceStreams
    >>> plan = Plan.from_levers({**levers, "courts": np.full(2, 3.0)}, 2)
    >>> cb = draw_batch([row], 2, ChanceStreams(seed=0, draw_index=[0]))
    >>> fifo_batch(cb, plan).trial_start.tolist()  # three courts: all tried at once
    [[0.0, 0.0, 0.0]]
    """
    if not fast_path_applies(plan):
        msg = "the fast path needs fixed capacities and no repatriation"
        raise ValueError(msg)
    reps, width = cb.arrive.shape
    screen_end = np.empty_like(cb.arrive) if cb.screens.any() else cb.arrive
    trial_start = np.empty_like(cb.arrive)
    exempt = np.zeros(cb.arrive.shape, dtype=bool) if plan.exempts else None
    n_blocks = -(-reps // max(1, BATCH_CELLS // width)) if reps else 0
    size = -(-reps // n_blocks) if n_blocks else 0
    for i in range(0, reps, size or 1):
        _block(cb, slice(i, min(reps, i + size)), plan, screen_end, trial_start, exempt)
    return FifoBatch(screen_end=screen_end, trial_start=trial_start, exempt=exempt)


def batch_traces(cb: CaseBatch, fb: FifoBatch, plan: Plan) -> list[Trace]:
    """One censored :class:`Trace` per replication of a fast-path result.

    >>> row = dict(detained_iraq=3, detained_syria=0, dependants_syria=2,
    ...            arrivals_per_month=0.0, arrivals_foreign_share=0.0,
    ...            dependants_child_share=1.0, screening_days=0.0, trial_days=10.0,
    ...            duration_cv=0.0, conviction_share=1.0, sentence_months=100.0)
    >>> levers = {"screening_teams": np.full(2, 1.0), "courts": np.full(2, 1.0),
    ...           "exemption_share": np.zeros(2), "repatriation_rate": np.zeros(2),
    ...           "children_first": np.zeros(2)}
    >>> from threatsim.models.detention.cases import draw_batch
    >>> from threatsim.stats.variates import ChanceStreams
    >>> plan = Plan.from_levers({k: v[:1] for k, v in levers.items()}, 1)  # one month
    >>> cb = draw_batch([{**row, "trial_days": 12.0}], 1, ChanceStreams(0, [0]))
    >>> batch_traces(cb, fifo_batch(cb, plan), plan)[0].trial_end.tolist()  # 3rd ends later
    [12.0, 24.0, inf]"""
    out = []
    for k in range(cb.size):
        m = int(cb.n[k])
        ts = fb.trial_start[k, :m]
        out.append(censor(Trace(
            screen_end=fb.screen_end[k, :m], trial_start=ts,
            trial_end=ts + cb.trial_days[k, :m],
            exempt=(fb.exempt[k, :m] if fb.exempt is not None else np.zeros(m, dtype=bool)),
            repatriated_at=np.full(m, _INF), repatriated_from=np.zeros(m, dtype=np.int8),
            dependant_repatriated_at=np.full(cb.child[k].shape[0], _INF),
        ), plan.horizon_days))
    return out


def fifo_traces(cases_list: Sequence[Cases], plan: Plan) -> list[Trace]:
    """Traces of several replications by the exact FIFO recursion (the fast path).

    Valid only where :func:`fast_path_applies`; gives the same times as
    :func:`~threatsim.models.detention.simpy_des.simulate_replication` on the same *cases*.

    >>> row = dict(detained_iraq=3, detained_syria=0, dependants_syria=2,
    ...            arrivals_per_month=0.0, arrivals_foreign_share=0.0,
    ...            dependants_child_share=1.0, screening_days=0.0, trial_days=10.0,
    ...            duration_cv=0.0, conviction_share=1.0, sentence_months=100.0)
    >>> levers = {"screening_teams": np.full(2, 1.0), "courts": np.full(2, 1.0),
    ...           "exemption_share": np.zeros(2), "repatriation_rate": np.zeros(2),
    ...           "children_first": np.zeros(2)}
    >>> from threatsim.models.detention.cases import draw_cases
    >>> from threatsim.stats.variates import ChanceStreams
    >>> from threatsim.models.detention.simpy_des import simulate_replication
    >>> plan = Plan.from_levers(levers, 2)
    >>> cases = draw_cases({**row, "duration_cv": 1.0}, 2, ChanceStreams(3, [0]))
    >>> fast = fifo_traces([cases], plan)[0]
    >>> des = simulate_replication(cases, plan, np.random.Generator(np.random.PCG64(4)))
    >>> bool(np.array_equal(fast.trial_end, des.trial_end))
    True
    """
    if not fast_path_applies(plan):
        msg = "the fast path needs fixed capacities and no repatriation"
        raise ValueError(msg)
    if not cases_list:
        return []
    cb = CaseBatch.stack(cases_list)
    return batch_traces(cb, fifo_batch(cb, plan), plan)

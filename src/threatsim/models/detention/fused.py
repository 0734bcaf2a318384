"""The detention fast path fused: each replication drawn, queued and recorded in one pass.

Where numba is installed (:mod:`threatsim.core.compiled`), the fast path does
not build a chunk's ``(replications, cases)`` arrays at all. Each replication's
random inputs are drawn in numpy, by the very code and Generators of
:func:`~threatsim.models.detention.cases.draw_batch`, into row buffers reused
from one replication to the next (they stay in the CPU's cache), and only the
purposes the requested outputs need (:func:`flows_for`: no sentences unless a
prison output is asked for, no convictions unless the split of trials is, never
nationalities or children, which only repatriation reads). One compiled call
per replication (:func:`_replication`) then runs both stations' FIFO recursion
and writes the replication's row of every monthly-grid output: arrivals counted
by a running index over the grid, other times placed at their grid instant by
exact comparison, and the two quantiles of the pretrial waits by an exact
selection (:func:`_pick`). The numbers are those of
:func:`~threatsim.models.detention.fastpath.fifo_batch` and
:func:`~threatsim.models.detention.record.record_batch`, bit for bit (the same
operations on the same doubles; only counts and order statistics are formed
differently, and those are exact); ``tests/test_detention_fused.py`` checks it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from threatsim.core import compiled
from threatsim.models.contract import Chance, FloatArray
from threatsim.models.detention.cases import (
    DAYS_PER_MONTH,
    DetentionFlow,
    GivenArrivals,
    Plan,
    _draw_row,
    new_arrivals,
)

__all__ = ["GRID_OUTPUTS", "WAIT_OUTPUTS", "flows_for", "fused_rows"]

#: The monthly-grid outputs, in the order of the kernel's rows.
GRID_OUTPUTS = ("backlog_screening", "backlog_trial", "in_prison", "held_dependants",
                "repatriated", "released", "exempted", "convicted", "acquitted", "arrived")
#: The per-replication outputs: quantiles of the pretrial waits.
WAIT_OUTPUTS = ("pretrial_wait_median", "pretrial_wait_p90")
_TRIED = frozenset({"backlog_trial", "in_prison", "released", "convicted", "acquitted",
                    *WAIT_OUTPUTS})
_SPLIT = frozenset({"in_prison", "released", "convicted", "acquitted"})
_PRISON = frozenset({"in_prison", "released"})
#: The buckets of :func:`_pick`: a double >= 0's top 16 bits (its exponent and four
#: bits of its significand: sixteen buckets an octave; its bit pattern is ordered as
#: its value), less those of 2**-64, clipped to [0, _BUCKETS - 1]: bucket 0 holds the
#: zeros and every value below 2**-64, the last every value from 2**64 on and ``inf``.
_KEY_SHIFT = 48
_KEY_LOW = (1023 - 64) << 4
_BUCKETS = 2048
#: Counters per bucket, taken in turn (see :func:`_waits_histogram`).
_WAYS = 4


def flows_for(want: frozenset[str]) -> frozenset[DetentionFlow]:
    """The random purposes the fast path must draw for the outputs *want*.

    Nationalities and children only matter to repatriation, which the fast path
    never has; convictions only to outputs that split trials by outcome, and
    sentences only to the prison's. Each purpose has its own Generator, so
    leaving one out changes no other number.

    >>> sorted(f.name for f in flows_for(frozenset({"backlog_trial"})))
    ['ARRIVALS', 'EXEMPTION', 'SCREENING', 'TRIAL']
    >>> DetentionFlow.SENTENCE in flows_for(frozenset({"in_prison"}))
    True
    """
    flows = {DetentionFlow.ARRIVALS, DetentionFlow.SCREENING, DetentionFlow.TRIAL,
             DetentionFlow.EXEMPTION}
    if want & _SPLIT:
        flows.add(DetentionFlow.CONVICTION)
    if want & _PRISON:
        flows.add(DetentionFlow.SENTENCE)
    return frozenset(flows)


# -- the compiled pass ------------------------------------------------------------------


@compiled.kernel
def _fifo(arrive: FloatArray, service: FloatArray, servers: int,
          out: FloatArray) -> None:  # pragma: no cover - compiled
    """FIFO start times of one station with *servers* servers, all free at 0, into *out*.

    The loop of :func:`~threatsim.models.detention.fastpath._station_rows`, for one row.
    """
    free = np.zeros(servers)
    for k in range(arrive.shape[0]):
        start = max(arrive[k], free[0])
        out[k] = start
        end = start + service[k]
        j = 0
        while j + 1 < servers and free[j + 1] < end:
            free[j] = free[j + 1]
            j += 1
        free[j] = end


@compiled.kernel
def _bin(t: float, grid: FloatArray, inv: float) -> int:  # pragma: no cover - compiled
    """The first index ``m`` with ``grid[m] >= t`` (``len(grid)``: never), for ``t >= 0``.

    A first guess ``floor(t / month)``, then exact comparisons with the grid
    itself: the ``side="left"`` search of :func:`numpy.searchsorted`.
    """
    last: int = grid.shape[0] - 1
    if not t <= grid[last]:
        return last + 1
    m = min(int(t * inv), last)
    while m > 0 and grid[m - 1] >= t:
        m -= 1
    while grid[m] < t:
        m += 1
    return int(m)


@compiled.kernel
def _bucket_of(bits: np.uint64) -> int:  # pragma: no cover - compiled
    """The bucket of the double with bit pattern *bits* (>= 0; see :data:`_BUCKETS`)."""
    key = np.int64(bits >> np.uint64(_KEY_SHIFT)) - np.int64(_KEY_LOW)
    return int(min(max(key, np.int64(0)), np.int64(_BUCKETS - 1)))


@compiled.kernel
def _waits_histogram(w: FloatArray, hist: np.ndarray) -> None:  # pragma: no cover
    """Count the values of *w* (>= 0 or ``inf``) by bucket into *hist* (zeroed first).

    Each bucket has :data:`_WAYS` counters taken in turn, so that a run of values in
    one bucket (waits in a queue come in runs) does not wait on its own increments.
    """
    hist[:] = 0
    bits = w.view(np.uint64)
    for i in range(w.shape[0]):
        hist[_bucket_of(bits[i]) * _WAYS + (i & (_WAYS - 1))] += 1


@compiled.kernel
def _rank_bucket(kk: int, hist: np.ndarray) -> tuple[int, int]:  # pragma: no cover
    """(bucket, rank within it) of the *kk*-th smallest value counted in *hist*."""
    below = 0
    at = 0
    while True:
        here = 0
        for way in range(_WAYS):
            here += hist[at * _WAYS + way]
        if below + here > kk:
            return at, kk - below
        below += here
        at += 1


@compiled.kernel
def _pick(w: FloatArray, k1: int, k2: int, hist: np.ndarray, buf1: FloatArray,
          buf2: FloatArray) -> tuple[float, float]:  # pragma: no cover - compiled
    """The *k1*-th and *k2*-th smallest (from 0) of *w* (values >= 0 or ``inf``), exactly.

    *hist* counts *w* by bucket (:func:`_waits_histogram`). The bucket holding each
    rank is found and only its values are gathered (both in one pass, without a
    branch on the data) and sorted: ``inf`` sorts last. In bucket 0 the zeros, the
    smallest values, are counted first and only the positive values gathered. *buf1*
    and *buf2* hold ``len(w)`` values each.
    """
    at1, r1 = _rank_bucket(k1, hist)
    at2, r2 = _rank_bucket(k2, hist)
    bits = w.view(np.uint64)
    n = w.shape[0]
    c1 = 0
    c2 = 0
    if 0 < at1 < _BUCKETS - 1 and 0 < at2 < _BUCKETS - 1:
        # buckets inside the clipped range: compare the values' top bits themselves
        shift = np.uint64(_KEY_SHIFT)
        top1 = np.uint64(at1 + _KEY_LOW)
        top2 = np.uint64(at2 + _KEY_LOW)
        for i in range(n):
            v = w[i]
            top = bits[i] >> shift
            buf1[c1] = v
            c1 += top == top1
            buf2[c2] = v
            c2 += top == top2
    else:
        for i in range(n):
            v = w[i]
            b = _bucket_of(bits[i])
            buf1[c1] = v
            c1 += b == at1
            buf2[c2] = v
            c2 += b == at2
    out = [0.0, 0.0]
    for j, at, rank, buf, c in ((0, at1, r1, buf1, c1), (1, at2, r2, buf2, c2)):
        if at == 0:  # the zeros first, then the positive values below 2**-64
            zeros = 0
            for i in range(c):
                zeros += buf[i] == 0.0
            if rank >= zeros:
                positive = buf[:c][buf[:c] > 0.0]
                out[j] = float(np.sort(positive)[rank - zeros])
        else:
            out[j] = float(np.sort(buf[:c])[rank])
    return out[0], out[1]


@compiled.kernel
def _courts(referred: FloatArray, trial: FloatArray, arrive: FloatArray, servers: int,
            convicted: np.ndarray, sentence: FloatArray, grid: FloatArray, horizon: float,
            releases: bool, waits: bool, counts: np.ndarray, w: FloatArray,
            hist: np.ndarray) -> None:  # pragma: no cover - compiled
    """The courts' FIFO recursion over cases in the order referred, recording as it goes.

    Each case starts at ``max(referred, earliest free court)`` and ends at
    ``start + trial`` (the additions of :func:`_fifo` and of ``record_batch``). The
    courts' free times stay sorted: the earliest (kept in a register) is replaced by
    the end and the order kept by ``new[j] = min(old[j + 1], max(old[j], end))``
    (``old[servers]`` is ``inf``; each old value read once and carried to the next
    court in a register): only ``min`` and ``max``, the same free times as moving the
    end up to its place (:func:`_fifo`), without a branch that depends on the data. Trial
    ends (and releases) are counted at their grid instant in ``counts[3]`` (convicted),
    ``counts[4]`` (acquitted), ``counts[5]`` (released); with *waits*, ``w[i]`` is the
    wait ``start - arrive`` (``inf`` if the trial starts after the horizon), counted by
    bucket in *hist* (zeroed here; see :func:`_waits_histogram`).
    """
    inv = 1.0 / DAYS_PER_MONTH
    free = np.zeros(servers + 1)
    free[servers] = math.inf
    f0 = 0.0
    bits = w.view(np.uint64)
    if waits:
        hist[:] = 0
    for i in range(referred.shape[0]):
        a = referred[i]
        start = a if a > f0 else f0
        end = start + trial[i]
        # end >= the earliest free time f0, so max(f0, end) is end
        prev = free[1]
        f0 = prev if prev < end else end
        for j in range(1, servers):  # each free time read once, carried in a register
            nxt = free[j + 1]
            x = prev if prev > end else end
            free[j] = nxt if nxt < x else x
            prev = nxt
        b = _bin(end, grid, inv)
        if convicted[i]:
            counts[3, b] += 1
            if releases:
                counts[5, _bin(end + sentence[i], grid, inv)] += 1
        else:
            counts[4, b] += 1
        if waits:
            v = start - arrive[i] if start <= horizon else math.inf
            w[i] = v
            hist[_bucket_of(bits[i]) * _WAYS + (i & (_WAYS - 1))] += 1


@compiled.kernel
def _replication(cases: FloatArray, m: int, n0: int, screen: FloatArray, teams: int,
                 u_exempt: FloatArray, share: FloatArray, trial: FloatArray,
                 convicted: np.ndarray, sentence: FloatArray, courts: int, grid: FloatArray,
                 horizon: float, spaced: bool, screens: bool, exempts: bool, trials: bool,
                 releases: bool, waits: bool, n_dep: int, k: int, work: FloatArray,
                 ex: np.ndarray, hist: np.ndarray, series: FloatArray,
                 wait_out: FloatArray) -> None:  # pragma: no cover - compiled
    """One replication of the fast path: its arrival times, both stations, and row *k*
    of every output.

    ``cases[:m]`` are this replication's ``m`` arrival times, and the other inputs its
    cases' values; unless *spaced*, ``cases[n0:m + 1]`` holds the new arrivals'
    exponential spacings, turned here into times as ``draw_batch`` does (cumulative
    sums in order, each times ``horizon`` over the last). ``series[j, k]`` gets output
    ``GRID_OUTPUTS[j]`` on the grid, ``wait_out[:, k]`` the median and 90th percentile
    of the pretrial waits (NaN where censored). Rows that *trials* / *releases* leave
    out are not written. *work* is scratch of (4, at least m) doubles, *ex* of m flags.
    """
    size = grid.shape[0]
    n_months = size - 1
    # arrived[j]: arrivals at or before grid[j], by a running index over the grid (the
    # arrivals are sorted), counted as the times are formed where they are formed here
    arrived_at = np.zeros(size, dtype=np.int64)
    j = 0
    if not spaced:
        total = 0.0
        for i in range(n0, m + 1):
            total += cases[i]
            cases[i] = total
        factor = horizon / cases[m]
        for i in range(n0, m):  # (the initial stock arrives at 0 = grid[0])
            t = cases[i] * factor
            cases[i] = t
            while j < size and t > grid[j]:
                arrived_at[j] = i
                j += 1
    else:
        for i in range(m):
            while j < size and cases[i] > grid[j]:
                arrived_at[j] = i
                j += 1
    arrived_at[j:] = m
    arrive = cases[:m]
    se = work[0, :m]
    # Screening: referred at the end of screening (on arrival where no one screens).
    if screens:
        _fifo(arrive, screen, teams, se)
        for i in range(m):
            se[i] += screen[i]
    else:
        se[:] = arrive
    exempt = ex[:m]
    monotone = True
    referred = se
    if exempts:
        referred = work[2, :m]
        for i in range(m):
            s = se[i]
            month = min(int(min(s, horizon) / DAYS_PER_MONTH), n_months - 1)
            e = u_exempt[i] < share[month] and s <= horizon
            exempt[i] = e
            referred[i] = math.inf if e else s
            if i and referred[i] < referred[i - 1]:
                monotone = False
    else:
        exempt[:] = False
        if screens:
            for i in range(1, m):
                if se[i] < se[i - 1]:
                    monotone = False
                    break
    counts = np.zeros((6, size + 1), dtype=np.int64)
    w = work[1, :m]
    if trials:
        # Courts: cases queue in the order they were referred (stable for ties). The
        # counts and the waits do not depend on the order the cases are recorded in.
        if monotone:
            _courts(referred, trial, arrive, courts, convicted, sentence, grid, horizon,
                    releases, waits, counts, w, hist)
        else:
            order = np.argsort(referred, kind="mergesort")
            _courts(referred[order], trial[order], arrive[order], courts, convicted[order],
                    sentence[order], grid, horizon, releases, waits, counts, w, hist)
    # The grid: arrivals by a running index over the grid (they are sorted), other
    # times at their grid instant; counts[r, j] is cumulated into "at or before grid[j]".
    inv = 1.0 / DAYS_PER_MONTH
    if screens or exempts:
        for i in range(m):
            b = _bin(se[i], grid, inv)
            counts[1, b] += 1
            if exempt[i]:
                counts[2, b] += 1
    run = np.zeros(6, dtype=np.int64)
    arrived = 0
    for j in range(size):
        arrived = arrived_at[j]
        for r in range(1, 6):
            run[r] += counts[r, j]
        screened = run[1] if screens or exempts else arrived
        exempted, conv, acq, rel = run[2], run[3], run[4], run[5]
        series[0, k, j] = arrived - screened
        series[3, k, j] = n_dep
        series[4, k, j] = 0.0
        series[6, k, j] = exempted
        series[9, k, j] = arrived + n_dep
        if trials:
            series[1, k, j] = screened - exempted - conv - acq
            series[7, k, j] = conv
            series[8, k, j] = acq
            if releases:
                series[2, k, j] = conv - rel
                series[5, k, j] = rel
    if waits:
        # Referred for trial: screened within the run and not exempted; the rest (and
        # those whose trial starts after the horizon) wait for ever.
        screened = run[1] if screens or exempts else arrived
        n_who = screened - run[2]
        if n_who > 0:
            median, p90 = _pick(w, max(0, math.ceil(0.5 * n_who) - 1),
                                max(0, math.ceil(0.9 * n_who) - 1), hist, work[2], work[3])
            wait_out[0, k] = median if median < math.inf else math.nan
            wait_out[1, k] = p90 if p90 < math.inf else math.nan
        else:
            wait_out[0, k] = math.nan
            wait_out[1, k] = math.nan


# -- the driver -------------------------------------------------------------------------


class _Rows:
    """Row buffers for one replication's cases, grown as needed and reused."""

    def __init__(self, width: int) -> None:
        self.width = -1
        self.grow(width)

    def grow(self, width: int) -> None:
        if width <= self.width:
            return
        self.width = width = max(width, int(self.width * 1.25))
        self.arrive = np.empty(width)
        self.foreign = np.zeros(width, dtype=bool)
        self.screen = np.zeros(width)
        self.trial = np.zeros(width)
        self.sentence = np.zeros(width)
        self.u_exempt = np.ones(width)
        self.convicted = np.zeros(width, dtype=bool)
        self.scratch = np.empty(width + 1)
        self.work = np.empty((4, width))
        self.ex = np.zeros(width, dtype=bool)


def fused_rows(plan: Plan, rows: Sequence[Mapping[str, float]], chance: Chance,
               want: frozenset[str], given: GivenArrivals | None = None,
               ) -> dict[str, np.ndarray]:
    """The outputs *want* of every draw of *rows* by the fused fast path: (draw, time), (draw,).

    Valid only where :func:`~threatsim.models.detention.fastpath.fast_path_applies`
    and :func:`threatsim.core.compiled.enabled`. The same numbers as
    ``record_batch(cb, fifo_batch(cb, plan), plan, want)`` on ``draw_batch(rows, ...)``.

    >>> row = dict(detained_iraq=3, detained_syria=0, dependants_syria=2,
    ...            arrivals_per_month=0.0, arrivals_foreign_share=0.0,
    ...            dependants_child_share=1.0, screening_days=0.0, trial_days=10.0,
    ...            duration_cv=0.0, conviction_share=1.0, sentence_months=100.0)
    >>> levers = {"screening_teams": np.full(2, 1.0), "courts": np.full(2, 1.0),
    ...           "exemption_share": np.zeros(2), "repatriation_rate": np.zeros(2),
    ...           "children_first": np.zeros(2)}
    >>> from threatsim.stats.variates import ChanceStreams
    >>> got = fused_rows(Plan.from_levers(levers, 2), [row, row],
    ...                  ChanceStreams(seed=0, draw_index=[0, 1]),
    ...                  frozenset({"in_prison", "pretrial_wait_median"}))
    >>> got["in_prison"].tolist(), got["pretrial_wait_median"].tolist()
    ([[0.0, 3.0, 3.0], [0.0, 3.0, 3.0]], [10.0, 10.0])
    """
    n = len(rows)
    if len(chance) != n:
        raise ValueError(f"chance covers {len(chance)} replications, rows {n}")
    size = plan.n_months + 1
    horizon = plan.horizon_days
    flows = flows_for(want)
    trials = bool(want & _TRIED)
    releases = bool(want & _PRISON)
    waits = bool(want & set(WAIT_OUTPUTS))
    exempts = plan.exempts
    teams, courts = int(plan.screening_teams[0]), int(plan.courts[0])
    share = np.ascontiguousarray(plan.exemption_share, dtype=np.float64)
    grid = plan.grid()
    series = np.empty((len(GRID_OUTPUTS), n, size))
    wait_out = np.empty((2, n))
    hist = np.empty(_BUCKETS * _WAYS, dtype=np.int64)
    if given is None:
        n0 = [int(r["detained_iraq"]) + int(r["detained_syria"]) for r in rows]
        expected = max((a + float(r["arrivals_per_month"]) * plan.n_months
                        for a, r in zip(n0, rows, strict=True)), default=0.0)
    else:
        n0 = np.asarray(given.initial, dtype=np.int64).sum(axis=1).tolist()
        totals = given.total().tolist()
        expected = float(max(totals, default=0))
    buf = _Rows(int(expected * 1.1) + 64)
    for k, r in enumerate(rows):
        g_arr = chance.generator(k, flow=DetentionFlow.ARRIVALS)
        a = n0[k]
        b = new_arrivals(r, g_arr, horizon) if given is None else totals[k] - a
        m = a + b
        buf.grow(m + 1)
        screens, kids = _draw_row(
            r, k, chance, g_arr, a, b, plan.n_months, given, exempts, flows, buf.arrive,
            buf.foreign, buf.screen, buf.trial, buf.sentence, buf.u_exempt, buf.convicted,
            buf.scratch, spaced=given is not None)
        _replication(buf.arrive, m, a, buf.screen[:m], teams, buf.u_exempt[:m], share,
                     buf.trial[:m], buf.convicted[:m], buf.sentence[:m], courts, grid,
                     horizon, given is not None, bool(screens), exempts, trials, releases,
                     waits, int(kids.shape[0]), k, buf.work, buf.ex, hist, series, wait_out)
    out = {name: series[j] for j, name in enumerate(GRID_OUTPUTS) if name in want}
    out.update({name: wait_out[j] for j, name in enumerate(WAIT_OUTPUTS) if name in want})
    return out

"""The detention model's outputs: stocks on the monthly grid and pretrial-wait statistics.

Month ``m`` of the grid is the instant ``m * DAYS_PER_MONTH``; a stock at
index ``m`` counts every event at or before that instant. :func:`record`
turns one replication's trace into outputs (any path); :func:`record_batch`
does the same for a whole fast-path chunk, one replication row at a time in
cache-sized scratch buffers, and gives the very same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from threatsim.models.contract import FloatArray
from threatsim.models.detention.cases import DAYS_PER_MONTH, CaseBatch, Cases, Plan, Trace
from threatsim.models.detention.fastpath import FifoBatch

__all__ = ["record", "record_batch"]



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
    """Stocks on the monthly grid and the per-draw wait statistics of one replication.

    >>> from threatsim.models.detention.cases import draw_cases

    >>> from threatsim.stats.variates import ChanceStreams
    >>> from threatsim.models.detention.fastpath import fifo_traces
    >>> row = dict(detained_iraq=3, detained_syria=0, dependants_syria=2,
    ...            arrivals_per_month=0.0, arrivals_foreign_share=0.0,
    ...            dependants_child_share=1.0, screening_days=0.0, trial_days=10.0,
    ...            duration_cv=0.0, conviction_share=1.0, sentence_months=100.0)
    >>> levers = {"screening_teams": np.full(2, 1.0), "courts": np.full(2, 1.0),
    ...           "exemption_share": np.zeros(2), "repatriation_rate": np.zeros(2),
    ...           "children_first": np.zeros(2)}
    >>> plan = Plan.from_levers(levers, 2)
    >>> cases = draw_cases(row, 2, ChanceStreams(seed=0, draw_index=[0]))
    >>> rec = record(cases, fifo_traces([cases], plan)[0], plan)
    >>> rec["in_prison"].tolist(), rec["held_dependants"].tolist()
    ([0, 3, 3], [2, 2, 2])
    >>> rec["pretrial_wait_median"]  # days from arrival to the start of trial
    10.0"""
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



# -- a whole fast-path chunk at once ------------------------------------------------------

#: A time within this many months of a grid instant is binned by exact comparison.
_NEAR = 1e-9


class _Binner:
    """Cumulative counts on the grid of one row's times, in reused scratch buffers.

    The month of a time ``t`` is ``floor(t / DAYS_PER_MONTH) + 1`` (the first
    grid instant at or after ``t``) unless ``t`` is within :data:`_NEAR` months
    of a grid instant, where rounding could tip it either way: those few are
    found by :func:`numpy.searchsorted` on the grid itself, so the counts are
    exactly those of :func:`record` (``t <= grid[m]``). Exact for horizons up
    to about a million months.
    """

    def __init__(self, grid: FloatArray, width: int) -> None:
        self.grid = grid
        self.size = grid.shape[0]
        self.stride = self.size + 2  # bins 0 .. size + 1; size and above: never
        self.inv = 1.0 / DAYS_PER_MONTH
        self.q = np.empty(width)
        self.r = np.empty(width)
        self.b = np.empty(width, dtype=np.intp)
        self.c = np.empty(width, dtype=np.intp)
        self.near = np.empty(width, dtype=bool)

    def counts(self, t: FloatArray, cat: np.ndarray | None = None) -> np.ndarray:
        """``out[j, m]``: how many ``t`` of category ``j`` (``cat``, a bool) are ``<= grid[m]``."""
        m = t.shape[0]
        q, b, r, near = self.q[:m], self.b[:m], self.r[:m], self.near[:m]
        np.multiply(t, self.inv, out=q)
        np.minimum(q, self.size + 0.5, out=q)  # inf and late times: bin size + 1
        np.copyto(b, q, casting="unsafe")  # floor (q >= 0)
        b += 1
        if cat is not None:
            c = self.c[:m]
            np.multiply(cat, self.stride, out=c)
            b += c
        np.rint(q, out=r)
        r -= q
        np.abs(r, out=r)
        np.less_equal(r, _NEAR, out=near)
        if near.any():
            at = np.flatnonzero(near)
            exact = np.searchsorted(self.grid, t[at])
            if cat is not None:
                exact += cat[at] * self.stride
            b[at] = exact
        ncat = 1 if cat is None else 2
        hist = np.bincount(b, minlength=ncat * self.stride).reshape(ncat, self.stride)
        return np.cumsum(hist[:, :self.size], axis=1)


def _wait_quantiles(waits: FloatArray, n_who: int, qs: Sequence[float]) -> list[float]:
    """:func:`_order_quantiles` of the first *n_who* order statistics of *waits*.

    *waits* holds the waits of those referred for trial plus ``inf`` for
    everyone else (who sort last), so for ``k < n_who`` its k-th smallest is
    the k-th smallest wait. Partitions *waits* in place.
    """
    if n_who == 0:
        return [math.nan] * len(qs)
    ks = [max(0, math.ceil(q * n_who) - 1) for q in qs]
    waits.partition(sorted(set(ks)))
    return [float(waits[k]) if math.isfinite(waits[k]) else math.nan for k in ks]


def record_batch(cb: CaseBatch, fb: FifoBatch, plan: Plan,
                 want: frozenset[str] | None = None) -> dict[str, np.ndarray]:
    """:func:`record` of every replication of a fast-path chunk: ``(replications, ...)`` arrays.

    Only the outputs named in *want* (default: all). The same numbers as
    :func:`record` on each replication's censored trace, without building
    the traces: times after the horizon simply never count.

    >>> from threatsim.models.detention.cases import draw_batch

    >>> from threatsim.stats.variates import ChanceStreams
    >>> from threatsim.models.detention.fastpath import fifo_batch
    >>> row = dict(detained_iraq=3, detained_syria=0, dependants_syria=2,
    ...            arrivals_per_month=0.0, arrivals_foreign_share=0.0,
    ...            dependants_child_share=1.0, screening_days=0.0, trial_days=10.0,
    ...            duration_cv=0.0, conviction_share=1.0, sentence_months=100.0)
    >>> levers = {"screening_teams": np.full(2, 1.0), "courts": np.full(2, 1.0),
    ...           "exemption_share": np.zeros(2), "repatriation_rate": np.zeros(2),
    ...           "children_first": np.zeros(2)}
    >>> plan = Plan.from_levers(levers, 2)
    >>> cb = draw_batch([row, row], 2, ChanceStreams(seed=0, draw_index=[0, 1]))
    >>> record_batch(cb, fifo_batch(cb, plan), plan, frozenset({"in_prison"}))
    {'in_prison': array([[0., 3., 3.],
           [0., 3., 3.]])}
    """
    grid = plan.grid()
    size = grid.shape[0]
    horizon = plan.horizon_days
    reps, width = cb.arrive.shape
    names = ("backlog_screening", "backlog_trial", "in_prison", "held_dependants",
             "repatriated", "released", "exempted", "convicted", "acquitted", "arrived")
    scalars = ("pretrial_wait_median", "pretrial_wait_p90")
    want = frozenset(names + scalars) if want is None else want
    out: dict[str, np.ndarray] = {n: np.empty((reps, size)) for n in names if n in want}
    out.update({n: np.empty(reps) for n in scalars if n in want})
    n_dep = cb.n_dependants
    if "held_dependants" in out:
        out["held_dependants"][:] = n_dep[:, None]
    if "repatriated" in out:
        out["repatriated"][:] = 0.0
    trials = bool(want & {"backlog_trial", "in_prison", "released", "convicted", "acquitted"})
    releases = bool(want & {"in_prison", "released"})
    waits = bool(want & set(scalars))
    binner = _Binner(grid, width)
    buf = np.empty(width)
    same = fb.screen_end is cb.arrive
    for k in range(reps):
        m = int(cb.n[k])
        arrive = cb.arrive[k, :m]
        arrived = np.searchsorted(arrive, grid, side="right")  # arrivals are sorted
        if fb.exempt is not None:
            scr = binner.counts(fb.screen_end[k, :m], fb.exempt[k, :m])
            screened, exempted = scr[0] + scr[1], scr[1]
        else:
            screened = arrived if same else binner.counts(fb.screen_end[k, :m])[0]
            exempted = np.zeros(size, dtype=np.int64)
        ts = fb.trial_start[k, :m]
        if trials:
            conv = cb.convicted[k, :m]
            te = np.add(ts, cb.trial_days[k, :m], out=buf[:m])
            acquitted, convicted = binner.counts(te, conv)
            if releases:
                te += cb.sentence_days[k, :m]
                released = binner.counts(te, conv)[1]
                for name, value in (("in_prison", convicted - released),
                                    ("released", released)):
                    if name in out:
                        out[name][k] = value
            for name, value in (("backlog_trial", screened - exempted - convicted - acquitted),
                                ("convicted", convicted), ("acquitted", acquitted)):
                if name in out:
                    out[name][k] = value
        for name, value in (("backlog_screening", arrived - screened), ("exempted", exempted),
                            ("arrived", arrived + n_dep[k])):
            if name in out:
                out[name][k] = value
        if waits:
            # Referred for trial: screened within the run and not exempted; the rest
            # (and those whose trial starts after the horizon) wait for ever.
            n_who = int(screened[-1] - exempted[-1])
            w = np.subtract(ts, arrive, out=buf[:m])
            np.putmask(w, ts > horizon, math.inf)
            med, p90 = _wait_quantiles(w, n_who, (0.5, 0.9))
            if "pretrial_wait_median" in out:
                out["pretrial_wait_median"][k] = med
            if "pretrial_wait_p90" in out:
                out["pretrial_wait_p90"][k] = p90
    return out

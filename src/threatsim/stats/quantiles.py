"""Exact sample quantiles of many long rows, fast.

``np.quantile`` partitions every row in full. For a million draws per month
that is most of a run's time. Here each row's target order statistics are
bracketed from a sorted strided subsample; only the values inside the
brackets are partitioned. The result equals ``np.quantile(..., method=
"linear")`` exactly (the same order statistics, the same interpolation
formula), and rows where a bracket misses fall back to ``np.partition``.

Integer rows (counts of people) whose values span a modest range are counted
instead: one pass tallies each value, and the order statistics are read off
the running count (the same integers np.quantile picks, so the same result).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from threatsim.core import compiled
from threatsim.stats.rows import by_row_blocks

__all__ = ["row_quantiles"]

_SUBSAMPLE = 16_384


def _lerp(a: float, b: float, t: float) -> float:
    """numpy's interpolation (numpy/lib/_function_base_impl.py ``_lerp``), for bit-equality."""
    diff = b - a
    return b - diff * (1 - t) if t >= 0.5 else a + diff * t


_BLOCK = 65_536  # values per block: a block and its masks stay in the CPU cache


#: What :func:`_order_stats_bracketed` returns for a row holding NaN (its sweep counts
#: them: no separate pass over the row to look for them).
_HOLDS_NAN = "holds NaN"


def _order_stats_bracketed(x: np.ndarray, pairs: list[tuple[int, int]],
                           ) -> list[tuple[float, float]] | str | None:
    """Values of ranks (r, r2) (0-based, ascending, r2 - r <= 1) in 1-D *x*; None if a
    bracket misses, :data:`_HOLDS_NAN` if *x* holds NaN.

    One sweep over *x* in cache-sized blocks counts, for every bracket at once,
    the values below it and gathers the values inside it; a full row is read
    from memory once instead of several times per quantile.
    """
    n = x.size
    step = max(1, n // _SUBSAMPLE)
    sample = np.sort(x[::step])
    m = sample.size
    los, his = [], []
    for r, _ in pairs:
        p = r / max(n - 1, 1)
        pos = p * (m - 1)
        # +-4 binomial standard deviations of the subsample rank, plus slack.
        delta = 4.0 * np.sqrt(m * p * (1.0 - p)) + 5.0
        los.append(sample[max(0, int(np.floor(pos - delta)))])
        his.append(sample[min(m - 1, int(np.ceil(pos + delta)))])
    sweep = _sweep_compiled if compiled.enabled() else _sweep_numpy
    below, ties, inside, nans = sweep(x, np.array(los), np.array(his))
    if nans:
        return _HOLDS_NAN
    out = []
    for j, (r, r2) in enumerate(pairs):
        if r < below[j]:
            return None
        k, k2 = r - below[j], r2 - below[j]
        if los[j] == his[j]:
            if k2 >= ties[j]:
                return None
            out.append((float(los[j]), float(los[j])))
            continue
        values = inside[j]
        if k2 >= values.size:
            return None
        part = np.partition(values, [k, k2]) if k2 != k else np.partition(values, k)
        out.append((float(part[k]), float(part[k2])))
    return out


Swept = tuple[list[int], list[int], list[np.ndarray], int]


def _sweep_numpy(x: np.ndarray, los: np.ndarray, his: np.ndarray) -> Swept:
    """For each bracket [lo, hi]: values below lo, values equal to lo when lo == hi, values
    inside; and how many values of *x* are NaN."""
    below = [0] * los.size
    ties = [0] * los.size  # values equal to a bracket of zero width (e.g. depleted at 0)
    inside: list[list[np.ndarray]] = [[] for _ in range(los.size)]
    for s in range(0, x.size, _BLOCK):
        block = x[s:s + _BLOCK]
        for j, (lo, hi) in enumerate(zip(los, his, strict=True)):
            low_mask = block < lo
            below[j] += int(np.count_nonzero(low_mask))
            if lo == hi:
                ties[j] += int(np.count_nonzero(block == lo))
                continue
            keep = block <= hi
            keep &= ~low_mask
            inside[j].append(block[keep])
    nans = int(np.count_nonzero(np.isnan(x)))
    return below, ties, [np.concatenate(parts) if parts else x[:0] for parts in inside], nans


def _sweep_compiled(x: np.ndarray, los: np.ndarray, his: np.ndarray) -> Swept:
    """:func:`_sweep_numpy` in compiled loops (the same counts and values).

    Up to three brackets per read of *x*: one vector loop counts the values below
    and tied, flags the values inside and counts the NaN; a second, branch-free loop
    copies the flagged values out (on a row that keeps ~5 % of its values, a boolean
    index costs several times as much: it branches on every element).
    """
    k = los.size
    below, ties, inside = [0] * k, [0] * k, [x[:0]] * k
    nans = 0
    mask = np.empty(x.size, dtype=np.uint8)
    for g in range(0, k, 3):
        js = list(range(g, min(k, g + 3)))
        cnt_lo = np.full(3, -np.inf)  # padding counts nothing
        eq = np.full(3, np.nan)       # NaN equals nothing
        lo = np.full(3, np.inf)       # an empty interval [inf, -inf] gathers nothing
        hi = np.full(3, -np.inf)
        for slot, j in enumerate(js):
            cnt_lo[slot] = los[j]
            if los[j] == his[j]:  # zero width (e.g. the mass at 0): counted, not gathered
                eq[slot] = los[j]
            else:
                lo[slot], hi[slot] = los[j], his[j]
        counts = _bracket3(x, cnt_lo, eq, lo, hi, mask)
        nans = int(counts[7])
        values = np.empty(int(counts[6]) + 1)  # + 1: the copy loop writes one past the last
        values = values[:_compact(x, mask, values)]
        for slot, j in enumerate(js):
            below[j], ties[j] = int(counts[slot]), int(counts[3 + slot])
            if lo[slot] <= hi[slot]:
                inside[j] = values[(values >= lo[slot]) & (values <= hi[slot])]
    return below, ties, inside, nans


@compiled.kernel
def _bracket3(x: np.ndarray, cnt_lo: np.ndarray,  # pragma: no cover - compiled; equal to numpy
              eq: np.ndarray, lo: np.ndarray, hi: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """One vector loop over *x*: values below ``cnt_lo[j]`` and equal to ``eq[j]``
    (j = 0, 1, 2), ``mask[i]`` = x[i] lies in any [lo[j], hi[j]], how many do, how many
    are NaN: ``[below0, below1, below2, ties0, ties1, ties2, inside, nan]``."""
    c0, c1, c2 = cnt_lo[0], cnt_lo[1], cnt_lo[2]
    e0, e1, e2 = eq[0], eq[1], eq[2]
    l0, l1, l2 = lo[0], lo[1], lo[2]
    h0, h1, h2 = hi[0], hi[1], hi[2]
    b0 = b1 = b2 = t0 = t1 = t2 = kept = nan = 0
    for i in range(x.shape[0]):
        v = x[i]
        b0 += v < c0
        b1 += v < c1
        b2 += v < c2
        t0 += v == e0
        t1 += v == e1
        t2 += v == e2
        m = ((v >= l0) & (v <= h0)) | ((v >= l1) & (v <= h1)) | ((v >= l2) & (v <= h2))
        mask[i] = m
        kept += m
        nan += v != v
    return np.array([b0, b1, b2, t0, t1, t2, kept, nan])


@compiled.kernel
def _compact(x: np.ndarray, mask: np.ndarray,  # pragma: no cover - compiled; = x[mask]
             out: np.ndarray) -> int:
    """``x[mask]`` into *out* (one slot longer than the flags set): every value is
    written, and the position moves on only past a flagged one, so no branch."""
    f = 0
    for i in range(x.shape[0]):
        out[f] = x[i]
        f += mask[i]
    return f


#: Integer rows whose values span at most this many (or 4x the row's length) are
#: counted value by value instead of bracketed (people: a few tens of thousands).
_COUNT_SPAN = 1 << 20


def _int_order_stats(x: np.ndarray, ranks: np.ndarray) -> np.ndarray | None:
    """Order statistics of ranks *ranks* (ascending) of integer row *x* by counting; None
    if its values span too wide a range. Exact: an integer's count needs no comparison
    of doubles, and the values are the row's own integers."""
    if x.size == 0:
        return None
    limit = max(_COUNT_SPAN, 4 * x.size)
    if compiled.enabled():
        found, values = _count_ranks(x, ranks, limit)
        return values if found else None
    lo, hi = int(x.min()), int(x.max())
    if hi - lo >= limit:
        return None
    cum = np.cumsum(np.bincount(x - lo, minlength=hi - lo + 1))
    return lo + np.searchsorted(cum, ranks, side="right")


@compiled.kernel
def _count_ranks(x: np.ndarray, ranks: np.ndarray,  # pragma: no cover - compiled; equal to numpy
                 limit: int) -> tuple[bool, np.ndarray]:
    """:func:`_int_order_stats`'s numpy path in one compiled pass over *x* (plus the counts)."""
    lo = x[0]
    hi = x[0]
    for i in range(x.shape[0]):
        v = x[i]
        if v < lo:
            lo = v
        if v > hi:
            hi = v
    out = np.empty(ranks.shape[0], dtype=np.int64)
    span = hi - lo
    if span < 0 or span >= limit:  # span < 0: the difference overflowed int64
        return False, out
    counts = np.zeros(hi - lo + 1, dtype=np.int64)
    for i in range(x.shape[0]):
        counts[x[i] - lo] += 1
    j = 0
    cum = 0
    for b in range(counts.shape[0]):
        cum += counts[b]
        while j < ranks.shape[0] and ranks[j] < cum:
            out[j] = lo + b
            j += 1
        if j == ranks.shape[0]:
            break
    return True, out


def row_quantiles(rows: np.ndarray, quantiles: Sequence[float], *,
                  workers: int = 1) -> np.ndarray:
    """Quantiles (linear interpolation) of each row of a 2-D array, shape (len(q), n_rows).

    Rows holding NaN use ``np.nanquantile`` (NaN are skipped, as xarray does).
    Equal to ``np.quantile(rows, quantiles, axis=1)`` bit for bit on rows without NaN.
    *workers* threads share the rows out (:func:`threatsim.stats.rows.by_row_blocks`);
    the values do not depend on it.

    >>> row_quantiles(np.array([[1.0, 2.0, 3.0, 4.0, 5.0]]), [0.25, 0.5])
    array([[2.],
           [3.]])
    """
    rows = np.asarray(rows)
    qs = np.asarray(quantiles, dtype=np.float64)
    return by_row_blocks(lambda block: _row_quantiles(block, qs), rows, workers)


def _row_quantiles(rows: np.ndarray, qs: np.ndarray) -> np.ndarray:
    """:func:`row_quantiles` on one thread."""
    n_rows, n = rows.shape
    out = np.empty((qs.size, n_rows))
    virtual = qs * (n - 1)
    below = np.floor(virtual).astype(np.int64)
    above = np.minimum(below + 1, n - 1)
    gamma = virtual - below
    pairs = [(int(b), int(a)) for b, a in zip(below, above, strict=True)]
    wanted = np.array(sorted({r for pair in pairs for r in pair}), dtype=np.int64)
    # Counts of people: order statistics by counting (exact, one pass, no doubles). Values
    # beyond 2**53 would not survive the conversion np.quantile makes, so are left to it.
    counted = (rows.dtype.kind == "i" or (rows.dtype.kind == "u" and rows.dtype.itemsize < 8)) \
        and n > 0
    for i in range(n_rows):
        if counted:
            xi = np.ascontiguousarray(rows[i], dtype=np.int64)
            at = _int_order_stats(xi, wanted)
            if at is not None and abs(int(at[0])) < 2**53 and abs(int(at[-1])) < 2**53:
                value = dict(zip(wanted.tolist(), at.astype(np.float64).tolist(), strict=True))
                for j, (b, a) in enumerate(pairs):
                    out[j, i] = _lerp(value[b], value[a], float(gamma[j]))
                continue
        # One row at a time as contiguous doubles: integer counts (or a strided view)
        # are converted a row at a time, never the whole array at once.
        x = np.ascontiguousarray(rows[i], dtype=np.float64)
        # A long row's sweep counts its NaN; a short one (or a missed bracket) is looked at.
        stats = _order_stats_bracketed(x, pairs) if n > 4 * _SUBSAMPLE else None
        if isinstance(stats, str) or (stats is None and np.isnan(x).any()):
            out[:, i] = np.nanquantile(x, qs)
            continue
        if stats is None:
            ranks = sorted({r for pair in pairs for r in pair})
            part = np.partition(x, ranks)
            stats = [(float(part[b]), float(part[a])) for b, a in pairs]
        for j, (at_below, at_above) in enumerate(stats):
            out[j, i] = _lerp(at_below, at_above, float(gamma[j]))
    return out

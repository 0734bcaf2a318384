"""Binning a chunk for the streamed exact quantiles (:mod:`threatsim.engine.exact_quantiles`).

Pass 1 of :class:`threatsim.engine.exact_quantiles.ExactQuantiles` puts every value of a
chunk in a bin of its cell and keeps the values that fall in the pilot's
windows. That is most of the work done per chunk in a summary run, and it runs
where the chunk was computed (a dask worker). :func:`count_pass` does it in one
compiled pass over the chunk where numba is installed (see
:mod:`threatsim.core.compiled`); the numpy functions here are its reference, and
the two give the same bins, counts and kept values (tested).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from threatsim.core import compiled

__all__ = ["bins_of", "collect", "count_pass", "count_pass_packed", "float_keys", "gather",
           "gather_bins", "key_floats", "sort_by_counting", "window_stats", "window_stats_sorted",
           "zeros_per_column"]

_SIGN = np.uint64(0x8000_0000_0000_0000)
_LOW63 = np.uint64(0x7FFF_FFFF_FFFF_FFFF)


def float_keys(x: np.ndarray) -> np.ndarray:
    """Order-preserving ``uint64`` keys of float64 values (NaN: the largest key).

    >>> keys = float_keys(np.array([-1.0, 0.0, 2.5, np.nan]))
    >>> bool(np.all(np.diff(keys.astype(np.float64)) > 0))  # ascending, as the values are
    True
    """
    u = np.ascontiguousarray(x, dtype=np.float64).view(np.uint64)
    neg = u >> np.uint64(63)
    keys = u ^ ((neg * _LOW63) | _SIGN)
    nan = np.isnan(x)
    if nan.any():
        keys[nan] = np.uint64(0xFFFF_FFFF_FFFF_FFFF)
    return keys


def key_floats(k: np.ndarray) -> np.ndarray:
    """Inverse of :func:`float_keys` (for non-NaN keys).

    >>> key_floats(float_keys(np.array([-1.0, 2.5])))
    array([-1. ,  2.5])
    """
    k = np.asarray(k, dtype=np.uint64)
    pos = k >> np.uint64(63)  # 1 for keys of non-negative floats
    u = np.where(pos == 1, k ^ _SIGN, ~k)
    return u.view(np.float64)


def bins_of(x: np.ndarray, lo: np.ndarray, scale: np.ndarray, bins: int) -> np.ndarray:
    """Pass-1 bin of every value of ``x`` (m, C): 0 under, 1..B, B+1 over, B+2 NaN; plus the
    cell's offset ``c * (B + 3)``. The same float operations in every pass and process.

    >>> x = np.array([[0.5, 3.0], [1.5, 1.0], [-2.0, np.nan]])
    >>> bins_of(x, np.zeros(2), np.ones(2), 3)  # cell 1's bins are offset by 3 + 3
    array([[ 1, 10],
           [ 2,  8],
           [ 0, 11]])
    """
    t = np.subtract(x, lo)
    t *= scale
    t += 1.0
    np.clip(t, 0.0, float(bins + 1), out=t)
    nan = np.isnan(t)
    if nan.any():
        t[nan] = bins + 2
    idx: np.ndarray = t.astype(np.int64)  # truncation is floor here: t >= 0
    idx += np.arange(x.shape[1], dtype=np.int64) * (bins + 3)
    return idx


def zeros_per_column(x: np.ndarray) -> np.ndarray:
    """How many of each column's values of *x* (m, C) are 0 (-0.0 counts; NaN does not),
    read along memory.

    A summary's P(= 0) needs this of every chunk. ``np.count_nonzero(x == 0, axis=0)``
    first writes a boolean copy of the chunk; the compiled kernels count as they read:
    0.05 against 0.24 ms for W1's chunk of 61 cells x 8,192 draws recorded with the
    draws last, 0.08 against 0.34 ms for it C-ordered (2-core AMD EPYC, 200 calls each),
    6-8 % of the bounded W1 run at 10^6 draws. Without numba (or for another layout)
    numpy does it, along memory too: a column's values adjacent are read as rows.

    >>> x = np.array([[0.0, 1.0, -0.0], [0.0, np.nan, 2.0]])
    >>> zeros_per_column(x), zeros_per_column(np.asfortranarray(x))
    (array([2, 0, 1]), array([2, 0, 1]))
    """
    columns_adjacent = x.ndim == 2 and x.strides[0] < x.strides[1]
    if x.ndim == 2 and compiled.enabled():
        if columns_adjacent and x.flags.f_contiguous:
            return _zeros_along_rows(x.T)
        if x.flags.c_contiguous:
            return _zeros_down_columns(x)
    if columns_adjacent:
        return np.asarray(np.count_nonzero(x.T == 0, axis=1))
    return np.asarray(np.count_nonzero(x == 0, axis=0))


@compiled.kernel
def _zeros_along_rows(y: np.ndarray) -> np.ndarray:  # pragma: no cover
    """Zeros in each row of a C-ordered *y* (C, m): each row one column of the chunk."""
    out = np.zeros(y.shape[0], dtype=np.int64)
    for c in range(y.shape[0]):
        n = 0
        for i in range(y.shape[1]):
            n += y[c, i] == 0.0
        out[c] = n
    return out


@compiled.kernel
def _zeros_down_columns(x: np.ndarray) -> np.ndarray:  # pragma: no cover
    """Zeros in each column of a C-ordered *x* (m, C), row by row."""
    out = np.zeros(x.shape[1], dtype=np.int64)
    for i in range(x.shape[0]):
        for c in range(x.shape[1]):
            out[c] += x[i, c] == 0.0
    return out


_GID_CACHE: dict[str, np.ndarray] = {}


def _group_table(token: str, cells: int, bins: int, ranges: list[Any]) -> np.ndarray:
    """``table[c * (B + 3) + b]``: the group (window) that bin b of cell c belongs to, or -1.

    Cached by the pass's *token*: every chunk of a pass reduced in this process shares it.
    """
    gid = _GID_CACHE.get(token)
    if gid is None:
        gid = np.full(cells * (bins + 3), -1, dtype=np.int32)
        for j, (cell, b_lo, b_hi) in enumerate(ranges):
            gid[cell * (bins + 3) + b_lo: cell * (bins + 3) + b_hi + 1] = j
        if len(_GID_CACHE) > 8:
            _GID_CACHE.clear()
        _GID_CACHE[token] = gid
    return gid


def gather(x: np.ndarray, idx: np.ndarray, token: str, ranges: list[Any], bins: int, *,
           raw: list[bool] | None = None) -> list[Any]:
    """For each ``(cell, first bin, last bin)``: the values of that cell in those bins
    (as they are where *raw* says so, else as distinct values with counts).

    >>> x = np.array([[0.5], [1.5], [0.2]])
    >>> gather(x, bins_of(x, np.zeros(1), np.ones(1), 3), "doc-gather", [(0, 1, 1)], 3)
    [('vals', array([0.2, 0.5]), array([1, 1]), 13819745816549104026, 13826050856027422720)]
    """
    gid = _group_table(token, x.shape[1], bins, ranges)
    g = gid[idx]
    sel = g >= 0
    gsel, vsel = g[sel], x[sel]
    if len(ranges) < 2**15:  # a stable sort of 16-bit keys is a radix sort
        gsel = gsel.astype(np.int16)
    order = np.argsort(gsel, kind="stable")
    gsel, vsel = gsel[order], vsel[order]
    cuts = np.searchsorted(gsel, np.arange(len(ranges) + 1))
    out: list[Any] = []
    for j in range(len(ranges)):
        part = vsel[cuts[j]:cuts[j + 1]]
        if raw is not None and raw[j]:
            out.append(("raw", part.copy()) if part.size else None)
        else:
            out.append(collect(part, None))
    return out


def collect(vals: np.ndarray, k: np.ndarray | None) -> tuple[Any, ...] | None:
    """Values as distinct values with counts, and the keys of the smallest and largest.

    >>> collect(np.array([2.0, 1.0, 2.0]), None)[:3]
    ('vals', array([1., 2.]), array([1, 2]))
    """
    if vals.size == 0:
        return None
    kk = float_keys(vals) if k is None else k
    u, cnt = np.unique(vals, return_counts=True)
    return ("vals", u, cnt, int(kk.min()), int(kk.max()))


def count_pass(x: np.ndarray, lo: np.ndarray, scale: np.ndarray, bins: int, token: str,
               windows: list[Any]) -> tuple[np.ndarray, list[Any]]:
    """Pass 1 on one chunk ``x`` (m, C): the count of every bin of every cell (flat,
    ``C * (B + 3)``), and for each window ``(cell, first bin, last bin, mode)`` the
    values inside it (``("raw", values)``, or ``("vals", distinct, counts, kmin, kmax)``
    for mode ``"collect"``; None when empty).

    >>> x = np.array([[0.5], [1.5], [2.5], [0.2]])
    >>> counts, inside = count_pass(x, np.zeros(1), np.ones(1), 3, "doc-count", [(0, 1, 1, "raw")])
    >>> counts.tolist(), inside
    ([0, 2, 1, 1, 0, 0], [('raw', array([0.5, 0.2]))])
    """
    ranges = [w[:3] for w in windows]
    raw = [mode == "raw" for *_, mode in windows]
    if compiled.enabled():
        return _count_pass_compiled(x, lo, scale, bins, token, ranges, raw)
    x = np.asarray(x, dtype=np.float64)
    idx = bins_of(x, lo, scale, bins)
    counts = np.bincount(idx.ravel(order="K"), minlength=x.shape[1] * (bins + 3))
    return counts, gather(x, idx, token, ranges, bins, raw=raw) if windows else []


def gather_bins(x: np.ndarray, lo: np.ndarray, scale: np.ndarray, bins: int, token: str,
                ranges: list[Any]) -> list[Any]:
    """For each ``(cell, first bin, last bin)``: its values as distinct values with counts
    and their key range (``collect``'s result; None when empty), as :func:`gather` gives.

    >>> x = np.array([[0.5], [1.5], [2.5]])
    >>> gather_bins(x, np.zeros(1), np.ones(1), 3, "doc-gather-bins", [(0, 2, 3)])[0][:3]
    ('vals', array([1.5, 2.5]), array([1, 1]))
    """
    if compiled.enabled():
        return _count_pass_compiled(x, lo, scale, bins, token, ranges, [False] * len(ranges))[1]
    x = np.asarray(x, dtype=np.float64)
    return gather(x, bins_of(x, lo, scale, bins), token, ranges, bins)


def count_pass_packed(x: np.ndarray, lo: np.ndarray, scale: np.ndarray, bins: int,
                      token: str, windows: list[Any]) -> tuple[np.ndarray, ...]:
    """:func:`count_pass` with every window's values in one array: ``counts, values,
    repeats, sizes``. Window *j*'s values are the *sizes[j]* after those of the
    windows before it, with their ``repeats`` (each distinct value's count for mode
    ``"collect"``; 1 for each of a raw window's values, kept as they are).

    A pass has hundreds of windows: one array for all of them is merged without a
    Python step per window and chunk (:meth:`ExactQuantiles.merge
    <threatsim.engine.exact_quantiles.ExactQuantiles.merge>`), and travels as one.

    >>> x = np.array([[0.5], [1.5], [2.5], [0.2]])
    >>> wins = [(0, 1, 1, "raw"), (0, 2, 3, "collect")]
    >>> counts, values, repeats, sizes = count_pass_packed(x, np.zeros(1), np.ones(1), 3,
    ...                                                    "doc-packed", wins)
    >>> values.tolist(), repeats.tolist(), sizes.tolist()
    ([0.5, 0.2, 1.5, 2.5], [1, 1, 1, 1], [2, 2])
    """
    ranges = [w[:3] for w in windows]
    raw = [mode == "raw" for *_, mode in windows]
    if not compiled.enabled():
        counts, parts = count_pass(x, lo, scale, bins, token, windows)
        return (counts, *_packed(parts, raw))
    counts, values, repeats, cuts, distinct, _ = _count_pass_kernel(x, lo, scale, bins,
                                                                     token, ranges, raw)
    sizes = distinct
    if raw:
        repeats[np.repeat(np.array(raw), np.diff(cuts))] = 1
    if not np.array_equal(sizes, np.diff(cuts)):  # "collect" windows' gaps: drop them
        offsets = np.cumsum(sizes) - sizes
        keep = np.repeat(cuts[:-1] - offsets, sizes) + np.arange(int(sizes.sum()))
        values, repeats = values[keep], repeats[keep]
    return counts, values, repeats, sizes


def _packed(parts: list[Any], raw: list[bool]) -> tuple[np.ndarray, ...]:
    """:func:`count_pass`'s windows in :func:`count_pass_packed`'s form."""
    values = [p[1] for p in parts if p is not None]
    repeats = [np.ones(p[1].size, dtype=np.int64) if r else p[2]
               for p, r in zip(parts, raw, strict=True) if p is not None]
    sizes = np.array([0 if p is None else p[1].size for p in parts], dtype=np.int64)
    if not values:
        return np.zeros(0), np.zeros(0, dtype=np.int64), sizes
    return (np.concatenate(values), np.concatenate(repeats).astype(np.int64), sizes)


def _count_pass_kernel(x: np.ndarray, lo: np.ndarray, scale: np.ndarray, bins: int,
                       token: str, ranges: list[Any],
                       raw: list[bool]) -> tuple[np.ndarray, ...]:
    """The compiled pass 1 on one chunk: :func:`_bin_and_gather`'s results.

    A "collect" group starting at bin 1 starts at its cell's low edge, which the pilot
    set to one of its values: a point mass there (reserves run out at exactly 0, nobody
    is imprisoned yet) is that value, and values equal to it are counted, not stored
    and sorted (W1 at 10^6 draws: ~1.15 M of a chunk's 4 M values were such zeros).
    """
    gid = _group_table(token, x.shape[1], bins, ranges)
    keep_raw = np.array(raw, dtype=np.bool_) if raw else np.zeros(0, dtype=np.bool_)
    lo = np.asarray(lo, dtype=np.float64)
    atom = np.array([lo[c] if a == 1 and not r else np.nan
                     for (c, a, _), r in zip(ranges, raw, strict=True)], dtype=np.float64)
    # A chunk recorded with the draws last comes as a (rows, cells) view of (cells, rows)
    # memory: the kernel then walks it cell by cell, in memory order, without a copy.
    cells_first = not x.flags.c_contiguous and x.T.flags.c_contiguous
    data = x.T if cells_first else np.ascontiguousarray(x)
    kernel = _bin_and_gather
    if cells_first:
        kernel = _bin_and_gather_by_cell  # compares the values' bits: doubles only
        data = data if data.dtype == np.float64 else data.astype(np.float64)
    return tuple(kernel(data, cells_first, lo, np.asarray(scale, dtype=np.float64), bins,
                        gid, atom, keep_raw))


def _count_pass_compiled(x: np.ndarray, lo: np.ndarray, scale: np.ndarray, bins: int,
                         token: str, ranges: list[Any],
                         raw: list[bool]) -> tuple[np.ndarray, list[Any]]:
    """:func:`count_pass` (and :func:`gather_bins`: its groups, counts unused) compiled."""
    counts, values, repeats, cuts, distinct, ends = _count_pass_kernel(x, lo, scale, bins,
                                                                       token, ranges, raw)
    out: list[Any] = []
    # Python lists and one float_keys call for all groups: a pass may have hundreds.
    cut, n_distinct = cuts.tolist(), distinct.tolist()
    kmin, kmax = (k.tolist() for k in float_keys(ends.ravel()).reshape(2, -1))
    for j in range(len(ranges)):
        a, size = cut[j], cut[j + 1] - cut[j]
        if size == 0:
            out.append(None)
        elif raw[j]:
            out.append(("raw", values[a:a + size].copy()))
        else:
            d = n_distinct[j]
            out.append(("vals", values[a:a + d].copy(), repeats[a:a + d].copy(),
                        kmin[j], kmax[j]))
    return counts, out


@compiled.kernel
def _bin(v: float, lo: float, scale: float, bins: int) -> int:  # pragma: no cover - compiled
    """:func:`bins_of` for one value (without the cell's offset): the same double operations."""
    t: float = (np.float64(v) - lo) * scale
    t += 1.0
    if np.isnan(t):
        return bins + 2
    if t < 0.0:
        t = 0.0
    top = float(bins + 1)
    if t > top:
        t = top
    return int(t)


@compiled.kernel
def _key_before(b: float, a: float) -> bool:  # pragma: no cover - compiled
    """True when *b* comes strictly before *a* in the order of :func:`float_keys`."""
    if np.isnan(b):
        return False
    return bool(np.isnan(a) or b < a or (b == a and np.signbit(b) and not np.signbit(a)))


@compiled.kernel
def _key_max(a: float, b: float) -> float:  # pragma: no cover - compiled
    """The larger of two doubles in the order of :func:`float_keys` (NaN largest)."""
    if np.isnan(a):
        return a
    if np.isnan(b) or b > a or (b == a and not np.signbit(b) and np.signbit(a)):
        return b
    return a


@compiled.kernel
def _groups_of(buf: np.ndarray, start: np.ndarray, kept: np.ndarray,  # pragma: no cover
               in_group: np.ndarray, atom: np.ndarray,
               keep_raw: np.ndarray) -> tuple[np.ndarray, ...]:
    """The kernels' groups, from the values each kept (``buf[start[g]:start[g] +
    kept[g]]``, in the order met) and the values in its bins (*in_group*, its atoms the
    difference): ``values, repeats, cuts, distinct, ends`` as :func:`_bin_and_gather`
    returns them. A group of mode "collect" is sorted and reduced to distinct values (the
    atom first), as ``np.unique(..., return_counts=True)`` gives, with its key range in
    ``ends``; a raw one keeps its values as met (its ``ends`` stay 0: never asked for).
    """
    n_groups = keep_raw.shape[0]
    n_atom = in_group - kept
    cuts = np.zeros(n_groups + 1, dtype=np.int64)
    for g in range(n_groups):
        cuts[g + 1] = cuts[g] + kept[g] + (1 if n_atom[g] > 0 else 0)
    values = np.empty(cuts[n_groups], dtype=np.float64)
    repeats = np.zeros(cuts[n_groups], dtype=np.int64)
    ends = np.zeros((2, n_groups), dtype=np.float64)
    distinct = kept.copy()
    for g in range(n_groups):
        a = cuts[g]
        w = 0
        if n_atom[g] > 0:
            values[a] = atom[g]
            ends[0, g] = atom[g]
            ends[1, g] = atom[g]
            w = 1
        if keep_raw[g]:  # kept as they are, in the order met: no key range is asked
            values[a + w:a + w + kept[g]] = buf[start[g]:start[g] + kept[g]]
            continue
        for i in range(kept[g]):
            x = buf[start[g] + i]
            if w + i == 0:  # the group's first value
                ends[0, g] = x
                ends[1, g] = x
            else:
                if _key_before(x, ends[0, g]):
                    ends[0, g] = x
                ends[1, g] = _key_max(ends[1, g], x)
            values[a + w + i] = x
        if n_atom[g] > 0:
            repeats[a] = n_atom[g]
        seg = values[a + w:cuts[g + 1]]
        seg.sort()
        for j in range(seg.shape[0]):  # np.unique: NaN (sorted last) count as one value
            x = seg[j]
            if w == 0 or (x != values[a + w - 1]
                          and not (np.isnan(x) and np.isnan(values[a + w - 1]))):
                values[a + w] = x
                repeats[a + w] = 1
                w += 1
            else:
                repeats[a + w - 1] += 1
        distinct[g] = w
    return values, repeats, cuts, distinct, ends


@compiled.kernel
def _bin_and_gather(data: np.ndarray, cells_first: bool, lo: np.ndarray,  # pragma: no cover
                    scale: np.ndarray, bins: int, gid: np.ndarray, atom: np.ndarray,
                    keep_raw: np.ndarray) -> tuple[np.ndarray, ...]:
    """:func:`bins_of`, the bin counts and :func:`gather` in one compiled pass.

    *data* is the chunk (rows, cells), or (cells, rows) when *cells_first*. The bin
    of a value is computed with the same double operations as :func:`bins_of`
    ((x - lo) * scale + 1, clipped to [0, B + 1], NaN to B + 2, truncated). A value
    in a group is kept, as (group, value) in the order met, unless it equals (bit for
    bit) its group's *atom* (NaN: none), whose values are counted instead. Kept values
    are then bucketed by group (``cuts``); the groups of mode "collect" are sorted and
    reduced to distinct values (the first ``distinct[g]`` entries of their stretch,
    the atom first) and their ``repeats``, as ``np.unique(..., return_counts=True)``
    gives; ``ends`` holds each such group's smallest and largest value in the order of
    :func:`float_keys` (-0.0 before 0.0, NaN last), the key range a later pass may
    have to split (:func:`_groups_of` makes the groups, for both kernels).
    """
    stride = bins + 3
    n_groups = keep_raw.shape[0]
    n_cells = data.shape[0] if cells_first else data.shape[1]
    # int32: a chunk has far fewer than 2**31 rows (and a smaller array to fault in)
    counts = np.zeros(n_cells * stride, dtype=np.int32)
    n = 0
    if n_groups == 0:
        for outer in range(data.shape[0]):
            for inner in range(data.shape[1]):
                c = outer if cells_first else inner
                counts[c * stride + _bin(data[outer, inner], lo[c], scale[c], bins)] += 1
        hit_g = np.empty(0, dtype=np.int32)
        hit_v = np.empty(0, dtype=np.float64)
    else:
        # Per bin: its group's atom (NaN where none or no group: equal to nothing), so
        # that the loop has no branch on the data (a branch taken for ~30 % of values at
        # random costs more than the rest of the loop): every value is written at the
        # end of the kept ones, which grow only for a value of a group, not its atom.
        atom_of = np.full(gid.shape[0], np.nan)
        for k in range(gid.shape[0]):
            if gid[k] >= 0:
                atom_of[k] = atom[gid[k]]
        total = data.shape[0] * data.shape[1]
        hit_g = np.empty(total + 1, dtype=np.int32)  # its pages are touched as far as used
        hit_v = np.empty(total + 1, dtype=np.float64)
        for outer in range(data.shape[0]):
            for inner in range(data.shape[1]):
                c = outer if cells_first else inner
                v = np.float64(data[outer, inner])
                k = c * stride + _bin(v, lo[c], scale[c], bins)
                counts[k] += 1
                g = gid[k]
                m = atom_of[k]
                is_atom = (v == m) & (np.signbit(v) == np.signbit(m))
                hit_g[n] = g
                hit_v[n] = v
                n += (g >= 0) & (not is_atom)
    # The atoms of a group: its values (the counts of its bins) less those kept.
    in_group = np.zeros(n_groups, dtype=np.int64)
    for k in range(gid.shape[0] if n_groups > 0 else 0):
        if gid[k] >= 0:
            in_group[gid[k]] += counts[k]
    sizes = np.zeros(n_groups, dtype=np.int64)
    for j in range(n):
        sizes[hit_g[j]] += 1
    start = np.zeros(n_groups, dtype=np.int64)  # the kept values bucketed by group
    for g in range(1, n_groups):
        start[g] = start[g - 1] + sizes[g - 1]
    fill = start.copy()
    buf = np.empty(n, dtype=np.float64)
    for j in range(n):
        buf[fill[hit_g[j]]] = hit_v[j]
        fill[hit_g[j]] += 1
    values, repeats, cuts, distinct, ends = _groups_of(buf, start, sizes, in_group, atom,
                                                       keep_raw)
    return counts, values, repeats, cuts, distinct, ends


@compiled.kernel
def _cell_bins(v: np.ndarray, lo: float, scale: float, bins: int,  # pragma: no cover
               kb: np.ndarray) -> None:
    """``kb[i]``: :func:`_bin` of ``v[i]``, the same double operations, with no branch on
    the data (clipped by selects; NaN compares false, so it is clipped to 0 and then set
    to B + 2), so that the loop is vectorised: 0.2-0.5 ms for 10^6 values."""
    top = float(bins + 1)
    nan_bin = np.int32(bins + 2)
    for i in range(v.shape[0]):
        t: float = (float(v[i]) - lo) * scale
        t += 1.0
        nan = t != t
        t = t if t > 0.0 else 0.0
        t = t if t < top else top
        b = np.int32(t)
        kb[i] = nan_bin if nan else b


@compiled.kernel
def _cell_selection(v: np.ndarray, kb: np.ndarray, local: np.ndarray,  # pragma: no cover
                    atom_bits: np.ndarray, no_atom: np.ndarray, sel: np.ndarray) -> None:
    """``sel[i]``: the cell's own number (1, 2, ...) of the group whose bin holds ``v[i]``,
    or 0 where none holds it or ``v[i]`` is that group's atom.

    The atom is compared bit for bit (as ``==`` and the same sign do, for a number);
    ``no_atom[s]`` is 1 for a group without one (its bits then differ from every
    value's), else 0. No iteration waits for another, and there is no branch."""
    bits = v.view(np.uint64)
    for i in range(v.shape[0]):
        s = local[kb[i]]
        differs = (bits[i] ^ atom_bits[s]) | no_atom[s]
        sel[i] = s if differs != 0 else 0


@compiled.kernel
def _cell_compaction(v: np.ndarray, sel: np.ndarray, kept_v: np.ndarray,  # pragma: no cover
                     kept_s: np.ndarray) -> int:
    """The values with a ``sel`` above 0, and their ``sel``, to the front of *kept_v* and
    *kept_s* (each one longer than *v*), in order; returns how many. Branch-free: every
    value is written, and the end moves for the kept ones."""
    n = 0
    for i in range(v.shape[0]):
        s = sel[i]
        kept_v[n] = v[i]
        kept_s[n] = s
        n += s != 0
    return n


@compiled.kernel
def _cell_bins_and_runs(v: np.ndarray, lo: float, scale: float,  # pragma: no cover
                        bins: int, first: np.ndarray, after: np.ndarray, atom_run: int,
                        atom_bits: np.uint64, kb: np.ndarray, sel: np.ndarray) -> None:
    """:func:`_cell_bins` and :func:`_cell_selection` in one vectorised loop, for a cell
    whose groups are at most four runs of bins (a pass-1 cell's pilot windows).

    ``sel[i]``: the run (1-4) whose bins ``first[r] <= bin < after[r]`` hold ``v[i]``,
    or 0 (none; the atom of run *atom_run*, bit for bit); NaN's bin is ``bins + 2``, in
    a run that reaches it. The run is found by comparing the clipped bin position ``t``
    (whose truncation is the bin, NaN's set to ``bins + 2``) with the
    runs' ends, instead of looking the bin up in a table: no gather, so the loop is
    vectorised (0.6-0.9 ms for W1's chunk of 10^6 values against 1.2-1.5 for the
    bins and the table lookup). Empty runs (first > after) hold nothing."""
    top = float(bins + 1)
    nan_top = float(bins + 2)
    a1, a2, a3, a4 = float(first[0]), float(first[1]), float(first[2]), float(first[3])
    b1, b2, b3, b4 = float(after[0]), float(after[1]), float(after[2]), float(after[3])
    bits = v.view(np.uint64)
    for i in range(v.shape[0]):
        t: float = (float(v[i]) - lo) * scale
        t += 1.0
        nan = t != t
        t = t if t > 0.0 else 0.0
        t = t if t < top else top
        t = nan_top if nan else t  # NaN's bin is bins + 2: a run reaching it holds NaN
        kb[i] = np.int32(t)
        s = np.int32(0)
        s = np.int32(1) if (t >= a1) & (t < b1) else s
        s = np.int32(2) if (t >= a2) & (t < b2) else s
        s = np.int32(3) if (t >= a3) & (t < b3) else s
        s = np.int32(4) if (t >= a4) & (t < b4) else s
        s = np.int32(0) if (s == atom_run) & (bits[i] == atom_bits) else s
        sel[i] = np.uint8(s)


@compiled.kernel
def _cell_counts(kb: np.ndarray, scratch: np.ndarray, counts: np.ndarray,  # pragma: no cover
                 base: int, stride: int) -> None:
    """``counts[base + b] +=`` how many of *kb* are b, tallied in four tables (*scratch*,
    ``4 * stride``) in turn: a run of values in one bin (W1's zeros, a third of some
    cells) then does not wait on its own last increment (0.55 against 0.75 ms a chunk)."""
    scratch[:] = 0
    m = kb.shape[0]
    q = m // 4
    for i in range(q):
        scratch[kb[4 * i]] += 1
        scratch[stride + kb[4 * i + 1]] += 1
        scratch[2 * stride + kb[4 * i + 2]] += 1
        scratch[3 * stride + kb[4 * i + 3]] += 1
    for i in range(4 * q, m):
        scratch[kb[i]] += 1
    for b in range(stride):
        counts[base + b] += (scratch[b] + scratch[stride + b] + scratch[2 * stride + b]
                             + scratch[3 * stride + b])


@compiled.kernel
def _cell_sparse_compaction(v: np.ndarray, sel: np.ndarray,  # pragma: no cover
                            kept_v: np.ndarray, kept_s: np.ndarray) -> int:
    """:func:`_cell_compaction` for a byte *sel*: eight values whose ``sel`` are all 0
    (one 8-byte word) are passed over at once, as most are where windows keep few."""
    words = sel[: sel.shape[0] // 8 * 8].view(np.uint64)
    n = 0
    for k in range(words.shape[0]):
        if words[k] != 0:
            for i in range(8 * k, 8 * k + 8):
                s = sel[i]
                kept_v[n] = v[i]
                kept_s[n] = s
                n += s != 0
    for i in range(8 * words.shape[0], v.shape[0]):
        s = sel[i]
        kept_v[n] = v[i]
        kept_s[n] = s
        n += s != 0
    return n


@compiled.kernel
def _bin_and_gather_by_cell(data: np.ndarray, cells_first: bool,  # pragma: no cover
                            lo: np.ndarray, scale: np.ndarray, bins: int, gid: np.ndarray,
                            atom: np.ndarray, keep_raw: np.ndarray) -> tuple[np.ndarray, ...]:
    """:func:`_bin_and_gather` for a chunk recorded with the draws last (*data* is
    (cells, rows); *cells_first* is True): the same results, cell by cell in stages.

    Per cell, in stages that do not wait on one another value by value: every value's
    bin and group (:func:`_cell_bins_and_runs`, vectorised, where the cell's groups are
    at most four runs of bins, as pass 1's windows are; else :func:`_cell_bins` and a
    lookup in the cell's own small table, :func:`_cell_selection`); the counts
    (:func:`_cell_counts`); the kept values to the front (:func:`_cell_sparse_compaction`);
    then only those (3-10 % of W1's) to their group's place. The key range (``ends``)
    is found for the groups of mode "collect" only: the raw ones never ask for it (their
    ``ends`` stay 0). The one loop of :func:`_bin_and_gather`, where each value's place
    depends on the value before, takes 4.9-5.2 ms for W1's chunk of 10^6 values on the
    2-core AMD EPYC; the table lookup and the compaction of every value 3.5; this about
    2 (a captured W1 chunk, same machine).
    """
    stride = bins + 3
    n_groups = keep_raw.shape[0]
    n_cells, m = data.shape[0], data.shape[1]
    counts = np.zeros(n_cells * stride, dtype=np.int32)
    scratch = np.empty(4 * stride, dtype=np.int32)
    kb = np.empty(m, dtype=np.int32)
    sel = np.empty(m, dtype=np.int32)
    sel8 = np.empty(m, dtype=np.uint8)
    kept_v = np.empty(m + 1, dtype=np.float64)
    kept_s = np.empty(m + 1, dtype=np.int32)
    local = np.zeros(stride, dtype=np.int32)  # bin -> the cell's own group number (0: none)
    glob = np.zeros(stride + 1, dtype=np.int64)  # the cell's own number -> the group
    atom_bits = np.zeros(stride + 1, dtype=np.uint64)
    no_atom = np.ones(stride + 1, dtype=np.uint64)
    fill = np.zeros(stride + 1, dtype=np.int64)
    first = np.zeros(4, dtype=np.int32)  # the cell's runs of bins, as [first, after)
    after = np.zeros(4, dtype=np.int32)
    start = np.zeros(n_groups, dtype=np.int64)
    kept = np.zeros(n_groups, dtype=np.int64)
    in_group = np.zeros(n_groups, dtype=np.int64)
    buf = np.empty(n_cells * m + 1, dtype=np.float64)  # pages touched as far as used
    at = 0
    for c in range(n_cells):
        v = data[c]
        base = c * stride
        # The cell's groups: each its own number, and its runs of bins.
        n_local = 0
        n_runs = 0
        runs_ok = True
        for b in range(stride):
            g = gid[base + b]
            if g < 0:
                local[b] = 0
                continue
            if n_local == 0 or glob[n_local] != g:
                seen = 0
                for s in range(1, n_local + 1):  # a group's bins need not be adjacent
                    if glob[s] == g:
                        seen = s
                if seen == 0:
                    n_local += 1
                    glob[n_local] = g
                    no_atom[n_local] = 1 if np.isnan(atom[g]) else 0
                    atom_bits[n_local] = atom[g:g + 1].view(np.uint64)[0]
                    seen = n_local
                local[b] = seen
            else:
                local[b] = n_local
            if b == 0 or local[b - 1] != local[b]:  # a run starts
                n_runs += 1
                if n_runs > 4 or local[b] != n_runs:  # too many, or a group in two runs
                    runs_ok = False
                else:
                    first[n_runs - 1] = b
            if n_runs <= 4:
                after[n_runs - 1] = b + 1
        atom_run = 0
        for s in range(1, n_local + 1):
            if no_atom[s] == 0:
                runs_ok = runs_ok and atom_run == 0  # one atom at most
                atom_run = s
        if n_local == 0:
            _cell_bins(v, lo[c], scale[c], bins, kb)
            _cell_counts(kb, scratch, counts, base, stride)
            continue
        if runs_ok:
            for r in range(n_runs, 4):  # unused runs hold nothing
                first[r] = 1
                after[r] = 0
            _cell_bins_and_runs(v, lo[c], scale[c], bins, first, after, atom_run,
                                atom_bits[atom_run], kb, sel8)
        else:
            _cell_bins(v, lo[c], scale[c], bins, kb)
            _cell_selection(v, kb, local, atom_bits, no_atom, sel)
        _cell_counts(kb, scratch, counts, base, stride)
        for b in range(stride):
            if local[b] > 0:
                in_group[glob[local[b]]] += counts[base + b]
        for s in range(1, n_local + 1):
            g = glob[s]
            start[g] = fill[s] = at
            at += in_group[g]
        if runs_ok:
            n_kept = _cell_sparse_compaction(v, sel8, kept_v, kept_s)
        else:
            n_kept = _cell_compaction(v, sel, kept_v, kept_s)
        for j in range(n_kept):
            s = kept_s[j]
            buf[fill[s]] = kept_v[j]
            fill[s] += 1
        for s in range(1, n_local + 1):
            kept[glob[s]] = fill[s] - start[glob[s]]
    values, repeats, cuts, distinct, ends = _groups_of(buf, start, kept, in_group, atom,
                                                       keep_raw)
    return counts, values, repeats, cuts, distinct, ends


# -- the pilot -------------------------------------------------------------------------

def sort_by_counting(xt: np.ndarray) -> np.ndarray:
    """Sort, in place, each cell (row of *xt*, cells x rows, C-contiguous doubles) that
    holds only whole numbers over a modest span, by counting them; returns which were.

    Counts of people are whole numbers: tallying them is one pass per cell instead of
    a partition, and puts every value where a sort would (the rest are left as they are).

    >>> xt = np.array([[3.0, 1.0, 2.0, 1.0], [0.5, 0.25, 0.75, 0.0]])
    >>> done = sort_by_counting(xt)  # compiled only; without numba nothing is sorted
    >>> bool(done[1]), all((xt[c] == np.sort(xt[c])).all() for c in np.flatnonzero(done))
    (False, True)
    """
    done = np.zeros(xt.shape[0], dtype=np.bool_)
    if compiled.enabled() and xt.shape[1] > 0:
        _sort_by_counting(xt, max(1 << 16, 4 * xt.shape[1]), done)
    return done


@compiled.kernel
def _sort_by_counting(xt: np.ndarray, limit: int,  # pragma: no cover - compiled; vs np.sort
                      done: np.ndarray) -> None:
    n_cells, rows = xt.shape
    for c in range(n_cells):
        lo = xt[c, 0]
        hi = xt[c, 0]
        whole = True
        for i in range(rows):
            v = xt[c, i]
            if not (np.isfinite(v) and v == np.floor(v) and abs(v) < 2.0**52):
                whole = False
                break
            if v < lo:
                lo = v
            if v > hi:
                hi = v
        if not whole or hi - lo >= limit:
            continue
        counts = np.zeros(int(hi - lo) + 1, dtype=np.int64)
        for i in range(rows):
            counts[int(xt[c, i] - lo)] += 1
        i = 0
        for b in range(counts.shape[0]):
            v = lo + b
            for _ in range(counts[b]):
                xt[c, i] = v
                i += 1
        done[c] = True


def window_stats(xt: np.ndarray, lo: np.ndarray, scale: np.ndarray, bins: int,
                 cells: np.ndarray, first: np.ndarray, last: np.ndarray) -> np.ndarray:
    """For pilot windows (cell, first bin, last bin): how many pilot values fall inside,
    how many distinct values they are, and how many of those are seen once; (3, windows).

    *xt* is the pilot, cells x rows, in any order: the plain numpy definition
    (``np.unique`` of each window's values), the reference that the engine's
    :func:`window_stats_sorted` is tested against.

    >>> xt = np.array([[3.0, 1.0, 2.0, 1.0]])
    >>> window_stats(xt, np.zeros(1), np.ones(1), 3, np.array([0]), np.array([1]), np.array([3]))
    array([[3],
           [2],
           [1]])
    """
    out = np.zeros((3, len(cells)), dtype=np.int64)
    for j, (c, a, b) in enumerate(zip(cells, first, last, strict=True)):
        col = xt[c]
        idx = bins_of(col[:, None], lo[c:c + 1], scale[c:c + 1], bins)[:, 0]
        inside = col[(idx >= a) & (idx <= b)]
        values, counts = np.unique(inside, return_counts=True)
        out[:, j] = inside.size, values.size, np.count_nonzero(counts == 1)
    return out


def window_stats_sorted(srt: np.ndarray, lo: np.ndarray, scale: np.ndarray, bins: int,
                        cells: np.ndarray, first: np.ndarray, last: np.ndarray) -> np.ndarray:
    """:func:`window_stats` for a pilot *srt* (rows x cells) whose every cell is sorted
    ascending (NaN last), as the engine's pilot is.

    A value's bin never falls as the value grows, so a window's values are one
    stretch of its sorted cell, found by binary search on the cell's bins, and its
    distinct values are where the stretch changes: no pass over the pilot per window.

    >>> srt = np.array([[1.0], [1.0], [2.0], [3.0]])
    >>> window_stats_sorted(srt, np.zeros(1), np.ones(1), 3, np.array([0]), np.array([1]),
    ...                     np.array([3]))
    array([[3],
           [2],
           [1]])
    """
    out = np.zeros((3, len(cells)), dtype=np.int64)
    if srt.shape[0] == 0:
        return out
    cells, first, last = (np.asarray(v, dtype=np.int64) for v in (cells, first, last))
    if compiled.enabled():  # a binary search that bins a few values of each cell
        starts, ends = _window_stretches(np.asarray(srt, dtype=np.float64),
                                         np.asarray(lo, dtype=np.float64),
                                         np.asarray(scale, dtype=np.float64), bins, cells,
                                         first, last)
    else:  # every value's bin, then the same search
        offsets = np.arange(srt.shape[1], dtype=np.int64) * (bins + 3)
        idx = bins_of(srt, lo, scale, bins) - offsets  # (rows, cells), non-decreasing down
        starts = np.array([np.searchsorted(idx[:, c], a, side="left")
                           for c, a in zip(cells, first, strict=True)], dtype=np.int64)
        ends = np.array([np.searchsorted(idx[:, c], b, side="right")
                         for c, b in zip(cells, last, strict=True)], dtype=np.int64)
    for j, (c, start, end) in enumerate(zip(cells.tolist(), starts.tolist(), ends.tolist(),
                                            strict=True)):
        if end <= start:
            continue
        seg = srt[start:end, c]
        new = np.empty(seg.size, dtype=np.bool_)
        new[0] = True
        # as np.unique: values that compare equal are one (0.0 and -0.0), NaN too
        np.not_equal(seg[1:], seg[:-1], out=new[1:])
        new[1:] &= ~(np.isnan(seg[1:]) & np.isnan(seg[:-1]))
        runs = np.diff(np.append(np.flatnonzero(new), seg.size))
        out[:, j] = seg.size, runs.size, np.count_nonzero(runs == 1)
    return out


@compiled.kernel
def _window_stretches(srt: np.ndarray, lo: np.ndarray,  # pragma: no cover - compiled
                      scale: np.ndarray, bins: int, cells: np.ndarray, first: np.ndarray,
                      last: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each window, the first row of its cell whose bin is >= first and the first whose
    bin is > last (*srt* sorted down each cell, so its bins never fall): two binary
    searches, as np.searchsorted on the cell's bins finds them."""
    n = srt.shape[0]
    starts = np.empty(cells.shape[0], dtype=np.int64)
    ends = np.empty(cells.shape[0], dtype=np.int64)
    for j in range(cells.shape[0]):
        c = cells[j]
        for side in range(2):
            a, b = 0, n  # the first row whose bin is >= first (side 0) or > last (side 1)
            while a < b:
                mid = (a + b) // 2
                k = _bin(srt[mid, c], lo[c], scale[c], bins)
                if (k < first[j]) if side == 0 else (k <= last[j]):
                    a = mid + 1
                else:
                    b = mid
            if side == 0:
                starts[j] = a
            else:
                ends[j] = a
    return starts, ends

"""The compiled pass-1 binning (threatsim.stats.binning) equals its numpy reference."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from threatsim.core import compiled
from threatsim.stats import binning

pytestmark = pytest.mark.skipif(not compiled.available(),
                                reason="numba not installed (pip install threatsim[fast])")


def _with_kernels(flag: str, fn, *args):
    """``fn(*args)`` with THREATSIM_COMPILED=flag (hypothesis tests cannot use the
    monkeypatch fixture, so a MonkeyPatch context of their own)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("THREATSIM_COMPILED", flag)
        return fn(*args)


def _both(x, lo, scale, bins, windows):
    out = {}
    for flag in ("0", "1"):
        token = f"test-{flag}-{np.random.default_rng().integers(1 << 60)}"
        out[flag] = _with_kernels(flag, binning.count_pass, x, lo, scale, bins, token, windows)
    return out["0"], out["1"]


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), m=st.integers(1, 400), cells=st.integers(1, 6),
       bins=st.sampled_from([1, 2, 16, 512]), digits=st.integers(0, 3),
       special=st.floats(0.0, 0.3), ints=st.booleans(), n_windows=st.integers(0, 8),
       draws_last=st.booleans())
def test_count_pass_compiled_equals_numpy(seed, m, cells, bins, digits, special, ints,
                                          n_windows, draws_last):
    """Bin counts and the values kept in each window agree, for ties, zeros, NaN, +-inf,
    values outside the binned range, integer chunks (counts of people), and chunks
    recorded with the draws last (a transposed view, read without a copy)."""
    rng = np.random.default_rng(seed)
    if ints:
        x = rng.integers(-5, 3_000, size=(m, cells))
    else:
        x = np.round(rng.lognormal(0.0, 2.0, size=(m, cells)) - 1.0, digits)
        pick = rng.random((m, cells))
        x[pick < special] = 0.0
        x[pick < special / 2] = -0.0  # a key of its own, below 0.0
        x[pick < special / 3] = np.nan
        x[(pick > 1 - special / 5)] = np.inf
        x[(pick > 1 - special / 10)] = -np.inf
    if draws_last:
        x = np.ascontiguousarray(x.T).T  # (m, cells) view of (cells, m) memory
    lo = rng.uniform(-2.0, 50.0, cells)
    scale = bins / rng.uniform(0.5, 3_000.0, cells)
    windows = []
    for _ in range(n_windows):
        a = int(rng.integers(0, bins + 3))
        b = int(rng.integers(a, bins + 3))
        windows.append((int(rng.integers(0, cells)), a, b,
                        "raw" if rng.random() < 0.5 else "collect"))
    # Windows of one cell never overlap (the pilot merges them): keep the first of each.
    seen: dict[int, list[tuple[int, int]]] = {}
    kept = []
    for w in windows:
        if all(w[2] < a or w[1] > b for a, b in seen.get(w[0], [])):
            seen.setdefault(w[0], []).append((w[1], w[2]))
            kept.append(w)
    (c_ref, g_ref), (c_fast, g_fast) = _both(x, lo, scale, bins, kept)
    np.testing.assert_array_equal(c_fast, c_ref)
    assert len(g_fast) == len(g_ref) == len(kept)
    for ref, fast in zip(g_ref, g_fast, strict=True):
        if ref is None:
            assert fast is None
            continue
        assert fast[0] == ref[0]
        if ref[0] == "raw":  # order inside a window does not matter to a selection
            np.testing.assert_array_equal(np.sort(fast[1]), np.sort(ref[1]))
        else:
            np.testing.assert_array_equal(fast[1], ref[1])
            np.testing.assert_array_equal(fast[2], ref[2])
            assert fast[3:] == ref[3:]  # the key range, -0.0 before 0.0 and NaN last
    # Packed (one array for every window, as pass 1 merges them): the same values, in
    # the same windows, with the compiled kernels as with numpy's reference.
    token = f"packed-{np.random.default_rng().integers(1 << 60)}"
    c_packed, values, repeats, sizes = _with_kernels("1", binning.count_pass_packed, x, lo,
                                                     scale, bins, token, kept)
    np.testing.assert_array_equal(c_packed, c_ref)
    assert sizes.tolist() == [0 if g is None else g[1].size for g in g_ref]
    assert values.size == repeats.size == sizes.sum()
    at = 0
    for (*_, mode), ref, size in zip(kept, g_ref, sizes.tolist(), strict=True):
        v, r = values[at:at + size], repeats[at:at + size]
        at += size
        if ref is None:
            continue
        if mode == "raw":
            np.testing.assert_array_equal(np.sort(v), np.sort(ref[1]))
            assert (r == 1).all()
        else:
            np.testing.assert_array_equal(v, ref[1])
            np.testing.assert_array_equal(r, ref[2])


def test_count_pass_sees_every_value_once():
    """Counts add up to the chunk's size per cell; the kept values are the window's."""
    x = np.arange(100.0).reshape(50, 2)
    (counts, groups), _ = _both(x, np.zeros(2), np.full(2, 0.1), 10, [(0, 2, 3, "collect")])
    per_cell = counts.reshape(2, 13)
    assert per_cell.sum(axis=1).tolist() == [50, 50]
    # cell 0 holds 0, 2, ..., 98; bins 2 and 3 hold [10, 30): 10, 12, ..., 28
    assert groups[0][1].tolist() == list(range(10, 30, 2))
    assert groups[0][2].tolist() == [1] * 10


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), cells=st.integers(1, 5), rows=st.integers(1, 300),
       kind=st.sampled_from(["people", "wide", "fractions", "nan", "inf"]))
def test_sort_by_counting_sorts_whole_numbers_and_leaves_the_rest(seed, cells, rows, kind):
    """Cells of whole numbers over a modest span come out sorted (np.sort's values); any
    other cell (fractions, NaN, inf, too wide a span) is left exactly as it was."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 40_000, size=(cells, rows)).astype(np.float64)
    other = rng.random(cells) < 0.5
    if kind == "wide":
        x[other, 0] = 2.0**40
    elif kind == "fractions":
        x[other, 0] += 0.5
    elif kind == "nan":
        x[other, 0] = np.nan
    elif kind == "inf":
        x[other, 0] = -np.inf
    before = x.copy()
    done = _with_kernels("1", binning.sort_by_counting, x)
    expect_done = ~other if kind != "people" else np.ones(cells, dtype=bool)
    if rows == 1:  # a single value: whole, so "sorted", unless it is the odd one
        first = before[:, 0]
        expect_done = expect_done | (np.isfinite(first) & (np.floor(first) == first)
                                     & (np.abs(first) < 2.0**52))
    np.testing.assert_array_equal(done, expect_done)
    np.testing.assert_array_equal(x[done], np.sort(before[done], axis=1))
    np.testing.assert_array_equal(x[~done], before[~done])


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), rows=st.integers(1, 400), digits=st.integers(0, 2),
       bins=st.sampled_from([4, 64, 1024]), n_windows=st.integers(1, 6))
def test_window_stats_of_the_sorted_pilot_equal_np_unique(seed, rows, digits, bins, n_windows):
    """Size, distinct values and values seen once in each pilot window agree."""
    rng = np.random.default_rng(seed)
    xt = np.round(rng.lognormal(0.0, 1.5, size=(3, rows)), digits)
    xt[rng.random((3, rows)) < 0.2] = 0.0
    lo = np.array([0.0, 0.5, -1.0])
    scale = bins / np.array([5.0, 50.0, 500.0])
    cells = rng.integers(0, 3, n_windows)
    first = rng.integers(0, bins + 2, n_windows)
    last = first + rng.integers(0, bins // 2 + 1, n_windows)
    want = binning.window_stats(xt, lo, scale, bins, cells, first, last)
    srt = np.sort(xt, axis=1).T
    got = {flag: _with_kernels(flag, binning.window_stats_sorted, srt, lo, scale, bins, cells,
                               first, last)
           for flag in ("0", "1")}
    np.testing.assert_array_equal(got["1"], want)
    np.testing.assert_array_equal(got["0"], want)
    assert (want[0] >= want[1]).all()
    assert (want[1] >= want[2]).all()


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), m=st.integers(1, 400), cells=st.integers(1, 4),
       bins=st.sampled_from([1, 2, 16, 512]), digits=st.integers(0, 3),
       atom_share=st.floats(0.0, 0.9), special=st.floats(0.0, 0.2), n_groups=st.integers(0, 8),
       draws_last=st.booleans())
def test_gather_bins_compiled_equals_numpy(seed, m, cells, bins, digits, atom_share, special,
                                           n_groups, draws_last):
    """The second pass's gather (one bin per group, as the engine asks) gives numpy's
    distinct values, counts and key range, also where a bin holds a point mass at its
    cell's low edge (counted, not stored, by the compiled pass), -0.0 beside 0.0, NaN,
    +-inf and values outside the binned range."""
    rng = np.random.default_rng(seed)
    lo = np.round(rng.uniform(-2.0, 5.0, cells), digits)
    x = np.round(lo + rng.lognormal(0.0, 1.5, size=(m, cells)), digits)
    pick = rng.random((m, cells))
    x[pick < atom_share] = np.broadcast_to(lo, (m, cells))[pick < atom_share]  # the mass
    x[pick > 1 - special] = 0.0
    x[pick > 1 - special / 2] = -0.0
    x[pick > 1 - special / 3] = np.nan
    x[pick > 1 - special / 5] = np.inf
    x[pick > 1 - special / 10] = -np.inf
    if draws_last:
        x = np.ascontiguousarray(x.T).T
    scale = bins / rng.uniform(0.5, 30.0, cells)
    ranges, seen = [], set()
    for _ in range(n_groups):
        c = int(rng.integers(0, cells))
        b = 1 if rng.random() < 0.5 else int(rng.integers(0, bins + 3))
        if (c, b) not in seen:
            seen.add((c, b))
            ranges.append((c, b, b))
    got = {}
    for flag in ("0", "1"):
        token = f"test-gather-{flag}-{np.random.default_rng().integers(1 << 60)}"
        got[flag] = _with_kernels(flag, binning.gather_bins, x, lo, scale, bins, token, ranges)
    assert len(got["1"]) == len(got["0"]) == len(ranges)
    for ref, fast in zip(got["0"], got["1"], strict=True):
        if ref is None:
            assert fast is None
            continue
        assert fast[0] == ref[0] == "vals"
        np.testing.assert_array_equal(fast[1], ref[1])
        np.testing.assert_array_equal(fast[2], ref[2])
        assert fast[3:] == ref[3:]  # the key range, -0.0 before 0.0 and NaN last


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), rows=st.integers(0, 400), digits=st.integers(0, 2),
       bins=st.sampled_from([4, 64, 1024]), n_windows=st.integers(1, 6),
       special=st.floats(0.0, 0.2))
def test_window_stats_of_a_sorted_pilot_equals_the_general_one(seed, rows, digits, bins,
                                                               n_windows, special):
    """The engine's sorted pilot: the same size, distinct values and values seen once per
    window as np.unique on the window's values (window_stats' numpy reference), with ties,
    -0.0 beside 0.0, NaN and +-inf in the pilot."""
    rng = np.random.default_rng(seed)
    xt = np.round(rng.lognormal(0.0, 1.5, size=(3, rows)), digits)
    xt[rng.random((3, rows)) < 0.2] = 0.0
    odd = rng.random((3, rows)) < special
    xt[odd] = rng.choice([np.nan, np.inf, -np.inf, -0.0], size=int(odd.sum()))
    lo = np.array([0.0, 0.5, -1.0])
    scale = bins / np.array([5.0, 50.0, 500.0])
    cells = rng.integers(0, 3, n_windows)
    first = rng.integers(0, bins + 2, n_windows)
    last = first + rng.integers(0, bins // 2 + 1, n_windows)
    srt = np.sort(xt, axis=1).T
    want = binning.window_stats(xt, lo, scale, bins, cells, first, last)
    for flag in ("0", "1"):  # every value binned, or a binary search (compiled)
        got = _with_kernels(flag, binning.window_stats_sorted, srt, lo, scale, bins, cells,
                            first, last)
        np.testing.assert_array_equal(got, want)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), m=st.integers(0, 300), cells=st.integers(1, 7),
       zero_share=st.floats(0.0, 1.0),
       layout=st.sampled_from(["C", "F", "strided", "strided-F"]))
def test_zeros_per_column_counts_each_columns_zeros(seed, m, cells, zero_share, layout):
    """Per column, the number of values equal to 0 (-0.0 included; NaN, +-inf and tiny
    values not), counted one value at a time in Python, for a chunk in either memory
    order or a strided view of either, by the compiled kernels and by numpy alike."""
    rng = np.random.default_rng(seed)
    pool = np.array([0.0, -0.0, np.nan, np.inf, -np.inf, 5e-324, 1.0, -2.5])
    x = np.where(rng.random((2 * m, cells)) < zero_share, 0.0,
                 rng.choice(pool, size=(2 * m, cells)))
    if layout == "F":
        x = np.asfortranarray(x[:m])
    elif layout == "strided":
        x = x[::2]
    elif layout == "strided-F":  # a column's values near, not adjacent: numpy along them
        x = np.asfortranarray(x)[::2]
    else:
        x = np.ascontiguousarray(x[:m])
    expected = [sum(1 for v in x[:, c].tolist() if v == 0) for c in range(cells)]
    for flag in ("0", "1"):
        got = _with_kernels(flag, binning.zeros_per_column, x)
        assert got.tolist() == expected, (flag, layout)

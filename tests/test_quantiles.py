"""Fast exact quantiles equal numpy's, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from threatsim.stats.quantiles import row_quantiles

QS = [0.05, 0.25, 0.5, 0.75, 0.95]


@pytest.mark.parametrize("n", [1, 2, 7, 1000, 70_001, 300_000])
def test_equals_numpy_quantile(n):
    """On continuous data of many sizes, row_quantiles == np.quantile exactly."""
    rows = np.random.default_rng(n).lognormal(size=(3, n))
    np.testing.assert_array_equal(row_quantiles(rows, QS), np.quantile(rows, QS, axis=1))


def test_equals_numpy_with_heavy_ties_and_zeros():
    """Mass at zero (depleted reserves) and repeated values do not break exactness."""
    rng = np.random.default_rng(1)
    rows = np.maximum(rng.normal(0, 1, size=(4, 200_000)), 0.0).round(1)
    np.testing.assert_array_equal(row_quantiles(rows, QS), np.quantile(rows, QS, axis=1))


def test_nan_rows_follow_nanquantile():
    """Rows with NaN skip them, as xarray's quantile does."""
    rows = np.array([[np.nan, 1.0, 2.0, 3.0], [4.0, 5.0, 6.0, 7.0]])
    np.testing.assert_array_equal(row_quantiles(rows, [0.5])[:, 0], [2.0])


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(66_000, 140_000),
       q=st.lists(st.floats(0, 1), min_size=1, max_size=4), ties=st.booleans())
def test_property_equals_numpy(seed, n, q, ties):
    """Property: for any data and quantile levels, the result equals np.quantile."""
    x = np.random.default_rng(seed).standard_cauchy(size=(1, n))
    if ties:
        x = np.round(x, 0)
    np.testing.assert_array_equal(row_quantiles(x, q), np.quantile(x, q, axis=1))


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 3_000),
       q=st.lists(st.floats(0, 1), min_size=1, max_size=4),
       span=st.sampled_from([1, 5, 30_000, 2**40, 2**62]),
       dtype=st.sampled_from(["int64", "int32", "int16", "uint8", "uint32"]),
       compiled_on=st.booleans())
def test_integer_rows_equal_numpy(seed, n, q, span, dtype, compiled_on):
    """Counts of people (integer rows) are counted, not sorted: still np.quantile's values,
    for narrow spans (counted) and spans too wide to count (left to the float path)."""
    info = np.iinfo(dtype)
    lo = max(int(info.min), -span // 2)
    hi = min(int(info.max), lo + span)
    x = np.random.default_rng(seed).integers(lo, hi, size=(2, n), endpoint=True).astype(dtype)
    with pytest.MonkeyPatch.context() as mp:  # hypothesis: no function-scoped fixture
        mp.setenv("THREATSIM_COMPILED", "1" if compiled_on else "0")
        got = row_quantiles(x, q)
    # The reference takes the values as doubles: np.quantile on int32 rows computes the
    # difference of two order statistics in int32, which overflows for spans > 2**31.
    np.testing.assert_array_equal(got, np.quantile(x.astype(np.float64), q, axis=1))


def test_integer_rows_at_the_int64_limits():
    """A row spanning all of int64 (its width overflows) is not counted, yet exact."""
    big = np.iinfo(np.int64)
    x = np.array([[big.min, -5, 0, 3, 8, big.max] * 10])
    q = [0.25, 0.5, 0.75]  # between values numpy's own int arithmetic does not overflow on
    np.testing.assert_array_equal(row_quantiles(x, q), np.quantile(x, q, axis=1))

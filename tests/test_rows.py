"""Per-row reductions shared out among threads (threatsim.stats.rows), and the
probabilities and bands built on them: equal to numpy's own reductions, whatever
the number of threads."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import threatsim
from threatsim.stats import rows as row_ops
from threatsim.stats.quantiles import row_quantiles


@pytest.mark.parametrize("flag", ["0", "1"])
@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), n_rows=st.integers(1, 6), n=st.integers(1, 400),
       dtype=st.sampled_from(["float64", "float32", "int64", "int16"]),
       below=st.booleans(), level=st.sampled_from([0.0, 0.5, -1.0, 3.0, 1e30]))
def test_count_beyond_equals_numpy(monkeypatch, flag, seed, n_rows, n, dtype, below, level):
    """Compiled or not, any dtype, with NaN and ties at the level: numpy's count."""
    monkeypatch.setenv("THREATSIM_COMPILED", flag)
    rng = np.random.default_rng(seed)
    x = np.round(rng.normal(0.0, 2.0, (n_rows, n))).astype(dtype)
    if x.dtype.kind == "f":
        x[rng.random((n_rows, n)) < 0.1] = np.nan
    want = np.count_nonzero(x < level if below else x > level, axis=1)
    np.testing.assert_array_equal(row_ops.count_beyond(x, level, below=below), want)


def test_threads_give_the_serial_answer(monkeypatch):
    """Rows large enough to be shared out: 2 and 3 threads give the 1-thread values exactly
    (and the work really is split: each block is reduced on its own)."""
    rng = np.random.default_rng(7)
    rows = rng.lognormal(0.0, 1.0, (7, 300_000))
    rows[2, rng.random(300_000) < 0.6] = 0.0
    blocks: list[int] = []
    original = row_ops.by_row_blocks

    def spy(reduce_rows, r, workers=1):
        return original(lambda b: (blocks.append(b.shape[0]), reduce_rows(b))[1], r, workers)

    q = [0.05, 0.5, 0.95]
    serial = row_quantiles(rows, q)
    np.testing.assert_array_equal(serial, np.quantile(rows, q, axis=1))
    monkeypatch.setattr("threatsim.stats.quantiles.by_row_blocks", spy)
    for workers in (2, 3):
        blocks.clear()
        np.testing.assert_array_equal(row_quantiles(rows, q, workers=workers), serial)
        assert len(blocks) == workers
        assert sum(blocks) == 7
    counts = row_ops.count_beyond(rows, 0.0, below=False, workers=2)
    np.testing.assert_array_equal(counts, np.count_nonzero(rows > 0.0, axis=1))


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_workers_must_be_a_whole_number(bad):
    with pytest.raises(ValueError, match="workers must be a whole number"):
        row_ops.by_row_blocks(lambda r: r.sum(axis=1), np.ones((2, 2)), workers=bad)


def _reference_exceedance(da: xr.DataArray, dims: list[str], *, below=None, above=None):
    """The textbook formula: the share of the sample meeting the condition."""
    hit = da < below if below is not None else da > above
    return hit.mean(dim=dims)


@pytest.mark.parametrize("layout", ["draws last", "draws first", "two sample dims"])
def test_exceedance_equals_the_share_of_draws(layout):
    """Over one or two sample dims, stored draws-last or not: the share of the sample."""
    rng = np.random.default_rng(1)
    values = rng.normal(0.0, 1.0, (3, 4, 500))
    values[0, 0, :100] = np.nan
    da = xr.DataArray(values, dims=("time", "region", "draw"),
                      coords={"region": list("abcd")}, name="x")
    dims = ["draw"]
    if layout == "draws first":
        da = da.transpose("draw", "time", "region")
    elif layout == "two sample dims":
        da = da.rename(region="replicate")
        dims = ["replicate", "draw"]
    for kw in ({"below": 0.25}, {"above": -0.5}):
        got = threatsim.exceedance(da, **kw, workers=2)
        want = _reference_exceedance(da, dims, **kw).transpose(*got.dims)
        np.testing.assert_array_equal(got.values, want.values)
        assert got.name == "p_x"
        assert got.attrs["units"] == "probability"
        assert set(got.coords) == set(want.coords)


def test_exceedance_of_a_dask_backed_variable_stays_lazy():
    """A file opened in chunks is counted by dask, with the same answer."""
    pytest.importorskip("dask")
    da = xr.DataArray(np.arange(40.0).reshape(4, 10), dims=("time", "draw"), name="x")
    lazy = threatsim.exceedance(da.chunk({"draw": 5}), above=4.5)
    assert lazy.chunks is not None
    np.testing.assert_array_equal(lazy.values, threatsim.exceedance(da, above=4.5).values)


def test_bands_with_workers_equal_numpy():
    rng = np.random.default_rng(2)
    da = xr.DataArray(rng.gamma(2.0, 1.0, (6, 250_000)), dims=("time", "draw"), name="y")
    got = threatsim.bands(da, [0.05, 0.5, 0.95], workers=2)
    np.testing.assert_array_equal(got.values, np.quantile(da.values, [0.05, 0.5, 0.95], axis=1))

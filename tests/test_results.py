"""Results: Dataset conventions, bands, exceedance, NetCDF round trip."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import threatsim
from threatsim.core.errors import ScenarioError


@pytest.fixture(scope="module")
def ds():
    from tests.conftest import SCENARIOS

    path = SCENARIOS / "financing.toml"
    sc = threatsim.load_scenario(path if path.exists() else SCENARIOS / "baseline.toml")
    return threatsim.run(sc, draws=1500, seed=7, chunk_size=400)


def test_dataset_conventions(ds):
    """Real month-start dates, units on every variable, provenance and run metadata in attrs."""
    assert ds["time"].dtype == np.dtype("datetime64[ns]")
    assert str(ds["time"].values[0])[:10] == "2019-01-01"
    assert str(ds["time"].values[1])[:10] == "2019-02-01"
    for name, var in ds.data_vars.items():
        assert "units" in var.attrs, name
    for key in ("run_id", "resolved_scenario", "seed", "sampler", "threatsim_version",
                "provenance"):
        assert key in ds.attrs
    assert "S/2019/103 para 12" in ds["reserves_initial"].attrs["provenance"]
    assert ds["reserves_initial"].attrs["role"] == "parameter"


def test_bands_are_quantiles_over_draws(ds):
    """bands() equals numpy's quantile over the draw axis, with a quantile dim."""
    b = threatsim.bands(ds["reserves"], [0.05, 0.5, 0.95])
    assert b.dims == ("quantile", "time")
    ref = np.quantile(ds["reserves"].values, [0.05, 0.5, 0.95], axis=0)
    np.testing.assert_array_equal(b.values, ref)


def test_exceedance_is_the_share_of_draws(ds):
    """exceedance(below=x) is the share of draws strictly below x, per month."""
    p = threatsim.exceedance(ds["reserves"], below=100e6)
    ref = (ds["reserves"].values < 100e6).mean(axis=0)
    np.testing.assert_array_equal(p.values, ref)
    assert 0 < float(p.isel(time=0)) < 1
    with pytest.raises(threatsim.ScenarioError, match="exactly one of below= or above="):
        threatsim.exceedance(ds["reserves"])


def test_netcdf_round_trip_is_exact(ds, tmp_path):
    """write_netcdf then open_results gives an identical Dataset; no temp file is left."""
    path = threatsim.write_netcdf(ds, tmp_path / "run.nc")
    back = threatsim.open_results(path)
    xr.testing.assert_identical(ds, back)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.nc"]


def test_failed_write_leaves_nothing(ds, tmp_path):
    """A write that fails half-way leaves neither the file nor a temporary."""
    bad = ds.assign_attrs(unserialisable={"a": 1})
    with pytest.raises(TypeError):
        threatsim.write_netcdf(bad, tmp_path / "run.nc")
    assert list(tmp_path.iterdir()) == []


def test_exceedance_refuses_data_without_draws():
    """On a summary Dataset (bands on `quantile`, no `draw`) exceedance returned 0 or 1 per
    quantile, labelled a probability; like bands, it now says it cannot answer."""
    from tests.conftest import SCENARIOS

    sc = threatsim.load_scenario(SCENARIOS / "financing.toml")
    summary = threatsim.run(sc, draws=200, seed=1, keep="summary", progress=False)
    with pytest.raises(ScenarioError, match="no draw dim to count a probability"):
        threatsim.exceedance(summary["reserves"], below=50e6)
    full = threatsim.run(sc, draws=200, seed=1, progress=False)
    p = threatsim.exceedance(full["reserves"], below=50e6)
    assert float(p.isel(time=-1)) == float((full["reserves"].isel(time=-1) < 50e6).mean())

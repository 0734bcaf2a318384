"""variance_split: the law of total variance over (draw, replicate), parameters vs chance."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from tests.conftest import SCENARIOS

import threatsim
from threatsim.core.errors import ScenarioError


@settings(max_examples=100, deadline=None)
@given(hnp.arrays(np.float64, st.tuples(st.integers(1, 12), st.integers(2, 6), st.integers(1, 4)),
                  elements=st.floats(-1e6, 1e6)))
def test_parts_add_up_to_the_total(values):
    """Property: parameters + chance == total (population variances), and each part >= 0."""
    da = xr.DataArray(values, dims=("draw", "replicate", "time"))
    split = threatsim.variance_split(da)
    scale = max(1.0, float(np.abs(values).max())) ** 2
    np.testing.assert_allclose(split["parameters"] + split["chance"], split["total"],
                               rtol=1e-9, atol=1e-12 * scale)
    assert (split["parameters"] >= 0).all()
    assert (split["chance"] >= 0).all()
    # the total is numpy's variance over every (draw, replicate) cell
    ref = values.reshape(-1, values.shape[2]).var(axis=0)
    np.testing.assert_allclose(split["total"], ref, rtol=1e-9, atol=1e-12 * scale)


def test_recovers_known_variance_components():
    """X = mu_draw + eps: parameters ~ s_mu^2 + s_eps^2 / R, chance ~ s_eps^2 (R-1)/R (5 SE)."""
    rng = np.random.Generator(np.random.PCG64(7))
    n, reps, s_mu, s_eps = 20_000, 4, 3.0, 2.0
    x = rng.normal(0, s_mu, (n, 1)) + rng.normal(0, s_eps, (n, reps))
    split = threatsim.variance_split(xr.DataArray(x, dims=("draw", "replicate")))
    want_par = s_mu**2 + s_eps**2 / reps
    want_chance = s_eps**2 * (reps - 1) / reps
    # SE of a variance of n normal values: var * sqrt(2 / (n - 1))
    assert abs(float(split["parameters"]) - want_par) < 5 * want_par * np.sqrt(2 / (n - 1))
    se_chance = want_chance * np.sqrt(2 / (n * (reps - 1)))
    assert abs(float(split["chance"]) - want_chance) < 5 * se_chance


def test_split_of_a_fighters_run_with_replicates():
    """On a run: chance is 0 at the start (the state is set by the parameters) and > 0 later."""
    sc = threatsim.load_scenario(SCENARIOS / "fighters.toml")
    ds = threatsim.run(sc, draws=40, seed=1, replicates=4)
    split = threatsim.variance_split(ds["population"].sum("region", keep_attrs=True))
    assert set(split.data_vars) == {"total", "parameters", "chance"}
    assert split["total"].dims == ("time", "compartment")
    assert float(split["chance"].isel(time=0).max()) == 0.0
    assert (split["chance"].isel(time=-1).sel(compartment="killed") > 0).all()
    np.testing.assert_allclose(split["parameters"] + split["chance"], split["total"], rtol=1e-9)
    assert split["total"].attrs["units"] == "(people)^2"


def test_flows_missing_at_the_start_stay_missing():
    """A flow's NaN at month 0 gives NaN parts there, not a warning or an error."""
    sc = threatsim.load_scenario(SCENARIOS / "baseline.toml")
    ds = threatsim.run(sc, draws=20, seed=1, replicates=2)
    split = threatsim.variance_split(ds["spending"])
    assert np.isnan(split["total"].isel(time=0))
    assert np.isfinite(split["total"].isel(time=slice(1, None))).all()


@pytest.mark.parametrize(
    ("dims", "shape", "key"),
    [(("draw", "time"), (5, 3), "variable"), (("draw", "replicate"), (5, 1), "replicates")],
)
def test_needs_draws_and_at_least_two_replicates(dims, shape, key):
    """Without a replicate dim, or with one replicate, there is no chance to split off."""
    with pytest.raises(ScenarioError) as info:
        threatsim.variance_split(xr.DataArray(np.zeros(shape), dims=dims, name="x"))
    assert info.value.key == key
    assert "replicate" in str(info.value)

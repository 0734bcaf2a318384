"""Sweeps: grid text, one dim per key, common random numbers, closed forms, bad keys and values."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from tests.analysis_toy import toy_scenario, toy_toml

import threatsim
from threatsim.analysis.sweep import parse_set
from threatsim.cli.main import main
from threatsim.core.errors import ScenarioError


@pytest.mark.parametrize(("text", "key", "values"), [
    ("levers.seizure_rate=0:0.05:0.01", "levers.seizure_rate", [0.0, 0.01, 0.02, 0.03, 0.04, 0.05]),
    ("levers.courts=5:40:5", "levers.courts", [5, 10, 15, 20, 25, 30, 35, 40]),
    ("levers.x=0:1:0.3", "levers.x", [0.0, 0.3, 0.6, 0.9]),  # 1 is not on the grid
    ("levers.x=0.1,0.5,2", "levers.x", [0.1, 0.5, 2]),
    ("parameters.p.dist=uniform,pert", "parameters.p.dist", ["uniform", "pert"]),
    ("levers.x=7", "levers.x", [7]),
    ("levers.x=1e6:3e6:1e6", "levers.x", [1e6, 2e6, 3e6]),
    ("parameters.p.range=[1, 2], [2,4]", "parameters.p.range", [[1, 2], [2, 4]]),
    ("parameters.p.range=[50e6,300e6]", "parameters.p.range", [[50e6, 300e6]]),
])
def test_grid_text(text, key, values):
    """start:stop:step includes stop when on the grid, exact decimals; lists; single values."""
    assert parse_set(text) == (key, values)


@pytest.mark.parametrize("text", ["levers.x", "levers.x=", "levers.x=1:2", "levers.x=2:1:1",
                                  "levers.x=0:1:0", "levers.x=a:b:c", "levers.x=1,,2",
                                  "parameters.p.range=[1, 2", "parameters.p.range=[1,2],3"])
def test_bad_grid_text_is_refused(text):
    """Malformed --set text: ScenarioError naming the key."""
    with pytest.raises(ScenarioError):
        parse_set(text)


def test_sweep_has_one_dim_per_key_and_matches_the_closed_form(toy_model):
    """Decay x shock-rate grid: dims per key; with no shocks stock[t] = stock0 (1 - d)^t."""
    sc = toy_scenario()
    grid = {"levers.decay": [0.0, 0.05, 0.1], "parameters.shock_rate.value": [0.0, 0.5]}
    ds = threatsim.sweep(sc, grid, draws=200)
    assert ds["stock"].dims[:2] == ("levers.decay", "parameters.shock_rate.value")
    assert ds["stock"].shape[:2] == (3, 2)
    stock0 = ds["stock0"].values
    # Common random numbers: every point saw the same sampled parameters.
    assert np.all(stock0 == stock0[0, 0])
    t = np.arange(ds.sizes["time"])
    for d in (0.0, 0.05, 0.1):
        point = ds["stock"].sel({"levers.decay": d, "parameters.shock_rate.value": 0.0})
        np.testing.assert_allclose(point.values, stock0[0, 0][:, None] * (1 - d) ** t[None, :],
                                   rtol=1e-12)
    shocked = ds["stock"].sel({"levers.decay": 0.0, "parameters.shock_rate.value": 0.5})
    assert np.all(shocked.values[:, -1] <= stock0[0, 0])
    assert np.any(
        shocked.values[:, -1] < stock0[0, 0])


def test_sweep_points_equal_single_runs(toy_model):
    """A sweep point is bit-identical to running the scenario with that value."""
    sc = toy_scenario(shock_rate=0.3)
    ds = threatsim.sweep(sc, {"levers.decay": [0.0, 0.02]}, draws=150, seed=9)
    one = threatsim.run(sc.with_values({"levers.decay": 0.02}), draws=150, seed=9)
    np.testing.assert_array_equal(ds["stock"].sel({"levers.decay": 0.02}).values,
                                  one["stock"].values)


def test_unknown_key_names_the_closest_valid_one(toy_model):
    """A key the scenario cannot take: ScenarioError with the closest valid key."""
    with pytest.raises(ScenarioError, match=r"did you mean 'levers\.decay'"):
        threatsim.sweep(toy_scenario(), {"levers.decy": [0.1]}, draws=10)
    with pytest.raises(ScenarioError, match=r"did you mean 'parameters\.stock0\.range'"):
        threatsim.sweep(toy_scenario(), {"parameters.stock0.rnge": [[1, 2]]}, draws=10)


@pytest.mark.parametrize(("key", "value", "match"), [
    ("levers.decay", 1.5, r"must be in \[0, 1\]"),
    ("parameters.shock_share.value", 1.5, r"must lie in \[0, 1\]"),
    ("parameters.shock_rate.value", -1.0, "Poisson mean|>= 0"),
    ("parameters.stock0.dist", "lognormal90", None),  # valid: low > 0
    ("parameters.north_share.dist", "pert", "needs a mode"),
])
def test_values_outside_bounds_or_support_are_refused_before_running(toy_model, key, value,
                                                                     match):
    """A lever outside its bounds or a parameter outside its support: the revalidation's error."""
    if match is None:
        ds = threatsim.sweep(toy_scenario(), {key: [value]}, draws=20)
        assert ds.sizes[key] == 1
        return
    with pytest.raises(ScenarioError, match=match):
        threatsim.sweep(toy_scenario(), {key: [value]}, draws=10)


def test_cli_sweep_prints_the_grid_and_writes_netcdf(financing_path, tmp_path, capsys):
    """`threatsim sweep` on the financing scenario: one row per point; --out has the dims."""
    out = tmp_path / "sweep.nc"
    assert main(["sweep", str(financing_path), "--set", "levers.revenue_disruption=0:0.2:0.1",
                 "--at", "2020-06", "--draws", "200", "--quiet", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "reserves (usd) at 2020-06" in text
    rows = [ln for ln in text.splitlines() if ln.strip().startswith(("0.0", "0.1", "0.2"))]
    assert len(rows) == 3
    ds = xr.load_dataset(out)
    assert ds["reserves"].dims[0] == "levers.revenue_disruption"
    assert ds["levers.revenue_disruption"].values.tolist() == [0.0, 0.1, 0.2]


@pytest.mark.parametrize(("args", "message"), [
    (["--set", "levers.decy=0,0.1"], "did you mean 'levers.decay'"),
    (["--set", "levers.decay=0:2:1"], "must be in"),
    (["--set", "levers.decay=0,0.1", "--at", "2030-01"], "must be within the run"),
    (["--set", "levers.decay=0,0.1", "--output", "stok"], "did you mean 'stock'"),
    (["--set", "levers.decay=0,0.1", "--set", "levers.decay=0.2"], "set twice"),
])
def test_cli_sweep_bad_input_exits_2_and_writes_nothing(toy_model, tmp_path, capsys, args,
                                                        message):
    """Bad keys, values, months or outputs: one line on stderr, exit 2, no file."""
    path = toy_toml(tmp_path / "toy.toml")
    out = tmp_path / "never.nc"
    assert main(["sweep", str(path), *args, "--draws", "10", "--quiet", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1
    assert not out.exists()


def test_run_settings_cannot_be_swept(toy_model):
    """`--set run.draws=100,200` was accepted and ignored (every point ran the same draws)."""
    sc = toy_scenario()
    with pytest.raises(ScenarioError, match=r"run\.draws=\[100, 200\] cannot be swept"):
        threatsim.sweep(sc, {"run.draws": [100, 200]}, draws=50)


def test_cli_sweeps_a_parameters_range(financing_path, tmp_path, capsys):
    """A range is swept with TOML arrays (it had no command-line syntax): each point is the
    scenario with that range, run with the same seed."""
    out = tmp_path / "sweep.nc"
    key = "parameters.seizure_rate.range"
    assert main(["sweep", str(financing_path), "--set", f"{key}=[0.002,0.01],[0.01,0.02]",
                 "--draws", "100", "--seed", "3", "--quiet", "--out", str(out)]) == 0
    ds = xr.load_dataset(out)
    assert ds[key].values.tolist() == ["[0.002, 0.01]", "[0.01, 0.02]"]
    base = threatsim.load_scenario(financing_path)
    single = threatsim.run(base.with_values({key: [0.01, 0.02]}), draws=100, seed=3,
                           progress=False)
    np.testing.assert_array_equal(ds["reserves"].isel({key: 1}).values,
                                  single["reserves"].values)

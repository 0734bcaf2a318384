"""Convergence: MCSE of quantiles against theory, prefix-consistent draws, run to a precision."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from scipy import stats
from tests.analysis_toy import toy_scenario, toy_toml

import threatsim
from threatsim.analysis.convergence import mcse_quantile, run_to_precision
from threatsim.cli.main import main
from threatsim.core.errors import ScenarioError
from threatsim.engine.executors import InProcessExecutor
from threatsim.engine.reuse import ReuseChunks


@pytest.fixture(scope="module")
def normal_sample() -> xr.DataArray:
    """200 independent normal samples (sigma 3) of 4,000 draws each, side by side on 'time'."""
    gen = np.random.Generator(np.random.PCG64(20190201))
    return xr.DataArray(gen.normal(10.0, 3.0, size=(4000, 200)), dims=("draw", "time"))


def test_mcse_of_the_median_matches_theory(normal_sample):
    """Normal output: MCSE of the median is sqrt(pi/2) sigma / sqrt(n), within 20 %."""
    se = mcse_quantile(normal_sample, [0.5]).sel(quantile=0.5)
    theory = np.sqrt(np.pi / 2) * 3.0 / np.sqrt(4000)
    assert float(se.mean()) == pytest.approx(theory, rel=0.2)
    # Most single estimates are within 20 % too, not only their average.
    assert float((abs(se / theory - 1) < 0.2).mean()) > 0.9
    # And the MCSE says how much the median really varies between independent samples.
    spread = float(normal_sample.median("draw").std())
    assert float(se.mean()) == pytest.approx(spread, rel=0.2)


def test_mcse_of_tail_quantiles_matches_the_asymptotic_formula(normal_sample):
    """5 % and 95 %: sqrt(p (1 - p) / n) / f(q_p), within 20 %."""
    se = mcse_quantile(normal_sample, [0.05, 0.95])
    for p in (0.05, 0.95):
        density = stats.norm(10.0, 3.0).pdf(stats.norm(10.0, 3.0).ppf(p))
        theory = np.sqrt(p * (1 - p) / 4000) / density
        assert float(se.sel(quantile=p).mean()) == pytest.approx(theory, rel=0.2)


def test_mcse_leaves_out_nan_and_keeps_layout():
    """NaN draws are left out (like bands); output dims are quantile then the rest."""
    da = xr.DataArray(np.r_[np.linspace(0, 1, 1001), np.full(500, np.nan)], dims="draw")
    se = mcse_quantile(da, [0.5])
    full = mcse_quantile(da.dropna("draw"), [0.5])
    assert se.dims == ("quantile",)
    assert float(se[0]) == pytest.approx(float(full[0]))
    with pytest.raises(ScenarioError):
        mcse_quantile(da, [0.0])


def test_first_n_draws_of_a_larger_run_are_a_run_of_n_draws(toy_model):
    """mc sampling and whole chunks: draws [0, n) of a 2n run equal an n run, chance included."""
    sc = toy_scenario(shock_rate=0.4, decay=0.01)
    small = threatsim.run(sc, draws=256, chunk_size=128, seed=4)
    large = threatsim.run(sc, draws=512, chunk_size=128, seed=4)
    for name in ("stock0", "north_share", "stock", "half_month"):
        np.testing.assert_array_equal(large[name].isel(draw=slice(0, 256)).values,
                                      small[name].values)


def test_run_to_precision_is_reproducible_and_reuses_chunks(toy_model):
    """Same seed and target: the same draws; doubling reuses earlier chunks bit for bit."""
    sc = toy_scenario(shock_rate=0.3, decay=0.02)
    a = run_to_precision(sc, 0.1, draws=200, chunk_size=100, max_draws=12800, seed=1)
    b = run_to_precision(sc, 0.1, draws=200, chunk_size=100, max_draws=12800, seed=1)
    xr.testing.assert_identical(a.dataset, b.dataset)
    assert a.history == b.history
    n = a.dataset.sizes["draw"]
    assert a.converged
    assert a.worst < 0.1
    assert all(w >= 0.1 for _, w in a.history[:-1])
    assert [h[0] for h in a.history] == [200 * 2**k for k in range(len(a.history))]
    assert n == a.history[-1][0]
    assert n > 200
    direct = threatsim.run(sc, draws=n, chunk_size=100, seed=1)
    for name in ("stock", "stock0"):
        np.testing.assert_array_equal(a.dataset[name].values, direct[name].values)


def test_reuse_executor_skips_chunks_it_has_seen(toy_model):
    """ReuseChunks runs only the new chunks of a doubled run."""
    sc = toy_scenario(shock_rate=0.3)
    reuse = ReuseChunks(InProcessExecutor())
    threatsim.run(sc, draws=300, chunk_size=100, executor=reuse, seed=2)
    threatsim.run(sc, draws=600, chunk_size=100, executor=reuse, seed=2)
    assert reuse.reused == 3


def test_precision_cap_stops_and_says_so(toy_model):
    """A target out of reach stops at the cap with converged False."""
    sc = toy_scenario(decay=0.02)
    res = run_to_precision(sc, 0.0001, draws=100, max_draws=400, seed=1)
    assert not res.converged
    assert res.dataset.sizes["draw"] == 400
    assert "NOT reached" in res.summary()
    with pytest.raises(ScenarioError, match="precision"):
        run_to_precision(sc, 1.5)


def test_cli_run_prints_mcse_beside_every_band(financing_path, tmp_path, capsys):
    """`threatsim run` prints ± MCSE in every band cell."""
    assert main(["run", str(financing_path), "--draws", "500", "--out", str(tmp_path / "r.nc"),
                 "--no-plot", "--quiet"]) == 0
    text = capsys.readouterr().out
    rows = [ln for ln in text.splitlines() if ln.strip().startswith("2020-01")]
    assert rows
    assert all(ln.count("±") == 3 for ln in rows)


def test_cli_run_precision(toy_model, tmp_path, capsys):
    """`run --precision 0.005 --max-draws N` doubles until reached; bad targets exit 2."""
    path = toy_toml(tmp_path / "toy.toml", decay=0.02)
    out = tmp_path / "r.nc"
    assert main(["run", str(path), "--precision", "0.005", "--max-draws", "40000", "--draws",
                 "250", "--out", str(out), "--no-plot", "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "precision target 0.50% reached" in text
    ds = xr.load_dataset(out)
    # 250 draws round up to whole chunks (128): 256, 512, ...
    assert ds.attrs["precision_reached"] == 1
    assert ds.sizes["draw"] > 256
    assert ds.sizes["draw"] % 256 == 0
    assert main(["run", str(path), "--precision", "2", "--quiet", "--no-plot"]) == 2
    assert main(["run", str(path), "--max-draws", "100", "--quiet", "--no-plot"]) == 2

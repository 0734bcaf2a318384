"""Sensitivity: Sobol indices (Ishigami), rank correlations, the reading of the report's ranges."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats
from tests.analysis_toy import toy_scenario, toy_toml
from tests.conftest import SCENARIOS

import threatsim
from threatsim.analysis.sensitivity import range_readings, sensitivity_table, sobol
from threatsim.cli.main import main
from threatsim.core.errors import ScenarioError

# Ishigami and Homma (1990), a = 7, b = 0.1, inputs uniform on [-pi, pi]: the analytic
# partial variances (e.g. Saltelli et al., Global Sensitivity Analysis: The Primer, 2008).
A, B = 7.0, 0.1
_V = A**2 / 8 + B * np.pi**4 / 5 + B**2 * np.pi**8 / 18 + 0.5
S_FIRST = np.array([0.5 * (1 + B * np.pi**4 / 5) ** 2, A**2 / 8, 0.0]) / _V
S_TOTAL = np.array([0.5 * (1 + B * np.pi**4 / 5) ** 2 + 8 * B**2 * np.pi**8 / 225, A**2 / 8,
                    8 * B**2 * np.pi**8 / 225]) / _V


def ishigami(x: np.ndarray) -> np.ndarray:
    """The Ishigami function on columns of x."""
    return np.sin(x[0]) + A * np.sin(x[1]) ** 2 + B * x[2] ** 4 * np.sin(x[0])


def test_ishigami_indices_are_recovered_within_their_bootstrap_intervals():
    """All six analytic indices lie in their 95 % intervals, which are narrow (< 0.15)."""
    u = stats.uniform(loc=-np.pi, scale=2 * np.pi)
    res = sobol(ishigami, [u, u, u], n=4096, seed=11, n_resamples=299)
    assert res.evaluations == 5 * 4096
    for est, lo, hi, truth in ((res.first_order, res.first_order_low, res.first_order_high,
                                S_FIRST),
                               (res.total_order, res.total_order_low, res.total_order_high,
                                S_TOTAL)):
        assert np.all(lo <= truth), (lo, truth, hi)
        assert np.all(truth <= hi), (lo, truth, hi)
        assert np.all(hi - lo < 0.15)
        assert np.all((lo <= est) & (est <= hi))
    again = sobol(ishigami, [u, u, u], n=4096, seed=11, n_resamples=299)
    np.testing.assert_array_equal(res.total_order_low, again.total_order_low)  # seeded


def test_linear_model_indices_are_its_variance_shares():
    """Y = X1 + 2 X2 + 3 X3, X_i ~ U(0, 1): S_i = a_i^2 / 14 first-order and total (no
    interactions); each inside its 99 % bootstrap interval, which is narrow."""
    coef = np.array([1.0, 2.0, 3.0])
    truth = coef**2 / np.sum(coef**2)
    u = stats.uniform()
    res = sobol(lambda x: coef @ x, [u, u, u], n=4096, seed=3, n_resamples=299,
                confidence=0.99)
    for lo, hi in ((res.first_order_low, res.first_order_high),
                   (res.total_order_low, res.total_order_high)):
        assert np.all(lo <= truth), (lo, truth, hi)
        assert np.all(truth <= hi), (lo, truth, hi)
        assert np.all(hi - lo < 0.1)
    assert np.isnan(res.chance_total)  # a function without chance: nothing estimated


def test_chance_share_is_estimated_beside_the_indices():
    """Y = X1 + sigma Z_j, X1 ~ U(0, 1), Z_j standard normal drawn from draw j's own
    stream, X2 unused: Var X1 = 1/12 = sigma^2, so X1 explains half the variance and
    chance the other half (inside the 99 % intervals). Rows of every block share draw j's
    chance, so X1's indices agree with the truth and X2's are exactly 0."""
    from threatsim.stats.variates import ChanceStreams

    sigma = np.sqrt(1 / 12)

    def func(x: np.ndarray, *, chance_offset: int = 0) -> np.ndarray:
        draws = np.arange(x.shape[1]) + chance_offset
        z = stats.norm.ppf(ChanceStreams(5, draws).uniforms(1, month=0, flow=0)[:, 0])
        return x[0] + sigma * z

    res = sobol(func, [stats.uniform(), stats.uniform()], n=4096, seed=2, n_resamples=299,
                confidence=0.99, chance=True)
    assert res.evaluations == 5 * 4096
    assert res.first_order[1] == 0.0  # no path: exactly 0
    assert res.total_order[1] == 0.0
    assert res.chance_total_low <= 0.5 <= res.chance_total_high, res
    assert res.first_order_low[0] <= 0.5 <= res.first_order_high[0]
    assert res.total_order_low[0] <= 0.5 <= res.total_order_high[0]
    assert res.chance_total_high - res.chance_total_low < 0.1


def test_sobol_needs_a_power_of_two():
    """n that is not a power of 2 is refused with the reason."""
    u = stats.uniform()
    with pytest.raises(ScenarioError, match="power of 2"):
        sobol(ishigami, [u, u, u], n=1000)


def test_toy_stock_depends_on_stock0_only(toy_model):
    """stock = stock0 (1 - d)^t: stock0 carries all the variance; the regional split none."""
    sc = toy_scenario(decay=0.01, draws=500)
    for output in ("stock", "by_region"):  # by_region is summed over region: the same total
        sds = threatsim.sensitivity(sc, output, at="2020-07", n=256, n_resamples=99)
        s = sds.sel(parameter="stock0")
        # The estimators are exact only in the limit; no other input moves the output.
        assert float(s.first_order) == pytest.approx(1.0, abs=0.05)
        assert float(s.total_order) == pytest.approx(1.0, abs=0.05)
        assert float(s.spearman) == pytest.approx(1.0)
        north = sds.sel(parameter="north_share")
        assert abs(float(north.total_order)) < 1e-12
        assert abs(float(north.first_order)) < 0.05
        assert list(sds["parameter"].values) == ["stock0", "north_share"]  # points left out
    assert "readings" in sds
    assert list(sds["reading"].values) == ["as given"]


def test_per_draw_output_with_undefined_values_gets_rank_correlations_only(toy_model):
    """half_month is NaN (never) in some draws: no Sobol indices, a note, rank correlations."""
    sc = toy_scenario(decay=0.0, shock_rate=0.3, draws=400)
    sds = threatsim.sensitivity(sc, "half_month", n=64, readings=False)
    assert np.isnan(sds["first_order"].values).all()
    assert "undefined" in sds.attrs["note"]
    assert "rank corr." in sensitivity_table(sds)


def test_reading_of_the_ranges_matches_closed_forms(financing_path):
    """Reserves at the start equal reserves_initial ($50-300M, para 12): each reading's median."""
    sc = threatsim.load_scenario(financing_path)
    rd = range_readings(sc, "reserves", "2019-01", draws=4000, seed=3)
    assert list(rd["reading"].values) == ["as given", "uniform", "normal90", "lognormal90",
                                          "pert"]
    med = rd.sel(quantile=0.5)
    # The shipped reading is lognormal90: re-reading it as lognormal90 changes nothing.
    assert sc.parameters["reserves_initial"].dist.kind == "lognormal90"
    assert float(med.sel(reading="lognormal90")) == float(med.sel(reading="as given"))
    # normal90 would put mass below 0 for money: reserves keep their reading, and a note says so.
    notes = json.loads(rd.attrs["notes"])
    assert any("reserves_initial kept lognormal90" in n for n in notes["normal90"])
    assert float(med.sel(reading="normal90")) == float(med.sel(reading="as given"))
    # Closed forms of the median, within 5 Monte Carlo standard errors.
    lo, hi = 50e6, 300e6
    for reading, median, density in (
            ("uniform", (lo + hi) / 2, 1 / (hi - lo)),
            ("lognormal90", np.sqrt(lo * hi),
             stats.lognorm(s=np.log(hi / lo) / (2 * stats.norm.ppf(0.95)),
                           scale=np.sqrt(lo * hi)).pdf(np.sqrt(lo * hi))),
            ("pert", (lo + hi) / 2, stats.beta(3, 3, loc=lo, scale=hi - lo).pdf((lo + hi) / 2))):
        se = 0.5 / (density * np.sqrt(4000))
        assert abs(float(med.sel(reading=reading)) - median) < 5 * se, reading


def test_sensitivity_table_and_cli(financing_path, tmp_path, capsys):
    """`threatsim sensitivity` prints indices, rank correlations and the readings row."""
    assert main(["sensitivity", str(financing_path), "--output", "reserves", "--at", "2020-06",
                 "--n", "64", "--draws", "300", "--out", str(tmp_path / "s.nc")]) == 0
    text = capsys.readouterr().out
    assert "reserves_initial" in text
    assert "reading of the report's ranges" in text
    assert "lognormal90" in text
    assert "first order" in text


@pytest.mark.parametrize(("args", "message"), [
    (["--output", "stock", "--at", "2030-01"], "must be within the run"),
    (["--output", "stok"], "did you mean 'stock'"),
    (["--output", "stock", "--n", "1000"], "power of 2"),
    (["--output", "half_month", "--at", "2020-03"], "no time axis"),
])
def test_cli_sensitivity_bad_input_exits_2(toy_model, tmp_path, capsys, args, message):
    """A month outside the run, an output the model lacks, n not a power of 2: exit 2."""
    path = toy_toml(tmp_path / "toy.toml")
    assert main(["sensitivity", str(path), *args, "--draws", "20"]) == 2
    assert message in capsys.readouterr().err


def test_sensitivity_runs_every_model_evaluation_on_the_executor(financing_path):
    """Sobol runs, rank-correlation run and readings go through the executor; same numbers."""
    from threatsim.engine.executors import InProcessExecutor

    class Counting(InProcessExecutor):
        tasks = 0

        def map_chunks(self, fn, tasks):
            for task in tasks:
                Counting.tasks += 1
                yield fn(task)

    sc = threatsim.load_scenario(financing_path)
    kw = {"at": "2020-01", "n": 64, "draws": 400, "seed": 3, "n_resamples": 9}
    here = threatsim.sensitivity(sc, "reserves", **kw)
    counted = threatsim.sensitivity(sc, "reserves", executor=Counting(), **kw)
    d = here.sizes["parameter"]
    # (d + 2) Sobol evaluations of 64 columns each, cut into chunks, and the ordinary
    # run of 400 draws (the readings of the ranges add more).
    chunks = -(-64 // sc.run.chunk_size) * (d + 2) + -(-400 // sc.run.chunk_size)
    assert d >= 3
    assert Counting.tasks >= chunks
    pooled = threatsim.sensitivity(sc, "reserves", executor=2, **kw)
    assert here.identical(counted)
    assert here.identical(pooled)


def test_a_parameter_with_no_path_to_the_output_gets_exactly_zero():
    """fighters: dependants_detained depends on the dependants' stock and the repatriation
    lever only. With chance held per design row, every other parameter's indices are exactly
    0 (they were 0.006-0.008, intervals excluding 0, when chance came from one stream per
    chunk). With the stock a point, nothing sampled reaches the output: all indices are 0
    and chance carries the whole variance. The fighters scenario as it was before issue 19
    (its families make dependants follow detentions)."""
    sc = threatsim.load_scenario(SCENARIOS.parent / "tests" / "data" / "before_issue19"
                                 / "scenarios" / "fighters.toml")
    sds = threatsim.sensitivity(sc, "dependants_detained", n=16, draws=100, n_resamples=9,
                                readings=False)
    others = sds.drop_sel(parameter="dependants_detained_syria")
    assert others.sizes["parameter"] > 20
    assert (others["total_order"] == 0.0).all()
    assert (others["first_order"] == 0.0).all()
    assert float(sds["total_order"].sel(parameter="dependants_detained_syria")) > 0
    point = sc.with_values({"parameters.dependants_detained_syria": {
        "dist": "point", "value": 500, "unit": "people",
        "assumption": "held fixed for this test"},
        "levers.dependant_repatriation_rate": 0.02})
    sds = threatsim.sensitivity(point, "dependants_detained", n=64, draws=100, n_resamples=99,
                                readings=False)
    assert (sds["total_order"] == 0.0).all()  # kill_rate, trial_rate, ... were about 1.0
    assert float(sds["chance_total_order_low"]) <= 1.0 <= float(sds["chance_total_order_high"])

"""Calibration (threatsim.outputs.calibration): closed forms, SBC, bad input, the CLI.

The toy model (tests/analysis_toy.py) with no decay and no shocks keeps its stock
at ``stock0`` every month, and its north region at ``stock0 * north_share``: an
observation of the stock is an observation of the parameter itself, so the
posterior has closed forms. Tolerances are Monte Carlo errors: a weighted mean's
standard error is the posterior sd over sqrt(ESS) (Kish's ESS of the weights),
a variance's is the variance times sqrt(2 / ESS) (normal posterior); every
check allows 4 standard errors (two-sided chance of a false failure ~6e-5).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import xarray as xr
from scipy import stats
from tests.analysis_toy import toy_dict, toy_toml

from threatsim.cli.main import main
from threatsim.core.errors import ScenarioError
from threatsim.inputs.scenario import load_scenario, scenario_from_dict
from threatsim.outputs.calibration import (
    DEFAULT_REL_ERROR,
    calibrate,
    calibration_report,
    log_likelihood,
    posterior_resample,
)
from threatsim.outputs.observations import Observation, ObservationSet, observations_from_dict

K_SE = 4.0
Z95 = stats.norm.ppf(0.95)


def _obs(*entries: dict) -> ObservationSet:
    rows = [{"variable": "stock", "unit": "usd", **e} for e in entries]
    return observations_from_dict({"document": "synthetic (test)", "observation": rows})


def _normal_toy(draws: int, seed: int = 3):
    data = toy_dict(draws=draws, seed=seed)
    data["parameters"]["stock0"] = {"dist": "normal90", "range": [100.0, 200.0],
                                    "unit": "usd", "assumption": "test"}
    return scenario_from_dict(data)


def _uniform_toy(draws: int, seed: int = 3):
    return scenario_from_dict(toy_dict(draws=draws, seed=seed))


def _weighted(post: xr.Dataset, name: str) -> tuple[float, float, float]:
    w = post["weight"].values
    x = post[name].values
    mean = float(np.sum(w * x))
    var = float(np.sum(w * (x - mean) ** 2))
    return mean, var, float(1.0 / np.sum(w * w))


def _normal_posterior(y: float, sigma: float) -> tuple[float, float]:
    mu0, tau = 150.0, 50.0 / Z95  # normal90 over [100, 200]
    prec = 1 / tau**2 + 1 / sigma**2
    return (mu0 / tau**2 + y / sigma**2) / prec, 1 / prec


# -- likelihoods --------------------------------------------------------------------


def _o(low: float, high: float) -> Observation:
    return Observation(id="o", variable="v", month=np.datetime64("2020-01"), low=low,
                       high=high, unit="usd")


def test_likelihoods_are_the_documented_formulas():
    x = np.array([-50.0, 80.0, 100.0, 137.0, 400.0])
    # point: normal density, sd = r * |y|
    np.testing.assert_allclose(np.exp(log_likelihood(_o(120, 120), x, 0.1)),
                               stats.norm(120, 12).pdf(x), rtol=1e-12)
    # range: Phi((b - x) / s) - Phi((a - x) / s), s = r * (b - a)
    # (scipy's two forms, each where it does not cancel: left of the middle, right of it)
    want = np.where(x < 125, stats.norm.sf((100 - x) / 5) - stats.norm.sf((150 - x) / 5),
                    stats.norm.cdf((150 - x) / 5) - stats.norm.cdf((100 - x) / 5))
    got = np.exp(log_likelihood(_o(100, 150), x, 0.1))
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-300)
    # one-sided bounds: Phi of the distance, s = r * |bound|
    np.testing.assert_allclose(np.exp(log_likelihood(_o(100, math.inf), x, 0.2)),
                               stats.norm.cdf((x - 100) / 20), rtol=1e-12)
    np.testing.assert_allclose(np.exp(log_likelihood(_o(-math.inf, 100), x, 0.2)),
                               stats.norm.cdf((100 - x) / 20), rtol=1e-12)
    # r = 0: the indicator of the range
    assert np.exp(log_likelihood(_o(100, 150), x, 0.0)).tolist() == [0, 0, 1, 1, 0]


def test_range_log_likelihood_is_accurate_far_in_both_tails():
    x = np.array([-1e4, 1e4])  # 2000 and 1990 sds outside [0, 50] (s = 5)
    got = log_likelihood(_o(0, 50), x, 0.1)
    # log(Phi(b) - Phi(a)) ~ log Phi(-|d|) for the nearer edge, far out
    want = np.array([stats.norm.logcdf(-(1e4) / 5), stats.norm.logcdf(-(1e4 - 50) / 5)])
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert np.all(np.isfinite(got))


# -- closed forms -------------------------------------------------------------------


def test_normal_prior_and_point_match_the_conjugate_posterior(toy_model):
    y, r = 170.0, 0.1
    post = calibrate(_normal_toy(4000), _obs({"id": "p", "date": "2020-03", "point": y}),
                     errors={"p": r})
    assert post.attrs["method"] == "importance"
    mean, var, ess = _weighted(post, "stock0")
    want_mean, want_var = _normal_posterior(y, r * y)
    assert abs(mean - want_mean) < K_SE * math.sqrt(want_var / ess)
    assert abs(var - want_var) < K_SE * want_var * math.sqrt(2 / ess)


def test_a_far_point_switches_to_smc_which_matches_the_conjugate_posterior(toy_model):
    """y = 280 is 4.3 prior sds out and sigma = 2.8: the prior's weights collapse."""
    y, r = 280.0, 0.01
    post = calibrate(_normal_toy(1000), _obs({"id": "p", "date": "2020-03", "point": y}),
                     errors={"p": r}, moves=8)
    assert post.attrs["method"] == "smc"
    assert "not trusted" in post.attrs["reason"]
    want_mean, want_var = _normal_posterior(y, r * y)
    x = posterior_resample(post)["stock0"]
    # SMC particles are correlated by resampling: take a quarter of them as independent.
    n_eff = x.size / 4
    assert abs(x.mean() - want_mean) < K_SE * math.sqrt(want_var / n_eff)
    assert abs(x.var() - want_var) < K_SE * want_var * math.sqrt(2 / n_eff)


def test_uniform_prior_and_censored_range_give_the_uniform_on_the_intersection(toy_model):
    """U[100, 200] prior, range [120, 260] with no reporting error: U[120, 200]."""
    post = calibrate(_uniform_toy(4000), _obs({"id": "r", "date": "2020-06", "low": 120.0,
                                                "high": 260.0}), errors={"r": 0.0})
    assert post.attrs["method"] == "importance"  # 0/1 weights: bounded, no Pareto tail
    mean, var, ess = _weighted(post, "stock0")
    want_mean, want_var = 160.0, 80.0**2 / 12
    assert abs(mean - want_mean) < K_SE * math.sqrt(want_var / ess)
    # a uniform's sample variance has variance (mu4 - var^2) / n, mu4 = 80^4 / 80
    se_var = math.sqrt((80.0**4 / 80 - want_var**2) / ess)
    assert abs(var - want_var) < K_SE * se_var
    x = post["stock0"].values[post["weight"].values > 0]
    assert x.min() >= 120.0
    resampled = posterior_resample(post)["stock0"]
    assert resampled.min() >= 120.0
    assert resampled.size == post.sizes["draw"]


def test_north_share_is_untouched_by_an_observation_of_the_stock(toy_model):
    post = calibrate(_uniform_toy(2000), _obs({"id": "r", "date": "2020-06", "low": 120.0,
                                                "high": 140.0}), errors={"r": 0.0})
    mean, _, ess = _weighted(post, "north_share")
    # north_share ~ U[0.2, 0.6], independent of stock0: its posterior is its prior
    assert abs(mean - 0.4) < K_SE * math.sqrt(0.4**2 / 12 / ess)


# -- simulation-based calibration (Talts et al. 2018) -------------------------------


def _sbc(reps: int, draws: int, seed: int, method: str = "auto") -> np.ndarray:
    """Posterior CDF at the true values of stock0 and north_share, one row per replication.

    Each replication draws stock0 ~ U[100, 200], north_share ~ U[0.2, 0.6] and
    reports: a point of the stock with a normal error of sd 8 (given to the
    likelihood as rel = 8 / |y|, so its sd is exactly 8), the 40-wide bin of a
    fixed grid holding stock + N(0, 4^2) (rel 0.1 of the width), whether stock
    + N(0, 7.5^2) is above or below 150 (rel 0.05), and the north region's
    stock as a point with sd 6. Each is then generated exactly as its
    likelihood says, so the posterior CDF at the truth is uniform.
    """
    rng = np.random.default_rng(seed)
    out = np.empty((reps, 2))
    for i in range(reps):
        s0 = rng.uniform(100, 200)
        share = rng.uniform(0.2, 0.6)
        y_point = s0 + rng.normal(0, 8)
        y_bin = s0 + rng.normal(0, 4)
        low = 40.0 * math.floor(y_bin / 40.0)
        above = s0 + rng.normal(0, 7.5) >= 150.0
        y_north = s0 * share + rng.normal(0, 6)
        rows = [{"id": "point", "date": "2020-02", "point": y_point},
                {"id": "bin", "date": "2020-03", "low": low, "high": low + 40.0},
                {"id": "bound", "date": "2020-04", **({"low": 150.0} if above
                                                      else {"high": 150.0})},
                {"id": "north", "variable": "by_region", "region": "north",
                 "date": "2020-05", "point": y_north}]
        errors = {"point": 8 / abs(y_point), "bin": 0.1, "bound": 0.05,
                  "north": 6 / abs(y_north)}
        post = calibrate(_uniform_toy(draws, seed=seed * 1000 + i), _obs(*rows),
                         errors=errors, method=method, particles=min(draws, 500))
        w = post["weight"].values
        for j, (name, truth) in enumerate((("stock0", s0), ("north_share", share))):
            x = post[name].values
            out[i, j] = float(np.sum(w * (x < truth)))
    return out


def _check_sbc(u: np.ndarray, bins: int, alpha: float) -> None:
    reps = u.shape[0]
    for j in range(u.shape[1]):
        counts = np.histogram(u[:, j], bins=bins, range=(0, 1))[0]
        # chi-square of uniform ranks; alpha split over the parameters (Bonferroni)
        assert stats.chisquare(counts).pvalue > alpha / u.shape[1], counts
        for level in (0.5, 0.9):
            covered = np.mean(np.abs(u[:, j] - 0.5) <= level / 2)
            se = math.sqrt(level * (1 - level) / reps)
            assert abs(covered - level) < K_SE * se, (level, covered)


def test_simulation_based_calibration_small(toy_model):
    """60 replications, 6 bins: chi-square at alpha = 0.001; coverage within 4 SE."""
    _check_sbc(_sbc(reps=60, draws=1500, seed=11), bins=6, alpha=0.001)


@pytest.mark.slow
def test_simulation_based_calibration_large(toy_model):
    """300 replications, 15 bins; chi-square at alpha = 0.001; coverage within 4 SE."""
    _check_sbc(_sbc(reps=300, draws=3000, seed=12), bins=15, alpha=0.001)


@pytest.mark.slow
def test_simulation_based_calibration_smc(toy_model):
    """The SMC path, forced: 80 replications with 500 particles."""
    _check_sbc(_sbc(reps=80, draws=500, seed=13, method="smc"), bins=8, alpha=0.001)


# -- bad input ----------------------------------------------------------------------


def test_observation_of_an_output_the_scenario_lacks_says_which_exist(toy_model):
    obs = observations_from_dict({"document": "t", "observation": [
        {"id": "x", "variable": "reserves", "date": "2020-03", "point": 1.0, "unit": "usd"}]})
    with pytest.raises(ScenarioError, match=r"observation\.x\.variable='reserves' is not a "
                                            r"time series of this run.*allowed: stock"):
        calibrate(_uniform_toy(100), obs)


def test_likelihood_zero_everywhere_is_a_prior_data_conflict(toy_model):
    obs = _obs({"id": "far", "date": "2020-03", "low": 500.0, "high": 600.0})
    with pytest.raises(ScenarioError, match=r"likelihood is zero for every draw.*outside "
                                            r"everything the scenario allows: far.*--error"):
        calibrate(_uniform_toy(200), obs, errors={"far": 0.0})


def test_importance_with_a_collapsed_sample_says_to_use_smc(toy_model):
    obs = _obs({"id": "p", "date": "2020-03", "point": 150.0})
    with pytest.raises(ScenarioError, match=r"effective sample of .* draws.*--method smc"):
        calibrate(_uniform_toy(200), obs, errors={"p": 1e-6}, method="importance")


@pytest.mark.parametrize(("errors", "message"), [
    ({"nope": 0.1}, r"error\.nope=0\.1 is not an observation id; ids: p"),
    ({"p": -1.0}, r"error\.p=-1\.0 must be a finite number >= 0"),
    ({"p": 0.0}, r"error\.p=0\.0 must be > 0 for a point figure"),
])
def test_bad_reporting_errors(toy_model, errors, message):
    with pytest.raises(ScenarioError, match=message):
        calibrate(_uniform_toy(100), _obs({"id": "p", "date": "2020-03", "point": 150.0}),
                  errors=errors)


def test_a_conflicting_figure_is_flagged_in_the_report(toy_model):
    """Softened by a reporting error the figure can be used, but is outside the prior."""
    post = calibrate(_uniform_toy(500), _obs({"id": "high", "date": "2020-03", "low": 210.0,
                                               "high": 230.0}), errors={"high": 0.5})
    text = calibration_report(post)
    assert "prior-data conflict: high" in text
    assert "the model, not the data, may be wrong" in text


# -- the CLI ------------------------------------------------------------------------


OBS_TOML = """document = "synthetic (test)"
[[observation]]
id = "stock_march"
variable = "stock"
date = "2020-03"
low = 150.0
high = 190.0
unit = "usd"
assumption = "synthetic, for the test"
[[observation]]
id = "stock_july"
variable = "stock"
date = "2020-07"
point = 170.0
unit = "usd"
assumption = "synthetic, for the test"
"""


def test_cli_calibrate_writes_the_posterior(toy_model, tmp_path, capsys):
    sc_path = toy_toml(tmp_path / "toy.toml", draws=2000)
    obs_path = tmp_path / "obs.toml"
    obs_path.write_text(OBS_TOML)
    out = tmp_path / "post.nc"
    rc = main(["calibrate", str(sc_path), str(obs_path), "--only", "stock_m*",
               "--error", "stock_march=0", "--out", str(out), "--quiet"])
    text = capsys.readouterr().out
    assert rc == 0
    assert "method: importance reweighting" in text
    assert "Pareto k" in text
    assert "stock_march" in text
    assert "stock_july" not in text
    assert "stock0" in text
    assert "how far each parameter moved" in text
    post = xr.open_dataset(out)
    assert post.attrs["observations"] == '["stock_march"]'
    assert post.attrs["prior_run_id"] == load_scenario(sc_path).run_id
    assert post.attrs["errors"] == '{"stock_march": 0.0}'
    assert post["stock0"].attrs["role"] == "parameter"
    assert abs(float(post["weight"].sum()) - 1) < 1e-9
    kept = post["stock0"].values[post["weight"].values > 0]
    assert kept.min() >= 150.0
    assert kept.max() <= 190.0
    assert set(post["resample_draw"].values) <= set(np.flatnonzero(post["weight"].values > 0))
    post.close()


@pytest.mark.parametrize(("args", "message"), [
    (["--error", "stock_march"], "--error='stock_march' must be NAME=VALUE"),
    (["--only", "nothing*"], "matches no observation"),
    (["--error", "stock_march=0", "--error", "stock_july=0"],
     "must be > 0 for a point figure"),
])
def test_cli_calibrate_bad_input_exits_2(toy_model, tmp_path, capsys, args, message):
    sc_path = toy_toml(tmp_path / "toy.toml", draws=200)
    obs_path = tmp_path / "obs.toml"
    obs_path.write_text(OBS_TOML)
    out = tmp_path / "post.nc"
    rc = main(["calibrate", str(sc_path), str(obs_path), "--out", str(out), "--quiet", *args])
    err = capsys.readouterr().err
    assert rc == 2
    assert message in err
    assert "Traceback" not in err
    assert not out.exists()


def test_default_error_is_documented():
    with open("docs/calibration.md") as fh:
        text = fh.read()
    assert f"{DEFAULT_REL_ERROR}" in text


# -- the observation file's reporting_error ------------------------------------------


def test_a_files_reporting_error_is_the_conjugate_posteriors_sd(toy_model):
    """reporting_error = 0.1 in the file gives the posterior of a 10 % point error (the
    closed form), where the default would be another; --error overrides the file."""
    y = 170.0
    sc = _normal_toy(4000)
    post = calibrate(sc, _obs({"id": "p", "date": "2020-03", "point": y,
                               "reporting_error": 0.1}), rel_error=0.5)
    assert json.loads(post.attrs["errors"]) == {"p": 0.1}
    mean, var, ess = _weighted(post, "stock0")
    want_mean, want_var = _normal_posterior(y, 0.1 * y)
    assert abs(mean - want_mean) < K_SE * math.sqrt(want_var / ess)
    assert abs(var - want_var) < K_SE * want_var * math.sqrt(2 / ess)
    over = calibrate(sc, _obs({"id": "p", "date": "2020-03", "point": y,
                               "reporting_error": 0.1}), errors={"p": 0.3})
    assert json.loads(over.attrs["errors"]) == {"p": 0.3}


@pytest.mark.parametrize("value", [-0.1, "ten", True, float("nan"), 11.0])
def test_a_bad_reporting_error_in_the_file_names_the_key(value):
    with pytest.raises(ScenarioError, match=r"observation\.p\.reporting_error=.* must be a "
                                            r"number from 0 to 10"):
        _obs({"id": "p", "date": "2020-03", "point": 1.0, "reporting_error": value})

"""Value of information (issue 21, part 3): the expected reduction of an outcome's
variance if one parameter were known, Var(E[Y | X_i]), estimated by regression on the
run's draws, against closed forms.

The estimate is a covariance of Y with the fitted conditional mean m(X) over the draws;
with Y = m(X) + r, r independent of X and of mean 0 given X, its Monte Carlo standard
error is sqrt((E[(m - Em)^4] - Var(m)^2 + Var(r) Var(m)) / n), computed from the
closed forms; tolerances are 5 of them (the smoother's bias at n = 4,000 is far below).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import xarray as xr

import threatsim
from threatsim.analysis.information import information_value
from threatsim.core.errors import ScenarioError

N = 4000
K_SE = 5.0


def _ds(y: np.ndarray, **params: np.ndarray) -> xr.Dataset:
    data = {"y": ("draw", y)}
    ds = xr.Dataset(data)
    for name, values in params.items():
        ds[name] = ("draw", values)
        ds[name].attrs.update({"role": "parameter", "provenance": f"assumption: {name}"})
    return ds


def _se(scale: float, var_r: float, n: int) -> float:
    """SE of the estimate when m = scale * U, U uniform (mu4 = scale^4 / 80)."""
    var_m = scale**2 / 12
    return math.sqrt((scale**4 / 80 - var_m**2 + var_r * var_m) / n)


def test_a_linear_outcome_gives_each_parameters_variance_share():
    rng = np.random.default_rng(1)
    x1, x2, x3 = rng.random(N), rng.random(N), rng.random(N)
    voi = information_value(_ds(2 * x1 + x2, x1=x1, x2=x2, x3=x3), "y")
    assert voi["parameter"].values.tolist()[:2] == ["x1", "x2"]
    got = voi["variance_reduction"].to_series()
    # Var(E[Y | x1]) = Var(2 x1) = 4/12; Var(E[Y | x2]) = 1/12; x3 does nothing
    assert abs(got["x1"] - 4 / 12) < K_SE * _se(2.0, 1 / 12, N)  # r = x2
    assert abs(got["x2"] - 1 / 12) < K_SE * _se(1.0, 4 / 12, N)  # r = 2 x1
    assert got["x3"] < 0.005 * (5 / 12)
    assert voi["provenance"].sel(parameter="x1").item() == "assumption: x1"


def test_a_questions_probability_moves_as_the_closed_form_says():
    """Y = 1{x1 + x2 < 1}: E[Y | x1] = 1 - x1, so Var(E[Y | x1]) = 1/12, share 1/3."""
    rng = np.random.default_rng(2)
    x1, x2 = rng.random(N), rng.random(N)
    voi = information_value(_ds(x1 + x2, x1=x1, x2=x2), "y", below=1.0)
    got = voi["variance_reduction"].to_series()
    se = _se(1.0, 1 / 6, N)  # Var(r) = E[m (1 - m)] = 1/2 - 1/3
    assert abs(got["x1"] - 1 / 12) < K_SE * se
    assert abs(got["x2"] - 1 / 12) < K_SE * se
    share = voi["share"].to_series()
    assert share["x1"] == pytest.approx(got["x1"] / voi.attrs["variance"])
    assert voi.attrs["outcome"] == "P(y < 1.0)"


def test_a_discrete_parameter_uses_its_conditional_means():
    """x takes 3 values; E[Y | x] = x exactly, Var = Var(x) = 2/3 for {0, 1, 2}."""
    rng = np.random.default_rng(3)
    x = rng.integers(0, 3, N).astype(float)
    noise = rng.standard_normal(N)
    voi = information_value(_ds(x + noise, x=x, z=rng.random(N)), "y")
    var_x = float(np.var(x))  # the sample's own: the estimate is exact up to the noise means
    got = float(voi["variance_reduction"].sel(parameter="x"))
    # SE about 0.03: the noise of each half's 3 fitted means (sd sqrt(6/n) each, about 0.04)
    # times x's spread, and of the paired half's noise; 5 x sqrt(6/n) = 0.19 covers 5 SE
    assert abs(got - var_x) < K_SE * math.sqrt(6 / N)


def test_on_a_run_the_reserves_question_is_driven_by_the_initial_reserves():
    ds = threatsim.run(threatsim.load_scenario("scenarios/financing.toml"), draws=2000,
                       seed=1, progress=False)
    voi = information_value(ds, "reserves", at="2020-01", below=50e6)
    assert str(voi["parameter"].values[0]) == "reserves_initial"
    assert "para 12" in str(voi["provenance"].values[0])
    assert float(voi["share"].sum()) < 1.5  # one at a time, each at most the whole


@pytest.mark.parametrize(("kwargs", "key"), [
    ({"output": "nope"}, "output"),
    ({"output": "y", "below": 1.0, "above": 2.0}, "above"),
])
def test_bad_arguments_name_the_key(kwargs, key):
    rng = np.random.default_rng(4)
    x = rng.random(50)
    with pytest.raises(ScenarioError, match=f"^{key}="):
        information_value(_ds(x, x=x), **kwargs)

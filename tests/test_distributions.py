"""Distribution specs: readings of a reported range, checked against scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from threatsim.inputs.distributions import Z95, DistSpec


def test_lognormal90_puts_5th_and_95th_percentiles_at_the_range():
    """lognormal90 over [50e6, 300e6]: the 5th/95th percentiles are the range ends (scipy)."""
    spec = DistSpec(kind="lognormal90", low=50e6, high=300e6)
    # scipy's own lognormal with the parameters read from the range:
    mu = (math.log(50e6) + math.log(300e6)) / 2
    sigma = (math.log(300e6) - math.log(50e6)) / (2 * stats.norm.ppf(0.95))
    ref = stats.lognorm(s=sigma, scale=math.exp(mu))
    assert ref.ppf(0.05) == pytest.approx(50e6, rel=1e-12)
    assert ref.ppf(0.95) == pytest.approx(300e6, rel=1e-12)
    np.testing.assert_allclose(spec.ppf(np.array([0.05, 0.95])), [50e6, 300e6], rtol=1e-12)


def test_lognormal90_sample_quantiles_within_monte_carlo_error():
    """Sampled 5 % and 95 % quantiles hit the range ends within 5 standard errors."""
    n = 200_000
    u = np.random.default_rng(1).random(n)
    x = DistSpec(kind="lognormal90", low=50e6, high=300e6).ppf(u)
    for p, target in ((0.05, 50e6), (0.95, 300e6)):
        # Standard error of the share of draws below the target: sqrt(p(1-p)/n).
        share = np.mean(x < target)
        assert abs(share - p) < 5 * math.sqrt(p * (1 - p) / n)


def test_normal90_is_a_central_90_percent_interval():
    """normal90: mean at the midpoint, range ends at +-1.645 sigma (scipy.stats.norm)."""
    spec = DistSpec(kind="normal90", low=14_000, high=18_000)
    frozen = spec.frozen()
    assert frozen.mean() == pytest.approx(16_000)
    assert frozen.std() == pytest.approx(4_000 / (2 * Z95))
    np.testing.assert_allclose(spec.ppf(np.array([0.05, 0.95])), [14_000, 18_000])


def test_pert_matches_the_beta_pert_definition():
    """PERT(a, m, b) is Beta(1 + 4(m-a)/(b-a), 1 + 4(b-m)/(b-a)) on [a, b]; its mean is
    (a+4m+b)/6."""
    spec = DistSpec(kind="pert", low=0, high=10, mode=2)
    assert spec.mean() == pytest.approx((0 + 4 * 2 + 10) / 6)
    ref = stats.beta(1 + 4 * 0.2, 1 + 4 * 0.8, loc=0, scale=10)
    u = np.linspace(0.01, 0.99, 9)
    np.testing.assert_allclose(spec.ppf(u), ref.ppf(u))


def test_triangular_matches_scipy():
    """triangular(low, mode, high) is scipy.stats.triang with c = (mode-low)/(high-low)."""
    spec = DistSpec(kind="triangular", low=100, high=600, mode=250)
    u = np.linspace(0.01, 0.99, 9)
    np.testing.assert_allclose(spec.ppf(u), stats.triang(0.3, loc=100, scale=500).ppf(u))


def test_discrete_and_point_and_poisson():
    """discrete follows its weights; point is constant; poisson matches scipy's ppf."""
    spec = DistSpec(kind="discrete", values=(1, 2, 3), weights=(0.2, 0.5, 0.3))
    x = spec.ppf(np.array([0.1, 0.3, 0.69, 0.71, 0.99]))
    assert x.tolist() == [1, 2, 2, 3, 3]
    assert DistSpec(kind="point", value=7).ppf(np.array([0.3, 0.9])).tolist() == [7, 7]
    u = np.array([0.1, 0.5, 0.9])
    np.testing.assert_array_equal(DistSpec(kind="poisson", value=4).ppf(u),
                                  stats.poisson(4).ppf(u))


def test_integer_specs_round_to_whole_people():
    """Counts of people are whole numbers."""
    x = DistSpec(kind="uniform", low=14_000, high=18_000, integer=True).ppf(
        np.random.default_rng(0).random(1000))
    assert np.all(x == np.rint(x))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"kind": "uniform", "low": 5, "high": 1}, "low <= high"),
        ({"kind": "lognormal90", "low": 0, "high": 1}, "low > 0"),
        ({"kind": "triangular", "low": 0, "high": 1, "mode": 2}, "mode"),
        ({"kind": "uniform", "low": 0, "high": math.inf}, "finite"),
        ({"kind": "bogus", "value": 1}, "dist must be one of"),
    ],
)
def test_invalid_specs_are_refused(fields, message):
    """Bad ranges and unknown kinds raise with a message saying what is allowed."""
    with pytest.raises(ValueError, match=message):
        DistSpec(**fields)


def test_normal90_of_a_nonnegative_quantity_must_not_cross_zero():
    """normal90 over [0, 3000] puts 5 % below zero: refused for people and money."""
    spec = DistSpec(kind="normal90", low=0, high=3000)
    assert "below 0" in spec.problem(nonnegative=True)


ranges = st.tuples(st.floats(0, 1e9), st.floats(0, 1e9)).map(sorted)


@settings(max_examples=60, deadline=None)
@given(bounds=ranges, kind=st.sampled_from(["uniform", "triangular", "pert", "lognormal90"]),
       mode_at=st.floats(0, 1), seed=st.integers(0, 2**32 - 1))
def test_any_valid_range_gives_samples_inside_its_support(bounds, kind, mode_at, seed):
    """Property: every sample of a valid spec lies inside the spec's support."""
    low, high = bounds
    if kind == "lognormal90":  # needs 0 < low < high
        low = max(low, 1.0)
        high = max(high, low + 1.0)
    fields = {"kind": kind, "low": low, "high": high}
    if kind in ("triangular", "pert"):
        if low == high:
            return
        fields["mode"] = low + mode_at * (high - low)
    spec = DistSpec(**fields)
    u = np.maximum(np.random.default_rng(seed).random(500), np.finfo(float).tiny)
    x = spec.ppf(u)
    lo, hi = spec.bounds()
    assert np.all(np.isfinite(x))
    assert np.all(x >= lo - 1e-9 * max(1.0, abs(lo)))
    assert np.all(x <= hi + 1e-9 * max(1.0, abs(hi)))


@settings(max_examples=80, deadline=None)
@given(bounds=ranges, kind=st.sampled_from(["uniform", "triangular", "pert", "lognormal90",
                                            "point", "discrete"]),
       integer=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_overwriting_the_uniforms_gives_the_same_values(bounds, kind, integer, seed):
    """ppf(u, overwrite=True) (what sampling uses, to hold one array a parameter, not
    three) equals ppf(u) to the bit, for every kind, rounded to whole numbers or not;
    the scipy readings never write over u."""
    low, high = bounds
    if kind == "lognormal90":
        low = max(low, 1.0)
        high = max(high, low + 1.0)
    fields = {"kind": kind, "low": low, "high": high, "integer": integer}
    if kind in ("triangular", "pert"):
        if low == high:
            return
        fields["mode"] = (low + high) / 2
    if kind == "point":
        fields = {"kind": "point", "value": low, "integer": integer}
    if kind == "discrete":
        fields = {"kind": "discrete", "values": [low, high], "weights": [1.0, 2.0],
                  "integer": integer}
    spec = DistSpec(**fields)
    u = np.maximum(np.random.default_rng(seed).random(300), np.finfo(float).tiny)
    want = spec.ppf(u.copy())
    work = u.copy()
    got = spec.ppf(work, overwrite=True)
    np.testing.assert_array_equal(got, want)
    if kind == "uniform":
        assert got is work  # written where the uniforms were
    else:
        np.testing.assert_array_equal(work, u)

"""Scores against reference values: scoringrules, closed forms and numerical integrals."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scoringrules as sr
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import stats

from threatsim.core.errors import ScenarioError
from threatsim.outputs.plotting_calibration import pit_histogram_mass
from threatsim.outputs.scores import (
    coverage,
    crps_ensemble,
    crps_interval,
    interval_score,
    log_score_interval,
    pit_interval,
    score_forecast,
)

ensembles = arrays(np.float64, st.integers(1, 60),
                   elements=st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False))
# Small integers make ties, as counts of people do.
tied_ensembles = arrays(np.float64, st.integers(1, 60),
                        elements=st.integers(0, 5).map(float))


def _reference_crps(members: np.ndarray, y: float) -> float:
    return float(sr.crps_ensemble(y, members, estimator="nrg"))


@settings(max_examples=150, deadline=None)
@given(ensembles, st.floats(-1.2e3, 1.2e3))
def test_crps_matches_scoringrules(members, y):
    """The ensemble CRPS equals scoringrules' energy-form estimator on random ensembles."""
    assert crps_ensemble(members, y) == pytest.approx(_reference_crps(members, y),
                                                      rel=1e-9, abs=1e-9)


@settings(max_examples=100, deadline=None)
@given(tied_ensembles, st.integers(-1, 6).map(float))
def test_crps_matches_scoringrules_with_ties(members, y):
    """Ties (integer counts) and truths equal to members give the library's value."""
    assert crps_ensemble(members, y) == pytest.approx(_reference_crps(members, y), abs=1e-12)


def test_crps_vectorised_over_truths():
    """An array of truths is scored member-wise against one forecast."""
    rng = np.random.default_rng(3)
    members, ys = rng.gamma(2.0, 100.0, 500), rng.gamma(2.0, 100.0, 40)
    expected = sr.crps_ensemble(ys, np.broadcast_to(members, (40, 500)), estimator="nrg")
    np.testing.assert_allclose(crps_ensemble(members, ys), expected, rtol=1e-10)


# --- propriety: the truth's own distribution wins in expectation --------------------
#
# Forecasts are 400 evenly spaced quantiles of a normal (deterministic); truths are
# n = 50,000 draws from the true N(mu, sigma). For the per-truth difference
# D = CRPS(G, y) - CRPS(F, y) between a wrong forecast G and the true F,
# E[D] = int (F - G)^2 (the CRPS divergence, > 0), and |D| <= 2 * W1(F, G) because
# CRPS(F, y) = int (F - 1{z >= y})^2 dz. Hoeffding's inequality then bounds the chance
# that the sample mean of D is <= 0 by exp(-n E[D]^2 / (2 (2 W1)^2)). The test computes
# that bound for the drawn parameters and checks it is below 1e-9 before asserting, so
# the claim "the truth scores better on average" can fail by chance with probability
# below 1e-9 per example. (Quantile discretisation adds int (F_m - F)^2 ~ 1e-5 sigma
# to both forecasts' expected scores and the same kind of term to each, far below E[D].)

N_TRUTHS = 50_000
GRID = (np.arange(400) + 0.5) / 400


def _divergence(f, g, lo: float, hi: float) -> tuple[float, float]:
    """int (F - G)^2 and int |F - G| by the trapezoid rule on a fine grid."""
    z = np.linspace(lo, hi, 400_001)
    diff = f.cdf(z) - g.cdf(z)
    return float(np.trapezoid(diff**2, z)), float(np.trapezoid(np.abs(diff), z))


def _check_truth_wins(true, wrong, seed: int) -> None:
    lo = min(true.ppf(1e-9), wrong.ppf(1e-9))
    hi = max(true.isf(1e-9), wrong.isf(1e-9))
    mean_d, w1 = _divergence(true, wrong, lo, hi)
    bound = math.exp(-N_TRUTHS * mean_d**2 / (2.0 * (2.0 * w1) ** 2))
    assert bound < 1e-9, "the parameters drawn are too close for this n; widen the strategy"
    ys = true.rvs(size=N_TRUTHS, random_state=np.random.default_rng(seed))
    right = float(np.mean(crps_ensemble(true.ppf(GRID), ys)))
    other = float(np.mean(crps_ensemble(wrong.ppf(GRID), ys)))
    assert right < other


@settings(max_examples=15, deadline=None)
@given(mu=st.floats(-100, 100), sigma=st.floats(0.1, 50),
       shift=st.floats(0.5, 3.0), sign=st.sampled_from([-1.0, 1.0]), seed=st.integers(0, 2**32))
def test_true_distribution_beats_shifted(mu, sigma, shift, sign, seed):
    """The true normal beats a forecast shifted by 0.5-3 sd on average over many truths."""
    _check_truth_wins(stats.norm(mu, sigma), stats.norm(mu + sign * shift * sigma, sigma), seed)


@settings(max_examples=15, deadline=None)
@given(mu=st.floats(-100, 100), sigma=st.floats(0.1, 50), factor=st.floats(1.5, 4.0),
       seed=st.integers(0, 2**32))
def test_true_distribution_beats_overdispersed(mu, sigma, factor, seed):
    """The true normal beats a forecast 1.5-4 times as wide on average over many truths."""
    _check_truth_wins(stats.norm(mu, sigma), stats.norm(mu, factor * sigma), seed)


# --- interval-censored CRPS ----------------------------------------------------------


def test_interval_crps_is_the_average_point_crps_over_the_range():
    """A range's CRPS equals the point CRPS (scoringrules) averaged over a uniform truth."""
    rng = np.random.default_rng(5)
    members = rng.lognormal(4.0, 0.6, 300)
    a, b = 40.0, 90.0
    ys = np.linspace(a, b, 20_001)
    # the quantile-decomposition estimator equals the energy form and is O(m) per truth
    pointwise = sr.crps_ensemble(ys, np.broadcast_to(members, (ys.size, members.size)),
                                 estimator="qd")
    expected = np.trapezoid(pointwise, ys) / (b - a)
    assert crps_interval(members, a, b) == pytest.approx(expected, rel=1e-7)


@settings(max_examples=60, deadline=None)
@given(ensembles.filter(lambda x: x.size >= 2), st.floats(-1e3, 1e3))
def test_interval_crps_reduces_to_point_crps(members, y):
    """As the range around y shrinks, the interval CRPS tends to CRPS(F, y).

    g(x) - |x - y| lies in [0, w/4] for a range of width w centred on y, so the
    gap is at most w/4 and vanishes with w.
    """
    point = crps_ensemble(members, y)
    for width in (100.0, 1.0, 1e-2, 1e-4):
        gap = crps_interval(members, y - width / 2, y + width / 2) - point
        assert -1e-9 * (1 + abs(point)) <= gap <= width / 4 + 1e-9 * (1 + abs(point))
    assert crps_interval(members, y, y) == pytest.approx(point, abs=1e-12)


def test_interval_crps_with_members_inside_converges():
    """With many members inside the range the gap shrinks in proportion to the width."""
    members = np.linspace(-1.0, 1.0, 2001)
    point = crps_ensemble(members, 0.1)
    gaps = [crps_interval(members, 0.1 - w / 2, 0.1 + w / 2) - point
            for w in (0.4, 0.04, 0.004)]
    assert gaps[0] > gaps[1] > gaps[2] > 0
    assert gaps[2] < 0.004 / 4


def _numeric_censored(members: np.ndarray, a: float, below: bool) -> float:
    """int_{-inf}^a F^2 (below) or int_a^inf (1 - F)^2 on a fine grid."""
    z = np.linspace(members.min() - 10, members.max() + 10, 2_000_001)
    cdf = np.searchsorted(np.sort(members), z, side="right") / members.size
    integrand = np.where(z < a, cdf**2, 0.0) if below else np.where(z > a, (1 - cdf) ** 2, 0.0)
    return float(np.trapezoid(integrand, z))


@pytest.mark.parametrize("bound", [-0.3, 0.4, 2.5, -4.0])
def test_one_sided_bounds_match_numerical_integrals(bound):
    """'At least a' and 'at most b' are the censored integrals of F^2 and (1 - F)^2."""
    members = np.random.default_rng(11).normal(size=40)
    assert crps_interval(members, bound, math.inf) == pytest.approx(
        _numeric_censored(members, bound, below=True), abs=2e-5)
    assert crps_interval(members, -math.inf, bound) == pytest.approx(
        _numeric_censored(members, bound, below=False), abs=2e-5)


@settings(max_examples=60, deadline=None)
@given(ensembles, st.floats(-1.2e3, 1.2e3))
def test_two_one_sided_bounds_add_up_to_the_point_crps(members, y):
    """'At least y' plus 'at most y' is CRPS(F, y): the two halves of the integral."""
    total = crps_interval(members, y, math.inf) + crps_interval(members, -math.inf, y)
    assert total == pytest.approx(crps_ensemble(members, y), rel=1e-9, abs=1e-9)


def test_a_forecast_respecting_a_bound_scores_zero():
    """A forecast entirely above 'at least a' is not penalised."""
    assert crps_interval([5.0, 6.0, 7.0], 4.0, math.inf) == 0.0
    assert crps_interval([5.0, 6.0, 7.0], -math.inf, 7.0) == 0.0


@pytest.mark.parametrize(("low", "high"), [(2.0, 1.0), (-math.inf, math.inf)])
def test_bad_truth_is_refused(low, high):
    """low > high, or no finite bound, is a ScenarioError naming the values."""
    with pytest.raises(ScenarioError, match=r"truth=.* must satisfy low <= high"):
        crps_interval([1.0, 2.0], low, high)


# --- log score, PIT, coverage, interval score ----------------------------------------


def test_log_score_of_range_mass():
    """The log score is -log((k + 1/2) / (m + 1)); NaN for a point truth."""
    members = np.arange(10.0)
    assert log_score_interval(members, 2.0, 4.0) == pytest.approx(-math.log(3.5 / 11))
    assert log_score_interval(members, 20.0, math.inf) == pytest.approx(-math.log(0.5 / 11))
    assert math.isnan(log_score_interval(members, 3.0, 3.0))


def test_pit_interval_of_points_ranges_and_bounds():
    """PIT intervals are [F(a-), F(b)]; ties widen a point's interval."""
    members = np.array([1.0, 2.0, 2.0, 3.0])
    assert pit_interval(members, 2.5, 2.5) == (0.75, 0.75)
    assert pit_interval(members, 2.0, 2.0) == (0.25, 0.75)
    assert pit_interval(members, 1.5, 3.0) == (0.25, 1.0)
    assert pit_interval(members, 2.5, math.inf) == (0.75, 1.0)
    assert pit_interval(members, -math.inf, 0.0) == (0.0, 0.0)


def test_interval_score_matches_scoringrules():
    """The interval score of a point truth equals scoringrules.interval_score."""
    rng = np.random.default_rng(2)
    members = rng.normal(size=300)
    lo, hi = np.quantile(members, [0.05, 0.95])
    for y in (-3.0, 0.1, 2.2):
        expected = float(sr.interval_score(y, lo, hi, 0.1))
        assert interval_score(members, y, y, 0.9) == pytest.approx(expected, rel=1e-12)


def test_interval_score_of_a_range_is_its_uniform_average():
    """For a range truth the interval score is the point score averaged over the range."""
    members = np.random.default_rng(4).normal(size=300)
    a, b = 0.5, 3.0
    ys = np.linspace(a, b, 50_001)
    lo, hi = np.quantile(members, [0.25, 0.75])
    expected = np.trapezoid(sr.interval_score(ys, lo, hi, 0.5), ys) / (b - a)
    assert interval_score(members, a, b, 0.5) == pytest.approx(expected, rel=1e-7)


def test_interval_score_one_sided_takes_the_nearest_consistent_truth():
    """'At least a' above the band costs the distance from the band's top."""
    members = np.linspace(0.0, 1.0, 101)
    width = 0.9
    assert interval_score(members, 3.0, math.inf, 0.9) == pytest.approx(
        width + 2 / 0.1 * (3.0 - 0.95))
    assert interval_score(members, 0.5, math.inf, 0.9) == pytest.approx(width)


CALIBRATION_N = 4000


@pytest.mark.parametrize("level", [0.5, 0.9])
def test_coverage_of_calibrated_point_forecasts_is_nominal(level):
    """Truths drawn from the forecast's own distribution fall in the band at the nominal rate.

    With n = 4000 independent truths the coverage share has binomial standard error
    sqrt(c (1 - c) / n); the forecast ensemble of 999 members adds a bias of at most
    1 / 1000, so 4 SE (about 0.03 and 0.019) is a safe tolerance.
    """
    rng = np.random.default_rng(17)
    members = rng.gamma(3.0, 2.0, 999)
    ys = rng.gamma(3.0, 2.0, CALIBRATION_N)
    pits = np.array([pit_interval(members, y, y) for y in ys])
    observed = float(np.mean(coverage(pits[:, 0], pits[:, 1], level)))
    se = math.sqrt(level * (1 - level) / CALIBRATION_N)
    assert abs(observed - level) < 4 * se + 1e-3


@pytest.mark.parametrize("level", [0.5, 0.9])
def test_coverage_of_calibrated_range_forecasts_is_nominal(level):
    """Truths reported as ranges on a fixed grid keep nominal coverage (non-randomised PIT)."""
    rng = np.random.default_rng(23)
    members = rng.normal(10.0, 3.0, 1999)
    ys = rng.normal(10.0, 3.0, CALIBRATION_N)
    lows = np.floor(ys / 2.0) * 2.0  # "between 8 and 10": a grid that ignores the forecast
    pits = np.array([pit_interval(members, a, a + 2.0) for a in lows])
    observed = float(np.mean(coverage(pits[:, 0], pits[:, 1], level)))
    se = math.sqrt(level * (1 - level) / CALIBRATION_N)
    assert abs(observed - level) < 4 * se + 1e-3


def test_pit_histogram_of_calibrated_forecast_is_flat():
    """The non-randomised PIT histogram of calibrated ranges is flat within 4 binomial SE."""
    rng = np.random.default_rng(29)
    members = rng.normal(size=1999)
    ys = rng.normal(size=CALIBRATION_N)
    lows = np.floor(ys * 2.0) / 2.0
    pits = np.array([pit_interval(members, a, a + 0.5) for a in lows])
    mass = pit_histogram_mass(pits[:, 0], pits[:, 1], bins=10)
    assert mass.sum() == pytest.approx(1.0)
    se = math.sqrt(0.1 * 0.9 / CALIBRATION_N)
    assert np.all(np.abs(mass - 0.1) < 4 * se + 1e-3)


def test_score_forecast_gives_every_score():
    """score_forecast returns each score of the module table, finite where defined."""
    out = score_forecast(np.arange(100.0), 20.0, 40.0)
    assert set(out) == {"crps", "log_score", "pit", "pit_low", "pit_high", "coverage_50",
                        "interval_score_50", "coverage_90", "interval_score_90"}
    assert all(math.isfinite(v) for v in out.values())
    assert out["pit_low"] == 0.2
    assert out["pit_high"] == 0.41


def test_nan_members_are_refused():
    """A forecast with NaN (a flow at the first month) is a ScenarioError, not a NaN score."""
    with pytest.raises(ScenarioError, match="must be finite"):
        crps_interval([1.0, math.nan], 0.0, 1.0)


def test_a_range_with_a_huge_bound_scores_without_overflow():
    """Found by the observation fuzzer once it scored what loads: low = -1e300 made the
    interval score square 1e300 (OverflowError). The closed forms are rearranged, so the
    scores stay finite; for an ordinary range they are the same to rounding."""
    from threatsim.outputs.scores import interval_score

    xs = [1.0, 2.0, 3.0, 4e6]
    scores = score_forecast(xs, -1e300, 6e6)
    assert all(math.isfinite(v) for k, v in scores.items() if k != "log_score")
    # y uniform on [a, b] below the band's low end l: E(l - Y)+ = (l - a)^2 / (2 (b - a))
    lq, uq = np.quantile(xs, [0.25, 0.75])
    expected = (uq - lq) + 2 / 0.5 * ((lq - 1.5) ** 2 / (2 * (2.5 - 1.5)))
    assert interval_score(xs, 1.5, 2.5, 0.5) == pytest.approx(expected, rel=1e-12)

"""financing_events: money in lumps (SimPy) agrees with the smooth financing model."""

from __future__ import annotations

import math

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.conftest import SCENARIOS
from tests.model_contract import ModelContract

import threatsim
from threatsim.core.errors import ScenarioError
from threatsim.models import financing_events as fe


@pytest.fixture(scope="module")
def events_scenario() -> threatsim.Scenario:
    return threatsim.load_scenario(SCENARIOS / "financing_events.toml")


def test_events_scenario_inherits_the_financing_parameters(events_scenario):
    """financing_events.toml extends financing.toml: same parameters, plus event rates."""
    fin = threatsim.load_scenario(SCENARIOS / "financing.toml")
    for name, p in fin.parameters.items():
        assert events_scenario.parameters[name] == p
    assert set(events_scenario.parameters) - set(fin.parameters) == {
        "extortion_events", "ransom_events", "oil_events", "transfer_events"}


@settings(max_examples=15, deadline=None)
@given(effort=st.floats(0, 5), disruption=st.floats(0, 1), interception=st.floats(0, 1),
       search=st.floats(0, 20), seed=st.integers(0, 2**16))
def test_ledger_identity_and_no_negative_money(events_scenario, effort, disruption,
                                               interception, search, seed):
    """R[t+1] = R[t] - seized - spending + revenue every month; no money below 0."""
    sc = events_scenario.with_values({
        "levers.seizure_effort": effort, "levers.revenue_disruption": disruption,
        "levers.interception": interception, "levers.cache_search_intensity": search})
    ds = threatsim.run(sc, draws=8, seed=seed, progress=False)
    r = ds["reserves"].values
    rhs = r[:, :-1] - ds["seized"].values[:, 1:] - ds["spending"].values[:, 1:] + ds[
        "revenue"].values[:, 1:]
    np.testing.assert_allclose(r[:, 1:], rhs, rtol=1e-9, atol=1e-3)
    for name in ("reserves", "seized", "spending", "revenue", "intercepted"):
        assert np.all(ds[name].values[:, 1:] >= 0), name


def test_full_interception_stops_all_income_and_seizes_outgoing_transfers(events_scenario):
    """interception = 1: revenue is the investment return only; transfers are all seized."""
    sc = events_scenario.with_values({"levers.interception": 1.0,
                                      "levers.revenue_disruption": 0.0})
    ds = threatsim.run(sc, draws=20, seed=3, progress=False)
    r0 = ds["reserves"].values[:, 0]
    invest = ds["investment_return"].values
    np.testing.assert_allclose(ds["revenue"].values[:, 1], invest * r0, rtol=1e-12)
    assert float(ds["intercepted"].isel(time=slice(1, None)).sum()) > 0


def test_same_dataset_in_process_and_on_two_workers(events_scenario):
    """Determinism: bit-identical Datasets in-process and with executor=2."""
    a = threatsim.run(events_scenario, draws=40, chunk_size=15, seed=9, progress=False)
    b = threatsim.run(events_scenario, draws=40, chunk_size=15, seed=9, executor=2,
                      progress=False)
    xr.testing.assert_identical(a, b)


def test_amounts_are_pareto_with_the_given_mean():
    """Amounts: mean as asked (5 SE) and the Lomax survival function at 3 and 10 times the mean."""
    g = np.random.Generator(np.random.PCG64(5))
    n, mean = 400_000, 250_000.0
    x = fe._amounts(g, n, mean)
    # Variance of a Lomax with tail index a and this mean: mean^2 a / (a - 2).
    a = fe.TAIL_INDEX
    se = math.sqrt(mean**2 * a / (a - 2) / n)
    assert abs(x.mean() - mean) <= 5 * se
    scale = mean * (a - 1)
    for k in (3, 10):
        p = (1 + k * mean / scale) ** -a
        emp = float(np.mean(x > k * mean))
        assert abs(emp - p) <= 5 * math.sqrt(p * (1 - p) / n), (k, emp, p)


def test_income_without_events_is_refused(events_scenario):
    """A positive ransom income with a ransom event rate that can be 0: ScenarioError."""
    with pytest.raises(ScenarioError, match=r"parameters\.ransom_events\.range=\[0\.0, 4\.0\] "
                                            r"must be > 0"):
        events_scenario.with_values({"parameters.ransom_events.range": [0.0, 4.0]})


def test_interception_above_one_is_refused(events_scenario):
    """interception is a share: 1.5 is refused, naming the lever and the allowed range."""
    with pytest.raises(ScenarioError, match=r"levers\.interception=1\.5 must be in \[0, 1\]"):
        events_scenario.with_values({"levers.interception": 1.5})


@pytest.mark.slow
def test_agrees_with_financing_in_mean_and_bands(events_scenario):
    """Same parameters and levers (no interception): reserves agree in mean and 5/50/95 % bands.

    Same seed, so both models see the same parameter draws: the mean is tested on
    the paired differences (5 SE); each band of the events model must sit where
    the financing sample's empirical CDF is within 5 SE of the band's level.
    """
    fin = threatsim.load_scenario(SCENARIOS / "financing.toml")
    ev = events_scenario.with_values({"levers.interception": 0.0})
    n = 2000
    a = threatsim.run(fin, draws=n, seed=21, progress=False)["reserves"].values
    b = threatsim.run(ev, draws=n, seed=21, progress=False)["reserves"].values
    assert np.array_equal(a[:, 0], b[:, 0])  # common random numbers: same starting reserves
    d = (b - a)[:, 1:]
    se = d.std(axis=0, ddof=1) / math.sqrt(n)
    assert np.all(np.abs(d.mean(axis=0)) <= 5 * se)
    # Power: 5 SE is a small share of the mean reserves (a real bias would show).
    assert np.all(5 * se[:12] <= 0.05 * a[:, 1:13].mean(axis=0))
    for q in (0.05, 0.5, 0.95):
        qb = np.quantile(b, q, axis=0)
        below = (a < qb).mean(axis=0)
        at = (a <= qb).mean(axis=0)
        tol = 5 * math.sqrt(q * (1 - q) * 2 / n) + 2 / n
        assert np.all(below <= q + tol), q
        assert np.all(at >= q - tol), q


class TestFinancingEventsContract(ModelContract):
    """The model contract (tests/model_contract.py) on the shipped financing_events scenario."""

    scenario_path = "scenarios/financing_events.toml"
    later_lever = ("interception", 0.5)
    bad_values = (
        # income with no events to arrive in
        ("parameters.ransom_events.range", [0.0, 4.0], "parameters.ransom_events.range"),
    )

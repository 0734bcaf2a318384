"""The financing model: money is never negative and the stock-flow identity holds exactly."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from tests.model_contract import ModelContract, draw_chance

from threatsim.models import get_model

MODEL = get_model("financing")
N = 64
money = st.floats(0, 5e8)
monthly = st.floats(0, 1e7)


def arrays(elements):
    return hnp.arrays(np.float64, N, elements=elements)


@st.composite
def inputs(draw):
    params = {
        "reserves_initial": draw(arrays(money)),
        "fighters": draw(arrays(st.integers(0, 30_000).map(float))),
        "upkeep_per_fighter": draw(arrays(st.floats(0, 1000))),
        "extortion_income": draw(arrays(monthly)),
        "ransom_income": draw(arrays(monthly)),
        "oil_extortion_income": draw(arrays(monthly)),
        "investment_return": draw(arrays(st.floats(0, 0.05))),
        "transfers_to_affiliates": draw(arrays(monthly)),
        "operations_spending": draw(arrays(monthly)),
        "cache_discovery_rate": draw(arrays(st.floats(0, 2))),
        "cache_share": draw(arrays(st.floats(0, 1))),
        "seizure_rate": draw(arrays(st.floats(0, 1))),
    }
    months = draw(st.integers(1, 24))
    levers = {
        "seizure_effort": np.array(draw(st.lists(st.floats(0, 3), min_size=months,
                                                 max_size=months))),
        "revenue_disruption": np.array(draw(st.lists(st.floats(0, 1), min_size=months,
                                                     max_size=months))),
        "cache_search_intensity": np.full(months, draw(st.floats(0, 5))),
    }
    return params, levers, months, draw(st.integers(0, 2**32 - 1))


@settings(max_examples=80, deadline=None)
@given(inputs())
def test_reserves_never_negative_and_identity_exact(case):
    """Property: R >= 0 always; R[t+1] = R[t] - seized - spending + revenue exactly unless
    clipped."""
    params, levers, months, seed = case
    out = MODEL.simulate(params, levers, n_months=months, chance=draw_chance(seed, N))
    r, rev, spend, seized = (out[k] for k in ("reserves", "revenue", "spending", "seized"))
    assert r.shape == (N, months + 1)
    assert np.all(r >= 0)
    assert np.all(seized[:, 1:] >= 0)
    assert np.all(spend[:, 1:] >= 0)
    assert np.all(rev[:, 1:] >= 0)
    assert np.all(seized[:, 1:] <= r[:, :-1])
    expected = r[:, :-1] - seized[:, 1:] - spend[:, 1:] + rev[:, 1:]
    not_clipped = r[:, 1:] > 0
    np.testing.assert_array_equal(r[:, 1:][not_clipped], expected[not_clipped])
    # When clipped to zero, spending took everything that was there.
    clipped = ~not_clipped
    np.testing.assert_allclose(spend[:, 1:][clipped],
                               (r[:, :-1] - seized[:, 1:] + rev[:, 1:])[clipped], rtol=1e-9)
    # depletion month: the first month reserves were 0 (NaN if never)
    dm = out["depletion_month"]
    hit = (r[:, 1:] == 0).any(axis=1)
    assert np.array_equal(np.isfinite(dm), hit)
    first = np.argmax(r[:, 1:] == 0, axis=1) + 1
    np.testing.assert_array_equal(dm[hit], first[hit])


def test_closed_form_with_only_seizure():
    """With seizure rate s as the only flow, R[t] = R0 (1 - s)^t (geometric decay)."""
    params = {k: np.zeros(3) for k in (
        "fighters", "upkeep_per_fighter", "extortion_income", "ransom_income",
        "oil_extortion_income", "investment_return", "transfers_to_affiliates",
        "operations_spending", "cache_discovery_rate", "cache_share")}
    params["reserves_initial"] = np.array([50e6, 100e6, 300e6])
    params["seizure_rate"] = np.full(3, 0.02)
    levers = {"seizure_effort": np.ones(24), "revenue_disruption": np.zeros(24),
              "cache_search_intensity": np.ones(24)}
    out = MODEL.simulate(params, levers, n_months=24, chance=draw_chance(0, 3))
    t = np.arange(25)
    np.testing.assert_allclose(out["reserves"], params["reserves_initial"][:, None] * 0.98**t,
                               rtol=1e-12)


def test_w1_dynamics_are_a_special_case():
    """W1 (R' = max(0, R(1-d) + rev - spend)) is the financing model with only those flows."""
    rng = np.random.default_rng(5)
    n, months = 1000, 60
    r0, rev = rng.uniform(50e6, 300e6, n), rng.uniform(1e6, 6e6, n)
    spend, d = rng.uniform(2e6, 10e6, n), rng.uniform(0.005, 0.03, n)
    ref = np.empty((n, months + 1))
    ref[:, 0] = r0
    for t in range(months):  # the workload's own recursion, written out
        ref[:, t + 1] = np.maximum(0.0, ref[:, t] * (1 - d) + rev - spend)
    params = {k: np.zeros(n) for k in (
        "ransom_income", "oil_extortion_income", "investment_return",
        "transfers_to_affiliates", "cache_discovery_rate", "cache_share")}
    params.update(reserves_initial=r0, fighters=np.ones(n), upkeep_per_fighter=spend,
                  extortion_income=rev, operations_spending=np.zeros(n), seizure_rate=d)
    levers = {"seizure_effort": np.ones(months), "revenue_disruption": np.zeros(months),
              "cache_search_intensity": np.ones(months)}
    got = MODEL.simulate(params, levers, n_months=months, chance=draw_chance(0, n))
    np.testing.assert_allclose(got["reserves"], ref, rtol=1e-9, atol=1e-3)


class TestFinancingContract(ModelContract):
    """The model contract (tests/model_contract.py) on the shipped financing scenario."""

    scenario_path = "scenarios/financing.toml"
    later_lever = ("seizure_effort", 3.0)

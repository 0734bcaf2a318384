"""The coupled model: upkeep follows the fighters, empty reserves weaken the group."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.conftest import SCENARIOS
from tests.model_contract import ModelContract, draw_chance

import threatsim
from threatsim.core.errors import ScenarioError
from threatsim.models import get_model
from threatsim.models.coupled import INFO
from threatsim.models.fighters import COMPARTMENTS

MODEL = get_model("coupled")
N = 8
ACTIVE = [COMPARTMENTS.index("active_local"), COMPARTMENTS.index("active_foreign")]


def base_params(n: int) -> dict[str, np.ndarray]:
    """Every parameter 0, then a small world: some fighters, money, rates."""
    p = {d.name: np.zeros(n) for d in INFO.parameters}
    p.update(fighters_iraq_syria=np.full(n, 2_000.0), foreign_iraq_syria=np.full(n, 300.0),
             share_in_iraq=np.full(n, 0.5), foreign_share_in_iraq=np.full(n, 0.3),
             fighters_lake_chad=np.full(n, 500.0), recruits_iraq=np.full(n, 40.0),
             recruits_syria=np.full(n, 20.0), recruits_lake_chad=np.full(n, 10.0),
             kill_rate=np.full(n, 0.01), detention_rate=np.full(n, 0.01),
             desertion_rate=np.full(n, 0.005), departure_rate=np.full(n, 0.01),
             trial_rate=np.full(n, 0.03), conviction_share=np.full(n, 0.8),
             release_rate=np.full(n, 0.01), reengagement_rate=np.full(n, 0.02),
             reserves_initial=np.full(n, 5e6), upkeep_per_fighter=np.full(n, 150.0),
             extortion_income=np.full(n, 1e5), operations_spending=np.full(n, 1e5))
    return p


def levers(months: int, **values: float) -> dict[str, np.ndarray]:
    out = {d.name: np.full(months, d.default) for d in INFO.levers}
    out.update({k: np.full(months, v) for k, v in values.items()})
    return out


@st.composite
def cases(draw):
    months = draw(st.integers(1, 24))
    p = base_params(N)
    vec = lambda lo, hi: np.array(draw(st.lists(st.floats(lo, hi), min_size=N,  # noqa: E731
                                                max_size=N)))
    p.update(reserves_initial=vec(0, 2e7), upkeep_per_fighter=vec(0, 500),
             extortion_income=vec(0, 2e6), seizure_rate=vec(0, 0.1),
             cache_discovery_rate=vec(0, 1), cache_share=vec(0, 1),
             investment_return=vec(0, 0.02), transfers_to_affiliates=vec(0, 5e5),
             recruitment_drop_when_depleted=vec(0, 1), desertion_rise_when_depleted=vec(0, 0.5),
             relocation_share=vec(0, 1), syria_to_iraq_rate=vec(0, 0.05),
             dependants_detained_syria=vec(0, 600).round())
    return p, months, draw(st.integers(0, 2**32 - 1))


@settings(max_examples=40, deadline=None)
@given(cases())
def test_money_never_negative_people_conserved_upkeep_follows_fighters(case):
    """Property: reserves >= 0, people conserved, planned upkeep = upkeep x active in Iraq/Syria."""
    p, months, seed = case
    out = MODEL.simulate(p, levers(months), n_months=months, chance=draw_chance(seed, N))
    assert (out["reserves"] >= 0).all()
    pop = out["population"]
    assert pop.dtype == np.int64
    assert (pop >= 0).all()
    total = pop.sum(axis=(2, 3))
    np.testing.assert_array_equal(total, total[:, :1] + out["recruited"].sum(axis=2))
    # spending during month t is the plan of the fighters at its start, unless money ran out
    core = pop[:, :-1, :2][..., ACTIVE].sum(axis=(2, 3))
    plan = p["upkeep_per_fighter"][:, None] * core + (
        p["transfers_to_affiliates"] + p["operations_spending"])[:, None]
    paid = out["reserves"][:, 1:] > 0
    np.testing.assert_array_equal(out["spending"][:, 1:][paid], plan[paid])
    assert (out["spending"][:, 1:] <= plan * (1 + 1e-12)).all()


def test_empty_reserves_stop_recruitment_and_raise_desertion():
    """Reserves at 0 all along: recruitment x (1 - drop) and desertion + rise, in every region."""
    n, months = 2_000, 6
    p = base_params(n)
    p.update(reserves_initial=np.zeros(n), extortion_income=np.zeros(n),
             operations_spending=np.zeros(n), recruitment_drop_when_depleted=np.ones(n),
             desertion_rise_when_depleted=np.full(n, 0.05))
    broke = MODEL.simulate(p, levers(months), n_months=months, chance=draw_chance(1, n))
    assert (broke["depletion_month"] == 1).all()
    np.testing.assert_array_equal(broke["recruited"], 0)  # drop = 1: nobody joins
    rich = dict(p, reserves_initial=np.full(n, 1e12))
    paid = MODEL.simulate(rich, levers(months), n_months=months, chance=draw_chance(1, n))
    assert paid["recruited"][:, -1].sum() > 0
    # local deserters: desertion 0.005 vs 0.055 a month, in expectation (5 SE)
    departed = COMPARTMENTS.index("departed")
    diff = (broke["population"][:, -1, :, departed].sum(axis=1)
            - paid["population"][:, -1, :, departed].sum(axis=1))
    assert diff.mean() > 5 * diff.std(ddof=1) / np.sqrt(n)


def test_financing_parameters_carry_over_except_the_fixed_fighters():
    """The coupled model takes the financing parameters, without `fighters`, and all levers."""
    fin, fig = get_model("financing").info, get_model("fighters").info
    names = {d.name for d in INFO.parameters}
    assert {d.name for d in fin.parameters} - names == {"fighters"}
    assert {d.name for d in fig.parameters} <= names
    assert {d.name for d in INFO.levers} == {d.name for d in (*fin.levers, *fig.levers)}


def test_each_model_still_runs_alone():
    """financing.toml, fighters.toml and the coupled baseline each run."""
    for name, var in (("financing", "reserves"), ("fighters", "population"),
                      ("baseline", "population")):
        ds = threatsim.run(threatsim.load_scenario(SCENARIOS / f"{name}.toml"), draws=40)
        assert var in ds


def test_coupled_is_deterministic_across_executors_with_replicates():
    """In-process and a 2-worker process pool give bit-identical coupled Datasets."""
    sc = threatsim.load_scenario(SCENARIOS / "baseline.toml")
    a = threatsim.run(sc, draws=60, seed=2, chunk_size=16, replicates=2)
    b = threatsim.run(sc, draws=60, seed=2, chunk_size=16, replicates=2, executor=2)
    xr.testing.assert_identical(a, b)


@pytest.fixture(scope="module")
def whatifs():
    """Baseline and the fighter what-ifs, 600 draws each, same seed (common random numbers)."""
    names = ("repatriation_accelerated", "prosecution_halved", "mass_prison_release")
    runs = {"baseline": threatsim.run(threatsim.load_scenario(SCENARIOS / "baseline.toml"),
                                      draws=600, seed=5)}
    for name in names:
        sc = threatsim.load_scenario(SCENARIOS / "whatif" / f"{name}.toml")
        runs[name] = threatsim.run(sc, draws=600, seed=5)
    return runs


def _paired_lower(a: xr.DataArray, b: xr.DataArray) -> bool:
    """E[a] < E[b] by more than 5 standard errors of the paired difference."""
    d = (a - b).values.astype(float)
    return bool(d.mean() < -5 * d.std(ddof=1) / np.sqrt(d.size))


def test_whatifs_move_the_outcomes_the_way_their_levers_say(whatifs):
    """Faster repatriation, halved prosecution and a prison release each show in the results."""
    base = whatifs["baseline"]
    end = {"time": -1}
    pop = lambda ds, c: ds["population"].sel(compartment=c).sum("region")  # noqa: E731
    pop_end = lambda ds, c: pop(ds, c).isel(end)  # noqa: E731
    rep = whatifs["repatriation_accelerated"]
    assert _paired_lower(base["returned_home"].sum("region").isel(end),
                         rep["returned_home"].sum("region").isel(end))
    assert _paired_lower(rep["dependants_detained"].isel(end),
                         base["dependants_detained"].isel(end))
    half = whatifs["prosecution_halved"]
    assert _paired_lower(pop_end(half, "imprisoned"), pop_end(base, "imprisoned"))
    assert _paired_lower(pop_end(base, "detained"), pop_end(half, "detained"))
    shock = whatifs["mass_prison_release"]
    jan = threatsim.load_scenario(SCENARIOS / "baseline.toml").month_of("2020-01")
    # identical until the shock (same parameters, same chance), then prisoners walk free
    xr.testing.assert_identical(shock["population"].isel(time=slice(0, jan + 1)),
                                base["population"].isel(time=slice(0, jan + 1)))
    after = {"time": jan + 1}
    assert _paired_lower(pop(shock, "imprisoned").isel(after), pop(base, "imprisoned").isel(after))


def test_desertion_rise_counts_in_the_competing_rates(write_scenario):
    """desertion_rise_when_depleted is added to desertion and departure in the rate check."""
    path = write_scenario(f'extends = "{SCENARIOS / "baseline.toml"}"\n'
                          "[parameters.desertion_rise_when_depleted]\nrange = [0.5, 0.99]\n")
    with pytest.raises(ScenarioError) as info:
        threatsim.load_scenario(path)
    keys = [p.key for p in info.value.problems]
    assert "exit rates of active_local in iraq" in keys
    assert "desertion_rise_when_depleted 0.99" in str(info.value)


class TestCoupledContract(ModelContract):
    """The model contract (tests/model_contract.py) on the shipped baseline (coupled)."""

    scenario_path = "scenarios/baseline.toml"
    later_lever = ("seizure_effort", 3.0)
    # Dependants cost nothing and are repatriated on flows of their own: neither the money
    # nor the fighters can move.
    lever_reaches = (("dependant_repatriation_rate", 0.2,
                      frozenset({"dependants_detained", "dependants_repatriated",
                                 "dependants_held", "dependants_left", "children_held"})),)
    bad_values = (
        # the rise in desertion when broke counts among the competing exits
        ("parameters.desertion_rise_when_depleted.range", [0.9, 1.0],
         "exit rates of active_foreign in syria"),
    )

"""The fighters model: people are conserved, counts stay whole and >= 0, rates are checked."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from tests.conftest import SCENARIOS
from tests.model_contract import ModelContract, draw_chance

import threatsim
from threatsim.core.errors import ScenarioError
from threatsim.models import get_model
from threatsim.models.fighters import (
    COMPARTMENTS,
    FIGHTER_LEVERS,
    FIGHTER_PARAMETERS,
    REGIONS,
)

MODEL = get_model("fighters")
N = 8
C = {name: i for i, name in enumerate(COMPARTMENTS)}
EXITS = ("kill_rate", "detention_rate", "surrender_rate", "desertion_rate", "departure_rate",
         "syria_to_iraq_rate")


def zero_params(n: int) -> dict[str, np.ndarray]:
    return {d.name: np.zeros(n) for d in FIGHTER_PARAMETERS}


def default_levers(months: int) -> dict[str, np.ndarray]:
    return {d.name: np.full(months, d.default) for d in FIGHTER_LEVERS}


@st.composite
def cases(draw):
    """Valid parameters and levers: competing exits sum to at most 1 in every month."""
    months = draw(st.integers(1, 18))
    vec = lambda lo, hi: np.array(draw(st.lists(st.floats(lo, hi), min_size=N,  # noqa: E731
                                                max_size=N)))
    counts = lambda hi: np.array(draw(st.lists(st.integers(0, hi), min_size=N,  # noqa: E731
                                               max_size=N)), dtype=float)
    levers = default_levers(months)
    for name in ("detention_effort", "prosecution_capacity", *(f"pressure_{r}" for r in REGIONS)):
        levers[name] = vec(0, 3)[:1].repeat(months) if draw(st.booleans()) else np.array(
            draw(st.lists(st.floats(0, 3), min_size=months, max_size=months)))
    for name in ("repatriation_rate", "dependant_repatriation_rate", "rehabilitation"):
        levers[name] = np.array(draw(st.lists(st.floats(0, 0.5), min_size=months,
                                              max_size=months)))
    shock = np.zeros(months)
    shock[draw(st.integers(0, months - 1))] = draw(st.floats(0, 1))
    levers["prison_release_share"] = shock
    params = zero_params(N)
    params.update(
        fighters_iraq_syria=counts(20_000), foreign_iraq_syria=counts(4_000),
        share_in_iraq=vec(0, 1), foreign_share_in_iraq=vec(0, 1),
        detained_foreign_iraq=counts(2_000), detained_foreign_syria=counts(2_000),
        detained_local_iraq=counts(500), detained_local_syria=counts(500),
        dependants_detained_syria=counts(2_000), foreign_share_affiliates=vec(0, 1),
        relocation_share=vec(0, 1), conviction_share=vec(0, 1),
        release_rate=vec(0, 1), reengagement_rate=vec(0, 1),
    )
    for r in REGIONS[2:]:
        params[f"fighters_{r}"] = counts(5_000)
    for r in REGIONS:
        params[f"recruits_{r}"] = vec(0, 300)
    raw = {name: vec(0, 1) for name in EXITS}
    press = max(float(levers[f"pressure_{r}"].max()) for r in REGIONS)
    effort = float(levers["detention_effort"].max())
    worst = (raw["kill_rate"] * press + raw["detention_rate"] * effort * press
             + raw["surrender_rate"] * press + np.maximum(raw["desertion_rate"],
                                                          raw["departure_rate"])
             + raw["syria_to_iraq_rate"])
    scale = 1.0 / np.maximum(worst, 1.0)
    params.update({name: raw[name] * scale for name in EXITS})
    trial = vec(0, 1)
    params["trial_rate"] = trial / np.maximum(
        trial * float(levers["prosecution_capacity"].max())
        + float(levers["repatriation_rate"].max()), 1.0)
    return params, levers, months, draw(st.integers(0, 2**32 - 1))


@settings(max_examples=60, deadline=None)
@given(cases())
def test_people_are_conserved_and_counts_whole_and_non_negative(case):
    """Property: every draw and month, sum over regions and compartments = initial + recruited."""
    params, levers, months, seed = case
    out = MODEL.simulate(params, levers, n_months=months, chance=draw_chance(seed, N))
    for name, arr in out.items():
        assert arr.dtype == np.int64, name
        assert (arr >= 0).all(), name
    pop = out["population"]
    assert pop.shape == (N, months + 1, len(REGIONS), len(COMPARTMENTS))
    total = pop.sum(axis=(2, 3))
    np.testing.assert_array_equal(total, total[:, :1] + out["recruited"].sum(axis=2))
    # per region, relocation and the syria -> iraq flow move people, never create them
    region = pop.sum(axis=3)
    np.testing.assert_array_equal(
        region, region[:, :1] + out["recruited"] + out["arrived"] - out["moved_out"])
    np.testing.assert_array_equal(out["arrived"].sum(axis=2), out["moved_out"].sum(axis=2))
    np.testing.assert_array_equal(out["population_total"], pop.sum(axis=2))
    # foreign fighters never exceed fighters; returnees are among the departed
    assert (out["detained_foreign"] <= pop[..., C["detained"]]).all()
    assert (out["returned_home"] <= pop[..., C["departed"]]).all()
    # killed, departed and the cumulative series never go down
    for arr in (pop[..., C["killed"]], pop[..., C["departed"]], out["recruited"],
                out["arrived"], out["moved_out"], out["returned_home"],
                out["dependants_repatriated"]):
        assert (np.diff(arr, axis=1) >= 0).all()
    deps = out["dependants_detained"] + out["dependants_repatriated"]
    np.testing.assert_array_equal(deps, deps[:, :1].repeat(months + 1, axis=1))


def test_killing_alone_is_binomial_thinning():
    """With only kill rate k, active(t) ~ Binomial(A0, (1-k)^t) (mean and variance within 5 SE)."""
    n, months, a0, k = 20_000, 12, 1_000, 0.03
    params = zero_params(n)
    params.update(fighters_afghanistan=np.full(n, float(a0)), kill_rate=np.full(n, k))
    out = MODEL.simulate(params, default_levers(months), n_months=months,
                         chance=draw_chance(1, n), outputs=frozenset({"population"}))
    active = out["population"][:, -1, REGIONS.index("afghanistan"), C["active_local"]]
    ref = stats.binom(a0, (1 - k) ** months)  # the closed form, from scipy
    assert abs(active.mean() - ref.mean()) < 5 * ref.std() / np.sqrt(n)
    se_var = ref.var() * np.sqrt(2 / (n - 1))
    assert abs(active.var(ddof=1) - ref.var()) < 5 * se_var
    killed = out["population"][:, -1, REGIONS.index("afghanistan"), C["killed"]]
    np.testing.assert_array_equal(active + killed, a0)


def test_recruitment_alone_is_poisson():
    """With only recruitment lam a month, recruited(t) ~ Poisson(lam t) (mean, variance, 5 SE)."""
    n, months, lam = 20_000, 10, 7.5
    params = zero_params(n)
    params["recruits_tunisia"] = np.full(n, lam)
    out = MODEL.simulate(params, default_levers(months), n_months=months,
                         chance=draw_chance(2, n), outputs=frozenset({"recruited"}))
    got = out["recruited"][:, -1, REGIONS.index("tunisia")]
    mu = lam * months
    assert abs(got.mean() - mu) < 5 * np.sqrt(mu / n)
    assert abs(got.var(ddof=1) - mu) < 5 * mu * np.sqrt(2 / (n - 1))


def test_syria_to_iraq_flow_moves_people_between_regions():
    """Syria's local fighters cross at rate m: syria(t) ~ Bin(S0, (1-m)^t), iraq gets the rest."""
    n, months, s0, m = 5_000, 6, 400, 0.1
    params = zero_params(n)
    params.update(fighters_iraq_syria=np.full(n, float(s0)), syria_to_iraq_rate=np.full(n, m))
    out = MODEL.simulate(params, default_levers(months), n_months=months,
                         chance=draw_chance(3, n))
    pop = out["population"][:, -1]
    syria, iraq = pop[:, 1, C["active_local"]], pop[:, 0, C["active_local"]]
    np.testing.assert_array_equal(syria + iraq, s0)
    np.testing.assert_array_equal(out["arrived"][:, -1, 0], iraq)
    np.testing.assert_array_equal(out["moved_out"][:, -1, 1], iraq)
    ref = stats.binom(s0, (1 - m) ** months)
    assert abs(syria.mean() - ref.mean()) < 5 * ref.std() / np.sqrt(n)


def test_relocators_join_other_regions_in_proportion_to_strength():
    """Relocating foreign fighters go to the other regions by their active strength (para 11)."""
    n, months = 4_000, 1
    params = zero_params(n)
    params.update(fighters_iraq_syria=np.full(n, 1_000.0), foreign_iraq_syria=np.full(n, 1_000.0),
                  share_in_iraq=np.ones(n), foreign_share_in_iraq=np.ones(n),
                  fighters_afghanistan=np.full(n, 3_000.0), fighters_lake_chad=np.full(n, 1_000.0),
                  departure_rate=np.full(n, 0.2), relocation_share=np.full(n, 0.5))
    out = MODEL.simulate(params, default_levers(months), n_months=months,
                         chance=draw_chance(4, n))
    moved = out["moved_out"][:, -1, 0]
    afg = out["arrived"][:, -1, REGIONS.index("afghanistan")]
    chad = out["arrived"][:, -1, REGIONS.index("lake_chad")]
    np.testing.assert_array_equal(afg + chad, moved)
    share = afg.sum() / moved.sum()
    assert abs(share - 0.75) < 5 * np.sqrt(0.75 * 0.25 / moved.sum())
    # the others went home: returned_home counts them, departed holds them
    home = out["returned_home"][:, -1, 0]
    left = 1_000 - out["population"][:, -1, 0, C["active_foreign"]]
    np.testing.assert_array_equal(home + moved, left)


@st.composite
def monotone_cases(draw):
    """A fixed parameter point without re-engagement, and two detention efforts."""
    rate = st.floats(0.0, 0.05)
    point = {name: draw(rate) for name in ("kill_rate", "detention_rate", "surrender_rate",
                                           "desertion_rate", "departure_rate",
                                           "syria_to_iraq_rate", "trial_rate", "release_rate")}
    point.update(relocation_share=draw(st.floats(0, 1)), conviction_share=draw(st.floats(0, 1)),
                 share_in_iraq=draw(st.floats(0, 1)), foreign_share_in_iraq=draw(st.floats(0, 1)),
                 recruits_iraq=draw(st.floats(0, 100)), recruits_syria=draw(st.floats(0, 100)))
    low = draw(st.floats(0, 2))
    return point, low, low + draw(st.floats(0.5, 3)), draw(st.integers(0, 2**32 - 1))


@settings(max_examples=8, deadline=None)
@given(monotone_cases())
def test_more_detention_never_raises_expected_active_count(case):
    """Property (CRN, 5 SE): more detention effort never raises the expected active count.

    Released people do not re-engage here: with re-engagement, detention can also
    shelter fighters from being killed and return them later (see the next test).
    """
    point, low, high, seed = case
    n, months = 1_500, 12
    params = zero_params(n)
    params.update({k: np.full(n, v) for k, v in point.items()})
    params.update(fighters_iraq_syria=np.full(n, 3_000.0), foreign_iraq_syria=np.full(n, 600.0),
                  fighters_afghanistan=np.full(n, 500.0))

    def active(effort: float) -> np.ndarray:
        levers = default_levers(months)
        levers["detention_effort"][:] = effort
        out = MODEL.simulate(params, levers, n_months=months, chance=draw_chance(seed, n),
                             outputs=frozenset({"population_total"}))
        return out["population_total"][:, :, :2].sum(axis=2)

    diff = active(high) - active(low)  # paired: same seed, same parameters
    se = diff.std(axis=0, ddof=1) / np.sqrt(n)
    assert (diff.mean(axis=0) <= 5 * se + 1e-9).all()


def test_detention_can_shelter_fighters_who_re_engage():
    """Caveat: with heavy killing and fast re-engagement, detention raises active later."""
    n, months = 2_000, 3
    params = zero_params(n)
    params.update(fighters_afghanistan=np.full(n, 1_000.0), kill_rate=np.full(n, 0.5),
                  detention_rate=np.full(n, 0.5), trial_rate=np.ones(n),
                  conviction_share=np.zeros(n), reengagement_rate=np.ones(n))
    levers = default_levers(months)
    out = MODEL.simulate(params, levers, n_months=months, chance=draw_chance(5, n),
                         outputs=frozenset({"population_total"}))
    levers["detention_effort"][:] = 0.0
    none = MODEL.simulate(params, levers, n_months=months, chance=draw_chance(5, n),
                          outputs=frozenset({"population_total"}))
    # without detention a fighter is alive after 3 months with probability 1/8; with it, half
    # are detained in month 0, tried and acquitted in month 1, re-engaged in month 2
    assert out["population_total"][:, 3, 0].mean() > 3 * none["population_total"][:, 3, 0].mean()


def test_prison_release_shock_moves_a_share_of_prisoners_in_its_month():
    """prison_release_share s in month m releases Binomial(imprisoned - released, s) then."""
    n, months = 3_000, 3
    params = zero_params(n)
    params.update(detained_foreign_iraq=np.full(n, 1_000.0), trial_rate=np.ones(n),
                  conviction_share=np.ones(n))
    levers = default_levers(months)
    levers["prison_release_share"][1] = 0.4
    out = MODEL.simulate(params, levers, n_months=months, chance=draw_chance(6, n),
                         outputs=frozenset({"population_total"}))
    tot = out["population_total"]
    np.testing.assert_array_equal(tot[:, 1, C["imprisoned"]], 1_000)  # all tried in month 0
    released = tot[:, 2, C["released"]]
    assert abs(released.mean() - 400) < 5 * np.sqrt(1_000 * 0.4 * 0.6 / n)
    np.testing.assert_array_equal(tot[:, 3], tot[:, 2])  # the shock is over: nothing moves


# -- the Dataset, executors and shipped scenarios ------------------------------------------


def test_conservation_from_the_dataset_alone_with_replicates():
    """From a run's Dataset: per draw, replicate and month, people = initial + recruited."""
    sc = threatsim.load_scenario(SCENARIOS / "fighters.toml")
    ds = threatsim.run(sc, draws=60, seed=3, chunk_size=25, replicates=3)
    pop = ds["population"]
    assert pop.dims == ("draw", "replicate", "time", "region", "compartment")
    total = pop.sum(["region", "compartment"])
    xr.testing.assert_equal(total, total.isel(time=0) + ds["recruited"].sum("region"))
    assert (ds["detained_foreign"] <= pop.sel(compartment="detained")).all()


def test_same_dataset_in_process_and_in_a_process_pool_with_replicates():
    """Determinism: in-process and a 2-worker pool give bit-identical Datasets, replicates too."""
    sc = threatsim.load_scenario(SCENARIOS / "fighters.toml")
    a = threatsim.run(sc, draws=90, seed=8, chunk_size=20, replicates=2)
    b = threatsim.run(sc, draws=90, seed=8, chunk_size=20, replicates=2, executor=2)
    xr.testing.assert_identical(a, b)
    assert not (a["population"].isel(replicate=0) == a["population"].isel(replicate=1)).all()


def test_balkans_cohort_bands_contain_the_reported_figures():
    """Para 37: by January 2019, 90 % bands of killed and returned contain 100 and 300."""
    sc = threatsim.load_scenario(SCENARIOS / "balkans_cohort.toml")
    ds = threatsim.run(sc)
    at = sc.month_of("2019-01")
    assert at == sc.horizon
    killed = ds["population"].sel(compartment="killed").sum("region").isel(time=at)
    returned = ds["returned_home_by_origin"].sel(origin="western_balkans").isel(time=at)
    np.testing.assert_array_equal(returned, ds["returned_home"].sum("region").isel(time=at))
    for da, reported in ((killed, 100), (returned, 300)):
        low, high = threatsim.bands(da, [0.05, 0.95]).values
        assert low <= reported <= high, (da.name, low, high)
    # a closed cohort: nobody joins, nobody is created
    total = ds["population"].isel(time=at).sum(["region", "compartment"])
    start = ds["population"].isel(time=0).sum(["region", "compartment"])
    np.testing.assert_array_equal(total.values, start.values)


def test_fighters_scenario_has_the_baselines_fighter_figures():
    """scenarios/fighters.toml and the coupled baseline share every fighter parameter and lever."""
    alone = threatsim.load_scenario(SCENARIOS / "fighters.toml")
    base = threatsim.load_scenario(SCENARIOS / "baseline.toml")
    for name, param in alone.parameters.items():
        assert base.parameters[name] == param, name
    for name, value in alone.levers.items():
        assert base.levers[name] == value, name


# -- bad input -----------------------------------------------------------------------------


def _error(write_scenario, body: str) -> ScenarioError:
    path = write_scenario(f'extends = "{SCENARIOS / "fighters.toml"}"\n{body}')
    with pytest.raises(ScenarioError) as info:
        threatsim.load_scenario(path)
    err = info.value
    assert str(path) in str(err)
    return err


def _keys(err: ScenarioError) -> list[str | None]:
    return [p.key for p in err.problems] or [err.key]


@pytest.mark.parametrize(
    ("body", "key", "fragments"),
    [
        ("[parameters.kill_rate]\nrange = [0.0, 1.5]\n", "parameters.kill_rate.range",
         ["[0, 1]"]),
        ("[parameters.relocation_share]\nrange = [0.5, 1.2]\n",
         "parameters.relocation_share.range", ["[0, 1]"]),
        ("[levers]\nrehabilitation = 1.5\n", "levers.rehabilitation", ["[0, 1]"]),
        ("[levers]\nrepatriation_rate = -0.1\n", "levers.repatriation_rate", ["[0, 1]"]),
        ("[parameters.kill_rate]\nrange = [0.4, 0.6]\n[parameters.detention_rate]\n"
         "range = [0.3, 0.5]\n", "exit rates of active_local in iraq",
         ["must sum to at most 1", "kill_rate 0.6", "detention_rate 0.5"]),
        ("[[timeline]]\nat = '2020-01'\n"
         "levers = { detention_effort = 20.0, pressure_syria = 3.0 }\n",
         "exit rates of active_foreign in syria", ["must sum to at most 1", "month 12"]),
        ("[levers]\nprosecution_capacity = 20.0\n", "exit rates of detained",
         ["trial_rate 0.05 x prosecution_capacity", "repatriation_rate"]),
        ("[parameters.recruits_libya]\ndist = 'point'\nvalue = 5\nunit = 'people_per_month'\n"
         "assumption = 'x'\n", "parameters.recruits_libya", ["recruits_iraq", "recruits_tunisia"]),
        ("[levers]\npressure_libya = 2.0\n", "levers.pressure_libya",
         ["pressure_lake_chad", "pressure_greater_sahara"]),
        ("[outputs]\nvariables = ['population_prisoners']\n", "outputs.variables",
         ["population", "population_total"]),
        ("[[timeline]]\nat = '2023-01'\nlevers = { prison_release_share = 0.5 }\n",
         "timeline[0].at", ["must be within the run", "2019-01 to 2021-12"]),
    ],
)
def test_bad_input_is_a_scenario_error_naming_key_and_allowed_values(write_scenario, body, key,
                                                                     fragments):
    """Rates outside [0, 1], competing rates > 1, shares > 1, unknown regions, late shocks."""
    err = _error(write_scenario, body)
    assert key in _keys(err), str(err)
    for fragment in fragments:
        assert fragment in str(err)


def test_skipped_empty_draws_change_no_other_number():
    """The model skips binomial and Poisson calls with n = 0 or p = 0. Chance has no state:
    whether or not such calls (or any others) come first, a call at a counter gives the same
    numbers; and the calls skipped would have given zeros."""
    n = 100
    skipped = [lambda c: c.binomial(np.zeros(n, dtype=np.int64), 0.3, month=0, flow=1),
               lambda c: c.binomial(np.full(n, 50), 0.0, month=0, flow=2),
               lambda c: c.poisson(np.zeros(n), month=0, flow=3)]
    fresh = draw_chance(1, n).binomial(np.full(n, 40), 0.2, month=0, flow=4)
    used = draw_chance(1, n)
    for call in skipped:
        assert not call(used).any()
    np.testing.assert_array_equal(used.binomial(np.full(n, 40), 0.2, month=0, flow=4), fresh)


@pytest.mark.parametrize(("a0", "rates"), [(16_000, (0.02, 0.015, 0.006)),  # W2: BTRS
                                           (60, (0.05, 0.03, 0.02))])  # small n p: inversion
def test_one_months_competing_exits_are_one_multinomial(a0, rates):
    """W2's flow law (benchmarks/WORKLOADS.md): one month's (killed, detained, left)
    from A ~ Multinomial(A, (k, c, x, rest)). Means n p_i, variances n p_i (1 - p_i) and
    covariances -n p_i p_j within 5 standard errors (those of the sample moments, from the
    sample's own fourth moments) over 40,000 draws. Catches a chain of conditional binomials
    with the wrong conditional probabilities, or exits drawn from shared uniforms."""
    n, (k, c, x) = 40_000, rates
    params = zero_params(n)
    params.update(fighters_iraq_syria=np.full(n, float(a0)), share_in_iraq=np.ones(n),
                  kill_rate=np.full(n, k), detention_rate=np.full(n, c),
                  desertion_rate=np.full(n, x))
    out = MODEL.simulate(params, default_levers(1), n_months=1, chance=draw_chance(7, n),
                         outputs=frozenset({"population"}))
    iraq = out["population"][:, 1, REGIONS.index("iraq")]
    counts = np.stack([iraq[:, C["killed"]], iraq[:, C["detained"]], iraq[:, C["departed"]]])
    np.testing.assert_array_equal(counts.sum(axis=0) + iraq[:, C["active_local"]], a0)
    p = np.array([k, c, x])
    dev = counts - counts.mean(axis=1, keepdims=True)
    for i in range(3):
        mean_se = counts[i].std(ddof=1) / np.sqrt(n)
        assert abs(counts[i].mean() - a0 * p[i]) < 5 * mean_se, ("mean", i)
        for j in range(i, 3):
            product = dev[i] * dev[j]
            expected = a0 * p[i] * (1 - p[i]) if i == j else -a0 * p[i] * p[j]
            se = product.std(ddof=1) / np.sqrt(n)
            assert abs(product.sum() / (n - 1) - expected) < 5 * se, ("covariance", i, j)


class TestFightersContract(ModelContract):
    """The model contract (tests/model_contract.py) on the shipped fighters scenario."""

    scenario_path = "scenarios/fighters.toml"
    later_lever = ("pressure_iraq", 2.0)
    # Dependants are repatriated on flows of their own: nothing else can move.
    lever_reaches = (("dependant_repatriation_rate", 0.2,
                      frozenset({"dependants_detained", "dependants_repatriated",
                                 "dependants_held", "dependants_left", "children_held"})),)
    bad_values = (
        # competing exits that can sum above 1
        ("parameters.kill_rate.range", [0.9, 1.0], "exit rates of active_local in iraq"),
        # origin shares of a region that can sum above 1
        ("origins.syria.europe", {"dist": "point", "value": 0.95, "assumption": "test"},
         "origins.syria"),
        # the custody tables (issue 19): shares of a fall above 1, a fall outside the run,
        # a dependants' ratio below 0
        ("events.hajin.surrender.range", [0.8, 0.9], "events.hajin"),
        ("events.hajin.window", ["2018-12", "2019-02"], "events.hajin.window"),
        ("families.ratio_local.range", [-1.0, 1.0], "families.ratio_local.range"),
    )

"""Issue 19 in the fighters model: nationality through the courts, families in camps,
the fall of a holding, court regimes by region, shocks; and their bad values."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from tests.conftest import ROOT, SCENARIOS
from tests.model_contract import draw_chance

import threatsim
from threatsim.core.errors import ScenarioError
from threatsim.models import get_model
from threatsim.models.fighters import COMPARTMENTS, FIGHTER_LEVERS, FIGHTER_PARAMETERS, REGIONS
from threatsim.models.fighters.custody import CUSTODY_FLAG, fall_parameter, shock_parameter

MODEL = get_model("fighters")
OLD_FIGHTERS = ROOT / "tests" / "data" / "before_issue19" / "scenarios" / "fighters.toml"
C = {name: i for i, name in enumerate(COMPARTMENTS)}
R = {name: i for i, name in enumerate(REGIONS)}
LOCAL, FOREIGN, UNSPECIFIED = 0, 1, 2
N = 8


def zero_params(n: int, *, custody: bool = True) -> dict[str, np.ndarray]:
    params = {d.name: np.zeros(n) for d in FIGHTER_PARAMETERS}
    if custody:
        params[CUSTODY_FLAG] = np.ones(n)
    return params


def default_levers(months: int) -> dict[str, np.ndarray]:
    return {d.name: np.full(months, d.default) for d in FIGHTER_LEVERS}


def families(params: dict, n: int, *, local: float, foreign: float, children: float = 0.5,
             back: float = 0.0) -> None:
    params.update(family_ratio_local=np.full(n, local), family_ratio_foreign=np.full(n, foreign),
                  family_children_share=np.full(n, children), family_return_rate=np.full(n, back))


def fall(params: dict, n: int, *, region: str = "syria", name: str = "hajin", month,
         strength, foreign_share=0.2, surrender=0.5, flee=0.2, killed=0.1,
         flee_to: str | None = "iraq") -> None:
    def put(field: str, value) -> None:
        params[fall_parameter(region, name, field)] = np.broadcast_to(
            np.asarray(value, dtype=float), (n,)).copy()
    put("month", month)
    put("strength", strength)
    put("foreign_share", foreign_share)
    put("surrender", surrender)
    put("flee" if flee_to is None else f"flee_to_{flee_to}", flee)
    put("killed", killed)


def run(params, levers, months, seed=1, outputs=None):
    n = next(iter(params.values())).shape[0]
    out = MODEL.simulate(params, levers, n_months=months, chance=draw_chance(seed, n),
                         outputs=outputs)
    return out


def assert_identities(out):
    for name, arr in out.items():
        assert arr.dtype == np.int64, name
        assert (arr >= 0).all(), name
    for name, residual in MODEL.conservation_residuals(out).items():
        assert not residual.any(), name


# -- conservation, whole people ------------------------------------------------------------


@st.composite
def custody_cases(draw):
    """Valid parameters and levers with every custody feature on: competing exits <= 1."""
    months = draw(st.integers(1, 14))
    vec = lambda lo, hi: np.array(draw(st.lists(st.floats(lo, hi), min_size=N,  # noqa: E731
                                                max_size=N)))
    counts = lambda hi: np.array(draw(st.lists(st.integers(0, hi), min_size=N,  # noqa: E731
                                               max_size=N)), dtype=float)
    params = zero_params(N)
    params.update(
        fighters_iraq_syria=counts(20_000), foreign_iraq_syria=counts(4_000),
        share_in_iraq=vec(0, 1), foreign_share_in_iraq=vec(0, 1),
        detained_foreign_iraq=counts(2_000), detained_foreign_syria=counts(2_000),
        detained_local_iraq=counts(500), detained_local_syria=counts(500),
        dependants_detained_syria=counts(2_000), foreign_share_affiliates=vec(0, 1),
        relocation_share=vec(0, 1), conviction_share=vec(0, 1), release_rate=vec(0, 1),
        kill_rate=vec(0, 0.2), detention_rate=vec(0, 0.2), surrender_rate=vec(0, 0.2),
        desertion_rate=vec(0, 0.2), departure_rate=vec(0, 0.2),
        syria_to_iraq_rate=vec(0, 0.2), trial_rate=vec(0, 0.3), reengagement_rate=vec(0, 0.5))
    for r in REGIONS[2:]:
        params[f"fighters_{r}"] = counts(5_000)
    for r in REGIONS:
        params[f"recruits_{r}"] = vec(0, 300)
    families(params, N, local=draw(st.floats(0, 3)), foreign=draw(st.floats(0, 3)),
             children=draw(st.floats(0, 1)), back=draw(st.floats(0, 1)))
    params["trial_rate_syria"] = vec(0, 0.3)
    params["conviction_share_iraq"] = vec(0, 1)
    region = draw(st.sampled_from(REGIONS))
    dest = draw(st.sampled_from([None, *[r for r in REGIONS if r != region]]))
    shares = vec(0, 1 / 3)
    fall(params, N, region=region, month=counts(months), strength=counts(6_000),
         foreign_share=vec(0, 1), surrender=shares, flee=vec(0, 1 / 3), killed=vec(0, 1 / 3),
         flee_to=dest)
    for kind, size in (("collapse", vec(0, 1)), ("surge", vec(0, 200)),
                       ("prison_break", vec(0, 1))):
        where = draw(st.sampled_from(REGIONS))
        params[shock_parameter(kind, where, "x", "probability")] = vec(0, 1)
        params[shock_parameter(kind, where, "x", "size")] = size
    levers = default_levers(months)
    for name in ("repatriation_rate", "dependant_repatriation_rate", "rehabilitation",
                 "released_repatriation_rate"):
        levers[name] = np.array(draw(st.lists(st.floats(0, 0.3), min_size=months,
                                              max_size=months)))
    for r in REGIONS:
        levers[f"prosecution_capacity_{r}"] = np.full(months, draw(st.floats(0, 2)))
        levers[f"foreign_trials_{r}"] = np.full(months, draw(st.floats(0, 1)))
        levers[f"transfer_rate_{r}"] = np.full(months, draw(st.floats(0, 0.2)))
    levers["prison_release_share"][draw(st.integers(0, months - 1))] = draw(st.floats(0, 1))
    return params, levers, months, draw(st.integers(0, 2**32 - 1))


@settings(max_examples=40, deadline=None)
@given(custody_cases())
def test_fighters_and_dependants_are_conserved_exactly_and_counts_are_whole(case):
    """Property: with families, courts by nationality and regime, a fall and three shocks,
    every identity the model declares holds exactly on every draw and month (people and
    dependants conserved, in total, per region and per nationality), and every count is a
    non-negative int64."""
    params, levers, months, seed = case
    out = run(params, levers, months, seed)
    assert_identities(out)
    by_nat = out["population_by_nationality"]
    assert not by_nat[..., UNSPECIFIED].any()  # nationality is kept through the courts
    held = out["dependants_held"]
    np.testing.assert_array_equal(held, held[:, :1] + out["dependants_arrived"]
                                  - out["dependants_left"])


def test_conservation_from_the_dataset_with_replicates(write_scenario):
    """From a Dataset of a custody scenario with replicates, every identity holds on every
    draw, replicate and month."""
    path = write_scenario(CUSTODY_TOML)
    ds = threatsim.run(threatsim.load_scenario(path), draws=6, replicates=3, progress=False)
    assert ds.sizes["replicate"] == 3
    out = {n: ds[n].values.reshape(-1, *ds[n].shape[2:]) for n in MODEL.info.output_names}
    assert_identities(out)


# -- nationality through the courts -------------------------------------------------------


def test_foreign_fighters_stay_foreign_through_trial_prison_and_release():
    """Foreign detainees tried, imprisoned, released and re-engaged: they come back as
    active_foreign, never local; the foreign total over every compartment never changes;
    without the custody flag the same people lose their nationality at trial (as before)."""
    n, months = 200, 24
    params = zero_params(n)
    params.update(detained_foreign_iraq=np.full(n, 500.0), trial_rate=np.full(n, 0.2),
                  conviction_share=np.full(n, 0.5), release_rate=np.full(n, 0.2),
                  reengagement_rate=np.full(n, 0.2))
    out = run(params, default_levers(months), months)
    assert_identities(out)
    by_nat = out["population_by_nationality"][:, :, R["iraq"]]
    assert not by_nat[..., LOCAL].any()  # nobody turned local
    np.testing.assert_array_equal(by_nat[..., FOREIGN].sum(axis=2), 500)
    assert by_nat[:, -1, C["active_foreign"], FOREIGN].mean() > 50  # re-engaged as foreign
    assert by_nat[:, -1, C["imprisoned"], FOREIGN].sum() > 0
    blind = run({k: v for k, v in params.items() if k != CUSTODY_FLAG},
                default_levers(months), months)
    pop = blind["population"][:, -1, R["iraq"]]
    assert pop[:, C["active_local"]].sum() > 0
    assert not pop[:, C["active_foreign"]].any()
    assert blind["population_by_nationality"][..., UNSPECIFIED].any()


def test_released_foreign_fighters_are_repatriated_stay_or_re_engage():
    """From released: re-engaged Bin(R, g), repatriated Bin(R - re-engaged, h / (1 - g)):
    the first month's means from 500 released (via the acquitted) within 5 SE."""
    n = 20_000
    params = zero_params(n)
    params.update(detained_foreign_syria=np.full(n, 500.0), trial_rate=np.ones(n),
                  conviction_share=np.zeros(n), reengagement_rate=np.full(n, 0.1))
    levers = default_levers(2)
    levers["released_repatriation_rate"][:] = 0.3
    out = run(params, levers, 2)
    pop = out["population_by_nationality"][:, :, R["syria"]]
    np.testing.assert_array_equal(pop[:, 1, C["released"], FOREIGN], 500)  # all acquitted
    rejoined = pop[:, 2, C["active_foreign"], FOREIGN]
    home = out["returned_home"][:, 2, R["syria"]]
    for got, p in ((rejoined, 0.1), (home, 0.3)):
        ref = stats.binom(500, p)
        assert abs(got.mean() - ref.mean()) < 5 * ref.std() / np.sqrt(n)
    np.testing.assert_array_equal(pop[:, 2, C["released"], FOREIGN] + rejoined + home, 500)


# -- trial regimes by region ----------------------------------------------------------------


def test_a_region_without_trials_never_convicts():
    """prosecution_capacity_syria = 0 (pretrial detention only): nobody in syria is ever
    imprisoned or released from its courts, while iraq's courts convict; foreign_trials_iraq
    = 0 holds iraq's foreign detainees untried while its local ones are tried."""
    n, months = 50, 18
    params = zero_params(n)
    params.update(detained_local_iraq=np.full(n, 300.0), detained_foreign_iraq=np.full(n, 300.0),
                  detained_local_syria=np.full(n, 300.0),
                  detained_foreign_syria=np.full(n, 300.0), trial_rate=np.full(n, 0.3),
                  conviction_share=np.full(n, 0.8))
    levers = default_levers(months)
    levers["prosecution_capacity_syria"][:] = 0.0
    levers["foreign_trials_iraq"][:] = 0.0
    out = run(params, levers, months)
    assert_identities(out)
    by_nat = out["population_by_nationality"]
    syria, iraq = by_nat[:, :, R["syria"]], by_nat[:, :, R["iraq"]]
    assert not syria[:, :, C["imprisoned"]].any()
    assert not syria[:, :, C["released"]].any()
    np.testing.assert_array_equal(syria[:, :, C["detained"]].sum(axis=2), 600)
    assert iraq[:, -1, C["imprisoned"], LOCAL].min() > 0
    assert not iraq[:, :, C["imprisoned"], FOREIGN].any()
    np.testing.assert_array_equal(iraq[:, :, C["detained"], FOREIGN], 300)


def test_a_regions_own_trial_rate_and_transfers():
    """trial_rate_iraq replaces the shared rate in iraq only; transfers to another
    jurisdiction compete with trials: one month from 1,000 detainees, tried ~ Bin(1000, a),
    transferred ~ Bin(1000 - tried, b / (1 - a)): means within 5 SE; the transferred are
    departed, counted in ``transferred`` by nationality."""
    n = 20_000
    params = zero_params(n)
    params.update(detained_local_iraq=np.full(n, 1000.0), detained_local_syria=np.full(n, 1000.0),
                  trial_rate=np.full(n, 0.01), trial_rate_iraq=np.full(n, 0.2),
                  conviction_share=np.ones(n))
    levers = default_levers(1)
    levers["transfer_rate_iraq"][:] = 0.1
    out = run(params, levers, 1)
    iraq = out["population"][:, 1, R["iraq"]]
    for got, p in ((iraq[:, C["imprisoned"]], 0.2),
                   (out["transferred"][:, 1, R["iraq"], LOCAL], 0.1),
                   (out["population"][:, 1, R["syria"], C["imprisoned"]], 0.01)):
        ref = stats.binom(1000, p)
        assert abs(got.mean() - ref.mean()) < 5 * ref.std() / np.sqrt(n), p
    np.testing.assert_array_equal(iraq[:, C["departed"]],
                                  out["transferred"][:, 1, R["iraq"], LOCAL])


# -- the fall of a holding --------------------------------------------------------------------


def test_an_event_moves_exactly_its_people_in_its_month_and_nowhere_else():
    """Every other flow off: the population changes only in the event's month (each draw's
    own), by exactly the outcomes it records: the surrendered are detained in syria (local
    and foreign as the holding's foreign share says), the fled join iraq's active fighters,
    the killed are killed; the rest hold on."""
    n, months = 400, 8
    params = zero_params(n)
    params.update(fighters_iraq_syria=np.full(n, 8000.0), share_in_iraq=np.full(n, 0.5),
                  foreign_iraq_syria=np.full(n, 1000.0), foreign_share_in_iraq=np.full(n, 0.2))
    month = np.arange(n) % months
    fall(params, n, month=month, strength=np.full(n, 3000.0), foreign_share=0.2,
         surrender=0.5, flee=0.3, killed=0.1, flee_to="iraq")
    out = run(params, default_levers(months), months)
    assert_identities(out)
    pop, outcomes = out["population_by_nationality"], out["event_outcomes"]
    change = np.diff(pop, axis=1)  # (draw, month, region, compartment, nationality)
    moved = np.diff(outcomes, axis=1)[:, :, R["syria"]]  # (draw, month, outcome)
    for d in range(n):
        m = month[d]
        quiet = [t for t in range(months) if t != m]
        assert not change[d, quiet].any()
        assert not moved[d, quiet].any()
        surrendered, fled, killed = moved[d, m]
        syria, iraq = change[d, m, R["syria"]], change[d, m, R["iraq"]]
        assert syria[C["detained"]].sum() == surrendered
        assert syria[C["killed"]].sum() == killed
        assert -syria[C["active_local"]].sum() - syria[C["active_foreign"]].sum() == (
            surrendered + fled + killed)
        assert iraq[C["active_local"]].sum() + iraq[C["active_foreign"]].sum() == fled
        assert not np.delete(change[d, m], [R["syria"], R["iraq"]], axis=0).any()
        # the holding's 3000: 600 foreign, 2400 local (syria has 800 and 3,200)
        took = -syria[C["active_local"]] - syria[C["active_foreign"]]
        assert took[FOREIGN] + took[LOCAL] == surrendered + fled + killed
    s, f, k = moved.sum(axis=1).T
    for got, p in ((s, 0.5), (f, 0.3), (k, 0.1)):
        ref = stats.binom(3000, p)
        assert abs(got.mean() - ref.mean()) < 5 * ref.std() / np.sqrt(n), p


def test_an_event_takes_at_most_the_region_s_fighters_and_fleeing_into_the_desert_stays():
    """A holding stronger than the region: it takes only those there; without flee_to the
    fled stay active in the region."""
    n = 50
    params = zero_params(n)
    params.update(fighters_iraq_syria=np.full(n, 100.0), share_in_iraq=np.zeros(n))
    fall(params, n, month=0, strength=1000.0, foreign_share=0.0, surrender=0.0, flee=1.0,
         killed=0.0, flee_to=None)
    out = run(params, default_levers(2), 2)
    assert_identities(out)
    np.testing.assert_array_equal(out["event_outcomes"][:, -1, R["syria"], 1], 100)
    np.testing.assert_array_equal(out["population"][:, -1, R["syria"], C["active_local"]], 100)


# -- families ---------------------------------------------------------------------------------


def test_families_arrive_only_with_detentions_or_surrenders():
    """Dependants arrive in a region and nationality only in months where fighters of that
    nationality are detained there; with no arrests, surrenders or falls nobody arrives; the
    arrivals of a month are Poisson(ratio x newly detained): their total over draws within
    5 SD of the ratio times the detentions; children are their children_share."""
    n, months = 2_000, 6
    params = zero_params(n)
    params.update(fighters_afghanistan=np.full(n, 1000.0), foreign_share_affiliates=np.full(n, 0.2),
                  detention_rate=np.full(n, 0.02), surrender_rate=np.full(n, 0.01))
    families(params, n, local=0.7, foreign=2.5, children=0.6)
    out = run(params, default_levers(months), months)
    assert_identities(out)
    afg = R["afghanistan"]
    detained = out["population_by_nationality"][:, :, afg, C["detained"], :2]  # no exits
    newly = np.diff(detained, axis=1)  # (draw, month, nationality)
    came = np.diff(out["dependants_arrived"][:, :, afg, :2], axis=1)
    assert not came[newly == 0].any()
    for nat, ratio in ((LOCAL, 0.7), (FOREIGN, 2.5)):
        mean = ratio * newly[..., nat].sum()
        assert abs(came[..., nat].sum() - mean) < 5 * np.sqrt(mean)
    kids = out["children_held"][:, -1, afg, :2].sum()
    total = out["dependants_held"][:, -1, afg, :2].sum()
    assert abs(kids - 0.6 * total) < 5 * np.sqrt(total * 0.6 * 0.4)
    params.update(detention_rate=np.zeros(n), surrender_rate=np.zeros(n),
                  kill_rate=np.full(n, 0.1))
    quiet = run(params, default_levers(months), months)
    assert not quiet["dependants_arrived"].any()
    assert not quiet["dependants_held"].any()


def test_dependants_leave_camps_by_repatriation_and_return():
    """Foreign dependants leave at dependant_repatriation_rate, local ones at return_rate
    (binomial thinning of the start stock: the means after t months within 5 SE); the
    dependants held in syria at the start are (syria, foreign), as dependants_detained."""
    n, months = 20_000, 3
    params = zero_params(n)
    params.update(dependants_detained_syria=np.full(n, 800.0))
    families(params, n, local=0.0, foreign=0.0, children=0.5, back=0.1)
    levers = default_levers(months)
    levers["dependant_repatriation_rate"][:] = 0.05
    out = run(params, levers, months)
    assert_identities(out)
    held = out["dependants_held"][:, -1, R["syria"], FOREIGN]
    ref = stats.binom(800, 0.95 ** months)
    assert abs(held.mean() - ref.mean()) < 5 * ref.std() / np.sqrt(n)
    np.testing.assert_array_equal(out["dependants_detained"][:, -1], held)
    kids0 = out["children_held"][:, 0, R["syria"], FOREIGN]
    assert abs(kids0.mean() - 400) < 5 * np.sqrt(200 / n)


# -- shocks -----------------------------------------------------------------------------------


def test_shocks_strike_with_their_probability_and_move_their_size():
    """A prison break of size 1 sets every detainee and prisoner of the region at large in
    the month it strikes; a collapse of probability p strikes in a share p of draw-months
    (within 5 SE); a surge's recruits are counted in ``recruited``."""
    n, months = 4_000, 6
    params = zero_params(n)
    params.update(detained_local_syria=np.full(n, 100.0), detained_foreign_syria=np.full(n, 50.0),
                  fighters_tunisia=np.full(n, 200.0))
    params[shock_parameter("prison_break", "syria", "break", "probability")] = np.full(n, 0.2)
    params[shock_parameter("prison_break", "syria", "break", "size")] = np.ones(n)
    params[shock_parameter("collapse", "tunisia", "fold", "probability")] = np.full(n, 0.1)
    params[shock_parameter("collapse", "tunisia", "fold", "size")] = np.ones(n)
    params[shock_parameter("surge", "lake_chad", "wave", "probability")] = np.full(n, 0.5)
    params[shock_parameter("surge", "lake_chad", "wave", "size")] = np.full(n, 10.0)
    out = run(params, default_levers(months), months)
    assert_identities(out)
    syria = out["population_by_nationality"][:, :, R["syria"]]
    broke = np.diff(out["shock_outcomes"][:, :, R["syria"], 2], axis=1) > 0
    first = np.where(broke.any(axis=1), broke.argmax(axis=1), months)
    for d in range(50):
        m = first[d]
        if m < months:
            assert syria[d, m + 1, C["detained"]].sum() == 0
            np.testing.assert_array_equal(syria[d, m + 1, C["released"]], [100, 50, 0])
        assert (syria[d, : m + 1, C["detained"]].sum(axis=1) == 150).all()
    struck = out["population"][:, -1, R["tunisia"], C["killed"]] > 0  # size 1: all at once
    share = 1 - (1 - 0.1) ** months
    assert abs(struck.mean() - share) < 5 * np.sqrt(share * (1 - share) / n)
    np.testing.assert_array_equal(out["recruited"][:, :, R["lake_chad"]],
                                  out["shock_outcomes"][:, :, R["lake_chad"], 1])
    mean = 0.5 * 10 * months
    assert abs(out["recruited"][:, -1, R["lake_chad"]].mean() - mean) < 5 * np.sqrt(
        (0.5 * 10 + 0.25 * 100) * months / n)


# -- scenario tables: loading and bad values -------------------------------------------------

#: The fighters scenario of before issue 19 (no custody tables) with some.
CUSTODY_TOML = f'''
extends = "{OLD_FIGHTERS}"
name = "custody"
horizon = 12

[outputs]
variables = {sorted(MODEL.info.output_names)}
report_months = ["2019-01", "2020-01"]

[families.ratio_local]
dist = "uniform"
range = [0.5, 1.0]
assumption = "a test"
[families.ratio_foreign]
dist = "uniform"
range = [1.0, 2.0]
assumption = "a test"
[families.children_share]
dist = "point"
value = 0.6
assumption = "a test"
[families.return_rate]
dist = "point"
value = 0.02
assumption = "a test"

[courts.syria.trial_rate]
dist = "point"
value = 0.0
assumption = "a test"

[events.hajin]
region = "syria"
window = ["2019-02", "2019-04"]
window_assumption = "a test"
flee_to = "iraq"
[events.hajin.strength]
source = "fighters_hajin"
dist = "uniform"
range = [3000, 4000]
range_assumption = "a test"
[events.hajin.foreign_share]
dist = "uniform"
range = [0.1, 0.3]
assumption = "a test"
[events.hajin.surrender]
dist = "uniform"
range = [0.3, 0.5]
assumption = "a test"
[events.hajin.flee]
dist = "uniform"
range = [0.1, 0.2]
assumption = "a test"
[events.hajin.killed]
dist = "uniform"
range = [0.05, 0.1]
assumption = "a test"

[shocks.camps]
kind = "prison_break"
region = "syria"
[shocks.camps.probability]
dist = "point"
value = 0.05
assumption = "a test"
[shocks.camps.size]
dist = "uniform"
range = [0.05, 0.2]
assumption = "a test"
'''


def test_custody_tables_load_as_parameters_with_provenance(write_scenario):
    """Each number of the tables is a parameter of the scenario (in the Dataset, with its
    provenance); the event's month is drawn among the window's months."""
    sc = threatsim.load_scenario(write_scenario(CUSTODY_TOML))
    new = set(sc.parameters) - set(threatsim.load_scenario(OLD_FIGHTERS).parameters)
    assert new == {CUSTODY_FLAG, "family_ratio_local", "family_ratio_foreign",
                   "family_children_share", "family_return_rate", "trial_rate_syria",
                   *(fall_parameter("syria", "hajin", f) for f in (
                       "month", "strength", "foreign_share", "surrender", "flee_to_iraq",
                       "killed")),
                   shock_parameter("prison_break", "syria", "camps", "probability"),
                   shock_parameter("prison_break", "syria", "camps", "size")}
    assert "para 22" in sc.provenance()[fall_parameter("syria", "hajin", "strength")]
    ds = threatsim.run(sc, draws=60, progress=False)
    months = ds[fall_parameter("syria", "hajin", "month")].values
    assert set(months) == {1.0, 2.0, 3.0}
    moved = ds["event_outcomes"].sel(region="syria").sum("outcome")
    for d in range(60):
        m = int(months[d])
        assert int(moved.isel(draw=d, time=m)) == 0
        assert int(moved.isel(draw=d, time=m + 1)) > 0


def _keys(err: ScenarioError) -> list[str | None]:
    return [p.key for p in err.problems] or [err.key]


@pytest.mark.parametrize(
    ("body", "key", "fragment"),
    [
        ("[families.ratio_local]\nrange = [-0.5, 1.0]\n", "families.ratio_local.range", "0"),
        ("[families.ratio_foreign]\ndist = 'point'\nvalue = -1\n",
         "families.ratio_foreign.dist", ">= 0"),
        ("[families.children_share]\nrange = [0.5, 1.5]\ndist = 'uniform'\n",
         "families.children_share.range", "[0, 1]"),
        ("[families.size]\ndist = 'point'\nvalue = 1\nassumption = 'x'\n", "families.size",
         "not a known key"),
        ("[events.hajin]\nwindow = ['2018-11', '2019-02']\n", "events.hajin.window",
         "must be within the run"),
        ("[events.hajin]\nwindow = ['2019-06', '2020-03']\n", "events.hajin.window",
         "2019-01 to 2019-12"),
        ("[events.hajin.surrender]\nrange = [0.6, 0.8]\n", "events.hajin",
         "must sum to at most 1"),
        ("[events.hajin]\nregion = 'libya'\n", "events.hajin.region", "allowed: iraq"),
        ("[events.hajin]\nflee_to = 'syria'\n", "events.hajin.flee_to", "another region"),
        ("[events.hajin]\nwindow_assumption = ''\n", "events.hajin.window_assumption",
         "sentence"),
        ("[events.hajin.killed]\nassumption = 'x'\nsource = 'fighters_hajin'\n",
         "events.hajin.killed", "exactly one of"),
        ("[events.Hajin-2]\nregion = 'syria'\n", "events.Hajin-2", "lower-case"),
        ("[shocks.camps]\nkind = 'riot'\n", "shocks.camps.kind", "collapse, surge"),
        ("[shocks.camps.size]\nrange = [0.5, 2.0]\n", "shocks.camps.size.range", "[0, 1]"),
        ("[courts.libya.trial_rate]\ndist = 'point'\nvalue = 0.1\nassumption = 'x'\n",
         "courts.libya", "must be a region"),
        ("[courts.syria]\ntrials = false\n", "courts.syria.trials", "not a known key"),
        ("[levers]\ntransfer_rate_iraq = 0.99\n", "exit rates of detained in iraq",
         "must sum to at most 1"),
        ("[levers]\nreleased_repatriation_rate = 0.99\n",
         "exit rates of released foreign fighters", "released_repatriation_rate"),
        ("[levers]\nprosecution_capacity_syria = 25\n", "levers.prosecution_capacity_syria",
         "[0, 20]"),
    ],
)
def test_each_bad_value_is_a_scenario_error_naming_its_key(write_scenario, body, key, fragment):
    """Ratios below 0, shares above 1 or summing above 1, events outside the run, unknown
    regions, kinds and keys, missing provenance, rates that compete above 1."""
    base = write_scenario(CUSTODY_TOML, "custody.toml")
    with pytest.raises(ScenarioError) as info:
        threatsim.load_scenario(write_scenario(f'extends = "{base}"\n{body}'))
    err = info.value
    assert key in _keys(err), str(err)
    assert fragment in str(err), str(err)


def test_custody_tables_belong_to_models_that_hold_people(write_scenario):
    """[families] in the financing model is refused, naming the table."""
    body = (f'extends = "{SCENARIOS / "financing.toml"}"\n'
            "[families.ratio_local]\ndist = 'point'\nvalue = 1\nassumption = 'x'\n")
    with pytest.raises(ScenarioError) as info:
        threatsim.load_scenario(write_scenario(body))
    assert "families" in _keys(info.value)
    assert "fighters and coupled" in str(info.value)


# -- observations address the new outputs ---------------------------------------------------

CAMP_OBSERVATIONS = '''
document = "S/2099/1"

[[observation]]
id = "foreign_detained_north_east"
variable = "population_by_nationality"
date = "2019-07"
region = "syria"
compartment = "detained"
nationality = "foreign"
low = 1000
unit = "people"
paragraph = 1
quote = "an illustration, not a reported figure"

[[observation]]
id = "dependants_in_camps"
variable = "dependants_held"
date = "2020-01"
region = ["iraq", "syria"]
nationality = "all"
low = 500
high = 5000
unit = "people"
paragraph = 2
quote = "an illustration, not a reported figure"
'''


def test_observations_address_nationality_and_dependants_without_code_changes(tmp_path):
    """An observation file names the new dims (``nationality``) like any other: the
    forecast is the run's sum over the labels given; an unknown label is refused."""
    from threatsim.outputs.observations import load_observations

    sc = threatsim.load_scenario(SCENARIOS / "fighters.toml")
    ds = threatsim.run(sc, draws=20, progress=False)
    path = tmp_path / "camps.toml"
    path.write_text(CAMP_OBSERVATIONS)
    detained, camps = load_observations(path, against=ds)
    np.testing.assert_array_equal(
        detained.forecast(ds),
        ds["population_by_nationality"].sel(time="2019-07-01", region="syria",
                                            compartment="detained", nationality="foreign"))
    np.testing.assert_array_equal(
        camps.forecast(ds),
        ds["dependants_held"].sel(time="2020-01-01", region=["iraq", "syria"])
        .sum(["region", "nationality"]))
    path.write_text(CAMP_OBSERVATIONS.replace('nationality = "foreign"',
                                              'nationality = "foreigners"'))
    with pytest.raises(ScenarioError, match="nationality"):
        load_observations(path, against=ds)


def test_the_schema_documents_exactly_the_keys_the_custody_tables_accept():
    """docs/scenario-reference.md (from the schema, tests/test_docs.py) lists each key of
    [families], [courts.<region>], [events.<name>] and [shocks.<name>] the loader takes."""
    from threatsim.inputs.custody import EVENT_KEYS, SHOCK_KEYS
    from threatsim.inputs.schema import KEYS
    from threatsim.models.fighters.custody import FALL_FIELDS, FAMILY_FIELDS, REGIME_FIELDS

    by_table: dict[str, set[str]] = {}
    for k in KEYS:
        head, _, leaf = k.key.rpartition(".")
        by_table.setdefault(head, set()).add(leaf)
    assert by_table["families"] == set(FAMILY_FIELDS)
    assert by_table["courts.<region>"] == set(REGIME_FIELDS)
    assert by_table["events.<name>"] == {*EVENT_KEYS, *FALL_FIELDS}
    assert by_table["shocks.<name>"] == {*SHOCK_KEYS, "probability", "size"}

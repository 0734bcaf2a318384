"""The ``fighters_detention`` model: the fighters' newly detained in one region are the
arrivals of the detention DES (issue 19, part 4), so both models tell one story.

The reference for what arrives is the fighters model's own stock: with the region's
courts, repatriation, transfers and prison breaks off, nobody leaves its ``detained``
compartment, so its growth is exactly the newly detained, and the DES must have taken in
exactly that many, of each nationality, in each month.
"""

from __future__ import annotations

import numpy as np
import pytest
from tests.conftest import SCENARIOS
from tests.model_contract import ModelContract

import threatsim
from threatsim.cli.main import main
from threatsim.core.errors import ScenarioError
from threatsim.models import get_model
from threatsim.models.fighters_detention import INFO

LINKED = SCENARIOS / "fighters_detention_syria.toml"
DETAINED = "detained"


def _linked(write_scenario, extra: str = "", draws: int = 12,
            horizon: int = 12) -> threatsim.Scenario:
    if "[outputs]" not in extra:
        extra += "[outputs]\n"
    extra = extra.replace("[outputs]\n", '[outputs]\nreport_months = ["2019-01"]\n')
    path = write_scenario(f'extends = "{LINKED}"\nname = "t"\nhorizon = {horizon}\n'
                          f'[run]\ndraws = {draws}\n{extra}')
    return threatsim.load_scenario(path)


# Nobody leaves north-east Syria's detained compartment: no trials there, no
# repatriation, no transfers, no prison release or break.
NOBODY_LEAVES = """
[courts.syria.trial_rate]
dist = "point"
value = 0.0
assumption = "Test: no trials in syria."
[levers]
repatriation_rate = 0.0
transfer_rate_syria = 0.0
prison_release_share = 0.0
[outputs]
variables = [
    "population_by_nationality",
    "event_outcomes",
    "detention_intake",
    "detention_arrived",
    "detention_held_dependants",
    "detention_backlog_screening",
    "detention_backlog_trial",
    "detention_in_prison",
    "detention_repatriated",
    "detention_released",
    "detention_exempted",
    "detention_acquitted",
    "detention_convicted",
]
"""


def test_the_des_takes_in_exactly_the_fighters_newly_detained(write_scenario):
    sc = _linked(write_scenario, NOBODY_LEAVES, draws=16, horizon=10)
    ds = threatsim.run(sc, seed=11)
    by_nat = ds["population_by_nationality"].sel(region="syria", compartment=DETAINED)
    grown = by_nat - by_nat.isel(time=0)  # (draw, time, nationality)
    intake = ds["detention_intake"]
    for nat in ("local", "foreign"):
        np.testing.assert_array_equal(intake.sel(nationality=nat).values,
                                      grown.sel(nationality=nat).values)
    arrived = ds["detention_arrived"]
    np.testing.assert_array_equal((arrived - arrived.isel(time=0)).values,
                                  grown.sum("nationality").values)
    # At the start the DES holds the region's detained and north-east Syria's dependants.
    start = by_nat.isel(time=0).sum("nationality") + ds["dependants_detained_syria"].round()
    np.testing.assert_array_equal(arrived.isel(time=0).values, start.values)
    # Hajin falls inside these months in every draw: its surrendered arrive in its month
    # (with that month's arrests and surrenders), never before it.
    fell = ds["event_outcomes"].sel(region="syria", outcome="surrendered").values
    took = intake.sum("nationality").values
    assert (np.diff(took, axis=1) >= np.diff(fell, axis=1)).all()
    assert (fell[:, -1] > 0).all()


def test_the_fighters_half_is_the_fighters_model_bit_for_bit(write_scenario):
    linked = _linked(write_scenario, draws=10, horizon=8)
    path = write_scenario(f'extends = "{SCENARIOS / "fighters.toml"}"\nname = "f"\n'
                          "horizon = 8\n[run]\ndraws = 10\n"
                          '[outputs]\nreport_months = ["2019-01"]\n', name="f.toml")
    fighters = threatsim.run(threatsim.load_scenario(path), seed=4)
    both = threatsim.run(linked, seed=4)
    for name in ("population", "detained_foreign", "dependants_detained", "event_outcomes"):
        np.testing.assert_array_equal(both[name].values, fighters[name].values, err_msg=name)


def test_des_capacity_does_not_move_the_arrivals(write_scenario):
    """Common random numbers: courts change queues, never who arrives or when."""
    few = threatsim.run(_linked(write_scenario, "[levers]\ncourts = 2\n", draws=8), seed=2)
    many = threatsim.run(_linked(write_scenario, "[levers]\ncourts = 40\n", draws=8), seed=2)
    np.testing.assert_array_equal(few["detention_arrived"].values,
                                  many["detention_arrived"].values)
    assert (few["detention_backlog_trial"].isel(time=-1)
            >= many["detention_backlog_trial"].isel(time=-1)).all()
    assert (few["detention_backlog_trial"].isel(time=-1)
            > many["detention_backlog_trial"].isel(time=-1)).any()


def test_every_identity_holds_on_every_draw(write_scenario):
    sc = _linked(write_scenario, draws=10)
    ds = threatsim.run(sc, seed=9)
    outputs = {name: ds[name].values for name in ds.data_vars if name in INFO.output_names}
    residuals = get_model("fighters_detention").conservation_residuals(outputs)
    assert "the DES takes in the fighters' newly detained" in residuals
    for name, value in residuals.items():
        assert not np.any(value), name


@pytest.mark.parametrize(("extra", "key", "says"), [
    ('[detention]\nregion = "narnia"\n', "detention.region", "allowed: iraq, syria"),
    ('[detention]\nregion = "syra"\n', "detention.region", "did you mean 'syria'"),
    ("[detention]\nnote = 1\n", "detention.note", "must be a string"),
    ('[detention]\nregion = "syria"\nzone = 3\n', "detention.zone", "not a known key"),
])
def test_bad_detention_tables_name_the_key(write_scenario, extra, key, says):
    path = write_scenario(f'extends = "{LINKED}"\nname = "bad"\n{extra}')
    with pytest.raises(ScenarioError) as err:
        threatsim.load_scenario(path)
    assert key in str(err.value)
    assert says in str(err.value)


def _without_detention_table() -> str:
    text = LINKED.read_text()
    head, tail = text.split("[detention]\n")
    tail = tail.split("\n", 2)[2]  # drop its region and note lines
    return head.replace('extends = "fighters.toml"',
                        f'extends = "{SCENARIOS / "fighters.toml"}"') + tail


def test_the_linked_model_needs_a_region_and_others_refuse_the_table(write_scenario, capsys):
    missing = write_scenario(_without_detention_table(), name="missing.toml")
    assert main(["validate", str(missing)]) == 2
    assert "detention.region is required" in capsys.readouterr().err
    other = write_scenario(f'extends = "{SCENARIOS / "fighters.toml"}"\nname = "o"\n'
                           '[detention]\nregion = "syria"\n', name="other.toml")
    assert main(["validate", str(other)]) == 2
    assert "belongs to the fighters_detention model" in capsys.readouterr().err


class TestFightersDetentionContract(ModelContract):
    """The model contract on the shipped linked scenario (few draws: SimPy replications)."""

    scenario_path = "scenarios/fighters_detention_syria.toml"
    draws = 6
    later_lever = ("courts", 2)
    # The DES's capacities reach only the DES's queues and what follows them; they never
    # move the fighters or who arrives in custody.
    lever_reaches = (("courts", 2, frozenset(
        n for n in INFO.output_names
        if n.startswith("detention_") and n not in ("detention_arrived", "detention_intake"))),)
    bad_values = (
        ("parameters.trial_days.range", [0, 15], "parameters.trial_days.range"),
    )


def test_given_arrivals_come_in_their_month_uniformly_with_exact_nationalities():
    """draw_batch with GivenArrivals: month t's people arrive in (t, t + 1] months, in
    time order, as many local and foreign as given; within a month the times are uniform
    (Kolmogorov-Smirnov against scipy's uniform at alpha = 0.001)."""
    from scipy import stats

    from threatsim.models.detention.cases import DAYS_PER_MONTH, GivenArrivals, draw_batch
    from threatsim.stats.variates import ChanceStreams

    row = dict(dependants_child_share=0.5, screening_days=1.0, trial_days=10.0,
               duration_cv=1.0, conviction_share=0.8, sentence_months=12.0)
    monthly = np.array([[[0, 0], [300, 200], [0, 7]]])
    given = GivenArrivals(initial=np.array([[3, 2]]), monthly=monthly, dependants=np.array([4]))
    cb = draw_batch([row], 3, ChanceStreams(seed=5, draw_index=[0]), given=given)
    case = cb.case(0)
    assert case.n == 512
    assert case.n_initial == 5
    assert case.child.shape == (4,)
    times = case.arrive / DAYS_PER_MONTH
    assert (np.diff(times) >= 0).all()
    assert (times[:5] == 0).all()
    assert case.foreign[:5].tolist() == [True, True, False, False, False]
    second, third = slice(5, 505), slice(505, 512)
    assert ((times[second] > 1) & (times[second] <= 2)).all()
    assert ((times[third] > 2) & (times[third] <= 3)).all()
    assert int(case.foreign[second].sum()) == 200
    assert int(case.foreign[third].sum()) == 7
    assert stats.kstest(times[second] - 1, "uniform").pvalue > 1e-3

"""Issue 20 part 5: observation forms real reports need -- a sum of variables, an offset
for people counted before the run, a period scored over its months, a one-sided
``previous`` -- and the per-row skill guard. Expected values are computed here by hand
(numpy on the Dataset, closed forms) or by scoringrules, never by the code under test."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
import scoringrules as sr
import xarray as xr

import threatsim
from threatsim.core.errors import ScenarioError
from threatsim.outputs.calibration import calibrate
from threatsim.outputs.leaderboard import (
    SKILL_TOLERANCE,
    leaderboard,
    leaderboard_table,
    leaderboard_totals,
)
from threatsim.outputs.observations import check_observations, observations_from_dict
from threatsim.outputs.scores import crps_interval

ROOT = Path(__file__).resolve().parents[1]
REGIONS = ("iraq", "syria")
NATIONALITIES = ("local", "foreign")
DRAWS = 40


def run(start: str = "2019-01", months: int = 36) -> xr.Dataset:
    """A run shaped like the fighters and financing models' outputs (random values)."""
    rng = np.random.default_rng(3)
    time = (np.datetime64(start, "M") + np.arange(months + 1)).astype("datetime64[ns]")
    n = months + 1
    flow = rng.gamma(4.0, 1e6, size=(DRAWS, n))
    flow[:, 0] = np.nan  # a flow has no value at the first month
    coords = {"draw": np.arange(DRAWS), "time": time, "region": list(REGIONS),
              "nationality": list(NATIONALITIES)}
    return xr.Dataset({
        "detained_foreign": (("draw", "time", "region"),
                             rng.integers(0, 1000, (DRAWS, n, 2)).astype(float),
                             {"units": "people", "kind": "stock"}),
        "dependants_held": (("draw", "time", "region", "nationality"),
                            rng.integers(0, 800, (DRAWS, n, 2, 2)).astype(float),
                            {"units": "people", "kind": "stock"}),
        "returned_home": (("draw", "time"), np.cumsum(rng.integers(0, 9, (DRAWS, n)), 1)
                          .astype(float), {"units": "people", "kind": "stock"}),
        "revenue": (("draw", "time"), flow, {"units": "usd_per_month", "kind": "flow"}),
        "seized": (("draw", "time"), flow / 10, {"units": "usd_per_month", "kind": "flow"}),
        "nokind": (("draw", "time"), flow[:, ::-1].copy(), {"units": "usd"}),
    }, coords=coords, attrs={"scenario_name": "forms"})


def obs(**entry):
    """One observation (document, id and unit filled in) read from a dict as from TOML."""
    base = {"id": "o", "unit": "people", "quote": "q"}
    return observations_from_dict({"document": "S/2099/1", "observation": [{**base, **entry}]},
                                  path="obs.toml")


def one(ds: xr.Dataset, **entry):
    (o,) = obs(**entry)
    check_observations(observations_from_dict(
        {"document": "d", "observation": [{"id": "o", "unit": "people", **entry}]}), ds)
    return o


def at(ds: xr.Dataset, name: str, month: str) -> xr.DataArray:
    return ds[name].sel(time=np.datetime64(month, "M").astype("datetime64[ns]"))


def error(ds: xr.Dataset | None, **entry) -> str:
    def load() -> None:
        o = obs(**entry)
        if ds is not None:
            check_observations(o, ds)

    with pytest.raises(ScenarioError) as info:
        load()
    return str(info.value)


# -- a sum of variables -----------------------------------------------------------------


def test_a_sum_adds_the_variables_per_draw_each_on_its_own_dims():
    """Foreign detainees in Syria plus the foreign dependants held there: the region key
    selects on both, nationality only on the variable that has it."""
    ds = run()
    o = one(ds, variables=["detained_foreign", "dependants_held"], date="2020-01",
            region="syria", nationality="foreign", point=1000)
    expected = (at(ds, "detained_foreign", "2020-01").sel(region="syria").values
                + at(ds, "dependants_held", "2020-01").sel(region="syria",
                                                         nationality="foreign").values)
    np.testing.assert_array_equal(o.forecast(ds), expected)
    assert o.variable_label == "detained_foreign + dependants_held"
    board = leaderboard(ds, observations_from_dict({"document": "d", "observation": [{
        "id": "s", "variables": ["detained_foreign", "dependants_held"], "date": "2020-01",
        "region": "syria", "nationality": "foreign", "point": 1000, "unit": "people"}]}))
    assert float(board["crps"][0]) == pytest.approx(
        float(sr.crps_ensemble(1000.0, expected, estimator="nrg")), rel=1e-12)
    assert str(board["variable"].values[0]) == "detained_foreign + dependants_held"


@pytest.mark.parametrize(("entry", "pattern"), [
    ({"variables": ["detained_foreign", "dependants_held"], "region": "all"},
     r"observation\.o\.nationality must be given: the labels of dim 'nationality'"),
    ({"variables": ["detained_foreign", "revenue"], "region": "all"},
     r"observation\.o\.variables='revenue' cannot be summed with 'detained_foreign': its "
     r"unit is 'usd_per_month', not 'people'"),
    ({"variables": ["detained_foreign", "detaind"], "region": "all"},
     r"observation\.o\.variables='detaind' is not a time series of this run"),
    ({"variables": ["detained_foreign"], "region": "all", "status": "x"},
     r"observation\.o\.status='x' is not a dim of 'detained_foreign' nor a known key"),
])
def test_a_bad_sum_against_the_run_names_the_key(entry, pattern):
    msg = error(run(), date="2020-01", point=1, **entry)
    assert re.search(pattern, msg), msg


@pytest.mark.parametrize(("entry", "pattern"), [
    ({"variables": "detained_foreign"}, r"observation\.o\.variables='detained_foreign' must "
                                        r"be a list of output variable names"),
    ({"variables": []}, r"variables=\[\] must be a list"),
    ({"variables": ["a", "a"]}, r"variables=\['a', 'a'\] must not repeat a variable"),
    ({"variables": ["a", 3]}, r"variables=\['a', 3\] must be a list"),
    ({"variables": ["a", "b"], "variable": "a"}, r"variables=.* must not be given with "
                                                 r"variable"),
])
def test_a_bad_variables_key_is_one_clear_error(entry, pattern):
    msg = error(None, date="2020-01", point=1, **entry)
    assert re.search(pattern, msg), msg
    assert msg.startswith("obs.toml: observation.o.variables")  # one problem, this key


# -- an offset -----------------------------------------------------------------------------


def test_an_offset_is_added_to_every_draw_and_the_crps_is_translation_invariant():
    """CRPS(X + c, y) = CRPS(X, y - c): the offset moves the forecast, not the scores' scale."""
    ds = run()
    base = at(ds, "returned_home", "2021-01").values
    o = one(ds, variable="returned_home", date="2021-01", point=1300, offset=1200,
            offset_source="S/2099/1 para 3: 1,200 returned before 2019")
    np.testing.assert_array_equal(o.forecast(ds), base + 1200)
    assert crps_interval(o.forecast(ds), 1300, 1300) == pytest.approx(
        float(sr.crps_ensemble(100.0, base, estimator="nrg")), rel=1e-12)
    # the persistence reference starts from the offset too: the run's first month + 1200
    start = at(ds, "returned_home", "2019-01").values + 1200
    np.testing.assert_array_equal(o.start_forecast(ds), start)


@pytest.mark.parametrize(("entry", "pattern"), [
    ({"offset": -5, "offset_source": "s"}, r"observation\.o\.offset=-5 must be a finite "
                                           r"number >= 0: the count before the run's start"),
    ({"offset": "1200", "offset_source": "s"}, r"offset='1200' must be a finite number"),
    ({"offset": math.inf, "offset_source": "s"}, r"offset=inf must be a finite number"),
    ({"offset": 1200}, r"observation\.o\.offset_source must say where the offset comes "
                       r"from"),
    ({"offset": 1200, "offset_source": " "}, r"offset_source=' ' must say where"),
    ({"offset_source": "s"}, r"observation\.o\.offset_source='s' is given without offset"),
])
def test_a_bad_offset_is_one_clear_error(entry, pattern):
    msg = error(None, variable="returned_home", date="2021-01", point=1, **entry)
    assert re.search(pattern, msg), msg
    assert "problems" not in msg


# -- periods ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("date", "first", "months", "label"), [
    ("2021", "2021-01", 12, "2021"), ("2020-H1", "2020-01", 6, "2020-H1"),
    ("2020-H2", "2020-07", 6, "2020-H2"), ("2020-q3", "2020-07", 3, "2020-Q3"),
    ("2020-07", "2020-07", 1, "2020-07"),
])
def test_a_period_is_read_as_its_calendar_months(date, first, months, label):
    (o,) = obs(variable="returned_home", date=date, point=1)
    assert (str(o.month), o.months, o.month_label) == (first, months, label)


def test_a_stock_over_a_period_is_its_mean_and_a_flow_its_sum_one_month_later():
    """By the output's kind: a stock's mean over the states at the start of July ..
    December; a flow's total during July .. December, i.e. the steps August .. January
    (a flow at step t is the month before); its unit is usd, not usd_per_month."""
    ds = run()
    stock = one(ds, variable="returned_home", date="2020-H2", point=50)
    months = [f"2020-{m:02d}" for m in range(7, 13)]
    np.testing.assert_allclose(stock.forecast(ds),
                               np.mean([at(ds, "returned_home", m).values for m in months], 0),
                               rtol=1e-15)
    flow = observations_from_dict({"document": "d", "observation": [{
        "id": "f", "variable": "revenue", "date": "2020-H2", "point": 2e7, "unit": "usd"}]})
    check_observations(flow, ds)
    (f,) = flow
    steps = [*(f"2020-{m:02d}" for m in range(8, 13)), "2021-01"]
    np.testing.assert_allclose(f.forecast(ds),
                               np.sum([at(ds, "revenue", m).values for m in steps], 0),
                               rtol=1e-14)
    assert f.window_for(ds) == "sum"
    board = leaderboard(ds, flow)
    assert float(board["crps"][0]) == pytest.approx(float(sr.crps_ensemble(
        2e7, np.sum([at(ds, "revenue", m).values for m in steps], 0), estimator="nrg")),
        rel=1e-12)
    assert str(board["month"].values[0]) == "2020-H2"


def test_window_end_and_mean_override_the_kind():
    ds = run()
    end = one(ds, variable="returned_home", date="2021", window="end", point=1)
    np.testing.assert_array_equal(end.forecast(ds), at(ds, "returned_home", "2022-01").values)
    (mean,) = obs(variable="revenue", date="2020-Q1", window="mean", point=1,
                  unit="usd_per_month")
    np.testing.assert_allclose(mean.forecast(ds), np.mean(
        [at(ds, "revenue", m).values for m in ("2020-02", "2020-03", "2020-04")], 0))
    # persistence over a sum carries the first month's flow through the period
    (total,) = obs(variable="revenue", date="2020-Q1", point=1, unit="usd")
    np.testing.assert_allclose(total.start_forecast(ds), 3 * at(ds, "revenue", "2019-02").values)


@pytest.mark.parametrize(("entry", "pattern"), [
    ({"variable": "returned_home", "date": "2020-H3"}, r"date='2020-H3' must be a month "
                                                       r"written 'YYYY-MM' .* or a period"),
    ({"variable": "returned_home", "date": "2020-Q5"}, r"date='2020-Q5' must be"),
    ({"variable": "returned_home", "date": 2021}, r"date=2021 must be .*as a string"),
    ({"variable": "returned_home", "date": "2020-07", "window": "mean"},
     r"window='mean' applies only to a date that covers several months"),
    ({"variable": "returned_home", "date": "2021", "window": "median"},
     r"observation\.o\.window='median' must be one of mean, sum, end"),
])
def test_a_bad_period_or_window_is_a_clear_error(entry, pattern):
    msg = error(None, point=1, **entry)
    assert re.search(pattern, msg), msg


@pytest.mark.parametrize(("entry", "pattern"), [
    ({"variable": "returned_home", "date": "2021", "window": "sum"},
     r"window='sum' adds up month-start states of the stock 'returned_home'.*allowed for a "
     r"stock: mean, end"),
    ({"variable": "revenue", "date": "2021", "unit": "usd_per_month"},
     r"unit='usd_per_month' does not match the unit of a sum over the period of 'revenue'; "
     r"allowed: 'usd'"),
    ({"variable": "nokind", "date": "2021", "unit": "usd"},
     r"date='2021' covers 12 months and 'nokind' declares no kind .*give window"),
    ({"variable": "revenue", "date": "2021-H2", "unit": "usd"},
     r"date='2021-H2' is outside the run; it reads the time steps 2021-08 \.\. 2022-01 .*"
     r"allowed: 2019-01 \.\. 2021-12"),
])
def test_a_period_the_run_cannot_score_names_the_key(entry, pattern):
    msg = error(run(months=35), point=1, **entry)
    assert re.search(pattern, msg), msg


# -- a one-sided previous and the skill guard ----------------------------------------------


def test_a_one_sided_previous_is_carried_forward_as_a_point_at_its_bound():
    """previous = {low = 500}: the persistence forecast is the point 500, so its CRPS
    for a point truth y is |y - 500| and for "at least a" it is max(a - 500, 0)."""
    ds = run()
    board = leaderboard(ds, observations_from_dict({"document": "d", "observation": [
        {"id": "p", "variable": "returned_home", "date": "2021-01", "point": 620,
         "unit": "people", "previous": {"low": 500, "paragraph": 17}},
        {"id": "b", "variable": "returned_home", "date": "2021-01", "low": 900,
         "unit": "people", "previous": {"low": 500}},
        {"id": "m", "variable": "returned_home", "date": "2021-01", "point": 620,
         "unit": "people", "previous": {"high": 700}}]}))
    assert board["crps_persistence"].values.tolist() == pytest.approx([120, 400, 80],
                                                                       abs=1e-9)


def test_per_row_skill_is_not_defined_when_the_reference_is_as_good_as_exact():
    """A reference whose CRPS is below SKILL_TOLERANCE x the figure: skill NaN, the reason
    in skill_note and the table ("n/a"); the total skill is still 1 - sum / sum."""
    ds = run()
    x = at(ds, "returned_home", "2021-01").values
    near = 1e6 * (1 - SKILL_TOLERANCE / 10)  # the reference misses "at least 1e6" by 0.01 %
    data = {"document": "d", "observation": [
        {"id": "tiny", "variable": "returned_home", "date": "2021-01", "low": 1e6,
         "unit": "people", "previous": {"point": near}},
        {"id": "fine", "variable": "returned_home", "date": "2021-01", "point": 300,
         "unit": "people", "previous": {"point": 250}}]}
    board = leaderboard(ds, observations_from_dict(data))
    ref = board["crps_persistence"].values
    assert ref[0] == pytest.approx(1e6 - near)  # closed form: the point's miss
    assert math.isnan(float(board["skill_persistence"][0]))  # old code: about -10,000
    assert float(board["skill_persistence"][1]) == pytest.approx(
        1 - float(sr.crps_ensemble(300.0, x, estimator="nrg")) / 50.0, rel=1e-12)
    assert "below 0.001 x the figure's size" in str(board["skill_note"].values[0])
    assert str(board["skill_note"].values[1]) == ""
    table = leaderboard_table(board)
    assert "n/a" in table.splitlines()[2]
    assert "n/a" not in table.splitlines()[3]
    assert "tiny: persistence: the reference's CRPS" in table
    scale = np.array([1e6, 300.0])
    crps = board["crps"].values
    total = leaderboard_totals(board)
    assert float(total["skill_persistence"]) == pytest.approx(
        1 - np.sum(crps / scale) / np.sum(ref / scale), rel=1e-12)


def test_the_guard_leaves_a_reference_above_the_tolerance_alone():
    ds = run()
    far = 1e6 * (1 - 10 * SKILL_TOLERANCE)
    board = leaderboard(ds, observations_from_dict({"document": "d", "observation": [
        {"id": "ok", "variable": "returned_home", "date": "2021-01", "low": 1e6,
         "unit": "people", "previous": {"point": far}}]}))
    assert float(board["skill_persistence"][0]) == pytest.approx(
        1 - float(board["crps"][0]) / (1e6 - far))


# -- calibration reads the new forms ---------------------------------------------------


def test_calibration_scores_a_sum_and_a_period_as_the_leaderboard_does():
    """calibrate's predicted value of a sum is the sum of its parts' predicted values, and
    of a flow's half-year the sum of its six monthly steps (one month later)."""
    sc = threatsim.load_scenario(ROOT / "scenarios" / "financing.toml")
    wide = {"low": 0.0, "high": 1e12}
    months = ["2020-02", "2020-03", "2020-04", "2020-05", "2020-06", "2020-07"]
    entries = [
        {"id": "sum", "variables": ["spending", "seized"], "date": "2020-07",
         "unit": "usd_per_month", **wide},
        {"id": "spending", "variable": "spending", "date": "2020-07",
         "unit": "usd_per_month", **wide},
        {"id": "seized", "variable": "seized", "date": "2020-07", "unit": "usd_per_month",
         **wide},
        {"id": "h1", "variable": "revenue", "date": "2020-H1", "unit": "usd", **wide},
        *({"id": f"r{m}", "variable": "revenue", "date": m, "unit": "usd_per_month", **wide}
          for m in months)]
    post = calibrate(sc, observations_from_dict({"document": "t",
                                                          "observation": entries}),
                               draws=200, seed=1, method="importance")
    pred = post["predicted"]
    np.testing.assert_allclose(pred.sel(observation="sum"),
                               pred.sel(observation="spending") + pred.sel(observation="seized"),
                               rtol=1e-12)
    np.testing.assert_allclose(pred.sel(observation="h1"),
                               sum(pred.sel(observation=f"r{m}") for m in months), rtol=1e-12)


# -- the command line ------------------------------------------------------------------------

FORMS_TOML = '''
document = "synthetic"
[[observation]]
id = "outflows_2020_h1"
variables = ["spending", "seized"]
date = "2020-H1"
low = 1
unit = "usd"
quote = "(illustration)"
previous = { low = 1 }

[[observation]]
id = "reserves_2020"
variable = "reserves"
date = "2020"
point = 120_000_000
offset = 0
offset_source = "an assumption sentence"
unit = "usd"
quote = "(illustration)"
'''


def test_score_prints_each_form_and_an_undefined_skill_as_n_a(tmp_path, capsys):
    """`threatsim score` end to end: the sum's "at least 1" is respected by the persistence
    point at 1, so that row's skill is n/a and the reason is printed; the CSV keeps it."""
    from threatsim.cli.main import main

    run_path = tmp_path / "run.nc"
    ds = threatsim.run(threatsim.load_scenario(ROOT / "scenarios" / "financing.toml"),
                       draws=50, seed=2, progress=False)
    threatsim.write_netcdf(ds, run_path)
    obs_path = tmp_path / "forms.toml"
    obs_path.write_text(FORMS_TOML)
    csv = tmp_path / "board.csv"
    assert main(["score", str(run_path), str(obs_path), "--csv", str(csv)]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("outflows_2020_h1"))
    assert "2020-H1" in row
    assert "n/a" in row
    assert "outflows_2020_h1: persistence: the reference's CRPS (0)" in out
    text = csv.read_text()
    assert "skill_note" in text.splitlines()[0]
    assert "spending + seized" in text


def test_a_bad_new_key_on_the_command_line_is_one_line_and_exit_2(tmp_path, capsys):
    """As tests/test_messages.py asks: one problem per line, the key, the value, exit 2."""
    from threatsim.cli.main import main

    run_path = tmp_path / "run.nc"
    ds = threatsim.run(threatsim.load_scenario(ROOT / "scenarios" / "financing.toml"),
                       draws=4, seed=2, progress=False)
    threatsim.write_netcdf(ds, run_path)
    obs_path = tmp_path / "forms.toml"
    obs_path.write_text(FORMS_TOML.replace('offset_source = "an assumption sentence"\n', "")
                        .replace('date = "2020-H1"', 'date = "2020-H3"'))
    assert main(["score", str(run_path), str(obs_path)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.splitlines()
    assert lines[0].endswith("2 problems:")
    assert lines[1].strip().startswith("observation.outflows_2020_h1.date='2020-H3' must be")
    assert lines[2].strip().startswith("observation.reserves_2020.offset_source must say")


# -- old files score as before ------------------------------------------------------------


def test_old_observation_files_score_as_before():
    """Every row and total of the shipped files' leaderboards equals what the code before
    these forms gave (tests/data/scores_before_issue20.json, from commit 59d4f71), except
    the one row the skill guard now leaves undefined: reserves_2021_01's persistence skill
    (-139, from a reference CRPS of 0.087 % of the figure)."""
    import json

    from threatsim.outputs.observations import load_observations

    before = json.loads((ROOT / "tests" / "data" / "scores_before_issue20.json").read_text())
    cases = [("scenarios/financing.toml", "scenarios/observations/synthetic.toml", None),
             ("scenarios/balkans_cohort.toml", "scenarios/observations/S-2019-103-past.toml",
              ["balkans_*"])]
    for scenario, file, only in cases:
        ds = threatsim.run(threatsim.load_scenario(ROOT / scenario), draws=300, seed=7,
                           progress=False)
        board = leaderboard(ds, load_observations(ROOT / file, against=ds, only=only))
        old = before["files"][file]
        for name, values in old["rows"].items():
            new = board[name].values.astype(float)
            if file.endswith("synthetic.toml") and name == "skill_persistence":
                assert math.isnan(new[4])
                assert values[4] < -100
                new, values = np.delete(new, 4), np.delete(values, 4)
            np.testing.assert_allclose(new, values, rtol=1e-12, equal_nan=True, err_msg=name)
        totals = leaderboard_totals(board)
        for name, value in old["totals"].items():
            np.testing.assert_allclose(float(totals[name]), value, rtol=1e-12,
                                       equal_nan=True, err_msg=name)

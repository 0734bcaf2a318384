"""Observation files: selection over labelled dims, and clear errors for bad files."""

from __future__ import annotations

import math
import pickle
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from threatsim.core.errors import ScenarioError
from threatsim.outputs.observations import load_observations, observations_from_dict

ROOT = Path(__file__).resolve().parents[1]
OBS = ROOT / "scenarios" / "observations"
REGIONS = ("iraq", "syria", "afghanistan", "lake_chad", "greater_sahara", "tunisia")
COMPARTMENTS = ("active_local", "active_foreign", "detained", "imprisoned", "released",
                "departed", "killed")


def population_run(*, start: str = "2014-06", months: int = 60, draws: int = 7,
                   replicates: int = 1) -> xr.Dataset:
    """A run shaped like the fighters model's: population on (draw, time, region, compartment)."""
    rng = np.random.default_rng(0)
    lead = (draws, replicates) if replicates > 1 else (draws,)
    shape = (*lead, months + 1, len(REGIONS), len(COMPARTMENTS))
    data = rng.integers(0, 100, size=shape).astype(float)
    dims = (("draw", "replicate") if replicates > 1 else ("draw",)) + (
        "time", "region", "compartment")
    time = (np.datetime64(start, "M") + np.arange(months + 1)).astype("datetime64[ns]")
    coords = {"draw": np.arange(draws), "time": time, "region": list(REGIONS),
              "compartment": list(COMPARTMENTS)}
    if replicates > 1:
        coords["replicate"] = np.arange(replicates)
    ds = xr.Dataset({"population": (dims, data, {"units": "people", "kind": "stock"})},
                    coords=coords, attrs={"scenario_name": "synthetic_population"})
    ds["returned_home"] = (dims[:-1], data.sum(-1), {"units": "people", "kind": "stock"})
    ds["fighters"] = xr.Variable(("draw",), np.ones(draws), attrs={"role": "parameter"})
    return ds


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "obs.toml"
    path.write_text(text)
    return path


GOOD = '''
document = "S/2099/1"
[[observation]]
id = "killed_core"
variable = "population"
date = "2019-01"
region = ["iraq", "syria"]
compartment = ["killed", "departed"]
low = 100
high = 400
unit = "people"
paragraph = 7
quote = "between 100 and 400"
'''


def test_selection_sums_over_the_labels_given(tmp_path):
    """The forecast is the sum over the listed regions and compartments, one value per draw."""
    ds = population_run()
    obs = load_observations(write(tmp_path, GOOD), against=ds)
    (o,) = obs
    expected = (ds["population"].sel(time="2019-01-01", region=["iraq", "syria"],
                                     compartment=["killed", "departed"])
                .sum(["region", "compartment"]).values)
    np.testing.assert_array_equal(o.forecast(ds), expected)
    assert o.kind == "range"
    assert o.citation() == "S/2099/1 para 7"


def test_all_sums_every_label_and_replicates_flatten_draw_major(tmp_path):
    """``"all"`` sums over a dim; draws and replicates become one ensemble, draw-major."""
    ds = population_run(replicates=3)
    text = GOOD.replace('region = ["iraq", "syria"]', 'region = "all"')
    (o,) = load_observations(write(tmp_path, text), against=ds)
    xs = o.forecast(ds)
    manual = (ds["population"].sel(time="2019-01-01", compartment=["killed", "departed"])
              .sum(["region", "compartment"]).values)
    assert xs.shape == (7 * 3,)
    np.testing.assert_array_equal(xs, manual.reshape(-1))


def test_any_dim_by_name(tmp_path):
    """A dim the package has never heard of is selected by name, without code changes."""
    ds = population_run().rename({"compartment": "status"})
    text = GOOD.replace("compartment =", "status =")
    (o,) = load_observations(write(tmp_path, text), against=ds)
    assert o.select["status"] == ("killed", "departed")


def test_one_sided_and_point_truths(tmp_path):
    """"at least", "at most" and points are read with infinite bounds where open."""
    text = GOOD.replace("low = 100\nhigh = 400", "low = 100")
    (o,) = load_observations(write(tmp_path, text))
    assert o.kind == "at_least"
    assert o.high == math.inf
    (o,) = load_observations(write(tmp_path, GOOD.replace("low = 100\n", "")))
    assert o.kind == "at_most"
    assert o.low == -math.inf
    (o,) = load_observations(write(tmp_path, GOOD.replace("low = 100\nhigh = 400",
                                                          "point = 250")))
    assert o.kind == "point"
    assert o.low == o.high == 250


@pytest.mark.parametrize(("old", "new", "pattern"), [
    ('variable = "population"', 'variable = "populaton"',
     r"observation\.killed_core\.variable='populaton' is not a time series of this run; "
     r"did you mean 'population'\? allowed: population"),
    ('region = ["iraq", "syria"]', 'region = ["iraq", "syira"]',
     r"observation\.killed_core\.region='syira' is not a label of dim 'region'; "
     r"allowed: iraq, syria, afghanistan"),
    ('compartment = ["killed", "departed"]', 'compartment = "kiled"',
     r"observation\.killed_core\.compartment='kiled' is not a label of dim 'compartment'; "
     r"allowed: active_local, .*killed"),
    ('compartment = ["killed", "departed"]', 'compartmnt = "killed"',
     r"compartmnt='killed' is not a dim of 'population' nor a known key; did you mean "
     r"'compartment'\?"),
    ('compartment = ["killed", "departed"]', '',
     r"compartment must be given: the labels of dim 'compartment' to sum over, or 'all'"),
    ('date = "2019-01"', 'date = "2031-01"',
     r"observation\.killed_core\.date='2031-01' is outside the run; allowed: 2014-06 \.\. "
     r"2019-06"),
    ('unit = "people"', 'unit = "usd"',
     r"observation\.killed_core\.unit='usd' does not match the unit of 'population'; "
     r"allowed: 'people'"),
])
def test_mismatch_with_the_run_is_a_clear_error(tmp_path, old, new, pattern):
    """Unknown variable, label or dim, a date outside the run, a unit mismatch: one clear error."""
    ds = population_run()
    path = write(tmp_path, GOOD.replace(old, new))
    with pytest.raises(ScenarioError, match=pattern) as info:
        load_observations(path, against=ds)
    assert str(info.value).startswith(str(path))


@pytest.mark.parametrize(("old", "new", "pattern"), [
    ("low = 100\nhigh = 400", "low = 500\nhigh = 400", r"low=500 must be <= high \(400\)"),
    ("low = 100\nhigh = 400", "point = 3\nlow = 1", r"must give either point or low/high"),
    ("low = 100\nhigh = 400", "", r"must give the truth"),
    ("low = 100", 'low = "many"', r"low='many' must be a finite number"),
    ('date = "2019-01"', 'date = "Jan 2019"', r"date='Jan 2019' must be a month written"),
    ('date = "2019-01"', "", r"\.date must be a month"),
    ('unit = "people"', "", r"\.unit must be a unit string"),
    ('region = ["iraq", "syria"]', "region = []", r"region=\[\] must be a label"),
    ('region = ["iraq", "syria"]', 'region = ["iraq", "iraq"]', r"must not repeat a label"),
    ('document = "S/2099/1"', "", r"document='' must name the source document"),
])
def test_bad_file_is_a_clear_error(tmp_path, old, new, pattern):
    """A bad observation file names the file, the key and the value, before any run."""
    path = write(tmp_path, GOOD.replace(old, new))
    with pytest.raises(ScenarioError, match=pattern) as info:
        load_observations(path)
    assert str(path) in str(info.value)


def test_every_problem_is_reported_at_once(tmp_path):
    """Several problems in one file come back in one error, each with its key."""
    text = GOOD + GOOD.replace("low = 100", "low = 900")
    with pytest.raises(ScenarioError) as info:
        load_observations(write(tmp_path, text))
    message = str(info.value)
    assert "2 problems" in message
    assert "observation[1].id='killed_core' must be unique" in message
    assert "low=900 must be <= high" in message
    assert str(pickle.loads(pickle.dumps(info.value))) == message


def test_unknown_top_level_key_and_missing_observations(tmp_path):
    """A misspelt top-level key and a file with no [[observation]] are refused."""
    with pytest.raises(ScenarioError, match=r"observations=.* is not a known key; did you "
                                            r"mean 'observation'\?"):
        observations_from_dict({"observations": [{}]}, path="x.toml")
    with pytest.raises(ScenarioError, match=r"observation must be one or more"):
        observations_from_dict({"title": "nothing"}, path="x.toml")


def test_not_toml_and_missing_file(tmp_path):
    """Broken TOML gives tomllib's line and column; a missing file says so."""
    with pytest.raises(ScenarioError, match=r"is not valid TOML: .*line 1"):
        load_observations(write(tmp_path, "[[observation]\n"))
    with pytest.raises(ScenarioError, match="no such observation file"):
        load_observations(tmp_path / "missing.toml")


def test_previous_is_a_point_a_range_or_a_bound(tmp_path):
    """The last report's figure for persistence: a point, a range, or (issue 20) a bound,
    which the reference carries forward as a point at the bound."""
    (o,) = load_observations(write(tmp_path, GOOD + "previous = { low = 10 }\n"))
    assert (o.previous.low, o.previous.high) == (10, math.inf)
    assert o.previous.reference_range() == (10, 10)
    (o,) = load_observations(write(tmp_path, GOOD + "previous = { high = 30 }\n"))
    assert o.previous.reference_range() == (30, 30)
    with pytest.raises(ScenarioError, match=r"previous\.low='many' must be a finite number"):
        load_observations(write(tmp_path, GOOD + 'previous = { low = "many" }\n'))
    with pytest.raises(ScenarioError, match=r"previous must give the truth"):
        load_observations(write(tmp_path, GOOD + "previous = { paragraph = 3 }\n"))
    text = GOOD + "previous = { low = 10, high = 20, paragraph = 3 }\n"
    (o,) = load_observations(write(tmp_path, text))
    assert (o.previous.low, o.previous.high, o.previous.citation) == (10, 20, "S/2099/1 para 3")


def test_only_filters_by_id_pattern(tmp_path):
    """``only`` keeps the observations whose ids match; matching none is an error."""
    obs = load_observations(OBS / "S-2019-103-past.toml", only=["balkans_*"])
    assert obs.ids() == ["balkans_killed", "balkans_returned"]
    with pytest.raises(ScenarioError, match=r"only=\['nope\*'\] matches no observation"):
        obs.only(["nope*"])


def test_past_observations_validate_against_a_fighters_shaped_run():
    """The shipped past figures of S/2019/103 fit a run with the fighters model's dims."""
    ds = population_run(start="2014-06", months=60)
    obs = load_observations(OBS / "S-2019-103-past.toml", against=ds)
    assert obs.ids() == ["balkans_killed", "balkans_returned", "jowzjan_killed",
                         "jowzjan_surrendered"]
    assert all(o.document == "S/2019/103" and o.paragraph in (37, 40) and o.quote
               for o in obs)
    assert [o.kind for o in obs] == ["at_least", "point", "at_least", "at_least"]


def test_past_observations_outside_a_later_run_are_refused():
    """A run that starts after July 2018 cannot be scored on the Jowzjan figures."""
    ds = population_run(start="2019-01", months=24)
    with pytest.raises(ScenarioError, match=r"jowzjan_killed\.date='2018-08' is outside the "
                                            r"run; allowed: 2019-01 \.\. 2021-01") as info:
        load_observations(OBS / "S-2019-103-past.toml", against=ds)
    assert "balkans" not in str(info.value)
    assert len(load_observations(OBS / "S-2019-103-past.toml", against=ds,
                                 only=["balkans_*"])) == 2


def test_a_run_without_draws_is_refused(tmp_path):
    """A summary-only run (quantiles, no draws) cannot be scored, and the error says so."""
    ds = population_run().quantile([0.05, 0.5, 0.95], dim="draw")
    with pytest.raises(ScenarioError, match=r"variable='population' has no draw dim"):
        load_observations(write(tmp_path, GOOD), against=ds)

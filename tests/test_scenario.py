"""Scenario files: extends, provenance rules, and every error the loader must name."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import threatsim
from threatsim.core.errors import ScenarioError


def _whatif(financing_path, body: str) -> str:
    return f'extends = "{financing_path}"\n{body}'


def test_shipped_scenarios_load(financing_path):
    """The shipped financing scenario and its what-if load and differ only in levers."""
    base = threatsim.load_scenario(financing_path)
    what = threatsim.load_scenario("scenarios/whatif/counter_financing_doubled.toml")
    assert base.horizon == what.horizon
    assert what.levers["seizure_effort"] == 2 * base.levers["seizure_effort"]
    assert base.run_id != what.run_id


def test_extends_overrides_only_what_it_names_to_any_depth(write_scenario, financing_path):
    """A chain of extends merges tables key by key; the last file wins."""
    write_scenario(_whatif(financing_path, '[levers]\nseizure_effort = 3.0\n'), "a.toml")
    b = write_scenario('extends = "a.toml"\nname = "b"\n'
                       '[parameters.fighters]\ndist = "triangular"\nmode = 16000\n', "b.toml")
    sc = threatsim.load_scenario(b)
    assert sc.name == "b"
    assert sc.levers["seizure_effort"] == 3.0
    fighters = sc.parameters["fighters"]
    assert fighters.dist.kind == "triangular"
    # the range still comes from the source (para 17: 14,000-18,000)
    assert (fighters.dist.low, fighters.dist.high, fighters.dist.mode) == (14000, 18000, 16000)
    assert fighters.source == "militants_iraq_syria"


def test_timeline_changes_levers_from_its_month(write_scenario, financing_path):
    """A [[timeline]] entry sets levers from its month on."""
    path = write_scenario(_whatif(
        financing_path, '[[timeline]]\nat = "2019-04"\nlevers = { seizure_effort = 5.0 }\n'))
    sc = threatsim.load_scenario(path)
    schedule = sc.lever_schedule()["seizure_effort"]
    assert schedule[:3].tolist() == [1.0] * 3
    assert np.all(schedule[3:] == 5.0)


def _error(path) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        threatsim.load_scenario(path)
    return info.value


@pytest.mark.parametrize(
    ("body", "key", "fragment"),
    [
        ("[run]\ndraws = 0\n", "run.draws", "must be a whole number >= 1"),
        ("[run]\nsampler = 'halton'\n", "run.sampler", "mc, lhs, sobol"),
        ("[runn]\ndraws = 5\n", "runn", "did you mean 'run'"),
        ("[levers]\nseizure_efort = 0.1\n", "levers.seizure_efort",
         "did you mean 'seizure_effort'"),
        ("[levers]\nrevenue_disruption = 1.5\n", "levers.revenue_disruption", "[0, 1]"),
        ("[parameters.fighters]\nrange = [18000, 14000]\nrange_assumption = 'x'\n",
         "parameters.fighters.range", "low <= high"),
        ("[parameters.extortion_income]\nrange = [-5, 10]\n",
         "parameters.extortion_income.range", "cannot be negative"),
        ("[parameters.cache_share]\nrange = [0.1, 1.5]\n",
         "parameters.cache_share.range", "[0, 1]"),
        ("[parameters.fighters]\nsource = 'militants_iraq_syrai'\n",
         "parameters.fighters.source", "did you mean 'militants_iraq_syria'"),
        ("[parameters.ransom_income]\nsource = 'reserves_usd'\n", "parameters.ransom_income",
         "exactly one of source"),
        ('start = "2019-13"\n', "start", "YYYY-MM"),
        ("[parameters.operations_spending]\nrange = [0, inf]\n",
         "parameters.operations_spending.range", "finite"),
        ("[parameters.extortion_income]\nrange = [1, nan]\n",
         "parameters.extortion_income.range", "finite"),
        ('[[timeline]]\nat = "2030-01"\nlevers = { seizure_effort = 2.0 }\n', "timeline[0].at",
         "within the run"),
        ("[parameters.fighters]\nunit = 'usd'\n", "parameters.fighters.unit", "'people'"),
        ("[parameters.fighters]\nrange = [10000, 20000]\n", "parameters.fighters.range",
         "differs from the reported range"),
        ("[parameters.foo]\ndist = 'point'\nvalue = 1\nunit = 'usd'\nassumption = 'x'\n",
         "parameters.foo", "is not a parameter of model"),
        ('model = "financng"\n', "model", "did you mean 'financing'"),
        ("horizon = 0\n", "horizon", "from 1 to"),
    ],
)
def test_bad_input_names_file_key_value_and_rule(write_scenario, financing_path, body, key,
                                                  fragment):
    """Each bad value gives one ScenarioError naming the file, the key, the value and the rule."""
    path = write_scenario(_whatif(financing_path, body))
    err = _error(path)
    assert str(path) in str(err)
    keys = [p.key for p in err.problems] or [err.key]
    assert key in keys, str(err)
    assert fragment in str(err)


def test_missing_provenance_is_refused(write_scenario, financing_path):
    """A parameter with neither source nor assumption is an error."""
    text = financing_path.read_text().replace(
        'assumption = "Para 14 says cells self-finance', 'note = "Para 14 says cells self-finance')
    err = _error(write_scenario(text))
    assert "exactly one of source" in str(err)
    assert any(p.key == "parameters.extortion_income" for p in err.problems)


def test_one_sided_source_needs_a_stated_second_bound(write_scenario):
    """'up to 3,000' needs range_assumption for its lower bound, and must end at 3,000."""
    base = """
name = "t"
model = "financing"
start = "2019-01"
horizon = 3
[parameters.fighters]
source = "ftf_iraq_syria"
dist = "uniform"
unit = "people"
{extra}
"""
    err = _error(write_scenario(base.format(extra="range = [0, 3000]")))
    assert "up to 3000" in str(err)
    assert "range_assumption" in str(err)
    err = _error(write_scenario(base.format(
        extra="range = [0, 2500]\nrange_assumption = 'none were reported below zero'")))
    assert "must end at the reported upper bound 3000" in str(err)


def test_all_problems_of_a_file_are_reported_together(write_scenario, financing_path):
    """The loader gathers every problem of a file into one error."""
    err = _error(write_scenario(_whatif(financing_path,
                                        "horizon = -1\n[run]\ndraws = 0\nseed = -3\n")))
    keys = {p.key for p in err.problems}
    assert {"horizon", "run.draws", "run.seed"} <= keys


def test_extends_cycle_is_refused(write_scenario):
    """a extends b extends a: refused, naming the cycle."""
    write_scenario('extends = "b.toml"\n', "a.toml")
    b = write_scenario('extends = "a.toml"\n', "b.toml")
    err = _error(b)
    assert "cycle" in str(err)
    assert err.key == "extends"


def test_toml_syntax_error_gives_line_and_column(write_scenario):
    """A TOML syntax error names the file and tomllib's line and column."""
    err = _error(write_scenario('name = "x\n'))
    assert "line 1" in str(err)


def test_nested_quantity_never_exceeds_its_parent(write_scenario, financing_path):
    """share_of caps a child's sample at its parent's sample, on every draw."""
    path = write_scenario(_whatif(financing_path, """
[parameters.fighters]
source = "ftf_iraq_syria"
dist = "uniform"
range = [0, 3000]
range_assumption = "at least none"
share_of = "reserves_initial"
"""))
    err = _error(path)
    assert "same unit" in str(err)
    # a valid nesting within one unit: ransom income capped at extortion income
    path = write_scenario(_whatif(financing_path, """
[parameters.ransom_income]
range = [0, 9000000]
share_of = "extortion_income"
"""))
    sc = threatsim.load_scenario(path)
    ds = threatsim.run(sc, draws=2000, seed=3)
    assert bool((ds["ransom_income"] <= ds["extortion_income"]).all())
    assert bool((ds["ransom_income"] == ds["extortion_income"]).any())


def test_scenario_error_pickles_with_its_fields():
    """ScenarioError crosses process pools with its fields intact."""
    err = ScenarioError("must be >= 1", path="a.toml", key="run.draws", value=0)
    back = pickle.loads(pickle.dumps(err))
    assert (back.path, back.key, back.value, str(back)) == ("a.toml", "run.draws", 0, str(err))

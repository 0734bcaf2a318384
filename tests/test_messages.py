"""Error messages a planner can act on: one problem per line, the key that is wrong, the
value as the file wrote it (cut when long), no problem that only follows from another,
and no Python internals. Each test is a reproducer of the hardening issue (#18)."""

from __future__ import annotations

import re

import pytest
from tests.conftest import SCENARIOS

import threatsim
from threatsim.cli.main import main as cli_main
from threatsim.core.errors import MAX_LINE_CHARS, MAX_PROBLEMS_SHOWN, ScenarioError
from threatsim.outputs.observations import load_observations

FIGHTERS = (SCENARIOS / "fighters.toml").read_text(encoding="utf-8")
FINANCING = (SCENARIOS / "financing.toml").read_text(encoding="utf-8")


def _error(write_scenario, text: str) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        threatsim.load_scenario(write_scenario(text))
    return info.value


def _lines(err: ScenarioError) -> list[str]:
    return str(err).splitlines()


def test_an_unknown_dist_names_the_dist_and_nothing_that_follows_from_it(write_scenario):
    """`dist = "unifrom"` once: the problem is that key, with its value and a hint; the
    keys the dist would read (values, range) are not blamed."""
    text = FIGHTERS.replace('dist = "uniform"', 'dist = "unifrom"', 1)
    err = _error(write_scenario, text)
    assert len(err.problems) == 1
    (line,) = _lines(err)
    assert "parameters.fighters_iraq_syria.dist='unifrom' is not a dist; did you mean " \
        "'uniform'?" in line
    assert "values" not in line


def test_a_missing_horizon_is_one_problem_not_seven(write_scenario):
    """`horizn = 36`: the typo and the missing key; the report months are not blamed for
    lying outside a run whose end is unknown."""
    err = _error(write_scenario, FIGHTERS.replace("horizon = 36", "horizn = 36"))
    lines = _lines(err)
    assert lines[0].endswith("2 problems:")
    assert lines[1].strip().startswith("horizn=36 is not a known key; did you mean 'horizon'?")
    assert lines[2].strip() == "horizon is required"


def test_several_problems_are_one_per_line_and_a_long_list_is_cut(write_scenario):
    text = FINANCING.replace("draws = 20000", "draws = 0").replace('sampler = "mc"',
                                                                    'sampler = "halton"')
    err = _error(write_scenario, text)
    lines = _lines(err)
    assert lines[0].endswith("2 problems:")
    assert sorted(ln.split("=")[0].strip() for ln in lines[1:]) == ["run.draws", "run.sampler"]
    many = ScenarioError("invalid", path="x.toml", problems=tuple(
        ScenarioError("must be a number", key=f"levers.l{i}", value="a") for i in range(30)))
    lines = str(many).splitlines()
    assert len(lines) == 1 + MAX_PROBLEMS_SHOWN + 1
    assert lines[-1].strip() == f"... and {30 - MAX_PROBLEMS_SHOWN} more"


def test_values_are_shown_as_written_and_cut_when_long(write_scenario):
    text = re.sub(r'(?m)^description = .*$', 'description = 2019-01-01', FINANCING, count=1)
    (line,) = _lines(_error(write_scenario, text))
    assert "description=2019-01-01 is a TOML date" in line
    assert "datetime" not in line
    long_name = "x" * 5000
    text = FINANCING.replace("[levers]", f'[levers]\n{long_name} = 1', 1)
    (line,) = _lines(_error(write_scenario, text))
    assert len(line) <= MAX_LINE_CHARS + 200  # the file's path comes first
    assert "5,000 characters" in line or "characters)" in line


def test_a_control_character_in_a_key_or_value_stays_on_one_line(write_scenario):
    text = FINANCING.replace("[levers]", '[levers]\n"seizure\\neffort" = "a\\u0000b"', 1)
    err = _error(write_scenario, text)
    assert len(_lines(err)) == 1
    assert "seizure\\neffort" in str(err)


@pytest.mark.parametrize(("old", "new", "key"), [
    ('unit = "people"', 'unit = ["people"]', "unit"),
    ('source = "militants_iraq_syria"', 'source = ["militants_iraq_syria"]', "source"),
    ('share_of = "fighters_iraq_syria"', 'share_of = ["fighters_iraq_syria"]', "share_of"),
    ('range = [800, 1_200]', 'range = [1e19, 1e20]', "range"),
    ('range = [800, 1_000]', 'range = [1e300, 2e300]', "range"),
    ('range = [800, 1_200]', 'range = [800, 100000000000000000000000000000]', "range"),
])
def test_wrong_types_and_absurd_sizes_are_clear_errors(write_scenario, old, new, key):
    """Each of these ended in a TypeError or an int64 overflow, or ran and gave negative
    people."""
    assert old in FIGHTERS
    err = _error(write_scenario, FIGHTERS.replace(old, new, 1))
    assert any(str(p.key).endswith(f".{key}") for p in err.problems) or \
        str(err.key).endswith(f".{key}"), str(err)


def test_a_lever_too_large_for_a_float_is_a_clear_error(write_scenario):
    text = FINANCING.replace("seizure_effort = 1.0 ", "seizure_effort = 100000000000000000000 ")
    err = _error(write_scenario, text)
    assert "levers.seizure_effort=100000000000000000000 must be in [0, 100]" in str(err)


def test_discover_without_a_condition_says_so_without_internals(capsys):
    rc = cli_main(["discover", str(SCENARIOS / "financing.toml"), "--output", "reserves",
                   "--draws", "10"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "neither was given" in err
    assert "None" not in err
    assert "{'" not in err


OBS = """
document = "S/2019/103"
[[observation]]
id = "reserves_low"
variable = "reservez"
date = "2019-07"
low = 300e6
high = 50e6
unit = "usd"
[[observation]]
id = "two\\nlines"
variable = "reserves"
date = "2019-07"
point = 1e8
unit = "usd"
"""


def test_an_observation_files_problems_and_the_runs_are_reported_together(tmp_path):
    """low > high no longer hides the other problems: the misspelt variable of another
    observation (found only against the run) is in the same message, and an id with a
    newline keeps each problem on one line."""
    path = tmp_path / "obs.toml"
    path.write_text(OBS.replace('"reserves"', '"reservez"').replace(
        'variable = "reservez"\ndate = "2019-07"\nlow', 'variable = "reserves"\n'
        'date = "2019-07"\nlow'), encoding="utf-8")
    ds = threatsim.run(threatsim.load_scenario(SCENARIOS / "financing.toml"), draws=10,
                       progress=False)
    with pytest.raises(ScenarioError) as info:
        load_observations(path, against=ds)
    text = str(info.value)
    lines = text.splitlines()
    assert lines[0].endswith("2 problems:"), text
    assert re.search(r"observation\.reserves_low\.low=300000000\.0 must be <= high", text)
    assert re.search(r"observation\.two\\nlines\.variable='reservez' is not a time series",
                     text)


def test_score_with_its_arguments_swapped_says_so(tmp_path, capsys):
    ds = threatsim.run(threatsim.load_scenario(SCENARIOS / "financing.toml"), draws=10,
                       progress=False)
    run = threatsim.write_netcdf(ds, tmp_path / "run.nc")
    obs = SCENARIOS / "observations" / "synthetic.toml"
    assert cli_main(["score", str(obs), str(run)]) == 2
    assert "swapped" in capsys.readouterr().err
    assert cli_main(["score", str(SCENARIOS / "financing.toml"), str(obs)]) == 2
    err = capsys.readouterr().err
    assert "is not a NetCDF results file" in err
    assert "Traceback" not in err


def test_every_unit_has_a_largest_value():
    """A unit added without its bound would reach a KeyError in the loader."""
    from threatsim.inputs.schema import PARAMETER_UNITS, UNIT_MAXIMUM
    assert set(UNIT_MAXIMUM) == set(PARAMETER_UNITS)

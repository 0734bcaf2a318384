"""Headline questions (issue 21, part 1's first piece): [[questions]] in a scenario file,
answered first by threatsim run as a probability in words with its Monte Carlo interval
and the parameters most worth finding out.

The probability is checked against the share of draws counted here from the Dataset;
the words against describe(); the loader's errors name the key.
"""

from __future__ import annotations

import numpy as np
import pytest
from tests.conftest import SCENARIOS

import threatsim
from threatsim.cli.main import main
from threatsim.core.errors import ScenarioError
from threatsim.outputs.estimative import describe
from threatsim.outputs.questions import answer

FINANCING = SCENARIOS / "financing.toml"
QUESTION = '''
[[questions]]
id = "low"
text = "Reserves under $50M by December 2020?"
output = "reserves"
at = "2020-12"
below = 50_000_000
'''


def _scenario(write_scenario, extra: str = QUESTION, name: str = "s.toml"):
    return write_scenario(f'extends = "{FINANCING}"\nname = "q"\n[run]\ndraws = 800\n{extra}',
                          name)


def test_the_answer_is_the_share_of_draws_in_words(write_scenario):
    sc = threatsim.load_scenario(_scenario(write_scenario))
    (q,) = sc.questions
    ds = threatsim.run(sc, seed=3, progress=False)
    a = answer(ds, q)
    share = float((ds["reserves"].sel(time="2020-12").values < 5e7).mean())
    assert a.estimate.probability == share
    assert a.estimate.words == describe(share, 800).words
    assert a.drivers[0][0] == "reserves_initial"
    assert "para 12" in a.drivers[0][2]


def test_a_question_over_a_dim_sums_or_selects_as_it_says(write_scenario):
    path = write_scenario(
        f'extends = "{SCENARIOS / "fighters.toml"}"\nname = "f"\nhorizon = 12\n'
        '[run]\ndraws = 300\n[outputs]\nreport_months = ["2019-01"]\n'
        '[[questions]]\nid = "syria"\noutput = "detained_foreign"\nat = "2019-07"\n'
        'region = "syria"\nabove = 1500\n'
        '[[questions]]\nid = "everywhere"\noutput = "detained_foreign"\nat = "2019-07"\n'
        'region = "all"\nabove = 2500\n', "f.toml")
    sc = threatsim.load_scenario(path)
    ds = threatsim.run(sc, seed=2, progress=False)
    syria, everywhere = (answer(ds, q) for q in sc.questions)
    df = ds["detained_foreign"].sel(time="2019-07")
    assert syria.estimate.probability == float((df.sel(region="syria") > 1500).mean())
    assert everywhere.estimate.probability == float((df.sum("region") > 2500).mean())


def test_run_prints_the_answers_first(write_scenario, tmp_path, capsys):
    path = _scenario(write_scenario)
    assert main(["run", str(path), "--quiet", "--no-plot", "--out", str(tmp_path / "r.nc")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Questions (ICD 203 scale")
    assert ("low: Reserves under $50M by December 2020? (reserves below 50,000,000 in "
            "2020-12)") in out
    assert out.index("Questions") < out.index("reserves (usd)")


def test_a_summary_run_says_it_cannot_answer(write_scenario, tmp_path, capsys):
    path = _scenario(write_scenario, QUESTION + '[outputs]\nkeep = "summary"\n')
    assert main(["run", str(path), "--quiet", "--no-plot", "--out", str(tmp_path / "r.nc")]) == 0
    assert "Questions: not answered: a summary run keeps bands only" in capsys.readouterr().out


def test_questions_change_no_number_and_not_the_run_id(write_scenario):
    plain = threatsim.load_scenario(_scenario(write_scenario, "", "plain.toml"))
    asked = threatsim.load_scenario(_scenario(write_scenario))
    assert plain.run_id == asked.run_id
    np.testing.assert_array_equal(threatsim.run(plain, seed=1, progress=False)["reserves"],
                                  threatsim.run(asked, seed=1, progress=False)["reserves"])


Q = 'id = "a"\noutput = "reserves"\nat = "2020-12"\n'


@pytest.mark.parametrize(("entry", "message"), [
    (Q.replace("reserves", "nope") + "below = 1", "questions.a.output='nope' must be an output"),
    (Q.replace("2020-12", "2030-01") + "below = 1", "questions.a.at='2030-01' must be a month"),
    (Q + "below = 1\nabove = 2", "questions.a must give exactly one of below"),
    (Q + 'below = "x"', "questions.a.below='x' must be a finite number"),
    (Q + 'below = 1\nregion = "syria"', "questions.a.region='syria' is not a known key"),
    (Q.replace('"a"', '"1a"') + "below = 1", "questions[0].id='1a' must be a name"),
])
def test_bad_questions_name_the_key(write_scenario, entry, message):
    path = _scenario(write_scenario, f"[[questions]]\n{entry}\n")
    with pytest.raises(ScenarioError) as err:
        threatsim.load_scenario(path)
    assert message in str(err.value)


def test_a_question_on_an_output_not_kept_says_to_keep_it(write_scenario):
    path = _scenario(write_scenario, QUESTION + '[outputs]\nvariables = ["revenue"]\n')
    with pytest.raises(ScenarioError, match=r"questions\.low\.output='reserves' is not kept"):
        threatsim.load_scenario(path)


def test_a_missing_dim_is_named_with_its_labels(write_scenario):
    path = write_scenario(
        f'extends = "{SCENARIOS / "fighters.toml"}"\nname = "f"\n'
        '[[questions]]\nid = "d"\noutput = "detained_foreign"\nat = "2019-07"\nabove = 1\n',
        "f.toml")
    with pytest.raises(ScenarioError, match=r"questions\.d\.region is required .*iraq, syria"):
        threatsim.load_scenario(path)


@pytest.mark.parametrize("entry", [
    {"id": "q", "output": ["reserves"], "at": "2020-12", "below": 5e7},
    {"id": "q", "output": {"x": 1}, "at": "2020-12", "below": 5e7},
])
def test_an_output_that_is_not_a_name_is_an_error_not_a_crash(entry):
    """Found by the input fuzzer once the baseline had questions: a list as the output."""
    sc = threatsim.load_scenario(FINANCING)
    with pytest.raises(ScenarioError, match=r"questions\.q\.output"):
        sc.with_values({"questions": [entry]})


def test_a_label_that_is_not_a_string_is_an_error_not_a_crash():
    sc = threatsim.load_scenario(SCENARIOS / "baseline.toml")
    entry = {"id": "q", "output": "detained_foreign", "at": "2020-06", "above": 1,
             "region": ["syria"]}
    with pytest.raises(ScenarioError, match=r"questions\.q\.region"):
        sc.with_values({"questions": [entry]})

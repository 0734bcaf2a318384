"""Writing scenarios without reading code: ``threatsim new``, the reference's example,
``run --set`` and ``run --outputs`` (issue 22 part 2)."""

from __future__ import annotations

import json
import re
import shutil
import tomllib
from pathlib import Path

import pytest
import tomli_w
from tests.conftest import ROOT, SCENARIOS

import threatsim
from threatsim.cli.main import main
from threatsim.models.registry import get_model, model_names

#: The shipped scenario of each model whose parameter tables fill a template in.
SHIPPED = {"financing": "financing.toml", "financing_events": "financing_events.toml",
           "fighters": "fighters.toml", "coupled": "baseline.toml",
           "detention": "detention_iraq_syria.toml",
           "fighters_detention": "fighters_detention_syria.toml"}


def _new(tmp_path: Path, model: str, capsys: pytest.CaptureFixture[str]) -> Path:
    path = tmp_path / f"my_{model}.toml"
    assert main(["new", model, str(path), "--sources", str(SCENARIOS / "sources")]) == 0
    capsys.readouterr()
    return path


@pytest.mark.parametrize("model", model_names())
def test_new_lists_every_parameter_and_validate_names_each_placeholder(
        model, tmp_path, capsys):
    """The template has every parameter the model declares, with its unit; validate refuses
    it with one line per value left to fill in (a range and a provenance per parameter,
    and the description), exit 2."""
    path = _new(tmp_path, model, capsys)
    data = tomllib.loads(path.read_text())
    info = get_model(model).info
    assert data["model"] == model
    assert list(data["parameters"]) == [p.name for p in info.parameters]
    for p in info.parameters:
        assert data["parameters"][p.name]["unit"] == p.unit
    assert set(data["levers"]) == {lv.name for lv in info.levers}
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    expected = 2 * len(info.parameters) + 1
    assert f"{expected} problems" in err
    for p in info.parameters[:3]:  # the message shows the first problems in full
        assert f"parameters.{p.name}.range=" in err
    assert "is still a placeholder" in err


@pytest.mark.parametrize("model", sorted(SHIPPED))
def test_a_filled_in_template_validates_and_runs(model, tmp_path, capsys):
    """Fill the template's parameters in (with a shipped scenario's, which cite their
    sources) and keep everything else as written: it validates and runs."""
    path = _new(tmp_path, model, capsys)
    shipped = json.loads(threatsim.load_scenario(SCENARIOS / SHIPPED[model]).resolved_json)
    data = tomllib.loads(path.read_text())
    data["parameters"] = shipped["parameters"]
    for table in ("origins", "families", "events", "shocks", "courts", "detention"):
        if table in shipped:  # the model's optional tables, as the shipped file has them
            data[table] = shipped[table]
    data["description"] = "a template filled in by the test"
    shutil.copytree(SCENARIOS / "sources", tmp_path / "sources")
    path.write_text(tomli_w.dumps(data))
    sc = threatsim.load_scenario(path)
    assert sc.model == model
    ds = threatsim.run(sc, draws=4, seed=1, progress=False)
    assert ds.sizes["draw"] == 4


def test_new_without_a_registry_lists_no_figures(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no scenarios/sources here
    assert main(["new", "financing", "a.toml"]) == 0
    text = (tmp_path / "a.toml").read_text()
    assert "Reported figures" not in text
    assert "source = \"ID\"" not in text.split("[parameters.")[1]


def test_new_lists_the_registry_figures_in_the_reports_words(tmp_path, capsys):
    text = _new(tmp_path, "financing", capsys).read_text()
    # S/2019/103 para 17 and para 22, as scenarios/sources/S-2019-103.toml records them
    assert "#     militants_iraq_syria: between 14,000 and 18,000, S/2019/103 para 17" in text
    assert "#     fighters_hajin: 3,000 or more, S/2019/103 para 22" in text
    assert "or more 3,000" not in text
    assert "exact " not in text


@pytest.mark.parametrize(("args", "says"), [
    (["new", "nomodel", "x.toml"], "is not a model; allowed: coupled"),
    (["new", "financing", "x.txt"], "must end in .toml"),
    (["new", "financing", "missing_folder/x.toml"], "is not a folder"),
])
def test_new_refuses_bad_input_and_writes_nothing(args, says, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    assert says in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_new_never_overwrites_without_force(tmp_path, capsys):
    path = tmp_path / "mine.toml"
    path.write_text("name = 'mine'\n")
    assert main(["new", "financing", str(path)]) == 2
    assert "exists already" in capsys.readouterr().err
    assert path.read_text() == "name = 'mine'\n"
    assert main(["new", "financing", str(path), "--force"]) == 0
    assert "[parameters.reserves_initial]" in path.read_text()


def _first_toml_block(doc: Path) -> str:
    return re.search(r"^```toml\n(.*?)^```", doc.read_text(), re.M | re.S).group(1)


def test_the_references_example_validates(tmp_path, capsys):
    """The scenario-reference's first example is a complete file: validate accepts it
    (beside the shipped registry its sources name)."""
    shutil.copytree(SCENARIOS / "sources", tmp_path / "sources")
    path = tmp_path / "example.toml"
    path.write_text(_first_toml_block(ROOT / "docs" / "scenario-reference.md"))
    assert main(["validate", str(path)]) == 0, capsys.readouterr().err
    sc = threatsim.load_scenario(path)
    assert sc.model == "financing"
    assert len(sc.parameters) == len(get_model("financing").info.parameters)


def _run_id(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(["validate", *args]) == 0
    return re.search(r"run id (\w+)", capsys.readouterr().out).group(1)


def test_set_changes_the_run_id_as_the_same_change_in_a_file(tmp_path, capsys):
    """--set levers.seizure_effort=2.0 gives the run id of a what-if file that sets the
    same value, and differs from the scenario's own."""
    whatif = tmp_path / "w.toml"
    whatif.write_text(f'extends = "{SCENARIOS / "financing.toml"}"\n'
                      "[levers]\nseizure_effort = 2.0\n")
    shutil.copytree(SCENARIOS / "sources", tmp_path / "sources")
    base = str(SCENARIOS / "financing.toml")
    via_set = _run_id(capsys, base, "--set", "levers.seizure_effort=2.0")
    assert via_set == _run_id(capsys, str(whatif))
    assert via_set != _run_id(capsys, base)


def test_run_with_set_says_so_and_records_it(tmp_path, capsys):
    out = tmp_path / "r.nc"
    assert main(["run", str(SCENARIOS / "financing.toml"), "--draws", "20", "--quiet",
                 "--no-plot", "--out", str(out), "--set", "levers.seizure_effort=3",
                 "--set", "parameters.upkeep_per_fighter.range=[100, 200]"]) == 0
    printed = capsys.readouterr().out
    assert ("changed for this run (--set): levers.seizure_effort=3, "
            "parameters.upkeep_per_fighter.range=[100, 200]") in printed
    ds = threatsim.open_results(out)
    assert float(ds["upkeep_per_fighter"].min()) >= 100
    assert float(ds["upkeep_per_fighter"].max()) <= 200
    assert json.loads(ds.attrs["resolved_scenario"])["levers"]["seizure_effort"] == 3


@pytest.mark.parametrize(("setting", "says"), [
    ("levers.nope=2", "levers.nope=2 is not a lever of model 'financing'"),
    ("run.draws=-1", "run.draws=-1 must be a whole number >= 1"),
    ("noequals", "must be KEY=VALUE"),
    ("parameters.fighters.range=[1,", "is not a TOML value"),
])
def test_bad_set_names_the_key_and_exits_2(setting, says, capsys, tmp_path):
    assert main(["run", str(SCENARIOS / "financing.toml"), "--draws", "5", "--quiet",
                 "--out", str(tmp_path / "r.nc"), "--set", setting]) == 2
    err = capsys.readouterr().err
    assert says in err, err
    assert list(tmp_path.iterdir()) == []


def test_outputs_chooses_the_tables_rows(tmp_path, capsys):
    """--outputs reserves,seized prints those two sections only; the file keeps all."""
    out = tmp_path / "r.nc"
    assert main(["run", str(SCENARIOS / "financing.toml"), "--draws", "20", "--quiet",
                 "--no-plot", "--out", str(out), "--outputs", "reserves,seized"]) == 0
    printed = capsys.readouterr().out
    heads = re.findall(r"^(\w+) \(", printed, re.M)
    assert heads == ["reserves", "seized"]
    assert {"reserves", "revenue", "spending", "seized"} <= set(
        threatsim.open_results(out).data_vars)


def test_unknown_output_lists_the_allowed_ones(tmp_path, capsys):
    assert main(["run", str(SCENARIOS / "financing.toml"), "--draws", "5", "--quiet",
                 "--no-plot", "--out", str(tmp_path / "r.nc"), "--outputs", "reserve"]) == 2
    err = capsys.readouterr().err
    assert "--outputs='reserve' must name outputs of this run" in err
    assert "allowed: reserves, revenue" in err

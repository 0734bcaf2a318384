"""The threatsim command end to end: run, validate, sources, and exit status 2 on bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import threatsim
from threatsim.cli import main
from tests.conftest import ROOT


def test_run_end_to_end_writes_netcdf_and_fan_chart(financing_path, tmp_path, capsys):
    """`threatsim run` prints the bands table and writes a NetCDF file and a PNG."""
    out = tmp_path / "base.nc"
    code = main(["run", str(financing_path), "--draws", "500", "--seed", "7", "--sampler", "lhs",
                 "--out", str(out), "--quiet"])
    assert code == 0
    text = capsys.readouterr().out
    assert "reserves (usd)" in text and "P(=0)" in text and "95%" in text
    ds = threatsim.open_results(out)
    assert ds.sizes["draw"] == 500
    assert ds.attrs["sampler"] == "lhs" and ds.attrs["seed"] == 7
    # the printed median at the start equals the Dataset's
    median0 = float(np.median(ds["reserves"].isel(time=0)))
    assert f"${median0 / 1e6:,.1f}M" in text
    png = out.with_suffix(".png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_console_script_runs(financing_path, tmp_path):
    """The installed console script behaves like main()."""
    exe = ROOT / ".venv" / "bin" / "threatsim"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "threatsim.cli"]
    res = subprocess.run([*cmd, "validate", str(financing_path)], capture_output=True, text=True,
                         check=False)
    assert res.returncode == 0, res.stderr
    assert "ok (model" in res.stdout


def test_bad_input_exits_2_with_one_line_and_writes_nothing(write_scenario, financing_path,
                                                            tmp_path, capsys):
    """A bad scenario: one line on stderr naming file, key and value; exit 2; no output file."""
    bad = write_scenario(f'extends = "{financing_path}"\n[run]\ndraws = 0\n')
    out = tmp_path / "out" / "x.nc"
    code = main(["run", str(bad), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert str(bad) in err and "run.draws=0" in err and ">= 1" in err
    assert not out.exists() and not out.with_suffix(".png").exists()


def test_cli_draws_below_one_is_refused(financing_path, capsys):
    """--draws 0 is refused with exit status 2."""
    assert main(["run", str(financing_path), "--draws", "0", "--no-plot"]) == 2
    assert "draws=0" in capsys.readouterr().err


def test_sources_json_lists_the_registry(capsys, monkeypatch):
    """`threatsim sources --json` prints objects with the issue's keys."""
    monkeypatch.chdir(ROOT)
    assert main(["sources", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {"id", "low", "high", "point", "unit", "document", "paragraph", "quote"} <= set(rows[0])
    by_id = {r["id"]: r for r in rows}
    assert by_id["reserves_usd"]["paragraph"] == 12
    assert main(["sources"]) == 0
    assert "militants_iraq_syria" in capsys.readouterr().out


def test_validate_reports_the_whatif(capsys):
    """`threatsim validate` on the shipped what-if succeeds."""
    path = ROOT / "scenarios" / "whatif" / "counter_financing_doubled.toml"
    assert main(["validate", str(path)]) == 0
    assert "ok" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["run", "nope.toml"], ["validate", "nope.toml"]])
def test_missing_file_exits_2(argv, capsys):
    """A missing scenario file is a clear error, exit status 2."""
    assert main(argv) == 2
    assert "no such scenario file" in capsys.readouterr().err


def test_fan_chart_of_a_population_shows_each_compartment():
    """Variables with a compartment dim are plotted one panel per compartment, regions summed."""
    from threatsim.cli import split_compartments
    from threatsim.plotting import fan_chart

    sc = threatsim.load_scenario(ROOT / "scenarios" / "fighters.toml")
    ds = threatsim.run(sc, draws=50, seed=1)
    plot_ds, names = split_compartments(ds, ["population"])
    comps = list(ds["compartment"].values)
    assert names == [f"population_{c}" for c in comps]
    active = plot_ds["population_active_local"]
    np.testing.assert_array_equal(
        active.values, ds["population"].sel(compartment="active_local").sum("region").values)
    fig = fan_chart(plot_ds, names)
    assert len([ax for ax in fig.axes if ax.get_visible()]) == len(comps)

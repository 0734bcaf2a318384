"""Exports and files of a run (issue 22, parts 1 and 5): run --no-save, run --csv,
threatsim bands --csv / --xlsx, run --out X.zarr, and the sources command's wording."""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from tests.conftest import ROOT, SCENARIOS

import threatsim
from threatsim.cli.main import main
from threatsim.cli.table import summary_table
from threatsim.outputs.bands_table import SPLIT_DIMS, band_rows, report_months_of


@pytest.fixture(scope="module")
def fighters_run(tmp_path_factory):
    """A small fighters run written by `threatsim run`, with its --csv bands."""
    folder = tmp_path_factory.mktemp("fighters")
    out, csv = folder / "run.nc", folder / "bands.csv"
    assert main(["run", str(SCENARIOS / "fighters.toml"), "--draws", "300", "--seed", "5",
                 "--out", str(out), "--csv", str(csv), "--no-plot", "--quiet"]) == 0
    return out, csv


def _month_index(ds: xr.Dataset, month: str) -> int:
    labels = [str(np.datetime64(t, "M")) for t in ds.time.values]
    return labels.index(month)


def test_csv_bands_are_the_quantiles_of_the_draws(fighters_run):
    """Every row's bands are numpy's quantiles of that output's draws (summed over regions,
    one entry of its compartment split), its P(=0) the share of draws at zero; the
    provenance columns are the run's."""
    out, csv = fighters_run
    ds = threatsim.open_results(out)
    frame = pd.read_csv(csv, keep_default_na=False, na_values=[""])
    qs, months = report_months_of(ds)
    shown = [q for q in qs if q in (0.05, 0.5, 0.95)] or qs
    assert {"run_id", "scenario", "seed", "draws", "sampler", "threatsim_version", "output",
            "entry", "month", "unit", "p_zero"} <= set(frame.columns)
    assert [c for c in frame.columns if c.startswith("p") and c[1:2].isdigit()] == [
        "p5", "p5_se", "p50", "p50_se", "p95", "p95_se"]
    assert set(frame["run_id"]) == {ds.attrs["run_id"]}
    assert set(frame["seed"]) == {5}
    assert set(frame["draws"]) == {300}
    checked = 0
    for rec in frame.itertuples():
        if not rec.month:
            continue
        da = ds[rec.output]
        if isinstance(rec.entry, str) and rec.entry:  # e.g. "active", "detained iraq"
            splits = [d for d in SPLIT_DIMS if d in da.dims]
            da = da.sel(dict(zip(splits, rec.entry.split(" "), strict=True)))
        extra = [d for d in da.dims if d not in ("draw", "time")]
        values = da.sum(extra).isel(time=_month_index(ds, rec.month)).values
        want = np.quantile(values, shown)
        got = [getattr(rec, f"p{round(100 * q):d}") for q in shown]
        np.testing.assert_allclose(got, want, rtol=1e-12, err_msg=f"{rec.output} {rec.month}")
        if da.attrs.get("kind") == "stock":
            assert rec.p_zero == pytest.approx(np.mean(values == 0), abs=1e-12)
        else:
            assert math.isnan(rec.p_zero)
        checked += 1
    assert checked == len(months) * len({(r.output, r.entry) for r in frame.itertuples()
                                          if r.month})
    assert frame["entry"].str.startswith("active").any()  # the compartment split is there


def test_bands_command_writes_the_same_rows_as_run_csv(fighters_run, tmp_path):
    """`threatsim bands RUN.nc --csv` reads the run's quantiles and months from the file
    and gives the rows `run --csv` wrote; --xlsx the same table as a spreadsheet."""
    pytest.importorskip("openpyxl")
    out, csv = fighters_run
    again, sheet = tmp_path / "again.csv", tmp_path / "bands.xlsx"
    assert main(["bands", str(out), "--csv", str(again)]) == 0
    assert again.read_text() == csv.read_text()
    assert main(["bands", str(out), "--xlsx", str(sheet)]) == 0
    a = pd.read_csv(csv)
    b = pd.read_excel(sheet, sheet_name="bands")
    assert list(a.columns) == list(b.columns)
    pd.testing.assert_frame_equal(a, b, check_dtype=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again.csv", "bands.xlsx"]


def test_bands_rows_are_the_rows_the_table_prints():
    """One row per series and month the table prints, in its order."""
    sc = threatsim.load_scenario(SCENARIOS / "financing.toml")
    ds = threatsim.run(sc, draws=200, seed=1, progress=False)
    rows = band_rows(ds, quantiles=sc.quantiles, report_months=sc.report_months)
    text = summary_table(ds, quantiles=sc.quantiles, report_months=sc.report_months)
    heads = [ln.split(" (")[0] for ln in text.splitlines() if "(usd" in ln or "(months)" in ln]
    assert heads == list(dict.fromkeys(r.label for r in rows))
    assert len([r for r in rows if r.month]) == len(heads[:-1]) * len(sc.report_months)


def test_missing_openpyxl_is_a_clear_error(fighters_run, tmp_path, monkeypatch, capsys):
    """Without openpyxl, --xlsx exits 2 naming the extra, and writes nothing."""
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "openpyxl" else real(name, *a))
    assert main(["bands", str(fighters_run[0]), "--xlsx", str(tmp_path / "b.xlsx")]) == 2
    err = capsys.readouterr().err
    assert "threatsim[xlsx]" in err
    assert len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_bands_refuses_a_wrong_suffix(fighters_run, tmp_path, capsys):
    assert main(["bands", str(fighters_run[0]), "--csv", str(tmp_path / "b.xlsx")]) == 2
    assert "--csv=" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_no_save_writes_nothing(tmp_path, monkeypatch, capsys):
    """run --no-save prints the table and leaves the folder empty (no results/, no PNG)."""
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(SCENARIOS / "financing.toml"), "--draws", "100",
                 "--no-save", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "reserves (usd)" in out
    assert "wrote nothing (--no-save)" in out
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("extra", [["--out", "x.nc"], ["--keep", "draws"],
                                   ["--checkpoint", "ck"]])
def test_no_save_refuses_options_that_write_the_run(extra, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(SCENARIOS / "financing.toml"), "--draws", "50", "--no-save",
                 "--quiet", *extra]) == 2
    err = capsys.readouterr().err
    assert f"{extra[0]}=" in err
    assert "--no-save" in err
    assert list(tmp_path.iterdir()) == []


def test_no_save_still_writes_an_explicit_csv(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(SCENARIOS / "financing.toml"), "--draws", "50", "--no-save",
                 "--quiet", "--csv", "b.csv"]) == 0
    assert [p.name for p in tmp_path.iterdir()] == ["b.csv"]


def test_run_out_zarr_round_trips(tmp_path):
    """run --out X.zarr writes a store that open_results reads as the run (and the bands
    command reads too); with --keep draws (a NetCDF stream) it is refused."""
    pytest.importorskip("zarr")
    store = tmp_path / "run.zarr"
    assert main(["run", str(SCENARIOS / "financing.toml"), "--draws", "60", "--seed", "3",
                 "--out", str(store), "--no-plot", "--quiet"]) == 0
    back = threatsim.open_results(store)
    sc = threatsim.load_scenario(SCENARIOS / "financing.toml")
    xr.testing.assert_identical(back, threatsim.run(sc, draws=60, seed=3, progress=False))
    assert main(["bands", str(store), "--csv", str(tmp_path / "b.csv")]) == 0
    assert main(["run", str(SCENARIOS / "financing.toml"), "--draws", "60", "--out",
                 str(tmp_path / "k.zarr"), "--keep", "draws", "--quiet"]) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.csv", "run.zarr"]


def test_sources_say_the_figure_as_the_report_hedged_it(capsys, monkeypatch):
    """'3,000 or more', 'between 14,000 and 18,000' and '13,000' (Source.figure), not
    'or more 3,000' and 'exact 13,000'."""
    monkeypatch.chdir(ROOT)
    assert main(["sources"]) == 0
    lines = {ln.split()[0]: ln for ln in capsys.readouterr().out.splitlines()}
    assert "3,000 or more people" in lines["fighters_hajin"]
    assert " 13,000 people" in lines["stateless_minors_iraq"]
    assert "between 14,000 and 18,000 people" in lines["militants_iraq_syria"]
    assert "up to 3,000 people" in lines["ftf_iraq_syria"]
    assert "more than 500 people" in lines["ftf_dependants_detained_ne_syria"]
    assert "nearly 1,000 people" in lines["ftf_detained_ne_syria"]
    text = "\n".join(lines.values())
    assert "or more 3" not in text
    assert "exact " not in text


def test_reached_lines_say_which_draws_their_bands_are_over():
    """Two waits reached in different draws: each line says how many draws its bands are
    over, and a note says they need not be ordered line to line."""
    n = 400
    rng = np.random.default_rng(0)
    median = rng.uniform(500, 1000, n)
    median[: n // 4] = np.nan  # reached in 300 of 400
    p90 = median + 100
    p90[: 3 * n // 4] = np.nan  # reached in 100 of 400
    ds = xr.Dataset({"wait_median": ("draw", median, {"units": "days"}),
                     "wait_p90": ("draw", p90, {"units": "days"})},
                    coords={"draw": np.arange(n), "time": np.array(["2019-01-01"],
                                                                   dtype="datetime64[ns]")},
                    attrs={"scenario_name": "toy", "run_id": "r", "seed": 1, "sampler": "mc"})
    text = summary_table(ds, quantiles=[0.05, 0.5, 0.95], report_months=[])
    assert "reached in 75.0% of draws (300 of 400); bands over those 300 draws only" in text
    assert "reached in 25.0% of draws (100 of 400); bands over those 100 draws only" in text
    assert "need not be ordered" in text
    med = np.nanquantile(median, 0.5)
    assert f"50% {med:,.0f}" in text or f"50% {round(med, -1):,.0f}" in text

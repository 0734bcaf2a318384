"""Leaderboards, references, ranking, calibration pictures and the ``score`` command."""

from __future__ import annotations

import csv
import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import threatsim
from threatsim.cli.main import main
from threatsim.outputs.leaderboard import (
    ORIENTATION,
    leaderboard,
    leaderboard_to_csv,
    leaderboard_totals,
    rank_scenarios,
    reference_forecasts,
)
from threatsim.outputs.observations import load_observations
from threatsim.outputs.plotting_calibration import coverage_plot, pit_histogram
from threatsim.outputs.scores import crps_interval

ROOT = Path(__file__).resolve().parents[1]
FINANCING = ROOT / "scenarios" / "financing.toml"
SYNTHETIC = ROOT / "scenarios" / "observations" / "synthetic.toml"


@pytest.fixture(scope="module")
def financing_run() -> xr.Dataset:
    """A small run of the financing scenario (the model the synthetic truths come from)."""
    return threatsim.run(threatsim.load_scenario(FINANCING), draws=1500, seed=3, progress=False)


@pytest.fixture(scope="module")
def board(financing_run) -> xr.Dataset:
    """The leaderboard of that run against the synthetic observations."""
    return leaderboard(financing_run, load_observations(SYNTHETIC, against=financing_run))


def test_leaderboard_has_every_score_with_its_orientation(board):
    """One row per observation; each score says which way is better."""
    assert board.sizes["observation"] == 6
    assert list(board["truth"].values) == ["point", "range", "range", "range", "at_least",
                                           "at_most"]
    for name, way in ORIENTATION.items():
        assert board[name].attrs["orientation"] == way
        assert board[name].dims == ("observation",)
    assert np.isnan(board["log_score"].sel(observation="reserves_2019_07"))
    finite = ["crps", "pit", "coverage_50", "coverage_90", "interval_score_90",
              "skill_persistence", "skill_widened"]
    assert all(np.isfinite(board[n]).all() for n in finite)


def test_persistence_reference_reads_the_previous_range_as_uniform(financing_run):
    """With ``previous``, persistence is the uniform over that range: its CRPS is closed-form."""
    obs = load_observations(SYNTHETIC, against=financing_run).only(["reserves_2020_01"])
    (o,) = obs
    refs = reference_forecasts(o, financing_run)
    a, b = o.previous.low, o.previous.high  # 50-300 million, S/2019/103 para 12
    assert refs["persistence"].min() > a
    assert refs["persistence"].max() < b
    # CRPS of U(a, b) against a uniform truth on [c, d] inside it, by numerical
    # integration of the closed-form CRPS of a uniform (Gneiting & Raftery 2007).
    c, d = o.low, o.high
    ys = np.linspace(c, d, 20_001)
    u = (ys - a) / (b - a)
    closed = (b - a) * (np.abs(u - np.clip(u, 0, 1)) + u**2 - u + 1 / 3)
    expected = np.trapezoid(closed, ys) / (d - c)
    assert crps_interval(refs["persistence"], c, d) == pytest.approx(expected, rel=1e-5)


def test_widened_reference_adds_the_run_spread_to_the_uniform(financing_run):
    """The widened reference is the uniform plus the centred run: variances add."""
    (o,) = load_observations(SYNTHETIC, against=financing_run).only(["reserves_2020_01"])
    refs = reference_forecasts(o, financing_run)
    a, b = o.previous.low, o.previous.high
    run_var = float(np.var(o.forecast(financing_run)))
    assert np.var(refs["widened"]) == pytest.approx((b - a) ** 2 / 12 + run_var, rel=0.02)
    assert np.var(refs["persistence"]) == pytest.approx((b - a) ** 2 / 12, rel=1e-4)


def test_a_forecast_equal_to_persistence_has_no_skill(financing_run):
    """A run whose forecast is the persistence reference itself scores skill 0."""
    (o,) = load_observations(SYNTHETIC, against=financing_run).only(["reserves_2020_01"])
    refs = reference_forecasts(o, financing_run)
    fake = financing_run.copy()
    month = np.datetime64("2020-01-01", "ns")
    n = financing_run.sizes["draw"]
    values = np.quantile(refs["persistence"], (np.arange(n) + 0.5) / n)
    fake["reserves"] = fake["reserves"].copy()
    fake["reserves"].loc[{"time": month}] = values
    b = leaderboard(fake, load_observations(SYNTHETIC, against=fake).only(["reserves_2020_01"]))
    assert b["skill_persistence"].item() == pytest.approx(0.0, abs=2e-3)


def test_totals_mean_and_skill_of_summed_scaled_scores(board):
    """The total row averages scores, hides CRPS across units and sums scaled scores for skill."""
    tot = leaderboard_totals(board)
    assert int(tot["n_observations"]) == 6
    assert int(tot["n_log_score"]) == 5
    assert math.isnan(float(tot["crps"]))  # usd and usd_per_month mixed
    assert float(tot["coverage_90"]) == pytest.approx(float(board["coverage_90"].mean()))
    scaled = board["crps_scaled"]
    ref = board["crps_persistence"] / board["scale"]
    assert float(tot["skill_persistence"]) == pytest.approx(
        1 - float(scaled.sum()) / float(ref.sum()))


def test_csv_has_rows_and_a_total(board, tmp_path):
    """The CSV holds one row per observation, then ``total``."""
    path = leaderboard_to_csv(board, tmp_path / "lb.csv")
    rows = list(csv.DictReader(path.open()))
    assert [r["observation"] for r in rows] == [*board["observation"].values, "total"]
    assert float(rows[0]["crps"]) == pytest.approx(float(board["crps"][0]))


def test_ranking_puts_the_shifted_run_last(financing_run):
    """A run moved far from the truths ranks below the run of the true model."""
    obs = load_observations(SYNTHETIC, against=financing_run)
    bad = financing_run.copy()
    bad["reserves"] = bad["reserves"] * 3.0 + 2e8
    bad["revenue"] = bad["revenue"] * 3.0
    ranks = rank_scenarios({"model": leaderboard(financing_run, obs),
                            "shifted": leaderboard(bad, obs)})
    assert ranks["rank"].sel(scenario="model") == 1
    assert ranks["rank"].sel(scenario="shifted") == 2
    assert float(ranks["crps_scaled"].sel(scenario="model")) < float(
        ranks["crps_scaled"].sel(scenario="shifted"))


def test_calibration_pictures_show_n_and_say_it_is_weak(board):
    """Both pictures state the number of observations and that few cannot identify calibration."""
    for figure in (pit_histogram(board), coverage_plot(board)):
        texts = " ".join(t.get_text() for t in figure.texts)
        assert "n = 6 observations" in texts
        assert "weakly identified" in texts
        assert "6 observations" in figure.axes[0].get_title()


def test_synthetic_file_matches_its_script():
    """The script regenerates the shipped file's observations; each truth lies in its range."""
    spec = importlib.util.spec_from_file_location(
        "make_synthetic_observations", ROOT / "scripts" / "make_synthetic_observations.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    truth = script.truth_run()
    shipped = load_observations(SYNTHETIC, against=truth)
    assert [(o.id, o.variable, o.month_label, o.kind) for o in shipped] == [
        (oid, var, month, {"point": "point", "between": "range", "more_than": "at_least",
                           "up_to": "at_most"}[wording])
        for oid, var, month, wording, _ in script.PLAN]
    for o in shipped:
        value = script.truth_value(truth, o.variable, o.month_label)
        assert o.low <= value + 0.05, o.id
        assert value - 0.05 <= o.high, o.id


def test_past_observations_score_the_balkans_cohort():
    """The para 37 figures score a run of scenarios/balkans_cohort.toml (in-sample check)."""
    sc = threatsim.load_scenario(ROOT / "scenarios" / "balkans_cohort.toml")
    ds = threatsim.run(sc, draws=300, seed=5, progress=False)
    obs = load_observations(ROOT / "scenarios" / "observations" / "S-2019-103-past.toml",
                            against=ds, only=["balkans_*"])
    b = leaderboard(ds, obs)
    assert list(b["truth"].values) == ["at_least", "point"]
    assert np.isfinite(b["crps"]).all()
    # persistence carries the cohort's start (nobody killed or returned yet) forward
    assert (b["skill_persistence"] > 0).all()


# --- the command -------------------------------------------------------------------


def test_cli_score_end_to_end(tmp_path, capsys):
    """``threatsim run`` then ``threatsim score RUN.nc OBS.toml`` prints, writes CSV and PNGs."""
    nc = tmp_path / "run.nc"
    assert main(["run", str(FINANCING), "--draws", "500", "--out", str(nc), "--no-plot",
                 "--quiet"]) == 0
    capsys.readouterr()
    out_csv, figs = tmp_path / "lb.csv", tmp_path / "figs"
    assert main(["score", str(nc), str(SYNTHETIC), "--csv", str(out_csv),
                 "--plot", str(figs)]) == 0
    text = capsys.readouterr().out
    assert "reserves_2020_01" in text
    assert "total (mean)" in text
    assert "lower is better" in text
    assert "weakly identified" in text
    assert (figs / "pit_histogram.png").stat().st_size > 0
    assert (figs / "coverage.png").stat().st_size > 0
    assert sum(1 for _ in out_csv.open()) == 1 + 6 + 1


def test_cli_score_ranks_scenarios(tmp_path, capsys):
    """``--scenarios A B --obs OBS`` runs each scenario and prints a ranking."""
    other = tmp_path / "heavy_seizure.toml"
    other.write_text(FINANCING.read_text()
                     .replace('name = "financing"', 'name = "heavy_seizure"')
                     .replace("seizure_effort = 1.0", "seizure_effort = 5.0"))
    (tmp_path / "sources").symlink_to(ROOT / "scenarios" / "sources")
    out_csv = tmp_path / "both.csv"
    assert main(["score", "--scenarios", str(FINANCING), str(other), "--obs", str(SYNTHETIC),
                 "--draws", "300", "--csv", str(out_csv)]) == 0
    text = capsys.readouterr().out
    assert "rank" in text
    assert "heavy_seizure" in text
    assert "financing" in text
    rows = list(csv.DictReader(out_csv.open()))
    assert {r["scenario"] for r in rows} == {"financing", "heavy_seizure"}
    assert sum(r["observation"] == "total" for r in rows) == 2


@pytest.mark.parametrize("argv", [
    ["score", "--scenarios", "a.toml"],
    ["score", "only_one.nc"],
])
def test_cli_score_usage_errors(argv, capsys):
    """Wrong combinations of arguments exit 2 with one line saying how to call it."""
    assert main(argv) == 2
    assert "use: threatsim score" in capsys.readouterr().err


def test_cli_score_bad_observations_write_nothing(tmp_path, capsys):
    """An observation the run cannot score exits 2, names it, and writes no CSV."""
    nc = tmp_path / "run.nc"
    assert main(["run", str(FINANCING), "--draws", "50", "--out", str(nc), "--no-plot",
                 "--quiet"]) == 0
    bad = tmp_path / "bad.toml"
    bad.write_text(SYNTHETIC.read_text().replace('date = "2022-01"', 'date = "2030-01"'))
    capsys.readouterr()
    assert main(["score", str(nc), str(bad), "--csv", str(tmp_path / "x.csv")]) == 2
    err = capsys.readouterr().err
    assert "reserves_2022_01.date='2030-01' is outside the run" in err
    assert not (tmp_path / "x.csv").exists()

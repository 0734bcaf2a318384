"""Paired comparisons with common random numbers: exact zeros, closed forms, refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr
from tests.analysis_toy import toy_scenario, toy_toml
from tests.conftest import SCENARIOS

import threatsim
from threatsim.analysis.compare import compare, comparison_table, scenario_changes
from threatsim.cli.main import main
from threatsim.core.errors import ScenarioError
from threatsim.models.registry import get_model


def test_a_scenario_against_itself_differs_by_exactly_zero(toy_model):
    """Compare(s, s): every paired difference is 0, P(better) is 0 and no probability moves."""
    sc = toy_scenario(decay=0.02, shock_rate=0.3)  # the model's own chance is in play
    cds = threatsim.compare(sc, sc, draws=300)
    for name in ("stock", "by_region", "half_month"):
        diff = cds[f"{name}_diff"].values
        assert np.all((diff == 0) | np.isnan(diff)), name
        assert np.all(cds[f"{name}_p_exceed_diff"].values == 0)
        assert np.nanmax(cds[f"{name}_p_better"].values) == 0
    assert json.loads(cds.attrs["changes"]) == []
    assert "nothing (same resolved scenario)" in comparison_table(cds)


def test_financing_against_itself_differs_by_exactly_zero(financing_path):
    """The shipped financing scenario compared with itself: paired differences are all 0."""
    sc = threatsim.load_scenario(financing_path)
    cds = threatsim.compare(sc, sc, draws=200)
    diff = cds["reserves_diff"].values
    assert np.all(diff == 0)
    xr.testing.assert_equal(cds["reserves"].sel(scenario="base", drop=True),
                            cds["reserves"].sel(scenario="whatif", drop=True))


def test_decay_lever_difference_matches_the_closed_form(toy_model):
    """Decay 1 % vs 3 %/month, no shocks: diff[t] = stock0 (0.97^t - 0.99^t) draw by draw."""
    base, what = toy_scenario(decay=0.01), toy_scenario(decay=0.03, name="faster")
    cds = threatsim.compare(base, what, draws=250, seed=5)
    stock0 = cds["stock0"].sel(scenario="base").values
    t = np.arange(cds.sizes["time"])
    expected = stock0[:, None] * (0.97 ** t - 0.99 ** t)[None, :]
    np.testing.assert_allclose(cds["stock_diff"].values, expected, rtol=1e-12, atol=1e-12)
    # Both runs saw the same parameter values (common random numbers).
    np.testing.assert_array_equal(cds["stock0"].sel(scenario="base"),
                                  cds["stock0"].sel(scenario="whatif"))
    # Lower is better: the what-if is better in every draw after month 0, and never at 0.
    p = cds["stock_p_better"].values
    assert p[0] == 0
    assert np.all(p[1:] == 1)
    bands = cds["stock_diff_bands"].sel(quantile=0.5).values
    np.testing.assert_allclose(bands, np.median(expected, axis=0), rtol=1e-12, atol=1e-12)


def test_common_random_numbers_reach_the_models_own_chance(toy_model):
    """With Poisson shocks the ratio what-if / base is still exactly (0.97/0.99)^t per draw."""
    base = toy_scenario(decay=0.01, shock_rate=0.4)
    what = toy_scenario(decay=0.03, shock_rate=0.4, name="faster")
    cds = threatsim.compare(base, what, draws=300)
    s = cds["stock"]
    ratio = (s.sel(scenario="whatif") / s.sel(scenario="base")).values
    t = np.arange(cds.sizes["time"])
    np.testing.assert_allclose(ratio, np.broadcast_to((0.97 / 0.99) ** t, ratio.shape),
                               rtol=1e-12)
    # The shocks did happen: the base's stock varies more than stock0 alone explains.
    assert np.any(s.sel(scenario="base").values[:, -1] < 100 * 0.99 ** 12)


def test_exceedance_difference_and_better_direction(toy_model):
    """A given level: P(stock above it) per run and its difference; 'higher' flips P(better)."""
    base, what = toy_scenario(decay=0.0), toy_scenario(decay=0.1, name="fast")
    cds = threatsim.compare(base, what, draws=400, levels={"stock": 150.0},
                            better={"stock": "higher"})
    stock0 = cds["stock0"].sel(scenario="base").values
    last = cds.sizes["time"] - 1
    p = cds["stock_p_exceed"].isel(time=last)  # higher is better: the bad side is below
    assert cds["stock_p_exceed"].attrs["side"] == "below"
    assert float(p.sel(scenario="base")) == pytest.approx(np.mean(stock0 < 150.0))
    assert float(p.sel(scenario="whatif")) == pytest.approx(
        np.mean(stock0 * 0.9 ** last < 150.0))
    assert float(cds["stock_p_exceed_diff"].isel(time=last)) == pytest.approx(
        float(p.sel(scenario="whatif") - p.sel(scenario="base")))
    assert float(cds["stock_p_better"].isel(time=last)) == 0.0


def test_text_lists_what_the_whatif_changed():
    """The resolved scenarios are diffed key by key (the shipped what-if's levers)."""
    base = threatsim.load_scenario(SCENARIOS / "baseline.toml")
    what = threatsim.load_scenario(SCENARIOS / "whatif" / "counter_financing_doubled.toml")
    changes = {k: (a, b) for k, a, b in scenario_changes(base, what)}
    assert changes, "the shipped what-if changes something"
    assert all(k.startswith(("levers.", "timeline", "parameters.")) for k in changes)


def test_cli_compare_prints_changes_and_writes_netcdf(toy_model, tmp_path, capsys):
    """`threatsim compare` prints the key-by-key diff and the paired table; --out writes it."""
    a = toy_toml(tmp_path / "a.toml", decay=0.01)
    b = toy_toml(tmp_path / "b.toml", decay=0.02)
    out = tmp_path / "cmp.nc"
    assert main(["compare", str(a), str(b), "--draws", "200", "--quiet", "--out", str(out),
                 "--level", "stock=120"]) == 0
    text = capsys.readouterr().out
    assert "levers.decay: 0.01 -> 0.02" in text
    assert "P(better)" in text
    assert "level = $120" in text
    ds = xr.load_dataset(out)
    assert list(ds["scenario"].values) == ["base", "whatif"]


def test_comparing_different_horizons_or_models_is_refused(toy_model, tmp_path, financing_path,
                                                            capsys):
    """Different horizons or models: ScenarioError from the API, exit status 2 from the CLI."""
    with pytest.raises(ScenarioError, match="horizon"):
        threatsim.compare(toy_scenario(horizon=12), toy_scenario(horizon=6), draws=10)
    a = toy_toml(tmp_path / "a.toml", horizon=12)
    b = toy_toml(tmp_path / "b.toml", horizon=6)
    assert main(["compare", str(a), str(b), "--draws", "10", "--quiet"]) == 2
    assert "horizon" in capsys.readouterr().err
    assert main(["compare", str(financing_path), str(a), "--draws", "10", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "model" in err
    assert "start" in err


def test_bad_better_and_level_are_refused(toy_model):
    """A 'better' other than lower/higher, or a level for an output not compared: ScenarioError."""
    sc = toy_scenario()
    with pytest.raises(ScenarioError, match="lower"):
        threatsim.compare(sc, sc, draws=10, better="smaller")
    with pytest.raises(ScenarioError, match="level"):
        threatsim.compare(sc, sc, draws=10, levels={"stok": 1.0})


def test_pairing_gain_is_the_ratio_of_unpaired_to_paired_variance():
    """(Var a + Var b) / Var(b - a), from numpy's variances: an outside reference."""
    from threatsim.analysis.compare import pairing_gain

    a = np.array([3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0])
    b = a + np.array([0.5, -0.2, 0.1, 0.0, 0.3, -0.4, 0.2, 0.1])
    expected = (np.var(a, ddof=1) + np.var(b, ddof=1)) / np.var(b - a, ddof=1)
    got = float(pairing_gain(xr.DataArray(a, dims="draw"), xr.DataArray(b, dims="draw")))
    assert got == pytest.approx(expected, rel=1e-12)
    assert float(pairing_gain(xr.DataArray(a, dims="draw"), xr.DataArray(a, dims="draw"))) \
        == np.inf
    flat = xr.DataArray(np.ones(4), dims="draw")
    assert np.isnan(float(pairing_gain(flat, flat)))


def test_compare_reports_the_pairing_gain_per_output(financing_path):
    base = threatsim.load_scenario(financing_path)
    whatif = base.with_values({"levers.seizure_effort": 2.0})
    cds = threatsim.compare(base, whatif, draws=300, seed=4)
    gain = cds["reserves_pairing_gain"]
    assert gain.dims == ("time",)
    # month 0 is before any lever acts: the same on every draw
    assert float(gain.isel(time=0)) == np.inf
    assert float(gain.isel(time=-1)) > 1  # pairing helps once the runs differ
    assert "pairing" in comparison_table(cds)


def test_better_follows_the_models_declarations_by_default(financing_path):
    """Doubling seizure effort: seized is better when higher (declared), reserves when lower,
    and spending has no direction (no P(better)); a given ``better`` overrides them."""
    sc = threatsim.load_scenario(financing_path)
    what = sc.with_values({"levers.seizure_effort": 2.0})
    cds = threatsim.compare(sc, what, draws=200, seed=3)
    assert json.loads(cds.attrs["better"]) == {
        "reserves": "lower", "revenue": "lower", "spending": "none", "seized": "higher",
        "depletion_month": "lower"}
    # In the first month more effort seizes more in every draw (later, less is left to
    # seize), and from then on it leaves less in reserve.
    assert float(cds["seized_p_better"].isel(time=1)) == 1.0
    assert float(cds["reserves_p_better"].isel(time=2)) == 1.0
    assert np.all(np.isnan(cds["spending_p_better"].values))
    assert "spending (usd_per_month); no way is better" in comparison_table(cds)
    flipped = threatsim.compare(sc, what, draws=200, seed=3, better={"seized": "lower"})
    assert float(flipped["seized_p_better"].isel(time=1)) == 0.0
    with pytest.raises(ScenarioError, match="'lower', 'higher' or 'none'"):
        threatsim.compare(sc, what, draws=10, better="smaller")


# --- compartments one by one, and differences against Monte Carlo noise (issue 22 part 4) ---

def _section(table: str, title: str) -> list[str]:
    """The rows of the table section headed *title* (header and month rows)."""
    blocks = table.split("\n\n")
    block = next(b for b in blocks if b.startswith(title + " ("))
    return block.splitlines()


@pytest.fixture(scope="module")
def prosecution_halved():
    base = threatsim.load_scenario(SCENARIOS / "baseline.toml")
    whatif = threatsim.load_scenario(SCENARIOS / "whatif" / "prosecution_halved.toml")
    return compare(base, whatif, draws=120, seed=11)


def test_compare_reports_each_compartment_with_its_declared_direction(prosecution_halved):
    """A population is never added up over compartments: the active are better fewer, the
    detained, imprisoned and killed have no better way (the model's declarations)."""
    cds = prosecution_halved
    table = comparison_table(cds)
    assert "\npopulation (people)" not in table  # the old sum over every compartment
    comps = [str(c) for c in cds["compartment"].values]
    for comp in comps:
        head = _section(table, f"population {comp}")[0]
        decl = next(o for o in get_model("coupled").info.outputs if o.name == "population")
        declared = decl.better_by_compartment.get(comp) or decl.better
        assert (f"{declared} is better" if declared else "no way is better") in head, head
        assert "summed over region" in head
    # P(better) of the active foreign fighters in the last month, from the draws
    total = cds["population"].sel(compartment="active_foreign").isel(time=-1).sum("region")
    diff = (total.sel(scenario="whatif") - total.sel(scenario="base")).values
    expected = f"{np.mean(diff < 0):.1%}"
    last = _section(table, "population active_foreign")[-1].split()
    assert last[0] == str(np.datetime64(cds.time.values[-1], "M"))
    assert expected in last, (expected, last)


def test_noise_verdict_is_the_t_statistic_against_two():
    """'noise' exactly when the one-sample t statistic of the paired differences is at
    most 2 in size (scipy.stats.ttest_1samp as the reference)."""
    from scipy import stats

    from threatsim.analysis.compare import NOISE_SE, difference_verdict

    rng = np.random.default_rng(5)
    seen = set()
    for shift in np.linspace(0.0, 0.6, 25):
        x = rng.normal(shift, 1.0, size=50)
        t = stats.ttest_1samp(x, 0.0).statistic
        verdict = difference_verdict(x)
        assert verdict == ("noise" if abs(t) <= NOISE_SE else "clear"), (shift, t, verdict)
        seen.add(verdict)
    assert seen == {"noise", "clear"}  # both sides were tried
    assert difference_verdict(np.array([0.0, 0.0, np.nan])) == "no change"
    assert difference_verdict(np.array([np.nan])) == "-"


def test_compare_table_marks_each_row_against_noise(prosecution_halved):
    """Each row's 'vs noise' cell is the verdict on that row's paired differences (recomputed
    here with scipy's t statistic); the table says what the mark means."""
    from scipy import stats

    cds = prosecution_halved
    table = comparison_table(cds)
    assert "vs noise: 'noise' where the mean paired difference is within 2 standard" in table
    months = [str(np.datetime64(t, "M")) for t in cds.time.values]
    checked = 0
    for comp in ("active_local", "killed"):
        x = cds["population"].sel(compartment=comp).sum("region")
        for line in _section(table, f"population {comp}")[2:]:
            cells = line.split()
            d = (x.sel(scenario="whatif") - x.sel(scenario="base")).isel(
                time=months.index(cells[0])).values.astype(float)
            if np.all(d == 0):
                expected = "no change"
            else:
                expected = ("noise" if abs(stats.ttest_1samp(d, 0.0).statistic) <= 2
                            else "clear")
            assert (" no change " in line) if expected == "no change" else (
                f" {expected} " in line), (comp, line, expected)
            checked += 1
    assert checked == 8  # two compartments, four report months each


def test_a_base_run_given_is_used_as_is_and_checked(financing_path):
    """compare(..., base_run=ds) gives the Dataset a fresh comparison gives (determinism);
    a run with other options is refused, naming what differs."""
    base = threatsim.load_scenario(financing_path)
    whatif = base.with_values({"levers.seizure_effort": 2.0})
    ds = threatsim.run(base, draws=300, seed=4, progress=False)
    fresh = compare(base, whatif, draws=300, seed=4)
    reused = compare(base, whatif, draws=300, seed=4, base_run=ds)
    assert reused.identical(fresh)
    with pytest.raises(ScenarioError, match=r"seed 4 \(this comparison: 5\)"):
        compare(base, whatif, draws=300, seed=5, base_run=ds)
    with pytest.raises(ScenarioError, match=r"run_id"):
        compare(whatif, base, draws=300, seed=4, base_run=ds)


def test_the_brief_runs_its_base_once(monkeypatch):
    """A brief with two what-ifs runs three scenarios, not five (the base once)."""
    from threatsim.analysis import compare as compare_module
    from threatsim.outputs import report

    calls = []
    real = compare_module.run_with

    def counting(scenario, options):
        calls.append(scenario.name)
        return real(scenario, options)

    monkeypatch.setattr(compare_module, "run_with", counting)
    base = threatsim.load_scenario(SCENARIOS / "financing.toml")
    w1 = base.with_values({"levers.seizure_effort": 2.0, "name": "w1"})
    w2 = base.with_values({"levers.seizure_effort": 3.0, "name": "w2"})
    report.brief(base, [w1, w2], draws=100, seed=1)
    assert calls == ["w1", "w2"]  # the base ran once, in brief() itself, not in compare

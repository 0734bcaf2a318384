"""Bounded memory: exact bands from streamed chunks, trajectories streamed to disk, flat peaks."""

from __future__ import annotations

import gc
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.conftest import SCENARIOS
from tests.test_executors import MODELS, SCENARIOS_BY_MODEL

import threatsim
from threatsim.engine import exact_quantiles
from threatsim.engine.exact_quantiles import ExactQuantiles
from threatsim.engine.options import RunOptions
from threatsim.engine.plan import sample_lean
from threatsim.engine.summary import summary_bins
from threatsim.results import bands, sample_dims, write_netcdf
from threatsim.stats.binning import float_keys, key_floats

QS = [0.05, 0.25, 0.5, 0.75, 0.95]


def _stream(x: np.ndarray, chunk: int, qs, windows: bool = False, narrow: bool = False,
            budget: int | None = None, **options) -> tuple[np.ndarray, int]:
    eq = ExactQuantiles(x.shape[1], qs, **options)
    if windows:  # the one-pass windows around the pilot's quantiles
        eq.expected_rows = x.shape[0]
    if narrow:  # ... which may then be planned on the narrowing, within *budget*
        eq.narrows_from = chunk
    if budget is not None:
        eq.WINDOW_BUDGET = budget
    passes = 0
    while eq.needs_pass:
        for i in range(0, x.shape[0], chunk):
            eq.feed(x[i:i + chunk])
            if narrow:  # as StreamingSummary does between stretches of chunks
                eq.narrow_windows()
        eq.end_pass()
        passes += 1
    return eq.result(), passes


def _sample(kind: str, rng: np.random.Generator, n: int, c: int) -> np.ndarray:
    if kind == "lognormal":
        return rng.lognormal(18, 1, (n, c))
    if kind == "ties":  # many exact zeros, as depleted reserves
        x = rng.lognormal(18, 1, (n, c))
        x[rng.random((n, c)) < 0.4] = 0.0
        return x
    if kind == "counts":  # people: small integers, ties everywhere
        return rng.poisson(3.0, (n, c)).astype(np.float64)
    x = rng.standard_normal((n, c))  # NaN and infinities
    x[rng.random((n, c)) < 0.1] = np.nan
    x[rng.random((n, c)) < 0.01] = np.inf
    x[rng.random((n, c)) < 0.01] = -np.inf
    x[:, 0] = np.nan
    return x


@settings(max_examples=25, deadline=None)
@given(kind=st.sampled_from(["lognormal", "ties", "counts", "nan_inf"]),
       n=st.integers(1, 3000), chunk=st.integers(1, 700), pilot=st.integers(1, 500),
       cap=st.integers(1, 64), bins=st.integers(1, 64), seed=st.integers(0, 2**32 - 1),
       qs=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=4), windows=st.booleans(),
       narrow=st.booleans(), ordered=st.booleans(),
       budget=st.sampled_from([None, 0, 16, 256, 4096]))
def test_streamed_quantiles_equal_numpy_bit_for_bit(kind, n, chunk, pilot, cap, bins, seed, qs,
                                                    windows, narrow, ordered, budget):
    """Any data, chunking, pilot, cap, bins (tiny ones force refinement), windows narrowed
    after every chunk or not (and planned on it, within budgets small enough to turn
    them down or cap them), rows in sorted order (the pilot and the early counts then
    place every quantile wrongly): == numpy."""
    x = _sample(kind, np.random.default_rng(seed), n, 3)
    if ordered:
        x = np.sort(x, axis=0)
    got, _ = _stream(x, chunk, qs, windows, narrow, budget, pilot_rows=pilot, cap=cap,
                     bins=bins)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns give NaN
        want = np.nanquantile(x, qs, axis=0)
    np.testing.assert_array_equal(got, want)


def test_typical_data_takes_one_pass_with_windows_and_two_without():
    """200,000 draws: one pass when the pilot's windows fit the budget, else exactly two."""
    x = _sample("ties", np.random.default_rng(3), 200_000, 5)
    for windows, expected in ((True, 1), (False, 2)):
        got, passes = _stream(x, 20_000, QS, windows)
        assert passes == expected
        np.testing.assert_array_equal(got, np.quantile(x, QS, axis=0))


def test_narrowed_windows_keep_fewer_values_and_the_same_quantiles():
    """Pass 1's windows narrowed to the counts so far keep a fraction of the values the
    pilot's windows keep, in one pass still, with the same quantiles as numpy."""
    x = _sample("ties", np.random.default_rng(5), 400_000, 4)
    kept = {}
    for narrow in (False, True):
        eq = ExactQuantiles(x.shape[1], QS)
        eq.expected_rows = x.shape[0]
        changed = []
        for i in range(0, x.shape[0], 10_000):
            eq.feed(x[i:i + 10_000])
            if narrow and i in (40_000, 160_000):
                changed.append(eq.narrow_windows())
        kept[narrow] = eq.window_values_kept()
        eq.end_pass()
        assert not eq.needs_pass  # one pass, narrowed or not
        np.testing.assert_array_equal(eq.result(), np.quantile(x, QS, axis=0))
        assert all(changed)
        assert len(changed) == (2 if narrow else 0)
    assert kept[True] < 0.7 * kept[False], kept


def test_a_window_narrowed_away_from_its_quantile_takes_a_second_pass():
    """Rows in sorted order: the counts at mid-pass put every quantile low, the windows
    narrowed there miss the final ones, and a second pass still finds them exactly."""
    narrowed = False
    x = np.sort(_sample("lognormal", np.random.default_rng(6), 200_000, 2), axis=0)
    eq = ExactQuantiles(x.shape[1], QS)
    eq.expected_rows = x.shape[0]
    for i in range(0, x.shape[0], 10_000):
        eq.feed(x[i:i + 10_000])
        if i == 100_000:
            narrowed = eq.narrow_windows()
    eq.end_pass()
    assert narrowed
    assert eq.needs_pass
    while eq.needs_pass:
        for i in range(0, x.shape[0], 10_000):
            eq.feed(x[i:i + 10_000])
        eq.end_pass()
    np.testing.assert_array_equal(eq.result(), np.quantile(x, QS, axis=0))


def test_windows_too_wide_for_the_budget_take_one_pass_when_narrowed(monkeypatch):
    """A budget between what the pilot's +-5 sd windows would hold over 10^6 rows (about
    14 % of each cell's values for these quantiles: 2 x 5 sd of 16,384 pilot rows) and
    what they hold narrowed (+-5 sd of an eighth of the rows, about 8 %): one pass when
    the windows are narrowed on StreamingSummary's schedule, two when they are not
    (the budget then turns the windows down), the same quantiles as numpy either way,
    and the windows never hold more than their caps allow (1.5x the budget)."""
    from threatsim.engine.summary import _narrowing_stops

    n, chunk, cells = 1_000_000, 16_384, 4
    x = _sample("lognormal", np.random.default_rng(11), n, cells)
    pilot_share = sum(2 * 5 * np.sqrt(q * (1 - q) / exact_quantiles.PILOT_ROWS) for q in QS)
    budget = int(0.8 * pilot_share * n * cells)  # ~450,000 values: under the pilot's
    monkeypatch.setattr(ExactQuantiles, "WINDOW_BUDGET", budget)
    stops = _narrowing_stops(1, -(-n // chunk), chunk)
    assert stops
    want = np.quantile(x, QS, axis=0)
    for narrowed, passes_expected in ((True, 1), (False, 2)):
        eq = ExactQuantiles(cells, QS)
        eq.expected_rows = n
        eq.narrows_from = stops[0] * chunk if narrowed else None
        passes, most_kept = 0, 0
        while eq.needs_pass:
            for k, i in enumerate(range(0, n, chunk)):
                eq.feed(x[i:i + chunk])
                if narrowed and eq.pass_no == 1 and k + 1 in stops:
                    eq.narrow_windows()
                    most_kept = max(most_kept, eq.window_values_kept())
            if eq.pass_no == 1:
                most_kept = max(most_kept, eq.window_values_kept())
            eq.end_pass()
            passes += 1
        assert passes == passes_expected
        np.testing.assert_array_equal(eq.result(), want)
        assert most_kept <= 1.5 * budget + 1024 * 4 * len(QS), (most_kept, budget)
        assert (most_kept > 0) == narrowed


def test_a_summary_narrows_windows_the_pilot_alone_would_not_fit(monkeypatch):
    """The run's own pass-1 schedule: with a budget only the narrowed windows fit, the
    financing model's summary of 200,000 draws takes one pass (two without the
    narrowing hint, as before it), and its bands are those of every draw kept. A pilot
    of 1,024 rows stands for the default 16,384 at a sixteenth of the draws."""
    from threatsim.engine import summary

    monkeypatch.setattr(exact_quantiles, "PILOT_ROWS", 1024)
    sc = SCENARIOS_BY_MODEL["financing"]
    run = {"draws": 200_000, "chunk_size": 1024, "seed": 4, "progress": False}
    full = threatsim.run(sc, **run)
    passes: list[int] = []
    end_pass = summary.StreamingSummary._end_pass

    def counted(self):
        passes.append(self.pass_no)
        return end_pass(self)

    monkeypatch.setattr(summary.StreamingSummary, "_end_pass", counted)
    for budget, expected in ((1_400_000, [1]), (0, [1, 2])):
        # each output's windows are expected to hold 1.55-1.79 M values at the pilot's
        # width and 0.48-1.26 M narrowed (measured on this run): 1.4 M lies between
        monkeypatch.setattr(ExactQuantiles, "WINDOW_BUDGET", budget)
        passes.clear()
        summ = threatsim.run(sc, keep="summary", **run)
        assert passes == expected, budget
        for name in sc.variables:
            if "time" in full[name].dims:
                np.testing.assert_array_equal(summ[name].values,
                                              bands(full[name], sc.quantiles).values)


def test_float_keys_preserve_order_and_invert():
    """The integer keys sort as the floats do, and map back exactly."""
    x = np.array([-np.inf, -1e300, -1.0, -5e-324, -0.0, 0.0, 5e-324, 1.0, 1e300, np.inf])
    k = float_keys(x)
    assert np.all(np.diff(k.astype(object)) > 0)
    np.testing.assert_array_equal(key_floats(k), x)


@pytest.mark.parametrize("model", MODELS)
def test_summary_equals_the_bands_of_the_full_run(model, monkeypatch):
    """keep='summary' gives exactly bands(), P(=0), per-draw outputs and parameters of the
    full run."""
    monkeypatch.setattr(exact_quantiles, "PILOT_ROWS", 6)  # a tiny pilot: the multi-pass path
    sc = SCENARIOS_BY_MODEL[model]
    run = {"draws": 9, "chunk_size": 4, "replicates": 2, "seed": 8, "progress": False}
    full = threatsim.run(sc, **run)
    summ = threatsim.run(sc, keep="summary", **run)
    assert summ.attrs["keep"] == "summary"
    for name in sc.variables:
        da = full[name]
        if "time" not in da.dims:
            xr.testing.assert_identical(da, summ[name])
            continue
        np.testing.assert_array_equal(summ[name].values, bands(da, sc.quantiles).values)
        extra = [d for d in da.dims if d not in ("draw", "replicate", "time")]
        if extra:
            total = bands(da.sum(extra), sc.quantiles)
            np.testing.assert_array_equal(summ[f"{name}_sum"].values, total.values)
        if da.attrs.get("kind") == "stock":
            zero = (da == 0).mean(sample_dims(da))
            np.testing.assert_array_equal(summ[f"p_zero_{name}"].values, zero.values)
    for name in sc.parameters:
        xr.testing.assert_identical(full[name], summ[name])
    _assert_mcse_as_from_every_draw(sc, full, summ)


def _assert_mcse_as_from_every_draw(sc, full: xr.Dataset, summ: xr.Dataset) -> None:
    """mcse_<name> equals mcse_quantile() of the full run (an independent code path: sort
    every cell) to rounding (numpy's and our interpolation formulas may differ in the last
    bit), where a cell has no NaN rows; NaN where it has (other Beta levels)."""
    from threatsim.analysis.convergence import mcse_quantile

    checked = 0
    for name in sc.variables:
        da = full[name]
        if "time" not in da.dims:
            continue
        extra = [d for d in da.dims if d not in ("draw", "replicate", "time")]
        for key, sample in ((name, da), *(((f"{name}_sum", da.sum(extra, skipna=False)),)
                                          if extra else ())):
            want = mcse_quantile(sample, sc.quantiles).values
            got = summ[f"mcse_{key}"].values
            complete = np.broadcast_to(~sample.isnull().any(sample_dims(sample)).values,
                                       want.shape)
            assert np.isnan(got[~complete]).all(), key
            scale = max(1.0, float(np.nanmax(np.abs(summ[key].values), initial=0.0)))
            np.testing.assert_allclose(got[complete], want[complete], rtol=1e-12,
                                       atol=1e-12 * scale, err_msg=key)
            checked += int(complete.sum())
    assert checked > 0


@pytest.mark.parametrize("model", ["financing", "fighters"])
def test_summary_mcse_on_the_one_pass_path(model):
    """With the default pilot (windows collected in pass 1), the standard errors of a
    summary are those of the full run too; the printed table carries them."""
    from threatsim.cli.table import summary_table

    sc = SCENARIOS_BY_MODEL[model]
    run = {"draws": 3000, "chunk_size": 700, "seed": 9, "progress": False}
    full = threatsim.run(sc, **run)
    summ = threatsim.run(sc, keep="summary", **run)
    _assert_mcse_as_from_every_draw(sc, full, summ)
    assert "± Monte Carlo standard error" in summary_table(
        summ, quantiles=sc.quantiles, report_months=sc.report_months)


@pytest.mark.parametrize("model", ["financing", "fighters"])
def test_draws_streamed_to_netcdf_read_back_as_the_full_run(model, tmp_path: Path):
    """out=PATH writes, chunk by chunk, the file write_netcdf writes from the in-memory run."""
    if model not in SCENARIOS_BY_MODEL:
        pytest.skip(f"no {model} model registered")
    sc = SCENARIOS_BY_MODEL[model]
    run = {"draws": 25, "chunk_size": 6, "replicates": 2, "seed": 2, "progress": False}
    full = threatsim.run(sc, **run)
    write_netcdf(full, tmp_path / "memory.nc")
    summ = threatsim.run(sc, out=tmp_path / "streamed.nc", **run)
    assert summ.attrs["draws_file"] == str(tmp_path / "streamed.nc")
    xr.testing.assert_identical(threatsim.open_results(tmp_path / "memory.nc"),
                                threatsim.open_results(tmp_path / "streamed.nc"))
    xr.testing.assert_identical(threatsim.open_results(tmp_path / "streamed.nc"), full)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["memory.nc", "streamed.nc"]


def _peak(fn) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_peak_memory_stays_flat_as_draws_grow_tenfold(tmp_path: Path, monkeypatch):
    """10x the draws: the summary's and the streamed run's peaks grow only by the per-draw values.

    Per-draw values (sampled parameters, per-draw outputs) are kept by design;
    the trajectories (here 4 outputs x 37 months) must not be. The in-memory run
    is measured too, to show the measure does see trajectories when they are kept.
    """
    # the pilot (a fixed number of values per cell, freed after pass 1) below both sizes
    monkeypatch.setattr(exact_quantiles, "PILOT_ROWS", 1_000)
    sc = threatsim.load_scenario(SCENARIOS / "financing.toml")
    small, big, cs = 8_000, 80_000, 2_000
    per_draw = 8 * (len(sc.parameters) + 1)  # parameters and depletion_month, float64
    trajectories = 8 * 4 * (sc.horizon + 1) * big

    def run(n: int, **kw):
        return lambda: threatsim.run(sc, draws=n, chunk_size=cs, seed=1, progress=False, **kw)

    summary = {n: _peak(run(n, keep="summary")) for n in (small, big)}
    streamed = {n: _peak(run(n, out=tmp_path / f"{n}.nc")) for n in (small, big)}
    in_memory = _peak(run(big))
    # the one-pass windows: up to 1.5x WINDOW_BUDGET distinct values and their counts,
    # twice that before they are consolidated
    windows = 48 * ExactQuantiles.WINDOW_BUDGET
    for peaks, extra in ((summary, windows), (streamed, windows)):
        growth = peaks[big] - peaks[small]
        # sampling holds one parameter's uniforms and values at once
        assert growth <= 2.5 * per_draw * (big - small) + extra, (peaks, per_draw)
        assert peaks[big] < 0.5 * trajectories + extra, (peaks, trajectories)
    assert in_memory > trajectories
    # without the windows (two passes), flat but for the per-draw values
    monkeypatch.setattr(ExactQuantiles, "WINDOW_BUDGET", 0)
    two_pass = {n: _peak(run(n, keep="summary")) for n in (small, big)}
    assert two_pass[big] - two_pass[small] <= 2.5 * per_draw * (big - small), two_pass


@pytest.mark.parametrize("sampler", ["mc", "lhs", "sobol"])
def test_lean_sampling_gives_the_joint_samples(sampler):
    """One parameter at a time (bounded modes) == sample_parameters of all, for every scenario."""
    from threatsim.engine.sampling import sample_parameters

    for sc in SCENARIOS_BY_MODEL.values():
        st = RunOptions.build(sc, draws=257, seed=3, sampler=sampler)
        want = sample_parameters(sc.parameters, 257, seed=3, sampler=sampler)
        for views in (False, True):
            got = sample_lean(sc, st, constants_as_views=views)
            assert list(got) == list(want)
            for name in want:
                np.testing.assert_array_equal(got[name], want[name], err_msg=name)


@pytest.mark.parametrize("sampler", ["mc", "lhs"])
def test_sampling_on_threads_gives_the_joint_samples(monkeypatch, sampler):
    """With workers, the parameters are sampled on threads (the run's --workers 2), and
    every value is the one sampling them all together gives."""
    import threading

    from threatsim.engine import plan as plan_module
    from threatsim.engine.sampling import sample_parameters

    monkeypatch.setattr(plan_module, "_THREADED_SAMPLING_MIN", 0)  # threads even for few
    seen: set[str] = set()
    real = plan_module.sample_parameters

    def spy(*args, **kwargs):
        seen.add(threading.current_thread().name)
        return real(*args, **kwargs)

    monkeypatch.setattr(plan_module, "sample_parameters", spy)
    for sc in SCENARIOS_BY_MODEL.values():
        st = RunOptions.build(sc, draws=257, seed=3, sampler=sampler)
        want = sample_parameters(sc.parameters, 257, seed=3, sampler=sampler)
        got = sample_lean(sc, st, constants_as_views=True, workers=2)
        assert list(got) == list(want)
        for name in want:
            np.testing.assert_array_equal(got[name], want[name], err_msg=name)
    assert any(name.startswith("threatsim-sample") for name in seen), seen


def test_cli_keep_summary_and_keep_draws(tmp_path: Path, capsys):
    """`--keep summary` writes the small summary and its fan chart; `--keep draws` the full file."""
    from threatsim.cli.main import main

    base = ["run", str(SCENARIOS / "financing.toml"), "--draws", "3000", "--chunk-size", "500",
            "--seed", "2", "--quiet"]
    assert main([*base, "--keep", "summary", "--out", str(tmp_path / "s.nc")]) == 0
    printed = capsys.readouterr().out
    assert "summary kept" in printed
    assert "P(=0)" in printed
    s = xr.load_dataset(tmp_path / "s.nc")
    assert s.attrs["keep"] == "summary"
    assert s["reserves"].dims == ("quantile", "time")
    assert (tmp_path / "s.png").stat().st_size > 0
    assert main([*base, "--keep", "draws", "--out", str(tmp_path / "d.nc"), "--no-plot"]) == 0
    assert main([*base, "--out", str(tmp_path / "m.nc"), "--no-plot"]) == 0
    xr.testing.assert_identical(xr.load_dataset(tmp_path / "d.nc"),
                                xr.load_dataset(tmp_path / "m.nc"))
    np.testing.assert_array_equal(
        s["reserves"].values,
        bands(xr.load_dataset(tmp_path / "m.nc")["reserves"], s["quantile"].values).values)


def test_one_pass_when_a_point_mass_sits_beside_continuous_values():
    """Reserves with a mass at 0 next to a continuous part: the pilot's windows hold, one pass.

    The windows around quantiles near the mass used to be sized for the pilot's
    distinct values only; the continuous values keep coming in the full sample,
    overflowed them, and every chunk was computed twice.
    """
    from threatsim.engine.executors import InProcessExecutor

    class Counting(InProcessExecutor):
        runs = 0

        def map_chunks(self, fn, tasks):
            for task in tasks:
                Counting.runs += 1
                yield fn(task)

    sc = threatsim.load_scenario(SCENARIOS / "financing.toml")
    ds = threatsim.run(sc, draws=100_000, chunk_size=4_096, keep="summary",
                       executor=Counting(), progress=False)
    assert float(ds["p_zero_reserves"].isel(time=-1)) > 0.05  # the point mass is there
    assert Counting.runs == -(-100_000 // 4_096)  # each chunk once


@given(st.integers(1, 20_000), st.integers(1, 10**9))
def test_summary_bins_keep_counts_small_and_bins_few_values(cells, rows):
    """Bins per cell: 512 to 8,192; counts under 2**21 per output where 512 bins allow;
    each bin ~8,192 values at most (rows / bins) unless a cap binds."""
    b = summary_bins(cells, rows)
    assert 512 <= b <= 8192
    assert b & (b - 1) == 0
    if cells * 512 <= 2**21:
        assert cells * b <= 2**21
    capped = b == 8192 or 2 * b * cells > 2**21
    if not capped:
        assert rows / b <= 8192
    if b > 512:  # not more bins than that asks for
        assert rows / (b // 2) > 8192

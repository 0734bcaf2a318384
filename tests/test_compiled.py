"""The compiled kernels (threatsim.core.compiled) equal their numpy references bit for bit."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import threatsim
from threatsim.core import compiled
from threatsim.models.financing import INFO, FinancingModel
from threatsim.stats import quantiles
from threatsim.stats.variates import ChanceStreams

pytestmark = pytest.mark.skipif(not compiled.available(),
                                reason="numba not installed (pip install threatsim[fast])")

ALL_OUTPUTS = frozenset(o.name for o in INFO.outputs)


def _financing_params(rng: np.random.Generator, n: int, *, invest: bool, caches: bool,
                      tight: bool) -> dict[str, np.ndarray]:
    """Financing parameters; *tight* makes spending exhaust reserves in many draws."""
    return {
        "reserves_initial": rng.uniform(0.0, 3e8, n),
        "fighters": rng.integers(0, 20_000, n).astype(float),
        "upkeep_per_fighter": rng.uniform(0.0, 800.0 if tight else 100.0, n),
        "extortion_income": rng.uniform(0.0, 6e6, n),
        "ransom_income": rng.uniform(0.0, 1e6, n),
        "oil_extortion_income": rng.uniform(0.0, 1e6, n),
        "investment_return": rng.uniform(0.0, 0.02, n) if invest else np.zeros(n),
        "transfers_to_affiliates": rng.uniform(0.0, 3e6, n),
        "operations_spending": rng.uniform(0.0, 3e6, n),
        "seizure_rate": rng.uniform(0.0, 0.6, n),
        "cache_discovery_rate": rng.uniform(0.0, 2.0, n) if caches else np.zeros(n),
        "cache_share": rng.uniform(0.0, 1.0, n),
    }


def _levers(months: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Lever schedules that change value at a few months, as timelines do."""
    def schedule(low: float, high: float) -> np.ndarray:
        out = np.full(months, rng.uniform(low, high))
        out[rng.integers(0, months):] = rng.uniform(low, high)
        return out
    return {"seizure_effort": schedule(0.0, 4.0), "revenue_disruption": schedule(0.0, 1.0),
            "cache_search_intensity": schedule(0.0, 3.0)}


def _simulate(monkeypatch: pytest.MonkeyPatch, flag: str, params, levers, months, seed,
              outputs) -> dict[str, np.ndarray]:
    monkeypatch.setenv("THREATSIM_COMPILED", flag)
    chance = ChanceStreams(seed, np.arange(len(params["reserves_initial"])))
    return FinancingModel().simulate({k: v.copy() for k, v in params.items()}, levers,
                                     n_months=months, chance=chance, outputs=outputs)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 300), months=st.integers(1, 30),
       invest=st.booleans(), caches=st.booleans(), tight=st.booleans(),
       outputs=st.sets(st.sampled_from(sorted(ALL_OUTPUTS)), min_size=1))
def test_financing_kernel_equals_numpy(monkeypatch, seed, n, months, invest, caches, tight,
                                       outputs):
    """Every financing output, compiled and numpy, is the same double (caches, exhaustion)."""
    rng = np.random.default_rng(seed)
    params = _financing_params(rng, n, invest=invest, caches=caches, tight=tight)
    levers = _levers(months, rng)
    want = frozenset(outputs)
    ref = _simulate(monkeypatch, "0", params, levers, months, seed, want)
    fast = _simulate(monkeypatch, "1", params, levers, months, seed, want)
    assert ref.keys() == fast.keys() == want
    for name in want:
        np.testing.assert_array_equal(fast[name], ref[name], err_msg=name)


def test_financing_kernel_exercises_caches_and_exhaustion(monkeypatch):
    """The equality above covers cache losses and exhausted reserves, not only the easy path."""
    rng = np.random.default_rng(5)
    params = _financing_params(rng, 2_000, invest=True, caches=True, tight=True)
    levers = _levers(24, rng)
    out = _simulate(monkeypatch, "1", params, levers, 24, 5, ALL_OUTPUTS)
    assert np.isfinite(out["depletion_month"]).mean() > 0.2  # many draws run dry
    assert np.any(out["seized"][:, 1:] > 0.9 * out["reserves"][:, :-1])  # whole caches found
    ref = _simulate(monkeypatch, "0", params, levers, 24, 5, ALL_OUTPUTS)
    for name in ALL_OUTPUTS:
        np.testing.assert_array_equal(out[name], ref[name], err_msg=name)


@pytest.mark.parametrize("path", ["scenarios/financing.toml", "scenarios/baseline.toml"])
def test_runs_identical_with_and_without_kernels(monkeypatch, path):
    """A whole run (financing alone, and coupled to fighters) is bit-identical either way."""
    sc = threatsim.load_scenario(path)
    runs = []
    for flag in ("0", "1"):
        monkeypatch.setenv("THREATSIM_COMPILED", flag)
        runs.append(threatsim.run(sc, draws=3_000, seed=11, chunk_size=1_000, progress=False))
    assert runs[0].identical(runs[1])


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 5_000),
       k=st.integers(1, 7), ties=st.floats(0.0, 0.9), digits=st.integers(0, 4),
       nan_share=st.sampled_from([0.0, 0.0, 0.01, 0.5]))
def test_bracket_sweep_equals_numpy(monkeypatch, seed, n, k, ties, digits, nan_share):
    """Counts below, ties and values inside each bracket agree (zero-width brackets too)."""
    rng = np.random.default_rng(seed)
    x = np.round(rng.lognormal(0.0, 1.0, n), digits)
    x[rng.random(n) < ties] = 0.0  # a mass at zero, as depleted reserves make
    x[rng.random(n) < nan_share] = np.nan  # counted, never inside a bracket
    cuts = np.sort(rng.choice(x[~np.isnan(x)] if (~np.isnan(x)).any() else np.zeros(1),
                              size=2 * k))
    los, his = cuts[0::2].copy(), cuts[1::2].copy()
    flat = rng.random(k) < 0.3
    his[flat] = los[flat]  # some brackets of zero width
    b_ref, t_ref, in_ref, nan_ref = quantiles._sweep_numpy(x, los, his)
    b, t, inside, nans = quantiles._sweep_compiled(x, los, his)
    assert b == b_ref
    assert nans == nan_ref == np.count_nonzero(np.isnan(x))
    for j in range(k):
        if los[j] == his[j]:
            assert t[j] == t_ref[j]
        else:  # the same values inside; their order does not matter to a partition
            np.testing.assert_array_equal(np.sort(inside[j]), np.sort(in_ref[j]))


@pytest.mark.parametrize("flag", ["0", "1"])
def test_row_quantiles_equal_numpy_both_paths(monkeypatch, flag):
    """Long rows (the bracketed path) with a mass at zero give np.quantile's values exactly."""
    monkeypatch.setenv("THREATSIM_COMPILED", flag)
    rng = np.random.default_rng(3)
    rows = rng.lognormal(0.0, 1.0, (4, 200_000))
    rows[1, rng.random(200_000) < 0.6] = 0.0
    rows[2] = np.round(rows[2], 1)  # many ties
    q = [0.05, 0.25, 0.5, 0.75, 0.95]
    np.testing.assert_array_equal(quantiles.row_quantiles(rows, q),
                                  np.quantile(rows, q, axis=1))


@pytest.mark.parametrize("flag", ["0", "1"])
def test_long_rows_holding_nan_follow_nanquantile(monkeypatch, flag):
    """A long row's sweep finds its NaN (no other pass looks): such rows, one NaN or all,
    give np.nanquantile's values, and the rows beside them np.quantile's."""
    monkeypatch.setenv("THREATSIM_COMPILED", flag)
    rng = np.random.default_rng(5)
    rows = rng.lognormal(0.0, 1.0, (4, 150_000))
    rows[0, 77_777] = np.nan  # one NaN, almost surely not in the strided subsample
    rows[1] = np.nan          # a flow's first month: NaN on every draw
    rows[2, rng.random(150_000) < 0.3] = np.nan
    q = [0.05, 0.5, 0.95]
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # All-NaN slice
        got = quantiles.row_quantiles(rows, q)
        want = np.stack([np.nanquantile(rows[i], q) for i in range(4)], axis=1)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got[:, 3], np.quantile(rows[3], q))


def test_switch_off(monkeypatch):
    """THREATSIM_COMPILED=0 turns the kernels off; numba installed turns them on."""
    monkeypatch.setenv("THREATSIM_COMPILED", "0")
    assert not compiled.enabled()
    monkeypatch.delenv("THREATSIM_COMPILED")
    assert compiled.enabled()


@settings(max_examples=30, deadline=None)
@given(words=st.lists(st.tuples(st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1)),
                      min_size=1, max_size=50))
def test_wide_multiply_gives_the_128_bit_product(words):
    """compiled.wide_multiply's (high, low) words are those of Python's exact product,
    the extremes included (0, 1, 2**64 - 1 times itself: every carry)."""
    import numba

    @numba.njit
    def products(a, b, high, low):
        for i in range(a.size):
            high[i], low[i] = compiled.wide_multiply(a[i], b[i])

    words = [*words, (0, 0), (1, 2**64 - 1), (2**64 - 1, 2**64 - 1), (2**32, 2**32)]
    a = np.array([x for x, _ in words], dtype=np.uint64)
    b = np.array([y for _, y in words], dtype=np.uint64)
    high, low = np.empty_like(a), np.empty_like(a)
    products(a, b, high, low)
    exact = [x * y for x, y in words]
    assert [int(h) for h in high] == [p >> 64 for p in exact]
    assert [int(w) for w in low] == [p & (2**64 - 1) for p in exact]


def test_philox_blocks_equal_numpys_philox():
    """The compiled Philox4x64-10 (built on wide_multiply) gives numpy.random.Philox's
    words: numpy's block after counter c is the function of c + 1."""
    from threatsim.stats import variates_compiled as vc

    rng = np.random.default_rng(5)
    for _ in range(20):
        key = rng.integers(0, 2**64, 2, dtype=np.uint64)
        counter = rng.integers(0, 2**63, 4, dtype=np.uint64)
        ours = vc._philox(counter[0] + np.uint64(1), counter[1], counter[2], counter[3],
                          key[0], key[1])
        theirs = np.random.Philox(counter=counter, key=key).random_raw(4)
        assert [int(w) for w in ours] == [int(w) for w in theirs]

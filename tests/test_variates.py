"""Counter-based chance (threatsim.stats.variates): the right numbers and laws, the same bits.

* Philox and the uniforms equal numpy's own ``numpy.random.Philox`` (known answers).
* The log / exp / Stirling pieces are accurate (the samplers' acceptance tests rely on them).
* Binomial and Poisson variates follow their laws (chi-square on binned counts at
  alpha = 1e-3, mean and variance within 5 standard errors) in every regime:
  n = 0 .. 10**6, p = 0, 1, near 0, near 1, Poisson means 1e-3 .. 1e6. The seeds are
  fixed, so each test is deterministic: it fails only when a law is wrong (a wrong
  constant, a broken symmetry or recurrence, a biased acceptance test).
* An element's variates depend on its own key and counter only: not on other
  elements' parameters, nor on how the draws are sliced into chunks.
* The numpy path and the compiled kernels give the same bits (skipped without numba).
"""

from __future__ import annotations

import itertools
from decimal import Decimal, getcontext

import numpy as np
import pytest
from scipy import stats

from threatsim.core import compiled
from threatsim.stats import variates as var
from threatsim.stats import variates_compiled as vc
from threatsim.stats.variates import ChanceStreams

ALPHA = 1e-3
needs_numba = pytest.mark.skipif(not compiled.available(), reason="numba not installed")


@pytest.fixture(params=["numpy", "compiled"])
def path(request, monkeypatch):
    """Run a test on the numpy reference and on the compiled kernels."""
    if request.param == "compiled" and not compiled.available():
        pytest.skip("numba not installed")
    monkeypatch.setenv("THREATSIM_COMPILED", "1" if request.param == "compiled" else "0")
    return request.param


# ---- Philox and the uniforms: known answers from numpy ------------------------------

def test_philox_words_equal_numpys_philox():
    """numpy's Philox steps its 256-bit counter, then encrypts it: its block after counter
    c is philox4x64(c + 1). Would catch a wrong constant, round, word order or mulhi."""
    rng = np.random.default_rng(20240611)
    for _ in range(20):
        key = rng.integers(0, 2**64, size=2, dtype=np.uint64)
        counter = rng.integers(0, 2**64, size=4, dtype=np.uint64)
        counter[0] = rng.integers(0, 2**60)  # no carry out of word 0 in 3 steps
        raw = np.random.Philox(key=key, counter=counter).random_raw(12).reshape(3, 4)
        for step in range(3):
            c = counter.copy()
            c[0] += np.uint64(step + 1)
            assert np.array_equal(var.philox4x64(c[:, None], key[:, None])[:, 0], raw[step])


def test_uniforms_equal_numpys_philox_doubles():
    """Uniform j of a stream is numpy's Philox double j (``(word >> 11) * 2**-53``) with
    key (key0, key1) and first block at counter (0, event, flow, month)."""
    streams = ChanceStreams(123, [0, 7, 2**40 - 1], replicate=[0, 3, 2**24 - 1])
    month, flow, event = 11, 4, 2
    got = streams.uniforms(10, month=month, flow=flow, event=event)
    for i in range(len(streams)):
        start = (month << 192) | (flow << 128) | (event << 64)
        key = np.array([streams.key0[i], streams.key1[i]], dtype=np.uint64)
        bg = np.random.Philox(key=key, counter=start - 1)  # a list of big ints goes via float
        assert np.array_equal(got[i], np.random.Generator(bg).random(10))
    assert int(streams.key1[1]) == (3 << 40) | 7


@needs_numba
def test_uniforms_compiled_equal_numpy(monkeypatch):
    streams = ChanceStreams(5, np.arange(1000))
    monkeypatch.setenv("THREATSIM_COMPILED", "0")
    ref = streams.uniforms(9, month=2, flow=1)
    monkeypatch.setenv("THREATSIM_COMPILED", "1")
    assert np.array_equal(streams.uniforms(9, month=2, flow=1), ref)


# ---- the arithmetic the samplers rest on -------------------------------------------

def test_log_and_exp_are_within_two_ulps():
    rng = np.random.default_rng(1)
    x = np.exp(rng.uniform(-700.0, 700.0, 200_000))
    x = np.concatenate([x, 1.0 + rng.uniform(-1e-3, 1e-3, 10_000), [1.0, 2.0, 0.5]])
    ref = np.log(x)
    err = np.abs(var._log(x) - ref)
    assert np.all(err <= 2 * np.spacing(np.abs(ref)) + 1e-300)
    y = rng.uniform(-30.0, 0.0, 200_000)
    assert np.all(np.abs(var._exp(y) - np.exp(y)) <= 2 * np.spacing(np.exp(y)))
    pp = np.concatenate([rng.uniform(0.0, 0.5, 100_000), 10.0 ** rng.uniform(-300, -1, 1000)])
    ref = np.log1p(-pp)  # from pp = 1/4 on, log(1 - pp): 1 - pp rounds, a third ulp more
    assert np.all(np.abs(var._log_q(pp) - ref) <= 3 * np.spacing(np.abs(ref)))


def _decimal_fc(k: int) -> float:
    getcontext().prec = 60
    pi = Decimal("3.14159265358979323846264338327950288419716939937510582097494459")
    x = Decimal(k + 1)
    log_fact = sum((Decimal(j).ln() for j in range(2, k + 1)), Decimal(0))
    return float(log_fact - ((Decimal(k) + Decimal("0.5")) * x.ln() - x + (2 * pi).ln() / 2))


def test_stirling_remainders_match_60_digit_arithmetic():
    """The table, and the series from k = 30 on, within 1e-15 relative of the true fc(k)."""
    for k in range(vc.FC_TABLE_SIZE):
        assert vc.FC_TABLE[k] == pytest.approx(_decimal_fc(k), rel=2e-16)
    for k in (30, 31, 45, 100, 1000, 123_456):
        assert var._fc(np.array([float(k)]))[0] == pytest.approx(_decimal_fc(k), rel=1e-15)


@pytest.mark.parametrize(("n", "p"), [(20, 0.5), (16_000, 0.01), (1_000_000, 0.5),
                                      (1_000_000, 0.001), (3000, 0.2)])
def test_binomial_log_pmf_ratios_are_accurate(n, p):
    """log f(k) - log f(m) in Loader's form (what BTRS compares against) within 1e-11.

    The reference sums log f(j+1)/f(j) = log((n - j) p / ((j + 1) q)) from m to k, each
    term to a few ulps (scipy's logpmf loses 1e-9 at n = 10**6 to cancellation)."""
    q = 1.0 - p
    nf = float(n)
    m = int(np.floor((nf + 1) * p))
    sd = np.sqrt(nf * p * q)
    k = np.unique(np.clip(np.round(m + sd * np.linspace(-8, 8, 161)), 0, n)).astype(np.int64)
    j = np.arange(k.min(), k.max())
    steps = np.log((n - j) * p / ((j + 1) * q))  # log f(j + 1) - log f(j)
    cum = np.concatenate([[0.0], np.cumsum(steps)])  # log f(j) - log f(k.min())
    ref = cum[k - k.min()] - cum[m - k.min()]
    x0, y0 = (nf + 2) * p, (nf + 2) * q
    ours = (var._binomial_log_f(k.astype(float), nf, x0, y0, x0 * y0)
            - var._binomial_log_f(np.array([float(m)]), nf, x0, y0, x0 * y0))
    assert np.allclose(ours, ref, rtol=0.0, atol=1e-11)
    assert np.allclose(ref, stats.binom.logpmf(k, n, p) - stats.binom.logpmf(m, n, p),
                       atol=1e-8)


def test_poisson_log_pmf_is_accurate():
    """PTRS's log f(k) = -bd0(k + 1, lam) - fc(k) + log((k + 1) / lam) / 2 - log(2 pi lam) / 2:
    its differences within 1e-11 of sums of log f(j+1)/f(j) = log(lam / (j + 1)), its
    values within 1e-8 of scipy's (which loses about 1e-9 to cancellation at lam = 1e6)."""
    for lam in (10.0, 37.5, 1e4, 1e6):
        k = np.unique(np.maximum(np.round(lam + np.sqrt(lam) * np.linspace(-8, 8, 81)), 0))
        x = k + 1.0
        ours = (-var._bd0(x, np.full(k.size, lam)) - var._fc(k) + 0.5 * var._log(x / lam)
                - 0.5 * (vc.LOG_2PI + np.log(lam)))
        j = np.arange(k.min(), k.max())
        cum = np.concatenate([[0.0], np.cumsum(np.log(lam / (j + 1.0)))])
        ref = cum[(k - k.min()).astype(np.int64)]
        assert np.allclose(ours - ours[0], ref, rtol=0.0, atol=1e-11)
        assert np.allclose(ours, stats.poisson.logpmf(k, lam), rtol=0.0, atol=1e-8)


# ---- goodness of fit ------------------------------------------------------------------

def _chi_square_p(sample: np.ndarray, dist) -> float:
    """p-value of Pearson's chi-square of *sample* against the discrete *dist*, with
    neighbouring values pooled so that every cell expects at least 5."""
    n = sample.size
    lo, hi = int(dist.ppf(1e-12)), int(dist.isf(1e-12)) + 1
    values = np.arange(lo, hi + 1)
    expected = dist.pmf(values) * n
    expected[0] = dist.cdf(lo) * n
    expected[-1] = dist.sf(hi - 1) * n
    observed = np.bincount(np.clip(sample, lo, hi) - lo, minlength=values.size).astype(float)
    cells_o, cells_e, acc_o, acc_e = [], [], 0.0, 0.0
    for o, e in zip(observed, expected, strict=True):
        acc_o, acc_e = acc_o + o, acc_e + e
        if acc_e >= 5.0:
            cells_o.append(acc_o)
            cells_e.append(acc_e)
            acc_o = acc_e = 0.0
    if cells_e:
        cells_o[-1] += acc_o
        cells_e[-1] += acc_e
    if len(cells_e) < 2:  # (nearly) all mass on one value: the sample must be that value
        return 1.0 if np.all(sample == np.round(dist.mean())) else 0.0
    return float(stats.chisquare(cells_o, np.array(cells_e) * n / sum(cells_e)).pvalue)


def _check_law(sample: np.ndarray, dist) -> None:
    mean, variance, _, kurt = (float(v) for v in dist.stats(moments="mvsk"))
    n = sample.size
    assert abs(sample.mean() - mean) <= 5 * np.sqrt(variance / n)
    if variance > 0:
        var_se = np.sqrt(max((kurt + 2.0) * variance**2, 1e-300) / n)  # (mu4 - s^4) / n
        assert abs(sample.var() - variance) <= 5 * var_se + 1e-12
    assert _chi_square_p(sample, dist) > ALPHA


BINOMIAL_CASES = [
    (16_000, 0.01), (2000, 0.03), (14_000, 0.005),     # W2's compartments and rates
    (100, 0.05), (20, 0.5), (1000, 0.0099), (1000, 0.0101),  # both sides of n p = 10
    (1_000_000, 0.5), (1_000_000, 1e-3), (1_000_000, 1e-7), (1_000_000, 0.999),
    (50, 0.9999), (7, 0.97), (1, 0.3), (400, 0.5 + 2**-53), (30, 1e-300),
]


@pytest.mark.parametrize(("n", "p"), BINOMIAL_CASES)
def test_binomial_follows_its_law(n, p):
    sample = ChanceStreams(2024, np.arange(20_000)).binomial(n, p, month=5, flow=3)
    assert sample.dtype == np.int64
    assert sample.min() >= 0
    assert sample.max() <= n
    _check_law(sample, stats.binom(n, p))


POISSON_MEANS = [1e-3, 0.05, 0.5, 3.0, 9.99, 10.0, 10.5, 100.0, 250.0, 1e4, 1e6]


@pytest.mark.parametrize("lam", POISSON_MEANS)
def test_poisson_follows_its_law(lam):
    sample = ChanceStreams(2024, np.arange(20_000)).poisson(lam, month=5, flow=4)
    _check_law(sample, stats.poisson(lam))


def test_degenerate_cases_are_exact(path):
    streams = ChanceStreams(9, np.arange(6))
    n = np.array([0, 0, 5, 5, 10**6, 3])
    p = np.array([0.0, 1.0, 0.0, 1.0, 1.0, 0.0])
    assert np.array_equal(streams.binomial(n, p, month=0, flow=0), [0, 0, 0, 5, 10**6, 0])
    assert np.array_equal(streams.poisson(np.zeros(6), month=0, flow=0), np.zeros(6))


def test_competing_exits_are_a_multinomial(path):
    """Marginals of the chain of conditional binomials are Binomial(n, p_j); the rest stay."""
    streams = ChanceStreams(77, np.arange(20_000))
    probs = [0.012, 0.015, 0.006]
    exits = streams.competing_exits(16_000, probs, month=1, flow=9)
    assert exits.shape == (3, 20_000)
    assert np.all(exits.sum(axis=0) <= 16_000)
    for j, pj in enumerate(probs):
        _check_law(exits[j], stats.binom(16_000, pj))
    stay = 16_000 - exits.sum(axis=0)
    _check_law(stay, stats.binom(16_000, 1.0 - sum(probs)))


def test_invalid_parameters_are_refused():
    streams = ChanceStreams(1, np.arange(3))
    with pytest.raises(ValueError, match="p must be"):
        streams.binomial(5, [0.1, 1.5, 0.2], month=0, flow=0)
    with pytest.raises(ValueError, match="p must be"):
        streams.binomial(5, np.nan, month=0, flow=0)
    with pytest.raises(ValueError, match="n must be"):
        streams.binomial(-1, 0.5, month=0, flow=0)
    with pytest.raises(ValueError, match="n must be"):
        streams.binomial([5, 2**53, 5], 0.5, month=0, flow=0)
    with pytest.raises(ValueError, match="means must be"):
        streams.poisson(-1.0, month=0, flow=0)
    with pytest.raises(ValueError, match="means must be"):
        streams.poisson([1.0, np.nan, 2.0], month=0, flow=0)
    with pytest.raises(ValueError, match="means must be"):
        streams.poisson([1.0, 2e15, 2.0], month=0, flow=0)
    with pytest.raises(ValueError, match="month"):
        streams.poisson(1.0, month=-1, flow=0)
    with pytest.raises(ValueError, match="draw indices"):
        ChanceStreams(1, [2**40])


# ---- common random numbers: each element on its own stream ---------------------------

def _mixed_parameters(rng: np.random.Generator, size: int):
    """n from 0 to 10**6 and p over [0, 1] (exact 0 and 1, tiny, near 1), mixed so that one
    call covers inversion, BTRS and both sides of the symmetry; Poisson means 0 .. 1e6."""
    n = np.floor(10.0 ** rng.uniform(0, 6, size)).astype(np.int64)
    n[rng.random(size) < 0.05] = 0
    kinds = np.stack([rng.uniform(0, 1, size), 10.0 ** rng.uniform(-9, 0, size),
                      1.0 - 10.0 ** rng.uniform(-9, -0.3, size), rng.uniform(0.002, 0.05, size)])
    p = kinds[rng.integers(0, 4, size), np.arange(size)]
    p[rng.random(size) < 0.03] = 0.0
    p[rng.random(size) < 0.03] = 1.0
    lam = 10.0 ** rng.uniform(-3, 6, size)
    lam[rng.random(size) < 0.05] = 0.0
    return n, p, lam


def test_an_element_depends_on_its_own_parameters_only(path):
    rng = np.random.default_rng(3)
    n, p, lam = _mixed_parameters(rng, 3000)
    streams = ChanceStreams(11, np.arange(3000))
    base_b = streams.binomial(n, p, month=2, flow=1)
    base_p = streams.poisson(lam, month=2, flow=2)
    changed = rng.choice(3000, 300, replace=False)
    n2, p2, lam2 = n.copy(), p.copy(), lam.copy()
    n2[changed] = rng.integers(0, 10**6, 300)
    p2[changed] = rng.random(300)
    lam2[changed] = 10.0 ** rng.uniform(-3, 6, 300)
    keep = np.setdiff1d(np.arange(3000), changed)
    assert np.array_equal(streams.binomial(n2, p2, month=2, flow=1)[keep], base_b[keep])
    assert np.array_equal(streams.poisson(lam2, month=2, flow=2)[keep], base_p[keep])


def test_chunking_and_order_do_not_matter(path):
    """A draw's variates come from (seed, draw index, replicate) and the counter alone."""
    rng = np.random.default_rng(4)
    n, p, lam = _mixed_parameters(rng, 2000)
    whole = ChanceStreams(11, np.arange(2000), replicate=2)
    ref_b = whole.binomial(n, p, month=7, flow=5)
    ref_p = whole.poisson(lam, month=7, flow=6)
    for cuts in ([0, 1, 999, 2000], [0, 1024, 2000]):
        for a, b in itertools.pairwise(cuts):
            chunk = ChanceStreams(11, np.arange(a, b), replicate=2)
            assert np.array_equal(chunk.binomial(n[a:b], p[a:b], month=7, flow=5), ref_b[a:b])
            assert np.array_equal(chunk.poisson(lam[a:b], month=7, flow=6), ref_p[a:b])
    order = rng.permutation(2000)
    shuffled = whole[order]
    assert np.array_equal(shuffled.binomial(n[order], p[order], month=7, flow=5), ref_b[order])


def test_what_the_numbers_are_for_changes_them(path):
    """Another month, flow, event, replicate or seed gives other numbers (not a shifted copy)."""
    draws = np.arange(4000)
    base = ChanceStreams(11, draws).binomial(16_000, 0.01, month=3, flow=1)
    others = [ChanceStreams(11, draws).binomial(16_000, 0.01, month=4, flow=1),
              ChanceStreams(11, draws).binomial(16_000, 0.01, month=3, flow=2),
              ChanceStreams(11, draws).binomial(16_000, 0.01, month=3, flow=1, event=1),
              ChanceStreams(11, draws, replicate=1).binomial(16_000, 0.01, month=3, flow=1),
              ChanceStreams(12, draws).binomial(16_000, 0.01, month=3, flow=1)]
    for other in others:
        # independent copies of a law with sd 12.6 agree in about 1 in 45 draws
        assert np.mean(other == base) < 0.05
        assert abs(np.corrcoef(other, base)[0, 1]) < 0.1


# ---- the numpy path and the compiled kernels give the same bits -----------------------

@needs_numba
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_compiled_equals_numpy_bit_for_bit(seed, monkeypatch):
    rng = np.random.default_rng(seed)
    n, p, lam = _mixed_parameters(rng, 20_000)
    streams = ChanceStreams(seed, rng.integers(0, 2**40, 20_000), rng.integers(0, 50, 20_000))
    results = {}
    for flag in ("0", "1"):
        monkeypatch.setenv("THREATSIM_COMPILED", flag)
        results[flag] = (streams.binomial(n, p, month=seed, flow=1),
                         streams.poisson(lam, month=seed, flow=2),
                         streams.competing_exits(n, [p * 0.3, p * 0.2], month=seed, flow=3))
    for ref, got in zip(results["0"], results["1"], strict=True):
        assert np.array_equal(ref, got)


@needs_numba
def test_compiled_equals_numpy_on_the_slow_paths(monkeypatch):
    """Parameters where many attempts reach BTRS/PTRS's log test and inversion runs long:
    the pieces that call log, exp and the Stirling and deviance series."""
    rng = np.random.default_rng(9)
    size = 30_000
    n = rng.integers(10, 200, size)
    p = 10.0 / n * rng.uniform(0.9, 1.1, size)  # n p around 10: both methods, low squeeze
    lam = rng.uniform(9.0, 12.0, size)
    streams = ChanceStreams(3, np.arange(size))
    monkeypatch.setenv("THREATSIM_COMPILED", "0")
    ref = streams.binomial(n, np.clip(p, 0, 1), month=1, flow=1), streams.poisson(lam, month=1,
                                                                                  flow=1)
    monkeypatch.setenv("THREATSIM_COMPILED", "1")
    got = streams.binomial(n, np.clip(p, 0, 1), month=1, flow=1), streams.poisson(lam, month=1,
                                                                                  flow=1)
    assert np.array_equal(ref[0], got[0])
    assert np.array_equal(ref[1], got[1])


# ---- bigger samples -------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize(("n", "p"), [(16_000, 0.01), (1_000_000, 0.5), (1_000_000, 2e-6),
                                      (2000, 0.995), (1000, 0.0101)])
def test_binomial_follows_its_law_in_big_samples(n, p):
    sample = ChanceStreams(99, np.arange(400_000)).binomial(n, p, month=1, flow=1)
    _check_law(sample, stats.binom(n, p))


@pytest.mark.slow
@pytest.mark.parametrize("lam", [1e-3, 7.5, 10.0, 300.0, 1e6])
def test_poisson_follows_its_law_in_big_samples(lam):
    sample = ChanceStreams(99, np.arange(400_000)).poisson(lam, month=1, flow=1)
    _check_law(sample, stats.poisson(lam))

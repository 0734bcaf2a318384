"""The arithmetic both paths of :mod:`threatsim.stats.variates` share, and its compiled kernels.

:mod:`threatsim.stats.variates` draws binomial and Poisson variates from
counter-based streams, vectorised with numpy; this module holds what its numpy
path and the numba kernels here must compute identically:

* the constants (Philox4x64-10's multipliers and Weyl increments, the table of
  Stirling-series remainders, ln 2 split in two, the polynomial coefficients);
* leaf formulas (``*_series``, ``*_setup``) written once, with operators only,
  so the same source runs on numpy arrays (the reference) and, compiled, on
  scalars; and
* the kernels: one loop over the elements that repeats, per element and in the
  same order, the operations the numpy path does per array.

One kernel here has numpy itself as its reference: :func:`exponential_fill` repeats
``numpy.random.Generator(Philox).standard_exponential``, libm's ``exp`` and ``log1p``
included, as numpy calls them (see there why its bits agree).

Why the two paths give the same bits: every float operation used is one IEEE 754
rounds correctly (``+ - * /``, ``sqrt``, ``floor``, and the exact ``frexp`` /
``ldexp``); no libm function (``exp``, ``log``, ``lgamma``, whose last bit differs
between numpy's SIMD loops and libm) is called -- :func:`atanh_excess` and
:func:`exp_series` stand in for them; numba compiles without fast-math, so no
reassociation and no fused multiply-add. Integer work (Philox) is exact.
"""

from __future__ import annotations

import math
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from threatsim.core import compiled
from threatsim.stats.ziggurat_tables import FE_DOUBLE, KE_DOUBLE, WE_DOUBLE, ZIGGURAT_EXP_R

__all__ = [
    "FC_TABLE",
    "atanh_excess",
    "binomial_kernel",
    "btrs_setup",
    "exp_series",
    "exponential_fill",
    "poisson_kernel",
    "ptrs_setup",
    "stirling_series",
    "uniforms_kernel",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
#: Philox key and counter words, and its output words.
WordArray = npt.NDArray[np.uint64]
#: One Philox block: four 64-bit words.
Block = tuple[np.uint64, np.uint64, np.uint64, np.uint64]
#: The leaf formulas run on numpy arrays (the reference) and, compiled, on scalars.
FloatOrArray = TypeVar("FloatOrArray", float, FloatArray)

# Philox4x64-10 (Salmon, Moraes, Dror and Shaw 2011, "Parallel random numbers: as
# easy as 1, 2, 3", SC11): round multipliers and the Weyl key increments.
PHILOX_M0 = np.uint64(0xD2E7470EE14C6C93)
PHILOX_M1 = np.uint64(0xCA5A826395121157)
PHILOX_W0 = np.uint64(0x9E3779B97F4A7C15)
PHILOX_W1 = np.uint64(0xBB67AE8584CAA73B)
PHILOX_ROUNDS = 10
LOW32 = np.uint64(0xFFFF_FFFF)
SHIFT32 = np.uint64(32)
SHIFT11 = np.uint64(11)
SHIFT3 = np.uint64(3)
SHIFT8 = np.uint64(8)
LOW8 = np.uint64(0xFF)
ONE_WORD = np.uint64(1)
ZERO_WORD = np.uint64(0)
#: Words in numpy's Philox buffer: one block.
PHILOX_BUFFER_SIZE = 4
#: A uniform is ``(word >> 11) * 2**-53``: 53 random bits, in [0, 1).
TWO_M53 = 2.0**-53

# ln 2 = LN2_HI + LN2_LO, LN2_HI with 32 significant bits so that e * LN2_HI is exact
# for every binary exponent e of a double (the split of fdlibm's e_log.c).
LN2_HI = 6.93147180369123816490e-01
LN2_LO = 1.90821492927058770002e-10
INV_LN2 = 1.4426950408889634
SQRT_HALF = 0.7071067811865476
LOG_2PI = 1.8378770664093456

#: c_j = 1 / (2j + 3), j = 0 .. 9: atanh(s) = s (1 + z sum_j c_j z^j), z = s^2. Ten terms
#: leave a relative error below 2**-53 for z <= 0.0295 (|s| <= 0.1716: the log's reduced
#: argument, log1p(-pp) for pp < 1/4 and Loader's deviance for |s| < 1/6).
ATANH_C = tuple(1.0 / (2 * j + 3) for j in range(10))
#: 1/k!, k = 0 .. 13: exp(r) to below 2**-53 relative for |r| <= ln2 / 2.
EXP_C = tuple(1.0 / math.factorial(k) for k in range(14))

#: Remainder of Stirling's series in the form of Hormann (1993):
#: fc(k) = log k! - ((k + 1/2) log(k + 1) - (k + 1) + log(2 pi) / 2), for k = 0 .. 29,
#: each the double nearest the value computed in 60-digit decimal arithmetic (checked
#: by tests/test_variates.py). From k = 30 on, :func:`stirling_series` is used.
FC_TABLE: FloatArray = np.array([
    0.08106146679532726, 0.0413406959554093, 0.02767792568499834,
    0.020790672103765093, 0.016644691189821193, 0.013876128823070748,
    0.01189670994589177, 0.010411265261972096, 0.009255462182712733,
    0.00833056343336287, 0.007573675487951841, 0.00694284010720953,
    0.006408994188004207, 0.0059513701127588475, 0.005554733551962801,
    0.0052076559196096404, 0.004901395948434738, 0.004629153749334028,
    0.004385560249232324, 0.004166319691996922, 0.00396795421864086,
    0.0037876180684444346, 0.0036229602246830948, 0.003472021382978767,
    0.003333155636728093, 0.003204970228055038, 0.0030862786826087773,
    0.002976063983550409, 0.0028734493623524663, 0.0027776749297526936,
])
FC_TABLE_SIZE = 30
#: Below this mean, inversion of the CDF (one uniform, a search from 0); from it on,
#: transformed rejection (Hormann's BTRS and PTRS are derived for means >= 10).
INVERSION_BELOW = 10.0
#: An inversion search that passes this k starts again with the next uniform. It only
#: happens when u is above the computed CDF's top (rounding, about 1e-15 of the time):
#: P(X > 110) is below 1e-70 for every law sent to inversion (mean < 10).
INVERSION_KMAX = 110.0
#: 1 / (k + 1) for the inversion recurrences: a product instead of a division on the
#: search's critical path (the same rounded reciprocals on both paths).
RECIPROCALS = 1.0 / np.arange(1.0, INVERSION_KMAX + 2.0)
#: Loader's deviance by its series below this |s| (z = s^2 <= 1/36), directly above.
BD0_SERIES_BELOW = 1.0 / 6.0
#: log1p(-pp) by its series below this pp (|s| <= 1/7), as log(1 - pp) above.
LOG1P_SERIES_BELOW = 0.25


# ---- leaf formulas: operators only, the same source for numpy arrays and scalars ----

def atanh_excess(s: FloatOrArray) -> FloatOrArray:
    """2 (atanh(s) - s) = 2 s z (1/3 + z/5 + ...), z = s^2, for ``|s| <= 0.1716`` (Estrin's
    scheme: short dependency chains, a fixed order). log(1 + d) = 2 s + atanh_excess(s)
    with s = d / (2 + d); Loader's deviance is d s + x atanh_excess(s).

    >>> import math
    >>> d = 0.2
    >>> s = d / (2.0 + d)
    >>> math.isclose(2.0 * s + atanh_excess(s), math.log1p(d), rel_tol=1e-15)
    True
    """
    c = ATANH_C
    z = s * s
    z2 = z * z
    z4 = z2 * z2
    q0 = (c[0] + c[1] * z) + (c[2] + c[3] * z) * z2
    q1 = (c[4] + c[5] * z) + (c[6] + c[7] * z) * z2
    return 2.0 * s * z * ((q0 + q1 * z4) + (c[8] + c[9] * z) * (z4 * z4))


def exp_series(r: FloatOrArray) -> FloatOrArray:
    """exp(r) for ``|r| <= ln2 / 2``, by its Taylor polynomial (Estrin's scheme).

    >>> import math
    >>> math.isclose(exp_series(0.25), math.exp(0.25), rel_tol=1e-15)
    True
    """
    c = EXP_C
    r2 = r * r
    r4 = r2 * r2
    s0 = ((c[0] + c[1] * r) + (c[2] + c[3] * r) * r2) + ((c[4] + c[5] * r)
                                                        + (c[6] + c[7] * r) * r2) * r4
    s1 = ((c[8] + c[9] * r) + (c[10] + c[11] * r) * r2) + (c[12] + c[13] * r) * r4
    return s0 + s1 * (r4 * r4)


def stirling_series(x: FloatOrArray) -> FloatOrArray:
    """fc(x - 1) for x >= 31 (see :data:`FC_TABLE`): 1/(12x) - 1/(360x^3) + 1/(1260x^5)
    - 1/(1680x^7) + 1/(1188x^9); the next term is below 1e-19 there.

    >>> import math
    >>> k = 30.0  # fc(k) = log k! - ((k + 1/2) log(k + 1) - (k + 1) + log(2 pi) / 2)
    >>> stirling = (k + 0.5) * math.log(k + 1) - (k + 1) + 0.5 * math.log(2 * math.pi)
    >>> fc = math.lgamma(k + 1) - stirling
    >>> math.isclose(stirling_series(k + 1), fc, rel_tol=1e-9)
    True
    """
    z = 1.0 / (x * x)
    return (1.0 / 12.0 - z * (1.0 / 360.0 - z * (1.0 / 1260.0 - z * (1.0 / 1680.0
                                                                   - z * (1.0 / 1188.0))))) / x


def btrs_setup(nf: FloatOrArray, pp: FloatOrArray, q: FloatOrArray
               ) -> tuple[FloatOrArray, FloatOrArray, FloatOrArray, FloatOrArray,
                          FloatOrArray, FloatOrArray]:
    """Hormann's (1993) BTRS constants for Binomial(n, pp), pp <= 1/2, n pp >= 10:
    (b, a, c, alpha, v_r, m) of 'The generation of binomial random variates',
    J. Statist. Comput. Simul. 46, 101-110.

    >>> b, a, c, alpha, v_r, m = btrs_setup(100.0, 0.3, 0.7)
    >>> round(float(b), 4), float(c), float(m)  # c = n p + 1/2, the mode m = floor((n + 1) p)
    (12.7439, 30.5, 30.0)
    """
    spq = np.sqrt(nf * pp * q)
    b = 1.15 + 2.53 * spq
    a = -0.0873 + 0.0248 * b + 0.01 * pp
    c = nf * pp + 0.5
    alpha = (2.83 + 5.1 / b) * spq
    v_r = 0.92 - 4.2 / b
    m = np.floor((nf + 1.0) * pp)
    return b, a, c, alpha, v_r, m


def ptrs_setup(lam: FloatOrArray
               ) -> tuple[FloatOrArray, FloatOrArray, FloatOrArray, FloatOrArray]:
    """Hormann's (1993) PTRS constants for Poisson(lam), lam >= 10: (b, a, 1/alpha, v_r) of
    'The transformed rejection method for generating Poisson random variables',
    Insurance: Mathematics and Economics 12, 39-45.

    >>> b, a, inv_alpha, v_r = ptrs_setup(20.0)
    >>> round(float(b), 4), round(float(v_r), 4)
    (12.2455, 0.5741)
    """
    slam = np.sqrt(lam)
    b = 0.931 + 2.53 * slam
    a = -0.059 + 0.02483 * b
    inv_alpha = 1.1239 + 1.1328 / (b - 3.4)
    v_r = 0.9277 - 3.6224 / (b - 2.0)
    return b, a, inv_alpha, v_r


_atanh_excess = compiled.kernel(atanh_excess)
_exp_series = compiled.kernel(exp_series)
_stirling_series = compiled.kernel(stirling_series)
_btrs_setup = compiled.kernel(btrs_setup)
_ptrs_setup = compiled.kernel(ptrs_setup)


# ---- scalar kernels: the numpy path's per-array steps, per element, in its order ----

@compiled.kernel
def _philox(c0: np.uint64, c1: np.uint64, c2: np.uint64,  # pragma: no cover - compiled
            c3: np.uint64, k0: np.uint64, k1: np.uint64) -> Block:
    """Philox4x64-10 of counter (c0, c1, c2, c3) under key (k0, k1): four 64-bit words."""
    for _ in range(PHILOX_ROUNDS):
        hi0, lo0 = compiled.wide_multiply(PHILOX_M0, c0)
        hi1, lo1 = compiled.wide_multiply(PHILOX_M1, c2)
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
        k0 = k0 + PHILOX_W0
        k1 = k1 + PHILOX_W1
    return c0, c1, c2, c3


@compiled.kernel
def _unit(w: np.uint64) -> float:  # pragma: no cover - compiled
    return np.float64(w >> SHIFT11) * TWO_M53


@compiled.kernel
def _log1p_small(d: float) -> float:  # pragma: no cover - compiled
    """log(1 + d) for -0.293 <= d <= 0.415 (|s| <= 0.1716)."""
    s = d / (2.0 + d)
    return 2.0 * s + _atanh_excess(s)


@compiled.kernel
def _log(x: float) -> float:  # pragma: no cover - compiled
    """log(x), x > 0 finite: x = m 2^e with m in [sqrt(1/2), sqrt(2)), then log1p(m - 1)."""
    m, e = math.frexp(x)
    if m < SQRT_HALF:
        m = m + m
        e -= 1
    ef = np.float64(e)
    return ef * LN2_HI + (ef * LN2_LO + _log1p_small(m - 1.0))


@compiled.kernel
def _log_q(pp: float) -> float:  # pragma: no cover - compiled
    """log(1 - pp) for 0 < pp <= 1/2: by the series for small pp (no rounding of 1 - pp)."""
    if pp < LOG1P_SERIES_BELOW:
        return _log1p_small(-pp)
    return _log(1.0 - pp)


@compiled.kernel
def _exp(y: float) -> float:  # pragma: no cover - compiled
    """exp(y) for -700 < y <= 0: y = k ln2 + r, |r| <= ln2 / 2 (Cody and Waite)."""
    k = np.floor(y * INV_LN2 + 0.5)
    r = (y - k * LN2_HI) - k * LN2_LO
    return math.ldexp(_exp_series(r), int(k))


@compiled.kernel
def _fc(kf: float) -> float:  # pragma: no cover - compiled
    if kf < FC_TABLE_SIZE:
        tabled: float = FC_TABLE[int(kf)]  # numpy types an element of an array as Any
        return tabled
    return _stirling_series(kf + 1.0)


@compiled.kernel
def _bd0(x: float, big_m: float) -> float:  # pragma: no cover - compiled
    d = x - big_m
    s = d / (x + big_m)
    if abs(s) < BD0_SERIES_BELOW:
        return d * s + x * _atanh_excess(s)
    return x * _log(x / big_m) - d


@compiled.kernel
def _binomial_log_f(kf: float, nf: float, x0: float, y0: float,  # pragma: no cover - compiled
                    x0y0: float) -> float:
    """log Binomial(n, pp) pmf at k, up to a constant of k (see variates._binomial_log_f)."""
    x = kf + 1.0
    y = nf - kf + 1.0
    return -(_fc(kf) + _fc(nf - kf)) - (_bd0(x, x0) + _bd0(y, y0)) + 0.5 * _log((x * y) / x0y0)


@compiled.kernel
def _inversion(f0: float, r: float, nf: float, is_binomial: bool,  # pragma: no cover - compiled
               k0: np.uint64, k1: np.uint64, c1: np.uint64, c2: np.uint64,
               c3: np.uint64) -> float:
    """Smallest k with u < F(k), F by the pmf's recurrence; a fresh uniform past the top."""
    kmax = min(nf, INVERSION_KMAX)
    i = 0
    w0 = w1 = w2 = w3 = np.uint64(0)
    while True:
        if i & 3 == 0:
            w0, w1, w2, w3 = _philox(np.uint64(i >> 2), c1, c2, c3, k0, k1)
        j = i & 3
        u = _unit(w0 if j == 0 else w1 if j == 1 else w2 if j == 2 else w3)
        i += 1
        kf = 0.0
        f = f0
        big_f = f0
        while u >= big_f and kf < kmax:
            if is_binomial:
                f = f * ((r * (nf - kf)) * RECIPROCALS[int(kf)])
            else:
                f = f * (r * RECIPROCALS[int(kf)])
            kf += 1.0
            big_f = big_f + f
        if u < big_f:
            return kf


@compiled.kernel
def _btrs(nf: float, pp: float, q: float, k0: np.uint64,  # pragma: no cover - compiled
          k1: np.uint64, c1: np.uint64, c2: np.uint64, c3: np.uint64) -> float:
    b, a, c, alpha, v_r, m = _btrs_setup(nf, pp, q)
    x0 = (nf + 2.0) * pp
    y0 = (nf + 2.0) * q
    x0y0 = x0 * y0
    log_fm = 0.0
    have_fm = False  # log f(m) is needed only past the squeeze: computed then, once
    attempt = 0
    w0 = w1 = w2 = w3 = np.uint64(0)
    while True:
        if attempt & 1 == 0:
            w0, w1, w2, w3 = _philox(np.uint64(attempt >> 1), c1, c2, c3, k0, k1)
            u, v = _unit(w0), _unit(w1)
        else:
            u, v = _unit(w2), _unit(w3)
        attempt += 1
        u = u - 0.5
        us = 0.5 - abs(u)
        if us == 0.0:
            continue
        kf: float = np.floor((2.0 * a / us + b) * u + c)  # np.floor of a float is Any to mypy
        if kf < 0.0 or kf > nf:
            continue
        if us >= 0.07 and v <= v_r:
            return kf
        t = v * alpha / (a / (us * us) + b)
        if t == 0.0:
            return kf
        if not have_fm:
            log_fm = _binomial_log_f(m, nf, x0, y0, x0y0)
            have_fm = True
        if _log(t) <= _binomial_log_f(kf, nf, x0, y0, x0y0) - log_fm:
            return kf


@compiled.kernel
def _ptrs(lam: float, k0: np.uint64, k1: np.uint64,  # pragma: no cover - compiled
          c1: np.uint64, c2: np.uint64, c3: np.uint64) -> float:
    b, a, inv_alpha, v_r = _ptrs_setup(lam)
    half_log_2pi_lam = 0.0
    have_c = False  # the normalising term is needed only past the squeeze
    attempt = 0
    w0 = w1 = w2 = w3 = np.uint64(0)
    while True:
        if attempt & 1 == 0:
            w0, w1, w2, w3 = _philox(np.uint64(attempt >> 1), c1, c2, c3, k0, k1)
            u, v = _unit(w0), _unit(w1)
        else:
            u, v = _unit(w2), _unit(w3)
        attempt += 1
        u = u - 0.5
        us = 0.5 - abs(u)
        if us == 0.0:
            continue
        kf: float = np.floor((2.0 * a / us + b) * u + lam + 0.43)  # (np.floor: Any to mypy)
        if kf < 0.0:
            continue
        if us >= 0.07 and v <= v_r:
            return kf
        if us < 0.013 and v > us:
            continue
        t = v * inv_alpha / (a / (us * us) + b)
        if t == 0.0:
            return kf
        if not have_c:
            half_log_2pi_lam = 0.5 * (LOG_2PI + _log(lam))
            have_c = True
        x = kf + 1.0
        log_f = (-_bd0(x, lam) - _fc(kf) + 0.5 * _log(x / lam)) - half_log_2pi_lam
        if _log(t) <= log_f:
            return kf


@compiled.kernel
def binomial_kernel(n: IntArray, p: FloatArray,  # pragma: no cover - compiled
                    k0: WordArray, k1: WordArray, c1: np.uint64, c2: np.uint64,
                    c3: np.uint64, out: IntArray) -> IntArray:
    """Binomial(n[i], p[i]) from stream (k0[i], k1[i]; counter (., c1, c2, c3)) into out[i].

    >>> from threatsim.stats.variates import ChanceStreams
    >>> chance = ChanceStreams(7, np.arange(3))
    >>> event, flow, month = np.uint64(0), np.uint64(1), np.uint64(0)
    >>> binomial_kernel(np.full(3, 100), np.full(3, 0.3), chance.key0, chance.key1,
    ...                 event, flow, month, np.empty(3, dtype=np.int64)).tolist()
    [26, 27, 27]
    >>> chance.binomial(100, 0.3, month=0, flow=1).tolist()  # the same numbers
    [26, 27, 27]
    """
    for i in range(n.size):
        ni, pi = n[i], p[i]
        if ni == 0 or pi == 0.0:
            out[i] = 0
            continue
        if pi == 1.0:
            out[i] = ni
            continue
        flip = pi > 0.5
        pp = 1.0 - pi if flip else pi
        q = pi if flip else 1.0 - pi
        nf = np.float64(ni)
        if nf * pp < INVERSION_BELOW:
            f0 = _exp(nf * _log_q(pp))
            x = _inversion(f0, pp / q, nf, True, k0[i], k1[i], c1, c2, c3)
        else:
            x = _btrs(nf, pp, q, k0[i], k1[i], c1, c2, c3)
        out[i] = ni - np.int64(x) if flip else np.int64(x)
    return out


@compiled.kernel
def poisson_kernel(lam: FloatArray, k0: WordArray,  # pragma: no cover - compiled
                   k1: WordArray, c1: np.uint64, c2: np.uint64, c3: np.uint64,
                   out: IntArray) -> IntArray:
    """Poisson(lam[i]) from stream (k0[i], k1[i]; counter (., c1, c2, c3)) into out[i].

    >>> from threatsim.stats.variates import ChanceStreams
    >>> chance = ChanceStreams(7, np.arange(3))
    >>> event, flow, month = np.uint64(0), np.uint64(2), np.uint64(0)
    >>> poisson_kernel(np.full(3, 4.0), chance.key0, chance.key1, event, flow, month,
    ...                np.empty(3, dtype=np.int64)).tolist()
    [1, 3, 6]
    """
    for i in range(lam.size):
        li = lam[i]
        if li == 0.0:
            out[i] = 0
        elif li < INVERSION_BELOW:
            out[i] = np.int64(_inversion(_exp(-li), li, np.inf, False, k0[i], k1[i],
                                         c1, c2, c3))
        else:
            out[i] = np.int64(_ptrs(li, k0[i], k1[i], c1, c2, c3))
    return out


@compiled.kernel
def uniforms_kernel(k0: WordArray, k1: WordArray,  # pragma: no cover - compiled
                    c1: np.uint64, c2: np.uint64, c3: np.uint64,
                    out: FloatArray) -> FloatArray:
    """out[i, j]: uniform j of stream i (block j // 4, word j % 4).

    >>> from threatsim.stats.variates import ChanceStreams
    >>> chance = ChanceStreams(7, np.arange(3))
    >>> event, flow, month = np.uint64(0), np.uint64(3), np.uint64(0)
    >>> out = uniforms_kernel(chance.key0, chance.key1, event, flow, month, np.empty((3, 2)))
    >>> out.round(3).tolist()
    [[0.531, 0.489], [0.002, 0.65], [0.153, 0.704]]
    """
    count = out.shape[1]
    for i in range(out.shape[0]):
        for blk in range((count + 3) // 4):
            w = _philox(np.uint64(blk), c1, c2, c3, k0[i], k1[i])
            for j in range(min(4, count - 4 * blk)):
                out[i, 4 * blk + j] = _unit(w[j])
    return out


# ---- numpy's standard exponential on numpy's Philox, continued in place ----------------

@compiled.kernel
def _exponential_step(word: np.uint64, pending: bool, idx: np.uint64,  # pragma: no cover
                      x: float, out: FloatArray, i: int
                      ) -> tuple[bool, np.uint64, float, int]:
    """One word of numpy's standard exponential (see :func:`exponential_fill`): a draw's
    first word, or, when *pending*, the uniform its unlikely path (layer *idx*, candidate
    *x*) asks for. Writes out[i] when a draw ends; (pending, idx, x, i) after the word."""
    if not pending:
        ri = word >> SHIFT3
        idx = ri & LOW8
        ri = ri >> SHIFT8
        # ri < 2**53: its conversion is exact, signed or not (numpy converts it unsigned)
        x = np.float64(np.int64(ri)) * WE_DOUBLE[idx]
        if ri < KE_DOUBLE[idx]:  # 97.8 % of words (numpy's comment says 98.9)
            out[i] = x
            return False, idx, x, i + 1
        return True, idx, x, i
    u = _unit(word)
    if idx == ZERO_WORD:  # the tail beyond ZIGGURAT_EXP_R; 1 - u, so never log(0)
        out[i] = ZIGGURAT_EXP_R - math.log1p(-u)
        return False, idx, x, i + 1
    if (FE_DOUBLE[idx - ONE_WORD] - FE_DOUBLE[idx]) * u + FE_DOUBLE[idx] < math.exp(-x):
        out[i] = x
        return False, idx, x, i + 1
    return False, idx, x, i  # rejected: the next word starts the draw again


@compiled.kernel
def exponential_fill(k0: np.uint64, k1: np.uint64, counter: WordArray,  # pragma: no cover
                     buffer: WordArray, pos: int, out: FloatArray) -> int:
    """Fill *out* (1-d) with the numbers ``Generator(Philox).standard_exponential(out=out)``
    gives when the Philox has key (k0, k1), *counter*, *buffer* and buffer position *pos*;
    *counter* and *buffer* are left as numpy leaves them and the new position is returned.
    (:func:`threatsim.stats.variates.standard_exponential_into` reads and writes a
    Generator's state around it.)

    numpy's C, step for step (numpy 2.4.6: distributions.c, random_standard_exponential;
    philox.h, philox_next): a 64-bit word; ``ri = word >> 3``, its low 8 bits the layer
    ``idx``, ``ri >>= 8`` leaves 53 bits; ``x = ri * WE_DOUBLE[idx]``, kept when
    ``ri < KE_DOUBLE[idx]``. Else the next word as a double u: for idx 0 the tail,
    ``ZIGGURAT_EXP_R - log1p(-u)``; for the others x is kept when
    ``(FE[idx-1] - FE[idx]) u + FE[idx] < exp(-x)``, else the draw starts again with the
    next word. Why the bits agree: the integer work is exact; each float operation is one
    correctly rounded IEEE operation on both sides, with no fused multiply-add (numba
    compiles without fast-math; numpy's C is built as C11, where GCC does not contract,
    and for an x86-64 baseline without FMA); ``log1p`` and ``exp`` are the C library's
    on both sides (numba calls libm's as numpy does). tests/test_exponential_fill.py
    compares the bits, the tail and the rejections included.

    The counter and the current block stay in registers, a block's four words are taken
    in turn (through arrays in memory, 7.1 against 4.9 ns a number; numpy 6.4 ns, on the
    2-core AMD EPYC of 2026-12-03).

    >>> gen = np.random.Generator(np.random.Philox(key=[5, 6], counter=[7, 0, 0, 0]))
    >>> out = np.empty(3)
    >>> pos = exponential_fill(np.uint64(5), np.uint64(6), np.array([7, 0, 0, 0], np.uint64),
    ...                        np.zeros(4, np.uint64), 4, out)  # 4: the buffer is used up
    >>> bool(np.array_equal(out, gen.standard_exponential(3))), pos
    (True, 3)
    """
    n = out.size
    i = 0
    pending = False
    idx = ZERO_WORD
    x = 0.0
    while pos < PHILOX_BUFFER_SIZE and i < n:  # what is left of numpy's current block
        pending, idx, x, i = _exponential_step(buffer[pos], pending, idx, x, out, i)
        pos += 1
    if i == n:
        return pos
    c0, c1, c2, c3 = counter[0], counter[1], counter[2], counter[3]
    w0 = w1 = w2 = w3 = ZERO_WORD
    while i < n:  # a draw ends only with a number written: never pending at the end
        c0 += ONE_WORD  # numpy's 256-bit counter step, carried word to word
        if c0 == ZERO_WORD:
            c1 += ONE_WORD
            if c1 == ZERO_WORD:
                c2 += ONE_WORD
                if c2 == ZERO_WORD:
                    c3 += ONE_WORD
        w0, w1, w2, w3 = _philox(c0, c1, c2, c3, k0, k1)
        pos = 1
        pending, idx, x, i = _exponential_step(w0, pending, idx, x, out, i)
        if i < n:
            pos = 2
            pending, idx, x, i = _exponential_step(w1, pending, idx, x, out, i)
            if i < n:
                pos = 3
                pending, idx, x, i = _exponential_step(w2, pending, idx, x, out, i)
                if i < n:
                    pos = 4
                    pending, idx, x, i = _exponential_step(w3, pending, idx, x, out, i)
    counter[0], counter[1], counter[2], counter[3] = c0, c1, c2, c3
    buffer[0], buffer[1], buffer[2], buffer[3] = w0, w1, w2, w3
    return pos

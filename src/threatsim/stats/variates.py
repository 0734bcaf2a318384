"""Binomial and Poisson variates from counter-based streams: chance that is common random numbers.

A model that draws ``rng.binomial(n, p)`` for a whole chunk from one Generator
gives draw j numbers that depend on every draw before it in the chunk (numpy's
samplers take a variable count of uniforms per variate), so the result of a
draw changes with the chunk size and with other draws' parameters. Here every
random number a draw uses is a pure function of

    key     = (run seed, draw index, replicate)              -- who
    counter = (block k, event, flow, month)                  -- what for

through Philox4x64-10 (Salmon et al. 2011; the same function, words and order as
``numpy.random.Philox``, tested). Element i of a call reads only its own stream
(key_i; counter (k, event, flow, month) for k = 0, 1, ...), so how many uniforms
another element consumed, or how the draws were cut into chunks, never matters.

Key layout: ``key[0]`` is a 64-bit hash of the run seed (``SeedSequence``,
:func:`seed_key`); ``key[1] = replicate << 40 | draw index`` (draw index below
2**40, replicate below 2**24). Uniform j of a stream is word ``j % 4`` of block
``k = j // 4``, as ``(word >> 11) * 2**-53``: 53 bits, in [0, 1).

Samplers (exact in distribution up to double rounding; each element starts at its
block 0 for each (month, flow, event)):

* Binomial(n, p): p > 1/2 by symmetry (n - Binomial(n, 1 - p)); n p < 10 by
  inversion of the CDF (one uniform, search from 0 with the pmf's recurrence);
  n p >= 10 by Hormann's (1993) BTRS transformed rejection, two uniforms an
  attempt, the acceptance test on log pmf ratios in Loader's (2000) form
  (Stirling remainders and the deviance bd0, no large cancelling terms).
* Poisson(lam): lam < 10 by inversion; lam >= 10 by Hormann's (1993) PTRS.

Two paths, the same bits: the numpy code here is the reference and runs where
numba is missing or ``THREATSIM_COMPILED=0``; elsewhere the kernels of
:mod:`threatsim.stats.variates_compiled` run (why their bits agree is said there).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from threatsim.core import compiled
from threatsim.stats import variates_compiled as vc

__all__ = ["ChanceStreams", "philox4x64", "seed_key", "standard_exponential_into"]

DRAW_BITS = 40
REPLICATE_BITS = 24
_MAX_N = 2**53  # n and k stay exact in double precision below this
_MAX_LAM = 1e15
#: spawn-key tag of the run seed's child that becomes key[0] (not used by engine.streams)
_CHANCE_TAG = 0x43484E43  # "CHNC"
#: standard_exponential_into runs compiled from this many numbers on: reading and writing
#: the Generator's state and calling the kernel cost about 5.5 us, the kernel saves about
#: 1.4 ns a number (2048 numbers: numpy 13.8, compiled 16.5 us; 4096: 28.0 against 26.7).
EXPONENTIAL_COMPILED_FROM = 4096

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
#: Philox key and counter words, and its output words.
WordArray = npt.NDArray[np.uint64]
#: The counter words (event, flow, month) of a call: what its numbers are for.
Counter = tuple[np.uint64, np.uint64, np.uint64]
#: A subset of the draws: a slice, indices or a mask.
Selection = slice | npt.NDArray[np.integer | np.bool_] | Sequence[int]


@functools.lru_cache(maxsize=64)  # a pure function of the seed, asked for by every chunk
def seed_key(seed: int) -> np.uint64:
    """key[0] of every chance stream of a run: a 64-bit child of the run seed.

    >>> int(seed_key(7))
    17438200620786953865
    >>> bool(seed_key(7) == seed_key(7)), bool(seed_key(7) != seed_key(8))
    (True, True)
    """
    ss = np.random.SeedSequence(int(seed), spawn_key=(_CHANCE_TAG,))
    key: np.uint64 = ss.generate_state(1, np.uint64)[0]  # an element: Any to numpy's stubs
    return key


# ---- Philox4x64-10 on arrays -------------------------------------------------------

def _mulhilo(m: np.uint64, x: WordArray) -> tuple[WordArray, WordArray]:
    """(high, low) halves of the 128-bit products m * x, from 32-bit halves (exact)."""
    m_lo, m_hi = m & vc.LOW32, m >> vc.SHIFT32
    x_lo, x_hi = x & vc.LOW32, x >> vc.SHIFT32
    p00, p01, p10, p11 = x_lo * m_lo, x_hi * m_lo, x_lo * m_hi, x_hi * m_hi
    mid = (p00 >> vc.SHIFT32) + (p01 & vc.LOW32) + (p10 & vc.LOW32)
    hi = p11 + (p01 >> vc.SHIFT32) + (p10 >> vc.SHIFT32) + (mid >> vc.SHIFT32)
    return hi, x * m


def philox4x64(counter: npt.ArrayLike, key: npt.ArrayLike) -> WordArray:
    """Philox4x64-10: the four 64-bit words of each counter (4, ...) under key (2, ...).

    The function ``numpy.random.Philox`` applies: its block after counter ``c`` is
    this function of ``c + 1`` (it steps the counter before each block).

    >>> key = np.array([[1], [0]], dtype=np.uint64)
    >>> words = philox4x64(np.array([[1], [0], [0], [0]], dtype=np.uint64), key)
    >>> gen = np.random.Philox(key=key[:, 0], counter=np.zeros(4, dtype=np.uint64))
    >>> bool(np.array_equal(words[:, 0], gen.random_raw(4)))  # numpy's block after counter 0
    True
    """
    c = np.asarray(counter, dtype=np.uint64)
    k = np.asarray(key, dtype=np.uint64)
    shape = np.broadcast_shapes(c.shape[1:], k.shape[1:])
    # Arrays, not numpy scalars: scalar uint64 products warn when they wrap.
    c0, c1, c2, c3 = (np.array(np.broadcast_to(w, shape)) for w in c)
    k0, k1 = (np.array(np.broadcast_to(w, shape)) for w in k)
    for _ in range(vc.PHILOX_ROUNDS):
        hi0, lo0 = _mulhilo(vc.PHILOX_M0, c0)
        hi1, lo1 = _mulhilo(vc.PHILOX_M1, c2)
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
        k0 = k0 + vc.PHILOX_W0
        k1 = k1 + vc.PHILOX_W1
    return np.stack([c0, c1, c2, c3])


def _unit(w: WordArray) -> FloatArray:
    return (w >> vc.SHIFT11).astype(np.float64) * vc.TWO_M53


def _block(k0: WordArray, k1: WordArray, block: int, c1: np.uint64, c2: np.uint64,
           c3: np.uint64) -> WordArray:
    """Block *block* of the streams (k0, k1) at counter (block, c1, c2, c3): (4, m) words."""
    return philox4x64((np.uint64(block), c1, c2, c3), (k0, k1))


# ---- the numpy reference of the compiled scalar functions -------------------------

def _log1p_small(d: FloatArray) -> FloatArray:
    """log(1 + d) for -0.293 <= d <= 0.415 (see variates_compiled.atanh_excess)."""
    s = d / (2.0 + d)
    return 2.0 * s + vc.atanh_excess(s)


def _log(x: FloatArray) -> FloatArray:
    """log(x), x > 0 finite, with operators only (see variates_compiled._log)."""
    m, e = np.frexp(x)
    low = m < vc.SQRT_HALF
    m = np.where(low, m + m, m)
    ef = (e - low).astype(np.float64)
    return ef * vc.LN2_HI + (ef * vc.LN2_LO + _log1p_small(m - 1.0))


def _log_q(pp: FloatArray) -> FloatArray:
    """log(1 - pp) for 0 < pp <= 1/2 (see variates_compiled._log_q)."""
    small = pp < vc.LOG1P_SERIES_BELOW
    return np.where(small, _log1p_small(-np.where(small, pp, 0.0)),
                    _log(1.0 - np.where(small, 0.5, pp)))


def _exp(y: FloatArray) -> FloatArray:
    """exp(y) for -700 < y <= 0 (see variates_compiled._exp)."""
    k = np.floor(y * vc.INV_LN2 + 0.5)
    r = (y - k * vc.LN2_HI) - k * vc.LN2_LO
    return np.ldexp(vc.exp_series(r), k.astype(np.int64))


def _fc(kf: FloatArray) -> FloatArray:
    """Stirling remainder fc(k) (see variates_compiled.FC_TABLE) for float k >= 0."""
    small = kf < vc.FC_TABLE_SIZE
    from_table = vc.FC_TABLE[np.where(small, kf, 0.0).astype(np.int64)]
    return np.where(small, from_table, vc.stirling_series(kf + 1.0))


def _bd0(x: FloatArray, big_m: FloatArray) -> FloatArray:
    """Loader's bd0(x, M) = x log(x / M) + M - x >= 0: by series near x = M, else directly."""
    d = x - big_m
    s = d / (x + big_m)
    near = np.abs(s) < vc.BD0_SERIES_BELOW
    return np.where(near, d * s + x * vc.atanh_excess(np.where(near, s, 0.0)),
                    x * _log(x / big_m) - d)


def _binomial_log_f(kf: FloatArray, nf: FloatArray, x0: FloatArray, y0: FloatArray,
                    x0y0: FloatArray) -> FloatArray:
    """log of the Binomial(n, pp) pmf at k, up to a term that does not depend on k.

    With x = k + 1, y = n - k + 1, x0 = (n + 2) pp, y0 = (n + 2) q (x + y = x0 + y0),
    Stirling's formula for k! and (n - k)! with remainders fc gives
    log f(k) = C - fc(k) - fc(n - k) - bd0(x, x0) - bd0(y, y0) + log(x y / (x0 y0)) / 2.
    """
    x = kf + 1.0
    y = nf - kf + 1.0
    return -(_fc(kf) + _fc(nf - kf)) - (_bd0(x, x0) + _bd0(y, y0)) + 0.5 * _log((x * y) / x0y0)


def _inversion(f0: FloatArray, r: FloatArray, nf: FloatArray, is_binomial: bool,
               k0: WordArray, k1: WordArray, c1: np.uint64, c2: np.uint64,
               c3: np.uint64) -> FloatArray:
    """Inversion by sequential search, all elements at once (variates_compiled._inversion)."""
    out = np.zeros(f0.size)
    todo = np.arange(f0.size)
    kmax = np.minimum(nf, vc.INVERSION_KMAX)
    i = 0  # uniform index: every element still to do is on the same one
    words: WordArray  # bound on the first pass (block 0), before its first use
    while todo.size:
        if i % 4 == 0:
            words = _block(k0[todo], k1[todo], i // 4, c1, c2, c3)
        u = _unit(words[i % 4])
        i += 1
        kf = np.zeros(todo.size)
        f = f0[todo].copy()
        big_f = f.copy()
        r_t, nf_t, kmax_t = r[todo], nf[todo], kmax[todo]
        live = np.flatnonzero((u >= big_f) & (kf < kmax_t))
        while live.size:
            recip = vc.RECIPROCALS[kf[live].astype(np.int64)]
            if is_binomial:
                f[live] = f[live] * ((r_t[live] * (nf_t[live] - kf[live])) * recip)
            else:
                f[live] = f[live] * (r_t[live] * recip)
            kf[live] += 1.0
            big_f[live] = big_f[live] + f[live]
            live = live[(u[live] >= big_f[live]) & (kf[live] < kmax_t[live])]
        done = u < big_f
        out[todo[done]] = kf[done]
        todo = todo[~done]
        words = words[:, ~done]
    return out


def _transformed_rejection(kind: str, params: tuple[FloatArray, ...], k0: WordArray,
                           k1: WordArray, c1: np.uint64, c2: np.uint64,
                           c3: np.uint64) -> FloatArray:
    """BTRS (kind "binomial", params (nf, pp, q)) or PTRS ("poisson", (lam,)), vectorised:
    every element still rejecting is on the same attempt, attempt j uses uniforms
    2j and 2j + 1 of its stream."""
    if kind == "binomial":
        nf, pp, q = params
        b, a, c, alpha, v_r, m = vc.btrs_setup(nf, pp, q)
        x0 = (nf + 2.0) * pp
        y0 = (nf + 2.0) * q
        x0y0 = x0 * y0
        log_fm = _binomial_log_f(m, nf, x0, y0, x0y0)
        scale, upper = alpha, nf
    else:
        (lam,) = params
        b, a, inv_alpha, v_r = vc.ptrs_setup(lam)
        half_log_2pi_lam = 0.5 * (vc.LOG_2PI + _log(lam))
        c, scale, upper = lam, inv_alpha, np.full(lam.size, np.inf)
    out = np.zeros(b.size)
    todo = np.arange(b.size)
    attempt = 0
    words: WordArray  # bound on the first pass (block 0), before its first use
    while todo.size:
        if attempt % 2 == 0:
            words = _block(k0[todo], k1[todo], attempt // 2, c1, c2, c3)
        u, v = _unit(words[2 * (attempt % 2)]), _unit(words[2 * (attempt % 2) + 1])
        attempt += 1
        u = u - 0.5
        us = 0.5 - np.abs(u)
        a_t, b_t = a[todo], b[todo]
        usable = us != 0.0
        us_safe = np.where(usable, us, 1.0)
        if kind == "binomial":
            kf = np.floor((2.0 * a_t / us_safe + b_t) * u + c[todo])
        else:
            kf = np.floor((2.0 * a_t / us_safe + b_t) * u + c[todo] + 0.43)
        ok = usable & (kf >= 0.0) & (kf <= upper[todo])
        accept = ok & (us >= 0.07) & (v <= v_r[todo])
        slow = ok & ~accept
        if kind == "poisson":
            slow &= ~((us < 0.013) & (v > us))
        s = np.flatnonzero(slow)
        if s.size:
            us_s = us[s]
            t = v[s] * scale[todo[s]] / (a_t[s] / (us_s * us_s) + b_t[s])
            zero = t == 0.0
            log_t = _log(np.where(zero, 1.0, t))
            ks, ts = kf[s], todo[s]
            if kind == "binomial":
                log_f = _binomial_log_f(ks, nf[ts], x0[ts], y0[ts], x0y0[ts]) - log_fm[ts]
            else:
                x = ks + 1.0
                lam_s = lam[ts]
                log_f = (-_bd0(x, lam_s) - _fc(ks) + 0.5 * _log(x / lam_s)) - half_log_2pi_lam[ts]
            accept[s] = zero | (log_t <= log_f)
        out[todo[accept]] = kf[accept]
        todo = todo[~accept]
        words = words[:, ~accept]
    return out


def _binomial_numpy(n: IntArray, p: FloatArray, k0: WordArray, k1: WordArray,
                    c1: np.uint64, c2: np.uint64, c3: np.uint64) -> IntArray:
    out = np.zeros(n.size, dtype=np.int64)
    trivial = (n == 0) | (p == 0.0) | (p == 1.0)
    out[trivial & (p == 1.0)] = n[trivial & (p == 1.0)]
    idx = np.flatnonzero(~trivial)
    if not idx.size:
        return out
    pi, ni = p[idx], n[idx]
    flip = pi > 0.5
    pp = np.where(flip, 1.0 - pi, pi)
    q = np.where(flip, pi, 1.0 - pi)
    nf = ni.astype(np.float64)
    x = np.zeros(idx.size)
    inv = nf * pp < vc.INVERSION_BELOW
    j = np.flatnonzero(inv)
    if j.size:
        f0 = _exp(nf[j] * _log_q(pp[j]))
        x[j] = _inversion(f0, pp[j] / q[j], nf[j], True, k0[idx[j]], k1[idx[j]], c1, c2, c3)
    j = np.flatnonzero(~inv)
    if j.size:
        x[j] = _transformed_rejection("binomial", (nf[j], pp[j], q[j]),
                                      k0[idx[j]], k1[idx[j]], c1, c2, c3)
    xi = x.astype(np.int64)
    out[idx] = np.where(flip, ni - xi, xi)
    return out


def _poisson_numpy(lam: FloatArray, k0: WordArray, k1: WordArray, c1: np.uint64,
                   c2: np.uint64, c3: np.uint64) -> IntArray:
    out = np.zeros(lam.size, dtype=np.int64)
    j = np.flatnonzero((lam > 0.0) & (lam < vc.INVERSION_BELOW))
    if j.size:
        lj = lam[j]
        out[j] = _inversion(_exp(-lj), lj, np.full(j.size, np.inf), False,
                            k0[j], k1[j], c1, c2, c3).astype(np.int64)
    j = np.flatnonzero(lam >= vc.INVERSION_BELOW)
    if j.size:
        out[j] = _transformed_rejection("poisson", (lam[j],), k0[j], k1[j],
                                        c1, c2, c3).astype(np.int64)
    return out


# ---- numpy's own exponentials, drawn faster ---------------------------------------

def standard_exponential_into(gen: np.random.Generator, out: FloatArray) -> None:
    """``gen.standard_exponential(out=out)``, the same numbers and the same state after.

    Compiled (:func:`threatsim.stats.variates_compiled.exponential_fill`) where numba is
    enabled, *gen* is a ``numpy.random.Generator`` of a ``numpy.random.Philox``, and *out*
    is a C-contiguous float64 array of at least :data:`EXPONENTIAL_COMPILED_FROM` numbers
    (below, the state's round trip costs more than the kernel saves): the Generator's state
    is read, continued by the kernel and written back, under the bit generator's lock as
    numpy's own methods hold it. Otherwise *gen* draws them itself.

    >>> gen, twin = (np.random.Generator(np.random.Philox(7)) for _ in range(2))
    >>> ours, numpys = np.empty(5000), np.empty(5000)
    >>> standard_exponential_into(gen, ours)
    >>> _ = twin.standard_exponential(out=numpys)
    >>> bool(np.array_equal(ours, numpys)), bool(gen.random() == twin.random())
    (True, True)
    """
    # Exactly numpy's Generator and Philox: anything else (a subclass, a test's stand-in)
    # is asked for its own standard_exponential.
    bit_generator = gen.bit_generator if type(gen) is np.random.Generator else None
    if not (compiled.enabled() and type(bit_generator) is np.random.Philox
            and out.dtype == np.float64 and out.flags.c_contiguous and out.flags.writeable
            and out.size >= EXPONENTIAL_COMPILED_FROM):
        gen.standard_exponential(out=out)
        return
    with bit_generator.lock:
        state = bit_generator.state
        words = state["state"]
        # asarray: numpy hands out fresh uint64 arrays, used in place and handed back
        counter = np.asarray(words["counter"], dtype=np.uint64)
        buffer = np.asarray(state["buffer"], dtype=np.uint64)
        key = np.asarray(words["key"], dtype=np.uint64)
        state["buffer_pos"] = vc.exponential_fill(key[0], key[1], counter, buffer,
                                                  int(state["buffer_pos"]), out.reshape(-1))
        # next_uint64 leaves has_uint32 and uinteger (a half-used 32-bit word) as they are
        words["counter"] = counter
        state["buffer"] = buffer
        bit_generator.state = state


# ---- the API models call -----------------------------------------------------------

def _counter_word(value: int, what: str) -> np.uint64:
    value = int(value)
    if not 0 <= value < 2**64:
        raise ValueError(f"{what} must be in [0, 2**64), got {value}")
    return np.uint64(value)


class ChanceStreams:
    """The chance of a set of draws: one Philox key per (run seed, draw index, replicate).

    ``ChanceStreams(seed, draw_index, replicate)`` covers the draws *draw_index*
    (their global indices, not positions in a chunk); each method takes what the
    numbers are for -- ``month``, ``flow`` (an id the model fixes for each
    transition), ``event`` (to tell apart several calls of one flow in a month) --
    and returns one variate per draw. Each (month, flow, event) of a draw must be
    used by one call only: a second call with the same triple repeats its numbers.

    >>> chance = ChanceStreams(7, np.arange(3))  # draws 0, 1, 2 of the run with seed 7
    >>> chance.binomial(100, 0.3, month=0, flow=1).tolist()
    [26, 27, 27]
    >>> chance[1:].binomial(100, 0.3, month=0, flow=1).tolist()  # draws 1, 2: the same
    [27, 27]
    >>> chance.poisson(4.0, month=0, flow=2).tolist()
    [1, 3, 6]
    >>> chance.uniforms(2, month=0, flow=3).round(3).tolist()
    [[0.531, 0.489], [0.002, 0.65], [0.153, 0.704]]
    """

    def __init__(self, seed: int, draw_index: npt.ArrayLike, replicate: npt.ArrayLike = 0, *,
                 _keys: tuple[WordArray, WordArray] | None = None) -> None:
        if _keys is not None:
            self.key0, self.key1 = _keys
            self._size = self.key0.size
            return
        draws = np.asarray(draw_index, dtype=np.int64).ravel()
        reps = np.broadcast_to(np.asarray(replicate, dtype=np.int64), draws.shape)
        if draws.size and (draws.min() < 0 or draws.max() >= 2**DRAW_BITS):
            raise ValueError(f"draw indices must be in [0, 2**{DRAW_BITS})")
        if reps.size and (reps.min() < 0 or reps.max() >= 2**REPLICATE_BITS):
            raise ValueError(f"replicates must be in [0, 2**{REPLICATE_BITS})")
        # The keys are made when first drawn from: a model that draws no chance in a
        # chunk (W1's reserves without caches) then costs nothing for them.
        self._seed, self._draws, self._reps, self._size = int(seed), draws, reps, draws.size

    @functools.cached_property
    def key0(self) -> WordArray:
        """key[0] of each draw's stream: the run seed's (:func:`seed_key`)."""
        return np.full(self._size, seed_key(self._seed), dtype=np.uint64)

    @functools.cached_property
    def key1(self) -> WordArray:
        """key[1] of each draw's stream: its replicate above bit 40, its draw index below."""
        return (self._reps.astype(np.uint64) << np.uint64(DRAW_BITS)) | self._draws.astype(
            np.uint64)

    def __len__(self) -> int:
        return self._size

    def __getitem__(self, selection: Selection) -> ChanceStreams:
        """The streams of a subset of the draws (a slice, indices or a mask): the same numbers."""
        return ChanceStreams(0, (), _keys=(self.key0[selection], self.key1[selection]))

    def generator(self, i: int, *, flow: int, month: int = 0,
                  event: int = 0) -> np.random.Generator:
        """A ``numpy.random.Generator`` on draw *i*'s own stream for (flow, month, event).

        For models that need numpy's other distributions one variate at a time (a
        discrete-event replication: gamma durations, uniforms, choices). It is
        ``Generator(Philox(key=draw i's key, counter=(0, event, flow, month)))``, so
        its numbers are blocks 1, 2, ... of draw *i*'s stream at (event, flow, month)
        and depend only on that draw's key and on what they are for, never on other
        draws. Give it a ``flow`` of its own (the methods above read block 0 on of
        their triple; these blocks would overlap theirs). Never ``spawn`` from it: a
        ``Philox`` made from a key holds an unseeded ``SeedSequence`` (OS entropy),
        so its children would differ from run to run; ask for another flow or event.
        """
        key = np.array([self.key0[i], self.key1[i]], dtype=np.uint64)
        counter = np.array([0, *self._counter(month, flow, event)], dtype=np.uint64)
        return np.random.Generator(np.random.Philox(counter=counter, key=key))

    @staticmethod
    def standard_exponential_into(gen: np.random.Generator, out: FloatArray) -> None:
        """``gen.standard_exponential(out=out)``, the same numbers and the same state
        after: :func:`standard_exponential_into` (models reach it through their
        :class:`~threatsim.models.contract.Chance`, as they do not import this module)."""
        standard_exponential_into(gen, out)

    def _counter(self, month: int, flow: int, event: int) -> Counter:
        return (_counter_word(event, "event"), _counter_word(flow, "flow"),
                _counter_word(month, "month"))

    def uniforms(self, count: int, *, month: int, flow: int, event: int = 0) -> FloatArray:
        """(draws, count) uniforms in [0, 1): the first *count* of each draw's stream."""
        c1, c2, c3 = self._counter(month, flow, event)
        out = np.empty((len(self), int(count)))
        if compiled.enabled():
            return vc.uniforms_kernel(self.key0, self.key1, c1, c2, c3, out)
        for blk in range((int(count) + 3) // 4):
            words = _block(self.key0, self.key1, blk, c1, c2, c3)
            take = min(4, int(count) - 4 * blk)
            out[:, 4 * blk: 4 * blk + take] = _unit(words[:take]).T
        return out

    def binomial(self, n: npt.ArrayLike, p: npt.ArrayLike, *, month: int, flow: int,
                 event: int = 0) -> IntArray:
        """Binomial(n_i, p_i) for each draw i (int64); n and p broadcast to the draws."""
        n = np.broadcast_to(np.asarray(n), (len(self),))
        if n.size and not np.issubdtype(n.dtype, np.integer) and np.any(n != np.floor(n)):
            raise ValueError("binomial n must be whole numbers")
        n = n.astype(np.int64, copy=False)
        p = np.ascontiguousarray(np.broadcast_to(np.asarray(p, dtype=np.float64), n.shape))
        # Two passes over each array (min, max), not four and two temporaries: a W2 month
        # makes six of these calls. A NaN fails both comparisons, as it should.
        if n.size and (n.min() < 0 or n.max() >= _MAX_N):
            raise ValueError("binomial n must be in [0, 2**53)")
        if n.size and not (p.min() >= 0.0 and p.max() <= 1.0):
            raise ValueError("binomial p must be in [0, 1]")
        counter = self._counter(month, flow, event)
        if compiled.enabled():
            return vc.binomial_kernel(np.ascontiguousarray(n), p, self.key0, self.key1,
                                      *counter, np.empty(n.size, dtype=np.int64))
        return _binomial_numpy(n, p, self.key0, self.key1, *counter)

    def poisson(self, lam: npt.ArrayLike, *, month: int, flow: int,
                event: int = 0) -> IntArray:
        """Poisson(lam_i) for each draw i (int64); lam broadcasts to the draws."""
        lam = np.ascontiguousarray(np.broadcast_to(np.asarray(lam, dtype=np.float64),
                                                   (len(self),)))
        if lam.size and not (lam.min() >= 0.0 and lam.max() <= _MAX_LAM):  # NaN fails
            raise ValueError(f"Poisson means must be in [0, {_MAX_LAM:g}]")
        counter = self._counter(month, flow, event)
        if compiled.enabled():
            return vc.poisson_kernel(lam, self.key0, self.key1, *counter,
                                     np.empty(lam.size, dtype=np.int64))
        return _poisson_numpy(lam, self.key0, self.key1, *counter)

    def competing_exits(self, n: npt.ArrayLike, probs: Sequence[npt.ArrayLike], *, month: int,
                        flow: int) -> IntArray:
        """One month's competing exits from a compartment of *n*: (exits, draws) counts.

        *probs* lists each exit's probability (arrays over the draws or numbers; the
        rest stay). Exit j takes Binomial(left, p_j / (1 - p_1 - ... - p_{j-1})) of those
        who took none of the earlier exits -- the joint law of one multinomial draw --
        with ``event = j``: exit j's numbers depend only on (key, month, flow, j).
        """
        left = np.broadcast_to(np.asarray(n), (len(self),)).astype(np.int64)
        used = np.zeros(len(self))
        out = np.empty((len(probs), len(self)), dtype=np.int64)
        for j, pj in enumerate(probs):
            pj = np.broadcast_to(np.asarray(pj, dtype=np.float64), used.shape)
            free = 1.0 - used
            q = np.clip(np.divide(pj, free, out=np.zeros(used.size), where=free > 0), 0.0, 1.0)
            out[j] = self.binomial(left, q, month=month, flow=flow, event=j)
            left = left - out[j]
            used = used + pj
        return out

"""numpy's standard exponentials on Philox, compiled (variates.standard_exponential_into).

The kernel must give ``Generator(Philox).standard_exponential``'s doubles bit for bit and
leave the Generator where numpy leaves it: from any key and counter (the 256-bit carry
included), any position in numpy's 4-word buffer, after other draws (a Poisson, 32-bit
integers that leave half a word behind), and through the ziggurat's rare branches (the
tail beyond r and the rejections), which only a large sample reaches.
"""

from __future__ import annotations

import math
import os
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from threatsim.core import compiled
from threatsim.stats import variates as var
from threatsim.stats.ziggurat_tables import FE_DOUBLE, KE_DOUBLE, WE_DOUBLE

needs_numba = pytest.mark.skipif(not compiled.available(),
                                 reason="numba not installed (pip install threatsim[fast])")

WORD = st.integers(0, 2**64 - 1)
#: Counter words at the top of their range half of the time, so that the counter's step
#: carries into the next word (and, now and then, through three).
COUNTER_WORD = st.one_of(st.integers(2**64 - 3, 2**64 - 1), WORD)
BEFORE = ("nothing", "poisson", "int32")


def _twins(key: list[int], counter: list[int], consumed: int, before: str
           ) -> tuple[np.random.Generator, np.random.Generator]:
    """Two Generators in the same state: *consumed* raw words, then *before*'s draw."""
    def make() -> np.random.Generator:
        gen = np.random.Generator(np.random.Philox(key=np.array(key, dtype=np.uint64),
                                                   counter=np.array(counter, dtype=np.uint64)))
        gen.bit_generator.random_raw(consumed)
        if before == "poisson":
            gen.poisson(300.0)
        elif before == "int32":  # leaves has_uint32 set: the other half of a word
            gen.integers(0, 1000, dtype=np.int32)
        return gen
    return make(), make()


def _compiled_fill(gen: np.random.Generator, out: np.ndarray) -> None:
    """standard_exponential_into on the compiled path whatever the size."""
    with mock.patch.dict(os.environ, {"THREATSIM_COMPILED": "1"}), \
            mock.patch.object(var, "EXPONENTIAL_COMPILED_FROM", 0):
        var.standard_exponential_into(gen, out)


@needs_numba
@settings(max_examples=150, deadline=None)
@given(key=st.lists(WORD, min_size=2, max_size=2),
       counter=st.lists(COUNTER_WORD, min_size=4, max_size=4),
       consumed=st.integers(0, 7), before=st.sampled_from(BEFORE),
       size=st.integers(0, 5000))
def test_equals_numpy_and_leaves_its_state(key, counter, consumed, before, size):
    gen, twin = _twins(key, counter, consumed, before)
    ours = np.empty(size)
    _compiled_fill(gen, ours)
    numpys = twin.standard_exponential(size)
    np.testing.assert_array_equal(ours.view(np.uint64), numpys.view(np.uint64))
    after, expected = gen.bit_generator.state, twin.bit_generator.state
    np.testing.assert_array_equal(after["state"]["counter"], expected["state"]["counter"])
    np.testing.assert_array_equal(after["buffer"], expected["buffer"])
    assert (after["buffer_pos"], after["has_uint32"], after["uinteger"]) == (
        expected["buffer_pos"], expected["has_uint32"], expected["uinteger"])
    np.testing.assert_array_equal(gen.random(10), twin.random(10))


def _rare_branches(words: np.ndarray) -> dict[str, int]:
    """How many draws of numpy's exponential on this word stream took each rare branch,
    recomputed here from numpy's C (distributions.c): a draw whose first word fails
    ``ri < ke[idx]`` takes the next word as its uniform."""
    ri = words >> np.uint64(3)
    idx = (ri & np.uint64(0xFF)).astype(np.intp)
    ri >>= np.uint64(8)
    unlikely = np.flatnonzero(ri >= KE_DOUBLE[idx])
    counts = {"tail": 0, "kept after the test": 0, "rejected": 0}
    uniform_at = -1  # the word a pending draw takes as its uniform: not a first word
    for j in unlikely[unlikely < words.size - 1].tolist():
        if j == uniform_at:
            continue
        uniform_at = j + 1
        i = int(idx[j])
        if i == 0:
            counts["tail"] += 1
            continue
        x = float(ri[j]) * WE_DOUBLE[i]
        u = float(words[j + 1] >> np.uint64(11)) * 2.0**-53
        kept = (FE_DOUBLE[i - 1] - FE_DOUBLE[i]) * u + FE_DOUBLE[i] < math.exp(-x)
        counts["kept after the test" if kept else "rejected"] += 1
    return counts


@needs_numba
def test_two_million_values_take_the_rare_branches_alike():
    size = 2 * 10**6
    gen, twin = _twins([11, 12], [2**64 - 5, 7, 0, 0], 3, "nothing")
    words_twin, _ = _twins([11, 12], [2**64 - 5, 7, 0, 0], 3, "nothing")
    ours = np.empty(size)
    _compiled_fill(gen, ours)
    np.testing.assert_array_equal(ours.view(np.uint64),
                                  twin.standard_exponential(size).view(np.uint64))
    np.testing.assert_array_equal(gen.random(10), twin.random(10))
    # every one of the first 2 * 10**6 words was read by the draws above
    counts = _rare_branches(words_twin.bit_generator.random_raw(size))
    assert min(counts.values()) > 100, counts


def test_numpy_draws_where_the_kernel_does_not_apply(monkeypatch):
    """Another bit generator, a short array, or kernels switched off: numpy draws; an
    array numpy refuses (strided) is refused as numpy refuses it."""
    for bit_generator, size in [(np.random.PCG64, 5000), (np.random.Philox, 10)]:
        for flag in ("0", "1"):
            monkeypatch.setenv("THREATSIM_COMPILED", flag)
            gen, twin = (np.random.Generator(bit_generator(3)) for _ in range(2))
            out = np.empty(size)
            var.standard_exponential_into(gen, out)
            np.testing.assert_array_equal(out, twin.standard_exponential(size))
            assert gen.random() == twin.random()
    with pytest.raises(ValueError, match="contiguous"):
        var.standard_exponential_into(np.random.Generator(np.random.Philox(3)),
                                      np.empty(20_000)[::2])


@needs_numba
def test_two_dimensional_out_is_filled_in_order(monkeypatch):
    monkeypatch.setenv("THREATSIM_COMPILED", "1")
    gen, twin = _twins([1, 2], [3, 4, 5, 6], 1, "nothing")
    out = np.empty((3, var.EXPONENTIAL_COMPILED_FROM))
    var.standard_exponential_into(gen, out)
    np.testing.assert_array_equal(out, twin.standard_exponential(out.shape))

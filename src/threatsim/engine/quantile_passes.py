"""The passes of the streamed exact quantiles, as messages: what a chunk is reduced to.

:class:`~threatsim.engine.exact_quantiles.ExactQuantiles` needs every chunk
of the sample more than once. Each pass is described by a small, picklable
message (:class:`CountPass` for pass 1, :class:`CollectPass` after it), and
:func:`reduce_chunk` turns one chunk and that message into the chunk's
contribution (:class:`Counted` or :class:`Collected`). It is a pure function,
so it runs where the chunk was computed (a dask worker) and only the
contribution travels: bin counts, and the few values the quantiles need.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from threatsim.core.wire import narrow_ints, smallest_int
from threatsim.stats.binning import collect as _collect
from threatsim.stats.binning import count_pass_packed, float_keys, gather_bins

__all__ = ["CollectPass", "Collected", "CountPass", "Counted", "KeyHistogram", "reduce_chunk"]


@dataclass(frozen=True, slots=True)
class CountPass:
    """Pass 1: count the values of every bin of every cell, and collect the values
    inside the pilot's windows ``(cell, first bin, last bin, mode)``.

    >>> spec = CountPass(lo=np.zeros(2), scale=np.ones(2), bins=4, token="t", windows=[])
    >>> reduce_chunk(np.arange(6.0).reshape(3, 2), spec).counts.shape  # (cells, bins + 3)
    (2, 7)
    """

    lo: np.ndarray
    scale: np.ndarray
    bins: int
    #: Names the group table cached where chunks are reduced (one per pass).
    token: str
    windows: list[tuple[int, int, int, str]]


@dataclass(frozen=True, slots=True)
class CollectPass:
    """Passes 2+: the values of the pass-1 bins holding order statistics (``bin1``:
    ``(cell, bin, bin)``), and of key intervals (``keyed``: ``(cell, first key, last
    key, mode, shift, histogram bins)``, ``mode`` ``"collect"`` or ``"hist"``).

    >>> spec = CollectPass("t", np.zeros(2), np.ones(2), 4, bin1=[(0, 1, 1)], keyed=[])
    >>> reduce_chunk(np.arange(6.0).reshape(3, 2), spec).parts  # cell 0's bin 1 holds 0.0
    [('vals', array([0.]), array([1]), ..., ...)]
    """

    token: str
    lo: np.ndarray
    scale: np.ndarray
    bins: int
    bin1: list[tuple[int, int, int]]
    keyed: list[tuple[int, int, int, str, int, int]]


@dataclass(frozen=True, slots=True)
class Counted:
    """One chunk's part of a :class:`CountPass`: counts ``(cells, bins + 3)`` and every
    window's values, packed (:func:`threatsim.stats.binning.count_pass_packed`'s form):
    window *j*'s are the ``sizes[j]`` of ``values`` (with their ``repeats``) after
    those of the windows before it.

    >>> spec = CountPass(np.zeros(1), np.ones(1), 2, "doc-counted", [(0, 1, 2, "raw")])
    >>> part = reduce_chunk(np.array([[0.5], [1.5], [9.0]]), spec)
    >>> isinstance(part, Counted), part.counts.tolist(), part.values.tolist(), part.sizes.tolist()
    (True, [[0, 1, 1, 1, 0]], [0.5, 1.5], [2])
    """

    counts: np.ndarray
    values: np.ndarray
    repeats: np.ndarray
    sizes: np.ndarray


@dataclass(frozen=True, slots=True)
class KeyHistogram:
    """One chunk's counts of a key interval cut into ``2**shift``-key sub-intervals.

    >>> spec = CollectPass("t", np.zeros(2), np.ones(2), 4, bin1=[],
    ...                    keyed=[(1, 0, 2**64 - 1, "hist", 62, 4)])
    >>> reduce_chunk(np.arange(6.0).reshape(3, 2), spec).parts
    [KeyHistogram(counts=array([0, 0, 1, 2]))]
    """

    counts: np.ndarray


@dataclass(frozen=True, slots=True)
class Collected:
    """One chunk's part of a :class:`CollectPass`: per bin, then per key interval, its
    distinct values with counts and key range (``collect``'s form; None: empty), or a
    :class:`KeyHistogram`.

    >>> spec = CollectPass("t", np.zeros(2), np.ones(2), 4, bin1=[(0, 1, 1)], keyed=[])
    >>> part = reduce_chunk(np.arange(6.0).reshape(3, 2), spec)
    >>> isinstance(part, Collected), len(part.parts)
    (True, 1)
    """

    parts: list[Any]


def reduce_chunk(x: np.ndarray, spec: CountPass | CollectPass) -> Counted | Collected:
    """What one chunk ``x`` (m, C) contributes to the pass *spec* describes.

    >>> x = np.arange(6.0).reshape(3, 2)
    >>> part = reduce_chunk(x, CountPass(np.zeros(2), np.ones(2), 4, "t", []))
    >>> part.counts.shape, int(part.counts.sum())
    ((2, 7), 6)
    """
    if isinstance(spec, CountPass):
        counts, values, repeats, sizes = count_pass_packed(x, spec.lo, spec.scale, spec.bins,
                                                           spec.token, spec.windows)
        # No bin holds more than the chunk's rows, no value repeats more often: counts
        # and repeats travel from a worker in the smallest integer type that holds them
        # (exact; merged into int64), and whole numbers (people) as small integers too.
        small = smallest_int(0, x.shape[0])
        if small is not None:
            counts, repeats = counts.astype(small), repeats.astype(small)
        if x.dtype.kind in "iu":
            values = narrow_ints(values)
        return Counted(counts.reshape(x.shape[1], spec.bins + 3), values, repeats, sizes)
    out: list[Any] = []
    if spec.bin1:
        out = gather_bins(x, spec.lo, spec.scale, spec.bins, spec.token, spec.bin1)
    if spec.keyed:
        x = np.asarray(x, dtype=np.float64)
    keys: dict[int, np.ndarray] = {}
    for cell, ka, kb, mode, shift, nbins in spec.keyed:
        k = keys.get(cell)
        if k is None:
            k = keys[cell] = float_keys(x[:, cell])
        mask = (k >= np.uint64(ka)) & (k <= np.uint64(kb))
        if mode == "hist":
            sub = ((k[mask] - np.uint64(ka)) >> np.uint64(shift)).astype(np.int64)
            out.append(KeyHistogram(np.bincount(sub, minlength=nbins)))
        else:
            out.append(_collect(x[:, cell][mask], k[mask]))
    return Collected(out)

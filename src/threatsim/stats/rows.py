"""Per-row reductions of long rows (one row per month and entry, the draws along it).

Each row of a run's output (a month, a region) is reduced on its own, so rows
can be shared out among threads: the compiled kernels release the GIL, and so
do numpy's partition and boolean indexing, which is why threads, not
processes, are used (no copy of the rows). The answer does not depend on the
number of threads: each row is computed exactly as in the serial loop.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from threatsim.core import compiled

__all__ = ["by_row_blocks", "count_beyond"]

#: Fewer values than this in all the rows together are reduced on one thread: a
#: thread's start costs more than the work it would take over.
_THREADED_MIN_VALUES = 1 << 20

_KERNEL_TYPES = (np.dtype(np.float64), np.dtype(np.int64))


def by_row_blocks(reduce_rows: Callable[[np.ndarray], np.ndarray], rows: np.ndarray,
                  workers: int = 1) -> np.ndarray:
    """``reduce_rows(rows)`` (a result per row along its last axis), computed on up to
    *workers* threads, each taking a contiguous block of rows.

    >>> rows = np.arange(12.0).reshape(4, 3)
    >>> by_row_blocks(lambda r: r.sum(axis=1), rows, workers=2).tolist()
    [3.0, 12.0, 21.0, 30.0]
    """
    if not isinstance(workers, int | np.integer) or isinstance(workers, bool) or workers < 1:
        raise ValueError(f"workers must be a whole number >= 1 (got {workers!r})")
    n_rows = rows.shape[0]
    threads = min(int(workers), n_rows)
    if threads <= 1 or rows.size < _THREADED_MIN_VALUES:
        return reduce_rows(rows)
    edges = np.linspace(0, n_rows, threads + 1).astype(int)
    with ThreadPoolExecutor(threads, thread_name_prefix="threatsim-rows") as pool:
        parts = [pool.submit(reduce_rows, rows[a:b])
                 for a, b in itertools.pairwise(edges)]
        return np.concatenate([p.result() for p in parts], axis=-1)


def count_beyond(rows: np.ndarray, level: float, *, below: bool,
                 workers: int = 1) -> np.ndarray:
    """How many values of each row of 2-D *rows* are below (strictly) or above (strictly)
    *level*; NaN counts as neither.

    One pass over the rows and no array of booleans as large as them (a run of a
    million draws and 61 months would need 61 MB of them).

    >>> count_beyond(np.array([[0.0, 1.0, 2.0], [np.nan, 5.0, -1.0]]), 0.5, below=False)
    array([2, 1])
    """
    rows = np.asarray(rows)
    if rows.ndim != 2:
        raise ValueError(f"rows must be 2-D (got {rows.ndim} dims)")

    def count(block: np.ndarray) -> np.ndarray:
        # Doubles and 64-bit integers only: there numpy compares in double precision,
        # as the kernel does; other types keep numpy's own comparison rules.
        if compiled.enabled() and block.flags.c_contiguous and block.dtype in _KERNEL_TYPES:
            out = np.empty(block.shape[0], dtype=np.int64)
            _count_beyond(block, float(level), below, out)
            return out
        counts = np.empty(block.shape[0], dtype=np.int64)
        for i in range(block.shape[0]):  # a row at a time: booleans of one row only
            counts[i] = np.count_nonzero(block[i] < level if below else block[i] > level)
        return counts

    return by_row_blocks(count, rows, workers)


@compiled.kernel
def _count_beyond(rows: np.ndarray, level: float,  # pragma: no cover - compiled; = numpy
                  below: bool, out: np.ndarray) -> None:
    """``out[i]``: values of row *i* below (or above) *level*; one vector loop per row."""
    for i in range(rows.shape[0]):
        c = 0
        if below:
            for j in range(rows.shape[1]):
                c += rows[i, j] < level
        else:
            for j in range(rows.shape[1]):
                c += rows[i, j] > level
        out[i] = c

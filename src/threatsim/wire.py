"""How arrays travel between processes: integers in the smallest type that holds them.

A chunk's results cross a process boundary (a process pool, a dask worker to
the client) as bytes, and on a machine whose cores all run workers the client's
share of receiving them is taken from the workers. Counts of people and bin
counts are integers far smaller than their 8 bytes, so they travel narrowed:
exact, because the receiver widens them back (or only reads their values).
"""

from __future__ import annotations

import numpy as np

__all__ = ["narrow_ints", "smallest_int"]

_UNSIGNED = (np.uint8, np.uint16, np.uint32)
_SIGNED = (np.int8, np.int16, np.int32)


def smallest_int(lo: int, hi: int) -> np.dtype | None:
    """The smallest integer type (of 1, 2 or 4 bytes) holding every integer in [lo, hi].

    Unsigned when ``lo >= 0`` (counts are never negative: twice the range, so
    W2's populations, up to ~45,000, fit 2 bytes). None when none does.
    """
    for small in (_UNSIGNED if lo >= 0 else _SIGNED):
        info = np.iinfo(small)
        if info.min <= lo and hi <= info.max:
            return np.dtype(small)
    return None


def narrow_ints(values: np.ndarray) -> np.ndarray:
    """*values* (whole numbers: an integer array, or doubles known to hold integers of
    an integer output) in the smallest integer type that holds them; unchanged when
    none is smaller."""
    if values.size == 0:
        return values
    lo, hi = values.min(), values.max()
    small = smallest_int(int(lo), int(hi)) if np.isfinite(lo) and np.isfinite(hi) else None
    if small is None or small.itemsize >= values.dtype.itemsize:
        return values
    return values.astype(small)

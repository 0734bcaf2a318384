"""Giving the memory a run has freed back to the system before it makes a large array.

Memory numpy frees goes back to the C allocator, which keeps much of it for later
allocations instead of returning it to the system: the process's resident size
stays at its peak. Where a run frees a working set and then makes one large result
(a summary's parameter values, made once its passes are done:
:meth:`threatsim.engine.plan.Plan.complete_parameters`), the kept pages and the new
array add up. glibc's ``malloc_trim(0)`` returns the free pages at once; dask
documents the same call for its workers' memory ("Memory not released back to the
OS", in distributed's worker memory guide). Elsewhere (macOS, musl) this does
nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from typing import Any

__all__ = ["release_free_heap"]


@functools.cache
def _malloc_trim() -> Any:
    """glibc's ``malloc_trim``, or None where the C library has none."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


def release_free_heap() -> bool:
    """Return the C allocator's free memory to the system where it can (glibc); whether
    it could. Nothing any array holds is touched (7 ms after W1's summary at 10^7 draws,
    on the 2-core AMD EPYC the benchmarks ran on).

    >>> isinstance(release_free_heap(), bool)
    True
    """
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True

"""Optional compiled kernels (numba), each with a numpy reference it must equal bit for bit.

A vectorised numpy month makes one pass over memory per operation; the
financing month needs about ten. A compiled loop makes one. Where numba is
installed (``pip install threatsim[fast]``, which ``make demo`` and ``make
test`` install) the hot loops named here run compiled; otherwise, or with
``THREATSIM_COMPILED=0`` in the environment, the numpy code runs. Both give
the same numbers: the kernels repeat the numpy code's operations in the same
order, in IEEE double precision without fast-math (no reassociation, no fused
multiply-add), and the tests compare them bit for bit.

Kernels compile on first use and are cached on disk (numba's ``cache=True``),
so later processes load them in milliseconds.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

__all__ = ["available", "enabled", "kernel"]

try:  # numba is an optional extra
    import numba as _numba
except ImportError:  # pragma: no cover - exercised where numba is absent
    _numba = None


def available() -> bool:
    """Whether numba is installed."""
    return _numba is not None


def enabled() -> bool:
    """Whether compiled kernels are used now (numba installed and not switched off).

    ``THREATSIM_COMPILED=0`` switches them off, e.g. to time or test the numpy
    reference; it is read at each call, so tests can flip it.
    """
    return _numba is not None and os.environ.get("THREATSIM_COMPILED", "1") != "0"


def kernel(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Compile *fn* with numba (no Python objects, no GIL, cached) when numba exists.

    Without numba the function is returned as is; callers check :func:`enabled`
    and use their numpy path instead of calling it.
    """
    if _numba is None:  # pragma: no cover
        return fn
    return _numba.njit(cache=True, nogil=True, fastmath=False)(fn)

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
from types import ModuleType
from typing import Any, TypeVar

__all__ = ["available", "enabled", "kernel"]

Kernel = TypeVar("Kernel", bound=Callable[..., Any])

_numba: ModuleType | None
try:  # numba is an optional extra
    import numba as _numba
except ImportError:  # pragma: no cover - exercised where numba is absent
    _numba = None


def available() -> bool:
    """Whether numba is installed.

    >>> isinstance(available(), bool)
    True
    """
    return _numba is not None


def enabled() -> bool:
    """Whether compiled kernels are used now (numba installed and not switched off).

    ``THREATSIM_COMPILED=0`` switches them off, e.g. to time or test the numpy
    reference; it is read at each call, so tests can flip it.

    >>> enabled() <= available()
    True
    """
    return _numba is not None and os.environ.get("THREATSIM_COMPILED", "1") != "0"


def kernel(fn: Kernel) -> Kernel:
    """Compile *fn* with numba (no Python objects, no GIL, cached) when numba exists.

    Without numba the function is returned as is; callers check :func:`enabled`
    and use their numpy path instead of calling it.

    >>> from threatsim.stats import quantiles
    >>> callable(quantiles._bracket3)  # a kernel: compiled where numba is, else as written
    True
    """
    if _numba is None:  # pragma: no cover
        return fn
    compiled: Kernel = _numba.njit(cache=True, nogil=True, fastmath=False)(fn)
    return compiled

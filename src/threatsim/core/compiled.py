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

__all__ = ["available", "enabled", "kernel", "wide_multiply"]

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


def wide_multiply(a: Any, b: Any) -> tuple[Any, Any]:
    """(high, low) 64-bit words of the 128-bit product of two ``uint64``, in compiled code.

    Only for kernels: where numba is installed this is an LLVM intrinsic, replaced
    below; without numba no kernel runs, and this placeholder says so if called.
    """
    raise RuntimeError("wide_multiply is only for compiled kernels, and numba is not installed")


if _numba is not None:
    # One 64 x 64 -> 128-bit multiply (``mul`` on x86-64), which numba has no operator
    # for. Philox4x64 makes two such products a round; built from four 32-bit products,
    # a block took 1.5x as long (20 against 13 ns on the 2-core AMD EPYC of 2026-12-03).
    # The multiply of the zero-extended words is exact: the same words as the 32-bit
    # halves (tests/test_compiled.py compares them with Python's integers).
    from llvmlite import ir as _ir
    from numba.core import types as _types
    from numba.extending import intrinsic as _intrinsic

    @_intrinsic
    def wide_multiply(typingctx: Any, a: Any, b: Any) -> Any:  # numba passes typingctx first
        if a != _types.uint64 or b != _types.uint64:
            return None  # numba then reports that no signature matches
        pair = _types.UniTuple(_types.uint64, 2)  # type: ignore[no-untyped-call]
        signature = pair(_types.uint64, _types.uint64)

        def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
            wide = _ir.IntType(128)
            product = builder.mul(builder.zext(args[0], wide), builder.zext(args[1], wide))
            high = builder.trunc(builder.lshr(product, _ir.Constant(wide, 64)), _ir.IntType(64))
            low = builder.trunc(product, _ir.IntType(64))
            return context.make_tuple(builder, sig.return_type, [high, low])

        return signature, codegen

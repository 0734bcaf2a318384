"""Ctrl-C that is honoured, but never in the middle of a file write or a finaliser.

The engine checks the guard after every chunk; the atomic file helpers check it
before a finished file is renamed; the command line installs it for a whole command.
"""

from __future__ import annotations

import contextlib
import gc
import signal
import threading
from collections.abc import Iterator
from typing import Any

__all__ = ["InterruptGuard", "check_interrupt", "interrupts_held_back", "is_interrupt",
           "sigint_blocked_for_children"]


class InterruptGuard:
    """Ctrl-C that is neither lost nor deadlocks a file being written.

    Python's default SIGINT handler raises ``KeyboardInterrupt`` wherever the
    main thread happens to be. Where that is a garbage-collector callback or a
    finaliser (dask's, for one), Python prints "Exception ignored" and the run
    goes on; where it is inside xarray's NetCDF writer, the writer's lock is
    left held and its cleanup waits for it forever. While a guard is active,
    Ctrl-C is remembered; it raises at once unless the main thread is inside
    a file backend (xarray's, netCDF4's), numba's own code, a garbage-collector
    callback or importlib's module-lock callback (a lazy import's), and
    :meth:`check` (the engine calls it after every chunk, and
    :func:`check_interrupt` before a finished file is renamed) raises it in any
    case. Installed only in the main thread and only over Python's default handler.

    The entry points (``threatsim._entry``, ``python -m threatsim.cli``) hold one over
    the command line's imports and check it after them: a Ctrl-C that an import
    swallowed (importlib's lock callback, code that catches every exception) was lost,
    and the run went on to its end (2 of 78 SIGINTs sent 0.05-1.6 s after the start,
    2026-12-04).

    >>> with InterruptGuard() as guard:
    ...     guard.check()  # no Ctrl-C so far: nothing raised
    >>> guard.hit
    False
    """

    #: Where a KeyboardInterrupt must not be raised: file backends (a writer's lock
    #: left held), and numba's Python callbacks (unpickling a kernel's constants),
    #: where it surfaces as a chain of SystemErrors instead.
    _DEFER = ("/xarray/backends/", "netCDF4", "/h5netcdf/", "/zarr/", "/numba/")

    def __init__(self) -> None:
        self.hit = False
        self._old: Any = None
        self._depth = 0
        self._holding = 0  # inside interrupts_held_back()

    @classmethod
    def ensure(cls) -> InterruptGuard:
        """The guard already installed (e.g. by the command line), or a new one."""
        current = signal.getsignal(signal.SIGINT)
        owner = getattr(current, "__self__", None)
        return owner if isinstance(owner, InterruptGuard) else cls()

    def __enter__(self) -> InterruptGuard:
        self._depth += 1
        if (self._depth == 1 and threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
            self._old = signal.signal(signal.SIGINT, self._handler)
        return self

    def _handler(self, signum: int, frame: Any) -> None:
        self.hit = True
        if self._holding:
            return  # raised by check() once the block is left
        in_gc = {getattr(getattr(cb, "__func__", cb), "__code__", None) for cb in gc.callbacks}
        if _in_module_lock_callback(frame):
            return  # raised there, it is printed as "Exception ignored" and lost
        f, depth = frame, 0
        while f is not None and depth < 60:
            if f.f_code in in_gc or any(p in f.f_code.co_filename for p in self._DEFER):
                return  # raised by check() once out of there (the next chunk)
            f, depth = f.f_back, depth + 1
        raise KeyboardInterrupt

    def check(self) -> None:
        """Raise ``KeyboardInterrupt`` if Ctrl-C was pressed since the guard started."""
        if self.hit:
            raise KeyboardInterrupt

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self._depth -= 1
        if self._depth == 0 and self._old is not None:
            signal.signal(signal.SIGINT, self._old)
            self._old = None
        if is_interrupt(exc) and not isinstance(exc, KeyboardInterrupt):
            # Ctrl-C raised inside a call into compiled code (a numba kernel's dispatch
            # runs Python callbacks): CPython reports it as a SystemError "returned a
            # result with an exception set" caused by the KeyboardInterrupt.
            raise KeyboardInterrupt from None



def is_interrupt(exc: BaseException | None) -> bool:
    """Whether *exc* is Ctrl-C: a ``KeyboardInterrupt``, or the ``SystemError`` that
    CPython raises in its place when the interrupt hit a C function's callback.

    >>> is_interrupt(KeyboardInterrupt()), is_interrupt(ValueError())
    (True, False)
    >>> wrapped = SystemError("returned a result with an exception set")
    >>> wrapped.__cause__ = KeyboardInterrupt()
    >>> is_interrupt(wrapped)
    True
    """
    seen = 0
    while isinstance(exc, SystemError) and seen < 50:  # a chain of them: nested callbacks
        exc, seen = exc.__cause__, seen + 1
    return isinstance(exc, KeyboardInterrupt)



@contextlib.contextmanager
def interrupts_held_back() -> Iterator[None]:
    """Ctrl-C inside the block is remembered by the installed :class:`InterruptGuard`
    (if any) instead of raised; :func:`check_interrupt` after the block raises it.

    For work that must not be cut in the middle: a ``LocalCluster`` interrupted while
    it starts left its nannies half started, and the process hung on exit.

    >>> with interrupts_held_back():
    ...     pass  # work that must not be cut in the middle
    >>> check_interrupt()  # raises only if Ctrl-C came meanwhile
    """
    owner = getattr(signal.getsignal(signal.SIGINT), "__self__", None)
    if not isinstance(owner, InterruptGuard):
        yield
        return
    owner._holding += 1
    try:
        yield
    finally:
        owner._holding -= 1



#: importlib's weakref callback that drops a module's import lock.
_MODULE_LOCK_CALLBACK = ("<frozen importlib._bootstrap>", "cb")


def _in_module_lock_callback(frame: Any) -> bool:
    """Whether *frame* (where a signal handler was called) is importlib's weakref callback
    for a module lock, where an exception is reported as "Exception ignored" and dropped."""
    code = getattr(frame, "f_code", None)
    return code is not None and (code.co_filename, code.co_name) == _MODULE_LOCK_CALLBACK


@contextlib.contextmanager
def sigint_blocked_for_children() -> Iterator[None]:
    """SIGINT blocked in the calling thread inside the block: the threads started in it,
    and every process those threads start (then or later), have it blocked for good.

    For helper processes that Ctrl-C must not reach: a terminal sends SIGINT to every
    process of its foreground group, and a ``LocalCluster``'s workers and nannies each
    died printing a ``KeyboardInterrupt`` traceback (63 lines) before the command's own
    one-line message, or, hit while starting, left their cluster half started. With
    SIGINT blocked they go on until this process, which still gets it, closes them.
    A SIGINT sent while the block runs waits (pending) and is delivered to this
    process when it ends. A no-op where threads have no signal mask (Windows).

    >>> with sigint_blocked_for_children():
    ...     pass  # start the helper threads and processes here
    >>> signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, [])  # unblocked again
    False
    """
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGINT])
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def check_interrupt() -> None:
    """Raise ``KeyboardInterrupt`` if Ctrl-C was pressed while the installed
    :class:`InterruptGuard` (if any) held it back (e.g. during a NetCDF write).

    Called before a finished file is given its final name, so that an interrupt
    during the write leaves nothing behind.

    >>> check_interrupt() is None  # no guard installed, no Ctrl-C held back
    True
    """
    owner = getattr(signal.getsignal(signal.SIGINT), "__self__", None)
    if isinstance(owner, InterruptGuard):
        owner.check()

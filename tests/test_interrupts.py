"""Ctrl-C while the command line loads (the entry points hold an InterruptGuard over the
imports and check it after them): raised at once, and never lost on the way."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator

import pytest

from threatsim.core.interrupts import InterruptGuard


@pytest.fixture(autouse=True)
def python_default_handler() -> Iterator[None]:
    """The handler a fresh interpreter has (a test runner may have its own)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _module_lock_callback() -> None:
    """A function that Python's frame reports as importlib's module-lock callback, where
    a KeyboardInterrupt is printed as "Exception ignored" and lost."""
    code = compile("def cb():\n    signal.raise_signal(signal.SIGINT)\n",
                   "<frozen importlib._bootstrap>", "exec")
    namespace = {"signal": signal}
    exec(code, namespace)
    namespace["cb"]()


def _loading(body: Callable[[], None]) -> None:
    """What ``threatsim._entry`` and ``python -m threatsim.cli`` do around their imports."""
    with InterruptGuard() as guard:
        body()
        guard.check()


def test_ctrl_c_is_raised_at_once_in_ordinary_code():
    reached = []

    def body() -> None:
        signal.raise_signal(signal.SIGINT)
        reached.append(True)

    with pytest.raises(KeyboardInterrupt):
        _loading(body)
    assert not reached
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_ctrl_c_swallowed_in_the_block_is_raised_when_it_ends():
    went_on = []

    def body() -> None:
        try:
            signal.raise_signal(signal.SIGINT)
        except BaseException:
            pass  # a library that catches everything
        went_on.append(True)

    with pytest.raises(KeyboardInterrupt):
        _loading(body)
    assert went_on


def test_ctrl_c_in_a_module_lock_callback_is_held_until_the_block_ends():
    went_on = []

    def body() -> None:
        _module_lock_callback()  # would have printed "Exception ignored" and gone on
        went_on.append(True)

    with pytest.raises(KeyboardInterrupt):
        _loading(body)
    assert went_on


def test_what_the_interrupt_became_on_its_way_out_is_reported_as_the_interrupt():
    def body() -> None:
        try:
            signal.raise_signal(signal.SIGINT)
        except KeyboardInterrupt as exc:  # as CPython reports one raised in a C callback
            raise SystemError("returned a result with an exception set") from exc

    with pytest.raises(KeyboardInterrupt) as raised:
        _loading(body)
    assert raised.value.__cause__ is None


def test_other_errors_and_a_quiet_block_pass_through():
    def body() -> None:
        raise ImportError("no such module")

    with pytest.raises(ImportError, match="no such module"):
        _loading(body)
    _loading(lambda: None)  # nothing raised
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_outside_the_main_thread_nothing_is_installed():
    seen = []

    def in_a_thread() -> None:
        with InterruptGuard():
            seen.append(signal.getsignal(signal.SIGINT))

    thread = threading.Thread(target=in_a_thread)
    thread.start()
    thread.join()
    assert seen == [signal.default_int_handler]


def test_the_guard_holds_a_ctrl_c_in_a_module_lock_callback_for_its_next_check():
    """A lazy import during a run: raised in importlib's callback, the interrupt was
    printed as "Exception ignored" (four lines beside the one-line message)."""
    with InterruptGuard() as guard:
        try:
            _module_lock_callback()  # returns: nothing raised, nothing printed
        except KeyboardInterrupt:  # (not left to end the whole test session)
            pytest.fail("raised inside importlib's module-lock callback")
        assert guard.hit
        with pytest.raises(KeyboardInterrupt):
            guard.check()

"""Shared fixtures: paths to the shipped scenarios and a tiny scenario writer."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"
#: How a command interrupted by Ctrl-C ends, as ``subprocess`` reports it: exit status
#: 130, or ended by SIGINT, which CPython does (Modules/main.c, bpo-1054041) when the
#: KeyboardInterrupt passed through code it ran by PyRun_String, even though the
#: command caught it and exited 130. A shell reports 130 either way.
INTERRUPTED = (130, -signal.SIGINT)


@pytest.fixture(autouse=True, scope="session")
def _python_handles_ctrl_c():
    """The Ctrl-C tests need Python's own SIGINT handler. A shell starts a background job
    (``nohup``, ``&``) with SIGINT ignored, and Python then leaves it ignored, so the
    suite run that way failed them; it gets Python's handler for the session."""
    ignored = signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    if ignored:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    if ignored:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.fixture
def financing_path() -> Path:
    """The shipped financing scenario (the baseline of the foundation issue)."""
    candidate = SCENARIOS / "financing.toml"
    return candidate if candidate.exists() else SCENARIOS / "baseline.toml"


@pytest.fixture
def write_scenario(tmp_path: Path):
    """Write a scenario TOML into a tmp folder that has the shipped source registry."""
    (tmp_path / "sources").symlink_to(SCENARIOS / "sources")

    def write(text: str, name: str = "s.toml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write


# The analysis tests' toy model fixture, registered once for every test module.
from tests.analysis_toy import toy_model  # noqa: E402, F401

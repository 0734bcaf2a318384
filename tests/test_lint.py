"""The code stays lint-clean: ruff with the rules of pyproject.toml ([tool.ruff]).

ruff is pinned in the ``test`` extra, so a new ruff release cannot fail CI with rules
the code has never seen; where it is not installed the test is skipped.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_finds_nothing_in_the_code_tests_and_benchmarks():
    pytest.importorskip("ruff")
    res = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "src", "tests",
                          "benchmarks"], cwd=ROOT, capture_output=True, text=True, check=False,
                         timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr

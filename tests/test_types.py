"""The package type-checks: mypy, pinned in the ``test`` extra, with the project's config.

``[tool.mypy]`` in pyproject.toml says what is checked and how strictly: the layers
core, stats, inputs, results and outputs with the flags of ``--strict``, the others
with the baseline settings. ``py.typed`` ships, so a type error in the public API is
a bug a user's type checker would meet. Where mypy is not installed the test is skipped.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_mypy_finds_nothing_in_the_package():
    pytest.importorskip("mypy", reason="mypy is not installed (pip install -e '.[test]')")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    res = subprocess.run([sys.executable, "-m", "mypy", "--config-file",
                          str(ROOT / "pyproject.toml")], cwd=ROOT, capture_output=True,
                         text=True, check=False, timeout=600, env=env)
    assert res.returncode == 0, res.stdout + res.stderr

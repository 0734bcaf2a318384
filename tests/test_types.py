"""The package type-checks: mypy, pinned in the ``test`` extra, with the project's config.

``[tool.mypy]`` in pyproject.toml says what is checked and how strictly: every
module of the package (``threatsim.*``) with the flags of ``--strict``, and no
module with error codes switched off. ``py.typed`` ships, so a type error in the
public API is a bug a user's type checker would meet. Where mypy is not installed
the mypy run is skipped (the check of the config is not).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: The flags of ``mypy --strict`` that are set per module (the rest are global).
STRICT_FLAGS = ("disallow_any_generics", "disallow_subclassing_any", "disallow_untyped_calls",
                "disallow_untyped_defs", "disallow_incomplete_defs",
                "disallow_untyped_decorators", "warn_return_any", "no_implicit_reexport",
                "strict_equality", "extra_checks")


def _overrides():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    return config.get("overrides", [])


def _modules(override):
    module = override["module"]
    return [module] if isinstance(module, str) else list(module)


def test_the_whole_package_is_checked_strictly():
    # Catches a module (or layer) taken out of the strict set, or a flag dropped from it.
    strict = [o for o in _overrides() if "threatsim.*" in _modules(o)]
    assert len(strict) == 1, "one override sets the strict flags for threatsim.*"
    assert {flag: strict[0].get(flag) for flag in STRICT_FLAGS} == dict.fromkeys(STRICT_FLAGS,
                                                                                 True)


def test_no_module_of_the_package_switches_errors_off():
    # Catches a per-module disable_error_code (or ignore_errors) creeping back in.
    relaxed = [(m, key) for o in _overrides() for m in _modules(o)
               if m == "threatsim" or m.startswith("threatsim.")
               for key in ("disable_error_code", "ignore_errors") if key in o]
    assert relaxed == []


def test_mypy_finds_nothing_in_the_package():
    pytest.importorskip("mypy", reason="mypy is not installed (pip install -e '.[test]')")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    res = subprocess.run([sys.executable, "-m", "mypy", "--config-file",
                          str(ROOT / "pyproject.toml")], cwd=ROOT, capture_output=True,
                         text=True, check=False, timeout=600, env=env)
    assert res.returncode == 0, res.stdout + res.stderr

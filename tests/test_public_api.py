"""The public surface: explicit __all__ and no global random state."""

from __future__ import annotations

import re

from tests.conftest import ROOT

import threatsim


def test_all_names_exist():
    """Every name in threatsim.__all__ is importable from the package."""
    for name in threatsim.__all__:
        assert hasattr(threatsim, name), name


def test_no_global_random_state_in_the_package():
    """No legacy np.random.* global calls and no default_rng outside engine/streams.py
    (determinism)."""
    offenders = []
    for path in (ROOT / "src" / "threatsim").rglob("*.py"):
        text = path.read_text()
        if re.search(r"np\.random\.(seed|rand|randn|randint|random|normal|uniform|poisson)\(",
                     text):
            offenders.append(str(path))
        if "default_rng(" in text and path.name != "streams.py":
            offenders.append(f"{path} (default_rng)")
    assert offenders == []

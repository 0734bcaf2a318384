"""The documentation site builds with warnings as errors (``make docs``), and what it is
made of stays complete: every page of docs/ in a table of contents, every public name and
every module in the API reference, the tutorial executed with its outputs in the page."""

from __future__ import annotations

import html
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest
from tests.conftest import ROOT

import threatsim

DOCS = ROOT / "docs"
#: The module pages of the API reference (docs/api/LAYER.md).
API_PAGES = sorted((DOCS / "api").glob("*.md"))


def _documented_modules() -> set[str]:
    text = "\n".join(p.read_text() for p in API_PAGES)
    return set(re.findall(r"^\.\. automodule:: (\S+)$", text, flags=re.M))


def _package_modules() -> set[str]:
    """Every module and package of threatsim but the private ones (``_entry``, ``_common``)."""
    src = ROOT / "src"
    found = set()
    for path in (src / "threatsim").rglob("*.py"):
        parts = path.relative_to(src).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if len(parts) > 1 and not any(p.startswith("_") for p in parts):
            found.add(".".join(parts))
    return found


def test_every_module_has_its_entry_in_the_api_reference():
    """A new module is documented too: each one is on its layer's page, once."""
    text = "\n".join(p.read_text() for p in API_PAGES)
    listed = re.findall(r"^\.\. automodule:: (\S+)$", text, flags=re.M)
    assert len(listed) == len(set(listed))
    missing = sorted(_package_modules() - _documented_modules())
    assert not missing, ("add to docs/api/LAYER.md (LAYER: the module's layer): "
                         + ", ".join(f"'.. automodule:: {m}'" for m in missing))
    assert _documented_modules() - _package_modules() == set()  # no entry of a module gone


def test_every_public_name_is_in_the_summary_with_its_own_module():
    """docs/api.md lists each name of ``threatsim.__all__`` by the module that defines it
    (where its entry is), so a moved or a new public name shows up here."""
    listed = dict(reversed(m.groups()) for m in re.finditer(
        r"^   ~(\S+)\.(\w+)$", (DOCS / "api.md").read_text(), flags=re.M))
    public = {name for name in threatsim.__all__ if name != "__version__"}
    assert set(listed) == public
    for name, module in listed.items():
        assert getattr(threatsim, name).__module__ == module, name


def test_every_page_is_in_a_table_of_contents():
    """Each docs/*.md is a page of the site (Sphinx warns of an orphan, this says which)."""
    index = (DOCS / "index.md").read_text() + (DOCS / "api.md").read_text()
    entries = set(re.findall(r"^([\w/-]+)$", index, flags=re.M))
    pages = {p.relative_to(DOCS).with_suffix("").as_posix() for p in DOCS.glob("**/*.md")
             if "_build" not in p.parts} - {"index"}
    assert pages - entries == set()


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("myst_nb") is None,
                    reason="the docs extra is not installed (make test installs it)")
def test_site_builds_without_warnings_with_the_tutorial_executed(tmp_path: Path):
    """sphinx-build -W -n (about 20 s: the tutorial runs, every module is imported): the
    front page, the API pages and the tutorial with its printed tables and its chart."""
    out = tmp_path / "html"
    proc = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-n", "-q", "-b", "html",
         "-d", str(tmp_path / "doctrees"), str(DOCS), str(out)],
        capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-8000:]

    index = (out / "index.html").read_text()
    assert "A five-minute tour" in index  # README.md is the front page
    assert 'src="_images/brief.png"' in index
    assert (out / "_images" / "brief.png").is_file()

    api = (out / "api.html").read_text()
    assert 'href="api/engine.html#threatsim.engine.runner.run"' in api
    engine = (out / "api" / "engine.html").read_text()
    assert 'id="threatsim.engine.runner.run"' in engine
    assert "Run a scenario and collect" in engine  # the docstring, through autodoc

    tutorial = html.unescape((out / "tutorial.html").read_text())
    # what the cells printed: the run's probability, the comparison, the leaderboard
    assert "P(reserves below $50 million in December 2020) = " in tutorial
    assert ("compare 'financing' (what-if) against 'financing' (base): 4,000 paired draws, "
            "seed 7") in tutorial
    assert "leaderboard of 'financing' against scenarios/observations/synthetic.toml" in tutorial
    # the fan chart, as a picture the page shows
    images = re.findall(r'<img [^>]*src="(_images/[0-9a-f]{16,}\.png)"', tutorial)
    assert len(images) == 1, images
    assert (out / images[0]).stat().st_size > 10_000
    # the cell that moves to the repository root is run but not shown
    assert "os.chdir" not in tutorial

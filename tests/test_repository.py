"""A clone is self-contained: its docs link only to files it has, and its license is stated
once, in the SPDX form, with the LICENSE file that pyproject.toml names."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

import pytest
from tests.conftest import ROOT

#: A markdown link or image: ``[text](target)`` / ``![alt](target "title")``.
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
#: An HTML link or image inside markdown.
HTML_LINK = re.compile(r"""(?:href|src)\s*=\s*["']([^"']+)["']""")
#: The team's working files beside a checkout (design notes, workloads, peers, the seed),
#: which a clone does not have.
OUTSIDE = re.compile(r"(?:\.\./)+shared\b|(?<![\w.-])shared/(?:benchmarks|DESIGN|STYLE|seeds)\b")
#: A fenced code block: its paths are relative to what it shows (a scenario's
#: ``extends = "../baseline.toml"``), not to the page.
FENCE = re.compile(r"^```.*?^```", re.M | re.S)
#: A relative path climbing out of its folder, in backticks or a link: ``../x``.
CLIMB = re.compile(r"(?<![\w.])((?:\.\./)+[\w./-]+)")


def _tracked(*patterns: str) -> list[Path]:
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard",
                          "--", *patterns], cwd=ROOT,
                         capture_output=True, check=True).stdout.decode()
    return sorted(ROOT / p for p in out.split("\0")
                  if p and not p.startswith("tests/data/") and (ROOT / p).is_file())


def _markdown() -> list[Path]:
    files = _tracked("*.md")
    if not files:  # not a git checkout (an sdist): the docs as they lie
        files = [ROOT / "README.md", *sorted(ROOT.glob("docs/*.md")),
                 *sorted(ROOT.glob("benchmarks/*.md"))]
    return files


def _external(target: str) -> bool:
    return bool(re.match(r"^[a-z][a-z0-9+.-]*:", target)) or target.startswith("#")


def _problems(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    rel = path.relative_to(ROOT)
    found = []
    for m in OUTSIDE.finditer(text):
        line = text[:m.start()].count("\n") + 1
        found.append(f"{rel}:{line}: {m.group(0)!r} names the team's files outside the repository")
    targets = [m for pat in (LINK, HTML_LINK) for m in pat.finditer(text)]
    for m in targets:
        target = m.group(1)
        if _external(target):
            continue
        line = text[:m.start()].count("\n") + 1
        file_part = target.split("#", 1)[0].split("?", 1)[0]
        where = (path.parent / file_part).resolve()
        if not where.is_relative_to(ROOT):
            found.append(f"{rel}:{line}: link {target!r} leaves the repository")
        elif not where.exists():
            found.append(f"{rel}:{line}: link {target!r}: no such file in the repository")
    prose = FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    for m in CLIMB.finditer(prose):
        line = prose[:m.start()].count("\n") + 1
        where = (path.parent / m.group(1)).resolve()
        if not where.is_relative_to(ROOT):
            found.append(f"{rel}:{line}: path {m.group(1)!r} leaves the repository")
    return found


def test_the_docs_are_found():
    """The collection below is not empty (a moved docs folder would check nothing)."""
    names = {p.relative_to(ROOT).as_posix() for p in _markdown()}
    assert {"README.md", "docs/architecture.md", "benchmarks/WORKLOADS.md"} <= names


@pytest.mark.parametrize("path", _markdown(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_markdown_links_stay_in_the_repository(path: Path):
    """Every link and image of a markdown file names a file of the repository (or a URL),
    and no path climbs out of it or names the team's working files beside a checkout."""
    assert _problems(path) == []


def test_docstrings_name_no_file_outside_the_repository():
    """The API reference is made from the docstrings: they follow the same rule."""
    found = []
    for path in sorted((ROOT / "src" / "threatsim").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        found += [f"{path.relative_to(ROOT)}: {m.group(0)!r}" for m in OUTSIDE.finditer(text)]
    assert found == []


@pytest.mark.parametrize(("text", "problem"), [
    ("see `../shared/DESIGN.md`", "names the team's files"),
    ("the workloads of shared/benchmarks/WORKLOADS.md", "names the team's files"),
    ("[design](../../elsewhere/DESIGN.md)", "leaves the repository"),
    ("[gone](docs/no_such_page.md)", "no such file"),
    ("run `../../tool.sh` first", "leaves the repository"),
])
def test_the_check_finds_each_kind_of_outside_path(text: str, problem: str, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch):
    """The check itself can fail: each kind of bad link, written into a page, is reported."""
    page = ROOT / "README.md"
    monkeypatch.setattr(Path, "read_text", lambda self, **kw: text)
    assert any(problem in p for p in _problems(page)), _problems(page)


def test_license_is_stated_once_in_the_spdx_form():
    """pyproject.toml gives the SPDX expression and names LICENSE, which is the MIT text."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT"
    assert project["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License\n")
    assert "Copyright (c) 2026 threatsim developers" in text
    assert 'THE SOFTWARE IS PROVIDED "AS IS"' in text
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    assert "setuptools>=77" in requires  # the first to read license-files (PEP 639)

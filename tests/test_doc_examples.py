"""The code blocks of README.md and docs/*.md run as written (a doc that drifted from the
code fails here).

``python`` blocks are executed, each in a fresh namespace, with the repository root as
the working directory; scenario runs are capped at a few draws (what is checked is that
every name, argument and file exists and the code runs, not the figures). Blocks of
``sh``, ``bash`` or ``console`` whose lines are ``threatsim ...`` commands are parsed by
the command line's own parser, every ``.toml`` file they name must exist, and the cheap
commands (``validate``, ``models``, ``sources``) run for real. ``text`` and ``toml``
blocks, and blocks without a language, are not code and are not run.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import re
import shlex
from pathlib import Path
from typing import Any

import pytest

import threatsim
from threatsim.analysis import capacity
from threatsim.cli.main import build_parser, main
from threatsim.engine import runner

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.M | re.S)
SHELL = ("sh", "bash", "console", "shell")
#: The commands cheap enough to run for real (no scenario run).
CHEAP = ("validate", "models", "sources")
#: Draws per run in the executed examples: enough to exercise the code, few enough that
#: the whole file takes seconds.
EXAMPLE_DRAWS = 10


def _blocks(kinds: tuple[str, ...]) -> list[Any]:
    found = []
    for path in DOCS:
        text = path.read_text()
        for m in FENCE.finditer(text):
            if m.group(1) in kinds:
                line = text[:m.start()].count("\n") + 1
                found.append(pytest.param(m.group(2), id=f"{path.name}:{line}"))
    return found


def _commands(block: str) -> list[list[str]]:
    """The ``threatsim`` command lines of a shell block, continuations joined, prompts
    (``$ ``) and comments removed; a console block's output lines are skipped."""
    console = any(line.startswith("$ ") for line in block.splitlines())
    commands, pending = [], ""
    for raw in block.splitlines():
        line = raw.rstrip()
        if console:
            if not (line.startswith("$ ") or pending):
                continue
            line = line.removeprefix("$ ")
        pending += line.removesuffix("\\") + " "
        if line.endswith("\\"):
            continue
        words = shlex.split(pending, comments=True)
        pending = ""
        if words:
            commands.append(words)
    return commands


def test_the_docs_have_code_blocks_of_both_kinds():
    """The collection below is not empty (a renamed fence would silently check nothing)."""
    assert len(_blocks(("python",))) >= 5
    assert len(_blocks(SHELL)) >= 5


@pytest.mark.parametrize("block", _blocks(SHELL))
def test_shell_block_parses_and_names_files_that_exist(block: str, tmp_path: Path):
    """Each command parses with the CLI's parser; its scenario files exist (or an earlier
    ``threatsim new`` of the block wrote them); cheap ones run. A file ``new`` wrote is
    written for real (in a temporary folder), and ``validate`` of it must list its
    placeholders and exit 2: it is a file to fill in."""
    commands = _commands(block)
    assert commands, "a shell block without a command"
    parser = build_parser()
    created: set[str] = set()
    for words in commands:
        assert words[0] == "threatsim", words
        with contextlib.redirect_stderr(io.StringIO()) as err:
            try:
                parser.parse_args(words[1:])
            except SystemExit as exc:
                pytest.fail(f"{shlex.join(words)}: does not parse ({exc.code}): {err.getvalue()}")
        writes = {words[3]} if words[1] == "new" else set()  # the file it is to write
        writes |= {w for prev, w in itertools.pairwise(words) if prev == "--out"}
        missing = [w for w in words if w.endswith(".toml") and w not in created | writes
                   and not (ROOT / w).is_file()]
        assert not missing, f"{shlex.join(words)}: no such file {missing}"
        outputs = writes - {words[3]} if words[1] == "new" else writes
        created |= outputs  # written by this command (not run here): later ones may name them
        here = [str(tmp_path / w) if w in created else w for w in words[1:]]
        if words[1] == "new":
            with contextlib.redirect_stdout(io.StringIO()):
                assert main([*here[:2], str(tmp_path / words[3]), *here[3:]]) == 0
            created.add(words[3])
        elif words[1] in CHEAP:
            expected = 2 if any(w in created for w in words) else 0
            with contextlib.redirect_stdout(io.StringIO()) as out, \
                    contextlib.redirect_stderr(io.StringIO()) as err:
                code = main(here)
            assert code == expected, out.getvalue() + err.getvalue()
            if expected == 2:
                assert "is still a placeholder" in err.getvalue()


@pytest.fixture
def few_draws(monkeypatch: pytest.MonkeyPatch) -> None:
    """``threatsim.run`` and ``solve_capacity`` with at most EXAMPLE_DRAWS draws."""
    real_run, real_solve = runner.run, capacity.solve_capacity

    def run(scenario: Any, *args: Any, draws: int | None = None, **kw: Any) -> Any:
        return real_run(scenario, *args, draws=min(draws or EXAMPLE_DRAWS, EXAMPLE_DRAWS),
                        **kw)

    def solve_capacity(*args: Any, draws: int | None = None, **kw: Any) -> Any:
        return real_solve(*args, draws=min(draws or EXAMPLE_DRAWS, EXAMPLE_DRAWS), **kw)

    monkeypatch.setattr(threatsim, "run", run, raising=False)
    monkeypatch.setattr(threatsim, "solve_capacity", solve_capacity, raising=False)


@pytest.mark.usefixtures("few_draws")
@pytest.mark.parametrize("block", _blocks(("python",)))
def test_python_block_runs(block: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """Each python block runs as if from the repository root, its output swallowed. A
    block guarded by ``if __name__ == "__main__"`` (a cluster example) runs up to the
    guard.

    The folder it runs in holds a link to each of the root's entries but ``results``:
    what a block writes where the docs tell a reader to (``results/...``), or at the
    top level, lands in this test's own folder, not in the checkout."""
    for entry in ROOT.iterdir():
        if entry.name not in ("results", ".git"):
            (tmp_path / entry.name).symlink_to(entry)
    monkeypatch.chdir(tmp_path)
    code = compile(block, "<doc block>", "exec")
    with contextlib.redirect_stdout(io.StringIO()):
        exec(code, {"__name__": "doc_example"})

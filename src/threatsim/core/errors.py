"""Errors: one base class, structured fields, picklable across process pools."""

from __future__ import annotations

import datetime
import os
import re
from typing import Any

__all__ = ["MAX_LINE_CHARS", "MAX_PROBLEMS_SHOWN", "MAX_VALUE_CHARS", "ModelError",
           "NotShown", "ScenarioError", "ThreatsimError", "show_value"]

#: The longest value a message shows; longer ones are cut, with their length said.
MAX_VALUE_CHARS = 80
#: The longest key path, file path and problem line a message shows, and the most
#: problem lines (a file with more problems shows the first and counts the rest).
_MAX_KEY_CHARS = 120
_MAX_PATH_CHARS = 120
MAX_LINE_CHARS = 1000
MAX_PROBLEMS_SHOWN = 20
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _escape_controls(text: str) -> str:
    """*text* with control characters (a newline, a NUL, an escape) as visible escapes,
    so that one problem stays one line on a terminal."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit - 1]}\u2026 ({len(text):,} characters)"


class NotShown:
    """Stands, in an error, for a value that is not quoted: it comes from a file other
    than the scenario file the user named (a file it ``extends``, or a source registry),
    which may be anything, another tool's credentials included.

    >>> NotShown("/etc/tool/config.toml")
    <not shown: from /etc/tool/config.toml>
    >>> NotShown()
    <not shown>
    """

    __slots__ = ("origin",)

    def __init__(self, origin: str | None = None) -> None:
        self.origin = origin

    def __repr__(self) -> str:
        return f"<not shown: from {self.origin}>" if self.origin else "<not shown>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NotShown) and other.origin == self.origin

    def __hash__(self) -> int:
        return hash(("NotShown", self.origin))

    def __reduce__(self) -> tuple[Any, ...]:
        return (NotShown, (self.origin,))


def _shown_path(path: str) -> str:
    """A file's path as a message shows it: its end (the file's name) when it is long."""
    text = _escape_controls(str(path))
    return text if len(text) <= _MAX_PATH_CHARS else "\u2026" + text[-(_MAX_PATH_CHARS - 1):]


def show_value(value: Any) -> str:
    """How a message shows a value from a file: its repr, one line, at most
    :data:`MAX_VALUE_CHARS` characters (a longer one is cut and its length said).

    >>> print(show_value("uniform"), show_value([1, 2]))
    'uniform' [1, 2]
    >>> print(show_value("ab" * 250)[70:])
    babababab… (502 characters)
    >>> import datetime
    >>> print(show_value(datetime.date(2019, 1, 1)), show_value({"on": True}))
    2019-01-01 { on = true }
    >>> print(show_value("line" + chr(10) + "break"))
    'line\\nbreak'
    >>> from pathlib import Path
    >>> shown = show_value(Path("/very/long" * 20) / "name.nc")  # its end kept, not cut
    >>> print(shown[:3], shown[-12:], len(shown))
    '…g ong/name.nc' 122
    """
    if isinstance(value, NotShown):  # says only where the value is: the path, shortened
        return _escape_controls(f"<not shown: from {_shown_path(value.origin)}>"
                                if value.origin else "<not shown>")
    if isinstance(value, os.PathLike):  # a file's path: its end (the file's name) kept
        return f"'{_shown_path(os.fspath(value))}'"
    return _cut(_escape_controls(_as_written(value)), MAX_VALUE_CHARS)


def _as_written(value: Any, depth: int = 0) -> str:
    """*value* as a TOML file writes it (``true``, ``2019-01-01``, ``{ a = 1 }``), so that
    messages never show Python's spellings (``True``, ``datetime.date(...)``)."""
    if depth > 3:
        return "..."
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (datetime.date, datetime.time)):  # datetime is a date
        return value.isoformat()
    if isinstance(value, dict):
        inner = ", ".join(f"{_key(k)} = {_as_written(v, depth + 1)}"
                          for k, v in list(value.items())[:20])
        return f"{{ {inner} }}" if inner else "{}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_as_written(v, depth + 1) for v in list(value)[:20]) + \
            (", ...]" if len(value) > 20 else "]")
    return repr(value)


def _key(name: Any) -> str:
    text = str(name)
    return text if re.fullmatch(r"[A-Za-z0-9_-]+", text) else repr(text)


class ThreatsimError(Exception):
    """Base class of every error threatsim raises on purpose.

    >>> issubclass(ScenarioError, ThreatsimError) and issubclass(ModelError, ThreatsimError)
    True
    """


class ScenarioError(ThreatsimError, ValueError):
    """Bad input: a scenario, source or observation file, or a bad argument.

    Keeps the fields a caller needs to point at the problem: the file, the key
    path (``parameters.reserves_usd.range``), the value given and what is
    allowed. Several problems found in one file are gathered in ``problems``
    and shown one per line. A value of ``None`` means the key is missing (TOML
    has no null), so the message shows the key alone (``horizon is required``).
    Values are shown by :func:`show_value` (one line, cut when long).

    Examples
    --------
    >>> err = ScenarioError("must be >= 1", path="a.toml", key="run.draws", value=0)
    >>> str(err)
    'a.toml: run.draws=0 must be >= 1'
    >>> import pickle
    >>> pickle.loads(pickle.dumps(err)).key
    'run.draws'
    >>> two = ScenarioError("invalid", path="a.toml", problems=(
    ...     ScenarioError("is required", key="horizon"),
    ...     ScenarioError("must be a whole number >= 1", key="run.draws", value=0)))
    >>> print(two)
    a.toml: 2 problems:
      horizon is required
      run.draws=0 must be a whole number >= 1
    """

    def __init__(
        self,
        expected: str,
        *,
        path: str | None = None,
        key: str | None = None,
        value: Any = None,
        problems: tuple[ScenarioError, ...] = (),
    ) -> None:
        self.expected = expected
        self.path = path
        self.key = key
        self.value = value
        self.problems = tuple(problems)
        super().__init__(self._message())

    def _message(self) -> str:
        head = f"{_shown_path(self.path)}: " if self.path else ""
        lines = [_cut(line, MAX_LINE_CHARS) for line in self._lines()]
        if len(lines) == 1:
            return head + lines[0]
        shown = lines[:MAX_PROBLEMS_SHOWN]
        if len(lines) > len(shown):
            shown.append(f"... and {len(lines) - len(shown)} more")
        return head + f"{len(lines)} problems:" + "".join(f"\n  {line}" for line in shown)

    def _lines(self) -> list[str]:
        """One line per problem (nested problems flattened), without the file."""
        if self.problems:
            # A key's first problem only: a second follows from it (a TOML date given
            # as ``start`` is not a month either).
            seen: set[str] = set()
            lines = []
            for problem in self.problems:
                if problem.key is not None:
                    if problem.key in seen:
                        continue
                    seen.add(problem.key)
                lines.extend(problem._lines())
            return lines
        expected = _escape_controls(self.expected)
        if self.key is None:
            return [expected]
        key = _cut(_escape_controls(self.key), _MAX_KEY_CHARS)
        if self.value is None:
            return [f"{key} {expected}"]
        return [f"{key}={show_value(self.value)} {expected}"]

    def _message_without_path(self) -> str:
        return "; ".join(self._lines())

    def __reduce__(self) -> Any:
        return (
            _rebuild_scenario_error,
            (self.expected, self.path, self.key, self.value, self.problems),
        )


def _rebuild_scenario_error(
    expected: str,
    path: str | None,
    key: str | None,
    value: Any,
    problems: tuple[ScenarioError, ...],
) -> ScenarioError:
    return ScenarioError(expected, path=path, key=key, value=value, problems=problems)


class ModelError(ThreatsimError, RuntimeError):
    """A model failed while running (an internal invariant broke).

    >>> str(ModelError("stock went negative"))
    'stock went negative'
    """

"""Errors: one base class, structured fields, picklable across process pools."""

from __future__ import annotations

from typing import Any

__all__ = ["ModelError", "ScenarioError", "ThreatsimError"]


class ThreatsimError(Exception):
    """Base class of every error threatsim raises on purpose.

    >>> issubclass(ScenarioError, ThreatsimError) and issubclass(ModelError, ThreatsimError)
    True
    """


class ScenarioError(ThreatsimError, ValueError):
    """Bad input: a scenario, source or observation file, or a bad argument.

    Keeps the fields a caller needs to point at the problem: the file, the key
    path (``parameters.reserves_usd.range``), the value given and what is
    allowed. Several problems found in one file are joined in ``problems``.

    Examples
    --------
    >>> err = ScenarioError("must be >= 1", path="a.toml", key="run.draws", value=0)
    >>> str(err)
    'a.toml: run.draws=0 must be >= 1'
    >>> import pickle
    >>> pickle.loads(pickle.dumps(err)).key
    'run.draws'
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
        if self.problems:
            head = f"{self.path}: " if self.path else ""
            lines = [p._message_without_path() for p in self.problems]
            if len(lines) == 1:
                return head + lines[0]
            return head + f"{len(lines)} problems: " + "; ".join(lines)
        head = f"{self.path}: " if self.path else ""
        return head + self._message_without_path()

    def _message_without_path(self) -> str:
        if self.problems:
            return "; ".join(p._message_without_path() for p in self.problems)
        if self.key is None:
            return self.expected
        return f"{self.key}={self.value!r} {self.expected}"

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

"""Reading an input TOML file: every way it can fail is a :class:`ScenarioError`.

Every scenario file, every file it ``extends`` and every source registry is read
by :func:`read_toml`, which turns a missing file, a folder, a file that is not
UTF-8 text, a binary file (a NetCDF results file given as a scenario, say), a TOML
syntax error (with tomllib's line and column), a file that cannot be read, one
over :data:`MAX_TOML_BYTES` and one nested deeper than :data:`MAX_NESTING` into
one line naming the file and, for a file another one points at, the key that
named it. The messages never quote the file's contents.
"""

from __future__ import annotations

import os
import stat
import sys
import tomllib
from typing import Any

from threatsim.core.errors import NotShown, ScenarioError

__all__ = ["MAX_NESTING", "MAX_TOML_BYTES", "NotShown", "read_toml", "shown_path"]

#: The largest input file read (bytes): the shipped scenarios are a few kB.
MAX_TOML_BYTES = 10 * 2**20
#: The deepest nesting of tables and arrays a file may have (a scenario needs 4 or 5).
MAX_NESTING = 32
#: How results files start: netCDF classic and 64-bit offset, CDF-5, HDF5 (netCDF-4).
_NETCDF_MAGIC = (b"CDF\x01", b"CDF\x02", b"CDF\x05", b"\x89HDF\r\n\x1a\n")
_LONGEST_SHOWN_PATH = 160


def shown_path(path: str | os.PathLike[str]) -> str:
    """*path* as an error shows it: whole, or its two ends around ``...`` when long.

    >>> shown_path("scenarios/baseline.toml")
    'scenarios/baseline.toml'
    >>> len(shown_path("x" * 1000)) <= 160
    True
    """
    text = os.fspath(path)
    if len(text) <= _LONGEST_SHOWN_PATH:
        return text
    half = (_LONGEST_SHOWN_PATH - 3) // 2
    return f"{text[:half]}...{text[-half:]}"


def _too_deep(data: dict[str, Any]) -> str | None:
    """The key path (shortened) at which *data* nests deeper than MAX_NESTING, or None.

    Iterative: a structure too deep for recursion is what it looks for.
    """
    stack: list[tuple[Any, int, str]] = [(data, 1, "")]
    while stack:
        value, depth, where = stack.pop()
        if depth > MAX_NESTING:
            return where if len(where) <= 60 else where[:57] + "..."
        if isinstance(value, dict):
            stack.extend((v, depth + 1, f"{where}.{k}" if where else str(k))
                         for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, depth + 1, f"{where}[{i}]") for i, v in enumerate(value))
    return None


def read_toml(path: str | os.PathLike[str], *, what: str = "scenario file",
              via: str | None = None) -> dict[str, Any]:
    """The table of a TOML file, or a :class:`ScenarioError` naming the file and the problem.

    Parameters
    ----------
    path
        The file.
    what
        What the file should be, for the messages (``"scenario file"``, ``"source file"``).
    via
        Which key of which file named it, e.g. ``"named by extends in what.toml"``;
        added to every message.

    Examples
    --------
    >>> read_toml("scenarios/financing.toml")["model"]
    'financing'
    >>> try:
    ...     read_toml("scenarios", via="named by extends in x.toml")
    ... except ScenarioError as err:
    ...     print(err)
    scenarios: is a folder, not a scenario file (named by extends in x.toml)
    """
    shown = shown_path(path)
    suffix = f" ({via})" if via else ""

    def fail(problem: str) -> ScenarioError:
        return ScenarioError(problem + suffix, path=shown)

    def cannot_open(exc: Exception) -> ScenarioError:
        if isinstance(exc, FileNotFoundError):
            return fail(f"no such {what}")
        if isinstance(exc, PermissionError):
            return fail("cannot be read: permission denied")
        if isinstance(exc, IsADirectoryError):
            return fail(f"is a folder, not a {what}")
        if isinstance(exc, NotADirectoryError):
            return fail(f"no such {what} (a folder of the path is a file)")
        if isinstance(exc, ValueError):  # an embedded NUL character
            return fail("is not a usable path (it holds a NUL character)")
        strerror = getattr(exc, "strerror", None) or type(exc).__name__
        return fail(f"cannot be opened: {str(strerror).lower()}")

    try:
        info = os.stat(path)
        if stat.S_ISDIR(info.st_mode):
            raise fail(f"is a folder, not a {what}")
        if not (stat.S_ISREG(info.st_mode) or stat.S_ISFIFO(info.st_mode)):
            raise fail(f"is not a regular file (a device or socket), not a {what}")
        if info.st_size > MAX_TOML_BYTES:
            raise fail(f"is {info.st_size / 2**20:.1f} MiB; a {what} may be at most "
                       f"{MAX_TOML_BYTES // 2**20} MiB")
        with open(path, "rb") as fh:
            raw = fh.read(MAX_TOML_BYTES + 1)
    except ScenarioError:
        raise
    except (OSError, ValueError) as exc:
        raise cannot_open(exc) from None
    if len(raw) > MAX_TOML_BYTES:
        raise fail(f"is larger than {MAX_TOML_BYTES // 2**20} MiB, the most a {what} may be")
    if raw.startswith(_NETCDF_MAGIC):
        raise fail(f"looks like a NetCDF results file, not a {what} (TOML text); "
                   "threatsim.open_results reads results")
    nul = raw.find(b"\x00")
    if nul >= 0:
        raise fail(f"is a binary file, not TOML text (a NUL byte at offset {nul})")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise fail(f"is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}, "
                   f"line {line}); save it as UTF-8") from None
    try:
        data = tomllib.loads(text.removeprefix("\ufeff"))
    except tomllib.TOMLDecodeError as exc:
        raise fail(f"is not valid TOML: {exc}") from None
    except RecursionError:
        raise fail(f"nests arrays or tables too deeply to read (at most {MAX_NESTING} "
                   "levels)") from None
    except ValueError as exc:  # an integer of more digits than Python converts
        if "digits" in str(exc):
            raise fail("holds an integer of more than "
                       f"{sys.get_int_max_str_digits()} digits") from None
        raise fail(f"is not valid TOML: {exc}") from None
    deep = _too_deep(data)
    if deep is not None:
        raise fail(f"nests tables or arrays more than {MAX_NESTING} levels deep (at {deep}); "
                   "a scenario needs a few")
    return data

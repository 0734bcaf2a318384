"""Files written whole or not at all: a temporary name beside the target, then a rename.

Every file threatsim writes (results, pictures, tables, checkpoint chunks) goes
through here, so that each one

* appears only complete (a reader, or a crash, never sees half a file);
* gets the permissions an ordinary new file gets (``tempfile.mkstemp`` makes
  its files readable by their owner only);
* is not given its final name after a Ctrl-C held back while it was written
  (see :class:`threatsim.core.interrupts.InterruptGuard`);
* fails with one clear line naming it when its folder cannot be written.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from threatsim.core.errors import ScenarioError
from threatsim.core.interrupts import check_interrupt

__all__ = ["atomic_path", "file_stem", "publish", "publish_folder", "temp_beside",
           "temp_folder_beside"]

#: Longest file stem made from a label (a file name may have 255 bytes; suffixes follow).
_MAX_STEM = 120


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _cannot_write(path: Path, exc: OSError) -> ScenarioError:
    return ScenarioError(f"cannot be written ({exc.strerror or exc})", key="output",
                         value=path)


def temp_beside(path: str | os.PathLike[str], suffix: str = ".tmp") -> Path:
    """A new empty file in *path*'s folder (created if need be), named to be hidden and
    later renamed to *path* by :func:`publish`.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     tmp = temp_beside(Path(d) / "out" / "run.nc")
    ...     print(tmp.parent.name, tmp.name.startswith(".run.nc."), tmp.stat().st_size)
    out True 0
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    except OSError as exc:
        raise _cannot_write(path, exc) from None
    try:
        os.fchmod(fd, 0o666 & ~_umask())
    finally:
        os.close(fd)
    return Path(tmp)


def publish(tmp: str | os.PathLike[str], path: str | os.PathLike[str]) -> Path:
    """Give the finished temporary file *tmp* its final name *path*, unless Ctrl-C was
    pressed while it was written (then ``KeyboardInterrupt``; the caller deletes it).

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     tmp = temp_beside(Path(d) / "a.txt")
    ...     _ = tmp.write_text("done")
    ...     print(publish(tmp, Path(d) / "a.txt").read_text(), tmp.exists())
    done False
    """
    check_interrupt()
    os.replace(tmp, path)
    return Path(path)


def temp_folder_beside(path: str | os.PathLike[str], suffix: str = ".tmp") -> Path:
    """A new empty folder in *path*'s folder, hidden, to be renamed to *path* by
    :func:`publish_folder` (a store of many files, such as Zarr, written whole or not at all).

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     tmp = temp_folder_beside(Path(d) / "run.zarr")
    ...     print(tmp.is_dir(), tmp.name.startswith(".run.zarr."), list(tmp.iterdir()))
    True True []
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent))
        os.chmod(tmp, 0o777 & ~_umask())
    except OSError as exc:
        raise _cannot_write(path, exc) from None
    return tmp


def publish_folder(tmp: str | os.PathLike[str], path: str | os.PathLike[str]) -> Path:
    """Give the finished temporary folder *tmp* the name *path*, unless Ctrl-C was pressed
    while it was written. A folder already at *path* is first moved aside and deleted
    only once the new one has its name; a file there is refused.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     for text in ("old", "new"):
    ...         tmp = temp_folder_beside(Path(d) / "s.zarr")
    ...         _ = (tmp / "a").write_text(text)
    ...         _ = publish_folder(tmp, Path(d) / "s.zarr")
    ...     print((Path(d) / "s.zarr" / "a").read_text(), sorted(p.name for p in Path(d).iterdir()))
    new ['s.zarr']
    """
    check_interrupt()
    path, tmp = Path(path), Path(tmp)
    if path.exists() and not path.is_dir():
        raise ScenarioError("is a file, not a folder a Zarr store can replace", key="output",
                            value=path)
    old = None
    try:
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old",
                                        dir=path.parent))
            os.replace(path, old / path.name)
        os.replace(tmp, path)
    except OSError as exc:
        if old is not None and (old / path.name).exists() and not path.exists():
            os.replace(old / path.name, path)  # put the old store back
        raise _cannot_write(path, exc) from None
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    return path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], suffix: str = ".tmp") -> Iterator[Path]:
    """Write to the path this yields; on leaving the block it becomes *path*, or, on any
    exception (Ctrl-C included), is deleted. An ``OSError`` while writing (a full disk)
    becomes a :class:`ScenarioError` naming *path*.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     with atomic_path(Path(d) / "table.csv") as tmp:
    ...         _ = tmp.write_text("a,b")
    ...     print(sorted(p.name for p in Path(d).iterdir()))
    ['table.csv']
    """
    path = Path(path)
    tmp = temp_beside(path, suffix)
    try:
        try:
            yield tmp
        except OSError as exc:
            raise _cannot_write(path, exc) from None
        publish(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def file_stem(label: str) -> str:
    """A file name stem made from a label (a scenario's ``name``), never a path.

    A scenario's name is a label: ``"../../x"``, ``"/etc/x"`` or a name with a NUL
    must not choose where a file lands. Letters, digits, ``.``, ``_`` and ``-``
    are kept; every other run of characters, and every ``..``, becomes one ``_``;
    leading and trailing dots go (no hidden files); at most 120 characters; never
    empty.

    >>> file_stem("baseline"), file_stem("../../escaped/evil"), file_stem("/../../x")
    ('baseline', 'escaped_evil', 'x')
    >>> file_stem("a\\x00b"), file_stem(".."), file_stem("Hajin falls early (2019)")
    ('a_b', 'run', 'Hajin_falls_early_2019')
    """
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", str(label))
    stem = re.sub(r"_+", "_", re.sub(r"\.{2,}", "_", stem)).strip("._-")
    return stem[:_MAX_STEM].rstrip("._-") or "run"

"""Checkpoints: finished chunks on disk, so a long run can resume after a stop.

A checkpoint is a folder holding ``manifest.json`` (what run it belongs to:
run id of the resolved scenario, seed, draws, chunk size, sampler, replicates,
outputs, package version) and one ``chunk-NNNNNN.npz`` per finished chunk, each
written to a temporary name and renamed, so a file that exists is complete.

Resuming reuses the chunks already there and computes only the others. Because
a chunk's result depends only on the run's inputs and its index, the resumed
run's Dataset is identical to an uninterrupted one. Resuming from a checkpoint
of another run (different scenario, seed, draws, ...) is refused, naming what
differs.

Nothing read back is trusted: a chunk file that cannot be read (truncated,
flipped bytes, not a ``.npz``), that holds other variables, shapes or dtypes
than this run's chunk, or values outside the model's support (NaN or infinite
where the model gives none, below 0 for an output that never is: see
:meth:`threatsim.models.contract.OutputDecl.outside_support`) is deleted and
computed again, with a warning on the ``threatsim`` logger naming the file and
why. A ``manifest.json`` that is not a JSON object with every identity key of
the right type is damaged: with ``resume`` its chunks cannot be matched to any
run, so they are deleted and the run starts afresh, with a warning. Files are
read with ``allow_pickle=False``: no pickle is ever loaded.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from threatsim.core.atomic import atomic_path
from threatsim.core.errors import ScenarioError
from threatsim.models.contract import OutputDecl
from threatsim.models.registry import get_model

__all__ = ["MANIFEST", "Checkpoint", "manifest_problem"]

log = logging.getLogger("threatsim")

MANIFEST = "manifest.json"
FORMAT = 1
#: Manifest keys that must agree for a resume, in the order differences are named.
IDENTITY = ("run_id", "scenario_name", "model", "seed", "draws", "chunk_size", "sampler",
            "replicates", "variables", "threatsim_version", "format")
#: What each identity key holds: "str", "int" (any whole number), "count" (one or more),
#: "names" (a list of strings).
_KINDS = {"run_id": "str", "scenario_name": "str", "model": "str", "seed": "int",
          "draws": "count", "chunk_size": "count", "sampler": "str", "replicates": "count",
          "variables": "names", "threatsim_version": "str", "format": "int"}
_CHUNK = re.compile(r"chunk-(\d{6,})\.npz")
#: Bytes a ``.npy`` member may have beyond its data (its header).
_NPY_HEADER = 4096


def _is_kind(value: Any, kind: str) -> bool:
    if kind == "str":
        return isinstance(value, str)
    if kind == "names":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    whole = isinstance(value, int) and not isinstance(value, bool)
    return whole and (kind == "int" or value >= 1)


def manifest_problem(manifest: Any) -> str | None:
    """Why *manifest* (a ``manifest.json`` as read) is not a checkpoint's manifest, or None.

    >>> manifest_problem([1, 2])
    'is a JSON array, not an object'
    >>> manifest_problem({"run_id": "abc", "draws": "many"})
    'lacks scenario_name, model, seed, chunk_size, sampler, replicates, variables, \
threatsim_version, format; draws is not a whole number of 1 or more'
    """
    if not isinstance(manifest, dict):
        shown = {list: "a JSON array", str: "a JSON string", bool: "JSON true or false",
                 type(None): "JSON null"}.get(type(manifest), "a JSON number")
        return f"is {shown}, not an object"
    missing = [k for k in IDENTITY if k not in manifest]
    wrong = [k for k in IDENTITY if k in manifest and not _is_kind(manifest[k], _KINDS[k])]
    what = {"str": "a string", "int": "a whole number", "count": "a whole number of 1 or more",
            "names": "a list of names"}
    parts = ([f"lacks {', '.join(missing)}"] if missing else []) + [
        f"{k} is not {what[_KINDS[k]]}" for k in wrong]
    return "; ".join(parts) or None


def _atomic_write(path: Path, write: Any, suffix: str) -> None:
    with atomic_path(path, suffix) as tmp:
        write(str(tmp))


def _flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(tree, dict):
        out: dict[str, Any] = {}
        for key, value in tree.items():
            out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: tree}


def scenario_differences(have: Any, want: Any, *, most: int = 6) -> list[str]:
    """The keys whose values differ between two resolved scenarios (a checkpoint's and
    this run's), as ``"key: A in the checkpoint, B in this run"``; none where the
    checkpoint predates the manifest's ``scenario``.

    >>> scenario_differences({"run": {"seed": 1}}, {"run": {"seed": 2}})
    ['run.seed: 1 in the checkpoint, 2 in this run']
    """
    if not isinstance(have, dict) or not isinstance(want, dict):
        return []
    a, b = _flatten(have), _flatten(want)
    missing = object()
    keys = sorted(k for k in a.keys() | b.keys() if a.get(k, missing) != b.get(k, missing))
    out = [f"{k}: {a.get(k, '(absent)')!r} in the checkpoint, {b.get(k, '(absent)')!r} in "
           f"this run" for k in keys[:most]]
    if len(keys) > most:
        out.append(f"and {len(keys) - most} more keys")
    return out


class Checkpoint:
    """A folder of finished chunks of one run (see the module docstring).

    >>> import tempfile, threatsim
    >>> from threatsim.engine.options import RunOptions
    >>> from threatsim.engine.plan import Plan, run_chunk
    >>> sc = threatsim.load_scenario("scenarios/financing.toml")
    >>> plan = Plan.for_run(sc, RunOptions.build(sc, draws=4))
    >>> index, result = run_chunk(plan.task(0))
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     ckpt = Checkpoint.open(tmp, plan.manifest(), resume=False)
    ...     ckpt.save(index, result)
    ...     ckpt.done(), np.array_equal(ckpt.load(0)["reserves"], result["reserves"])
    ({0}, True)
    """

    def __init__(self, folder: Path, manifest: dict[str, Any], *, resumed: bool = False) -> None:
        self.folder = folder
        #: This run's manifest (a resumed checkpoint's agrees with it on every identity
        #: key): what the chunks read back are checked against.
        self.manifest = manifest
        #: Whether :meth:`open` found this run's checkpoint there (False: a new one).
        self.resumed = resumed

    @classmethod
    def open(cls, folder: str | os.PathLike[str], manifest: Mapping[str, Any], *,
             resume: bool) -> Checkpoint:
        """Open *folder* for the run described by *manifest*.

        A new or empty folder starts a fresh checkpoint. A folder that already
        holds a checkpoint is reused only with ``resume=True`` and only if its
        manifest matches; otherwise a :class:`ScenarioError` says why. With
        ``resume=True``, a damaged manifest (see :func:`manifest_problem`) is
        replaced and the chunks beside it deleted, with a warning.
        """
        path = Path(folder)
        want = {"format": FORMAT, **manifest}
        if path.exists() and not path.is_dir():
            raise ScenarioError("is not a folder", key="checkpoint", value=path)
        mfile = path / MANIFEST
        if mfile.exists() or mfile.is_symlink():
            if not resume:
                raise ScenarioError(
                    "already holds a checkpoint; pass --resume (resume=True) to reuse it, or "
                    "choose an empty folder", key="checkpoint", value=path)
            problem, have = _read_manifest(mfile)
            if problem is None:
                diffs = [f"{k} {have.get(k)!r} in the checkpoint, {want.get(k)!r} in this run"
                         for k in IDENTITY if have.get(k) != want.get(k)]
                if have.get("run_id") != want.get("run_id"):
                    diffs += scenario_differences(have.get("scenario"), want.get("scenario"))
                if diffs:  # one line each: the message cuts a line that is too long
                    raise ScenarioError(
                        "cannot resume", problems=tuple(ScenarioError(d) for d in diffs),
                        path=f"checkpoint {path}: cannot resume, it belongs to a different run")
                return cls(path, want, resumed=True)
            stale = sorted(p for p in path.iterdir() if _CHUNK.fullmatch(p.name))
            log.warning("checkpoint %s: %s %s, so no chunk there can be matched to this run: "
                        "its %d chunk files are deleted and every chunk computed again", path,
                        MANIFEST, problem, len(stale))
            for p in stale:
                _remove(p)
            _remove(mfile)
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ScenarioError(f"cannot be created ({exc.strerror or exc})", key="checkpoint",
                                value=path) from None
        _atomic_write(mfile, lambda tmp: Path(tmp).write_text(json.dumps(want, indent=2)),
                      ".tmp")
        return cls(path, want)

    @property
    def n_chunks(self) -> int:
        """How many chunks the whole run has."""
        return -(-int(self.manifest["draws"]) // int(self.manifest["chunk_size"]))

    def chunk_path(self, index: int) -> Path:
        """Where chunk *index* is stored."""
        return self.folder / f"chunk-{index:06d}.npz"

    def done(self) -> set[int]:
        """Indices of the chunks stored (complete files only; :meth:`load` checks them)."""
        out = set()
        n_chunks = self.n_chunks
        for p in self.folder.glob("chunk-*.npz"):
            match = _CHUNK.fullmatch(p.name)
            if match is None:
                continue
            index = int(match.group(1))
            if 0 <= index < n_chunks and p == self.chunk_path(index):
                out.add(index)
        return out

    def save(self, index: int, result: Mapping[str, np.ndarray]) -> None:
        """Store the result of chunk *index* (atomically)."""
        arrays = {k: np.ascontiguousarray(v) for k, v in result.items()}

        def write(tmp: str) -> None:
            with open(tmp, "wb") as fh:
                # numpy's stub types **kwds as if one of them could be allow_pickle (a bool)
                np.savez(fh, **arrays)  # type: ignore[arg-type]

        path = self.chunk_path(index)
        if path.is_dir() and not path.is_symlink():
            raise ScenarioError(f"holds a folder {path.name} where chunk {index} belongs; "
                                "remove it", key="checkpoint", value=self.folder)
        _atomic_write(path, write, ".tmp")

    def expected(self, index: int) -> dict[str, tuple[tuple[int | None, ...], OutputDecl | None]]:
        """What chunk *index* holds: each variable's shape (``None`` where this run's
        manifest does not say) and its model's declaration (``None`` if unknown).

        >>> import threatsim
        >>> from threatsim.engine.options import RunOptions
        >>> from threatsim.engine.plan import Plan
        >>> sc = threatsim.load_scenario("scenarios/financing.toml")
        >>> plan = Plan.for_run(sc, RunOptions.build(sc, draws=250, chunk_size=100))
        >>> ckpt = Checkpoint(Path("unused"), {"format": FORMAT, **plan.manifest()})
        >>> shape, decl = ckpt.expected(2)["reserves"]
        >>> shape, decl.dtype
        ((50, 37), dtype('float64'))
        """
        m = self.manifest
        draws, size = int(m["draws"]), int(m["chunk_size"])
        rows = min(size, draws - index * size)
        reps = int(m.get("replicates", 1))
        scenario = m.get("scenario")
        horizon = scenario.get("horizon") if isinstance(scenario, dict) else None
        try:
            info = get_model(str(m.get("model"))).info
        except KeyError:
            info = None
        decls = {o.name: o for o in info.outputs} if info is not None else {}
        sizes: dict[str, int | None] = {
            "time": horizon + 1 if isinstance(horizon, int) else None,
            **({d: len(v) for d, v in info.coords.items()} if info is not None else {})}
        out: dict[str, tuple[tuple[int | None, ...], OutputDecl | None]] = {}
        for name in m["variables"]:
            decl = decls.get(name)
            dims = tuple(sizes.get(d) for d in decl.dims) if decl is not None else ()
            lead = (rows, reps) if reps > 1 else (rows,)
            out[name] = ((*lead, *dims) if decl is not None else (), decl)
        return out

    def load(self, index: int) -> dict[str, np.ndarray] | None:
        """The stored result of chunk *index*, or None if missing or damaged (a damaged
        file is deleted, with a warning saying why: see the module docstring)."""
        path = self.chunk_path(index)
        if not path.exists() and not path.is_symlink():
            return None
        problem, out = self._read(index)
        if problem is None:
            return out
        log.warning("checkpoint %s: %s is not this run's chunk %d: %s; computing it again",
                    self.folder, path.name, index, problem)
        _remove(path)
        return None

    def _read(self, index: int) -> tuple[str | None, dict[str, np.ndarray]]:
        """(why chunk *index*'s file is not this run's chunk or None, its arrays)."""
        path = self.chunk_path(index)
        want = self.expected(index)
        if path.is_symlink() or not path.is_file():
            return "it is not a plain file", {}
        names = sorted(want)
        # The file is not trusted: whatever fails in reading it (zipfile, zlib, numpy's
        # header parser) means it is damaged, and the chunk is computed again.
        try:
            with zipfile.ZipFile(path) as zf:
                listed = zf.infolist()
            infos = {i.filename: i for i in listed}
            members = sorted(infos)
            if len(listed) != len(infos):
                return "it holds a variable twice", {}
            if members != sorted(f"{n}.npy" for n in names):
                held = [m.removesuffix(".npy") for m in members]
                return f"it holds the variables {held}, not {names}", {}
            for name, (shape, decl) in want.items():
                if decl is None or None in shape:
                    continue
                most = math.prod(w or 0 for w in shape) * decl.dtype.itemsize + _NPY_HEADER
                if infos[f"{name}.npy"].file_size > most:
                    return f"it holds more data for {name} than this run's chunk has", {}
            with np.load(path, allow_pickle=False) as z:
                out = {k: z[k] for k in z.files}
        except Exception as exc:  # see above
            return f"it cannot be read ({type(exc).__name__}: {str(exc)[:200]})", {}
        for name, (shape, decl) in want.items():
            values = out[name]
            if decl is None:
                continue
            if values.dtype != decl.dtype:
                return f"{name} is {values.dtype}, not {decl.dtype}", {}
            if len(shape) != values.ndim or any(
                    w is not None and w != h for w, h in zip(shape, values.shape, strict=True)):
                shown = ", ".join("any" if w is None else str(w) for w in shape)
                return f"{name} has shape {values.shape}, not ({shown})", {}
            problem = decl.outside_support(values)
            if problem is not None:
                return f"{name} {problem}, which the model never gives", {}
        return None, out


def _read_manifest(mfile: Path) -> tuple[str | None, dict[str, Any]]:
    """(why *mfile* is not a checkpoint's manifest or None, its contents)."""
    try:
        have = json.loads(mfile.read_bytes())
    except (OSError, ValueError, RecursionError) as exc:
        return f"cannot be read ({type(exc).__name__}: {str(exc)[:200]})", {}
    problem = manifest_problem(have)
    return (problem, {}) if problem is not None else (None, have)


def _remove(path: Path) -> None:
    """Delete a damaged file of a checkpoint (a stray empty folder too)."""
    try:
        if path.is_dir() and not path.is_symlink():
            path.rmdir()
        else:
            path.unlink(missing_ok=True)
    except OSError as exc:
        raise ScenarioError(f"holds a damaged {path.name} that cannot be deleted "
                            f"({exc.strerror or exc})", key="checkpoint",
                            value=path.parent) from None

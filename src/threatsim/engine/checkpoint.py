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
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from threatsim.core.atomic import atomic_path
from threatsim.core.errors import ScenarioError

__all__ = ["MANIFEST", "Checkpoint"]

MANIFEST = "manifest.json"
FORMAT = 1
#: Manifest keys that must agree for a resume, in the order differences are named.
IDENTITY = ("run_id", "scenario_name", "model", "seed", "draws", "chunk_size", "sampler",
            "replicates", "variables", "threatsim_version", "format")


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
        self.manifest = manifest
        #: Whether :meth:`open` found this run's checkpoint there (False: a new one).
        self.resumed = resumed

    @classmethod
    def open(cls, folder: str | os.PathLike[str], manifest: Mapping[str, Any], *,
             resume: bool) -> Checkpoint:
        """Open *folder* for the run described by *manifest*.

        A new or empty folder starts a fresh checkpoint. A folder that already
        holds a checkpoint is reused only with ``resume=True`` and only if its
        manifest matches; otherwise a :class:`ScenarioError` says why.
        """
        path = Path(folder)
        want = {"format": FORMAT, **manifest}
        if path.exists() and not path.is_dir():
            raise ScenarioError("is not a folder", key="checkpoint", value=str(path))
        mfile = path / MANIFEST
        if mfile.exists():
            try:
                have = json.loads(mfile.read_text())
            except (OSError, ValueError) as exc:
                raise ScenarioError(f"has an unreadable {MANIFEST} ({exc})", key="checkpoint",
                                    value=str(path)) from None
            if not resume:
                raise ScenarioError(
                    "already holds a checkpoint; pass --resume (resume=True) to reuse it, or "
                    "choose an empty folder", key="checkpoint", value=str(path))
            diffs = [f"{k} {have.get(k)!r} in the checkpoint, {want.get(k)!r} in this run"
                     for k in IDENTITY if have.get(k) != want.get(k)]
            if have.get("run_id") != want.get("run_id"):
                diffs += scenario_differences(have.get("scenario"), want.get("scenario"))
            if diffs:
                raise ScenarioError(
                    "cannot resume: the checkpoint belongs to a different run: "
                    + "; ".join(diffs), key="checkpoint", value=str(path))
            return cls(path, have, resumed=True)
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ScenarioError(f"cannot be created ({exc.strerror or exc})", key="checkpoint",
                                value=str(path)) from None
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
        """Indices of the chunks stored (complete files only)."""
        out = set()
        n_chunks = self.n_chunks
        for p in self.folder.glob("chunk-*.npz"):
            try:
                index = int(p.stem.split("-", 1)[1])
            except ValueError:
                continue
            if 0 <= index < n_chunks:
                out.add(index)
        return out

    def save(self, index: int, result: Mapping[str, np.ndarray]) -> None:
        """Store the result of chunk *index* (atomically)."""
        arrays = {k: np.ascontiguousarray(v) for k, v in result.items()}

        def write(tmp: str) -> None:
            with open(tmp, "wb") as fh:
                # numpy's stub types **kwds as if one of them could be allow_pickle (a bool)
                np.savez(fh, **arrays)  # type: ignore[arg-type]

        _atomic_write(self.chunk_path(index), write, ".tmp")

    def load(self, index: int) -> dict[str, np.ndarray] | None:
        """The stored result of chunk *index*, or None if missing or damaged."""
        path = self.chunk_path(index)
        try:
            with np.load(path, allow_pickle=False) as z:
                out = {k: z[k] for k in z.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile):
            return None
        if sorted(out) != sorted(self.manifest["variables"]):
            return None
        return out

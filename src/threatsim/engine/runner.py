"""The engine: sample, cut into chunks, run the model on each, collect.

A run is a pure function of (resolved scenario, seed, draws, chunk size,
replicates, package version). Each chunk's chance comes from its own stream
keyed by the chunk index, and results are placed by index, so the Dataset is
bit-identical whichever executor runs the chunks (in-process, a process pool,
a dask.distributed cluster), with however many workers, in whatever order they
finish, and whether or not the run was resumed from a checkpoint.

What is kept (``keep=``):

* ``"draws"`` (default): every trajectory, in memory; or, with ``out=PATH``,
  streamed to a NetCDF file as chunks finish (memory bounded by the chunk
  size; the summary is returned).
* ``"summary"``: exact quantile bands, P(= 0) of stocks, per-draw outputs and
  the sampled parameters; the trajectories are never held
  (:mod:`threatsim.engine.summary`). Memory is bounded by the chunk size plus the
  per-draw values; the chunks are computed twice (or more, rarely).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from threatsim.core.errors import ScenarioError
from threatsim.core.interrupts import InterruptGuard
from threatsim.core.wire import Bundle, smallest_int, unbundled
from threatsim.engine.executors import (
    ChunkExecutor,
    DaskExecutor,
    InProcessExecutor,
    ProcessPoolChunkExecutor,
    make_executor,
    resolve_executor,
)
from threatsim.engine.progress import Progress
from threatsim.engine.sampling import sample_parameters
from threatsim.engine.streams import chunk_seed_sequence
from threatsim.inputs.scenario import RunSettings, Scenario
from threatsim.models.registry import get_model
from threatsim.results import to_dataset

if TYPE_CHECKING:
    from threatsim.engine.checkpoint import Checkpoint

__all__ = ["KEEP", "ChunkTask", "DaskExecutor", "InProcessExecutor",
           "ProcessPoolChunkExecutor", "make_executor", "run", "run_chunk", "sample_lean"]

#: Notes on a run (what a resume found), INFO; ``threatsim run`` shows them on stderr.
log = logging.getLogger("threatsim")

#: What a run can keep: every trajectory, or only the summary (bounded memory).
KEEP = ("draws", "summary")


@dataclass(frozen=True, slots=True, kw_only=True)
class ChunkTask:
    """Everything one chunk needs; small and picklable."""

    index: int
    model: str
    params: dict[str, np.ndarray]
    levers: dict[str, np.ndarray]
    n_months: int
    seed: int
    replicates: int
    outputs: frozenset[str]
    #: In-process runs of a model that ``writes_into_buffers``: views of the run's
    #: result buffers, (*dims, chunk draws), that the model fills instead of
    #: returning new arrays (no copy of the trajectories). None otherwise.
    out: dict[str, np.ndarray] | None = None

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # A task sent to another process (a pool, a dask worker through the scheduler)
        # carries each parameter whose values are all the same (a ``point``: most of a
        # scenario's parameters) as one value: W2's 8,192-draw task is 0.5 MB instead
        # of 2 MB, and on a dask cluster the client process, which also runs the
        # scheduler, forwards every byte of it twice.
        # Its arrays travel packed, one buffer per dtype (a frame each on dask) instead
        # of one per parameter and lever (W2: 43 frames, each handled on its way by the
        # client, the scheduler and the worker).
        fields = {f: getattr(self, f) for f in ChunkTask.__slots__}
        fields["params"] = {k: _pack_constant(v) for k, v in self.params.items()}
        return _unpack_task, (Bundle(fields),)


def _pack_constant(values: np.ndarray) -> Any:
    """*values*, or ``_Constant`` when every element has the same bits (NaN and -0.0 too)."""
    size = values.dtype.itemsize
    if values.ndim != 1 or values.size < 2 or size not in (1, 2, 4, 8):
        return values
    if values.strides[0] != 0:  # not a broadcast of one value: compare the bits
        bits = np.ascontiguousarray(values).view(f"u{size}")
        if not (bits == bits[0]).all():
            return values
    return _Constant(values[:1].copy(), values.size)


@dataclass(frozen=True, slots=True)
class _Constant:
    """A parameter's chunk of equal values, shipped as one value and its length."""

    one: np.ndarray  # shape (1,), the value with its dtype and bits
    size: int

    def expand(self) -> np.ndarray:
        return np.repeat(self.one, self.size)  # contiguous and writable, as sent


def _unpack_task(fields: dict[str, Any]) -> ChunkTask:
    fields["params"] = {k: v.expand() if isinstance(v, _Constant) else v
                        for k, v in fields["params"].items()}
    return ChunkTask(**fields)


#: Draws per block when a chunk is transposed into a draw-last buffer: a block of
#: source rows and its destination columns stay in the CPU cache (measured best for
#: 61 to 2,562 cells per draw; much smaller blocks are pathologically slow).
_PLACE_BLOCK = 512


def place_draws(buffer: np.ndarray, chunk: np.ndarray, lo: int) -> None:
    """``buffer[..., lo:lo + m] = moveaxis(chunk, 0, -1)`` for a chunk (m, *cell), blocked.

    The plain assignment walks the chunk with a stride of a whole draw for each
    value it writes, missing the cache every time (about 14x slower for a
    (8192, 61, 7) chunk); a few hundred draws at a time are transposed in cache.
    """
    m = chunk.shape[0]
    cells = int(np.prod(chunk.shape[1:], dtype=np.int64))
    moved = np.moveaxis(chunk, 0, -1)
    if moved.flags.c_contiguous:  # recorded with the draws last: rows copy as they are
        buffer[..., lo:lo + m] = moved
        return
    if cells <= 1:
        buffer[..., lo:lo + m] = chunk.reshape(buffer[..., lo:lo + m].shape)
        return
    src = chunk.reshape(m, cells)
    dst = buffer.reshape(cells, buffer.shape[-1])  # a view: buffers are C-contiguous
    for s in range(0, m, _PLACE_BLOCK):
        e = min(m, s + _PLACE_BLOCK)
        dst[:, lo + s:lo + e] = src[s:e].T


def run_chunk(task: ChunkTask) -> tuple[int, dict[str, np.ndarray]]:
    """Run the model on one chunk (top-level, so process pools can pickle it)."""
    model = get_model(task.model)
    rng = np.random.Generator(np.random.PCG64(chunk_seed_sequence(task.seed, task.index)))
    params = task.params
    reps = task.replicates
    if reps > 1:  # draw-major: each draw's replicates sit next to each other
        params = {k: np.repeat(v, reps) for k, v in params.items()}
    direct = {"out": task.out} if task.out is not None else {}
    out = model.simulate(params, task.levers, n_months=task.n_months, rng=rng,
                         outputs=task.outputs, **direct)
    if reps > 1:
        out = {k: v.reshape(v.shape[0] // reps, reps, *v.shape[1:]) for k, v in out.items()}
    return task.index, out


@dataclass(frozen=True, slots=True)
class ShippedChunk:
    """A chunk output as it travels from a worker process to the client.

    ``values`` is the output with its draw axis last, contiguous: the layout of
    the client's buffers, which it is copied into as is (a model records
    months with the draws last, so nobody transposes it). Integers travel in the
    smallest integer type that holds them (counts of people, tens of thousands
    at most: 2 bytes unsigned instead of 8); exact, since the client writes
    them into a buffer of the output's own ``dtype``.
    """

    values: np.ndarray  # (*cells, chunk draws)
    dtype: np.dtype


def _draw_last(arr: np.ndarray) -> ShippedChunk:
    moved = np.moveaxis(arr, 0, -1)
    dtype = arr.dtype
    if dtype.kind in "iu" and dtype.itemsize > 1 and arr.size:
        small = smallest_int(int(moved.min()), int(moved.max()))
        if small is not None and small.itemsize < dtype.itemsize:
            return ShippedChunk(np.ascontiguousarray(moved, dtype=small), dtype)
    return ShippedChunk(np.ascontiguousarray(moved), dtype)


def run_chunk_shipped(task: ChunkTask) -> tuple[int, dict[str, ShippedChunk]]:
    """:func:`run_chunk` for a chunk whose result travels between processes (draws last)."""
    index, out = run_chunk(task)
    return index, {name: _draw_last(arr) for name, arr in out.items()}


def unshipped(result: tuple[int, dict[str, Any]]) -> tuple[int, dict[str, np.ndarray]]:
    """A :func:`run_chunk_shipped` result as :func:`run_chunk` gives it: draws first (a
    view of draws-last memory, as models record them), in each output's own dtype."""
    index, out = result
    return index, {name: np.moveaxis(v.values.astype(v.dtype, copy=False), -1, 0)
                   if isinstance(v, ShippedChunk) else v for name, v in out.items()}


def _settings(scenario: Scenario, **overrides: Any) -> RunSettings:
    given = {k: v for k, v in overrides.items() if v is not None}
    settings = replace(scenario.run, **given)
    checks = {"draws": 1, "chunk_size": 1, "replicates": 1, "workers": 1, "seed": 0}
    for key, low in checks.items():
        value = getattr(settings, key)
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ScenarioError(f"must be a whole number >= {low}", key=key, value=value)
    if settings.sampler not in ("mc", "lhs", "sobol"):
        raise ScenarioError("must be one of mc, lhs, sobol", key="sampler",
                            value=settings.sampler)
    return settings


def sample_lean(scenario: Scenario, settings: RunSettings, *,
                constants_as_views: bool = False) -> dict[str, np.ndarray]:
    """``sample_parameters`` of the scenario, one parameter at a time (same values).

    With ``mc`` and ``lhs`` each parameter's uniforms come from its own stream,
    so sampling a parameter alone (with the parents it is capped by, in the
    same order) gives exactly its values in the joint call, while holding the
    uniforms of one parameter at a time instead of all. ``sobol`` is a joint
    design and is sampled whole. With *constants_as_views*, a ``point``
    parameter becomes a read-only broadcast of its value (no memory per draw).
    """
    parameters, n = scenario.parameters, settings.draws
    kw = {"seed": settings.seed, "sampler": settings.sampler}
    if settings.sampler not in ("mc", "lhs") or getattr(scenario, "correlations", None):
        return sample_parameters(parameters, n, **kw)
    names = list(parameters)
    out: dict[str, np.ndarray] = {}
    for name in names:
        p = parameters[name]
        if constants_as_views and p.dist.kind == "point" and p.share_of is None:
            one = sample_parameters({name: p}, 1, **kw)[name]
            out[name] = np.broadcast_to(one, (n,))
            continue
        need, cur = {name}, p
        while cur.share_of is not None and cur.share_of not in need:
            need.add(cur.share_of)
            cur = parameters[cur.share_of]
        subset = {k: parameters[k] for k in names if k in need}
        out[name] = sample_parameters(subset, n, **kw)[name]
    return out


class _Plan:
    """A run's inputs: settings, sampled parameters, levers, chunk tasks."""

    def __init__(self, scenario: Scenario, settings: RunSettings, *,
                 lean: bool = False) -> None:
        self.scenario, self.settings = scenario, settings
        self.params = sample_lean(scenario, settings, constants_as_views=lean)
        self.levers = scenario.lever_schedule()
        self.outputs = frozenset(scenario.variables)
        self.n, self.cs = settings.draws, settings.chunk_size
        self.n_chunks = -(-self.n // self.cs)

    def bounds(self, index: int) -> tuple[int, int]:
        return index * self.cs, min(self.n, (index + 1) * self.cs)

    def task(self, index: int, buffers: dict[str, np.ndarray] | None = None) -> ChunkTask:
        lo, hi = self.bounds(index)
        st = self.settings
        out = {k: v[..., lo:hi] for k, v in buffers.items()} if buffers is not None else None
        return ChunkTask(index=index, model=self.scenario.model,
                         params={k: v[lo:hi] for k, v in self.params.items()},
                         levers=self.levers, n_months=self.scenario.horizon, seed=st.seed,
                         replicates=st.replicates, outputs=self.outputs, out=out)

    def direct_buffers(self, executor: ChunkExecutor) -> dict[str, np.ndarray] | None:
        """Result buffers the model fills in place, when it can and chunks run here.

        Only in-process (a worker process or cluster has its own memory) and
        without replicates (their outputs are reshaped after the model).
        """
        model = get_model(self.scenario.model)
        if (_crosses_processes(executor) or self.settings.replicates != 1
                or not getattr(model, "writes_into_buffers", False)):
            return None
        info = model.info
        sizes = {"time": self.scenario.horizon + 1,
                 **{dim: len(labels) for dim, labels in info.coords.items()}}
        decls = {o.name: o for o in info.outputs}
        dtype = getattr(model, "buffer_dtype", np.float64)  # counts of people: int64
        return {name: np.empty((*(sizes[d] for d in decls[name].dims), self.n), dtype=dtype)
                for name in sorted(self.outputs)}

    def manifest(self) -> dict[str, Any]:
        from threatsim.core.version import __version__

        st, sc = self.settings, self.scenario
        return {"run_id": sc.run_id, "scenario_name": sc.name, "model": sc.model,
                "seed": st.seed, "draws": st.draws, "chunk_size": st.chunk_size,
                "sampler": st.sampler, "replicates": st.replicates,
                "variables": sorted(sc.variables), "threatsim_version": __version__,
                # not part of the identity (run_id is its hash): there to name what
                # changed when a resume is refused
                "scenario": json.loads(sc.resolved_json)}


@dataclass(frozen=True, slots=True)
class ReducedChunkTask:
    """A chunk to run and reduce where it runs (summary passes): only the reduction travels."""

    task: ChunkTask
    spec: dict[str, Any]
    #: The executor's handle to this chunk's result, already computed and held where it
    #: ran (see ``DaskExecutor.hold``); the executor passes the result itself to
    #: :func:`run_chunk_reduced`, which then only reduces it.
    held: Any = None

    @property
    def index(self) -> int:
        return self.task.index


def run_chunk_reduced(rt: ReducedChunkTask,
                      computed: tuple[int, dict[str, np.ndarray]] | None = None,
                      ) -> tuple[int, dict[str, Any]]:
    """Run one chunk (unless *computed* is its :func:`run_chunk` result) and reduce it for
    a summary pass (top-level, so it pickles)."""
    from threatsim.engine.summary import StreamingSummary

    index, result = computed if computed is not None else run_chunk(rt.task)
    return index, StreamingSummary.reduce(result, rt.spec)


def _crosses_processes(executor: ChunkExecutor) -> bool:
    """Whether chunk results may travel from another process (anything but the
    in-process default): then they are shipped narrowed and bundled (see
    :func:`run_chunk_shipped`, :func:`run_chunk_reduced_shipped`)."""
    return type(executor) is not InProcessExecutor


def run_chunk_reduced_shipped(rt: ReducedChunkTask,
                              computed: tuple[int, dict[str, np.ndarray]] | None = None,
                              ) -> tuple[int, Bundle]:
    """:func:`run_chunk_reduced` for a partial that travels between processes: its many
    small arrays (W2: ~2,200 windows' values) packed into a few (see :class:`Bundle`)."""
    index, partial = run_chunk_reduced(rt, computed)
    return index, Bundle(partial)


def _reduced_pass(plan: _Plan, ex: ChunkExecutor, summary: Any, indices: list[int],
                  guard: InterruptGuard, bar: Progress, held: dict[int, Any] | None = None,
                  ) -> None:
    """Run *indices* reduced on the executor and merge them into *summary*.

    *held*: chunks already computed on the executor (index -> handle), reduced there.
    """
    spec = summary.spec()
    held = held or {}
    fn = run_chunk_reduced_shipped if _crosses_processes(ex) else run_chunk_reduced
    results = ex.map_chunks(fn, (ReducedChunkTask(plan.task(i), spec, held.get(i))
                                 for i in indices))
    try:
        for index, partial in results:
            guard.check()
            # unwrapped on unpickling; a Bundle only from an executor that did not pickle
            summary.merge(index, unbundled(partial))
            if index in held:  # reduced: its whole result need not stay on the cluster
                ex.release([held.pop(index)])  # type: ignore[attr-defined]
            bar.advance()
    finally:
        close = getattr(results, "close", None)
        if close is not None:
            close()


def _chunks(plan: _Plan, executor: ChunkExecutor, *, checkpoint: Any = None,
            reader: Any = None, bar: Progress | None = None,
            guard: InterruptGuard | None = None,
            buffers: dict[str, np.ndarray] | None = None, narrow: bool = False,
            ) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
    """Every chunk's result once, in any order: read back, or computed (and checkpointed)."""
    check = guard.check if guard is not None else (lambda: None)
    todo = list(range(plan.n_chunks))
    if reader is not None:  # a further pass over a file written in the first
        for i in todo:
            check()
            yield i, reader(i)
            if bar is not None:
                bar.advance()
        return
    if checkpoint is not None:
        have = checkpoint.done()
        missing = []
        for i in todo:
            stored = checkpoint.load(i) if i in have else None
            if stored is None:
                missing.append(i)
                continue
            check()
            yield i, stored
            if bar is not None:
                bar.advance()
        todo = missing
    # Results that cross a process boundary may come as ShippedChunk (only when the
    # caller asks for it with *narrow* and is ready to widen them).
    fn = run_chunk_shipped if narrow and _crosses_processes(executor) else run_chunk
    results = executor.map_chunks(fn, (plan.task(i, buffers) for i in todo))
    try:
        for index, result in results:
            check()
            if checkpoint is not None:
                checkpoint.save(index, result)
            yield index, result
            if bar is not None:
                bar.advance()
    finally:
        close = getattr(results, "close", None)
        if close is not None:  # stop the executor's work now (error, Ctrl-C, early exit)
            close()


def run(
    scenario: Scenario,
    *,
    draws: int | None = None,
    seed: int | None = None,
    sampler: str | None = None,
    chunk_size: int | None = None,
    replicates: int | None = None,
    executor: Any = None,
    progress: bool | None = None,
    keep: str | None = None,
    out: str | os.PathLike[str] | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    resume: bool = False,
) -> xr.Dataset:
    """Run a scenario and collect an ``xarray.Dataset``.

    Parameters
    ----------
    scenario
        From :func:`threatsim.load_scenario`.
    draws, seed, sampler, chunk_size, replicates
        Override the scenario's ``[run]`` settings.
    executor
        ``None`` (the scenario's ``run.workers``), a number of worker processes,
        a ``distributed.Client``, or an object with ``map_chunks`` (see
        :mod:`threatsim.engine.executors`). Every choice gives the same Dataset.
    progress
        Show a progress bar on stderr (default: when stderr is a terminal).
    keep
        ``"draws"`` (every trajectory) or ``"summary"`` (bands, P(= 0) of
        stocks, per-draw outputs and parameters; memory does not grow with
        the trajectories). Default ``"draws"``; the command line reads the
        scenario's ``outputs.keep`` when ``--keep`` is not given.
    out
        With ``keep="draws"``: stream every trajectory to this NetCDF file as
        chunks finish (nothing is left there if the run stops early) and
        return the summary instead of holding the draws in memory.
    checkpoint, resume
        Folder where finished chunks are stored; with ``resume=True`` the
        chunks already there are reused (the run must be the same one).

    Returns
    -------
    xarray.Dataset
        Outputs on ``draw`` (and ``replicate``), ``time``, model dims; the
        sampled parameters as variables on ``draw``; provenance in ``attrs``.
        For a summary: bands on ``quantile`` instead of ``draw``.

    Examples
    --------
    >>> import threatsim
    >>> sc = threatsim.load_scenario("scenarios/baseline.toml")  # doctest: +SKIP
    >>> ds = threatsim.run(sc, draws=1000, seed=7)               # doctest: +SKIP
    """
    workers = executor if isinstance(executor, int) and not isinstance(executor, bool) else None
    settings = _settings(scenario, draws=draws, seed=seed, sampler=sampler,
                         chunk_size=chunk_size, replicates=replicates, workers=workers)
    keep = keep if keep is not None else "draws"
    if keep not in KEEP:
        raise ScenarioError(f"must be one of {', '.join(KEEP)}", key="keep", value=keep)
    if resume and checkpoint is None:
        raise ScenarioError("needs a checkpoint folder to resume from (--checkpoint DIR)",
                            key="resume", value=resume)
    ex = resolve_executor(executor, settings.workers)
    plan = _Plan(scenario, settings, lean=keep == "summary" or out is not None)
    ckpt = None
    if checkpoint is not None:
        from threatsim.engine.checkpoint import Checkpoint

        ckpt = Checkpoint.open(checkpoint, plan.manifest(), resume=resume)
        if resume:  # checked: say what it holds (a mistyped path would start afresh)
            _say_what_resumes(ckpt)
    show = progress if progress is not None else os.isatty(2)
    label = f"{scenario.name}: {settings.draws:,} draws"
    with InterruptGuard.ensure() as guard:
        if keep == "summary" or out is not None:
            return _run_streaming(plan, ex, ckpt, show, label, guard,
                                  out=out if keep == "draws" else None)
        # Buffers keep the draw axis last in memory: a chunk fills contiguous runs, and
        # each month's values over all draws (what bands reduce over) are contiguous.
        direct = plan.direct_buffers(ex) if ckpt is None else None
        buffers: dict[str, np.ndarray] = dict(direct or {})
        n = plan.n
        with Progress(plan.n_chunks, enabled=show, label=label) as bar:
            for index, result in _chunks(plan, ex, checkpoint=ckpt, bar=bar, guard=guard,
                                         buffers=direct, narrow=ckpt is None):
                lo, hi = plan.bounds(index)
                for name, arr in result.items():
                    if direct is not None and name in direct:
                        continue  # the model wrote it in place
                    if isinstance(arr, ShippedChunk):  # already draws last
                        if name not in buffers:
                            buffers[name] = np.empty((*arr.values.shape[:-1], n),
                                                     dtype=arr.dtype)
                        buffers[name][..., lo:hi] = arr.values
                        continue
                    if name not in buffers:
                        buffers[name] = np.empty((*arr.shape[1:], n), dtype=arr.dtype)
                    place_draws(buffers[name], arr, lo)
        guard.check()
    collected = {name: np.moveaxis(buf, -1, 0) for name, buf in buffers.items()}
    return to_dataset(scenario, collected, plan.params, settings)


def _say_what_resumes(ckpt: Checkpoint) -> None:
    """Log (logger ``threatsim``, INFO; the command line shows it) what a resume found."""
    if ckpt.resumed:
        log.info("resuming from %s: %d of %d chunks already finished", ckpt.folder,
                 len(ckpt.done()), ckpt.n_chunks)
    else:
        log.info("no checkpoint in %s yet: starting afresh (finished chunks are kept there)",
                 ckpt.folder)


def _hold_ahead(plan: _Plan, ex: Any, start: int) -> dict[int, Any]:
    """Start computing the chunks after the pilot while the client works the pilot out.

    For an executor that can leave results where they were computed (``hold``, a
    dask cluster): their reductions run there once the pass's spec is known, so
    the workers are not idle while the client studies the pilot.
    """
    stop = min(plan.n_chunks, start + ex.hold_limit())
    return ex.hold(run_chunk, [plan.task(i) for i in range(start, stop)])  # type: ignore[no-any-return]


def _release(ex: ChunkExecutor, held: dict[int, Any]) -> None:
    if held:
        ex.release(held.values())  # type: ignore[attr-defined]
        held.clear()


def _run_streaming(plan: _Plan, ex: ChunkExecutor, ckpt: Any, show: bool, label: str,
                   guard: InterruptGuard, *,
                   out: str | os.PathLike[str] | None) -> xr.Dataset:
    """Summary from streamed chunks; with *out*, trajectories streamed to NetCDF too."""
    from threatsim.engine.summary import PILOT_ROWS, NetCDFSink, StreamingSummary

    summary = StreamingSummary(plan.scenario, plan.settings)
    if out is None and ckpt is None:
        # Chunks are reduced where they run; only the first ones (shapes, pilots) travel whole.
        with Progress(plan.n_chunks, enabled=show, label=label) as bar:
            pos = 0
            # The pilot needs whole chunks: as many as it takes to fill it, run at
            # once (every worker busy), then fed in index order so that the pilot,
            # and so the passes, do not depend on which chunk finished first.
            per_chunk = plan.cs * plan.settings.replicates
            first = min(plan.n_chunks, max(1, -(-PILOT_ROWS // per_chunk)))
            held: dict[int, Any] = {}
            try:
                while pos < plan.n_chunks and summary.spec() is None:
                    if held:  # the pilot needs more whole chunks after all (rare)
                        _release(ex, held)
                    batch = range(pos, min(plan.n_chunks, pos + first)) if pos == 0 else [pos]
                    tasks = [plan.task(i) for i in batch]
                    # Whole chunks from other processes travel narrowed (see ShippedChunk).
                    fn = run_chunk_shipped if _crosses_processes(ex) else run_chunk
                    if pos == 0 and hasattr(ex, "hold") and len(tasks) <= ex.hold_limit():
                        # The pilot's chunks first, then the next ones, all at once: the
                        # workers go on while the client fetches and studies the pilot.
                        # (At most twice the in-flight limit; a pilot of more chunks than
                        # that, tiny ones, goes through the bounded stream below.)
                        pilot = ex.hold(fn, tasks)
                        held = _hold_ahead(plan, ex, batch[-1] + 1)
                        try:
                            got = dict(map(unshipped, ex.fetch(pilot.values())))  # type: ignore[attr-defined]
                        finally:
                            _release(ex, pilot)
                    else:
                        got = dict(map(unshipped, ex.map_chunks(fn, tasks)))
                    for index in batch:
                        guard.check()
                        summary.feed(index, got.pop(index))
                        bar.advance()
                    pos = batch[-1] + 1
                if pos < plan.n_chunks:
                    _reduced_pass(plan, ex, summary, list(range(pos, plan.n_chunks)), guard,
                                  bar, held)
            finally:
                _release(ex, held)
        summary.end_pass()
        while summary.needs_pass:
            with Progress(plan.n_chunks, enabled=show,
                          label=f"{label} (pass {summary.pass_no})") as bar:
                _reduced_pass(plan, ex, summary, list(range(plan.n_chunks)), guard, bar)
            summary.end_pass()
        guard.check()
        return summary.dataset(plan.params)
    sink = NetCDFSink(Path(out), plan.scenario, plan.settings, plan.params) if out else None
    try:
        with Progress(plan.n_chunks, enabled=show, label=label) as bar:
            for index, result in _chunks(plan, ex, checkpoint=ckpt, bar=bar, guard=guard):
                if sink is not None:
                    sink.write(index, result)
                summary.feed(index, result)
        summary.end_pass()
        while summary.needs_pass:
            with Progress(plan.n_chunks, enabled=show,
                          label=f"{label} (pass {summary.pass_no})") as bar:
                reader = sink.read if sink is not None else None
                for index, result in _chunks(plan, ex, checkpoint=ckpt, reader=reader,
                                             bar=bar, guard=guard):
                    summary.feed(index, result)
            summary.end_pass()
        guard.check()
        ds = summary.dataset(plan.params)
        if sink is not None:
            ds.attrs["draws_file"] = str(sink.commit())
        return ds
    except BaseException:
        if sink is not None:
            sink.abort()
        raise

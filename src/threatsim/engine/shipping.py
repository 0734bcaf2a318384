"""Chunks on their way: to an executor and back, narrowed when they cross processes.

A chunk's result that comes from another process (a pool, a dask worker)
travels draw-last and with its integers narrowed (:class:`ShippedChunk`); a
summary pass's reduction of a chunk travels as a :class:`~threatsim.core.wire.Bundle`.
:func:`each_chunk` yields every chunk of a plan once: read back from a
checkpoint, or computed on the executor (and checkpointed).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from threatsim.core.interrupts import InterruptGuard
from threatsim.core.wire import Bundle, smallest_int
from threatsim.engine.checkpoint import Checkpoint
from threatsim.engine.executors import ChunkExecutor, shares_memory
from threatsim.engine.plan import ChunkTask, Plan, run_chunk
from threatsim.engine.progress import Progress
from threatsim.engine.summary import SummaryPartial, SummaryPass, reduce_for_pass

__all__ = [
    "ReducedBatch",
    "ReducedChunkTask",
    "ShippedChunk",
    "chunks_per_task",
    "crosses_processes",
    "each_chunk",
    "in_batches",
    "run_chunk_reduced",
    "run_chunk_reduced_shipped",
    "run_chunk_shipped",
    "run_chunks_reduced_shipped",
    "sends_in_batches",
    "unshipped",
]


def crosses_processes(executor: ChunkExecutor) -> bool:
    """Whether chunk results may travel from another process (an executor that does not
    declare ``shares_memory``): then they are shipped narrowed and bundled (see
    :func:`run_chunk_shipped`, :func:`run_chunk_reduced_shipped`).

    >>> from threatsim.engine.executors import InProcessExecutor
    >>> class Counting(InProcessExecutor):
    ...     pass
    >>> crosses_processes(InProcessExecutor()), crosses_processes(Counting())
    (False, False)
    """
    return not shares_memory(executor)


@dataclass(frozen=True, slots=True)
class ShippedChunk:
    """A chunk output as it travels from a worker process to the client.

    ``values`` is the output with its draw axis last, contiguous: the layout of
    the client's buffers, which it is copied into as is (a model records
    months with the draws last, so nobody transposes it). Integers travel in the
    smallest integer type that holds them (counts of people, tens of thousands
    at most: 2 bytes unsigned instead of 8); exact, since the client writes
    them into a buffer of the output's own ``dtype``.

    >>> index, out = unshipped((0, {"n": _draw_last(np.array([[1, 2], [3, 4]]))}))
    >>> out["n"], out["n"].dtype
    (array([[1, 2],
           [3, 4]]), dtype('int64'))
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
    """:func:`~threatsim.engine.plan.run_chunk` for a chunk whose result travels between
    processes (draws last; see :class:`ShippedChunk`).

    >>> import threatsim
    >>> from threatsim.engine.options import RunOptions
    >>> sc = threatsim.load_scenario("scenarios/financing.toml")
    >>> task = Plan.for_run(sc, RunOptions.build(sc, draws=4)).task(0)
    >>> index, shipped = run_chunk_shipped(task)
    >>> shipped["reserves"].values.shape  # draws last
    (37, 4)
    """
    index, out = run_chunk(task)
    return index, {name: _draw_last(arr) for name, arr in out.items()}


def unshipped(result: tuple[int, dict[str, Any]]) -> tuple[int, dict[str, np.ndarray]]:
    """A :func:`run_chunk_shipped` result as ``run_chunk`` gives it: draws first (a
    view of draws-last memory, as models record them), in each output's own dtype
    (see :class:`ShippedChunk` for an example).

    >>> import threatsim
    >>> from threatsim.engine.options import RunOptions
    >>> sc = threatsim.load_scenario("scenarios/financing.toml")
    >>> task = Plan.for_run(sc, RunOptions.build(sc, draws=4)).task(0)
    >>> index, out = unshipped(run_chunk_shipped(task))
    >>> _, direct = run_chunk(task)
    >>> out["reserves"].shape, all(np.array_equal(out[k], direct[k], equal_nan=True) for k in out)
    ((4, 37), True)
    """
    index, out = result
    return index, {name: np.moveaxis(v.values.astype(v.dtype, copy=False), -1, 0)
                   if isinstance(v, ShippedChunk) else v for name, v in out.items()}


@dataclass(frozen=True, slots=True)
class ReducedChunkTask:
    """A chunk to run and reduce where it runs (summary passes): only the reduction travels.

    >>> import threatsim
    >>> from threatsim.engine.options import RunOptions
    >>> from threatsim.engine.summary import SummaryPass
    >>> sc = threatsim.load_scenario("scenarios/financing.toml")
    >>> task = Plan.for_run(sc, RunOptions.build(sc, draws=3)).task(0)
    >>> spec = SummaryPass(first=True, lead=1, banded={}, per_draw=["depletion_month"], quant={})
    >>> index, partial = run_chunk_reduced(ReducedChunkTask(task, spec))
    >>> partial.per_draw["depletion_month"].shape
    (3,)
    """

    task: ChunkTask
    spec: SummaryPass
    #: The executor's handle to this chunk's result, already computed and held where it
    #: ran (see ``DaskExecutor.hold``); the executor passes the result itself to
    #: :func:`run_chunk_reduced`, which then only reduces it.
    held: Any = None

    @property
    def index(self) -> int:
        return self.task.index


def run_chunk_reduced(rt: ReducedChunkTask,
                      computed: tuple[int, dict[str, np.ndarray]] | None = None,
                      ) -> tuple[int, SummaryPartial]:
    """Run one chunk (unless *computed* is its ``run_chunk`` result) and reduce it for
    a summary pass (top-level, so it pickles; see :class:`ReducedChunkTask`).

    >>> import threatsim
    >>> from threatsim.engine.options import RunOptions
    >>> sc = threatsim.load_scenario("scenarios/financing.toml")
    >>> task = Plan.for_run(sc, RunOptions.build(sc, draws=3)).task(0)
    >>> spec = SummaryPass(first=True, lead=1, banded={}, per_draw=["depletion_month"], quant={})
    >>> computed = run_chunk(task)
    >>> index, partial = run_chunk_reduced(ReducedChunkTask(task, spec), computed)  # no rerun
    >>> index, partial.per_draw["depletion_month"].shape
    (0, (3,))
    """
    index, result = computed if computed is not None else run_chunk(rt.task)
    return index, reduce_for_pass(result, rt.spec)


def run_chunk_reduced_shipped(rt: ReducedChunkTask,
                              computed: tuple[int, dict[str, np.ndarray]] | None = None,
                              ) -> tuple[int, Bundle]:
    """:func:`run_chunk_reduced` for a partial that travels between processes: its many
    small arrays (W2: ~2,200 windows' values) packed into a few (see :class:`Bundle`).

    >>> import threatsim
    >>> from threatsim.core.wire import unbundled
    >>> from threatsim.engine.options import RunOptions
    >>> sc = threatsim.load_scenario("scenarios/financing.toml")
    >>> task = Plan.for_run(sc, RunOptions.build(sc, draws=3)).task(0)
    >>> spec = SummaryPass(first=True, lead=1, banded={}, per_draw=["depletion_month"], quant={})
    >>> index, bundle = run_chunk_reduced_shipped(ReducedChunkTask(task, spec))
    >>> type(bundle).__name__, unbundled(bundle).per_draw["depletion_month"].shape
    ('Bundle', (3,))
    """
    index, partial = run_chunk_reduced(rt, computed)
    return index, Bundle(partial)


#: At most this many chunks in one cluster task (see :func:`chunks_per_task`).
MAX_CHUNKS_PER_TASK = 8
#: At most this many draws in one cluster task: what the cluster holds in flight (tasks
#: times their draws' parameters and results) stays that of chunks of this size.
MAX_DRAWS_PER_TASK = 131_072


def chunks_per_task(chunks: int, in_flight: int, chunk_draws: int) -> int:
    """How many of the *chunks* a summary pass has still to send the next cluster task
    runs and reduces, where the cluster keeps *in_flight* tasks queued or running
    (``DaskExecutor.hold_limit``: four per worker thread).

    Each task costs the client process, which also runs a LocalCluster's scheduler,
    about 10 ms of CPU (submitting, scheduling, sending, gathering); a W1 chunk of
    16,384 draws is about as much work on its worker, so the client, not the workers,
    set the pace (W1 at 10^8 draw-months: 102 tasks). A task takes the share of what
    is left that half the in-flight tasks would each get (two per worker thread), at
    most :data:`MAX_CHUNKS_PER_TASK` chunks and :data:`MAX_DRAWS_PER_TASK` draws (of
    *chunk_draws* each), by guided self-scheduling: large tasks first, smaller ones
    towards the end, so that no worker waits long for another's last task, however long
    the chunks take.

    >>> [chunks_per_task(left, 8, 16_384) for left in (94, 40, 15, 7, 3)]
    [8, 8, 3, 1, 1]
    >>> chunks_per_task(94, 8, 65_536)  # chunks of 65,536 draws: two to a task
    2
    """
    by_draws = max(1, MAX_DRAWS_PER_TASK // max(1, chunk_draws))
    return max(1, min(MAX_CHUNKS_PER_TASK, by_draws, chunks // max(1, in_flight // 2)))


def sends_in_batches(chunks: int, in_flight: int) -> bool:
    """Whether a stretch of *chunks* goes to the cluster in tasks of several
    (:func:`chunks_per_task`): only one of at least four in-flight windows of them. With
    fewer, the tasks are few anyway, and long chunks (W2 at 10^7 draw-months: 13 after
    its pilot and held ones, about 0.5 s each) gain nothing from sharing a task.

    >>> sends_in_batches(94, 8), sends_in_batches(13, 8)
    (True, False)
    """
    return in_flight > 0 and chunks >= 4 * in_flight


@dataclass(frozen=True, slots=True)
class ReducedBatch:
    """Several :class:`ReducedChunkTask`, consecutive, for one cluster task (the
    executor pickles it once, on the client: ``cluster.Sealed``). *index* (the first
    chunk's) orders the batch among the others.
    """

    index: int
    tasks: tuple[ReducedChunkTask, ...]

    @classmethod
    def of(cls, tasks: list[ReducedChunkTask]) -> ReducedBatch:
        return cls(tasks[0].index, tuple(tasks))


def in_batches(tasks: Sequence[ReducedChunkTask], in_flight: int,
               ) -> Iterator[ReducedChunkTask | ReducedBatch]:
    """*tasks* as :class:`ReducedBatch` of the next ones in order, each of
    :func:`chunks_per_task` of those left, as the caller asks for them; a task whose
    chunk is held on the cluster goes alone, at once (dask must see its handle to run
    it where the chunk is).

    >>> import threatsim
    >>> from threatsim.engine.options import RunOptions
    >>> from threatsim.engine.summary import SummaryPass
    >>> sc = threatsim.load_scenario("scenarios/financing.toml")
    >>> plan = Plan.for_run(sc, RunOptions.build(sc, draws=12, chunk_size=1))
    >>> spec = SummaryPass(first=True, lead=1, banded={}, per_draw=[], quant={})
    >>> tasks = [ReducedChunkTask(plan.task(i), spec, held="h" if i == 2 else None)
    ...          for i in range(12)]
    >>> [[t.index for t in w.tasks] if isinstance(w, ReducedBatch)
    ...  else ("held", w.index) for w in in_batches(tasks, 4)]
    [('held', 2), [0, 1, 3, 4, 5], [6, 7, 8], [9], [10], [11]]
    >>> [index for index, _ in run_chunks_reduced_shipped(ReducedBatch.of(tasks[3:5]))]
    [3, 4]
    """
    left = sum(1 for task in tasks if task.held is None)
    draws = tasks[0].task.draw_index().size if tasks else 1  # every chunk's, but the last
    size = chunks_per_task(left, in_flight, draws)
    pending: list[ReducedChunkTask] = []
    for task in tasks:
        if task.held is not None:
            yield task
            continue
        pending.append(task)
        if len(pending) == size:
            yield ReducedBatch.of(pending)
            left -= size
            size, pending = chunks_per_task(left, in_flight, draws), []
    if pending:
        yield ReducedBatch.of(pending)


def run_chunks_reduced_shipped(work: ReducedChunkTask | ReducedBatch,
                               computed: tuple[int, dict[str, np.ndarray]] | None = None,
                               ) -> list[tuple[int, Bundle]]:
    """:func:`run_chunk_reduced_shipped` of each chunk of *work* (one task or a batch), in
    order: ``[(index, bundle), ...]``. *computed*: a held chunk's result (one task)."""
    if isinstance(work, ReducedBatch):
        return [run_chunk_reduced_shipped(task) for task in work.tasks]
    return [run_chunk_reduced_shipped(work, computed)]


def each_chunk(plan: Plan, *, checkpoint: Checkpoint | None = None,
               reader: Callable[[int], dict[str, np.ndarray]] | None = None,
               bar: Progress | None = None, guard: InterruptGuard | None = None,
               buffers: dict[str, np.ndarray] | None = None, narrow: bool = False,
               ) -> Iterator[tuple[int, dict[str, Any]]]:
    """Every chunk's result once, in any order: read back (*reader*, from *checkpoint*),
    or computed on the plan's executor (and checkpointed); *bar* advances by each
    chunk's draws.

    >>> import threatsim
    >>> from threatsim.engine.options import RunOptions
    >>> sc = threatsim.load_scenario("scenarios/financing.toml")
    >>> plan = Plan.for_run(sc, RunOptions.build(sc, draws=10, chunk_size=4))
    >>> sorted(index for index, _ in each_chunk(plan))
    [0, 1, 2]
    """
    executor = plan.options.executor
    check = guard.check if guard is not None else (lambda: None)
    todo = list(range(plan.n_chunks))
    if reader is not None:  # a further pass over a file written in the first
        for i in todo:
            check()
            yield i, reader(i)
            if bar is not None:
                bar.advance(plan.draws_in(i))
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
                bar.advance(plan.draws_in(i))
        todo = missing
    # Results that cross a process boundary may come as ShippedChunk (only when the
    # caller asks for it with *narrow* and is ready to widen them).
    fn = run_chunk_shipped if narrow and crosses_processes(executor) else run_chunk
    results = executor.map_chunks(fn, (plan.task(i, buffers) for i in todo))
    try:
        for index, result in results:
            check()
            if checkpoint is not None:
                checkpoint.save(index, result)
            yield index, result
            if bar is not None:
                bar.advance(plan.draws_in(index))
    finally:
        close = getattr(results, "close", None)
        if close is not None:  # stop the executor's work now (error, Ctrl-C, early exit)
            close()


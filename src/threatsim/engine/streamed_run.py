"""A run that streams its chunks: the summary (``keep="summary"``), and files of draws.

The run's :class:`~threatsim.engine.summary.StreamingSummary` drives its own
passes (:meth:`~threatsim.engine.summary.StreamingSummary.collect`) over one
of two chunk sources:

* :class:`ExecutorChunks`: chunks computed on the run's executor and reduced
  where they ran; only the first ones (shapes, pilots) travel whole. On a
  cluster that can hold results where they were computed, the chunks after
  the pilot start while the client studies the pilot, and pass 1 then runs to
  its end in one stream of tasks (:class:`StagedTasks`), without stopping at
  each narrowing of its windows.
* :class:`StoredChunks`: with a checkpoint or a file of draws (``out=``), every
  pass reads whole chunks: computed once (and written to the file or the
  checkpoint), read back after.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from threatsim.core.interrupts import InterruptGuard
from threatsim.core.wire import unbundled
from threatsim.engine.checkpoint import Checkpoint
from threatsim.engine.executors import ChunkExecutor, HoldingExecutor, holds_results
from threatsim.engine.plan import Plan, run_chunk
from threatsim.engine.progress import Progress
from threatsim.engine.shipping import (
    ReducedBatch,
    ReducedChunkTask,
    chunks_per_task,
    crosses_processes,
    each_chunk,
    in_batches,
    run_chunk_reduced,
    run_chunk_reduced_shipped,
    run_chunk_shipped,
    run_chunks_reduced_shipped,
    sends_in_batches,
    unshipped,
)
from threatsim.engine.sink import NetCDFSink
from threatsim.engine.summary import StreamingSummary, SummaryPartial, SummaryPass

__all__ = ["ExecutorChunks", "StoredChunks", "run_streaming"]


def _closing(results: object) -> None:
    close = getattr(results, "close", None)
    if close is not None:  # stop the executor's work now (error, Ctrl-C, early exit)
        close()


class ExecutorChunks:
    """A summary's chunks computed on the plan's executor, reduced where they run.

    >>> import threatsim
    >>> from threatsim.engine.options import RunOptions
    >>> sc = threatsim.load_scenario("scenarios/financing.toml")
    >>> opts = RunOptions.build(sc, draws=300, chunk_size=100, keep="summary")
    >>> plan = Plan.for_run(sc, opts, lean=True)
    >>> with InterruptGuard.ensure() as guard:
    ...     summary = StreamingSummary(sc, opts.settings).collect(
    ...         ExecutorChunks(plan, guard, bar=Progress(300, progress=False)))
    >>> summary.dataset(plan.params)["reserves"].dims
    ('quantile', 'time')
    """

    reduces = True

    def __init__(self, plan: Plan, guard: InterruptGuard, *, bar: Progress) -> None:
        self.plan, self.guard, self._bar = plan, guard, bar
        self.ex: ChunkExecutor = plan.options.executor
        #: The executor again where it can hold results on the cluster, else None.
        self._holder: HoldingExecutor | None = self.ex if holds_results(self.ex) else None
        #: Whether pass 1 goes on across its narrowings (:meth:`reduced_staged`): on a
        #: cluster, where each barrier leaves every worker idle while the client narrows.
        self.stages = self._holder is not None
        #: How many chunks are on their way at a time there (reduced with the windows
        #: before a narrowing that comes while they are).
        self.lag = self._holder.hold_limit() if self._holder is not None else 0
        self.n_chunks = plan.n_chunks
        self._held: dict[int, Any] = {}  # chunk index -> its result held on the cluster
        self._first = True

    @contextlib.contextmanager
    def passing(self, number: int) -> Iterator[None]:
        _another_pass(self._bar, number, self.plan.n)
        try:
            yield
        finally:
            self._release()

    def _advance(self, index: int) -> None:
        self._bar.advance(self.plan.draws_in(index))

    def _release(self) -> None:
        if self._held and self._holder is not None:  # only a holder holds results
            self._holder.release(self._held.values())
            self._held.clear()

    def whole(self, indices: Sequence[int]) -> Iterator[tuple[int, Mapping[str, np.ndarray]]]:
        """Chunks *indices* whole, in index order (the pilot: whatever finished first)."""
        plan, ex, holder = self.plan, self.ex, self._holder
        self._release()  # the pilot needs more whole chunks after all (rare)
        tasks = [plan.task(i) for i in indices]
        # Whole chunks from other processes travel narrowed (see ShippedChunk).
        fn = run_chunk_shipped if crosses_processes(ex) else run_chunk
        first, self._first = self._first, False
        if first and holder is not None and len(tasks) <= holder.hold_limit():
            # The pilot's chunks first, then the next ones, all at once: the workers go
            # on while the client fetches and studies the pilot. (At most twice the
            # in-flight limit; a pilot of more chunks than that, tiny ones, goes
            # through the bounded stream below.)
            pilot = holder.hold(fn, tasks)
            self._held = self._hold_ahead(holder, indices[-1] + 1)
            try:
                got = dict(map(unshipped, holder.fetch(pilot.values())))
            finally:
                holder.release(pilot.values())
        else:
            got = dict(map(unshipped, ex.map_chunks(fn, tasks)))
        for index in indices:
            self.guard.check()
            yield index, got.pop(index)
            self._advance(index)

    def _hold_ahead(self, holder: HoldingExecutor, start: int) -> dict[int, Any]:
        """Start computing the chunks after the pilot while the client works the pilot
        out: their reductions run where they are held once the pass's spec is known,
        so the workers are not idle while the client studies the pilot."""
        stop = min(self.n_chunks, start + holder.hold_limit())
        return holder.hold(run_chunk, [self.plan.task(i) for i in range(start, stop)])

    def reduced(self, indices: Sequence[int], spec: SummaryPass,
                ) -> Iterator[tuple[int, SummaryPartial]]:
        """Chunks *indices* reduced on the executor (the held ones where they are held)."""
        plan, ex, held, holder = self.plan, self.ex, self._held, self._holder
        tasks = [ReducedChunkTask(plan.task(i), spec, held.get(i)) for i in indices]
        results: Iterator[Any]
        in_flight = holder.hold_limit() if holder is not None else 0
        if sends_in_batches(len(tasks) - len(held), in_flight):
            # a cluster's tasks of several chunks, fewer towards the end: chunks_per_task
            source = ex.map_chunks(run_chunks_reduced_shipped, in_batches(tasks, in_flight))
            results = (pair for batch in source for pair in batch)
        else:
            fn = run_chunk_reduced_shipped if crosses_processes(ex) else run_chunk_reduced
            source = results = ex.map_chunks(fn, iter(tasks))
        yield from self._partials(results, source)

    def _partials(self, results: Iterator[Any], source: Iterator[Any],
                  ) -> Iterator[tuple[int, SummaryPartial]]:
        """*results* ``(index, partial)`` of the executor's stream *source*, unwrapped; a
        held chunk released once reduced; the progress advanced."""
        held, holder = self._held, self._holder
        try:
            for index, partial in results:
                self.guard.check()
                # unwrapped on unpickling; a Bundle only from an executor that did not pickle
                yield index, unbundled(partial)
                if index in held and holder is not None:  # reduced: its whole result
                    holder.release([held.pop(index)])  # need not stay on the cluster
                self._advance(index)
        finally:
            _closing(results)
            _closing(source)  # the executor's own stream: its unfinished tasks cancelled

    def reduced_staged(self, start: int, version: Callable[[int], int],
                       specs: Sequence[SummaryPass]) -> Iterator[tuple[int, SummaryPartial]]:
        """Chunks *start*.. to the last reduced on the cluster in one stream: chunk *i* by
        ``specs[version(i)]``, each task sent once its spec is in *specs* (the caller
        appends them as it narrows: :class:`StagedTasks`)."""
        assert self._holder is not None
        staged = StagedTasks(self.plan, range(start, self.n_chunks), version, specs,
                             self._held, self.lag)
        source = self.ex.map_chunks(run_chunks_reduced_shipped, staged)
        yield from self._partials((pair for batch in source for pair in batch), source)


class StagedTasks:
    """The tasks of :meth:`ExecutorChunks.reduced_staged`, in order: a held chunk alone,
    the others in batches (:func:`chunks_per_task` of those left, none across a change
    of spec); :meth:`ready` says whether the next one's spec is known yet (the
    executor asks again after each result it hands back).
    """

    def __init__(self, plan: Plan, indices: range, version: Callable[[int], int],
                 specs: Sequence[SummaryPass], held: Mapping[int, Any], in_flight: int) -> None:
        self.plan, self.specs, self.held = plan, specs, held
        free = [i for i in indices if i not in held]
        self._batching = batching = sends_in_batches(len(free), in_flight)
        draws = plan.draws_in(indices[0]) if len(indices) else 1
        left = len(free)
        size = chunks_per_task(left, in_flight, draws) if batching else 1
        self._items: list[tuple[int, list[int]]] = []  # (spec version, chunk indices)
        pending: list[int] = []

        def close() -> None:
            nonlocal left, size, pending
            if pending:
                self._items.append((version(pending[0]), pending))
                left -= len(pending)
                size = chunks_per_task(left, in_flight, draws) if batching else 1
                pending = []

        for i in indices:
            if i in held:
                self._items.append((version(i), [i]))
                continue
            if pending and version(pending[0]) != version(i):
                close()
            pending.append(i)
            if len(pending) >= size:
                close()
        close()
        self._next = 0

    def __iter__(self) -> StagedTasks:
        return self

    def ready(self) -> bool:
        return self._next >= len(self._items) or self._items[self._next][0] < len(self.specs)

    def __next__(self) -> ReducedChunkTask | ReducedBatch:
        if self._next >= len(self._items):
            raise StopIteration
        v, indices = self._items[self._next]
        self._next += 1
        spec = self.specs[v]
        tasks = [ReducedChunkTask(self.plan.task(i), spec, self.held.get(i)) for i in indices]
        if tasks[0].held is not None or not self._batching:
            return tasks[0]
        return ReducedBatch.of(tasks)  # as in_batches: one chunk too, at the end


class StoredChunks:
    """A summary's chunks whole in every pass: computed once (written to *sink* or to
    the checkpoint as they come), then read back from the sink, else the checkpoint.

    >>> import threatsim, tempfile, pathlib
    >>> from threatsim.engine.options import RunOptions
    >>> sc = threatsim.load_scenario("scenarios/financing.toml")
    >>> opts = RunOptions.build(sc, draws=300, chunk_size=100)
    >>> plan = Plan.for_run(sc, opts, lean=True)
    >>> with tempfile.TemporaryDirectory() as tmp, InterruptGuard.ensure() as guard:
    ...     sink = NetCDFSink(pathlib.Path(tmp) / "d.nc", sc, opts.settings, plan.params)
    ...     source = StoredChunks(plan, guard, bar=Progress(300, progress=False), sink=sink)
    ...     summary = StreamingSummary(sc, opts.settings).collect(source)
    ...     print(sink.commit().name)
    d.nc
    """

    reduces = False

    def __init__(self, plan: Plan, guard: InterruptGuard, *, bar: Progress,
                 checkpoint: Checkpoint | None = None, sink: NetCDFSink | None = None) -> None:
        self.plan, self.guard, self._bar = plan, guard, bar
        self.checkpoint, self.sink = checkpoint, sink
        self.n_chunks = plan.n_chunks
        self._written = False

    @contextlib.contextmanager
    def passing(self, number: int) -> Iterator[None]:
        _another_pass(self._bar, number, self.plan.n)
        yield

    def whole(self, indices: Sequence[int]) -> Iterator[tuple[int, Mapping[str, np.ndarray]]]:
        """Every chunk, in any order (a summary reading stored chunks asks for all)."""
        assert list(indices) == list(range(self.n_chunks))
        sink = self.sink
        if self._written:  # a further pass: read back what the first one wrote
            reader = sink.read if sink is not None else None
            yield from each_chunk(self.plan, checkpoint=self.checkpoint, reader=reader,
                                  bar=self._bar, guard=self.guard)
            return
        for index, result in each_chunk(self.plan, checkpoint=self.checkpoint, bar=self._bar,
                                        guard=self.guard):
            if sink is not None:
                sink.write(index, result)
            yield index, result
        self._written = True

    def reduced(self, indices: Sequence[int], spec: SummaryPass,
                ) -> Iterator[tuple[int, SummaryPartial]]:
        raise NotImplementedError("stored chunks are read whole")


def _another_pass(bar: Progress, number: int, draws: int) -> None:
    """Pass *number* over a run's draws counts them again: one count for the whole run,
    never falling, whose total grows by the draws with each pass after the first."""
    if number > 1:
        bar.set_total(bar.total + draws, label=f"{bar.label.split(' (pass')[0]} "
                                               f"(pass {number})")


def run_streaming(plan: Plan, checkpoint: Checkpoint | None, guard: InterruptGuard, *,
                  label: str, out: str | os.PathLike[str] | None) -> xr.Dataset:
    """The summary of a run from streamed chunks; with *out*, its trajectories streamed
    to that NetCDF file too (named in the summary's ``draws_file`` attribute).

    >>> import threatsim
    >>> from threatsim.engine.options import RunOptions
    >>> sc = threatsim.load_scenario("scenarios/financing.toml")
    >>> opts = RunOptions.build(sc, draws=200, chunk_size=100, keep="summary")
    >>> with InterruptGuard.ensure() as guard:
    ...     ds = run_streaming(Plan.for_run(sc, opts, lean=True), None, guard, label="",
    ...                        out=None)
    >>> ds.attrs["keep"]
    'summary'
    """
    post = plan.options.posterior
    summary = StreamingSummary(plan.scenario, plan.options.settings, posterior=post)
    if out is None and checkpoint is None:
        with Progress(plan.n, progress=plan.options.progress, label=label) as bar:
            summary.collect(ExecutorChunks(plan, guard, bar=bar))
        guard.check()
        plan.complete_parameters()  # (any made late: now that the bins are gone)
        return summary.dataset(plan.params)
    sink = (NetCDFSink(Path(out), plan.scenario, plan.options.settings, plan.params,
                       posterior=post) if out else None)
    try:
        with Progress(plan.n, progress=plan.options.progress, label=label) as bar:
            summary.collect(StoredChunks(plan, guard, bar=bar, checkpoint=checkpoint,
                                         sink=sink))
        guard.check()
        plan.complete_parameters()
        ds = summary.dataset(plan.params)
        if sink is not None:
            ds.attrs["draws_file"] = str(sink.commit())
        return ds
    except BaseException:
        if sink is not None:
            sink.abort()
        raise

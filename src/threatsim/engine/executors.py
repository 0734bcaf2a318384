"""Executors: who runs the chunks of a run, and where.

An executor is any object with ``map_chunks(fn, tasks)`` that calls ``fn`` on
every task and yields the results in any order, and says whether it runs them
in this process's memory (``shares_memory``). The engine places each result by
its chunk index, so every executor gives the same Dataset, bit for bit.

* :class:`InProcessExecutor` -- one chunk after another in this process (the
  default; needs nothing).
* :class:`ThreadPoolChunkExecutor` -- threads of this process, for models whose chunk
  work releases the GIL (``ModelInfo.parallel_for`` the chunk size; ``--workers N``
  picks it for them).
* :class:`ProcessPoolChunkExecutor` -- a local process pool (the others).
* :class:`~threatsim.engine.cluster.DaskExecutor` -- a ``dask.distributed``
  cluster (:mod:`threatsim.engine.cluster`).
* :class:`~threatsim.engine.reuse.ReuseChunks` -- another executor, remembering
  finished chunks.

Every executor keeps a bounded number of chunks in flight (two to four per
worker by default): a 10,000-chunk run never builds a 10,000-task graph,
and the memory held by results waiting to be collected stays bounded.
Stopping the iteration early (an error, Ctrl-C) cancels what is still queued.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias, TypeGuard, cast

from threatsim.core.errors import ScenarioError
from threatsim.core.interrupts import check_interrupt, interrupts_held_back
from threatsim.engine.cluster import (
    DEFAULT_CONNECT_TIMEOUT,
    DaskExecutor,
    connect,
    is_dask_client,
    local_cluster,
)

if TYPE_CHECKING:  # an optional dependency: only its type, for ExecutorArg
    from distributed import Client

__all__ = [
    "ChunkExecutor",
    "ExecutorArg",
    "HoldingExecutor",
    "InProcessExecutor",
    "ProcessPoolChunkExecutor",
    "ThreadPoolChunkExecutor",
    "available_cpus",
    "capped_workers",
    "executor_from_options",
    "holds_results",
    "local_cores",
    "make_executor",
    "resolve_executor",
    "shares_memory",
]

#: Notes (worker processes capped at the CPUs), WARNING; ``threatsim run`` shows them.
log = logging.getLogger("threatsim")


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity where the system says, else all).

    >>> available_cpus() >= 1
    True
    """
    affinity = getattr(os, "sched_getaffinity", None)
    if affinity is not None:
        try:
            return max(1, len(affinity(0)))
        except OSError:  # pragma: no cover - a platform that has it but refuses
            pass
    return os.cpu_count() or 1


def capped_workers(workers: int, *, force: bool = False) -> int:
    """*workers* local processes, or the CPUs this process may use if fewer, saying so
    (logger ``threatsim``, WARNING), unless *force*: more processes than CPUs only
    take turns, each with its own memory.

    >>> capped_workers(1)
    1
    >>> capped_workers(1000, force=True)
    1000
    >>> capped_workers(1000) == available_cpus()
    True
    """
    cpus = available_cpus()
    if workers <= cpus or force:
        return workers
    log.warning("%d workers asked for, but this process may use %d CPU%s: running "
                "%d (force_workers=True, or --force-workers, runs %d)", workers, cpus,
                "" if cpus == 1 else "s", cpus, workers)
    return cpus


class ChunkExecutor(Protocol):
    """Runs chunk tasks and yields ``fn(task)`` for each, in any order.

    ``shares_memory``: whether ``fn`` runs in this process, on the caller's
    arrays (then chunks may write into the run's buffers, and their results
    need not be narrowed for a journey). An executor that does not declare it
    counts as running elsewhere.

    >>> executor: ChunkExecutor = InProcessExecutor()  # any object with these two members
    >>> executor.shares_memory, list(executor.map_chunks(abs, [-1, 2]))
    (True, [1, 2])
    """

    shares_memory: bool

    def map_chunks(self, fn: Callable[[Any], Any], tasks: Iterable[Any]) -> Iterator[Any]: ...


class HoldingExecutor(ChunkExecutor, Protocol):
    """An executor that can also leave results where they were computed (a cluster's).

    :meth:`hold` starts tasks and returns ``{chunk index: handle}``; a handle goes
    back in as a task's ``held``, :meth:`fetch` brings results to this process,
    :meth:`release` forgets them. Its ``map_chunks`` also takes a staged source
    (``threatsim.engine.streamed_run.StagedTasks``): it sends the next task only
    while the source's ``ready()`` is true, and asks again after each result it hands
    back. See :class:`~threatsim.engine.cluster.DaskExecutor`.

    >>> from threatsim.engine.cluster import DaskExecutor
    >>> executor: HoldingExecutor = DaskExecutor(client=None, max_in_flight=8)
    >>> holds_results(executor), executor.hold_limit()
    (True, 8)
    """

    def hold_limit(self) -> int: ...

    def hold(self, fn: Callable[[Any], Any], tasks: Iterable[Any]) -> dict[int, Any]: ...

    def fetch(self, held: Iterable[Any]) -> list[Any]: ...

    def release(self, held: Iterable[Any]) -> None: ...


#: What ``executor=`` takes (see :func:`resolve_executor`): None (the scenario's
#: ``run.workers``), a number of worker processes, a ``distributed.Client``, or a
#: :class:`ChunkExecutor`.
ExecutorArg: TypeAlias = "ChunkExecutor | int | Client | None"


def holds_results(executor: ChunkExecutor) -> TypeGuard[HoldingExecutor]:
    """Whether *executor* can hold results where they were computed (has ``hold``).

    >>> holds_results(InProcessExecutor())
    False
    """
    return hasattr(executor, "hold")


def shares_memory(executor: object) -> bool:
    """Whether *executor* declares that it runs chunks in this process's memory.

    >>> shares_memory(InProcessExecutor()), shares_memory(ProcessPoolChunkExecutor(2))
    (True, False)
    >>> class Elsewhere:
    ...     def map_chunks(self, fn, tasks): ...
    >>> shares_memory(Elsewhere())  # undeclared: counts as another process
    False
    """
    return getattr(executor, "shares_memory", False) is True


def local_cores(executor: object) -> int:
    """How many of this machine's cores *executor* was given (its threads or processes):
    what the run may use here for its own work before and after the chunks. 1 for one
    process, and for a cluster (its workers may be elsewhere).

    >>> local_cores(InProcessExecutor()), local_cores(ThreadPoolChunkExecutor(2))
    (1, 2)
    >>> local_cores(ProcessPoolChunkExecutor(3))
    3
    """
    if isinstance(executor, ThreadPoolChunkExecutor | ProcessPoolChunkExecutor):
        return max(1, int(executor.workers))
    return 1


class InProcessExecutor:
    """Runs chunks one after another in this process (the default).

    >>> list(InProcessExecutor().map_chunks(abs, [-1, 2]))
    [1, 2]
    """

    shares_memory = True

    def map_chunks(self, fn: Callable[[Any], Any], tasks: Iterable[Any]) -> Iterator[Any]:
        for task in tasks:
            yield fn(task)


class ProcessPoolChunkExecutor:
    """Runs chunks on a local process pool, with bounded work in flight.

    >>> sorted(ProcessPoolChunkExecutor(2).map_chunks(abs, [-1, 2, -3]))  # doctest: +SKIP
    [1, 2, 3]
    """

    shares_memory = False

    def __init__(self, workers: int, *, max_in_flight: int | None = None) -> None:
        self.workers = workers
        self.max_in_flight = max_in_flight or 2 * workers

    def map_chunks(self, fn: Callable[[Any], Any], tasks: Iterable[Any]) -> Iterator[Any]:
        yield from _map_bounded(lambda: cf.ProcessPoolExecutor(max_workers=self.workers),
                                fn, tasks, self.max_in_flight)


class ThreadPoolChunkExecutor:
    """Runs chunks on threads of this process, with bounded work in flight: for models
    whose chunk work releases the GIL (``ModelInfo.parallel_for`` says ``"threads"``), so
    that the chunks write the run's buffers where they lie instead of being copied back from
    other processes.

    >>> sorted(ThreadPoolChunkExecutor(2).map_chunks(abs, [-1, 2, -3]))
    [1, 2, 3]
    """

    shares_memory = True

    def __init__(self, workers: int, *, max_in_flight: int | None = None) -> None:
        self.workers = workers
        self.max_in_flight = max_in_flight or 2 * workers

    def map_chunks(self, fn: Callable[[Any], Any], tasks: Iterable[Any]) -> Iterator[Any]:
        yield from _map_bounded(
            lambda: cf.ThreadPoolExecutor(max_workers=self.workers,
                                          thread_name_prefix="threatsim-chunk"),
            fn, tasks, self.max_in_flight)


def _map_bounded(make_pool: Callable[[], cf.Executor], fn: Callable[[Any], Any],
                 tasks: Iterable[Any], max_in_flight: int) -> Iterator[Any]:
    """Results of ``fn(task)`` on a pool made when the first is asked for, as they finish,
    at most *max_in_flight* submitted and not yet given back; the pool is shut down at
    the end, or at once on an error or Ctrl-C."""
    pool = make_pool()
    finished = False
    try:
        pending: set[cf.Future[Any]] = set()
        for task in tasks:
            pending.add(pool.submit(fn, task))
            if len(pending) >= max_in_flight:
                done, pending = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
                for fut in done:
                    yield fut.result()
        for fut in cf.as_completed(pending):
            yield fut.result()
        finished = True
    finally:
        # On an error or Ctrl-C: drop what is queued, do not wait for it (a running
        # thread's chunk ends by itself; a process pool's workers are stopped).
        pool.shutdown(wait=finished, cancel_futures=not finished)


def make_executor(workers: int, parallel: str = "processes") -> ChunkExecutor:
    """In-process for 1 worker; otherwise threads or processes, as the model's chunks
    run best (*parallel*: ``ModelInfo.parallel_for`` the chunk size).

    >>> type(make_executor(1)).__name__, type(make_executor(4)).__name__
    ('InProcessExecutor', 'ProcessPoolChunkExecutor')
    >>> type(make_executor(4, "threads")).__name__
    'ThreadPoolChunkExecutor'
    """
    if workers <= 1:
        return InProcessExecutor()
    if parallel == "threads":
        return ThreadPoolChunkExecutor(workers)
    return ProcessPoolChunkExecutor(workers)


def resolve_executor(executor: object, workers: int,
                     parallel: str = "processes") -> ChunkExecutor:
    """The executor ``run`` uses for its ``executor=`` argument.

    ``None`` or an int: :func:`make_executor` (threads or processes by *parallel*);
    a ``distributed.Client``:
    :class:`~threatsim.engine.cluster.DaskExecutor`; anything with ``map_chunks``: itself.

    >>> type(resolve_executor(None, 1)).__name__
    'InProcessExecutor'
    >>> resolve_executor("four", 1)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    threatsim.core.errors.ScenarioError: executor='str' must be None, a number of workers, ...
    """
    if executor is None or isinstance(executor, int):
        return make_executor(workers, parallel)
    if hasattr(executor, "map_chunks"):
        # cast: anything with map_chunks is taken at its word (ChunkExecutor's contract)
        return cast(ChunkExecutor, executor)
    if is_dask_client(executor):
        return DaskExecutor(executor)
    raise ScenarioError("must be None, a number of workers, a distributed.Client or an "
                        "object with map_chunks(fn, tasks)", key="executor",
                        value=type(executor).__name__)


@contextlib.contextmanager
def executor_from_options(*, workers: int | None = None, cluster: str | None = None,
                          scheduler: str | None = None,
                          timeout: float = DEFAULT_CONNECT_TIMEOUT,
                          force_workers: bool = False) -> Iterator[ExecutorArg]:
    """The ``executor=`` for the command line's options, closed on leaving the block.

    ``scheduler``: a ``distributed.Client`` connected to that address;
    ``cluster="local"``: a new ``LocalCluster`` of ``workers`` processes (default:
    the number of CPUs; at most that many, saying so, unless *force_workers*:
    :func:`capped_workers`); neither: ``workers`` as given (``None``, or a
    number of local processes, capped by the run's options).

    >>> with executor_from_options(workers=2) as executor:
    ...     executor
    2
    """
    if scheduler is not None and cluster is not None:
        raise ScenarioError("give --scheduler or --cluster, not both", key="scheduler",
                            value=scheduler)
    if cluster is not None and cluster != "local":
        raise ScenarioError("must be 'local' (or give --scheduler ADDRESS)", key="cluster",
                            value=cluster)
    if scheduler is not None and workers is not None:
        raise ScenarioError("the scheduler's cluster has the workers it has: give --workers "
                            "only without --scheduler", key="workers", value=workers)
    if scheduler is not None or cluster == "local":
        with interrupts_held_back():  # a Ctrl-C now is honoured once the client is whole
            client = (connect(scheduler, timeout=timeout) if scheduler is not None else
                      local_cluster(available_cpus() if workers is None else
                                    capped_workers(workers, force=force_workers)))
        # Closing is never cut short by Ctrl-C: a client left half closed was closed again
        # by its finaliser at exit, which waited 60 s and printed a TimeoutError.
        try:
            check_interrupt()
            yield client
        finally:
            with interrupts_held_back():
                client.close()
        check_interrupt()  # Ctrl-C while closing (after a clean run), honoured now
        return
    yield workers

"""dask.distributed clusters: the executor that runs chunks there, and making clients.

* :class:`DaskExecutor` -- a ``dask.distributed`` cluster: a ``LocalCluster``
  (:func:`local_cluster`) or a scheduler address (:func:`connect`).
  ``threatsim.run(..., executor=client)`` accepts a ``distributed.Client``
  as it is (:func:`threatsim.engine.executors.resolve_executor`). dask is an
  optional extra (``pip install 'threatsim[distributed]'``) and is imported
  only when one of these is used.

The executor keeps a bounded number of chunks in flight (four per worker
thread by default) and cancels what is still queued when its iteration stops.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import copy
import dataclasses
import logging
import os
import pickle
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from threatsim.core.errors import ScenarioError, ThreatsimError
from threatsim.core.interrupts import sigint_blocked_for_children

__all__ = [
    "DEFAULT_ALLOWED_FAILURES",
    "DEFAULT_CONNECT_TIMEOUT",
    "LOCAL_CLUSTER_HOUSEKEEPING",
    "WORKER_MALLOC",
    "DaskExecutor",
    "ExecutorError",
    "SchedulerUnreachable",
    "connect",
    "is_dask_client",
    "local_cluster",
]

_NEEDS_DASK = ("needs dask.distributed: pip install 'threatsim[distributed]' (from a "
               "checkout: .venv/bin/pip install -e '.[distributed]')")
#: Seconds ``connect`` waits for a scheduler before giving up.
DEFAULT_CONNECT_TIMEOUT = 10.0
#: Times a chunk may be lost with a dying worker before the run fails.
DEFAULT_ALLOWED_FAILURES = 5


class ExecutorError(ThreatsimError, RuntimeError):
    """The cluster could not finish the run (e.g. a chunk killed every worker it ran on).

    >>> err = ExecutorError("a chunk was lost with 5 or more dying workers; giving up")
    >>> isinstance(err, RuntimeError), str(err)
    (True, 'a chunk was lost with 5 or more dying workers; giving up')
    """


class SchedulerUnreachable(ScenarioError):
    """No dask scheduler answered at the address given (bad input: exit status 2).

    >>> err = SchedulerUnreachable("no dask scheduler answered within 10 s",
    ...                            key="scheduler", value="tcp://10.0.0.5:8786")
    >>> str(err), isinstance(err, ScenarioError)
    ("scheduler='tcp://10.0.0.5:8786' no dask scheduler answered within 10 s", True)
    """



def is_dask_client(obj: object) -> bool:
    """Whether *obj* looks like a ``distributed.Client`` (no dask import needed).

    >>> is_dask_client(object())
    False
    """
    return (hasattr(obj, "submit") and hasattr(obj, "scheduler_info")
            and hasattr(obj, "nthreads") and not hasattr(obj, "map_chunks"))


class DaskExecutor:
    """Runs chunks as tasks of a ``dask.distributed`` cluster.

    Chunks are submitted lazily: at most ``max_in_flight`` (default four per
    worker thread, at least 4) are queued or running; a new one is submitted as
    each result arrives. Four, not two: a chunk's round trip through the
    scheduler costs several milliseconds, and with small chunks (W1: ~5 ms of
    work each) a worker with only one more chunk queued waits for it. A chunk whose
    worker dies is recomputed on another worker by the scheduler (up to its
    ``allowed-failures``, see :func:`local_cluster`); the result is the same
    because a chunk's outcome depends only on its parameters and its own random
    stream.

    >>> with local_cluster(2) as client:                    # doctest: +SKIP
    ...     ds = threatsim.run(sc, executor=DaskExecutor(client, max_in_flight=4))
    """

    #: Chunks run in the cluster's worker processes.
    shares_memory = False

    def __init__(self, client: Any, *, max_in_flight: int | None = None,
                 retries: int = 0) -> None:
        self.client = client
        self.max_in_flight = max_in_flight
        self.retries = retries

    def _limit(self) -> int:
        if self.max_in_flight:
            return self.max_in_flight
        try:
            threads = int(sum(self.client.nthreads().values()))  # the client is untyped
        except Exception:  # a client that cannot say: keep it small
            threads = 1
        return max(4, 4 * threads)

    def map_chunks(self, fn: Callable[[Any], Any], tasks: Iterable[Any]) -> Iterator[Any]:
        from distributed import as_completed  # optional dependency: only on a cluster

        run_key = uuid.uuid4().hex[:10]
        # A source with ``ready()`` (StagedTasks) holds its next task back until the
        # caller has what it needs (the narrowed windows): asked again after each result.
        ready: Callable[[], bool] | None = getattr(tasks, "ready", None)
        source = iter(tasks)
        exhausted = False
        live: set[Any] = set()
        # with_results: results are gathered in the background as tasks finish
        queue = as_completed(loop=self.client.loop, with_results=True, raise_errors=False)

        def submit(task: Any) -> None:
            index = getattr(task, "index", None)
            key = f"threatsim-chunk-{index}-{run_key}-{uuid.uuid4().hex[:6]}"
            held = getattr(task, "held", None)
            # A held result goes in as an argument of its own, so that dask hands the
            # task the data (on the worker that holds it) instead of the handle.
            args = ((Sealed.of(task),) if held is None
                    else (Sealed.of(dataclasses.replace(task, held=None)), held))
            fut = self.client.submit(run_sealed, fn, *args, key=key, pure=False,
                                     retries=self.retries, priority=_priority(index))
            live.add(fut)
            queue.add(fut)

        limit = self._limit()

        def top_up() -> None:
            nonlocal exhausted
            while not exhausted and len(live) < limit and (ready is None or ready()):
                nxt = next(source, None)
                if nxt is None:
                    exhausted = True
                else:
                    submit(nxt)

        try:
            top_up()
            for fut, result in queue:
                live.discard(fut)
                if fut.status == "cancelled":
                    # Not cancelled from here (that happens only after leaving this loop):
                    # the scheduler closed, or the client lost its connection to it.
                    fut.release()
                    raise ExecutorError(self._lost_message())
                if fut.status == "error":
                    exc = fut.exception()
                    fut.release()
                    if type(exc).__name__ == "KilledWorker":
                        raise ExecutorError(
                            f"a chunk was lost with {DEFAULT_ALLOWED_FAILURES} or more dying "
                            f"workers; giving up ({exc})") from None
                    raise exc
                fut.release()
                top_up()
                yield result
                top_up()  # what the caller did with the result may have readied the next
                if not live and not exhausted:
                    raise RuntimeError("a staged source held its tasks back with none in "
                                       "flight (threatsim bug)")
        finally:
            if live:  # stopped early (error, Ctrl-C, generator closed): cancel the rest
                try:
                    self.client.cancel(list(live), force=True)
                except Exception:  # the cluster may already be gone
                    pass

    def _lost_message(self) -> str:
        try:
            address = self.client.scheduler.address
        except Exception:
            address = "?"
        return (f"the dask scheduler at {address} dropped the run's chunks (it closed, or "
                f"this process lost its connection to it); the run stopped")

    def hold_limit(self) -> int:
        """How many chunks :meth:`hold` may keep on the cluster: as many as may be in
        flight, enough to keep the workers busy for a while, a bounded amount of memory."""
        return self._limit()

    def hold(self, fn: Callable[[Any], Any], tasks: Iterable[Any]) -> dict[int, Any]:
        """Start *tasks* now and leave their results on the cluster: ``{index: future}``.

        Pass a future back as a task's ``held`` (see :meth:`map_chunks`) to use the
        result where it is; :meth:`release` the ones not used.
        """
        run_key = uuid.uuid4().hex[:10]
        # "threatsim_held_<index>": dask groups tasks by their key's leading words, and
        # a group much larger than the cluster counts as "root-ish" and is queued on
        # the scheduler (distributed.scheduler.worker-saturation). The chunks submitted
        # after these depend on them, so are not queued: they kept the workers busy,
        # and the last held chunks ran after all of them, their reductions after them.
        # A group of its own per held chunk is never root-ish, on any scheduler.
        return {task.index: self.client.submit(
                    run_sealed, fn, Sealed.of(task), key=f"threatsim_held_{task.index}-{run_key}",
                    pure=False, retries=self.retries, priority=_priority(task.index))
                for task in tasks}

    def fetch(self, held: Iterable[Any]) -> list[Any]:
        """The results of held tasks, brought to the client (they stay held too)."""
        try:
            return list(self.client.gather(list(held)))
        except Exception as exc:
            if type(exc).__name__ in ("CancelledError", "FutureCancelledError"):
                raise ExecutorError(self._lost_message()) from None
            if type(exc).__name__ == "KilledWorker":
                raise ExecutorError(
                    f"a chunk was lost with {DEFAULT_ALLOWED_FAILURES} or more dying "
                    f"workers; giving up ({exc})") from None
            raise

    def release(self, held: Iterable[Any]) -> None:
        """Forget held results (cancelled if not yet computed)."""
        futures = list(held)
        if futures:
            try:
                self.client.cancel(futures, force=True)
            except Exception:  # the cluster may already be gone
                pass


@dataclasses.dataclass(frozen=True, slots=True)
class Sealed:
    """A task's argument pickled once, on the client, into bytes that the scheduler
    passes on untouched (:func:`run_sealed` opens it on the worker).

    A dask scheduler unpickles every task's arguments and pickles them again for the
    worker, and a LocalCluster's scheduler does so in the client process: a chunk task
    made its parameters again there (:class:`~threatsim.engine.plan.ParameterRecipe`),
    and before that W1's batches of chunks were unpacked and packed there, a quarter of
    that process's event loop.

    >>> run_sealed(len, Sealed.of([1, 2, 3]))
    3
    """

    payload: bytes

    @classmethod
    def of(cls, task: Any) -> Sealed:
        try:
            return cls(pickle.dumps(task, protocol=pickle.HIGHEST_PROTOCOL))
        except (pickle.PicklingError, AttributeError, TypeError):
            # What dask itself does with what pickle refuses (a class defined in a
            # function): cloudpickle, a dependency of distributed, pickles it by value.
            import cloudpickle

            return cls(cloudpickle.dumps(task, protocol=pickle.HIGHEST_PROTOCOL))


def run_sealed(fn: Callable[..., Any], sealed: Sealed, *rest: Any) -> Any:
    """``fn(task, *rest)`` for the task *sealed* holds (top-level: it runs on a worker)."""
    return fn(pickle.loads(sealed.payload), *rest)


def _priority(index: int | None) -> int:
    """A chunk's dask priority: the lower its index, the sooner it runs where several
    wait on a worker (the held ones before those submitted after them; the last chunk,
    often a short one, last)."""
    return -index if isinstance(index, int) else 0


def _configure_dask() -> None:
    # optional dependency, imported only when a cluster is used
    import dask
    import distributed  # noqa: F401  (loads distributed's config defaults)

    dask.config.set({"distributed.scheduler.allowed-failures": DEFAULT_ALLOWED_FAILURES})
    # Worker processes this process starts (a LocalCluster) reuse their memory (see
    # WORKER_MALLOC). distributed sets MALLOC_TRIM_THRESHOLD_=65536 for them, which also
    # turns off glibc's adaptive mmap threshold: every array over 128 KiB (a chunk's
    # outputs, its bin counts) was a fresh mapping whose pages fault on first touch. On
    # the VM the benchmarks ran on, a 4 MB zero-filled array took 2 ms instead of
    # 0.05 ms, and a W1 summary chunk ran 2-3x slower on a worker than in the client.
    environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ", default={}) or {})
    environ.update(WORKER_MALLOC)
    dask.config.set({"distributed.nanny.pre-spawn-environ": environ})


#: glibc settings for the worker processes threatsim starts. A chunk's arrays (up to
#: tens of MB) are then reused from the worker's heap instead of mapped afresh and
#: returned to the system each time: first touch of fresh pages is slow on virtual
#: machines (and a large array is mapped afresh whatever glibc's adaptive threshold
#: does: it stops adapting at 32 MiB). A worker keeps up to its peak (a few chunks).
WORKER_MALLOC = {"MALLOC_MMAP_THRESHOLD_": str(1 << 28), "MALLOC_TRIM_THRESHOLD_": str(1 << 30)}


#: Housekeeping of the LocalCluster threatsim starts. Its scheduler and the workers'
#: nannies live in the calling process, beside the client, and with distributed's
#: defaults their periodic callbacks (an event-loop tick every 20 ms per server, a
#: psutil system monitor every 0.5 s, each nanny's memory watch every 0.1 s) cost that
#: process 5 % of a core while the cluster idles: on a machine whose cores all run
#: workers, that is taken from the workers. Measured on the 2-core benchmark VM, idle:
#: 0.25 s of CPU per 5 s with the defaults, 0.04 s with these. Each worker also
#: samples its own stack every 10 ms for the dashboard's profile page (no dashboard
#: here): W2 summary on one worker, its event-loop thread 0.75 s -> 0.4 s of CPU.
#: The nanny still stops a worker over its memory limit, within half a second.
LOCAL_CLUSTER_HOUSEKEEPING = {
    "distributed.admin.tick.interval": "500ms",
    "distributed.admin.system-monitor.interval": "2s",
    "distributed.worker.memory.monitor-interval": "500ms",
    "distributed.worker.profile.enabled": False,
    # No queuing of root tasks on the scheduler: threatsim bounds the chunks in flight
    # itself (and names held chunks so that they are never queued on any scheduler:
    # see DaskExecutor.hold). The configuration the benchmarks measured.
    "distributed.scheduler.worker-saturation": float("inf"),
}


def local_cluster(workers: int, *, threads_per_worker: int = 1) -> Any:
    """A ``distributed.Client`` on a new ``LocalCluster`` of *workers* processes.

    ``client.close()`` closes the cluster too; or use it as a context manager
    (``with local_cluster(2) as client: ...``).

    >>> with local_cluster(2) as client:                    # doctest: +SKIP
    ...     sorted(client.nthreads().values())
    [1, 1]
    >>> local_cluster(0)  # checked before anything starts
    Traceback (most recent call last):
    ...
    threatsim.core.errors.ScenarioError: workers=0 must be a whole number >= 1
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ScenarioError("must be a whole number >= 1", key="workers", value=workers)
    try:  # optional dependency, imported only when a cluster is used
        import dask
        from distributed import Client
    except ImportError:
        raise ScenarioError(_NEEDS_DASK,
                            key="cluster", value="local") from None

    _configure_dask()
    # The client starts the cluster itself, so closing the client closes the cluster too.
    # Its event-loop thread, where the nannies start (and restart) the worker processes,
    # is started with SIGINT blocked, so that the workers have it blocked too: Ctrl-C
    # in a terminal reaches every process of its group, and each worker died of it with
    # a KeyboardInterrupt traceback (or, while starting, left the cluster half started).
    # This process alone handles it, and closes the cluster. multiprocessing's resource
    # tracker is started first: starting it unblocks SIGINT in the thread that does.
    if os.name == "posix":
        from multiprocessing import resource_tracker  # POSIX only

        resource_tracker.ensure_running()
    with dask.config.set(LOCAL_CLUSTER_HOUSEKEEPING), sigint_blocked_for_children():
        # The nannies keep the config their workers start with, also when they restart one
        # (a worker killed or lost): a copy, since leaving this block restores the
        # caller's config in place. Results are fetched from the workers directly (they
        # are on this machine): not relayed by the scheduler, which runs in this process
        # and would receive and send every byte again (W2 summary on two workers: this
        # process's event loop 0.355 -> 0.33 s of CPU per run, medians of 6).
        # Worker logs up to ERROR stay quiet: a worker's failure reaches the client as
        # the chunk's exception (an ExecutorError), and after a Ctrl-C of this process
        # the orphaned workers log their lost heartbeat with a traceback (seen on a
        # busy machine), which a user would read as a crash.
        return Client(n_workers=workers, threads_per_worker=threads_per_worker,
                      processes=True, dashboard_address=":0", silence_logs=logging.CRITICAL,
                      set_as_default=False, config=copy.deepcopy(dask.config.config),
                      direct_to_workers=True)


def connect(address: str, *, timeout: float = DEFAULT_CONNECT_TIMEOUT) -> Any:
    """A ``distributed.Client`` connected to the scheduler at *address*.

    Raises :class:`SchedulerUnreachable` naming the address when no dask
    scheduler answers within *timeout* seconds (nothing listening, something
    that is not a dask scheduler, e.g. its dashboard's port, or a dask worker).

    >>> client = connect("tcp://10.0.0.5:8786", timeout=5)  # doctest: +SKIP
    >>> connect("no-port")
    Traceback (most recent call last):
    ...
    threatsim.engine.cluster.SchedulerUnreachable: scheduler='no-port' is not a scheduler ...
    """
    try:  # optional dependency, imported only when a cluster is used
        from distributed import Client
    except ImportError:
        raise ScenarioError(_NEEDS_DASK, key="scheduler", value=address) from None
    if not (isinstance(timeout, (int, float)) and timeout > 0):
        raise ScenarioError("must be a number of seconds > 0", key="scheduler-timeout",
                            value=timeout)
    _configure_dask()
    _probe_scheduler(address, timeout)
    try:
        return Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SchedulerUnreachable(
            f"no dask scheduler answered within {timeout:g} s ({reason})",
            key="scheduler", value=address) from None


def _probe_scheduler(address: str, timeout: float) -> None:
    """Ask *address* who it is, all within *timeout* seconds, before a Client connects.

    ``Client(address, timeout=...)`` bounds only the TCP connection: a listener
    that accepts and then stays silent (or answers HTTP) held it for ever, and
    garbage read as a frame header made it try to allocate exabytes.
    """
    # optional dependency: connect() has imported distributed already
    from distributed.comm import parse_address
    from distributed.core import rpc
    from distributed.security import Security

    try:
        parse_address(address)
    except ValueError as exc:
        raise SchedulerUnreachable(f"is not a scheduler address ({exc})",
                                   key="scheduler", value=address) from None

    async def identity() -> Any:
        conn = rpc(address, timeout=timeout,
                   connection_args=Security().get_connection_args("client"))
        try:
            return await conn.identity()
        finally:
            await conn.close_rpc()

    def ask() -> Any:  # in a thread of its own: the caller may be running an event loop
        return asyncio.run(asyncio.wait_for(identity(), timeout))

    pool = cf.ThreadPoolExecutor(1, thread_name_prefix="threatsim-probe")
    try:
        info = pool.submit(ask).result(timeout=timeout + 1.0)
    except (cf.TimeoutError, TimeoutError):
        raise SchedulerUnreachable(f"no dask scheduler answered within {timeout:g} s",
                                   key="scheduler", value=address) from None
    except ValueError as exc:  # e.g. no port: "missing port number in address"
        raise SchedulerUnreachable(f"is not a scheduler address ({exc})",
                                   key="scheduler", value=address) from None
    except Exception as exc:  # refused, reset, not dask's protocol (e.g. HTTP), ...
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SchedulerUnreachable(
            f"no dask scheduler answered within {timeout:g} s ({reason[:200]})",
            key="scheduler", value=address) from None
    finally:
        pool.shutdown(wait=False)
    kind = info.get("type") if isinstance(info, dict) else None
    if kind != "Scheduler":
        raise SchedulerUnreachable(
            f"answers, but is a dask {kind or 'server of an unknown kind'}, not a scheduler",
            key="scheduler", value=address)

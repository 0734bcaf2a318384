"""The engine's entry point: run a scenario and collect an ``xarray.Dataset``.

A run samples the scenario's parameters, cuts the draws into chunks
(:mod:`threatsim.engine.plan`), runs the model on each on the chosen executor
(:mod:`threatsim.engine.executors`) and places each result by its chunk index,
so the Dataset is bit-identical whichever executor runs the chunks
(in-process, a process pool, a dask.distributed cluster), with however many
workers, in whatever order they finish, and whether or not the run was
resumed from a checkpoint.

What is kept (``keep=``):

* ``"draws"`` (default): every trajectory, in memory; or, with ``out=PATH``,
  streamed to a NetCDF file as chunks finish (memory bounded by the chunk
  size; the summary is returned; :mod:`threatsim.engine.streamed_run`).
* ``"summary"``: exact quantile bands, P(= 0) of stocks, per-draw outputs and
  the sampled parameters; the trajectories are never held
  (:mod:`threatsim.engine.summary`). Memory is bounded by the chunk size plus the
  per-draw values; the chunks are computed twice (or more, rarely).

Before anything is sampled or allocated, the run's memory is estimated
(:func:`threatsim.engine.budget.estimate_memory`) and compared with its budget
(``memory_budget=``; default ``THREATSIM_MEMORY_BUDGET``, else half the memory
available). A run that would not fit is refused with the figure and the
remedy, or, given ``stream_over_budget=PATH``, streams its draws to that file
and returns the summary, saying so (logger ``threatsim``, WARNING).
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from threatsim.core.errors import ScenarioError
from threatsim.core.interrupts import InterruptGuard
from threatsim.engine.budget import MemoryEstimate, estimate_memory, format_bytes
from threatsim.engine.checkpoint import Checkpoint
from threatsim.engine.executors import ExecutorArg, InProcessExecutor, shares_memory
from threatsim.engine.options import RunOptions
from threatsim.engine.plan import LATE_PARAMETERS_BYTES, Plan, place_draws, run_chunk
from threatsim.engine.progress import Progress, ProgressArg
from threatsim.engine.shipping import ShippedChunk, each_chunk
from threatsim.engine.streamed_run import run_streaming
from threatsim.inputs.scenario import Scenario, load_scenario
from threatsim.results import Posterior, to_dataset

__all__ = ["run", "run_with"]

#: Notes on a run (what a resume found, INFO; draws streamed over the memory budget,
#: WARNING); ``threatsim run`` shows them on stderr.
log = logging.getLogger("threatsim")


def run(
    scenario: Scenario | str | os.PathLike[str],
    *,
    draws: int | None = None,
    seed: int | None = None,
    sampler: str | None = None,
    chunk_size: int | None = None,
    replicates: int | None = None,
    executor: ExecutorArg = None,
    progress: ProgressArg = None,
    keep: str | None = None,
    out: str | os.PathLike[str] | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    resume: bool = False,
    memory_budget: int | float | str | None = None,
    force_workers: bool = False,
    stream_over_budget: str | os.PathLike[str] | None = None,
    posterior: Posterior | str | os.PathLike[str] | None = None,
) -> xr.Dataset:
    """Run a scenario and collect an ``xarray.Dataset``.

    Parameters
    ----------
    scenario
        From :func:`threatsim.load_scenario`, or the path of a scenario file (read by it).
    draws, seed, sampler, chunk_size, replicates
        Override the scenario's ``[run]`` settings.
    executor
        ``None`` (the scenario's ``run.workers``), a number of worker processes,
        a ``distributed.Client``, or an object with ``map_chunks`` (see
        :mod:`threatsim.engine.executors`). Every choice gives the same Dataset.
    progress
        ``True``: a progress bar on stderr counting the draws, with their rate
        and the time left; ``False``: none; ``None`` (default): a bar when
        stderr is a terminal; or a callable ``progress(done, total, label)``
        told the draws done (from 0 to *draws*, never falling) as chunks
        finish (:mod:`threatsim.engine.progress`). A run of one chunk in this
        process is cut finer while progress is shown, where that costs little
        (a model whose time is per draw), so that the count moves as draws
        finish; the Dataset is the same bit for bit.
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
    memory_budget
        Bytes the run may hold, or text such as ``"4GB"``, ``"512MiB"``,
        ``"50%"`` (of the memory available); default ``THREATSIM_MEMORY_BUDGET``,
        else half the memory available. A run whose estimate
        (:func:`threatsim.engine.budget.estimate_memory`) exceeds it is
        refused with the figure and the remedy, before anything is allocated.
    force_workers
        Run as many worker processes as asked for even where this process
        may use fewer CPUs (otherwise capped at the CPU count, saying so).
    stream_over_budget
        With ``keep="draws"`` and no *out*: where to stream the draws instead
        of refusing when keeping them in memory would exceed the budget (the
        summary is then returned, as with *out*, and a warning says so).
    posterior
        A posterior sample (:func:`threatsim.results.open_posterior`, or the
        path of a ``threatsim calibrate --out`` file): the sampled parameters'
        draws are its equally weighted resample, the fixed values and levers the
        scenario's, each draw's chance unchanged (docs/calibration.md). The run
        records it, and its run id depends on it.

    Returns
    -------
    xarray.Dataset
        Outputs on ``draw`` (and ``replicate``), ``time``, model dims; the
        sampled parameters as variables on ``draw``; provenance in ``attrs``.
        For a summary: bands on ``quantile`` instead of ``draw``.

    Examples
    --------
    >>> import threatsim
    >>> sc = threatsim.load_scenario("scenarios/financing.toml")
    >>> ds = run(sc, draws=1000, seed=7, progress=False)
    >>> ds.sizes["draw"], ds.attrs["seed"]
    (1000, 7)
    >>> run(sc, keep="bands")
    Traceback (most recent call last):
    ...
    threatsim.core.errors.ScenarioError: keep='bands' must be one of draws, summary
    >>> run(sc, draws=10**7, memory_budget="1GB")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    threatsim.core.errors.ScenarioError: draws=10000000 would hold about 16... GB (...) ...
    """
    if isinstance(scenario, (str, os.PathLike)):
        scenario = load_scenario(scenario)
    options = RunOptions.build(scenario, draws=draws, seed=seed, sampler=sampler,
                               chunk_size=chunk_size, replicates=replicates, executor=executor,
                               progress=progress, keep=keep, memory_budget=memory_budget,
                               force_workers=force_workers, posterior=posterior)
    return run_with(scenario, options, out=out, checkpoint=checkpoint, resume=resume,
                    stream_over_budget=stream_over_budget)


def run_with(scenario: Scenario, options: RunOptions, *,
             out: str | os.PathLike[str] | None = None,
             checkpoint: str | os.PathLike[str] | None = None,
             resume: bool = False,
             stream_over_budget: str | os.PathLike[str] | None = None) -> xr.Dataset:
    """:func:`run` with its options already built (and checked): analyses that run a
    scenario several times build them once.

    >>> import threatsim
    >>> sc = threatsim.load_scenario("scenarios/financing.toml")
    >>> opts = RunOptions.build(sc, draws=100, seed=7, progress=False)
    >>> run_with(sc, opts).identical(run(sc, draws=100, seed=7, progress=False))
    True
    """
    if resume and checkpoint is None:
        raise ScenarioError("needs a checkpoint folder to resume from (--checkpoint DIR)",
                            key="resume", value=resume)
    keep = options.keep
    if keep == "summary":
        out = None  # (a file of draws goes with keep="draws" only)
    out = _within_budget(scenario, options, out=out, stream_over_budget=stream_over_budget)
    # A point parameter is one value broadcast over the draws (read-only, no memory per
    # draw) whatever is kept: at 10^6 draws, seven of W1's are 56 MB otherwise written.
    # A large summary kept here makes the parameters it can remake only once its passes
    # are done (LATE_PARAMETERS_BYTES): it never holds both them and its bins.
    late = (keep == "summary" and out is None and checkpoint is None
            and shares_memory(options.executor))
    plan = Plan.for_run(scenario, options, lean=True,
                        late_above=LATE_PARAMETERS_BYTES if late else None)
    ckpt = None
    if checkpoint is not None:
        ckpt = Checkpoint.open(checkpoint, plan.manifest(), resume=resume)
        if resume:  # checked: say what it holds (a mistyped path would start afresh)
            _say_what_resumes(ckpt)
    label = scenario.name
    with InterruptGuard.ensure() as guard:
        if keep == "summary" or out is not None:
            return run_streaming(plan, ckpt, guard, label=label, out=out)
        # Buffers keep the draw axis last in memory: a chunk fills contiguous runs, and
        # each month's values over all draws (what bands reduce over) are contiguous.
        direct = plan.direct_buffers() if ckpt is None else None
        buffers: dict[str, np.ndarray] = dict(direct or {})
        n = plan.n
        with Progress(n, progress=options.progress, label=label) as bar:
            results: Iterator[tuple[int, int, dict[str, Any]]]
            if (ckpt is None and plan.n_chunks == 1 and bar.enabled
                    and isinstance(options.executor, InProcessExecutor)):
                results = _pieces(plan, bar, guard, direct)
            else:
                results = ((*plan.bounds(index), result) for index, result in each_chunk(
                    plan, checkpoint=ckpt, bar=bar, guard=guard, buffers=direct,
                    narrow=ckpt is None))
            for lo, hi, result in results:
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
    return to_dataset(scenario, collected, plan.params, options.settings,
                      posterior=options.posterior)


#: A run of one chunk in this process, while its progress is shown, first runs two probes
#: of 1/PROBE_PARTS and 2/PROBE_PARTS of its draws; where their times grow with the
#: draws (SimPy, per-draw loops: a model whose time is per draw), the rest runs in
#: pieces of about PIECE_SECONDS each; where they do not (vectorised models, whose time
#: is mostly per chunk), the rest runs as one piece. docs/scaling.md ("Progress").
PROBE_PARTS = 25
PIECE_SECONDS = 1.0


def _pieces(plan: Plan, bar: Progress, guard: InterruptGuard,
            buffers: dict[str, np.ndarray] | None,
            ) -> Iterator[tuple[int, int, dict[str, np.ndarray]]]:
    """The results of a run of one chunk in this process as ``(lo, hi, outputs)`` of
    pieces of it (see :data:`PROBE_PARTS`): the same values as the whole chunk
    (:meth:`Plan.task_of`), counted on *bar* as each piece finishes."""
    n = plan.n
    size = max(1, -(-n // PROBE_PARTS))
    lo, index = 0, 0
    times: list[tuple[int, float]] = []
    while lo < n:
        hi = min(n, lo + size)
        t0 = time.perf_counter()
        _, result = run_chunk(plan.task_of(index, lo, hi, buffers))
        times.append((hi - lo, time.perf_counter() - t0))
        guard.check()
        yield lo, hi, result
        bar.advance(hi - lo)
        lo, index = hi, index + 1
        if len(times) == 1:
            size *= 2
        elif len(times) == 2:
            (s1, t1), (s2, t2) = times
            per_draw = t2 / s2
            if s2 > s1 and t2 >= 1.5 * t1 and per_draw > 0:  # time grows with the draws
                size = max(1, int(PIECE_SECONDS / per_draw))
            else:
                size = n  # time mostly per piece: the rest at once


_RAISE_BUDGET = ("raise the budget (memory_budget=, threatsim run --memory-budget, or "
                 "THREATSIM_MEMORY_BUDGET; default half the memory available)")


def _within_budget(scenario: Scenario, options: RunOptions, *,
                   out: str | os.PathLike[str] | None,
                   stream_over_budget: str | os.PathLike[str] | None,
                   ) -> str | os.PathLike[str] | None:
    """The file the draws stream to (*out*, or *stream_over_budget* when keeping them in
    memory would exceed the budget), once the run is known to fit its memory budget and,
    for a file, its disk; else ScenarioError with the figures and the remedy."""
    est = estimate_memory(scenario, options)
    budget, n = options.memory_budget, options.draws
    streamed = options.keep == "summary" or out is not None
    if not streamed and est.in_memory > budget:
        if stream_over_budget is None:
            raise ScenarioError(
                f"would hold {est.describe(streamed=False)} in memory, over the memory budget "
                f"of {format_bytes(budget)}: keep only the summary (keep=\"summary\", "
                f"--keep summary), stream the draws to a file (out=PATH; threatsim run "
                f"streams them to its --out file), run fewer draws, or {_RAISE_BUDGET}",
                key="draws", value=n)
        out, streamed = stream_over_budget, True
        if est.streamed <= budget:
            log.warning("keeping the %s draws in memory would take %s, over the memory "
                        "budget of %s: streaming them to %s instead (at most %s on disk) and "
                        "keeping the summary in memory", f"{n:,}",
                        est.describe(streamed=False), format_bytes(budget), out,
                        format_bytes(est.file))
    if streamed and est.streamed > budget:
        raise ScenarioError(
            f"would hold {est.describe(streamed=True)} even with the draws streamed, over "
            f"the memory budget of {format_bytes(budget)}: the sampled parameters and "
            f"per-draw outputs stay in memory whatever is kept; run fewer draws, or "
            f"{_RAISE_BUDGET}", key="draws", value=n)
    if out is not None:
        _check_disk(Path(out), est)
    return out


def _check_disk(path: Path, est: MemoryEstimate) -> None:
    """Refuse a file of draws that the disk it goes to cannot hold."""
    folder = path.resolve().parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return  # not known: the write itself will say
    if est.file > free:
        raise ScenarioError(
            f"the file of every draw would take about {format_bytes(est.file)}, more than "
            f"the {format_bytes(free)} free in {folder}: keep only the summary "
            f"(keep=\"summary\", --keep summary), write it elsewhere (--out), or run fewer "
            f"draws", key="out", value=path)


def _say_what_resumes(ckpt: Checkpoint) -> None:
    """Log (logger ``threatsim``, INFO; the command line shows it) what a resume found."""
    if ckpt.resumed:
        log.info("resuming from %s: %d of %d chunks already finished", ckpt.folder,
                 len(ckpt.done()), ckpt.n_chunks)
    else:
        log.info("no checkpoint in %s yet: starting afresh (finished chunks are kept there)",
                 ckpt.folder)

"""The engine: sample, cut into chunks, run the model on each, collect.

A run is a pure function of (resolved scenario, seed, draws, chunk size,
replicates, package version). Each chunk's chance comes from its own stream
keyed by the chunk index, and results are placed by index, so the Dataset is
bit-identical whichever executor runs the chunks, with however many workers,
in whatever order they finish.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np
import xarray as xr

from threatsim.errors import ScenarioError
from threatsim.models import get_model
from threatsim.progress import Progress
from threatsim.results import to_dataset
from threatsim.rng import chunk_seed_sequence
from threatsim.sampling import sample_parameters
from threatsim.scenario import RunSettings, Scenario

__all__ = ["ChunkTask", "InProcessExecutor", "ProcessPoolChunkExecutor", "run"]


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


def run_chunk(task: ChunkTask) -> tuple[int, dict[str, np.ndarray]]:
    """Run the model on one chunk (top-level, so process pools can pickle it)."""
    model = get_model(task.model)
    rng = np.random.Generator(np.random.PCG64(chunk_seed_sequence(task.seed, task.index)))
    params = task.params
    reps = task.replicates
    if reps > 1:  # draw-major: each draw's replicates sit next to each other
        params = {k: np.repeat(v, reps) for k, v in params.items()}
    out = model.simulate(params, task.levers, n_months=task.n_months, rng=rng,
                         outputs=task.outputs)
    if reps > 1:
        out = {k: v.reshape(v.shape[0] // reps, reps, *v.shape[1:]) for k, v in out.items()}
    return task.index, out


class ChunkExecutor(Protocol):
    """Runs chunk tasks and yields ``(index, result)`` in any order."""

    def map_chunks(self, fn: Callable[[ChunkTask], Any],
                   tasks: Iterable[ChunkTask]) -> Iterator[Any]: ...


class InProcessExecutor:
    """Runs chunks one after another in this process (the default)."""

    def map_chunks(self, fn: Callable[[ChunkTask], Any],
                   tasks: Iterable[ChunkTask]) -> Iterator[Any]:
        for task in tasks:
            yield fn(task)


class ProcessPoolChunkExecutor:
    """Runs chunks on a local process pool, with bounded work in flight."""

    def __init__(self, workers: int, *, max_in_flight: int | None = None) -> None:
        self.workers = workers
        self.max_in_flight = max_in_flight or 2 * workers

    def map_chunks(self, fn: Callable[[ChunkTask], Any],
                   tasks: Iterable[ChunkTask]) -> Iterator[Any]:
        with cf.ProcessPoolExecutor(max_workers=self.workers) as pool:
            pending: set[cf.Future[Any]] = set()
            for task in tasks:
                pending.add(pool.submit(fn, task))
                if len(pending) >= self.max_in_flight:
                    done, pending = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
                    for fut in done:
                        yield fut.result()
            for fut in cf.as_completed(pending):
                yield fut.result()


def make_executor(workers: int) -> ChunkExecutor:
    """In-process for 1 worker, a process pool otherwise."""
    return InProcessExecutor() if workers <= 1 else ProcessPoolChunkExecutor(workers)


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


def run(
    scenario: Scenario,
    *,
    draws: int | None = None,
    seed: int | None = None,
    sampler: str | None = None,
    chunk_size: int | None = None,
    replicates: int | None = None,
    executor: ChunkExecutor | int | None = None,
    progress: bool | None = None,
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
        or an object with ``map_chunks`` (see :class:`InProcessExecutor`).
    progress
        Show a progress bar on stderr (default: when stderr is a terminal).

    Returns
    -------
    xarray.Dataset
        Outputs on ``draw`` (and ``replicate``), ``time``, model dims; the
        sampled parameters as variables on ``draw``; provenance in ``attrs``.

    Examples
    --------
    >>> import threatsim
    >>> sc = threatsim.load_scenario("scenarios/baseline.toml")  # doctest: +SKIP
    >>> ds = threatsim.run(sc, draws=1000, seed=7)               # doctest: +SKIP
    """
    workers = executor if isinstance(executor, int) else None
    settings = _settings(scenario, draws=draws, seed=seed, sampler=sampler,
                         chunk_size=chunk_size, replicates=replicates, workers=workers)
    if executor is None or isinstance(executor, int):
        executor = make_executor(settings.workers)
    params = sample_parameters(scenario.parameters, settings.draws, seed=settings.seed,
                               sampler=settings.sampler)
    levers = scenario.lever_schedule()
    outputs = frozenset(scenario.variables)
    n, cs = settings.draws, settings.chunk_size
    n_chunks = -(-n // cs)

    def tasks() -> Iterator[ChunkTask]:
        for i in range(n_chunks):
            lo, hi = i * cs, min(n, (i + 1) * cs)
            yield ChunkTask(index=i, model=scenario.model,
                            params={k: v[lo:hi] for k, v in params.items()},
                            levers=levers, n_months=scenario.horizon, seed=settings.seed,
                            replicates=settings.replicates, outputs=outputs)

    # Buffers keep the draw axis last in memory: a chunk fills contiguous runs, and
    # each month's values over all draws (what bands reduce over) are contiguous.
    buffers: dict[str, np.ndarray] = {}
    show = progress if progress is not None else os.isatty(2)
    with Progress(n_chunks, enabled=show, label=f"{scenario.name}: {n:,} draws") as bar:
        for index, result in executor.map_chunks(run_chunk, tasks()):
            lo, hi = index * cs, min(n, (index + 1) * cs)
            for name, arr in result.items():
                if name not in buffers:
                    buffers[name] = np.empty((*arr.shape[1:], n), dtype=arr.dtype)
                buffers[name][..., lo:hi] = np.moveaxis(arr, 0, -1)
            bar.advance()
    collected = {name: np.moveaxis(buf, -1, 0) for name, buf in buffers.items()}
    return to_dataset(scenario, collected, params, settings)

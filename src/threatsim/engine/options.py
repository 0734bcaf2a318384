"""A run's options, checked once: how many draws, which seed and sampler, where chunks run.

``run``, ``compare``, ``sweep``, ``sensitivity``, ``run_to_precision`` and
``solve_capacity`` take the same keywords (``draws=``, ``seed=``, ...); each
builds one :class:`RunOptions` from them (:meth:`RunOptions.build`: the
scenario's ``[run]`` table for what is not given, every value checked, the
executor resolved) and passes it down, so nothing below checks them again.

Counts have upper bounds where the arithmetic or the chance key would break
(:data:`LIMITS`: a draw's index has 40 bits in its chance key, a replicate 24,
see :mod:`threatsim.stats.variates`), the memory budget is resolved
(:func:`threatsim.engine.budget.resolve_budget`), and local worker processes
are capped at the CPUs this process may use unless forced.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal, TypeGuard, TypeVar, get_args

import numpy as np

from threatsim.core.errors import ScenarioError
from threatsim.engine.budget import resolve_budget
from threatsim.engine.executors import (
    ChunkExecutor,
    ExecutorArg,
    capped_workers,
    resolve_executor,
)
from threatsim.engine.progress import ProgressArg, progress_shown
from threatsim.inputs.parts import SAMPLERS, Sampler
from threatsim.inputs.scenario import RunSettings, Scenario
from threatsim.models.registry import get_model
from threatsim.results import Posterior, open_posterior
from threatsim.stats.variates import DRAW_BITS, REPLICATE_BITS

__all__ = ["KEEP", "LIMITS", "SAMPLERS", "Keep", "RunOptions", "Sampler"]


#: What a run keeps: every trajectory, or only the summary (bounded memory).
Keep = Literal["draws", "summary"]
KEEP: tuple[str, ...] = get_args(Keep)

#: Whole-number settings and their least value.
_WHOLE = {"draws": 1, "chunk_size": 1, "replicates": 1, "workers": 1, "seed": 0}
#: Their largest value, and why (the scenario's ``[run]`` table is checked against the
#: same figures in :func:`threatsim.inputs.validation.check_run_settings`).
LIMITS: dict[str, tuple[int, str]] = {
    "draws": (2**DRAW_BITS - 1, f"a draw's index has {DRAW_BITS} bits in its chance key"),
    "chunk_size": (2**DRAW_BITS - 1, "a chunk holds at most every draw"),
    "replicates": (2**REPLICATE_BITS - 1,
                   f"a replicate has {REPLICATE_BITS} bits in its chance key"),
    "workers": (1024, "each is a process on this machine"),
    "seed": (2**63 - 1, "it is stored as a 64-bit integer"),
}

_T = TypeVar("_T")


def _given_or(value: _T | None, default: _T) -> _T:
    """*value* where a keyword gave one, else the scenario's *default*."""
    return default if value is None else value


def _is_sampler(name: str) -> TypeGuard[Sampler]:
    return name in SAMPLERS


def _is_keep(name: str) -> TypeGuard[Keep]:
    return name in KEEP


@dataclass(frozen=True, slots=True, kw_only=True)
class RunOptions:
    """Everything a run needs besides its scenario, checked (see :meth:`build`).

    >>> import threatsim
    >>> sc = threatsim.load_scenario("scenarios/financing.toml")
    >>> opts = RunOptions.build(sc, draws=500, seed=3)
    >>> opts.draws, opts.seed, opts.sampler, type(opts.executor).__name__
    (500, 3, 'mc', 'InProcessExecutor')
    >>> RunOptions.build(sc, sampler="halton")
    Traceback (most recent call last):
    ...
    threatsim.core.errors.ScenarioError: sampler='halton' must be one of mc, lhs, sobol
    """

    draws: int
    seed: int
    sampler: Sampler
    chunk_size: int
    replicates: int
    #: Worker processes the scenario (or an ``executor=`` number) asks for.
    workers: int
    #: Who runs the chunks (resolved from ``executor=``, see
    #: :func:`~threatsim.engine.executors.resolve_executor`).
    executor: ChunkExecutor
    #: A progress bar on stderr (True), none (False), a bar when stderr is a terminal
    #: (None), or a callback told ``(done, total, label)`` (:mod:`threatsim.engine.progress`).
    progress: ProgressArg = None
    keep: Keep = "draws"
    #: Bytes the run may hold (:func:`~threatsim.engine.budget.resolve_budget`); the
    #: runner refuses, with the figure, a run whose estimate exceeds it.
    memory_budget: int = 2**62
    #: A posterior sample (:func:`threatsim.results.open_posterior`) whose equally
    #: weighted resample replaces the sampled parameters' draws; None: the prior.
    posterior: Posterior | None = None

    @classmethod
    def build(cls, scenario: Scenario, *, draws: int | None = None, seed: int | None = None,
              sampler: str | None = None, chunk_size: int | None = None,
              replicates: int | None = None, executor: ExecutorArg = None,
              progress: ProgressArg = None, keep: str | None = None,
              memory_budget: int | float | str | None = None,
              force_workers: bool = False,
              posterior: Posterior | str | os.PathLike[str] | None = None) -> RunOptions:
        """The options of a run of *scenario*: the keywords given, else its ``[run]``.

        *executor*: ``None`` (the scenario's ``run.workers``), a number of
        worker processes, a ``distributed.Client``, or an object with
        ``map_chunks``. Worker processes on this machine (``None`` or a number)
        are capped at the CPUs this process may use, saying so (logger
        ``threatsim``, WARNING), unless *force_workers*; a ``Client`` or an
        executor object has the size its maker gave it.
        *memory_budget*: bytes, or text such as ``"4GB"`` or ``"50%"``
        (default: ``THREATSIM_MEMORY_BUDGET``, else half the memory available).
        *posterior*: a :class:`~threatsim.results.Posterior` or the path of a
        posterior file, checked against *scenario* (:meth:`Posterior.check`);
        default: the file the scenario's ``posterior`` key names, if any.

        >>> import threatsim
        >>> sc = threatsim.load_scenario("scenarios/financing.toml")
        >>> RunOptions.build(sc, memory_budget="2GB").memory_budget
        2000000000
        >>> RunOptions.build(sc, draws=2**40)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        threatsim.core.errors.ScenarioError: draws=1099511627776 must be a whole number ...

        Raises
        ------
        ScenarioError
            A value out of range (naming the key), an unknown sampler or
            ``keep``, an executor of no known kind, a bad memory budget.
        """
        workers = executor if isinstance(executor, int) and not isinstance(executor, bool) \
            else None
        run = scenario.run
        settings = RunSettings(draws=_given_or(draws, run.draws), seed=_given_or(seed, run.seed),
                               sampler=_given_or(sampler, run.sampler),
                               chunk_size=_given_or(chunk_size, run.chunk_size),
                               workers=_given_or(workers, run.workers),
                               replicates=_given_or(replicates, run.replicates))
        for key, low in _WHOLE.items():
            value = getattr(settings, key)
            if (isinstance(value, bool) or not isinstance(value, (int, np.integer))
                    or value < low):
                raise ScenarioError(f"must be a whole number >= {low}", key=key, value=value)
            high, why = LIMITS[key]
            if value > high:
                raise ScenarioError(f"must be a whole number from {low} to {high} ({why})",
                                    key=key, value=value)
        if not _is_sampler(settings.sampler):
            raise ScenarioError(f"must be one of {', '.join(SAMPLERS)}", key="sampler",
                                value=settings.sampler)
        keep = keep if keep is not None else "draws"
        if not _is_keep(keep):
            raise ScenarioError(f"must be one of {', '.join(KEEP)}", key="keep", value=keep)
        budget = resolve_budget(memory_budget)
        n_workers = int(settings.workers)
        if executor is None or workers is not None:  # processes on this machine
            n_workers = capped_workers(n_workers, force=force_workers)
        if posterior is None and scenario.posterior is not None:
            posterior = scenario.posterior  # the scenario file's posterior key
        if posterior is not None and not isinstance(posterior, Posterior):
            posterior = open_posterior(posterior)
        if posterior is not None:
            posterior.check(scenario)
        # A run of one chunk has nothing to share out: in-process, whatever the workers
        # (a pool would only add its start); several: threads or processes, as the model
        # declares chunks of this size run best (ModelInfo.parallel_for; docs/scaling.md).
        chunks = -(-settings.draws // settings.chunk_size)
        parallel = get_model(scenario.model).info.parallel_for(settings.chunk_size)
        local = 1 if chunks < 2 and (executor is None or workers is not None) else n_workers
        return cls(draws=settings.draws, seed=settings.seed, sampler=settings.sampler,
                   chunk_size=settings.chunk_size, replicates=settings.replicates,
                   workers=n_workers, executor=resolve_executor(executor, local, parallel),
                   progress=progress, keep=keep, memory_budget=budget, posterior=posterior)

    @property
    def settings(self) -> RunSettings:
        """The run settings a Dataset records (``[run]`` as run).

        >>> import threatsim
        >>> sc = threatsim.load_scenario("scenarios/financing.toml")
        >>> RunOptions.build(sc, draws=10).settings.draws
        10
        """
        return RunSettings(draws=self.draws, seed=self.seed, sampler=self.sampler,
                           chunk_size=self.chunk_size, workers=self.workers,
                           replicates=self.replicates)

    @property
    def show_progress(self) -> bool:
        """Whether progress is shown or told (``progress``; None: stderr is a terminal).

        >>> import threatsim
        >>> sc = threatsim.load_scenario("scenarios/financing.toml")
        >>> RunOptions.build(sc, progress=False).show_progress
        False
        """
        return progress_shown(self.progress)


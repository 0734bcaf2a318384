"""An executor that reuses the chunks it has run: a run that grows only adds chunks.

:func:`threatsim.analysis.convergence.run_to_precision` doubles a run's draws;
with the same seed and chunk size the first chunks of the larger run are the
chunks already run, and are not run again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from threatsim.engine.executors import ChunkExecutor
from threatsim.engine.plan import ChunkTask

__all__ = ["ReuseChunks"]


class ReuseChunks:
    """An executor that remembers finished chunks and reuses one when its task is the same.

    A chunk's result is a pure function of its task (model, parameter
    values, levers, seed, the draw indices its chance is keyed by), so a chunk
    seen before is not rerun.

    >>> import threatsim
    >>> from threatsim.engine.runner import run
    >>> sc = threatsim.load_scenario("scenarios/financing.toml")
    >>> from threatsim.engine.executors import InProcessExecutor
    >>> reuse = ReuseChunks(InProcessExecutor())
    >>> _ = run(sc, draws=200, chunk_size=100, executor=reuse, progress=False)
    >>> _ = run(sc, draws=400, chunk_size=100, executor=reuse, progress=False)
    >>> reuse.reused
    2
    """

    #: Results are kept from one run to the next: chunks must not write into a run's
    #: buffers (they would be reused without being written again).
    shares_memory = False

    def __init__(self, inner: ChunkExecutor) -> None:
        self.inner = inner
        self._done: dict[int, tuple[ChunkTask, Any]] = {}
        self.reused = 0

    @staticmethod
    def _same(a: ChunkTask, b: ChunkTask) -> bool:
        if (a.model, a.n_months, a.seed, a.replicates, a.outputs) != (
                b.model, b.n_months, b.seed, b.replicates, b.outputs):
            return False
        for x, y in ((a.params, b.params), (a.levers, b.levers)):
            if x.keys() != y.keys() or not all(np.array_equal(x[k], y[k]) for k in x):
                return False
        return np.array_equal(a.draw_index(), b.draw_index())

    def map_chunks(self, fn: Callable[[ChunkTask], Any],
                   tasks: Iterable[ChunkTask]) -> Iterator[Any]:
        todo: dict[int, ChunkTask] = {}
        for task in tasks:
            seen = self._done.get(task.index)
            if seen is not None and self._same(seen[0], task):
                self.reused += 1
                yield seen[1]
            else:
                todo[task.index] = task
        for result in self.inner.map_chunks(fn, list(todo.values())):
            self._done[result[0]] = (todo[result[0]], result)
            yield result

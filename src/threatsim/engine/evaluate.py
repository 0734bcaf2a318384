"""Running a scenario's model on given parameter values (not sampled by the engine).

Analyses that design their own inputs (a Sobol design for sensitivity
indices) hand the values to :func:`evaluate`; it caps nested quantities at
their parents as sampling does, cuts the draws into the options' chunks and
runs them on the options' executor, each chunk with its own stream keyed by
its index: the same values, bit for bit, on every executor.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

import numpy as np

from threatsim.engine.options import RunOptions
from threatsim.engine.plan import Plan, run_chunk
from threatsim.engine.sampling import cap_shares
from threatsim.inputs.scenario import Scenario

__all__ = ["evaluate"]


def evaluate(scenario: Scenario, values: Mapping[str, np.ndarray], options: RunOptions, *,
             outputs: Iterable[str] | None = None,
             ) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
    """The model's outputs on *values* (parameter -> values over draws), chunk by chunk.

    Yields ``(first draw, outputs)`` for every chunk of ``options.chunk_size``
    draws, in any order; each output is ``(chunk draws[, replicate], *dims)``,
    as a run has it. *values* must give every parameter of the scenario (they
    are copied; a nested quantity is capped at its parent's value, as
    sampling does). *outputs*: the outputs to compute (default: the
    scenario's ``outputs.variables``). The draws, seed and sampler of
    *options* play no part (the values are given); its chunk size,
    replicates and executor do.

    >>> import threatsim
    >>> sc = threatsim.load_scenario("scenarios/financing.toml")
    >>> opts = RunOptions.build(sc, chunk_size=2)
    >>> values = {name: np.full(3, p.dist.ppf(np.array([0.5]))[0])
    ...           for name, p in sc.parameters.items()}
    >>> sorted((lo, out["depletion_month"].shape) for lo, out in
    ...        evaluate(sc, values, opts, outputs=["depletion_month"]))
    [(0, (2,)), (2, (1,))]
    """
    params = {name: np.array(v) for name, v in values.items()}
    sizes = {v.shape for v in params.values()}
    if len(sizes) != 1 or len(next(iter(sizes))) != 1:
        raise ValueError(f"values must be 1-d arrays of one length, got shapes {sorted(sizes)}")
    cap_shares(scenario.parameters, params)
    names = frozenset(outputs) if outputs is not None else None
    plan = Plan(scenario, options, params, draws=next(iter(sizes))[0], outputs=names)
    tasks = (plan.task(i) for i in range(plan.n_chunks))
    for index, result in options.executor.map_chunks(run_chunk, tasks):
        yield plan.bounds(index)[0], result

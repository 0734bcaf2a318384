"""Running a scenario's model on given parameter values (not sampled by the engine).

Analyses that design their own inputs (a Sobol design for sensitivity
indices) hand the values to :func:`evaluate`; it caps nested quantities at
their parents as sampling does, cuts the draws into the options' chunks and
runs them on the options' executor. Each row's chance is that of a draw index
(its position unless the caller names another, so that the rows of a design's
matrices can share one draw's chance): the same values, bit for bit, on every
executor and at every chunk size.
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
             outputs: Iterable[str] | None = None, chance_draws: np.ndarray | None = None,
             ) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
    """The model's outputs on *values* (parameter -> values over draws), chunk by chunk.

    Yields ``(first draw, outputs)`` for every chunk of ``options.chunk_size``
    draws, in any order; each output is ``(chunk draws[, replicate], *dims)``,
    as a run has it. *values* must give every parameter of the scenario (they
    are copied; a nested quantity is capped at its parent's value, as
    sampling does). *outputs*: the outputs to compute (default: the
    scenario's ``outputs.variables``). *chance_draws*: for each row, the draw
    index whose chance (binomial transitions, shocks, event times) it uses
    (default: its position, ``0, 1, ...``); rows given the same index see the
    same random numbers, as a run's draw of that index does. The draws and
    sampler of *options* play no part (the values are given); its seed (the
    chance), replicates and executor do; its chunk size changes no value.

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
    n = next(iter(sizes))[0]
    if chance_draws is not None:
        chance_draws = np.asarray(chance_draws, dtype=np.int64)
        if chance_draws.shape != (n,):
            raise ValueError(f"chance_draws must give one draw index per row ({n}), got "
                             f"shape {chance_draws.shape}")
    plan = Plan(scenario, options, params, draws=n, outputs=names, chance_draws=chance_draws)
    tasks = (plan.task(i) for i in range(plan.n_chunks))
    for index, result in options.executor.map_chunks(run_chunk, tasks):
        yield plan.bounds(index)[0], result

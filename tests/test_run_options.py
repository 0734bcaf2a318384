"""Run options built once; the executor contract's shares_memory; evaluate() on given values."""

from __future__ import annotations

import typing

import numpy as np
import pytest
import xarray as xr
from tests.conftest import SCENARIOS
from tests.model_contract import cut_scenario

import threatsim
from threatsim.core.errors import ScenarioError
from threatsim.engine.evaluate import evaluate
from threatsim.engine.executors import (
    InProcessExecutor,
    ProcessPoolChunkExecutor,
    ThreadPoolChunkExecutor,
)
from threatsim.engine.options import KEEP, SAMPLERS, Keep, RunOptions, Sampler
from threatsim.engine.plan import Plan
from threatsim.engine.shipping import crosses_processes
from threatsim.models.registry import get_model


@pytest.fixture(scope="module")
def financing():
    return threatsim.load_scenario(SCENARIOS / "financing.toml")


class RecordingInProcess(InProcessExecutor):
    """An in-process executor that notes which function it ran the chunks with."""

    def __init__(self) -> None:
        self.functions: list[str] = []

    def map_chunks(self, fn, tasks):
        self.functions.append(fn.__name__)
        yield from super().map_chunks(fn, tasks)


def test_a_subclass_of_the_in_process_executor_runs_in_process():
    """A subclass of InProcessExecutor shares this process's memory: chunks are neither
    shipped (narrowed, draws last) nor kept out of the run's buffers. The old test
    (``type(executor) is not InProcessExecutor``) sent it down the cross-process path:
    run_chunk_shipped, and no direct buffers."""
    model = next(m for m in ("fighters", "detention", "financing", "financing_events")
                 if get_model(m).writes_into_buffers)
    sc = next(threatsim.load_scenario(p) for p in sorted(SCENARIOS.glob("*.toml"))
              if threatsim.load_scenario(p).model == model)
    ex = RecordingInProcess()
    assert not crosses_processes(ex)
    opts = RunOptions.build(sc, draws=12, chunk_size=5, replicates=1, executor=ex)
    assert Plan.for_run(sc, opts).direct_buffers() is not None
    got = threatsim.run(sc, draws=12, chunk_size=5, replicates=1, executor=ex, progress=False)
    assert ex.functions == ["run_chunk"]
    xr.testing.assert_identical(got, threatsim.run(sc, draws=12, chunk_size=5, replicates=1,
                                                   progress=False))


def test_an_executor_that_does_not_declare_shares_memory_counts_as_remote():
    """Only a declared ``shares_memory = True`` gives the in-process path."""

    class Undeclared:
        def map_chunks(self, fn, tasks):
            return map(fn, tasks)

    class SaysNo(InProcessExecutor):
        shares_memory = False

    assert crosses_processes(Undeclared())
    assert crosses_processes(SaysNo())
    assert crosses_processes(ProcessPoolChunkExecutor(2))
    assert not crosses_processes(InProcessExecutor())


def test_option_names_come_from_the_literal_aliases():
    assert SAMPLERS == typing.get_args(Sampler) == ("mc", "lhs", "sobol")
    assert KEEP == typing.get_args(Keep) == ("draws", "summary")


def test_options_are_checked_once_with_the_run_messages(financing):
    """RunOptions.build raises what run() raised, naming the key."""
    with pytest.raises(ScenarioError, match="draws=0 must be a whole number >= 1"):
        RunOptions.build(financing, draws=0)
    with pytest.raises(ScenarioError, match="seed=-1 must be a whole number >= 0"):
        RunOptions.build(financing, seed=-1)
    with pytest.raises(ScenarioError, match="sampler='qmc' must be one of mc, lhs, sobol"):
        RunOptions.build(financing, sampler="qmc")
    with pytest.raises(ScenarioError, match="keep='all' must be one of draws, summary"):
        RunOptions.build(financing, keep="all")
    with pytest.raises(ScenarioError, match="executor='str' must be None"):
        RunOptions.build(financing, executor="many")
    # Three chunks on three workers (any CPUs): threads, as the financing model declares.
    opts = RunOptions.build(financing, draws=30, chunk_size=10, executor=3, force_workers=True)
    assert (opts.workers, type(opts.executor)) == (3, ThreadPoolChunkExecutor)
    assert opts.settings == financing.run.__class__(
        draws=30, seed=financing.run.seed, sampler=financing.run.sampler,
        chunk_size=10, workers=3, replicates=financing.run.replicates)
    # One chunk has nothing to share out: in-process, whatever the workers.
    one = RunOptions.build(financing, draws=30, chunk_size=30, executor=3, force_workers=True)
    assert (one.workers, type(one.executor)) == (3, InProcessExecutor)


@pytest.mark.parametrize("replicates", [1, 2])
def test_evaluate_on_a_runs_parameters_gives_the_runs_outputs(financing, replicates):
    """evaluate() on the parameters a run sampled gives that run's outputs, bit for bit
    (same chunks, same streams), whatever the order the chunks come back in."""
    ds = threatsim.run(financing, draws=23, chunk_size=5, seed=4, replicates=replicates,
                       progress=False)
    values = {name: ds[name].values for name in financing.parameters}
    opts = RunOptions.build(financing, draws=23, chunk_size=5, seed=4, replicates=replicates)
    out = {}
    for lo, result in evaluate(financing, values, opts, outputs=["reserves"]):
        out[lo] = result["reserves"]
    assert sorted(out) == [0, 5, 10, 15, 20]
    got = np.concatenate([out[k] for k in sorted(out)])
    np.testing.assert_array_equal(got, ds["reserves"].values)


def _evaluated(scenario, values, opts, **kw) -> np.ndarray:
    out = dict(evaluate(scenario, values, opts, outputs=["population_total"], **kw))
    return np.concatenate([out[k]["population_total"] for k in sorted(out)])


def test_evaluate_lets_rows_share_a_draws_chance():
    """chance_draws: rows given one draw index get that draw's chance (the same numbers for
    the same values), rows left at their positions do not; the chunk size changes nothing;
    a row keyed by draw j is that draw of a run at any chunk size."""
    # as before issue 19: the fall of Hajin is dated beyond a 6-month run
    fighters = cut_scenario(threatsim.load_scenario(
        SCENARIOS.parent / "tests" / "data" / "before_issue19" / "scenarios" / "fighters.toml"), 6)
    ds = threatsim.run(fighters, draws=8, seed=4, chunk_size=3, progress=False)
    one = {name: np.repeat(ds[name].values[5:6], 6) for name in fighters.parameters}
    for chunk_size in (1, 4, 64):
        opts = RunOptions.build(fighters, draws=6, chunk_size=chunk_size, seed=4)
        shared = _evaluated(fighters, one, opts, chance_draws=np.full(6, 5))
        for row in shared:  # every row is draw 5 of the run, bit for bit
            np.testing.assert_array_equal(row, ds["population_total"].values[5])
        own = _evaluated(fighters, one, opts)  # rows 0-5: draws 0-5's chance
        assert len({row.tobytes() for row in own}) == 6
        np.testing.assert_array_equal(own[5], shared[0])
    with pytest.raises(ValueError, match="one draw index per row"):
        next(evaluate(fighters, one, opts, chance_draws=np.arange(5)))

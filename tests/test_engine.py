"""The engine: determinism across executors and chunk order, common random numbers."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import threatsim
from threatsim.engine.executors import InProcessExecutor
from threatsim.engine.plan import ChunkTask, place_draws, run_chunk
from threatsim.engine.sampling import sample_parameters
from threatsim.inputs.distributions import DistSpec
from threatsim.inputs.scenario import Parameter


class ReversedExecutor:
    """Runs chunks last-to-first, so results arrive in the opposite order."""

    def map_chunks(self, fn, tasks):
        for task in reversed(list(tasks)):
            yield fn(task)


class ShuffledExecutor:
    """Runs chunks in a random order."""

    def __init__(self, seed: int) -> None:
        self.order_rng = np.random.default_rng(seed)

    def map_chunks(self, fn, tasks):
        tasks = list(tasks)
        for i in self.order_rng.permutation(len(tasks)):
            yield fn(tasks[i])


@pytest.fixture(scope="module")
def scenario():
    from tests.conftest import SCENARIOS

    path = SCENARIOS / "financing.toml"
    return threatsim.load_scenario(path if path.exists() else SCENARIOS / "baseline.toml")


def test_same_seed_gives_identical_datasets(scenario):
    """Two runs with the same inputs are bit-identical."""
    a = threatsim.run(scenario, draws=3000, seed=11, chunk_size=500)
    b = threatsim.run(scenario, draws=3000, seed=11, chunk_size=500)
    xr.testing.assert_identical(a, b)
    c = threatsim.run(scenario, draws=3000, seed=12, chunk_size=500)
    assert not np.array_equal(a["reserves"].values, c["reserves"].values)


def test_process_pool_matches_in_process(scenario):
    """--workers 2 gives the same Dataset as in-process at the same chunk size."""
    a = threatsim.run(scenario, draws=4000, seed=5, chunk_size=700, executor=InProcessExecutor())
    b = threatsim.run(scenario, draws=4000, seed=5, chunk_size=700, executor=2)
    xr.testing.assert_identical(a, b)


@pytest.mark.parametrize("executor", [ReversedExecutor(), ShuffledExecutor(3)])
def test_chunks_finishing_in_any_order(scenario, executor):
    """The order in which chunks finish does not change a single bit."""
    # Make chance matter: cache discoveries are Poisson shocks drawn from chunk streams.
    sc = scenario.with_values({"levers.cache_search_intensity": 20.0})
    a = threatsim.run(sc, draws=2500, seed=9, chunk_size=300)
    b = threatsim.run(sc, draws=2500, seed=9, chunk_size=300, executor=executor)
    xr.testing.assert_identical(a, b)


def test_common_random_numbers_between_baseline_and_whatif():
    """A what-if with the same seed sees the same sampled parameters as the baseline."""
    base = threatsim.load_scenario("scenarios/baseline.toml")
    what = threatsim.load_scenario("scenarios/whatif/counter_financing_doubled.toml")
    a = threatsim.run(base, draws=2000, seed=4)
    b = threatsim.run(what, draws=2000, seed=4)
    for name in base.parameters:
        np.testing.assert_array_equal(a[name].values, b[name].values)
    # ...and the levers do change the outcome, in the expected direction on every draw
    # until a draw of the what-if first empties its reserves: from then on the coupled
    # model's feedback (fewer recruits, more desertion) changes how much chance the
    # fighters' draws use, so the paired paths no longer share their random numbers.
    first_empty = int(np.argmax((b["reserves"] == 0).any("draw").values))
    assert first_empty > 0
    early = {"time": slice(0, first_empty + 1)}
    assert bool((b["reserves"].isel(early) <= a["reserves"].isel(early)).all())
    assert bool((b["reserves"].isel(time=-1) < a["reserves"].isel(time=-1)).any())
    assert float(b["reserves"].isel(time=-1).mean()) < float(a["reserves"].isel(time=-1).mean())


def _param(name: str, low: float, high: float) -> Parameter:
    return Parameter(name=name, dist=DistSpec(kind="uniform", low=low, high=high),
                     unit="usd", assumption="test")


@pytest.mark.parametrize("sampler", ["mc", "lhs"])
def test_each_parameter_has_its_own_stream(sampler):
    """Adding or removing other parameters never changes a shared parameter's values."""
    a = sample_parameters({"x": _param("x", 0, 1), "y": _param("y", 0, 1)}, 1000, seed=1,
                          sampler=sampler)
    b = sample_parameters({"z": _param("z", 5, 6), "x": _param("x", 0, 1)}, 1000, seed=1,
                          sampler=sampler)
    np.testing.assert_array_equal(a["x"], b["x"])
    assert not np.array_equal(a["x"], a["y"])


def test_latin_hypercube_puts_one_draw_in_each_stratum():
    """LHS: each of the n equal-probability strata holds exactly one draw, per parameter."""
    n = 512
    s = sample_parameters({"x": _param("x", 0, 1), "y": _param("y", 0, 1)}, n, seed=2,
                          sampler="lhs")
    for v in s.values():
        assert np.array_equal(np.sort(np.floor(v * n)), np.arange(n))


def test_sobol_design_is_balanced():
    """Scrambled Sobol with a power-of-2 size has exactly n/2 points in each half of [0, 1)."""
    s = sample_parameters({"x": _param("x", 0, 1), "y": _param("y", 0, 1)}, 1024, seed=3,
                          sampler="sobol")
    for v in s.values():
        assert np.count_nonzero(v < 0.5) == 512


def test_replicates_add_a_replicate_dim(scenario):
    """replicates=R adds a replicate dim after draw; parameters stay on draw."""
    sc = scenario.with_values({"levers.cache_search_intensity": 20.0})
    ds = threatsim.run(sc, draws=300, seed=1, replicates=3, chunk_size=100)
    assert ds["reserves"].dims == ("draw", "replicate", "time")
    assert ds["reserves_initial"].dims == ("draw",)
    # same parameters, different chance: replicates of one draw start equal and then differ
    r = ds["reserves"].values
    assert np.all(r[:, 0, 0] == r[:, 1, 0])
    assert np.any(r[:, 0, -1] != r[:, 1, -1])


def test_run_chunk_is_a_pure_function_of_its_task(scenario):
    """Running the same chunk task twice, after other work, gives the same arrays."""
    sc = scenario.with_values({"levers.cache_search_intensity": 20.0})
    params = sample_parameters(sc.parameters, 200, seed=1)
    task = ChunkTask(index=3, first_draw=600, model=sc.model, params=params,
                     levers=sc.lever_schedule(), n_months=sc.horizon, seed=1, replicates=1,
                     outputs=frozenset(sc.variables))
    first = run_chunk(task)
    run_chunk(ChunkTask(**{**{f: getattr(task, f) for f in task.__slots__}, "index": 4,
                           "first_draw": 800}))
    again = run_chunk(task)
    assert first[0] == again[0] == 3
    for name in first[1]:
        np.testing.assert_array_equal(first[1][name], again[1][name])


def test_bad_run_settings(scenario):
    """draws < 1 and an unknown sampler are ScenarioErrors naming the key."""
    with pytest.raises(threatsim.ScenarioError, match="draws=0 must be a whole number >= 1"):
        threatsim.run(scenario, draws=0)
    with pytest.raises(threatsim.ScenarioError, match="sampler='qmc' must be one of"):
        threatsim.run(scenario, sampler="qmc")


def test_no_model_names_a_parameter_like_an_output():
    """Sampled parameters and outputs share the Dataset's namespace: their names never collide."""
    from threatsim.models import get_model, model_names

    for name in model_names():
        info = get_model(name).info
        clash = {p.name for p in info.parameters} & {o.name for o in info.outputs}
        assert clash == set(), (name, clash)


@pytest.mark.parametrize("shape", [(5,), (700, 61), (1_300, 61, 7), (3, 5, 2, 4), (1, 61)])
def test_place_draws_is_the_transposed_assignment(shape):
    """The blocked chunk placement equals ``buffer[..., lo:hi] = moveaxis(chunk, 0, -1)``."""
    rng = np.random.default_rng(0)
    chunk = rng.random(shape)
    buf = np.full((*shape[1:], 2_500), np.nan)
    ref = buf.copy()
    place_draws(buf, chunk, 37)
    ref[..., 37:37 + shape[0]] = np.moveaxis(chunk, 0, -1)
    np.testing.assert_array_equal(buf, ref)

"""Parameters made again where a chunk runs (``ParameterRecipe``), instead of sent.

A chunk task sent to another process carries, for the parameters its recipe names,
only their number of values; the receiving process samples draws ``[lo, hi)`` again by
skipping each parameter's stream ahead. These tests hold that to the contract of
common random numbers: the values are exactly (bit for bit) those of the whole sample
the client made, for any part of it; the samples that cannot be made in parts (LHS,
Sobol, rank-correlated groups, a posterior's resample) are never remade; and a task's
pickle carries no sampled values of the parameters remade. That runs on worker
processes and clusters equal the run in-process, every model, is
tests/test_executors.py::test_every_executor_gives_the_same_dataset.
"""

from __future__ import annotations

import dataclasses
import pickle

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.conftest import SCENARIOS

import threatsim
from threatsim.engine.cluster import Sealed, run_sealed
from threatsim.engine.options import RunOptions
from threatsim.engine.plan import REMADE_KINDS, ParameterRecipe, Plan, run_chunk, sample_lean
from threatsim.engine.sampling import sample_parameters, uniforms
from threatsim.engine.streams import parameter_stream
from threatsim.inputs.distributions import DistSpec
from threatsim.inputs.parts import Parameter


@st.composite
def _remakable_parameters(draw) -> dict[str, Parameter]:
    """A few parameters of the remade kinds, some integer, some capped by another
    (``share_of``, in chains: a share of a share)."""
    params: dict[str, Parameter] = {}
    for i in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(sorted(REMADE_KINDS)))
        integer = draw(st.booleans())
        if kind == "uniform":
            low = draw(st.floats(0, 1e4, allow_nan=False))
            dist = DistSpec(kind="uniform", low=low, high=low + draw(st.floats(1, 1e4)),
                            integer=integer)
        elif kind == "discrete":
            values = tuple(float(v) for v in
                           draw(st.lists(st.integers(0, 9000), min_size=1, max_size=4)))
            weights = tuple(draw(st.lists(st.floats(0.1, 5), min_size=len(values),
                                          max_size=len(values))))
            dist = DistSpec(kind="discrete", values=values, weights=weights, integer=integer)
        else:
            dist = DistSpec(kind="point", value=float(draw(st.integers(0, 9000))),
                            integer=integer)
        parent = draw(st.sampled_from([None, *params]))
        params[f"p{i}"] = Parameter(name=f"p{i}", dist=dist, unit="people",
                                    assumption="a test's", share_of=parent)
    return params


@settings(max_examples=60, deadline=None)
@given(params=_remakable_parameters(), n=st.integers(1, 400), data=st.data(),
       seed=st.integers(0, 2**32))
def test_any_part_of_a_sample_is_made_again_bit_for_bit(params, n, data, seed):
    """``sample_parameters(first=lo)`` of m draws is the whole sample's ``[lo, lo + m)``,
    caps and rounding included."""
    lo = data.draw(st.integers(0, n - 1), label="lo")
    m = data.draw(st.integers(1, n - lo), label="m")
    whole = sample_parameters(params, n, seed=seed)
    part = sample_parameters(params, m, seed=seed, first=lo)
    assert set(part) == set(whole)
    for name in whole:
        assert part[name].dtype == whole[name].dtype
        assert part[name].tobytes() == whole[name][lo:lo + m].tobytes(), name


def test_a_stream_skipped_ahead_is_the_stream_drawn_that_far():
    """PCG64.advance(k) is k 64-bit outputs, and each uniform takes one of them."""
    drawn = parameter_stream(3, "fighters").random(1000)
    for skip in (1, 7, 999):
        assert parameter_stream(3, "fighters", skip=skip).random() == drawn[skip]


@pytest.mark.parametrize("sampler", ["lhs", "sobol"])
def test_designs_drawn_whole_refuse_a_part(sampler):
    with pytest.raises(ValueError, match="whole"):
        uniforms(["a"], 10, seed=0, sampler=sampler, first=5)
    assert uniforms(["a"], 8, seed=0, sampler=sampler, first=0)["a"].shape == (8,)


def _correlated_fighters(write_scenario):
    path = write_scenario(
        f'extends = "{SCENARIOS / "fighters.toml"}"\nname = "corr"\n'
        '[[correlations]]\nbetween = ["kill_rate", "detention_rate"]\nrho = 0.5\n'
        'assumption = "a test\'s assumption"\n', "corr.toml")
    return threatsim.load_scenario(path)


def test_a_rank_correlated_group_is_never_sampled_in_parts(write_scenario):
    """Iman-Conover rearranges a group over the whole sample: a part is refused, and the
    recipe leaves the group's members (and nothing else) to travel."""
    sc = _correlated_fighters(write_scenario)
    with pytest.raises(ValueError, match="rank-correlated"):
        sample_parameters(sc.parameters, 10, seed=0, first=3)
    recipe = ParameterRecipe.of(sc, RunOptions.build(sc, draws=10, seed=0))
    assert recipe is not None
    assert {"kill_rate", "detention_rate"}.isdisjoint(recipe.names)
    plain = ParameterRecipe.of(threatsim.load_scenario(SCENARIOS / "fighters.toml"),
                               RunOptions.build(sc, draws=10, seed=0))
    assert plain is not None
    assert plain.names - recipe.names == {"kill_rate", "detention_rate"}


def test_the_recipe_names_only_what_is_exact_to_make_again():
    """Only mc runs without a posterior have a recipe; it names every sampled parameter of
    the remade kinds, and no lognormal or triangular one (their inverse CDFs may differ by
    an ulp between machines), no constant (it travels as one value anyway), and no share
    of a parent that travels."""
    sc = threatsim.load_scenario(SCENARIOS / "baseline.toml")
    opts = RunOptions.build(sc, draws=10, seed=0)
    recipe = ParameterRecipe.of(sc, opts)
    assert recipe is not None
    for name, p in sc.parameters.items():
        chain, parent = [p], p.share_of
        while parent is not None:
            chain.append(sc.parameters[parent])
            parent = sc.parameters[parent].share_of
        exact = all(q.dist.kind in REMADE_KINDS and q.correlated is None for q in chain)
        sampled = p.dist.kind != "point" or p.share_of is not None
        assert (name in recipe.names) == (exact and sampled), name
    assert {"reserves_initial", "upkeep_per_fighter"}.isdisjoint(recipe.names)
    # It holds what sampling those reads, the parents that cap them too, and no text.
    parents = {sc.parameters[k].share_of for k in recipe.names} - {None}
    assert set(recipe.parameters) == recipe.names | parents
    for name, kept in recipe.parameters.items():
        assert kept.dist == sc.parameters[name].dist
        assert kept.share_of == sc.parameters[name].share_of
        assert (kept.description, kept.source, kept.assumption) == ("", None, None)
    for sampler in ("lhs", "sobol"):
        assert ParameterRecipe.of(sc, dataclasses.replace(opts, sampler=sampler)) is None
    assert ParameterRecipe.of(sc, dataclasses.replace(opts, posterior=object())) is None


@pytest.mark.parametrize("scenario", ["baseline.toml", "fighters.toml"])
def test_a_pickled_chunk_task_carries_no_remade_values_and_comes_back_exact(scenario):
    """Every chunk of a run's plan comes back from a pickle with the client's parameter
    values bit for bit, and its pickle is the values that travel and some kilobytes: the
    remade ones (each chunk here 0.3-0.8 MB of them) cost next to nothing."""
    sc = threatsim.load_scenario(SCENARIOS / scenario)
    plan = Plan.for_run(sc, RunOptions.build(sc, draws=5000, chunk_size=2048, seed=4))
    assert plan.recipe is not None
    for index in range(plan.n_chunks):
        task = plan.task(index)
        data = pickle.dumps(task, protocol=pickle.HIGHEST_PROTOCOL)
        back = pickle.loads(data)
        assert set(back.params) == set(task.params)
        for name, values in task.params.items():
            got = back.params[name]
            assert got.dtype == values.dtype, name
            assert got.tobytes() == np.ascontiguousarray(values).tobytes(), name
        travelling = sum(v.nbytes for k, v in task.params.items()
                         if k not in plan.recipe.names and np.unique(v).size > 1)
        remade = sum(task.params[k].nbytes for k in plan.recipe.names)
        # The rest of a task (its recipe's parameters, levers, seeds) is some tens of KB.
        assert len(data) < travelling + 32_768 < remade / 4, (len(data), travelling, remade)


def test_a_sealed_argument_opens_on_the_worker_as_it_was():
    """Sealed pickles once on the client (cloudpickle for what pickle refuses: a class
    defined in a function); run_sealed opens it."""

    @dataclasses.dataclass
    class Local:
        values: np.ndarray

    task = Local(np.arange(5.0))
    sealed = pickle.loads(pickle.dumps(Sealed.of(task)))  # as a scheduler passes it on
    assert run_sealed(lambda t, k: float(t.values.sum()) * k, sealed, 2) == 20.0
    assert run_sealed(len, Sealed.of([1, 2, 3])) == 3


# -- parameters made late: a large summary in this process ---------------------------


@settings(max_examples=40, deadline=None)
@given(data=st.data(), seed=st.integers(0, 2**32))
def test_sampling_some_parameters_gives_their_values_in_the_whole_sample(data, seed):
    """``sample_lean(only=...)`` of any subset of baseline's parameters (shares whose
    parents are left out among them) is exactly those parameters of the whole sample."""
    sc = threatsim.load_scenario(SCENARIOS / "baseline.toml")
    opts = RunOptions.build(sc, draws=300, seed=seed)
    subset = data.draw(st.sets(st.sampled_from(sorted(sc.parameters))), label="only")
    whole = sample_lean(sc, opts, constants_as_views=True)
    some = sample_lean(sc, opts, constants_as_views=True, only=subset)
    assert list(some) == [k for k in sc.parameters if k in subset]  # the scenario's order
    for name, values in some.items():
        assert values.tobytes() == whole[name].tobytes(), name


@pytest.mark.parametrize("scenario", ["baseline.toml", "fighters.toml"])
def test_a_plan_made_late_makes_each_chunk_and_then_the_sample_exactly(scenario):
    """A plan whose recipe's parameters are made late holds none of their values; each
    task makes its chunk's where it runs (here, or after a pickle), the same outputs as
    the plan sampled up front; complete_parameters then makes exactly its sample."""
    sc = threatsim.load_scenario(SCENARIOS / scenario)
    opts = RunOptions.build(sc, draws=1500, chunk_size=600, seed=4)
    up_front = Plan.for_run(sc, opts, lean=True)
    late = Plan.for_run(sc, opts, lean=True, late_above=0)
    assert late.recipe is not None
    assert late.late
    assert late.late == late.recipe.names
    assert late.late.isdisjoint(late.params)
    for index in range(late.n_chunks):
        task = late.task(index)
        assert list(task.params) == list(sc.parameters)
        assert task.draw_index().tolist() == up_front.task(index).draw_index().tolist()
        _, want = run_chunk(up_front.task(index))
        for got in (run_chunk(task)[1], run_chunk(pickle.loads(pickle.dumps(task)))[1]):
            assert set(got) == set(want)
            for name in want:
                assert got[name].tobytes() == want[name].tobytes(), (index, name)
    # above the threshold only: the sample is made up front below it
    assert not Plan.for_run(sc, opts, lean=True, late_above=10**12).late
    late.complete_parameters()
    assert not late.late
    assert list(late.params) == list(up_front.params)
    for name, values in up_front.params.items():
        assert late.params[name].tobytes() == values.tobytes(), name


@pytest.mark.parametrize(("scenario", "executor"), [("baseline.toml", None),
                                                     ("fighters.toml", "threads")])
def test_a_large_summary_made_late_is_the_summary_sampled_up_front(scenario, executor,
                                                                   monkeypatch):
    """threatsim.run(keep="summary") with its parameters made late (the threshold
    lowered to 0, as if the run were large) returns the identical Dataset, every
    parameter's values included; the plan it ran did make them late."""
    from threatsim.engine import runner
    from threatsim.engine.executors import ThreadPoolChunkExecutor

    sc = threatsim.load_scenario(SCENARIOS / scenario)

    def run() -> xr.Dataset:
        ex = ThreadPoolChunkExecutor(2) if executor == "threads" else None
        return threatsim.run(sc, draws=1200, chunk_size=500, seed=11, keep="summary",
                             executor=ex, progress=False)

    made_late: list[frozenset[str]] = []
    complete = Plan.complete_parameters

    def spy(self: Plan) -> None:
        made_late.append(self.late)
        complete(self)

    monkeypatch.setattr(Plan, "complete_parameters", spy)
    before = run()
    assert made_late == [frozenset()]  # 1,200 draws: far below the threshold
    monkeypatch.setattr(runner, "LATE_PARAMETERS_BYTES", 0)
    after = run()
    assert made_late[1]
    assert made_late[1] == ParameterRecipe.of(sc, RunOptions.build(sc, draws=1200, seed=11)).names
    xr.testing.assert_identical(after, before)

"""The compiled event loop (models/detention/events.py) against SimPy, the reference semantics.

Both are fed the very same cases and a Generator in the same state; the traces
must be equal exactly (every time bit for bit: the kernel repeats SimPy's
arithmetic, so a difference of any size means a different order of events), and
the repatriation Generator must end in the same state (the same calls on it).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.conftest import SCENARIOS

import threatsim
from threatsim.core import compiled
from threatsim.models.detention import events
from threatsim.models.detention import model as det
from threatsim.models.detention.cases import (
    DAYS_PER_MONTH,
    GivenArrivals,
    Plan,
    Trace,
    draw_batch,
    draw_cases,
)
from threatsim.models.detention.simpy_des import simulate_replication
from threatsim.models.registry import MODELS
from threatsim.stats.variates import ChanceStreams

pytestmark = pytest.mark.skipif(not compiled.available(), reason="numba is not installed")

FIELDS = ("screen_end", "trial_start", "trial_end", "exempt", "repatriated_at",
          "repatriated_from", "dependant_repatriated_at")


def _assert_same_trace(got: Trace, want: Trace) -> None:
    for name in FIELDS:
        a, b = getattr(got, name), getattr(want, name)
        assert a.dtype == b.dtype, name
        np.testing.assert_array_equal(a, b, err_msg=name)


def _both(cases: Any, plan: Plan, seed: int) -> tuple[Trace, Trace]:
    """The compiled trace and SimPy's, each with its own Generator from *seed*; the two
    Generators must end in the same state."""
    rng_fast = np.random.Generator(np.random.PCG64(seed))
    rng_ref = np.random.Generator(np.random.PCG64(seed))
    fast = events.simulate_events(cases, plan, rng_fast)
    ref = simulate_replication(cases, plan, rng_ref)
    assert rng_fast.bit_generator.state == rng_ref.bit_generator.state
    return fast, ref


# Durations that make ties: fixed (duration_cv 0) and a month, half or a quarter of one,
# or two months, so that events coincide with each other and with month boundaries. Two
# months matter: a trial or screening that starts at 0 and ends on the boundary of month
# 2 was scheduled before that boundary's control Timeout (scheduled at month 1), so SimPy
# ends it first and takes the freed server's Release event after the round.
_DAYS = st.sampled_from([0.0, 0.5, 3.0, DAYS_PER_MONTH / 4, DAYS_PER_MONTH / 2,
                         DAYS_PER_MONTH, 2 * DAYS_PER_MONTH])
_TRIAL_DAYS = st.sampled_from([0.5, 3.0, 10.0, DAYS_PER_MONTH / 4, DAYS_PER_MONTH / 2,
                               DAYS_PER_MONTH, 2 * DAYS_PER_MONTH])


@st.composite
def _setting(draw: st.DrawFn) -> tuple[dict[str, float], dict[str, np.ndarray], int]:
    months = draw(st.integers(1, 6))
    row = {
        "detained_iraq": float(draw(st.integers(0, 25))),
        "detained_syria": float(draw(st.integers(0, 5))),
        "dependants_syria": float(draw(st.integers(0, 12))),
        "arrivals_per_month": float(draw(st.sampled_from([0, 2, 8, 20]))),
        "arrivals_foreign_share": draw(st.sampled_from([0.0, 0.4, 1.0])),
        "dependants_child_share": draw(st.sampled_from([0.0, 0.5, 1.0])),
        "screening_days": draw(_DAYS),
        "trial_days": draw(_TRIAL_DAYS),
        "duration_cv": draw(st.sampled_from([0.0, 0.0, 0.5, 1.0, 2.0])),
        "conviction_share": 0.7,
        "sentence_months": 3.0,
    }

    def monthly(values: st.SearchStrategy[float]) -> np.ndarray:
        return np.array(draw(st.lists(values, min_size=months, max_size=months)), dtype=float)

    levers = {
        "screening_teams": monthly(st.sampled_from([1, 2, 3, 5])),
        "courts": monthly(st.sampled_from([1, 2, 4])),
        "exemption_share": monthly(st.sampled_from([0.0, 0.0, 0.3, 1.0])),
        "repatriation_rate": monthly(st.sampled_from([0.0, 0.2, 0.5, 1.0])),
        "children_first": monthly(st.sampled_from([0, 1])),
    }
    return row, levers, months


@settings(max_examples=300, deadline=None)
@given(setting=_setting(), seed=st.integers(0, 2**32 - 1))
def test_compiled_events_give_simpys_trace(setting, seed):
    """Any small plan (rounds, children first by month, capacities up and down, exemption
    shares, ties from fixed durations): the same trace and the same Generator state."""
    row, levers, months = setting
    plan = Plan.from_levers(levers, months)
    cases = draw_cases(row, months, ChanceStreams(seed=seed % 1000, draw_index=[seed % 7]))
    fast, ref = _both(cases, plan, seed)
    _assert_same_trace(fast, ref)


@settings(max_examples=100, deadline=None)
@given(setting=_setting(), seed=st.integers(0, 2**32 - 1), data=st.data())
def test_compiled_events_give_simpys_trace_on_given_arrivals(setting, seed, data):
    """Arrivals counted by another model (fighters_detention): local and foreign initial
    stock, month by month arrivals (the last of a month may fall on its boundary)."""
    row, levers, months = setting
    counts = st.integers(0, 6)
    given_arrivals = GivenArrivals(
        initial=np.array([[data.draw(counts), data.draw(counts)]]),
        monthly=np.array([[[data.draw(counts), data.draw(counts)] for _ in range(months)]]),
        dependants=np.array([data.draw(counts)]))
    plan = Plan.from_levers(levers, months)
    cases = draw_batch([row], months, ChanceStreams(seed=seed % 1000, draw_index=[0]),
                       given=given_arrivals).case(0)
    fast, ref = _both(cases, plan, seed)
    _assert_same_trace(fast, ref)


def test_the_shipped_scenarios_chance_gives_simpys_traces():
    """Large replications of the shipped detention scenario (thousands of detainees, 48
    monthly rounds, children first): traces equal to SimPy's."""
    sc = threatsim.load_scenario(SCENARIOS / "detention_iraq_syria.toml")
    from threatsim.engine.sampling import sample_parameters
    params = sample_parameters(sc.parameters, 3, seed=5)
    levers = sc.lever_schedule()
    taken = np.zeros(2, dtype=np.int64)  # dependants, detainees waiting for screening
    for courts in (20, 56):
        lv = {**levers, "courts": np.full(sc.horizon, float(courts))}
        plan, cases_list, traces = det.simulate_traces(
            params, lv, n_months=sc.horizon, chance=ChanceStreams(5, np.arange(3)),
            method="events")
        for k, (cases, fast) in enumerate(zip(cases_list, traces, strict=True)):
            assert cases.n > 2000
            ref = simulate_replication(cases, plan, ChanceStreams(5, np.arange(3)).generator(
                k, flow=det.DetentionFlow.REPATRIATION))
            _assert_same_trace(fast, ref)
            taken += [np.isfinite(ref.dependant_repatriated_at).sum(),
                      (ref.repatriated_from == 1).sum()]
    assert taken[0] > 100  # the rounds did take people
    assert taken[1] > 0


def test_shipped_scenario_runs_to_the_same_dataset_as_simpy(monkeypatch):
    """threatsim.run with the model's auto method (compiled events here) and with
    method="simpy" give identical Datasets on 20 draws of the shipped scenario."""
    sc = threatsim.load_scenario(SCENARIOS / "detention_iraq_syria.toml")
    calls: list[int] = []
    real = events.simulate_events
    monkeypatch.setattr(det, "simulate_events", lambda *a: calls.append(1) or real(*a))
    fast = threatsim.run(sc, draws=20, seed=11, progress=False)
    assert len(calls) == 20  # the compiled path ran every draw
    monkeypatch.setattr(MODELS["detention"], "method", "simpy")
    ref = threatsim.run(sc, draws=20, seed=11, progress=False)
    assert len(calls) == 20  # and SimPy the second run
    xr.testing.assert_identical(fast, ref)


def test_linked_scenario_runs_to_the_same_dataset_without_numba(monkeypatch):
    """fighters_detention (detention fed by the fighters model, with repatriation): the
    compiled run and the run with every kernel off (SimPy) give identical Datasets."""
    sc = threatsim.load_scenario(SCENARIOS / "fighters_detention_syria.toml")
    calls: list[int] = []
    real = events.simulate_events
    monkeypatch.setattr(det, "simulate_events", lambda *a: calls.append(1) or real(*a))
    fast = threatsim.run(sc, draws=8, seed=2, progress=False)
    assert len(calls) == 8  # off the fast path: the event loop ran every draw
    monkeypatch.setenv("THREATSIM_COMPILED", "0")
    ref = threatsim.run(sc, draws=8, seed=2, progress=False)
    xr.testing.assert_identical(fast, ref)


def test_without_numba_the_simpy_model_runs(monkeypatch):
    """THREATSIM_COMPILED=0: simulate_events is the SimPy model (the same trace)."""
    row = {"detained_iraq": 5.0, "detained_syria": 0.0, "dependants_syria": 3.0,
           "arrivals_per_month": 4.0, "arrivals_foreign_share": 0.5,
           "dependants_child_share": 0.5, "screening_days": 2.0, "trial_days": 5.0,
           "duration_cv": 1.0, "conviction_share": 1.0, "sentence_months": 3.0}
    levers = {"screening_teams": np.ones(3), "courts": np.ones(3),
              "exemption_share": np.zeros(3), "repatriation_rate": np.full(3, 0.5),
              "children_first": np.zeros(3)}
    plan = Plan.from_levers(levers, 3)
    cases = draw_cases(row, 3, ChanceStreams(seed=2, draw_index=[0]))
    called: list[int] = []
    monkeypatch.setattr(events, "simulate_replication",
                        lambda *a: called.append(1) or simulate_replication(*a))
    monkeypatch.setenv("THREATSIM_COMPILED", "0")
    fast, ref = _both(cases, plan, 3)
    assert called == [1]
    _assert_same_trace(fast, ref)

"""The detention fast path fused (models/detention/fused.py) against today's fast path.

The reference is the fast path as it was before the fusion, kept as the numpy
path: ``draw_batch`` (every purpose drawn) -> ``fifo_batch`` -> ``record_batch``,
run with the compiled kernels off. The fused path must give the same numbers bit for
bit, for every output and any subset of them, on plans that put times exactly on
grid instants and make ties (fixed durations of a month, an initial stock at 0).
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.test_detention import _chunk_chance, _scenario

import threatsim
from threatsim.core import compiled
from threatsim.engine.sampling import sample_parameters
from threatsim.models.detention import fused
from threatsim.models.detention import model as det
from threatsim.models.detention.cases import DAYS_PER_MONTH, DetentionFlow, GivenArrivals

pytestmark = pytest.mark.skipif(not compiled.available(), reason="numba is not installed")

ALL = frozenset(o.name for o in det.INFO.outputs)


@contextlib.contextmanager
def _kernels_off() -> Iterator[None]:
    before = os.environ.get("THREATSIM_COMPILED")
    os.environ["THREATSIM_COMPILED"] = "0"
    try:
        yield
    finally:
        if before is None:
            del os.environ["THREATSIM_COMPILED"]
        else:
            os.environ["THREATSIM_COMPILED"] = before


def _reference(plan: det.Plan, rows: list[dict[str, float]], chance: Any,
               want: frozenset[str],
               given_arrivals: GivenArrivals | None = None) -> dict[str, np.ndarray]:
    """Today's fast path in numpy: every purpose drawn, the recursion, record_batch."""
    with _kernels_off():
        cb = det.draw_batch(rows, plan.n_months, chance, exempts=plan.exempts,
                            given=given_arrivals)
        return det.record_batch(cb, det.fifo_batch(cb, plan), plan, want)


def _assert_same(got: dict[str, np.ndarray], ref: dict[str, np.ndarray],
                 want: frozenset[str]) -> None:
    assert set(got) == set(want)
    for name in want:
        assert got[name].shape == ref[name].shape, name
        assert np.array_equal(got[name], ref[name], equal_nan=True), name


@settings(max_examples=60, deadline=None)
@given(
    stock=st.integers(0, 30), deps=st.integers(0, 5), arrivals=st.floats(0, 60),
    teams=st.integers(1, 3), courts=st.integers(1, 4),
    exempt=st.sampled_from([0.0, 0.4, 1.0]), exempt_later=st.sampled_from([None, 0.0, 0.7]),
    screening=st.sampled_from([0.0, 3.0, DAYS_PER_MONTH]),
    trial=st.sampled_from([DAYS_PER_MONTH, 2 * DAYS_PER_MONTH, 0.5]),
    cv=st.sampled_from([0.0, 0.5, 1.0]), conviction=st.sampled_from([0.0, 0.6, 1.0]),
    horizon=st.integers(1, 8), draws=st.integers(1, 4), seed=st.integers(0, 2**16),
    subset=st.sets(st.sampled_from(sorted(ALL)), min_size=1),
)
def test_fused_path_equals_the_numpy_fast_path(stock, deps, arrivals, teams,
                                               courts, exempt, exempt_later, screening,
                                               trial, cv, conviction, horizon, draws,
                                               seed, subset):
    """Every output, and any subset of them, bit for bit; fixed durations of a month put
    times on grid instants, the initial stock and fixed durations make ties."""
    timeline = ([{"at": "2019-03", "levers": {"exemption_share": exempt_later}}]
                if exempt_later is not None and horizon > 2 else None)
    sc = _scenario(horizon=horizon, timeline=timeline,
                   levers={"screening_teams": teams, "courts": courts,
                           "exemption_share": exempt},
                   detained_syria=stock, dependants_syria=deps, arrivals_per_month=arrivals,
                   screening_days=screening, trial_days=trial, duration_cv=cv,
                   conviction_share=conviction, sentence_months=1)
    params = sample_parameters(sc.parameters, draws, seed=seed)
    plan, fifo, rows = det._prepare(params, sc.lever_schedule(), horizon, "auto")
    assert fifo
    chance = _chunk_chance(seed, draws)
    for want in (ALL, frozenset(subset)):
        got = fused.fused_rows(plan, rows, chance, want)
        _assert_same(got, _reference(plan, rows, chance, want), want)


@settings(max_examples=30, deadline=None)
@given(
    initial=st.lists(st.integers(0, 6), min_size=2, max_size=2),
    monthly=st.lists(st.integers(0, 9), min_size=2, max_size=12),
    deps=st.integers(0, 4), courts=st.integers(1, 3), screening=st.sampled_from([0.0, 5.0]),
    seed=st.integers(0, 2**16),
)
def test_fused_path_equals_the_numpy_fast_path_on_counted_arrivals(
        initial, monthly, deps, courts, screening, seed):
    """Arrivals another model counted (the fighters_detention model) instead of Poisson."""
    months = len(monthly) // 2
    sc = _scenario(horizon=months, levers={"courts": courts}, screening_days=screening,
                   trial_days=DAYS_PER_MONTH / 2, duration_cv=0.0)
    params = sample_parameters(sc.parameters, 2, seed=seed)
    plan, _, rows = det._prepare(params, sc.lever_schedule(), months, "auto")
    split = np.array(monthly[:2 * months]).reshape(months, 2)
    counted = GivenArrivals(initial=np.array([initial, initial[::-1]]),
                            monthly=np.stack([split, split[::-1]]),
                            dependants=np.array([deps, 0]))
    chance = _chunk_chance(seed, 2)
    got = fused.fused_rows(plan, rows, chance, ALL, counted)
    _assert_same(got, _reference(plan, rows, chance, ALL, counted), ALL)


def test_w3_equals_the_numpy_fast_path():
    """W3 itself (benchmarks/w3.toml, 12 draws of 10 years): every output, bit for bit."""
    sc = threatsim.load_scenario("benchmarks/w3.toml")
    params = sample_parameters(sc.parameters, 12, seed=5)
    plan, _, rows = det._prepare(params, sc.lever_schedule(), sc.horizon, "auto")
    chance = _chunk_chance(5, 12)
    got = fused.fused_rows(plan, rows, chance, ALL)
    _assert_same(got, _reference(plan, rows, chance, ALL), ALL)
    assert np.isfinite(got["pretrial_wait_median"]).all()


@pytest.mark.parametrize("exempt", [0.0, 0.3])
def test_fused_path_queues_cases_in_the_order_their_screening_ends(exempt):
    """Three screening teams and random durations: screenings end out of arrival order,
    so the courts must take cases in the order they were referred (a stable sort)."""
    sc = _scenario(horizon=4, levers={"screening_teams": 3, "courts": 2,
                                      "exemption_share": exempt},
                   detained_syria=20, arrivals_per_month=60, screening_days=4.0,
                   trial_days=1.0, duration_cv=1.0)
    params = sample_parameters(sc.parameters, 3, seed=1)
    plan, _, rows = det._prepare(params, sc.lever_schedule(), 4, "auto")
    chance = _chunk_chance(1, 3)
    _, cb, fb = det.simulate_chunk(params, sc.lever_schedule(), n_months=4, chance=chance,
                                   method="fifo")
    ends = fb.screen_end[0, :int(cb.n[0])]
    assert np.any(np.diff(ends) < 0)  # out of arrival order
    got = fused.fused_rows(plan, rows, chance, ALL)
    _assert_same(got, _reference(plan, rows, chance, ALL), ALL)


class _Evenly:
    """A chance whose arrivals come one a month, exactly on the grid's instants: the
    Poisson count is the number of months less one and every spacing is 1."""

    def __init__(self, chance: Any, months: int) -> None:
        self.chance = chance
        self.months = months

    def __len__(self) -> int:
        return len(self.chance)

    def generator(self, i: int, *, flow: int, month: int = 0, event: int = 0) -> Any:
        if flow != DetentionFlow.ARRIVALS:
            return self.chance.generator(i, flow=flow, month=month, event=event)
        months = self.months

        class Even:
            def poisson(self, lam: float) -> int:
                return months - 1

            def standard_exponential(self, *, out: np.ndarray) -> None:
                out[:] = 1.0

        return Even()

    def standard_exponential_into(self, gen: Any, out: np.ndarray) -> None:
        self.chance.standard_exponential_into(gen, out)  # Even is no Generator: its own


@pytest.mark.parametrize("months", [1, 5, 12])
def test_arrivals_exactly_on_grid_instants_count_from_that_instant(months):
    """Arrival m at exactly m months counts at grid index m, not before."""
    sc = _scenario(horizon=months, levers={"courts": 2}, detained_syria=3,
                   arrivals_per_month=1.0, trial_days=DAYS_PER_MONTH, duration_cv=0.0)
    params = sample_parameters(sc.parameters, 2, seed=0)
    plan, _, rows = det._prepare(params, sc.lever_schedule(), months, "auto")
    chance = _Evenly(_chunk_chance(0, 2), months)
    cb = det.draw_batch(rows, months, chance)  # type: ignore[arg-type]
    assert np.array_equal(cb.arrive[0, 3:], plan.grid()[1:-1])  # on the instants
    got = fused.fused_rows(plan, rows, chance, ALL)  # type: ignore[arg-type]
    _assert_same(got, _reference(plan, rows, chance, ALL), ALL)
    assert got["arrived"][0].tolist() == [3.0 + m for m in range(months)] + [2.0 + months]


class _Recording:
    """A chance that records the purposes whose Generators are asked for."""

    def __init__(self, chance: Any) -> None:
        self.chance = chance
        self.flows: set[int] = set()

    def __len__(self) -> int:
        return len(self.chance)

    def generator(self, i: int, *, flow: int, month: int = 0,
                  event: int = 0) -> np.random.Generator:
        self.flows.add(int(flow))
        return self.chance.generator(i, flow=flow, month=month, event=event)

    def standard_exponential_into(self, gen: Any, out: np.ndarray) -> None:
        self.chance.standard_exponential_into(gen, out)


def test_only_the_purposes_the_outputs_need_are_drawn():
    """W3's outputs (trial backlog, waits) draw no sentence, conviction, nationality or
    child; asking for them draws them. Leaving a purpose out changes no other output."""
    sc = _scenario(horizon=6, levers={"courts": 2, "exemption_share": 0.3},
                   detained_syria=10, dependants_syria=3, arrivals_per_month=40,
                   screening_days=2.0, arrivals_foreign_share=0.5)
    params = sample_parameters(sc.parameters, 5, seed=8)
    plan, _, rows = det._prepare(params, sc.lever_schedule(), 6, "auto")
    w3 = frozenset({"backlog_trial", "pretrial_wait_median", "pretrial_wait_p90"})
    recording = _Recording(_chunk_chance(8, 5))
    few = fused.fused_rows(plan, rows, recording, w3)  # type: ignore[arg-type]
    assert recording.flows == {DetentionFlow.ARRIVALS, DetentionFlow.SCREENING,
                               DetentionFlow.TRIAL, DetentionFlow.EXEMPTION}
    recording = _Recording(_chunk_chance(8, 5))
    every = fused.fused_rows(plan, rows, recording, ALL)  # type: ignore[arg-type]
    assert {DetentionFlow.SENTENCE, DetentionFlow.CONVICTION} <= recording.flows
    assert not {DetentionFlow.ARRIVALS_FOREIGN, DetentionFlow.DEPENDANTS} & recording.flows
    for name in w3:
        assert np.array_equal(few[name], every[name], equal_nan=True), name
    # and the numpy path drawing every purpose agrees on both
    _assert_same(every, _reference(plan, rows, _chunk_chance(8, 5), ALL), ALL)


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(st.sampled_from([0.0, 5e-324, 1e-300, 2.0**-64, 2.0**-63, 1e-5, 0.25,
                                     0.2500000000000001, 1.0, 3.0, 2.0**64, 1e300,
                                     math.inf]) | st.floats(0, 1e6), min_size=1, max_size=300),
    q1=st.floats(0, 1), q2=st.floats(0, 1),
)
def test_exact_order_statistics(values, q1, q2):
    """_pick gives exactly numpy's order statistics: zeros, subnormals, values at and
    around bucket edges and beyond the clipped range, ties, inf."""
    w = np.array(values, dtype=np.float64)
    n = w.size
    k1, k2 = (min(n - 1, int(q * n)) for q in (q1, q2))
    hist = np.empty(fused._BUCKETS * fused._WAYS, dtype=np.int64)
    fused._waits_histogram(w, hist)
    assert hist.sum() == n
    got = fused._pick(w, k1, k2, hist, np.empty(n), np.empty(n))
    want = np.sort(w)[[k1, k2]]
    assert got == (want[0], want[1])


def test_the_run_gives_the_same_dataset_fused_and_in_numpy(monkeypatch):
    """threatsim.run on a fast-path scenario: the same Dataset fused (any chunking) and
    with every kernel off."""
    data = dict(horizon=9, levers={"courts": 3, "exemption_share": 0.2}, detained_syria=15,
                dependants_syria=2, arrivals_per_month=25, screening_days=4.0)
    sc = _scenario(**data)
    runs = [threatsim.run(sc, draws=11, seed=4, progress=False),
            threatsim.run(sc, draws=11, seed=4, chunk_size=4, progress=False)]
    monkeypatch.setenv("THREATSIM_COMPILED", "0")
    runs.append(threatsim.run(sc, draws=11, seed=4, progress=False))
    for other in runs[1:]:
        for name in ALL:
            assert np.array_equal(runs[0][name].values, other[name].values,
                                  equal_nan=True), name

"""The detention model: queueing theory, conservation, levers in time, the fast path."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.conftest import SCENARIOS
from tests.model_contract import ModelContract

import threatsim
from threatsim.core import compiled
from threatsim.core.errors import ScenarioError
from threatsim.engine.sampling import sample_parameters
from threatsim.engine.streams import seed_key
from threatsim.inputs.scenario import scenario_from_dict
from threatsim.models.detention import model as det
from threatsim.models.detention.cases import DetentionFlow
from threatsim.models.detention.model import DAYS_PER_MONTH, Plan, draw_cases
from threatsim.stats.variates import ChanceStreams

# W3 of benchmarks/WORKLOADS.md: M/M/10, lam = 9/day, mu = 1/day, start empty,
# warm-up 365 days. The model's horizon is in months: 120 months = 3652.5 days.
W3_LAM, W3_C, W3_MU, W3_WARMUP, W3_MONTHS = 9.0, 10, 1.0, 365.0, 120


def _param(value: float, unit: str) -> dict[str, Any]:
    return {"dist": "point", "value": value, "unit": unit, "assumption": "test setting"}


def _scenario_dict(*, horizon: int = 12, levers: dict | None = None,
                   timeline: list | None = None, **values: float) -> dict[str, Any]:
    spec = {
        "detained_iraq": (0, "people"), "detained_syria": (0, "people"),
        "dependants_syria": (0, "people"), "arrivals_per_month": (30, "people_per_month"),
        "arrivals_foreign_share": (0.5, "share"), "dependants_child_share": (0.5, "share"),
        "screening_days": (0, "days"), "trial_days": (1, "days"), "duration_cv": (1, "share"),
        "conviction_share": (0.8, "share"), "sentence_months": (6, "months"),
    }
    params = {k: _param(values.get(k, v), u) for k, (v, u) in spec.items()}
    data: dict[str, Any] = {"name": "t", "model": "detention", "start": "2019-01",
                            "horizon": horizon, "parameters": params,
                            "levers": levers or {}, "run": {"draws": 4, "seed": 3}}
    if timeline:
        data["timeline"] = timeline
    return data


def _scenario(**kw: Any) -> threatsim.Scenario:
    return scenario_from_dict(_scenario_dict(**kw))


def _chunk_chance(seed: int, n: int) -> ChanceStreams:
    """The chance the engine gives a first chunk of *n* draws of a run with *seed*."""
    return ChanceStreams(seed, np.arange(n))


def _traces(sc: threatsim.Scenario, *, n: int, seed: int = 1, method: str = "auto"):
    params = sample_parameters(sc.parameters, n, seed=seed)
    return det.simulate_traces(params, sc.lever_schedule(), n_months=sc.horizon,
                               chance=_chunk_chance(seed, n), method=method)


def _w3(**kw: Any) -> threatsim.Scenario:
    return _scenario(horizon=W3_MONTHS, levers={"courts": W3_C},
                     arrivals_per_month=W3_LAM * DAYS_PER_MONTH, trial_days=1 / W3_MU, **kw)


def erlang_c_wq(lam: float, c: int, mu: float) -> float:
    """Mean wait in queue of M/M/c (Erlang C), written out from the textbook formula."""
    a = lam / mu
    tail = a**c / math.factorial(c) * c / (c - a)
    p_wait = tail / (sum(a**k / math.factorial(k) for k in range(c)) + tail)
    return p_wait / (c * mu - lam)


def _mean_waits_after_warmup(cases_list, traces) -> np.ndarray:
    out = []
    for c, tr in zip(cases_list, traces, strict=True):
        ok = np.isfinite(tr.trial_start) & (tr.trial_start >= W3_WARMUP)
        out.append(float(np.mean(tr.trial_start[ok] - c.arrive[ok])))
    return np.array(out)


def test_erlang_c_mean_wait_fast_path():
    """W3 (M/M/10, rho 0.9): the mean wait over 120 replications is Erlang C's within 5 SE."""
    plan, cases, traces = _traces(_w3(), n=120, seed=7)
    assert det.fast_path_applies(plan)
    w = _mean_waits_after_warmup(cases, traces)
    se = w.std(ddof=1) / math.sqrt(w.size)
    wq = erlang_c_wq(W3_LAM, W3_C, W3_MU)
    assert abs(w.mean() - wq) <= 5 * se, (w.mean(), wq, se)
    assert se < 0.05 * wq  # the test has power: the tolerance is a few % of Wq


@pytest.mark.slow
def test_erlang_c_mean_wait_simpy():
    """The SimPy path on W3 also matches Erlang C within 5 SE (12 replications)."""
    _, cases, traces = _traces(_w3(), n=12, seed=8, method="simpy")
    w = _mean_waits_after_warmup(cases, traces)
    se = w.std(ddof=1) / math.sqrt(w.size)
    assert abs(w.mean() - erlang_c_wq(W3_LAM, W3_C, W3_MU)) <= 5 * se


def test_littles_law_on_the_monthly_grid():
    """L = lambda W: the backlog_trial sampled on the grid vs arrivals x time in the system."""
    plan, cases, traces = _traces(_w3(), n=60, seed=9)
    grid = plan.grid()
    lo, hi = 12, W3_MONTHS
    diffs, levels = [], []
    for c, tr in zip(cases, traces, strict=True):
        backlog = det.record(c, tr, plan)["backlog_trial"]
        l_hat = backlog[lo:hi + 1].mean()
        inside = (c.arrive > grid[lo]) & (c.arrive <= grid[hi]) & np.isfinite(tr.trial_end)
        lam_hat = inside.sum() / (grid[hi] - grid[lo])
        w_hat = np.mean(tr.trial_end[inside] - c.arrive[inside])
        diffs.append(l_hat - lam_hat * w_hat)
        levels.append(l_hat)
    d = np.array(diffs)
    se = d.std(ddof=1) / math.sqrt(d.size)
    assert abs(d.mean()) <= 5 * se, (d.mean(), se)
    # L itself is what M/M/c says: Lq + lam/mu.
    lsys = W3_LAM * (erlang_c_wq(W3_LAM, W3_C, W3_MU) + 1 / W3_MU)
    lv = np.array(levels)
    assert abs(lv.mean() - lsys) <= 5 * lv.std(ddof=1) / math.sqrt(lv.size)


def _compare_traces(a, b) -> None:
    for field in ("screen_end", "trial_start", "trial_end"):
        x, y = getattr(a, field), getattr(b, field)
        assert np.array_equal(np.isfinite(x), np.isfinite(y)), field
        f = np.isfinite(x)
        np.testing.assert_allclose(x[f], y[f], rtol=1e-12, atol=1e-9, err_msg=field)
    assert np.array_equal(a.exempt, b.exempt)


@pytest.mark.parametrize("screening", [0.0, 0.6])
def test_fast_path_gives_the_simpy_waits_on_the_same_random_numbers(screening):
    """Cases drawn once, fed to both: the FIFO recursion reproduces SimPy's times exactly."""
    sc = _scenario(horizon=18, levers={"courts": 3, "screening_teams": 2},
                   timeline=[{"at": "2019-07", "levers": {"exemption_share": 0.3}}],
                   detained_iraq=40, arrivals_per_month=110, screening_days=screening,
                   trial_days=0.8, duration_cv=0.7)
    plan = Plan.from_levers(sc.lever_schedule(), sc.horizon)
    assert det.fast_path_applies(plan)
    row = {k: float(p.dist.value) for k, p in sc.parameters.items()}
    cases = [draw_cases(row, sc.horizon, ChanceStreams(2024, [k])) for k in range(5)]
    fast = det.fifo_traces(cases, plan)
    for c, f in zip(cases, fast, strict=True):
        ref = det.simulate_replication(c, plan, np.random.Generator(np.random.PCG64(0)))
        _compare_traces(ref, f)
        # The W3-style outputs agree too.
        assert det.record(c, ref, plan)["pretrial_wait_median"] == pytest.approx(
            det.record(c, f, plan)["pretrial_wait_median"], rel=1e-12)


def test_fast_path_is_used_automatically_only_where_exact(monkeypatch):
    """auto takes the recursion for fixed capacities; when courts change or people leave,
    simulate_events (compiled SimPy order where numba is, else SimPy itself); "simpy"
    forces SimPy."""
    calls: dict[str, int] = {"simpy": 0, "events": 0}
    real_simpy, real_events = det.simulate_replication, det.simulate_events

    def counted(name, real):
        def run(*a, **k):
            calls[name] += 1
            return real(*a, **k)
        return run

    monkeypatch.setattr(det, "simulate_replication", counted("simpy", real_simpy))
    monkeypatch.setattr(det, "simulate_events", counted("events", real_events))
    _traces(_scenario(levers={"courts": 2}), n=2)
    assert calls == {"simpy": 0, "events": 0}
    _traces(_scenario(levers={"courts": 2},
                      timeline=[{"at": "2019-04", "levers": {"courts": 3}}]), n=2)
    assert calls == {"simpy": 0, "events": 2}
    _traces(_scenario(levers={"repatriation_rate": 0.1}), n=2)
    assert calls == {"simpy": 0, "events": 4}
    _traces(_scenario(levers={"repatriation_rate": 0.1}), n=2, method="simpy")
    assert calls == {"simpy": 2, "events": 4}
    with pytest.raises(ValueError, match="fast path"):
        _traces(_scenario(levers={"repatriation_rate": 0.1}), n=1, method="fifo")


@settings(max_examples=60, deadline=None)
@given(servers=st.integers(1, 5), data=st.data())
def test_fifo_starts_equal_a_heap_of_free_servers(servers, data):
    """The vectorised recursion equals, bit for bit, a heap of free times, ties and all."""
    import heapq

    reps = data.draw(st.integers(1, 4))
    n = data.draw(st.integers(1, 40))
    times = st.sampled_from([0.0, 0.5, 1.0, 1.5, 2.0, 7.25]) | st.floats(0, 20)
    gaps = np.array(data.draw(st.lists(times, min_size=n * reps, max_size=n * reps)))
    arrive = np.cumsum(gaps.reshape(n, reps) * (data.draw(st.booleans()) * 1.0), axis=0)
    service = np.array(data.draw(st.lists(times, min_size=n * reps, max_size=n * reps)))
    service = service.reshape(n, reps)
    starts = det.fifo_starts(arrive, service, servers)
    for r in range(reps):
        free = [0.0] * servers
        for k in range(n):
            start = max(arrive[k, r], heapq.heappop(free))
            heapq.heappush(free, start + service[k, r])
            assert starts[k, r] == start, (k, r)


@pytest.mark.skipif(not compiled.available(), reason="numba is not installed")
@pytest.mark.parametrize("servers", [1, 3, 10])
def test_compiled_recursion_equals_the_numpy_one(monkeypatch, servers):
    """With numba the recursion runs compiled, row by row: the same numbers, bit for bit."""
    from threatsim.models.detention.fastpath import _station

    rng = np.random.default_rng(servers)
    arrive = np.sort(rng.choice([0.0, 1.0, 2.5], size=(5, 300)) + rng.random((5, 300)) * 50,
                     axis=1)
    arrive[:, :20] = 0.0  # an initial stock: ties at 0
    arrive[3, 250:] = np.inf  # padding of a shorter row
    service = np.where(rng.random((5, 300)) < 0.5, 1.0, rng.exponential(2.0, (5, 300)))
    service[1] = 0.0
    out = {}
    for flag in ("1", "0"):
        monkeypatch.setenv("THREATSIM_COMPILED", flag)
        out[flag] = np.empty_like(arrive)
        _station(arrive, service, servers, out[flag])
    assert np.array_equal(out["1"], out["0"])
    by_case = det.fifo_starts(arrive[:3].T.copy(), service[:3].T.copy(), servers)
    assert np.array_equal(out["0"][:3], by_case.T)


@settings(max_examples=30, deadline=None)
@given(
    stock=st.integers(0, 30), deps=st.integers(0, 5), arrivals=st.floats(0, 60),
    teams=st.integers(1, 3), courts=st.integers(1, 3), exempt=st.sampled_from([0.0, 0.4]),
    screening=st.sampled_from([0.0, 3.0, DAYS_PER_MONTH]), cv=st.sampled_from([0.0, 0.5, 1.0]),
    horizon=st.integers(1, 8), draws=st.integers(1, 4), seed=st.integers(0, 2**16),
)
def test_chunk_recording_equals_recording_each_replication(stock, deps, arrivals, teams, courts,
                                                           exempt, screening, cv, horizon,
                                                           draws, seed):
    """record_batch over a fast-path chunk gives exactly record() of each replication's trace."""
    sc = _scenario(horizon=horizon,
                   levers={"screening_teams": teams, "courts": courts,
                           "exemption_share": exempt},
                   detained_syria=stock, dependants_syria=deps, arrivals_per_month=arrivals,
                   screening_days=screening, trial_days=DAYS_PER_MONTH, duration_cv=cv,
                   sentence_months=1)  # fixed durations of a month: times on grid instants
    params = sample_parameters(sc.parameters, draws, seed=seed)
    plan, cb, fb = det.simulate_chunk(params, sc.lever_schedule(), n_months=horizon,
                                      chance=_chunk_chance(seed, draws), method="fifo")
    chunk = det.record_batch(cb, fb, plan)
    for k, trace in enumerate(det.batch_traces(cb, fb, plan)):
        one = det.record(cb.case(k), trace, plan)
        for name, values in chunk.items():
            assert np.array_equal(values[k], one[name], equal_nan=True), (name, k)


@pytest.mark.parametrize("levers", [{"courts": 2, "exemption_share": 0.2},
                                    {"courts": 2, "repatriation_rate": 0.1}],
                         ids=["fast path", "SimPy"])
def test_a_chunk_cut_into_parts_gives_the_same_numbers(monkeypatch, levers):
    """simulate runs a big chunk in parts (bounded memory); the outputs do not change."""
    sc = _scenario(horizon=6, levers=levers, detained_syria=10, dependants_syria=3,
                   arrivals_per_month=20, screening_days=2.0)
    params = sample_parameters(sc.parameters, 7, seed=2)

    def run() -> dict[str, np.ndarray]:
        return det.DetentionModel().simulate(params, sc.lever_schedule(), n_months=6,
                                             chance=_chunk_chance(2, 7))

    whole = run()
    monkeypatch.setattr(det, "BATCH_CELLS", 300)  # about two draws a part
    assert len(det._parts(det._rows(params, 7), 6)) >= 3
    parts = run()
    for name, values in whole.items():
        assert np.array_equal(values, parts[name], equal_nan=True), name


def test_grid_counts_are_exact_at_and_around_grid_instants():
    """Times on a grid instant count from that instant, one ulp later from the next."""
    from threatsim.models.detention.record import _Binner

    plan = Plan.from_levers({"screening_teams": 1, "courts": 1, "exemption_share": 0.0,
                             "repatriation_rate": 0.0, "children_first": 0}, 24)
    grid = plan.grid()
    t = np.concatenate([grid, np.nextafter(grid, np.inf), np.nextafter(grid, -np.inf)[1:],
                        [0.0, np.inf, grid[-1] * 2], np.random.default_rng(1).random(500) * 800])
    cat = np.arange(t.size) % 3 == 0
    counts = _Binner(grid, t.size).counts(t, cat)
    for j, mask in enumerate((~cat, cat)):
        expected = (t[mask][:, None] <= grid[None, :]).sum(axis=0)  # by definition
        assert np.array_equal(counts[j], expected)
    assert np.array_equal(_Binner(grid, t.size).counts(t)[0], (t[:, None] <= grid).sum(axis=0))


def test_a_chunk_draws_what_the_documented_streams_give():
    """draw_batch: each purpose of draw k reads Philox4x64 keyed by (seed_key(seed), k) at
    counter (0, 0, purpose, 0) on -- built here from the documented layout, not from the
    model's code; skipped exemption uniforms leave every other purpose as it was."""
    row = {"detained_iraq": 3, "detained_syria": 2, "dependants_syria": 4,
           "arrivals_per_month": 50.0, "arrivals_foreign_share": 0.3,
           "dependants_child_share": 0.5, "screening_days": 2.0, "trial_days": 5.0,
           "duration_cv": 0.5, "conviction_share": 0.7, "sentence_months": 6.0}
    draws = np.array([4, 9, 2**40 - 1])  # global draw indices, as a later chunk has them

    def documented(k: int, purpose: DetentionFlow) -> np.random.Generator:
        key = np.array([seed_key(11), draws[k]], dtype=np.uint64)  # replicate 0
        counter = np.array([0, 0, int(purpose), 0], dtype=np.uint64)
        return np.random.Generator(np.random.Philox(key=key, counter=counter))

    horizon = 6 * DAYS_PER_MONTH
    cb = det.draw_batch([row] * 3, 6, ChanceStreams(11, draws))
    skipped = det.draw_batch([row] * 3, 6, ChanceStreams(11, draws), exempts=False)
    for k in range(3):
        g_arr = documented(k, DetentionFlow.ARRIVALS)
        n_new = int(g_arr.poisson(50.0 / DAYS_PER_MONTH * horizon))
        sums = np.cumsum(g_arr.standard_exponential(n_new + 1))
        arrive = np.concatenate([np.zeros(5), sums[:-1] * (horizon / sums[-1])])
        foreign = np.concatenate([np.ones(5, dtype=bool),
                                  documented(k, DetentionFlow.ARRIVALS_FOREIGN).random(n_new)
                                  < 0.3])
        n = 5 + n_new
        shape = 1 / 0.25
        c = cb.case(k)
        assert np.array_equal(c.arrive, arrive)
        assert np.array_equal(c.foreign, foreign)
        for got, purpose, mean in ((c.screen_days, DetentionFlow.SCREENING, 2.0),
                                   (c.trial_days, DetentionFlow.TRIAL, 5.0),
                                   (c.sentence_days, DetentionFlow.SENTENCE,
                                    6 * DAYS_PER_MONTH)):
            assert np.array_equal(got, documented(k, purpose).gamma(shape, mean / shape, n))
        assert np.array_equal(c.u_exempt, documented(k, DetentionFlow.EXEMPTION).random(n))
        assert np.array_equal(c.convicted,
                              documented(k, DetentionFlow.CONVICTION).random(n) < 0.7)
        assert np.array_equal(c.child, documented(k, DetentionFlow.DEPENDANTS).random(4) < 0.5)
        # Without exemption the uniforms are not drawn: every other purpose stays.
        s = skipped.case(k)
        for name in ("arrive", "foreign", "screen_days", "trial_days", "sentence_days",
                     "convicted", "child"):
            assert np.array_equal(getattr(s, name), getattr(c, name)), name
        assert np.all(s.u_exempt == 1.0)
        assert np.all(np.isinf(cb.arrive[k, n:]))  # padding
    one = draw_cases(row, 6, ChanceStreams(11, draws[1:2]))
    assert np.array_equal(one.arrive, cb.case(1).arrive)


STATES = ("backlog_screening", "backlog_trial", "in_prison", "held_dependants", "repatriated",
          "released", "exempted", "acquitted")
CUMULATIVE = ("repatriated", "released", "exempted", "convicted", "acquitted", "arrived")


def _classify(c, tr, t: float) -> dict[str, int]:
    """Each person's state at instant t, from the trace alone (an independent tally)."""
    counts = dict.fromkeys(STATES, 0)
    counts["convicted"] = 0
    for i in range(c.n):
        if c.arrive[i] > t:
            continue
        if tr.repatriated_at[i] <= t:
            counts["repatriated"] += 1
        elif not tr.screen_end[i] <= t:
            counts["backlog_screening"] += 1
        elif tr.exempt[i]:
            counts["exempted"] += 1
        elif not tr.trial_end[i] <= t:
            counts["backlog_trial"] += 1
        elif not c.convicted[i]:
            counts["acquitted"] += 1
        else:
            counts["convicted"] += 1
            if tr.trial_end[i] + c.sentence_days[i] <= t:
                counts["released"] += 1
            else:
                counts["in_prison"] += 1
    for at in tr.dependant_repatriated_at:
        counts["repatriated" if at <= t else "held_dependants"] += 1
    return counts


@settings(max_examples=25, deadline=None)
@given(
    stock=st.integers(0, 40), deps=st.integers(0, 15), arrivals=st.floats(0, 40),
    teams=st.integers(1, 3), courts=st.integers(1, 3), later_courts=st.integers(1, 4),
    rate=st.sampled_from([0.0, 0.05, 0.3]), first=st.integers(0, 1),
    exempt=st.floats(0, 1), screening=st.sampled_from([0.0, 3.0]), horizon=st.integers(3, 10),
    seed=st.integers(0, 2**16),
)
def test_conservation_and_no_negative_stocks(stock, deps, arrivals, teams, courts, later_courts,
                                             rate, first, exempt, screening, horizon, seed):
    """Everyone who arrived is in exactly one state at every month; no stock is negative."""
    sc = _scenario(horizon=horizon,
                   levers={"screening_teams": teams, "courts": courts, "repatriation_rate": rate,
                           "children_first": first, "exemption_share": exempt},
                   timeline=[{"at": "2019-03", "levers": {"courts": later_courts}}],
                   detained_syria=stock, dependants_syria=deps, arrivals_per_month=arrivals,
                   screening_days=screening, trial_days=4.0, sentence_months=2)
    plan, cases, traces = _traces(sc, n=2, seed=seed)
    grid = plan.grid()
    for c, tr in zip(cases, traces, strict=True):
        rec = det.record(c, tr, plan)
        total = sum(rec[s] for s in STATES)
        assert np.array_equal(total, rec["arrived"])
        for name in (*STATES, "convicted"):
            assert np.all(rec[name] >= 0), name
        for name in CUMULATIVE:
            assert np.all(np.diff(rec[name]) >= 0), name
        assert np.array_equal(rec["convicted"], rec["in_prison"] + rec["released"])
        for m in (0, horizon // 2, horizon):
            tally = _classify(c, tr, grid[m])
            for name, count in tally.items():
                assert rec[name][m] == count, (name, m)


def _busy(tr, t: float) -> int:
    return int(np.sum((tr.trial_start <= t) & (tr.trial_end > t)))


def test_added_courts_start_work_on_the_date_of_the_change():
    """Courts 2 -> 12 in April 2019: ten waiting trials start at that instant, not before."""
    base = dict(horizon=8, detained_iraq=200, arrivals_per_month=0, trial_days=20.0)
    change = _scenario(levers={"courts": 2},
                       timeline=[{"at": "2019-04", "levers": {"courts": 12}}], **base)
    plan, cases, traces = _traces(change, n=2)
    _, _, flat = _traces(_scenario(levers={"courts": 2}, **base), n=2)
    t3 = plan.grid()[3]
    for c, tr, ref in zip(cases, traces, flat, strict=True):
        starts = tr.trial_start
        assert np.sum(np.isclose(starts, t3, rtol=0, atol=1e-6)) == 10
        assert max(_busy(tr, t) for t in starts[starts < t3 - 1e-6]) <= 2
        assert max(_busy(tr, t) for t in starts[np.isfinite(starts)]) == 12
        a, b = det.record(c, tr, plan), det.record(c, ref, plan)
        assert np.array_equal(a["backlog_trial"][:4], b["backlog_trial"][:4])
        assert a["backlog_trial"][4] < b["backlog_trial"][4]


def test_removed_courts_finish_their_trials_and_take_no_new_case():
    """Courts 10 -> 2 in March 2019: after that date no trial starts while 2 or more are busy."""
    sc = _scenario(horizon=6, levers={"courts": 10},
                   timeline=[{"at": "2019-03", "levers": {"courts": 2}}],
                   detained_iraq=300, arrivals_per_month=0, trial_days=15.0)
    plan, _, traces = _traces(sc, n=2)
    t2 = plan.grid()[2]
    for tr in traces:
        before = tr.trial_start[tr.trial_start < t2]
        assert max(_busy(tr, t) for t in before) == 10
        after = tr.trial_start[(tr.trial_start >= t2) & np.isfinite(tr.trial_start)]
        assert after.size > 0
        # Busy count includes the case that just started.
        assert max(_busy(tr, t) for t in after) <= 2


def test_children_are_repatriated_first_when_the_scenario_says_so():
    """children_first = 1: no adult leaves while a child is still held."""
    sc = _scenario(horizon=10, levers={"repatriation_rate": 0.1, "children_first": 1,
                                       "courts": 1, "screening_teams": 1},
                   detained_syria=60, dependants_syria=40, dependants_child_share=0.5,
                   arrivals_per_month=0, screening_days=30.0, trial_days=30.0)
    _, cases, traces = _traces(sc, n=3)
    saw_adults = False
    for c, tr in zip(cases, traces, strict=True):
        child_at = tr.dependant_repatriated_at[c.child]
        adult_at = np.concatenate([tr.dependant_repatriated_at[~c.child],
                                   tr.repatriated_at[np.isfinite(tr.repatriated_at)]])
        adult_at = adult_at[np.isfinite(adult_at)]
        if adult_at.size:
            saw_adults = True
            # At the first round an adult left, every child was gone by then.
            assert np.all(child_at <= adult_at.min())
    assert saw_adults
    # Without the rule, adults leave while children are still held.
    _, cases, traces = _traces(sc.with_values({"levers.children_first": 0}), n=3)
    mixed = False
    for c, tr in zip(cases, traces, strict=True):
        first_adult = tr.repatriated_at.min()
        mixed |= bool(np.any(tr.dependant_repatriated_at[c.child] > first_adult))
    assert mixed


def test_levers_do_not_change_who_arrives():
    """Common random numbers: other courts, the same detainees at the same times."""
    _, a, _ = _traces(_scenario(levers={"courts": 1}), n=3)
    _, b, _ = _traces(_scenario(levers={"courts": 5}), n=3)
    for x, y in zip(a, b, strict=True):
        assert np.array_equal(x.arrive, y.arrive)
        assert np.array_equal(x.trial_days, y.trial_days)


@pytest.mark.parametrize("name", ["detention_iraq_syria.toml",
                                  "whatif/repatriation_stalled.toml"],
                         ids=["SimPy", "fast path"])
def test_same_dataset_in_process_and_on_two_workers(name):
    """Determinism: SimPy path and fast path give a bit-identical Dataset with executor=2."""
    sc = threatsim.load_scenario(SCENARIOS / name).with_values(
        {"horizon": 6, "outputs.report_months": ["2019-01", "2019-07"]})
    fast = det.fast_path_applies(Plan.from_levers(sc.lever_schedule(), sc.horizon))
    assert fast == (name != "detention_iraq_syria.toml")
    a = threatsim.run(sc, draws=6, chunk_size=2, seed=4)
    b = threatsim.run(sc, draws=6, chunk_size=2, seed=4, executor=2)
    xr.testing.assert_identical(a, b)
    assert a["backlog_trial"].dims == ("draw", "time")
    assert a["pretrial_wait_median"].dims == ("draw",)


def test_replicates_add_a_dim():
    """replicates = 2 gives a replicate dim; replicates of a draw differ only by chance."""
    sc = _scenario(horizon=4, levers={"courts": 2})
    ds = threatsim.run(sc, draws=3, seed=1, replicates=2)
    assert ds["backlog_trial"].dims == ("draw", "replicate", "time")
    assert not np.array_equal(ds["arrived"].isel(replicate=0), ds["arrived"].isel(replicate=1))


@pytest.mark.parametrize("name", ["detention_iraq_syria.toml", "whatif/courts_doubled.toml",
                                  "whatif/repatriation_stalled.toml"])
def test_shipped_scenarios_run(name):
    """The shipped detention scenarios load and run (a few draws, one year)."""
    sc = threatsim.load_scenario(SCENARIOS / name).with_values(
        {"horizon": 12, "outputs.report_months": ["2019-01", "2020-01"]})
    ds = threatsim.run(sc, draws=2, seed=1)
    assert float(ds["arrived"].isel(time=0).min()) >= 1800 + 500
    assert np.all(ds["backlog_screening"].values >= 0)


def test_doubled_courts_take_effect_in_july_2019():
    """courts_doubled: 40 courts from 2019-07, the parent's 20 before."""
    sc = threatsim.load_scenario(SCENARIOS / "whatif" / "courts_doubled.toml")
    courts = sc.lever_schedule()["courts"]
    assert courts[5] == 20
    assert courts[6] == 40


# -- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize(("levers", "key"), [
    ({"courts": 0}, "levers.courts"),
    ({"courts": 2.5}, "levers.courts"),
    ({"screening_teams": 0}, "levers.screening_teams"),
    ({"repatriation_rate": 1.5}, "levers.repatriation_rate"),
    ({"children_first": 2}, "levers.children_first"),
])
def test_bad_levers_are_refused(levers, key):
    """Capacity below 1 or fractional, a repatriation share above 1: ScenarioError naming
    the key."""
    with pytest.raises(ScenarioError) as err:
        _scenario(levers=levers)
    assert key in str(err.value)
    assert repr(next(iter(levers.values()))) in str(err.value)


def test_bad_capacity_in_the_timeline_is_refused():
    """A timeline entry that sets courts to 0 names the entry and the allowed range."""
    with pytest.raises(ScenarioError, match=r"timeline\[0\]\.levers\.courts=0 must be in \[1"):
        _scenario(timeline=[{"at": "2019-03", "levers": {"courts": 0}}])


def test_repatriation_share_above_one_in_the_timeline_is_refused():
    """repatriation_rate 1.2 from a date: refused with the allowed range."""
    with pytest.raises(ScenarioError, match=r"repatriation_rate=1\.2 must be in \[0, 1\]"):
        _scenario(timeline=[{"at": "2019-03", "levers": {"repatriation_rate": 1.2}}])


def test_negative_duration_is_refused():
    """A negative trial duration range: ScenarioError naming parameters.trial_days.range."""
    data = _scenario_dict()
    data["parameters"]["trial_days"] = {"dist": "uniform", "range": [-2, 5], "unit": "days",
                                        "assumption": "test"}
    with pytest.raises(ScenarioError, match=r"parameters\.trial_days\.range=\[-2, 5\]"):
        scenario_from_dict(data)


def test_zero_trial_duration_is_refused_by_the_model():
    """trial_days = 0 is allowed by the unit but not by the model: it says why."""
    with pytest.raises(ScenarioError, match=r"parameters\.trial_days\.value=0.* must be > 0"):
        _scenario(trial_days=0)


def test_share_above_one_is_refused():
    """A share parameter above 1 (children among dependants) is refused by the loader."""
    data = _scenario_dict()
    data["parameters"]["dependants_child_share"] = {
        "dist": "uniform", "range": [0.5, 1.4], "unit": "share", "assumption": "test"}
    with pytest.raises(ScenarioError, match="dependants_child_share"):
        scenario_from_dict(data)


class TestDetentionContract(ModelContract):
    """The model contract (tests/model_contract.py) on the shipped detention scenario
    (few draws: one SimPy replication each where the fast path does not apply)."""

    scenario_path = "scenarios/detention_iraq_syria.toml"
    draws = 8
    later_lever = ("courts", 5)
    # Arrivals are the model's input: no lever moves them (the fast path and SimPy alike).
    lever_reaches = (("courts", 5, det.INFO.output_names - {"arrived"}),
                     ("repatriation_rate", 0.0, det.INFO.output_names - {"arrived"}))
    bad_values = (
        ("parameters.trial_days.range", [0, 15], "parameters.trial_days.range"),
    )

"""Pass 1 of a summary without a barrier at each narrowing (a cluster's "staged" pass).

On a cluster, StreamingSummary narrows pass 1's windows at the same chunks as it
does in stretches, from the counts of exactly the chunks before each; the chunks
already on their way are reduced with the windows before the narrowing and cut to
the narrowed ones on the client (ExactQuantiles.cut_to_windows). These tests hold
that to: the cut equals the chunk reduced by the narrowed windows (the compiled
kernel's own reduction), the windows of every stretch equal those of the stretched
protocol whatever order the chunks finish in, and the summary equals in-process.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import xarray as xr
from tests.test_executors import SCENARIOS_BY_MODEL
from tests.test_memory import QS, _sample

import threatsim
from threatsim.engine import exact_quantiles
from threatsim.engine.exact_quantiles import ExactQuantiles
from threatsim.engine.options import RunOptions
from threatsim.engine.plan import Plan, run_chunk
from threatsim.engine.quantile_passes import CountPass, reduce_chunk
from threatsim.engine.shipping import MAX_CHUNKS_PER_TASK, ReducedBatch, ReducedChunkTask
from threatsim.engine.streamed_run import StagedTasks
from threatsim.engine.summary import StreamingSummary, SummaryPass, reduce_for_pass


# (small counts are left out: each of their windows is one bin, which narrowing keeps)
@pytest.mark.parametrize("kind", ["lognormal", "ties", "nan_inf"])
def test_a_chunk_reduced_by_the_wider_windows_and_cut_is_that_chunk_reduced_by_the_narrowed(kind):
    """The counts of 40,000 rows narrow the pilot's windows; a further chunk reduced by
    the windows before that (on a worker, while the client narrowed), then cut, is what
    the narrowed spec reduces it to: the same counts, values, repeats and sizes."""
    x = _sample(kind, np.random.default_rng(11), 200_000, 4)
    eq = ExactQuantiles(x.shape[1], QS)
    eq.expected_rows = x.shape[0]
    for i in range(0, 40_000, 10_000):
        eq.feed(x[i:i + 10_000])
    wide = eq.spec()
    assert isinstance(wide, CountPass)
    assert wide.windows
    chunk = x[40_000:50_000]
    before = reduce_chunk(chunk, wide)
    assert eq.narrow_windows()
    narrowed = eq.spec()
    assert isinstance(narrowed, CountPass)
    assert narrowed.windows != wide.windows
    want = reduce_chunk(chunk, narrowed)
    got = eq.cut_to_windows(before)
    np.testing.assert_array_equal(got.counts, want.counts)
    np.testing.assert_array_equal(got.sizes, want.sizes)
    np.testing.assert_array_equal(got.values, want.values)
    np.testing.assert_array_equal(got.repeats, want.repeats)
    assert got.values.size < before.values.size  # the cut removed something


class _Reducing:
    """A ChunkSource that computes chunks here and reduces them as a cluster would: in
    stretches (``lag=0``), or staged, at most *lag* chunks on their way, finishing in a
    random order; it records the pass-1 windows each chunk was reduced by."""

    reduces = True

    def __init__(self, plan: Plan, lag: int = 0, seed: int = 0) -> None:
        self.plan, self.n_chunks = plan, plan.n_chunks
        self.stages, self.lag = lag > 0, lag
        self.rng = np.random.default_rng(seed)
        self.windows: list[dict[str, list]] = []  # pass 1's, in the order they were used

    def passing(self, number: int):
        return contextlib.nullcontext()

    def _result(self, index: int):
        return run_chunk(self.plan.task(index))[1]

    def whole(self, indices):
        return ((i, self._result(i)) for i in indices)

    def _record(self, spec: SummaryPass) -> None:
        if spec.first:
            windows = {k: q.windows for k, q in spec.quant.items() if isinstance(q, CountPass)}
            if not self.windows or self.windows[-1] != windows:
                self.windows.append(windows)

    def reduced(self, indices, spec: SummaryPass):
        self._record(spec)
        for i in self.rng.permutation(np.asarray(indices)):
            yield int(i), reduce_for_pass(self._result(int(i)), spec)

    def reduced_staged(self, start, version, specs):
        nxt, flight = start, []
        while nxt < self.n_chunks or flight:
            while len(flight) < self.lag and nxt < self.n_chunks and version(nxt) < len(specs):
                self._record(specs[version(nxt)])
                flight.append((nxt, specs[version(nxt)]))  # its spec as it is sent
                nxt += 1
            assert flight, "the staged pass held back every chunk with none on its way"
            i, spec = flight.pop(int(self.rng.integers(len(flight))))
            yield i, reduce_for_pass(self._result(i), spec)


@pytest.mark.parametrize("model", ["financing", "fighters"])
def test_a_staged_pass_narrows_as_the_stretched_one_whatever_order_chunks_finish_in(
        model, monkeypatch):
    """100 chunks, a pilot of 2, narrowings after chunks 8 and 32: the staged pass, with
    4 or 9 chunks on their way in a random order, uses the windows of the stretched
    pass at each stage (the narrowing read the counts of the same chunks), takes as many
    passes, and gives the in-process summary bit for bit."""
    monkeypatch.setattr(exact_quantiles, "PILOT_ROWS", 40)
    sc = SCENARIOS_BY_MODEL[model]
    opts = RunOptions.build(sc, draws=2000, chunk_size=20, keep="summary", seed=4)
    plan = Plan.for_run(sc, opts, lean=True)
    expected = threatsim.run(sc, keep="summary", progress=False, draws=2000, chunk_size=20,
                             seed=4)

    def collect(source):
        summary = StreamingSummary(sc, opts.settings).collect(source)
        return summary, summary.dataset(plan.params)

    stretched = _Reducing(plan)
    s0, ds0 = collect(stretched)
    assert len(stretched.windows) >= 2  # the narrowings changed the windows
    for lag, seed in ((4, 1), (9, 2), (9, 3)):
        staged = _Reducing(plan, lag=lag, seed=seed)
        s1, ds1 = collect(staged)
        assert staged.windows == stretched.windows, (lag, seed)
        assert s1.pass_no == s0.pass_no
        xr.testing.assert_identical(ds1, ds0)
    for name in ds0.data_vars:  # the bands of the stretched pass are in-process's
        np.testing.assert_array_equal(ds0[name].values, expected[name].values, err_msg=name)


def test_staged_tasks_send_each_chunk_once_and_no_task_across_a_change_of_spec():
    """Held chunks alone and first; the others in batches of consecutive chunks, never
    two specs in one; each task is sent only once its spec is known."""
    sc = SCENARIOS_BY_MODEL["financing"]
    plan = Plan.for_run(sc, RunOptions.build(sc, draws=400, chunk_size=4))
    starts = [12, 40]  # chunk indices from which the second and third specs reduce

    def version(index: int) -> int:
        return int(np.searchsorted(starts, index, side="right"))

    spec = SummaryPass(first=True, lead=1, banded={}, per_draw=[], quant={})
    specs: list[SummaryPass] = [spec]
    held = {i: f"handle-{i}" for i in range(2, 6)}
    staged = StagedTasks(plan, range(2, plan.n_chunks), version, specs, held, in_flight=4)
    sent: list[list[int]] = []
    while True:
        if not staged.ready():
            assert version(sent[-1][-1] + 1) == len(specs)  # waits for exactly the next spec
            specs.append(spec)
            continue
        task = next(staged, None)
        if task is None:
            break
        if isinstance(task, ReducedBatch):
            sent.append([t.index for t in task.tasks])
            assert all(t.held is None for t in task.tasks)
        else:
            assert isinstance(task, ReducedChunkTask)
            sent.append([task.index])
            assert task.held == held.get(task.index)
    assert len(specs) == 3
    assert [i for b in sent for i in b] == list(range(2, plan.n_chunks))
    assert [b[0] for b in sent[:4]] == [2, 3, 4, 5]  # the held ones first, alone
    assert all(len({version(i) for i in b}) == 1 for b in sent)
    assert max(map(len, sent)) == MAX_CHUNKS_PER_TASK
    assert len(sent) < (plan.n_chunks - 2) / 3

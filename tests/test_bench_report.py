"""The benchmark report's ratios: pairs run back to back are compared pair by pair."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from tests.conftest import ROOT

# The scripts are this repository's own: a plain import, so that one that no longer
# imports fails these tests instead of skipping them.
sys.path.insert(0, str(ROOT / "benchmarks"))
import cluster_accounting
import run_all
import scaling


def _rec(kind: str, n: int, workers: int, throughput: float, pair: int | None) -> dict:
    rec = {"kind": kind, "n": n, "workers": workers, "throughput": throughput,
           "seconds": n * 60 / throughput, "peak_rss_mb": 1.0}
    if pair is not None:
        rec["pair"] = pair
    return rec


def test_two_over_one_is_the_median_of_each_pairs_ratio():
    """Three pairs whose machine got slower and faster: each pair's own ratio counts, not
    the fastest 2-worker run over the slowest 1-worker run."""
    recs = [_rec("w2", 100, 1, 10.0, 0), _rec("w2", 100, 2, 18.0, 0),   # 1.8x
            _rec("w2", 100, 2, 12.0, 1), _rec("w2", 100, 1, 8.0, 1),    # 1.5x (busy)
            _rec("w2", 100, 1, 11.0, 2), _rec("w2", 100, 2, 19.8, 2),   # 1.8x
            _rec("w2", 100, 0, 30.0, None), _rec("w2", 5, 1, 1.0, 0)]
    ratio, each = scaling.two_over_one(recs, "w2", 100)
    assert each == pytest.approx([1.8, 1.5, 1.8])
    assert ratio == pytest.approx(1.8)
    assert scaling.two_over_one(recs, "w1-draws", 100) is None
    assert "1.80x" in scaling.table(recs)
    assert "median of 3 pairs" in scaling.table(recs)


def test_a_target_with_pairs_is_judged_on_their_median():
    records = [{"workload": "W2", "implementation": run_all.HEADLINE["W2"], "n": 10,
                "seconds": 1.0, "throughput": 80.0, "peak_rss_mb": 1.0, "checked_correct": True},
               {"workload": "W2", "implementation": "numba, 1 thread (compiled loop)", "n": 10,
                "seconds": 1.0, "throughput": 100.0, "peak_rss_mb": 1.0,
                "checked_correct": True}]
    alone = run_all.report(records, [], [], started="now", wall=1.0)
    assert "| W2: threatsim / numba 1 thread | 0.80x | 0.9x | NO |" in alone
    paired = run_all.report(records, [], [], started="now", wall=1.0,
                            pairs={"W2/numba": [0.95, 0.88, 0.93]})
    assert ("| W2: threatsim / numba 1 thread | 0.93x (median of 3 pairs: 0.95x, 0.88x, "
            "0.93x) | 0.9x | yes |") in paired


def test_the_zero_overhead_bound_is_amdahls_law():
    """A run of 1 s whose client works 0.25 s while no chunk can run: two workers at best
    1 / (0.25 + 0.75 / 2) = 1.6x; all serial: 1x; nothing serial: the number of workers."""
    assert scaling.zero_overhead_bound(1.0, 0.25) == pytest.approx(1.6)
    assert scaling.zero_overhead_bound(1.0, 1.0) == pytest.approx(1.0)
    assert scaling.zero_overhead_bound(2.0, 0.0, workers=4) == pytest.approx(4.0)
    recs = [_rec("w2-summary", 100, 1, 10.0, 0), _rec("w2-summary", 100, 2, 12.0, 0),
            {**_rec("w2-summary", 100, 0, 30.0, None), "timed_total": 1.0,
             "timed_serial": 0.25, "timed_chunks": 0.7, "zero_overhead_bound": 1.6}]
    assert "at most 1.60x" in scaling.table(recs)
    shown = run_all.report([], [{**r, "n": 10_000_000 // 60} for r in recs], [],
                           started="now", wall=1.0)
    # issue 23's aim for W2 at 10^7 draw-months: 1.8x
    assert ("| W2, summary kept: LocalCluster 2 workers / 1 worker, 10^7 draw-months "
            "(at most 1.60x with a costless executor) | 1.20x | 1.8x | NO |") in shown


def test_timed_chunks_gives_the_in_process_dataset_and_splits_its_time():
    """The executor that measures the split runs every chunk once, as the in-process
    default does (the same Dataset), and counts the pilot study as serial time."""
    import xarray as xr

    import threatsim

    sc = threatsim.load_scenario(ROOT / "benchmarks" / "w1.toml")
    timed = scaling.TimedChunks()
    timed.start()
    got = threatsim.run(sc, draws=40_000, chunk_size=8_192, keep="summary", executor=timed,
                        progress=False)
    timed.stop()
    expected = threatsim.run(sc, draws=40_000, chunk_size=8_192, keep="summary",
                             progress=False)
    xr.testing.assert_identical(expected, got)
    assert timed.chunk_seconds > 0
    assert timed.serial_seconds > 0


def test_issue_23_targets_are_reported_from_their_pairs():
    """The 2-core, bounded-path and W3 targets are medians of their pairs, and the peak RSS
    of W1 at 10^7 draws with the summary kept is held to 600 MB."""
    pairs = {"W1-2/numba-2": [0.9, 1.1, 1.05], "W1-bounded/W1": [0.7, 0.75, 0.9],
             "W3/KW-numba": [1.2, 0.8, 1.0]}
    rss = {**_rec("w1-summary", 10_000_000, 0, 1.0, None), "peak_rss_mb": 612.0}
    shown = run_all.report([], [rss], [], started="now", wall=1.0, pairs=pairs)
    assert ("| W1 on 2 cores: threatsim / numba 2 threads | 1.05x (median of 3 pairs: "
            "0.90x, 1.10x, 1.05x) | 1x | yes |") in shown
    assert ("| W1, summary kept (bounded) / every draw kept | 0.75x (median of 3 pairs: "
            "0.70x, 0.75x, 0.90x) | 0.8x | NO |") in shown
    assert "| W3: threatsim.run / Kiefer-Wolfowitz numba 1 thread | 1.00x" in shown
    assert "| W2 on 2 cores: threatsim / numba 2 threads | not measured | 1x | - |" in shown
    assert "| W1, 10^7 draws, summary kept: peak RSS | 612 MB | < 600 MB | NO |" in shown


def test_pairs_alternate_and_a_threatsim_side_runs_threatsim(monkeypatch):
    """Each target runs PAIRS pairs, the order alternating; the bounded path's other side
    is threatsim's in-memory row, not a peer."""
    calls = []

    def fake(cmd, *, cwd, timeout, env=None):
        calls.append(cmd)
        ours = cmd[0] == sys.executable and "--inner" in cmd
        what = cmd[cmd.index("--inner") + 1] if ours else Path(cmd[1]).name
        return {"throughput": 2.0 if what == "w1-summary" else 4.0}, ""

    monkeypatch.setattr(run_all, "run_cmd", fake)
    got = run_all.paired_with_peers("peer-python", "5", "3", {})
    assert got["W1-bounded/W1"] == [0.5] * run_all.PAIRS
    at_bounded = [i for i, c in enumerate(calls) if "w1-summary" in c]
    assert len(at_bounded) == run_all.PAIRS
    # ours first, then the other first, then ours: each bounded call sits next to a w1 call
    for i, at in enumerate(at_bounded):
        other = calls[at + 1] if i % 2 == 0 else calls[at - 1]
        assert other[other.index("--inner") + 1] == "w1"


def test_cluster_accounting_bounds_the_wall_by_the_cpu_the_run_used():
    """On 2 cores a run using 0.4 s of client CPU and 0.8 s of workers' CPU takes at
    least 0.6 s; with one worker, that worker's 0.7 s bounds it instead."""
    two = {"workers": 2, "wall": 0.7, "walls": [0.7], "client_cpu": 0.4, "workers_cpu": 0.8,
           "tasks": 40, "computed": 0.7}
    one = {**two, "workers": 1, "wall": 0.9, "walls": [0.9], "workers_cpu": 0.7}
    assert cluster_accounting.least_wall(two, 2) == pytest.approx(0.6)
    assert cluster_accounting.least_wall(one, 2) == pytest.approx(0.7)  # 1.1 / 2 < 0.7 / 1
    text = cluster_accounting.table([one, two], 2)
    assert "| 0.600 s | 1.50x |" in text  # 0.9 s / 0.6 s
    assert text.splitlines()[2].endswith("| 0.700 s | - |")

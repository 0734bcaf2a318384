"""The benchmark report's ratios: pairs run back to back are compared pair by pair."""

from __future__ import annotations

import sys

import pytest
from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
run_all = pytest.importorskip("run_all")
scaling = pytest.importorskip("scaling")


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
    recs = [_rec("w1-summary", 100, 1, 10.0, 0), _rec("w1-summary", 100, 2, 12.0, 0),
            {**_rec("w1-summary", 100, 0, 30.0, None), "timed_total": 1.0,
             "timed_serial": 0.25, "timed_chunks": 0.7, "zero_overhead_bound": 1.6}]
    assert "at most 1.60x" in scaling.table(recs)
    shown = run_all.report([], [{**r, "n": 10_000_000 // 60} for r in recs], [],
                           started="now", wall=1.0)
    assert ("| W1, summary kept: LocalCluster 2 workers / 1 worker, 10^7 draw-months "
            "(at most 1.60x with a costless executor) | 1.20x | 1.7x | NO |") in shown


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

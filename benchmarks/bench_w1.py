"""Workload W1 (benchmarks/WORKLOADS.md) through threatsim, beside the peers.

Runs benchmarks/w1.toml (the financing model configured as W1) end to end:
load, sample, simulate, collect the Dataset, 5/50/95 % bands and P(depleted)
per month. Prints draw-months per second and peak RSS, and, when the peer
scripts are reachable (PEERS_DIR, default ../shared/benchmarks/peers) runs the
numpy and numba peers in the same session with PEERS_PY (default the peers'
venv ~/.cache/threatsim-peers/venv/bin/python if it exists) and prints ratios.

    python benchmarks/bench_w1.py [--n 1000000] [--repeat 3] [--no-peers]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np

import threatsim

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _record import PEERS_DIR, peers_python, run_peer

HERE = Path(__file__).resolve().parent
PEERS = [  # (label, script, args)
    ("numpy np.percentile", "w1_numpy.py", []),
    ("numpy bracketing", "w1_numpy.py", ["--summary", "bracket"]),
    ("numba 1 thread (compiled loop)", "w1_numba.py", ["--summary", "bracket", "--threads", "1"]),
    ("pure Python", "w1_pure_python.py", ["--n", "20000"]),
    ("EMA Workbench sequential", "w1_ema_workbench.py", ["--n", "2000"]),
]


def threatsim_w1(n: int) -> tuple[float, dict]:
    t0 = time.perf_counter()
    sc = threatsim.load_scenario(HERE / "w1.toml")
    ds = threatsim.run(sc, draws=n, progress=False)
    reserves = ds["reserves"]
    b = threatsim.bands(reserves, [0.05, 0.5, 0.95])
    p_depleted = 1.0 - threatsim.exceedance(reserves, above=0.0)  # reserves are never < 0
    seconds = time.perf_counter() - t0
    return seconds, {"p50_t60": float(b.isel(time=-1).sel(quantile=0.5)),
                     "p_depleted_t60": float(p_depleted.isel(time=-1))}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-peers", action="store_true")
    args = ap.parse_args()
    threatsim_w1(10_000)  # warm up imports
    times = []
    for _ in range(args.repeat):
        seconds, check = threatsim_w1(args.n)
        times.append(seconds)
    med = statistics.median(times)
    ours = args.n * 60 / med
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"threatsim W1: {args.n:,} draws x 60 months in {med:.3f} s (median of "
          f"{args.repeat}) = {ours / 1e6:.1f} M draw-months/s; peak RSS {rss:.0f} MB; {check}")
    rows = [("threatsim (engine + bands + P(depleted))", ours)]
    py = peers_python()
    if not args.no_peers and PEERS_DIR.is_dir():
        for label, script, extra in PEERS:
            result = run_peer(py, script, ["--repeat", "3", *extra], timeout=300)
            if result is None:
                print(f"peer {label}: not run (missing requirements or failed)")
                continue
            rows.append((label, float(result["throughput"])))
            print(f"peer {label}: {result['throughput'] / 1e6:.2f} M draw-months/s")
    print("\n| implementation | M draw-months/s | threatsim / this |\n|---|---|---|")
    for label, thr in rows:
        print(f"| {label} | {thr / 1e6:.2f} | {ours / thr:.2f}x |")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()

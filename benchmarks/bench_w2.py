"""Workload W2 (benchmarks/WORKLOADS.md) through threatsim, beside the peers.

Runs benchmarks/w2.toml: the ``fighters`` model configured as W2 through its
scenario file (not a separate kernel): W2's A, D, P, Rl, X, K are region
iraq's active_local, detained, imprisoned, released, departed and killed, and
W2's "leave the zone" is the model's desertion_rate; every other region and
flow is 0, so a month draws W2's multinomial (as conditional binomials), three
binomials and one Poisson per draw. End to end: load, sample, simulate (all
seven compartments recorded), collect the Dataset, then 5/50/95 % bands of
A, D, P per month. In-process and with 2 worker processes.

Each measurement (threatsim with 1 worker, with 2 workers, each peer) runs in
its own fresh process, one after another. Prints draw-months per second and
peak RSS; checks (untimed) exact
conservation on a small run from the Dataset alone and, when the peers'
``common.py`` is importable, the bands against W2's independent reference
sample. When the peer scripts are reachable (PEERS_DIR, default
../shared/benchmarks/peers) runs them in the same session with PEERS_PY
(default the peers' venv ~/.cache/threatsim-peers/venv/bin/python if it
exists, else this interpreter; peers whose requirements are missing are
reported as not run) and prints ratios.

    python benchmarks/bench_w2.py [--n 100000] [--repeat 3] [--no-peers]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import threatsim

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _record import PEERS_DIR, peers_common, peers_python, run_peer

HERE = Path(__file__).resolve().parent
MONTHS = 60
ADP = ["active_local", "detained", "imprisoned"]
PEERS = [  # (label, script, args)
    ("numpy vectorised (conditional binomials)", "w2_numpy.py", []),
    ("numpy vectorised (native multinomial)", "w2_numpy.py", ["--multinomial", "native"]),
    ("numba 1 thread (compiled loop)", "w2_numba.py", ["--threads", "1"]),
    ("numba 2 threads", "w2_numba.py", ["--threads", "2"]),
    ("pure Python", "w2_pure_python.py", ["--n", "5000"]),
    ("EMA Workbench sequential", "w2_ema_workbench.py", ["--n", "2000"]),
]


def threatsim_w2(n: int, workers: int) -> tuple[float, np.ndarray]:
    """Seconds for one end-to-end run, and the (3, 3, T+1) percentiles of A, D, P."""
    t0 = time.perf_counter()
    sc = threatsim.load_scenario(HERE / "w2.toml")
    ds = threatsim.run(sc, draws=n, executor=workers, progress=False)
    # One compartment at a time: a view of the collected draws, so the bands' working
    # copies stay one compartment large; on the run's workers (threads over the months),
    # as W1's bands are.
    pcts = np.stack([threatsim.bands(ds["population_total"].sel(compartment=c),
                                     [0.05, 0.5, 0.95], workers=workers)
                     .transpose("quantile", "time").values
                     for c in ADP])
    return time.perf_counter() - t0, pcts


def conservation_ok() -> bool:
    """Untimed: from a run's Dataset, people = initial + cumulative recruits, every draw/month."""
    sc = threatsim.load_scenario(HERE / "w2.toml")
    sc = sc.with_values({"outputs.variables": ["population", "recruited"]})
    ds = threatsim.run(sc, draws=2_000, progress=False)
    total = ds["population"].sum(["region", "compartment"])
    return bool((total == total.isel(time=0) + ds["recruited"].sum("region")).all())


def reference_check(pcts: np.ndarray, n: int, invariant: bool) -> dict | None:
    """The peers' own W2 check (independent reference sample), when common.py is importable."""
    common = peers_common()
    if common is None:
        return None
    return common.w2_check(pcts, n, invariant, "checked on 2,000 draws from the Dataset")

def inner(n: int, workers: int, repeat: int) -> None:
    """One threatsim configuration in this (fresh) process; prints one JSON line."""
    threatsim_w2(5_000, 1)  # warm up imports
    times, pcts = [], np.empty(0)
    for _ in range(repeat):
        seconds, pcts = threatsim_w2(n, workers)
        times.append(seconds)
    rec = {"workers": workers, "n": n, "times": times,
           "throughput": n * MONTHS / statistics.median(times),
           "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
           "worker_peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
           "pcts": pcts.tolist()}
    print(json.dumps(rec))


def run_inner(n: int, workers: int, repeat: int) -> dict:
    res = subprocess.run([sys.executable, __file__, "--inner", str(workers), "--n", str(n),
                          "--repeat", str(repeat)], capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--inner", type=int, metavar="WORKERS", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.inner:
        inner(args.n, args.inner, args.repeat)
        return
    # Every measurement runs in its own fresh process, one after another, so that peak
    # RSS is that run's own (a forked child starts with its parent's resident pages).
    ours: dict[int, float] = {}
    pcts = np.empty(0)
    for workers in (1, 2):
        rec = run_inner(args.n, workers, args.repeat)
        ours[workers] = rec["throughput"]
        pcts = np.asarray(rec["pcts"])
        mem = f"peak RSS {rec['peak_rss_mb']:.0f} MB" + (
            f" + up to {rec['worker_peak_rss_mb']:.0f} MB per worker" if workers > 1 else "")
        print(f"threatsim W2, {workers} worker(s): {args.n:,} draws x {MONTHS} months in "
              f"{statistics.median(rec['times']):.3f} s (median of {args.repeat}) = "
              f"{ours[workers] / 1e6:.3f} M draw-months/s; {mem}")
    print(f"second worker: {ours[2] / ours[1]:.2f}x")
    invariant = conservation_ok()
    print(f"conservation from the Dataset (2,000 draws x {MONTHS} months): "
          f"{'exact' if invariant else 'VIOLATED'}")
    check = reference_check(pcts, args.n, invariant)
    if check is not None:
        print(f"bands vs W2's independent reference: {'ok' if check['ok'] else 'FAILED'} "
              f"(worst quantile z {check['worst_quantile_z']}, limit {check['z_limit']})")
    rows = [("threatsim, 1 worker (engine + Dataset + bands)", ours[1]),
            ("threatsim, 2 workers", ours[2])]
    py = peers_python()
    peers: list[tuple[str, float]] = []
    if not args.no_peers and PEERS_DIR.is_dir():
        for label, script, extra in PEERS:
            result = run_peer(py, script, ["--repeat", str(args.repeat), *extra])
            if result is None:
                print(f"peer {label}: not run (missing requirements or failed)")
                continue
            peers.append((label, float(result["throughput"])))
            print(f"peer {label}: {result['throughput'] / 1e6:.3f} M draw-months/s, peak RSS "
                  f"{result['peak_rss_mb']:.0f} MB, checked {result['checked_correct']}")
    print("\n| implementation | M draw-months/s | threatsim 1 worker / this | 2 workers / this |")
    print("|---|---|---|---|")
    for label, thr in rows + peers:
        print(f"| {label} | {thr / 1e6:.3f} | {ours[1] / thr:.2f}x | {ours[2] / thr:.2f}x |")


if __name__ == "__main__":
    main()

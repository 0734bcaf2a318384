"""Workload W3 (benchmarks/WORKLOADS.md) through threatsim, beside the peers.

W3 is an M/M/10 court queue (9 arrivals a day, trials of mean 1 day, start
empty, warm-up 365 days), here benchmarks/w3.toml run by the detention model:

* the SimPy path (the general one, ``method="simpy"``): one SimPy replication
  per draw, cases drawn, simulated and recorded on the monthly grid;
* the fast path (``method="fifo"``, what ``auto`` picks here): the exact
  Kiefer-Wolfowitz recursion vectorised over replications;
* the fast path end to end through ``threatsim.run`` (sampling, chunks, Dataset);
* the compiled event loop (``method="events"``, what ``auto`` picks where the
  recursion does not apply: repatriation, capacity changes), SimPy's event
  order replayed in numba, on the same replications as the SimPy path.

Wall-clock rates are what the ratios use; the CPU-time rate of each threatsim
run is printed too, as a check on a machine shared with other work.
Events are counted as W3 counts them: arrivals plus trial completions within
the horizon. Each threatsim run is checked against Erlang C (mean wait after
the warm-up, within 3 Monte Carlo standard errors, as the peers check
themselves). When the peer scripts are reachable (PEERS_DIR, default
../shared/benchmarks/peers) the plain SimPy model and the numpy and numba
(one thread) Kiefer-Wolfowitz peers run in the same session with PEERS_PY
(default the peers' venv if it exists, else this Python) and the ratios are
printed. Aims (issue 4): SimPy path >= 0.8x the plain SimPy model per event;
fast path >= 60x the SimPy model; (issue 23) the fast path through
``threatsim.run`` >= 1.0x the numba Kiefer-Wolfowitz loop.

    python benchmarks/bench_w3.py [--simpy-reps 20] [--fast-reps 200] [--repeat 3] [--no-peers]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np

import threatsim
from threatsim.engine.sampling import sample_parameters
from threatsim.engine.streams import chance_streams
from threatsim.models.detention import model as det

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _record import PEERS_DIR, peers_python, run_peer

HERE = Path(__file__).resolve().parent
LAM, C, MU, WARMUP = 9.0, 10, 1.0, 365.0


def erlang_c_wq(lam: float = LAM, c: int = C, mu: float = MU) -> float:
    """Mean wait in queue of M/M/c."""
    a = lam / mu
    tail = a**c / math.factorial(c) * c / (c - a)
    return tail / (sum(a**k / math.factorial(k) for k in range(c)) + tail) / (c * mu - lam)


def model_run(sc: threatsim.Scenario, reps: int, seed: int,
              method: str) -> tuple[float, float, int, np.ndarray]:
    """Draw, simulate and record *reps* replications; (seconds, CPU seconds, events, waits).

    The timed part is what the engine asks of the model: every replication
    drawn, simulated and recorded on the monthly grid. The fast path is timed as
    the engine runs it (``simulate_rows``, the scenario's outputs: fused, one
    compiled pass a replication, where numba is installed); the SimPy path draws
    the chunk and records each replication's trace. Events and the post-warm-up
    waits of the Erlang C check are counted afterwards, untimed, from the traces
    of the same replications (the same numbers: each draw has its own streams).
    """
    t0, c0 = time.perf_counter(), time.process_time()
    params = sample_parameters(sc.parameters, reps, seed=seed)
    chance = chance_streams(seed, np.arange(reps))  # a first chunk of reps draws
    if method == "fifo":
        plan, fifo, rows = det._prepare(params, sc.lever_schedule(), sc.horizon, method)
        det.simulate_rows(plan, fifo, rows, chance, frozenset(sc.variables))
    else:
        plan, cb, result = det.simulate_chunk(params, sc.lever_schedule(),
                                              n_months=sc.horizon, chance=chance,
                                              method=method)  # type: ignore[arg-type]
        assert not isinstance(result, det.FifoBatch)
        for k, tr in enumerate(result):
            det.record(cb.case(k), tr, plan)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    plan, cb, result = det.simulate_chunk(params, sc.lever_schedule(), n_months=sc.horizon,
                                          chance=chance, method=method)  # type: ignore[arg-type]
    traces = (det.batch_traces(cb, result, plan) if isinstance(result, det.FifoBatch)
              else result)
    waits = np.empty(reps)
    events = 0
    for k, tr in enumerate(traces):
        c = cb.case(k)
        ok = np.isfinite(tr.trial_start) & (tr.trial_start >= WARMUP)
        waits[k] = np.mean(tr.trial_start[ok] - c.arrive[ok])
        events += c.n + int(np.isfinite(tr.trial_end).sum())
    return seconds, cpu, events, waits


def engine_run(sc: threatsim.Scenario, reps: int, seed: int) -> float:
    t0 = time.perf_counter()
    ds = threatsim.run(sc, draws=reps, seed=seed, progress=False)
    threatsim.bands(ds["backlog_trial"], [0.05, 0.5, 0.95])
    return time.perf_counter() - t0


def check(waits: np.ndarray) -> str:
    se = waits.std(ddof=1) / math.sqrt(waits.size)
    z = (waits.mean() - erlang_c_wq()) / se
    return (f"mean wait {waits.mean():.4f} d vs Erlang C {erlang_c_wq():.4f} d, z = {z:+.2f} "
            f"({'ok' if abs(z) <= 3 else 'FAILED'})")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--simpy-reps", type=int, default=20)
    ap.add_argument("--fast-reps", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-peers", action="store_true")
    args = ap.parse_args()
    sc = threatsim.load_scenario(HERE / "w3.toml")
    model_run(sc, 2, 0, "simpy")  # warm up imports
    model_run(sc, 20, 0, "fifo")
    model_run(sc, 2, 0, "events")  # numba compiles (or loads) the event loop
    rows: list[tuple[str, float]] = []
    cpu_rates: list[float] = []
    for label, method, reps in (("SimPy path", "simpy", args.simpy_reps),
                                ("fast path (FIFO recursion)", "fifo", args.fast_reps)):
        times, cpu, counts, all_waits = [], [], [], []
        for r in range(args.repeat):
            seconds, cpu_seconds, events, waits = model_run(sc, reps, 1000 + r, method)
            times.append(seconds)
            cpu.append(cpu_seconds)
            counts.append(events)
            all_waits.append(waits)
        rate = statistics.median(counts) / statistics.median(times)
        cpu_rate = statistics.median(counts) / statistics.median(cpu)
        rows.append((f"threatsim {label}", rate))
        cpu_rates.append(cpu_rate)
        print(f"threatsim {label}: {reps} replications in {statistics.median(times):.3f} s "
              f"(median of {args.repeat}) = {rate / 1e3:,.0f} k events/s "
              f"({cpu_rate / 1e3:,.0f} k per CPU second); {check(np.concatenate(all_waits))}")
    seconds = statistics.median(engine_run(sc, args.fast_reps, 7 + r) for r in range(args.repeat))
    events_per_rep = 2 * LAM * sc.horizon * det.DAYS_PER_MONTH  # expected, for the engine run
    rate = args.fast_reps * events_per_rep / seconds
    rows.append(("threatsim fast path via threatsim.run (+ Dataset, bands)", rate))
    print(f"threatsim.run (auto = fast path), {args.fast_reps} draws: {seconds:.3f} s = "
          f"{rate / 1e3:,.0f} k events/s (expected events)")

    seconds, _, events, waits = min(
        (model_run(sc, args.simpy_reps, 1000 + r, "events") for r in range(args.repeat)),
        key=lambda result: result[0])
    rows.append(("threatsim compiled event loop (method events)", events / seconds))
    print(f"threatsim compiled event loop: {args.simpy_reps} replications in {seconds:.3f} s "
          f"= {events / seconds / 1e3:,.0f} k events/s; {check(waits)}")

    py = peers_python()
    peers: dict[str, float] = {}
    if not args.no_peers and PEERS_DIR.is_dir():
        for label, script, extra in (
                ("plain SimPy model (peer)", "w3_simpy.py", ["--n", str(args.simpy_reps)]),
                ("Kiefer-Wolfowitz numpy (peer)", "w3_kw_numpy.py",
                 ["--n", str(args.fast_reps)]),
                ("Kiefer-Wolfowitz numba, 1 thread (peer)", "w3_kw_numba.py",
                 ["--threads", "1", "--n", str(args.fast_reps)])):
            result = run_peer(py, script, ["--repeat", str(args.repeat), *extra], timeout=400)
            if result is None:
                print(f"peer {label}: not run")
                continue
            peers[label] = float(result["throughput"])
            rows.append((label, peers[label]))
            print(f"peer {label}: {peers[label] / 1e3:,.0f} k events/s "
                  f"(Erlang C check {'ok' if result.get('checked_correct') else 'FAILED'})")

    ours_simpy, ours_fast = rows[0][1], rows[1][1]
    print("\n| implementation | k events/s | vs threatsim SimPy path |\n|---|---|---|")
    for label, thr in rows:
        print(f"| {label} | {thr / 1e3:,.0f} | {thr / ours_simpy:.2f}x |")
    print(f"\nfast path / SimPy path: {ours_fast / ours_simpy:.0f}x by wall clock, "
          f"{cpu_rates[1] / cpu_rates[0]:.0f}x by CPU time (aim >= 60x)")
    plain = peers.get("plain SimPy model (peer)")
    if plain:
        print(f"SimPy path / plain SimPy model: {ours_simpy / plain:.2f}x per event (aim >= 0.8x)")
        print(f"fast path / plain SimPy model: {ours_fast / plain:.0f}x (aim >= 60x)")
        print(f"threatsim.run / plain SimPy model: {rows[2][1] / plain:.0f}x "
              "(aim >= 60x, issue 7; make bench's headline)")
    kw = peers.get("Kiefer-Wolfowitz numpy (peer)")
    if kw:
        print(f"fast path / Kiefer-Wolfowitz numpy peer: {ours_fast / kw:.2f}x")
    kw_numba = peers.get("Kiefer-Wolfowitz numba, 1 thread (peer)")
    if kw_numba:
        print(f"fast path / Kiefer-Wolfowitz numba loop: {ours_fast / kw_numba:.2f}x; "
              f"threatsim.run / Kiefer-Wolfowitz numba loop: {rows[2][1] / kw_numba:.2f}x "
              "(aim >= 1.0x, issue 23)")


if __name__ == "__main__":
    main()

"""Every benchmark side by side in one run, and benchmarks/RESULTS.md with the ratios.

``make bench`` runs this. One after another (never two at once: the machine
has two cores), each in its own fresh process so that peak RSS is its own:

1. threatsim on W1, W2, W3 of benchmarks/WORKLOADS.md, end to end
   (scenario file -> Dataset -> bands), with the scenarios of benchmarks/;
   checked with the peers' own checks when their ``common.py`` is reachable;
2. the naive baselines written here (naive_w1.py, naive_w2.py: loops a planner
   writes first; naive_w3.py: a plain process-based SimPy model);
3. the peer scripts of PEERS_DIR (default ../shared/benchmarks/peers) with
   PEERS_PY (default ~/.cache/threatsim-peers/venv/bin/python), when that
   folder and interpreter exist; a peer whose package is not installed there is
   listed as not run. ``make bench`` never installs them: see
   docs/scaling.md ("Benchmarks") for the two commands that do;
4. the scaling curves (scaling.py): throughput vs draws and vs workers.

Writes benchmarks/RESULTS.md (machine, tables, ratios, targets met or not),
benchmarks/results.jsonl (one record per run) and benchmarks/scaling.png.

    python benchmarks/run_all.py [--quick] [--no-peers] [--no-scaling]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _record import DEFAULT_PEERS_PY, PEERS_DIR, peers_common, peers_python  # noqa: E402

MONTHS = 60


def _parallel(scenario: str) -> str:
    """How ``--workers N`` runs the chunks of benchmarks/*scenario*: ``threads`` or
    ``processes``, as its model declares for its chunk size."""
    import threatsim
    from threatsim.models.registry import get_model

    sc = threatsim.load_scenario(HERE / scenario)
    return get_model(sc.model).info.parallel_for(sc.run.chunk_size)

# (workload, label, script, args, module the peer needs, n, n for --quick); sizes as in
# peers/run_all.sh, smaller for the slowest ones
PEERS = [
    ("W1", "EMA Workbench, sequential evaluator", "w1_ema_workbench.py",
     ["--evaluator", "sequential"], "ema_workbench", 100_000, 500),
    ("W1", "numba, 1 thread (compiled loop)", "w1_numba.py",
     ["--summary", "bracket", "--threads", "1"], "numba", 1_000_000, 20_000),
    ("W1", "numba, 2 threads", "w1_numba.py", ["--summary", "bracket", "--threads", "2"],
     "numba", 1_000_000, 20_000),
    ("W1", "numpy, sample-bracketing percentiles", "w1_numpy.py", ["--summary", "bracket"],
     "numpy", 1_000_000, 20_000),
    ("W1", "numpy, np.percentile", "w1_numpy.py", [], "numpy", 1_000_000, 20_000),
    ("W1", "pure Python (peer)", "w1_pure_python.py", [], "numpy", 50_000, 1_000),
    ("W2", "EMA Workbench, sequential evaluator", "w2_ema_workbench.py",
     ["--evaluator", "sequential"], "ema_workbench", 20_000, 200),
    ("W2", "numba, 1 thread (compiled loop)", "w2_numba.py", ["--threads", "1"], "numba",
     100_000, 2_000),
    ("W2", "numba, 2 threads", "w2_numba.py", ["--threads", "2"], "numba", 100_000, 2_000),
    ("W2", "numpy vectorised", "w2_numpy.py", ["--multinomial", "conditional"], "numpy",
     100_000, 2_000),
    ("W2", "pure Python (peer)", "w2_pure_python.py", [], "numpy", 10_000, 200),
    ("W3", "plain SimPy model (peer)", "w3_simpy.py", [], "simpy", 67, 2),
    ("W3", "Ciw", "w3_ciw.py", [], "ciw", 60, 2),
    ("W3", "Kiefer-Wolfowitz numpy", "w3_kw_numpy.py", [], "numpy", 200, 10),
    ("W3", "Kiefer-Wolfowitz numba, 1 thread", "w3_kw_numba.py", ["--threads", "1"], "numba",
     200, 10),
]
NAIVE = [("naive_w1.py", ["--n", "100000"]), ("naive_w2.py", ["--n", "5000"]),
         ("naive_w3.py", ["--n", "10"])]
QUICK_NAIVE = [("naive_w1.py", ["--n", "5000", "--repeat", "1"]),
               ("naive_w2.py", ["--n", "200", "--repeat", "1"]),
               ("naive_w3.py", ["--n", "2", "--repeat", "1"])]
UNITS = {"W1": "draw-months/s", "W2": "draw-months/s", "W3": "events/s"}
# the threatsim row each workload's ratios are taken against
HEADLINE = {"W1": "threatsim, in-process", "W2": "threatsim, in-process",
            "W3": "threatsim.run, detention model (auto: exact FIFO recursion)"}


# -- threatsim's own measurements (run in a fresh process each) ---------------------------


def ours_row(what: str) -> tuple[str, str]:
    """The workload and table label of threatsim's ``--inner`` configuration *what*
    (its row in the report, and the side of a pair that names it)."""
    return {"w1": ("W1", HEADLINE["W1"]),
            "w1-summary": ("W1", "threatsim, in-process, summary kept (bounded memory)"),
            # --workers 2 runs threads or processes as the model declares
            "w1-2proc": ("W1", f"threatsim, 2 workers ({_parallel('w1.toml')})"),
            "w2": ("W2", HEADLINE["W2"]),
            "w2-2proc": ("W2", f"threatsim, 2 workers ({_parallel('w2.toml')})"),
            "w3-run": ("W3", HEADLINE["W3"])}[what]


def inner(what: str, n: int, repeat: int) -> None:
    """One threatsim configuration, timed in this process; prints one JSON record."""
    from _record import emit, time_repeats

    import threatsim

    np.seterr(all="ignore")
    common = peers_common()
    if what.startswith("w1"):
        sc = threatsim.load_scenario(HERE / "w1.toml")
        keep = "summary" if what == "w1-summary" else "draws"
        workers = 2 if what == "w1-2proc" else None

        def once():
            ds = threatsim.run(sc, draws=n, keep=keep, executor=workers, progress=False)
            if keep == "summary":
                pcts = ds["reserves"].sel(quantile=[0.05, 0.5, 0.95]).values
                return pcts, ds["p_zero_reserves"].values
            r = ds["reserves"]
            # reserves are never negative, so P(R == 0) = 1 - P(R > 0); the bands and
            # the probability use the run's workers (threads over the months) as well
            threads = workers or 1
            return (threatsim.bands(r, [0.05, 0.5, 0.95], workers=threads).values,
                    1.0 - threatsim.exceedance(r, above=0.0, workers=threads).values)

        once() if n <= 100_000 else threatsim.run(sc, draws=1_000, progress=False)  # warm up
        times, (pcts, pzero) = time_repeats(once, repeat)
        check = common.w1_check(pcts, pzero, n) if common else {"ok": True, "note": "unchecked"}
        emit("W1", ours_row(what)[1], n, times, n * MONTHS, UNITS["W1"],
             check.get("ok", False), check)
    elif what.startswith("w2"):
        import bench_w2

        workers = 2 if what == "w2-2proc" else 1
        bench_w2.threatsim_w2(2_000, 1)  # warm up
        times, pcts = [], None
        for _ in range(repeat):
            seconds, pcts = bench_w2.threatsim_w2(n, workers)
            times.append(seconds)
        check = {"ok": True, "note": "unchecked"}
        if common is not None:
            check = common.w2_check(pcts, n, bench_w2.conservation_ok(),
                                    "checked on 2,000 draws from the Dataset")
        emit("W2", ours_row(what)[1], n, times, n * MONTHS, UNITS["W2"],
             check.get("ok", False), check)
    else:
        import bench_w3

        sc = threatsim.load_scenario(HERE / "w3.toml")
        if what == "w3-run":
            bench_w3.engine_run(sc, 2, 0)
            times = [bench_w3.engine_run(sc, n, 7 + r) for r in range(repeat)]
            events = n * 2 * bench_w3.LAM * sc.horizon * bench_w3.det.DAYS_PER_MONTH
            emit("W3", HEADLINE["W3"], n, times, events, UNITS["W3"], True,
                 {"note": "expected events (2 x 9 a day x horizon); the model's own "
                          "Erlang C check is in the fast-path row"})
            return
        method = "fifo" if what == "w3-fifo" else "simpy"
        bench_w3.model_run(sc, 2, 0, method)
        # model_run returns (seconds, ..., events, waits): take the first and the last two
        runs = [bench_w3.model_run(sc, n, 1000 + r, method) for r in range(repeat)]
        runs = [(r[0], r[-2], r[-1]) for r in runs]
        waits = np.concatenate([w for _, _, w in runs])
        se = waits.std(ddof=1) / np.sqrt(waits.size)
        z = float((waits.mean() - bench_w3.erlang_c_wq()) / se)
        label = ("threatsim detention model, exact FIFO recursion (kernel)" if method == "fifo"
                 else "threatsim detention model, SimPy path (kernel)")
        events = statistics.median(e for _, e, _ in runs)
        emit("W3", label, n, [s for s, _, _ in runs], events, UNITS["W3"], abs(z) <= 3,
             {"z_wait": round(z, 3), "erlang_c_Wq": bench_w3.erlang_c_wq(),
              "replications": int(waits.size)})


def peer_command(py: str, peer: tuple, *, quick: bool, fast_rep: str) -> list[str]:
    """The command line of one PEERS row: its arguments, size and repeats."""
    w, _, script, extra, _, n, n_quick = peer
    fast = script.endswith(("_numba.py", "_numpy.py")) and w in ("W1", "W2")
    repeat = ["--repeat", "1"] if quick else (["--repeat", fast_rep] if fast else [])
    return [py, str(PEERS_DIR / script), *extra, "--n", str(n_quick if quick else n), *repeat]


#: Pairs of threatsim and a peer (or another threatsim configuration) run back to back
#: for each ratio target.
PAIRS = 3
#: target key -> (threatsim's --inner and its n, the other side: a PEERS row's workload
#: and label, or ("threatsim", its --inner, its n))
PAIRED = {
    "W1/numba": ("w1", 1_000_000, ("W1", "numba, 1 thread (compiled loop)")),
    "W1/EMA": ("w1", 1_000_000, ("W1", "EMA Workbench, sequential evaluator")),
    "W1-2/numba-2": ("w1-2proc", 1_000_000, ("W1", "numba, 2 threads")),
    "W1-bounded/W1": ("w1-summary", 1_000_000, ("threatsim", "w1", 1_000_000)),
    "W2/numba": ("w2", 100_000, ("W2", "numba, 1 thread (compiled loop)")),
    "W2/EMA": ("w2", 100_000, ("W2", "EMA Workbench, sequential evaluator")),
    "W2-2/numba-2": ("w2-2proc", 100_000, ("W2", "numba, 2 threads")),
    "W3/KW-numba": ("w3-run", 200, ("W3", "Kiefer-Wolfowitz numba, 1 thread")),
}


def _inner_repeats(what: str, fast_rep: str, rep: str) -> str:
    """Repeats of one threatsim row: sub-second rows take the median of more."""
    return fast_rep if what in ("w1", "w2", "w1-2proc", "w1-summary") else rep


def paired_with_peers(py: str, fast_rep: str, rep: str, env: dict) -> dict[str, list[float]]:
    """threatsim / other throughput for each PAIRED target, from PAIRS pairs run back to
    back (the order alternating): each pair's ratio. Each side runs exactly as its own
    table row does (same size, arguments and repeats)."""
    by_label = {(peer[0], peer[1]): peer for peer in PEERS}
    pairs: dict[str, list[float]] = {}
    for key, (what, n, other) in PAIRED.items():
        ours_cmd = [sys.executable, __file__, "--inner", what, str(n),
                    _inner_repeats(what, fast_rep, rep)]
        if other[0] == "threatsim":
            _, other_what, other_n = other
            other_cmd = [sys.executable, __file__, "--inner", other_what, str(other_n),
                         _inner_repeats(other_what, fast_rep, rep)]
            other_cwd, other_env = HERE, None
        else:
            other_cmd = peer_command(py, by_label[other], quick=False, fast_rep=fast_rep)
            other_cwd, other_env = PEERS_DIR, env
        for p in range(PAIRS):
            got = {}
            for who in (("ours", "other") if p % 2 == 0 else ("other", "ours")):
                rec, _ = (run_cmd(ours_cmd, cwd=HERE, timeout=900) if who == "ours" else
                          run_cmd(other_cmd, cwd=other_cwd, timeout=900, env=other_env))
                if rec:
                    got[who] = rec["throughput"]
            if len(got) == 2:
                pairs.setdefault(key, []).append(got["ours"] / got["other"])
    return pairs


def _last_json(text: str) -> dict | None:
    lines = [ln for ln in text.splitlines() if ln.startswith("{")]
    return json.loads(lines[-1]) if lines else None


def run_cmd(cmd: list[str], *, cwd: Path, timeout: float, env: dict | None = None
            ) -> tuple[dict | None, str]:
    t0 = time.perf_counter()
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=timeout,
                             env=env, check=False)
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout:.0f} s"
    rec = _last_json(res.stdout) if res.returncode == 0 else None
    why = "" if rec else (res.stderr.strip().splitlines() or [f"exit {res.returncode}"])[-1]
    print(f"   {time.perf_counter() - t0:6.1f} s  {' '.join(Path(c).name for c in cmd[1:3])}"
          f"{'' if rec else '  FAILED: ' + why}", file=sys.stderr)
    return rec, why


# -- the report -----------------------------------------------------------------------------


def machine() -> str:
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kb / 2**20:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    import threatsim

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{cpu}, {os.cpu_count()} cores, {mem} RAM; {platform.system()} "
            f"{platform.release()}; Python {platform.python_version()}, numpy {np.__version__}, "
            f"threatsim {threatsim.__version__}; load average {load:.2f} at the start")


def rate(x: float) -> str:
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if x >= div:
            return f"{x / div:.3g} {unit}"
    return f"{x:.3g}"


def report(records: list[dict], scaling: list[dict], notes: list[str], *, started: str,
           wall: float, pairs: dict[str, list[float]] | None = None) -> str:
    out = ["# Benchmark results", "",
           f"Run by `make bench` (benchmarks/run_all.py) on {started}, {wall / 60:.0f} min in "
           "all. Every line ran in its own process, one after another, on this machine:", "",
           f"> {machine()}", "",
           "Workloads: benchmarks/WORKLOADS.md. Throughput is the median of the "
           "repeats; \"threatsim / this\" is the headline threatsim row's throughput over "
           "this row's (above 1: threatsim is faster). Peak RSS is the process's own "
           "(workers' not included).", ""]
    for w in ("W1", "W2", "W3"):
        rows = sorted((r for r in records if r["workload"] == w), key=lambda r: -r["throughput"])
        if not rows:
            continue
        head = next((r for r in rows if r["implementation"] == HEADLINE[w]), rows[0])
        out += [f"## {w}", "",
                f"| implementation | n | median s | throughput ({UNITS[w]}) | peak RSS MB "
                f"| checked | threatsim / this |", "|---|---|---|---|---|---|---|"]
        for r in rows:
            out.append(f"| {r['implementation']} | {r['n']:,} | {r['seconds']:.3g} | "
                       f"{rate(r['throughput'])} | {r['peak_rss_mb']:.0f} | "
                       f"{'yes' if r.get('checked_correct') else 'NO'} | "
                       f"{head['throughput'] / r['throughput']:.2f}x |")
        out.append("")
    pairs = pairs or {}
    out += ["## Targets (issues 7 and 23)", "",
            "A ratio is the two rows' throughputs in the tables above, or, where the two "
            "were also run as pairs back to back (the order alternating), the median of the "
            "pairs' ratios: the machine is shared and its load drifts over the minutes "
            "between rows. \"2 cores\": threatsim with `--workers 2` (threads or "
            "processes, as the model declares) against the peer on 2 threads.", "",
            "| target | measured | aim | met |", "|---|---|---|---|"]

    def thr(w: str, name: str) -> float | None:
        r = next((r for r in records if r["workload"] == w and r["implementation"] == name),
                 None)
        return r["throughput"] if r else None

    def ratio(a: float | None, b: float | None) -> float | None:
        return a / b if a is not None and b is not None else None

    def target(label: str, measured: float | None, aim: float,
               paired: list[float] | None = None) -> None:
        """One target: the ratio of two rows, or, where pairs ran back to back, their median."""
        if paired:
            measured = statistics.median(paired)
            shown = (f"{measured:.2f}x (median of {len(paired)} pairs: "
                     f"{', '.join(f'{x:.2f}x' for x in paired)})")
        elif measured is None:
            out.append(f"| {label} | not measured | {aim:g}x | - |")
            return
        else:
            shown = f"{measured:.2f}x"
        out.append(f"| {label} | {shown} | {aim:g}x | {'yes' if measured >= aim else 'NO'} |")

    simpy = thr("W3", "plain SimPy model (peer)") or thr(
        "W3", "naive process-based SimPy model (written here)")
    for key, label, aim in (
            ("W1/EMA", "W1: threatsim / EMA Workbench sequential", 100),
            ("W1/numba", "W1: threatsim / numba 1 thread", 0.8),
            ("W1-2/numba-2", "W1 on 2 cores: threatsim / numba 2 threads", 1.0),
            ("W1-bounded/W1", "W1, summary kept (bounded) / every draw kept", 0.8),
            ("W2/EMA", "W2: threatsim / EMA Workbench sequential", 12),
            ("W2/numba", "W2: threatsim / numba 1 thread", 0.9),
            ("W2-2/numba-2", "W2 on 2 cores: threatsim / numba 2 threads", 1.0),
            ("W3/KW-numba", "W3: threatsim.run / Kiefer-Wolfowitz numba 1 thread", 1.0)):
        what, _, other = PAIRED[key]
        other_thr = thr(*ours_row(other[1])) if other[0] == "threatsim" else thr(*other)
        target(label, ratio(thr(*ours_row(what)), other_thr), aim, paired=pairs.get(key))
    target("W3: threatsim.run / plain SimPy model", ratio(thr("W3", HEADLINE["W3"]), simpy), 60)
    from scaling import CLUSTER_AIMS, split_record, two_over_one

    rss = next((r for r in scaling if r["kind"] == "w1-summary" and r["n"] == 10_000_000
                and not r["workers"]), None)
    if rss is None:
        out.append("| W1, 10^7 draws, summary kept: peak RSS | not measured | < 600 MB | - |")
    else:
        mb = rss["peak_rss_mb"]
        out.append(f"| W1, 10^7 draws, summary kept: peak RSS | {mb:.0f} MB | < 600 MB | "
                   f"{'yes' if mb < 600 else 'NO'} |")
    # Issue 23's cluster targets (from the CPU accounting of the scale-out note): W1 where
    # a second worker starts to pay, 10^8 draw-months; W2 at 10^7.
    shown = {"w1-summary": "W1, summary kept", "w2": "W2, every draw kept",
             "w2-summary": "W2, summary kept"}
    for (kind, power), aim in CLUSTER_AIMS.items():
        w, at = shown[kind], 10**power // MONTHS
        got = two_over_one(scaling, kind, at)
        # Amdahl's law on the in-process run's own split (scaling.TimedChunks): the most
        # any executor could give, which says whether the aim is reachable at all.
        split = split_record(scaling, kind, at)
        cap = (f" (at most {split['zero_overhead_bound']:.2f}x with a costless executor)"
               if split is not None else "")
        target(f"{w}: LocalCluster 2 workers / 1 worker, 10^{power} draw-months{cap}",
               got[0] if got else None, aim,
               paired=got[1] if got and len(got[1]) > 1 else None)
    out.append("")
    if scaling:
        from scaling import table

        out += ["## Scaling", "", "![throughput vs draws and vs workers](scaling.png)", "",
                table(scaling), ""]
    if notes:
        out += ["## Not run", ""] + [f"- {n}" for n in notes] + [""]
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="tiny sizes: checks the plumbing only")
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--no-scaling", action="store_true")
    ap.add_argument("--out", default=str(HERE / "RESULTS.md"))
    ap.add_argument("--inner", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.inner:
        what, n, repeat = args.inner
        inner(what, int(n), int(repeat))
        return
    started = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    t_start = time.perf_counter()
    q = args.quick
    rep = "1" if q else "3"
    # Sub-second rows take the median of 5 (ours and the numba/numpy peers alike): on this
    # VM the first touch of freshly allocated memory sometimes costs a repeat 50 % more.
    fast_rep = "1" if q else "5"
    ours = [("w1", 20_000 if q else 1_000_000), ("w1-summary", 20_000 if q else 1_000_000),
            ("w1-2proc", 20_000 if q else 1_000_000), ("w2", 1_000 if q else 100_000),
            ("w2-2proc", 1_000 if q else 100_000), ("w3-run", 10 if q else 200),
            ("w3-fifo", 10 if q else 200), ("w3-simpy", 2 if q else 20)]
    records: list[dict] = []
    notes: list[str] = []
    pairs: dict[str, list[float]] = {}
    print("threatsim", file=sys.stderr)
    for what, n in ours:
        r = _inner_repeats(what, fast_rep, rep)
        rec, why = run_cmd([sys.executable, __file__, "--inner", what, str(n), r], cwd=HERE,
                           timeout=1800)
        if rec:
            records.append(rec)
        else:
            notes.append(f"threatsim {what}: {why}")
    print("naive baselines", file=sys.stderr)
    for script, extra in (QUICK_NAIVE if q else NAIVE):
        rec, why = run_cmd([sys.executable, str(HERE / script), *extra], cwd=HERE, timeout=1800)
        if rec:
            records.append(rec)
        else:
            notes.append(f"{script}: {why}")
    py = peers_python(fallback=str(DEFAULT_PEERS_PY))
    if args.no_peers:
        notes.append("peers: --no-peers")
    elif not PEERS_DIR.is_dir():
        notes.append(f"peers: {PEERS_DIR} is not reachable (set PEERS_DIR)")
    elif not Path(py).exists():
        notes.append(f"peers: no interpreter at {py}; install them as docs/scaling.md says "
                     "(or set PEERS_PY)")
    else:
        print(f"peers ({PEERS_DIR}, {py})", file=sys.stderr)
        work = Path(os.environ.get("PEERS_WORK", Path.home() / ".cache" / "threatsim-peers"))
        env = {**os.environ, "PEERS_WORK": str(work)}
        missing = set()
        for peer in PEERS:
            w, label, _, _, module, _, _ = peer
            probe = subprocess.run([py, "-c", f"import {module}"], capture_output=True,
                                   check=False)
            if probe.returncode != 0:
                notes.append(f"{w} {label}: `{module}` is not installed for {py}")
                missing.add((w, label))
                continue
            rec, why = run_cmd(peer_command(py, peer, quick=q, fast_rep=fast_rep),
                               cwd=PEERS_DIR, timeout=900, env=env)
            if rec:
                rec["implementation"] = label
                records.append(rec)
            else:
                notes.append(f"{w} {label}: {why}")
        if not q and any(row in missing for *_, row in PAIRED.values()
                         if row[0] != "threatsim"):
            notes.append("pairs: a peer of the targets is not installed; not paired")
        elif not q:
            print("threatsim and the peers of the targets, back to back", file=sys.stderr)
            pairs = paired_with_peers(py, fast_rep, rep, env)
    scaling: list[dict] = []
    if not args.no_scaling:
        print("scaling", file=sys.stderr)
        res = subprocess.run([sys.executable, str(HERE / "scaling.py"),
                              *(["--quick"] if q else []), "--out", str(Path(args.out).parent)],
                             capture_output=True, text=True, check=False)
        sys.stderr.write(res.stderr)
        path = Path(args.out).parent / "scaling.json"
        if res.returncode == 0 and path.exists():
            scaling = json.loads(path.read_text())
        else:
            notes.append("scaling.py failed (see its output)")
    out = Path(args.out)
    with (out.parent / "results.jsonl").open("w") as fh:
        for r in records:
            fh.write(json.dumps(r, default=float) + "\n")
    text = report(records, scaling, notes, started=started,
                  wall=time.perf_counter() - t_start, pairs=pairs)
    if q:
        text = text.replace("# Benchmark results", "# Benchmark results (--quick: tiny sizes, "
                            "plumbing only; the figures mean nothing)", 1)
    out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()

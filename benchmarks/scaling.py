"""Scaling curves: throughput vs draws (10^3 .. 10^7) and vs workers (1, 2 on a LocalCluster).

* vs draws: W1 (benchmarks/w1.toml) in-process, end to end (sample, simulate,
  bands 5/50/95 % and P(depleted) per month), both keeping every draw in
  memory (up to 10^6 draws: 10^7 would hold 4.9 GB of trajectories) and
  keeping only the summary (``keep="summary"``: exact bands from streamed
  chunks, bounded memory) up to 10^7 draws. Each point runs in a fresh
  process, so its peak RSS is its own.
* vs workers: W1 and W2 (benchmarks/w2.toml) at 10^7 draw-months
  (166,666 draws x 60 months) on a dask LocalCluster of 1 and of 2 worker
  processes (1 thread each), chunks of 8,192 draws; the cluster's start-up
  and one warm-up run are not timed. In-process at the same size for scale.
  W1 also at 10^8 draw-months (1,666,666 draws, summary kept, chunks of 16,384
  draws, the default): where a second worker starts to pay for W1.
  Both with every draw sent back to the client and with ``keep="summary"``,
  where each chunk is reduced on its worker and only bin counts and a few
  values travel (the mode that scales: the client stays idle).

Beside each 1- vs 2-worker ratio, the most two workers could give with an
executor that cost nothing (Amdahl's law on the in-process run's own split,
:class:`TimedChunks`): W1 at 10^7 draw-months spends over a quarter (summary) to
two thirds (every draw kept) of its time on the client while no chunk can run,
which caps two workers below 1.7x whatever the executor.

Writes benchmarks/scaling.json, benchmarks/scaling.png and prints a Markdown table.

    python benchmarks/scaling.py [--quick] [--max-draws 10000000]
    python benchmarks/scaling.py --only w2-summary --out /tmp   # one ratio's pairs
    python benchmarks/scaling.py --replot   # redraw scaling.png from scaling.json
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

HERE = Path(__file__).resolve().parent
MONTHS = 60
CHUNK = 8_192
#: Pairs of 1- and 2-worker measurements at 10^7 draw-months.
PAIRS = 3
#: Issue 23's aims for 2 workers / 1 worker, by (curve, power of 10 of the draw-months):
#: W1 where a second worker starts to pay (10^8), W2 at 10^7. W1 at 10^7 has none: the
#: client's own work caps it (the zero-overhead bound beside its ratio says so).
CLUSTER_AIMS = {("w1-summary", 8): 1.5, ("w2", 7): 1.8, ("w2-summary", 7): 1.8}


def _w1(n: int, keep: str, executor=None, chunk_size=None) -> None:
    import threatsim

    sc = threatsim.load_scenario(HERE / "w1.toml")
    ds = threatsim.run(sc, draws=n, keep=keep, executor=executor, chunk_size=chunk_size,
                       progress=False)
    if keep == "summary":
        float(ds["reserves"].sel(quantile=0.5).isel(time=-1))
        float(ds["p_zero_reserves"].isel(time=-1))
    else:
        b = threatsim.bands(ds["reserves"], [0.05, 0.5, 0.95])
        float(b.isel(time=-1).sel(quantile=0.5))
        float((ds["reserves"] == 0).mean("draw").isel(time=-1))


def _w2(n: int, executor=None, chunk_size=None, keep: str = "draws") -> None:
    import threatsim

    sc = threatsim.load_scenario(HERE / "w2.toml")
    ds = threatsim.run(sc, draws=n, keep=keep, executor=executor, chunk_size=chunk_size,
                       progress=False)
    if keep == "summary":
        ds["population_total"].sel(quantile=0.5).values  # noqa: B018
    else:
        threatsim.bands(ds["population_total"], [0.05, 0.5, 0.95]).values  # noqa: B018


class TimedChunks:
    """Runs chunks in this process, as a cluster's workers would (the same functions,
    results shipped the same way, no transport), and times where the run's time goes.

    ``chunk_seconds``: the chunk calls, the work workers share. ``serial_seconds``:
    the client's work while no chunk can run (before the first chunk, between one
    batch of chunks and the next - e.g. the pilot study of a summary, which the
    chunks of the next pass need - and after the last: the bands, the Dataset). The
    rest (merging results while chunks run) can overlap with the workers.
    """

    def __init__(self) -> None:
        self.chunk_seconds = 0.0
        self.serial_seconds = 0.0
        self._idle_since: float | None = None

    def start(self) -> None:
        self.chunk_seconds = self.serial_seconds = 0.0
        self._idle_since = time.perf_counter()

    def stop(self) -> None:
        self._close_idle()

    def _close_idle(self) -> None:
        if self._idle_since is not None:
            self.serial_seconds += time.perf_counter() - self._idle_since
            self._idle_since = None

    def map_chunks(self, fn, tasks):
        self._close_idle()
        try:
            for task in tasks:
                t0 = time.perf_counter()
                result = fn(task)
                self.chunk_seconds += time.perf_counter() - t0
                yield result
        finally:
            self._idle_since = time.perf_counter()


def zero_overhead_bound(total: float, serial: float, workers: int = 2) -> float:
    """The speed-up *workers* could give at best if moving chunks cost nothing and every
    part of the run but its *serial* seconds were shared perfectly (Amdahl's law)."""
    return total / (serial + (total - serial) / workers)


def job(kind: str, n: int, executor=None, chunk_size=None):
    """The timed work of curve *kind* at *n* draws: a call with no arguments."""
    keep = "summary" if kind.endswith("summary") else "draws"
    if kind.startswith("w1"):
        return lambda: _w1(n, keep, executor, chunk_size)
    return lambda: _w2(n, executor, chunk_size, keep)


def warm_up(kind: str, client=None) -> None:
    """Run curve *kind* small, untimed: imports and compiled kernels here, and with a
    *client*, on every worker, along this mode's path."""
    job(kind, 1_000, None, None)()
    if client is not None:
        job(kind, 8 * CHUNK, client, CHUNK)()


def point(kind: str, n: int, workers: int, repeat: int) -> dict:
    """One measurement in this process (called in a fresh process by main)."""
    np.seterr(all="ignore")
    client = None
    if workers:
        from threatsim.engine.cluster import local_cluster

        client = local_cluster(workers)
    try:
        chunk = CHUNK if workers else None
        if kind == "w1-summary" and workers and n >= 1_000_000:
            chunk = 16_384  # ~10^8 draw-months: half the default chunk's tasks
        fn = job(kind, n, client, chunk)
        warm_up(kind, client)
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        # the split beside the 1- vs 2-worker runs (10^7 draw-months), not the big points
        split = serial_split(kind, n, repeat) if not workers and n <= 200_000 else {}
    finally:
        if client is not None:
            client.close()  # closes its LocalCluster too
    med = statistics.median(times)
    return {"kind": kind, "n": n, "workers": workers, "seconds": med, "times": times,
            "throughput": n * MONTHS / med, "peak_rss_mb": peak, **split}


def serial_split(kind: str, n: int, repeat: int) -> dict:
    """The run's time split as :class:`TimedChunks` measures it (medians of *repeat*)."""
    timed = TimedChunks()
    totals, serials, chunks = [], [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        timed.start()
        job(kind, n, timed, CHUNK)()
        timed.stop()
        totals.append(time.perf_counter() - t0)
        serials.append(timed.serial_seconds)
        chunks.append(timed.chunk_seconds)
    total, serial = statistics.median(totals), statistics.median(serials)
    return {"timed_total": total, "timed_serial": serial, "timed_chunks": statistics.median(chunks),
            "zero_overhead_bound": zero_overhead_bound(total, serial)}


def measure(kind: str, n: int, workers: int = 0, repeat: int = 1) -> dict | None:
    cmd = [sys.executable, __file__, "--point", kind, str(n), str(workers), str(repeat)]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        print(f"  {kind} n={n} workers={workers}: failed: "
              f"{(res.stderr.strip().splitlines() or ['?'])[-1]}", file=sys.stderr)
        return None
    rec = json.loads(res.stdout.strip().splitlines()[-1])
    print(f"  {kind:<11} n={n:>10,} workers={workers or 'in-process'}: {rec['seconds']:8.3f} s "
          f"{rec['throughput'] / 1e6:8.2f} M draw-months/s, peak RSS {rec['peak_rss_mb']:6.0f} MB",
          file=sys.stderr)
    return rec


def table(records: list[dict]) -> str:
    lines = ["| curve | draws | workers | seconds | M draw-months/s | peak RSS MB (client) |",
             "|---|---|---|---|---|---|"]
    names = {"w1-draws": "W1, all draws in memory", "w1-summary": "W1, summary (bounded)",
             "w2": "W2, all draws in memory", "w2-summary": "W2, summary (bounded)"}
    for r in records:
        lines.append(f"| {names[r['kind']]} | {r['n']:,} | {r['workers'] or 'in-process'} | "
                     f"{r['seconds']:.3f} | {r['throughput'] / 1e6:.2f} | "
                     f"{r['peak_rss_mb']:.0f} |")
    for kind, n in sorted({(r["kind"], r["n"]) for r in records if r["workers"]},
                          key=lambda kn: (kn[1], kn[0])):
        got = two_over_one(records, kind, n)
        if got is not None:
            ratio, each = got
            goal = CLUSTER_AIMS.get((kind, round(np.log10(n * MONTHS))))
            aim = f" (aim >= {goal:g}x)" if goal else ""
            pairs = (f" (median of {len(each)} pairs run alternately: "
                     f"{', '.join(f'{x:.2f}x' for x in each)})" if len(each) > 1 else "")
            lines.append(f"\n{names[kind]}, {n * MONTHS:.0e} draw-months: 2 workers / 1 worker = "
                         f"{ratio:.2f}x{aim}{pairs}")
            bound = split_record(records, kind, n)
            if bound is not None:
                lines.append(
                    f"  at most {bound['zero_overhead_bound']:.2f}x with an executor that cost "
                    f"nothing: in-process, {bound['timed_serial']:.3f} s of its "
                    f"{bound['timed_total']:.3f} s is the client's work while no chunk can run "
                    f"(pilot study, bands, Dataset), {bound['timed_chunks']:.3f} s in chunks")
    return "\n".join(lines)


def split_record(records: list[dict], kind: str, n: int) -> dict | None:
    """The in-process record of (kind, n) that carries :func:`serial_split`'s figures."""
    return next((r for r in records if r["kind"] == kind and r["n"] == n
                 and not r["workers"] and "zero_overhead_bound" in r), None)


def two_over_one(records: list[dict], kind: str, n: int) -> tuple[float, list[float]] | None:
    """2 workers / 1 worker throughput for (kind, n): the median over the pairs measured
    back to back (``pair`` in the records), and each pair's ratio. On a shared machine
    whose load drifts over minutes, a pair's two runs see about the same machine."""
    by_pair: dict[int, dict[int, float]] = {}
    for r in records:
        if r["kind"] == kind and r["n"] == n and r["workers"] in (1, 2):
            by_pair.setdefault(r.get("pair", 0), {})[r["workers"]] = r["throughput"]
    each = [p[2] / p[1] for _, p in sorted(by_pair.items()) if 1 in p and 2 in p]
    return (statistics.median(each), each) if each else None


def plot(records: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8))
    # left: every in-process point of W1, in order of draws; hollow where the point is a
    # single run, the first at its size in its process (docs/scaling.md says why it is slower)
    for kind, style, label in (("w1-draws", "o-", "all draws in memory"),
                               ("w1-summary", "s--", "summary (bounded memory)")):
        rs = sorted((r for r in records if r["kind"] == kind and not r["workers"]),
                    key=lambda r: r["n"])
        if rs:
            a.plot([r["n"] for r in rs], [r["throughput"] / 1e6 for r in rs], style,
                   color="black", label=label)
            single = [r for r in rs if len(r.get("times", [])) == 1]
            if single:
                a.plot([r["n"] for r in single], [r["throughput"] / 1e6 for r in single],
                       style[0], color="white", mec="black", zorder=3)
    if any(len(r.get("times", [])) == 1 for r in records if not r["workers"]):
        a.plot([], [], "o", color="white", mec="black", label="a single cold run")
    a.set_xscale("log")
    a.set_xlabel("draws (x 60 months)")
    a.set_ylabel("M draw-months / s")
    a.set_title("W1 in-process: throughput vs draws", fontsize=9)
    a.legend(fontsize=8, frameon=False, loc="upper left")
    a.grid(True, color="0.85", lw=0.5)
    # right: 2 workers over 1 (median of the pairs' ratios), each curve against its own
    # 1-worker throughput, so W1 and W2 share one axis
    sizes = sorted({r["n"] for r in records if r["workers"]})  # 10^7 draw-months, then 10^8
    at, big = (sizes[0], sizes[-1]) if sizes else (0, 0)
    curves = [("w1-draws", at, "o-", "W1, draws"), ("w1-summary", at, "o:", "W1, summary"),
              ("w2", at, "s-", "W2, draws"), ("w2-summary", at, "s:", "W2, summary"),
              ("w1-summary", big, "^--", f"W1, summary, {big * MONTHS:.0e} draw-months")]
    for kind, n, style, label in curves[:4] if big == at else curves:
        got = two_over_one(records, kind, n) if n else None
        if got is not None:
            b.plot([1, 2], [1.0, got[0]], style, color="black", label=f"{label}: {got[0]:.2f}x")
    b.axhline(1.8, color="0.5", lw=0.8, ls="--")
    b.text(1.02, 1.82, "aim 1.8x (W2)", fontsize=7, color="0.4")
    b.set_xticks([1, 2])
    b.set_xlim(0.9, 2.1)
    b.set_ylim(0.9, 2.6)
    b.set_xlabel("LocalCluster workers (1 thread each)")
    b.set_ylabel("throughput / 1-worker throughput")
    b.set_title("2 workers / 1 worker at 10^7 draw-months (median of the pairs)", fontsize=9)
    b.legend(fontsize=7, frameon=False, loc="upper left")
    b.grid(True, color="0.85", lw=0.5)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    ap.add_argument("--max-draws", type=int, default=10_000_000)
    ap.add_argument("--out", default=str(HERE))
    ap.add_argument("--only", metavar="KINDS",
                    help="comma-separated curves (w1-draws, w1-summary, w2, w2-summary): only "
                         "their 1- vs 2-worker pairs, nothing else (to recheck one ratio)")
    ap.add_argument("--point", nargs=4, help=argparse.SUPPRESS)
    ap.add_argument("--replot", action="store_true",
                    help="redraw scaling.png from the recorded scaling.json in --out; run nothing")
    args = ap.parse_args()
    if args.replot:
        out = Path(args.out)
        plot(json.loads((out / "scaling.json").read_text()), out / "scaling.png")
        return
    if args.point:
        kind, n, workers, repeat = args.point
        print(json.dumps(point(kind, int(n), int(workers), int(repeat))))
        return
    top = 100_000 if args.quick else args.max_draws
    sizes = [n for n in (1_000, 10_000, 100_000, 1_000_000, 10_000_000) if n <= top]
    scale_n = 16_667 if args.quick else 10_000_000 // MONTHS
    kinds = ("w1-draws", "w1-summary", "w2", "w2-summary")
    only = [k for k in args.only.split(",") if k] if args.only else None
    if only and not set(only) <= set(kinds):
        ap.error(f"--only: {', '.join(sorted(set(only) - set(kinds)))} is not one of "
                 f"{', '.join(kinds)}")
    records = []
    if not only:
        print("scaling vs draws (W1, in-process)", file=sys.stderr)
    for n in sizes if not only else []:
        # medians of 3 up to 10^6 draws: the first run at a size in a fresh process also
        # pays for touching its memory (0.9 GB at 10^6 draws kept: 1.8 s against 0.45 s)
        rep = 3 if n <= 1_000_000 else 1
        if n <= 1_000_000:
            records.append(measure("w1-draws", n, 0, rep))
        records.append(measure("w1-summary", n, 0, rep))
    print(f"scaling vs workers ({scale_n:,} draws x {MONTHS} months)", file=sys.stderr)
    def in_process_and_pairs(kind: str, n: int, pairs: int) -> None:
        records.append(measure(kind, n, 0, 3))
        # 1 and 2 workers back to back, *pairs* times, the order alternating: the ratio is
        # the median of the pairs' (the machine is shared; its load drifts over minutes).
        for pair in range(pairs):
            for w in ((1, 2) if pair % 2 == 0 else (2, 1)):
                rec = measure(kind, n, w, 3)
                if rec is not None:
                    records.append({**rec, "pair": pair})

    for kind in only or kinds:
        in_process_and_pairs(kind, scale_n, 1 if args.quick else PAIRS)
    if not args.quick and not only:  # where a second worker starts to pay for W1: 10^8
        big = 100_000_000 // MONTHS
        print(f"W1 at {big:,} draws x {MONTHS} months (summary kept)", file=sys.stderr)
        in_process_and_pairs("w1-summary", big, PAIRS)
    records = [r for r in records if r is not None]
    out = Path(args.out)
    (out / "scaling.json").write_text(json.dumps(records, indent=1))
    plot(records, out / "scaling.png")
    print(table(records))


if __name__ == "__main__":
    main()

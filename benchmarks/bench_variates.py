"""Nanoseconds per variate of threatsim.stats.variates, beside numpy's own samplers.

On W2-like arrays (benchmarks/WORKLOADS.md, W2): a chunk of 8192 draws,
each with its own parameters, as one month of W2 asks for them:

* ``killed``    Binomial(A, k), A ~ U(14000, 18000), k ~ U(0.005, 0.02)  (BTRS)
* ``tried``     Binomial(D, j), D = 2000, j ~ U(0.01, 0.05)              (BTRS)
* ``released``  Binomial(P, l), P ~ U(0, 1500), l ~ U(0.002, 0.01)       (mostly inversion)
* ``reengaged`` Binomial(Rl, g), Rl ~ U(0, 60), g ~ U(0.01, 0.05)        (inversion)
* ``recruits``  Poisson(r), r ~ U(100, 400)                              (PTRS)
* ``month``     the whole month: the three competing exits from A as conditional
                binomials, the three binomials and the Poisson (7 variates a draw)

Columns: ours through numpy (``THREATSIM_COMPILED=0``), ours compiled (numba),
``Generator.binomial`` / ``Generator.poisson`` on the same arrays (PCG64, one
stream for the chunk: no common random numbers), and a compiled single-thread
numba loop that calls ``np.random.binomial`` / ``np.random.poisson`` element by
element (the baseline of the W2 target). Best of --repeat timings; nothing is
asserted.

    python benchmarks/bench_variates.py [--draws 8192] [--repeat 7] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from threatsim.core import compiled
from threatsim.stats.variates import ChanceStreams


def _arrays(draws: int, rng: np.random.Generator) -> dict[str, tuple]:
    a = np.round(rng.uniform(14_000, 18_000, draws)).astype(np.int64)
    return {
        "killed": ("binomial", a, rng.uniform(0.005, 0.02, draws)),
        "tried": ("binomial", np.full(draws, 2000, dtype=np.int64), rng.uniform(0.01, 0.05, draws)),
        "released": ("binomial", rng.integers(0, 1500, draws), rng.uniform(0.002, 0.01, draws)),
        "reengaged": ("binomial", rng.integers(0, 60, draws), rng.uniform(0.01, 0.05, draws)),
        "recruits": ("poisson", rng.uniform(100, 400, draws)),
    }


def _best(fn, repeat: int) -> float:
    fn()  # warm: compile, caches
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def _numba_loops():
    """Compiled loops that call numpy's samplers per element (None without numba).

    numba compiles only the legacy ``np.random.*`` functions (its own Mersenne Twister
    per thread), hence NPY002 is silenced here."""
    if not compiled.available():
        return None, None, None

    @compiled.kernel
    def binomial_loop(n, p, out):  # pragma: no cover - compiled
        for i in range(n.size):
            out[i] = np.random.binomial(n[i], p[i])  # noqa: NPY002
        return out

    @compiled.kernel
    def poisson_loop(lam, out):  # pragma: no cover - compiled
        for i in range(lam.size):
            out[i] = np.random.poisson(lam[i])  # noqa: NPY002
        return out

    @compiled.kernel
    def month_loop(a, k, d, j, pr, lr, rl, g, r, out):  # pragma: no cover - compiled
        for i in range(a.size):
            x1 = np.random.binomial(a[i], k[i])  # noqa: NPY002
            x2 = np.random.binomial(a[i] - x1, 0.9 * k[i] / (1.0 - k[i]))  # noqa: NPY002
            x3 = np.random.binomial(a[i] - x1 - x2,  # noqa: NPY002
                                    0.4 * k[i] / (1.0 - k[i] - 0.9 * k[i]))
            out[i] = (x1 + x2 + x3 + np.random.binomial(d[i], j[i])  # noqa: NPY002
                      + np.random.binomial(pr[i], lr[i])  # noqa: NPY002
                      + np.random.binomial(rl[i], g[i])  # noqa: NPY002
                      + np.random.poisson(r[i]))  # noqa: NPY002
        return out

    return binomial_loop, poisson_loop, month_loop


def _month(streams: ChanceStreams, arrays: dict, month: int) -> None:
    _, a, k = arrays["killed"]
    streams.competing_exits(a, [k, k * 0.9, k * 0.4], month=month, flow=0)
    for flow, name in enumerate(("tried", "released", "reengaged"), start=1):
        _, n, p = arrays[name]
        streams.binomial(n, p, month=month, flow=flow)
    streams.poisson(arrays["recruits"][1], month=month, flow=4)


def _month_numpy(gen: np.random.Generator, arrays: dict) -> None:
    _, a, k = arrays["killed"]
    left = a
    used = np.zeros(a.size)
    for pj in (k, k * 0.9, k * 0.4):
        x = gen.binomial(left, pj / (1.0 - used))
        left = left - x
        used = used + pj
    for name in ("tried", "released", "reengaged"):
        _, n, p = arrays[name]
        gen.binomial(n, p)
    gen.poisson(arrays["recruits"][1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=8192)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--json", action="store_true", help="print the rows as JSON too")
    args = ap.parse_args()
    rng = np.random.default_rng(2024)
    arrays = _arrays(args.draws, rng)
    streams = ChanceStreams(2024, np.arange(args.draws))
    gen = np.random.default_rng(7)
    binomial_loop, poisson_loop, month_loop = _numba_loops()
    out = np.empty(args.draws, dtype=np.int64)
    rows = []
    saved = os.environ.get("THREATSIM_COMPILED")
    for name, spec in [*arrays.items(), ("month", None)]:
        per = args.draws * (7 if name == "month" else 1)
        row = {"case": name}
        for label, flag in (("ours_numpy", "0"), ("ours_compiled", "1")):
            if flag == "1" and not compiled.available():
                row[label] = None
                continue
            os.environ["THREATSIM_COMPILED"] = flag
            if name == "month":
                t = _best(lambda: _month(streams, arrays, 3), args.repeat)
            elif spec[0] == "binomial":
                t = _best(lambda s=spec: streams.binomial(s[1], s[2], month=3, flow=1),
                          args.repeat)
            else:
                t = _best(lambda s=spec: streams.poisson(s[1], month=3, flow=1), args.repeat)
            row[label] = t / per * 1e9
        if name == "month":
            row["numpy_generator"] = _best(lambda: _month_numpy(gen, arrays),
                                           args.repeat) / per * 1e9
            flat = [arrays["killed"][1], arrays["killed"][2], *arrays["tried"][1:],
                    *arrays["released"][1:], *arrays["reengaged"][1:], arrays["recruits"][1]]
            row["numba_np_random_loop"] = (None if month_loop is None else _best(
                lambda f=flat: month_loop(*f, out), args.repeat) / per * 1e9)
        elif spec[0] == "binomial":
            row["numpy_generator"] = _best(lambda s=spec: gen.binomial(s[1], s[2]),
                                           args.repeat) / per * 1e9
            row["numba_np_random_loop"] = (None if binomial_loop is None else _best(
                lambda s=spec: binomial_loop(s[1], s[2], out), args.repeat) / per * 1e9)
        else:
            row["numpy_generator"] = _best(lambda s=spec: gen.poisson(s[1]),
                                           args.repeat) / per * 1e9
            row["numba_np_random_loop"] = (None if poisson_loop is None else _best(
                lambda s=spec: poisson_loop(s[1], out), args.repeat) / per * 1e9)
        rows.append(row)
    if saved is None:
        os.environ.pop("THREATSIM_COMPILED", None)
    else:
        os.environ["THREATSIM_COMPILED"] = saved

    def cell(v):
        return "      -" if v is None else f"{v:7.1f}"
    cols = ("ours_numpy", "ours_compiled", "numpy_generator", "numba_np_random_loop")
    print(f"ns per variate, {args.draws} draws a call, best of {args.repeat}")
    print(f"{'case':<10} " + " ".join(f"{c:>20}" for c in cols))
    for row in rows:
        print(f"{row['case']:<10} " + " ".join(f"{cell(row[c]):>20}" for c in cols))
    if args.json:
        print(json.dumps(rows))


if __name__ == "__main__":
    main()

"""W1 (financing reserves) as a planner writes it first: a pure-Python loop.

Written here as the naive baseline of threatsim's benchmarks (benchmarks/
WORKLOADS.md, W1): the standard library's ``random``, one loop over draws and
months keeping every path in lists, then per month a sort and the 5/50/95th
percentiles (linear interpolation, numpy's default) and the share at zero.
No numpy in the timed code. Checked (untimed): month 0 is exactly
U(50e6, 300e6), so its percentiles must be within 5 standard errors of the
exact ones, and the percentiles are ordered.

    python benchmarks/naive_w1.py [--n 100000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import math
import random

from _record import emit, time_repeats

T = 60
BOUNDS = {"R0": (50e6, 300e6), "rev": (1e6, 6e6), "spend": (2e6, 10e6), "d": (0.005, 0.03)}
QS = (5.0, 50.0, 95.0)


def percentile_sorted(col: list[float], q: float) -> float:
    pos = q / 100.0 * (len(col) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(col) - 1)
    return col[lo] + (col[hi] - col[lo]) * (pos - lo)


def simulate(n: int, seed: int) -> tuple[list[list[float]], list[float]]:
    rnd = random.Random(seed)
    paths = []
    for _ in range(n):
        r = rnd.uniform(*BOUNDS["R0"])
        rev = rnd.uniform(*BOUNDS["rev"])
        spend = rnd.uniform(*BOUNDS["spend"])
        d = rnd.uniform(*BOUNDS["d"])
        path = [r]
        for _t in range(T):
            r = max(0.0, r * (1.0 - d) + rev - spend)
            path.append(r)
        paths.append(path)
    pcts = [[0.0] * (T + 1) for _ in QS]
    zero = [0.0] * (T + 1)
    for t in range(T + 1):
        col = sorted(p[t] for p in paths)
        for i, q in enumerate(QS):
            pcts[i][t] = percentile_sorted(col, q)
        zero[t] = sum(1 for v in col if v == 0.0) / n
    return pcts, zero


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    times, (pcts, zero) = time_repeats(lambda: simulate(args.n, args.seed), args.repeat)
    lo, hi = BOUNDS["R0"]
    z = max(abs(pcts[i][0] - (lo + (hi - lo) * q / 100))
            / ((hi - lo) * math.sqrt(q / 100 * (1 - q / 100) / args.n)) for i, q in enumerate(QS))
    ordered = all(pcts[0][t] <= pcts[1][t] <= pcts[2][t] for t in range(T + 1))
    emit("W1", "naive pure-Python loop (written here)", args.n, times, args.n * T,
         "draw-months/s", z <= 5 and ordered,
         {"month0_z": round(z, 3), "ordered": ordered, "p_zero_month60": zero[-1]})


if __name__ == "__main__":
    main()

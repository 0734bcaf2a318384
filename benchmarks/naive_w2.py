"""W2 (fighter flows) as a planner writes it first: a loop over draws and months.

Written here as the naive baseline (benchmarks/WORKLOADS.md, W2): for
each draw and month, numpy's scalar multinomial, binomial and Poisson calls on
the compartments of that draw, in the order the workload states; every path
kept in lists; then the 5/50/95th percentiles of A, D, P per month. Checked
(untimed): the conservation identity A + D + P + X + K + Rl = A0 + D0 +
cumulative recruits holds exactly on every draw and month.

    python benchmarks/naive_w2.py [--n 5000] [--repeat 3]
"""

from __future__ import annotations

import argparse

import numpy as np
from _record import emit, time_repeats

T = 60
A0_RANGE, D0 = (14000, 18000), 2000
BOUNDS = {"k": (0.005, 0.02), "c": (0.005, 0.02), "x": (0.002, 0.01), "r": (100.0, 400.0),
          "j": (0.01, 0.05), "l": (0.002, 0.01), "g": (0.01, 0.05)}


def simulate(n: int, seed: int) -> tuple[np.ndarray, bool]:
    rng = np.random.default_rng(seed)
    paths = []
    conserved = True
    for _ in range(n):
        a = round(rng.uniform(*A0_RANGE))
        p = {k: rng.uniform(*b) for k, b in BOUNDS.items()}
        d, pr, x, k_, rl, recruits = D0, 0, 0, 0, 0, 0
        start = a + d
        path = [(a, d, pr)]
        for _t in range(T):
            killed, detained, left, _stay = rng.multinomial(
                a, [p["k"], p["c"], p["x"], 1 - p["k"] - p["c"] - p["x"]])
            tried = rng.binomial(d, p["j"])
            released = rng.binomial(pr, p["l"])
            reengaged = rng.binomial(rl, p["g"])
            new = rng.poisson(p["r"])
            a += new + reengaged - killed - detained - left
            d += detained - tried
            pr += tried - released
            rl += released - reengaged
            x += left
            k_ += killed
            recruits += new
            conserved &= a + d + pr + x + k_ + rl == start + recruits
            path.append((a, d, pr))
        paths.append(path)
    hist = np.array(paths)  # (n, T+1, 3)
    return np.percentile(hist, [5, 50, 95], axis=0), bool(conserved)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=5_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    times, (_, conserved) = time_repeats(lambda: simulate(args.n, args.seed), args.repeat)
    emit("W2", "naive loop over draws, numpy scalar draws (written here)", args.n, times,
         args.n * T, "draw-months/s", conserved, {"invariant_exact": conserved})


if __name__ == "__main__":
    main()

"""W3 (prosecution backlog) as a plain process-based SimPy model: the naive baseline.

Written here (benchmarks/WORKLOADS.md, W3): an arrivals process and one
process per case requesting one of 10 courts (``simpy.Resource``), FIFO, 3,650
days, warm-up 365 days. Per replication: the mean wait of cases whose trial
starts after the warm-up, and the time-average queue length. Events are W3's:
arrivals plus trial completions. Checked (untimed): the mean wait over
replications is within 3 Monte Carlo standard errors of Erlang C's Wq.

    python benchmarks/naive_w3.py [--n 20] [--repeat 3]
"""

from __future__ import annotations

import argparse
import math
import random

import simpy
from _record import emit, time_repeats

LAM, C, MU, HORIZON, WARMUP = 9.0, 10, 1.0, 3650.0, 365.0


def erlang_c_wq(lam: float = LAM, c: int = C, mu: float = MU) -> float:
    a = lam / mu
    top = a**c / math.factorial(c) / (1 - a / c)
    p_wait = top / (sum(a**k / math.factorial(k) for k in range(c)) + top)
    return p_wait / (c * mu - lam)


def replication(seed: int) -> tuple[float, float, int]:
    rnd = random.Random(seed)
    env = simpy.Environment()
    courts = simpy.Resource(env, capacity=C)
    waits: list[float] = []
    area = [0.0]
    events = [0]
    waiting: dict[int, float] = {}

    def case(key: int, arrived: float):
        waiting[key] = arrived
        with courts.request() as req:
            yield req
            del waiting[key]
            start = env.now
            if start >= WARMUP:
                waits.append(start - arrived)
            area[0] += max(0.0, min(start, HORIZON) - max(arrived, WARMUP))
            yield env.timeout(rnd.expovariate(MU))
            events[0] += 1

    def arrivals():
        key = 0
        while True:
            yield env.timeout(rnd.expovariate(LAM))
            events[0] += 1
            key += 1
            env.process(case(key, env.now))

    env.process(arrivals())
    env.run(until=HORIZON)
    for arrived in waiting.values():  # still waiting at the end: their time inside the window
        area[0] += max(0.0, HORIZON - max(arrived, WARMUP))
    return sum(waits) / len(waits), area[0] / (HORIZON - WARMUP), events[0]


def simulate(n: int, seed: int) -> tuple[list[float], list[float], int]:
    waits, qlens, events = [], [], 0
    for k in range(n):
        w, q, e = replication(seed * 100_003 + k)
        waits.append(w)
        qlens.append(q)
        events += e
    return waits, qlens, events


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    runs = []
    times, _ = time_repeats(lambda: runs.append(simulate(args.n, args.seed + len(runs))),
                            args.repeat)
    waits = [w for r in runs for w in r[0]]
    events = sorted(r[2] for r in runs)[len(runs) // 2]
    mean = sum(waits) / len(waits)
    se = math.sqrt(sum((w - mean) ** 2 for w in waits) / (len(waits) - 1) / len(waits))
    z = (mean - erlang_c_wq()) / se
    emit("W3", "naive process-based SimPy model (written here)", args.n, times, events,
         "events/s", abs(z) <= 3, {"mean_wait": mean, "erlang_c_Wq": erlang_c_wq(),
                                   "z_wait": round(z, 3), "replications": len(waits)},
         simpy=simpy.__version__)


if __name__ == "__main__":
    main()

"""Threads or processes for ``--workers 2``: each model's shipped scenario run in-process,
on 2 threads and on 2 processes, with the same draws and chunks (docs/scaling.md,
"Threads or processes"). ``ModelInfo.parallel`` declares the choice per model; this
script measures it. Prints a Markdown table; wall seconds, median of --repeat.

    python benchmarks/parallel_choice.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

import threatsim
from threatsim.engine.executors import ProcessPoolChunkExecutor, ThreadPoolChunkExecutor
from threatsim.models.registry import get_model

ROOT = Path(__file__).resolve().parents[1]
#: (scenario, draws, chunk size): about a second in-process each, eight chunks or more.
CASES = [
    ("benchmarks/w1.toml", 1_000_000, 16_384),
    ("scenarios/financing.toml", 400_000, 50_000),
    ("benchmarks/w2.toml", 100_000, 12_500),
    ("scenarios/fighters.toml", 8_000, 1_000),
    ("scenarios/baseline.toml", 8_000, 1_000),
    ("scenarios/financing_events.toml", 2_000, 250),
    ("scenarios/detention_iraq_syria.toml", 200, 25),
]


def _seconds(sc: threatsim.Scenario, executor: object, draws: int, chunk: int) -> float:
    t0 = time.perf_counter()
    threatsim.run(sc, draws=draws, chunk_size=chunk, executor=executor,  # type: ignore[arg-type]
                  progress=False)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    np.seterr(all="ignore")
    print("| scenario (model) | draws | in-process | 2 threads | 2 processes | declared |")
    print("|---|---|---|---|---|---|")
    for path, draws, chunk in CASES:
        sc = threatsim.load_scenario(ROOT / path)
        threatsim.run(sc, draws=chunk, chunk_size=chunk, progress=False)  # warm up, compile
        times: dict[str, list[float]] = {"in": [], "threads": [], "processes": []}
        for _ in range(args.repeat):  # the three in turn, so that noise hits them alike
            times["in"].append(_seconds(sc, None, draws, chunk))
            times["threads"].append(_seconds(sc, ThreadPoolChunkExecutor(2), draws, chunk))
            times["processes"].append(_seconds(sc, ProcessPoolChunkExecutor(2), draws, chunk))
        med = {k: statistics.median(v) for k, v in times.items()}
        cells = [f"{med['in']:.2f} s"] + [f"{med[k]:.2f} s ({med['in'] / med[k]:.2f}x)"
                                          for k in ("threads", "processes")]
        print(f"| {path} ({sc.model}) | {draws:,} | {' | '.join(cells)} | "
              f"{get_model(sc.model).info.parallel_for(chunk)} |")


if __name__ == "__main__":
    main()

"""The one-line JSON record every script of benchmarks/ prints (same fields as the peers')."""

from __future__ import annotations

import json
import platform
import resource
import statistics
import time
from collections.abc import Callable
from typing import Any


def peak_rss_mb() -> float:
    """Peak resident set size of this process (MiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def time_repeats(fn: Callable[[], Any], repeat: int) -> tuple[list[float], Any]:
    """Run *fn* *repeat* times; the seconds of each and the last result."""
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return times, result


def emit(workload: str, implementation: str, n: int, times: list[float], work: float,
         unit: str, checked: bool, check: dict[str, Any] | None = None,
         **extra: Any) -> dict[str, Any]:
    """Print and return the record: median seconds and throughput (work units per second)."""
    import numpy as np

    med = statistics.median(times)
    rec = {"workload": workload, "implementation": implementation, "n": n,
           "seconds": round(med, 6), "times": [round(t, 6) for t in times],
           "throughput": work / med, "throughput_unit": unit,
           "peak_rss_mb": round(peak_rss_mb(), 1), "checked_correct": bool(checked),
           "check": check or {}, "versions": {"python": platform.python_version(),
                                              "numpy": np.__version__}, **extra}
    print(json.dumps(rec, default=float), flush=True)
    return rec

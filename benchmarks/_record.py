"""Shared by the scripts of benchmarks/: the one-line JSON record they print (same
fields as the peers'), and the plumbing that finds and runs the peer scripts."""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent
#: The peer scripts (../shared/benchmarks/peers beside the checkout, or $PEERS_DIR).
PEERS_DIR = Path(os.environ.get("PEERS_DIR", HERE.parents[1] / "shared" / "benchmarks" / "peers"))
#: Where docs/scaling.md installs the peers' pinned requirements.
DEFAULT_PEERS_PY = Path.home() / ".cache" / "threatsim-peers" / "venv" / "bin" / "python"


def peers_python(fallback: str | None = sys.executable) -> str | None:
    """$PEERS_PY, else the peers' venv if it exists, else *fallback*."""
    if "PEERS_PY" in os.environ:
        return os.environ["PEERS_PY"]
    return str(DEFAULT_PEERS_PY) if DEFAULT_PEERS_PY.exists() else fallback


def peers_common() -> ModuleType | None:
    """The peers' ``common`` module (their independent W1-W3 checks), if reachable."""
    if not (PEERS_DIR / "common.py").is_file():
        return None
    sys.path.insert(0, str(PEERS_DIR))
    try:
        import common  # type: ignore[import-not-found]
    except ImportError:
        return None
    return common


def run_peer(py: str, script: str, args: list[str], *, timeout: float = 600) -> dict | None:
    """Run one peer script; its last JSON line, or None (and why on stdout) if it failed."""
    try:
        res = subprocess.run([py, str(PEERS_DIR / script), *args], capture_output=True,
                             text=True, timeout=timeout, cwd=PEERS_DIR, check=False)
    except subprocess.TimeoutExpired:
        print(f"  ({script} timed out after {timeout:.0f} s)")
        return None
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("{")]
    if res.returncode != 0 or not lines:
        print(f"  ({script} failed: {res.stderr.strip().splitlines()[-1:] or res.returncode})")
        return None
    return json.loads(lines[-1])


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

"""Competing exits as chains of conditional binomials on integer counts.

Exit k takes Binomial(left, p_k / (1 - p_1 - ... - p_{k-1})) of those who took
none of the earlier exits: the same joint law as one multinomial draw, with
whole people only. ``None`` stands for a flow nobody takes (skipped draws).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from threatsim.models.contract import FloatArray

__all__: list[str] = []


def _inc(dst: np.ndarray, *flows: np.ndarray | None) -> None:
    for x in flows:
        if x is not None:
            dst += x


def _dec(dst: np.ndarray, *flows: np.ndarray | None) -> None:
    for x in flows:
        if x is not None:
            dst -= x


def _total(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
    if a is None:
        return b
    return a if b is None else a + b


def _conditional(probs: Sequence[FloatArray | float], n: int) -> list[np.ndarray | None]:
    """Conditional probabilities of competing exits (``None`` where an exit is impossible).

    Exit k takes Binomial(left, p_k / (1 - p_1 - ... - p_{k-1})) of those who
    took none of the earlier exits: the same joint law as one multinomial draw.
    """
    out: list[np.ndarray | None] = []
    used = np.zeros(n)
    for p in probs:
        p = np.broadcast_to(np.asarray(p, dtype=np.float64), (n,))
        if not p.any():
            out.append(None)
            continue
        free = 1.0 - used
        q = np.divide(p, free, out=np.zeros(n), where=free > 0)
        np.clip(q, 0.0, 1.0, out=q)
        out.append(q)
        used = used + p
    return out


def _chain(binom: Any, count: np.ndarray | None,
           qs: Sequence[np.ndarray | None]) -> list[np.ndarray | None]:
    """Draw the competing exits out of *count*; ``None`` where nobody moves.

    Calls are skipped only where Generator.binomial would return zeros without
    using the stream (n = 0 or p = 0), so skipping never changes the results.
    """
    out: list[np.ndarray | None] = []
    left = count
    for q in qs:
        if q is None or left is None or not left.any():
            out.append(None)
            continue
        x = binom(left, q)
        left = left - x
        out.append(x)
    return out

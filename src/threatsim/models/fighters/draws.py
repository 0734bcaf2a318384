"""What each random number of the fighters model is for, and competing exits as chains
of conditional binomials on integer counts.

Exit k takes Binomial(left, p_k / (1 - p_1 - ... - p_{k-1})) of those who took
none of the earlier exits: the same joint law as one multinomial draw, with
whole people only. ``None`` stands for a flow nobody takes (skipped draws).

Every variate comes from the draw's own stream at counter (event, flow, month)
(:class:`~threatsim.models.contract.Chance`): the flow word is :func:`flow_id` of
a :class:`FighterFlow` and a region, the event the exit's place in its chain. So
a call that is skipped, or a draw that needed more uniforms, changes no other
number.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from enum import IntEnum

import numpy as np

from threatsim.models.contract import Chance, FloatArray

__all__ = ["FIGHTER_FLOW_BASE", "REGION_SLOTS", "FighterFlow", "event_word", "flow_id"]

#: Flow words of the fighters' draws start here, above those of the reserves stock
#: (:class:`~threatsim.models.financing.FinancingFlow`): the coupled model draws both
#: from one stream per draw, so the two ranges must never meet.
FIGHTER_FLOW_BASE = 1 << 20
#: Flow words per kind of flow: one per region, room for regions appended later.
REGION_SLOTS = 1 << 8


class FighterFlow(IntEnum):
    """The kinds of random flows of the fighters model (with a region: :func:`flow_id`).

    These numbers are part of every run's identity: never renumber one, only append.

    >>> int(FighterFlow.LOCAL_EXITS), FighterFlow(6).name
    (1, 'CONVICTION')
    """

    LOCAL_EXITS = 1  # active_local -> killed, detained (arrest, surrender), deserted, crossed
    FOREIGN_EXITS = 2  # active_foreign -> killed, detained (arrest, surrender), departed
    RELOCATION = 3  # departed foreign fighters who relocate instead of going home
    LOCAL_TRIALS = 4  # detained_local -> tried
    FOREIGN_DETAINED_EXITS = 5  # detained_foreign -> tried, repatriated
    CONVICTION = 6  # tried -> convicted (else acquitted)
    PRISON_RELEASE = 7  # imprisoned -> released at the end of a sentence
    PRISON_SHOCK = 8  # imprisoned -> released by a one-off release shock
    REENGAGEMENT = 9  # released -> active_local
    RECRUITMENT = 10  # Poisson recruits -> active_local
    RELOCATION_DESTINATION = 11  # relocators' destinations (event: the destination region)
    DEPENDANT_REPATRIATION = 12  # dependants held in syria -> repatriated (region 0)
    ORIGIN_SPLIT = 13  # a region's returnees split by origin (event: the origin group)
    # Issue 19 (only scenarios with the custody tables draw these). Transfers to another
    # jurisdiction are the last exits of LOCAL_TRIALS (event 1) and of
    # FOREIGN_DETAINED_EXITS (event 2). Events and shocks put their name's key in the event
    # word (:func:`event_word`), so that one event's numbers never depend on another's.
    CONVICTION_FOREIGN = 14  # tried foreign detainees -> convicted (CONVICTION: the local)
    PRISON_RELEASE_FOREIGN = 15  # imprisoned foreign -> released at the end of a sentence
    PRISON_SHOCK_FOREIGN = 16  # imprisoned foreign -> released by the one-off release lever
    RELEASED_FOREIGN_EXITS = 17  # released foreign -> re-engaged (active_foreign), repatriated
    FALL_SPLIT = 18  # a fallen holding's people -> surrendered, fled, killed
    SHOCK_OCCURS = 19  # whether a shock strikes a draw in a month
    SHOCK_SIZE = 20  # the people a shock moves
    FAMILY_ARRIVALS = 21  # dependants arriving with newly detained fighters (event: nationality)
    FAMILY_CHILDREN = 22  # children among them (event: nationality; 2: the stock at the start)
    FAMILY_EXITS = 23  # dependants leaving the camps (event: 2 * nationality + child)


def flow_id(kind: FighterFlow, region: int = 0) -> int:
    """The counter's flow word of *kind* in *region*.

    >>> flow_id(FighterFlow.LOCAL_EXITS, 1) - FIGHTER_FLOW_BASE
    257
    """
    if not 0 <= region < REGION_SLOTS:
        raise ValueError(f"region index must be in [0, {REGION_SLOTS})")
    return FIGHTER_FLOW_BASE + int(kind) * REGION_SLOTS + region


def event_word(name: str, sub: int = 0) -> int:
    """The counter's event word of a named event or shock: its name's CRC-32, then *sub*
    (the outcome, nationality or stock it draws for) in the low 8 bits.

    >>> event_word("hajin", 3) & 0xFF, event_word("hajin") == event_word("hajin", 0)
    (3, True)
    """
    if not 0 <= sub < 256:
        raise ValueError("sub must be in [0, 256)")
    return (zlib.crc32(name.encode()) << 8) | sub


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
    Element by element the same arithmetic as ``Chance.competing_exits``.
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


def _chain(chance: Chance, count: np.ndarray | None, qs: Sequence[np.ndarray | None], *,
           month: int, flow: int, event: int = 0) -> list[np.ndarray | None]:
    """Draw the competing exits out of *count*; ``None`` where nobody moves.

    Exit k uses event ``event + k`` of (month, flow), whether or not the exits
    before it were drawn: a skipped call (nobody left, or nobody can take the
    exit) would have given zeros and consumes nothing any other variate uses.
    """
    out: list[np.ndarray | None] = []
    left = count
    for k, q in enumerate(qs):
        if q is None or left is None or not left.any():
            out.append(None)
            continue
        x = chance.binomial(left, q, month=month, flow=flow, event=event + k)
        left = left - x
        out.append(x)
    return out

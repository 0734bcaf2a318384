"""Returnees by origin group.

A scenario's ``[origins.<region>.<origin>]`` tables give, for each region, the
share of its foreign fighters who come from an origin group (a sourced figure
or a stated assumption, sampled like any parameter under the name
``origin_share_<region>_<origin>``); ``unspecified`` takes the rest, so a
region's shares sum to 1 exactly.

The model does not tag fighters with an origin: the origin composition of a
region's foreign fighters is fixed by its shares. The returnees of region ``r``
in month ``t`` (foreign fighters who went home on their own or were
repatriated) are therefore split by one multinomial draw on whole people,
``Multinomial(home[t, r], (shares_r, 1 - sum(shares_r)))``, drawn as a chain
of conditional binomials in :data:`ORIGINS` order.

The split feeds nothing back into the flows, so it is drawn after the monthly
loop, each month's binomial of origin group j at its own counter (the flow
``ORIGIN_SPLIT`` of the region, event j): every other output is bit-identical
to a run of the same scenario without origins (their numbers are at other
counters), and a scenario that declares no shares draws nothing (every
returnee is ``unspecified``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from threatsim.core.errors import ScenarioError
from threatsim.models.contract import Chance, FloatArray, origin_share_parameter
from threatsim.models.fighters.declarations import ORIGINS, REGIONS
from threatsim.models.fighters.draws import FighterFlow, _conditional, flow_id

__all__ = ["OriginShares", "origin_shares", "share_problems", "split_by_origin"]

#: Per region with declared shares: (region index, [(origin index, share per draw), ...]).
OriginShares = list[tuple[int, list[tuple[int, np.ndarray]]]]

_DECLARABLE = ORIGINS[:-1]  # every group but the rest


def origin_shares(params: Mapping[str, FloatArray]) -> OriginShares:
    """The origin shares the scenario declares, region by region (empty when none).

    >>> shares = origin_shares({"origin_share_syria_europe": np.array([0.1, 0.2])})
    >>> [(REGIONS[r], [(ORIGINS[j], s.tolist()) for j, s in groups]) for r, groups in shares]
    [('syria', [('europe', [0.1, 0.2])])]"""
    out: OriginShares = []
    for i, region in enumerate(REGIONS):
        groups = [(j, np.asarray(params[name], dtype=np.float64))
                  for j, origin in enumerate(_DECLARABLE)
                  if (name := origin_share_parameter(region, origin)) in params]
        if groups:
            out.append((i, groups))
    return out


def split_by_origin(returned_home: np.ndarray, shares: OriginShares,
                    chance: Chance | None) -> np.ndarray:
    """Cumulative returnees by origin, ``(time, origin, draw)``, from ``(time, region, draw)``.

    *returned_home* holds the cumulative returnees of each region (0 at
    index 0). Each month's returnees of a region with declared *shares* are
    split among its origin groups by a multinomial draw; the rest of them, and
    every returnee of the other regions, are ``unspecified``. The sum over
    origins equals the sum over regions exactly, every draw and month.

    >>> home = np.zeros((3, len(REGIONS), 1), dtype=np.int64)  # (time, region, draw)
    >>> home[1:, 1] = [[10], [30]]  # syria: 10 home by month 1, 30 by month 2
    >>> shares = origin_shares({"origin_share_syria_europe": np.array([1.0])})
    >>> from threatsim.stats.variates import ChanceStreams
    >>> by_origin = split_by_origin(home, shares, ChanceStreams(0, [0]))  # (time, origin, draw)
    >>> by_origin[:, :, 0].tolist()  # all from europe
    [[0, 0, 0, 0, 0, 0, 0], [0, 0, 10, 0, 0, 0, 0], [0, 0, 30, 0, 0, 0, 0]]
    """
    n_times, _, n = returned_home.shape
    by_origin = np.zeros((n_times, len(ORIGINS), n), dtype=np.int64)
    monthly = np.diff(returned_home, axis=0)  # (time - 1, region, draw)
    rest = by_origin[1:, len(ORIGINS) - 1]
    np.sum(monthly, axis=1, out=rest)
    for r, groups in shares:
        left = monthly[:, r]
        qs = _conditional([s for _, s in groups], n)
        flow = flow_id(FighterFlow.ORIGIN_SPLIT, r)
        for (j, _), q in zip(groups, qs, strict=True):
            if q is None or not left.any():
                continue
            assert chance is not None, "origin shares are declared: chance is needed"
            went = np.zeros_like(left)
            for m in np.flatnonzero(left.any(axis=1)):  # q is per draw, the same every month
                went[m] = chance.binomial(left[m], q, month=int(m), flow=flow, event=j)
            left = left - went
            by_origin[1:, j] += went
            rest -= went
    np.cumsum(by_origin, axis=0, out=by_origin)
    return by_origin


def share_problems(partial: Any) -> list[ScenarioError]:
    """A region's origin shares must sum to at most 1 at their upper bounds.

    >>> from types import SimpleNamespace
    >>> def upto(high):
    ...     return SimpleNamespace(dist=SimpleNamespace(bounds=lambda: (0.0, high)))
    >>> parts = SimpleNamespace(parameters={"origin_share_syria_europe": upto(0.7),
    ...                                     "origin_share_syria_africa": upto(0.5)})
    >>> [(p.key, p.value) for p in share_problems(parts)]
    [('origins.syria', 1.2)]"""
    problems: list[ScenarioError] = []
    for region in REGIONS:
        terms = []
        for origin in _DECLARABLE:
            param = partial.parameters.get(origin_share_parameter(region, origin))
            if param is not None:
                terms.append((origin, float(param.dist.bounds()[1])))
        total = sum(hi for _, hi in terms)
        if total > 1.0 + 1e-12:
            listed = " + ".join(f"{o} {hi:g}" for o, hi in terms)
            problems.append(ScenarioError(
                f"must sum to at most 1 (shares of the region's foreign fighters by origin; "
                f"at their upper bounds: {listed}; the rest is {ORIGINS[-1]!r}); lower those "
                "ranges", key=f"origins.{region}", value=round(total, 6)))
    return problems

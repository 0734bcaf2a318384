"""The compartments of one chunk of draws, stepped one month at a time.

See :mod:`threatsim.models.fighters` for the flows and their probabilities.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from threatsim.models.contract import Chance, FloatArray
from threatsim.models.fighters.declarations import (
    AFFILIATES,
    COMPARTMENTS,
    FIGHTER_LEVERS,
    IRAQ,
    N_REGIONS,
    REGIONS,
    SYRIA,
)
from threatsim.models.fighters.draws import (
    FighterFlow,
    _chain,
    _conditional,
    _dec,
    _inc,
    _total,
    flow_id,
)
from threatsim.models.fighters.origins import origin_shares, split_by_origin

__all__ = ["FighterFlows"]

_REGIONAL_SERIES = ("detained_foreign", "recruited", "arrived", "moved_out", "returned_home")
_BY_ORIGIN = "returned_home_by_origin"


def _count(x: FloatArray) -> np.ndarray:
    """Sampled people (whole-valued floats) as int64 counts."""
    return np.rint(np.asarray(x, dtype=np.float64)).astype(np.int64)


class FighterFlows:
    """The compartments of one chunk of draws, stepped one month at a time.

    Used alone by :class:`FightersModel` and inside the ``coupled`` model,
    which passes ``recruit_factor`` and ``extra_exit`` each month.

    >>> from threatsim.models.fighters.declarations import INFO
    >>> params = {p.name: np.zeros(2) for p in INFO.parameters}
    >>> params["fighters_iraq_syria"], params["share_in_iraq"] = np.full(2, 50.0), np.ones(2)
    >>> params["desertion_rate"] = np.full(2, 0.2)
    >>> levers = {lever.name: np.full(3, lever.default) for lever in INFO.levers}
    >>> flows = FighterFlows(params, levers, n_months=3, want=frozenset({"population_total"}))
    >>> flows.active([IRAQ]).tolist()
    [50, 50]
    >>> from threatsim.stats.variates import ChanceStreams
    >>> for t in range(3):
    ...     flows.step(t, ChanceStreams(seed=0, draw_index=[0, 1]))
    >>> total = flows.outputs()["population_total"]  # (draw, time, compartment)
    >>> bool((total.sum(axis=2) == 50).all()), bool((flows.active([IRAQ]) < 50).all())
    (True, True)
    """

    def __init__(self, params: Mapping[str, FloatArray], levers: Mapping[str, FloatArray], *,
                 n_months: int, want: frozenset[str],
                 out: Mapping[str, np.ndarray] | None = None) -> None:
        self.want = want
        #: The engine's result buffers, (time, ..., draw), recorded into in place.
        self.given = dict(out) if out is not None else {}
        total = _count(params["fighters_iraq_syria"])
        n = total.shape[0]
        self.n = n

        def zeros() -> np.ndarray:
            return np.zeros((N_REGIONS, n), dtype=np.int64)

        # The compartments, (region, draw) each; ``detained`` is kept as its local and
        # foreign parts (the Dataset's ``detained`` is their sum, ``detained_foreign`` one).
        self.active_local, self.active_foreign = zeros(), zeros()
        self.detained_local, self.detained_foreign = zeros(), zeros()
        self.imprisoned, self.released, self.departed, self.killed = (
            zeros(), zeros(), zeros(), zeros())
        # Cumulative counts, (region, draw) each.
        self.recruited, self.arrived, self.moved_out, self.returned_home = (
            zeros(), zeros(), zeros(), zeros())
        iraq = np.minimum(_count(total * np.asarray(params["share_in_iraq"])), total)
        region_total = {IRAQ: iraq, SYRIA: total - iraq}
        foreign = _count(params["foreign_iraq_syria"])
        f_iraq = np.minimum(_count(foreign * np.asarray(params["foreign_share_in_iraq"])), iraq)
        f_iraq = np.minimum(f_iraq, foreign)
        region_foreign = {IRAQ: f_iraq, SYRIA: np.minimum(foreign - f_iraq, total - iraq)}
        share_aff = np.asarray(params["foreign_share_affiliates"], dtype=np.float64)
        for i, r in enumerate(AFFILIATES, start=2):
            region_total[i] = _count(params[f"fighters_{r}"])
            region_foreign[i] = np.minimum(_count(region_total[i] * share_aff), region_total[i])
        for i in range(N_REGIONS):
            self.active_foreign[i] = region_foreign[i]
            self.active_local[i] = region_total[i] - region_foreign[i]
        self.detained_local[IRAQ] = _count(params["detained_local_iraq"])
        self.detained_local[SYRIA] = _count(params["detained_local_syria"])
        self.detained_foreign[IRAQ] = _count(params["detained_foreign_iraq"])
        self.detained_foreign[SYRIA] = _count(params["detained_foreign_syria"])
        self.dependants = _count(params["dependants_detained_syria"])
        self.dependants_home = np.zeros(n, dtype=np.int64)

        def f64(name: str) -> np.ndarray:
            return np.asarray(params[name], dtype=np.float64)

        self.recruits = np.stack([f64(f"recruits_{r}") for r in REGIONS])
        # The monthly rates and shares, per draw, under their parameters' names.
        self.kill_rate, self.detention_rate = f64("kill_rate"), f64("detention_rate")
        self.surrender_rate = f64("surrender_rate")
        self.desertion_rate, self.departure_rate = f64("desertion_rate"), f64("departure_rate")
        self.relocation_share = f64("relocation_share")
        self.syria_to_iraq_rate = f64("syria_to_iraq_rate")
        self.trial_rate, self.conviction_share = f64("trial_rate"), f64("conviction_share")
        self.release_rate, self.reengagement_rate = f64("release_rate"), f64("reengagement_rate")
        self.all_convicted = bool(np.all(self.conviction_share >= 1.0))
        self.lev = {name: np.asarray(levers[name], dtype=np.float64)
                    for name in (d.name for d in FIGHTER_LEVERS)}
        self.pressure = np.stack([self.lev[f"pressure_{r}"] for r in REGIONS])

        self.any_recruits = [bool(self.recruits[i].any()) for i in range(N_REGIONS)]
        self.can_relocate = (bool(np.any(self.relocation_share))
                             and bool(np.any(self.departure_rate)))
        # A region is live once anybody has been in it; the others are all zeros and skipped.
        self.live = [self.any_recruits[i] or any(bool(x[i].any()) for x in (
            self.active_local, self.active_foreign, self.detained_local, self.detained_foreign))
            for i in range(N_REGIONS)]
        self._rates_cache: dict[tuple[float, ...], tuple[Any, ...]] = {}

        shape = (n_months + 1,)
        self._det = np.empty((N_REGIONS, n), dtype=np.int64)
        self.rec_pop = (self._record_buffer("population",
                                            (*shape, N_REGIONS, len(COMPARTMENTS), n))
                        if "population" in want else None)
        if self.rec_pop is not None:
            self.rec_pop[...] = 0  # rows of regions never live are never written
        self.rec_tot = (self._record_buffer("population_total", (*shape, len(COMPARTMENTS), n))
                        if "population_total" in want else None)
        # Returnees by origin are split from the regional returnees once the months are done.
        self.shares = origin_shares(params) if _BY_ORIGIN in want else []
        keep = want | ({"returned_home"} if _BY_ORIGIN in want else set())
        self.rec_reg = {name: self._record_buffer(name, (*shape, N_REGIONS, n))
                        for name in _REGIONAL_SERIES if name in keep}
        self.rec_dep = {name: self._record_buffer(name, (*shape, n))
                        for name in ("dependants_detained", "dependants_repatriated")
                        if name in want}
        self.record(0)

    def _record_buffer(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """Where output *name* is recorded: the engine's buffer if given, else a new one
        (every month's row is written before it is read)."""
        given = self.given.get(name)
        if given is None:
            return np.empty(shape, dtype=np.int64)
        if given.shape != shape or given.dtype != np.int64:
            raise ValueError(f"out[{name!r}] must be int64 of shape {shape}, "
                             f"not {given.dtype} {given.shape}")
        return given

    # -- state -------------------------------------------------------------------------

    def compartments(self, regions: Sequence[int] = range(N_REGIONS)) -> tuple[np.ndarray, ...]:
        """The seven compartments, each (region, draw), in :data:`COMPARTMENTS` order.

        ``detained`` is up to date only in *regions*.
        """
        for i in regions:
            np.add(self.detained_local[i], self.detained_foreign[i], out=self._det[i])
        return (self.active_local, self.active_foreign, self._det, self.imprisoned,
                self.released, self.departed, self.killed)

    def active(self, regions: Sequence[int]) -> np.ndarray:
        """Active fighters (local + foreign) in *regions*, per draw."""
        out = np.zeros(self.n, dtype=np.int64)
        for i in regions:
            out += self.active_local[i]
            out += self.active_foreign[i]
        return out

    def record(self, index: int) -> None:
        """Store the state as month *index* of the outputs."""
        live = [i for i in range(N_REGIONS) if self.live[i]]
        if self.rec_pop is not None or self.rec_tot is not None:
            for c, arr in enumerate(self.compartments(live)):
                if self.rec_pop is not None:  # rows of regions never live stay 0
                    for i in live:
                        self.rec_pop[index, i, c] = arr[i]
                if self.rec_tot is not None:
                    total = self.rec_tot[index, c]
                    if not live:
                        total[...] = 0
                    for j, i in enumerate(live):
                        if j == 0:
                            total[...] = arr[i]
                        else:
                            total += arr[i]
        for name, buf in self.rec_reg.items():  # each is the attribute of the same name
            buf[index] = getattr(self, name)
        if "dependants_detained" in self.rec_dep:
            self.rec_dep["dependants_detained"][index] = self.dependants
        if "dependants_repatriated" in self.rec_dep:
            self.rec_dep["dependants_repatriated"][index] = self.dependants_home

    def outputs(self, chance: Chance | None = None) -> dict[str, np.ndarray]:
        """Recorded outputs with the draw first: (draw, time, ...).

        Call once, after the last month: ``returned_home_by_origin`` is drawn
        here from *chance* (needed only when the scenario declares origin shares;
        see :mod:`threatsim.models.fighters.origins`).
        """
        out: dict[str, np.ndarray] = {}
        if _BY_ORIGIN in self.want:
            split = split_by_origin(self.rec_reg["returned_home"], self.shares, chance)
            if _BY_ORIGIN in self.given:
                self.given[_BY_ORIGIN][...] = split
                split = self.given[_BY_ORIGIN]
            out[_BY_ORIGIN] = split.transpose(2, 0, 1)
        if self.rec_pop is not None:
            out["population"] = self.rec_pop.transpose(3, 0, 1, 2)
        if self.rec_tot is not None:
            out["population_total"] = self.rec_tot.transpose(2, 0, 1)
        for name, buf in self.rec_reg.items():
            if name in self.want:
                out[name] = buf.transpose(2, 0, 1)
        for name, buf in self.rec_dep.items():
            out[name] = buf.T
        return out

    # -- one month -----------------------------------------------------------------------

    def _rates(self, r: int, t: int, extra_exit: FloatArray | None) -> tuple[Any, ...]:
        """Conditional binomial probabilities of region *r* in month *t* (cached)."""
        lev = self.lev
        press = float(self.pressure[r, t])
        effort, capacity = lev["detention_effort"][t], lev["prosecution_capacity"][t]
        repat, rehab = lev["repatriation_rate"][t], lev["rehabilitation"][t]
        key = (r, press, effort, capacity, repat, rehab)
        if extra_exit is None and key in self._rates_cache:
            return self._rates_cache[key]
        n = self.n
        kill = self.kill_rate * press
        arrest = self.detention_rate * (effort * press)
        surrender = self.surrender_rate * press
        desert, depart = self.desertion_rate, self.departure_rate
        if extra_exit is not None:
            desert, depart = desert + extra_exit, depart + extra_exit
        local = [kill, arrest, surrender, desert]
        if r == SYRIA:
            local.append(self.syria_to_iraq_rate)
        trial = self.trial_rate * capacity
        rates = (
            _conditional(local, n),
            _conditional([kill, arrest, surrender, depart], n),
            _conditional([trial], n),
            _conditional([trial, repat], n),
            _conditional([self.relocation_share], n)[0],
            _conditional([self.release_rate], n)[0],
            _conditional([self.reengagement_rate * (1.0 - rehab)], n)[0],
        )
        if extra_exit is None:
            self._rates_cache[key] = rates
        return rates

    def step(self, t: int, chance: Chance, *,
             recruit_factor: FloatArray | None = None,
             extra_exit: FloatArray | None = None) -> None:
        """Advance month *t* and record month ``t + 1``.

        ``recruit_factor`` (per draw) multiplies the recruitment means;
        ``extra_exit`` (per draw) is added to the desertion and departure
        probabilities (the coupled model's response to empty reserves).
        Each flow of each region draws at its own counter (:class:`FighterFlow`).
        """
        shock = float(self.lev["prison_release_share"][t])

        # Draws of month t in region r, the region of the loop below (read at each call).
        def binom(n: np.ndarray, p: FloatArray | float, kind: FighterFlow) -> np.ndarray:
            return chance.binomial(n, p, month=t, flow=flow_id(kind, r))

        def chain(count: np.ndarray | None, qs: Sequence[np.ndarray | None],
                  kind: FighterFlow) -> list[np.ndarray | None]:
            return _chain(chance, count, qs, month=t, flow=flow_id(kind, r))

        # Relocators choose among the other regions by their strength at the start of the month.
        strength = self.active_local + self.active_foreign if self.can_relocate else None
        # Fighters arriving from other regions this month, (region, draw): added at the end.
        arriving_local: np.ndarray | None = None
        arriving_foreign: np.ndarray | None = None
        for r in [i for i in range(N_REGIONS) if self.live[i]]:
            (q_local, q_foreign, q_detained_local, q_detained_foreign, q_relocate, q_release,
             q_reengage) = self._rates(r, t, extra_exit)
            # This region's compartments: views, updated in place below.
            active_local, active_foreign = self.active_local[r], self.active_foreign[r]
            detained_local, detained_foreign = self.detained_local[r], self.detained_foreign[r]
            imprisoned, released = self.imprisoned[r], self.released[r]
            # The month's flows, all drawn from the state at its start (None: nobody).
            killed_local, arrested_local, surrendered_local, deserted, *crossed = chain(
                active_local, q_local, FighterFlow.LOCAL_EXITS)  # crossed: syria -> iraq
            killed_foreign, arrested_foreign, surrendered_foreign, departed_foreign = chain(
                active_foreign, q_foreign, FighterFlow.FOREIGN_EXITS)
            relocating = (chain(departed_foreign, [q_relocate], FighterFlow.RELOCATION)[0]
                          if departed_foreign is not None else None)
            went_home = departed_foreign if relocating is None else departed_foreign - relocating
            (tried_local,) = chain(detained_local, q_detained_local, FighterFlow.LOCAL_TRIALS)
            tried_foreign, repatriated = chain(detained_foreign, q_detained_foreign,
                                               FighterFlow.FOREIGN_DETAINED_EXITS)
            tried = _total(tried_local, tried_foreign)
            convicted = tried
            if tried is not None and not self.all_convicted:
                convicted = binom(tried, self.conviction_share, FighterFlow.CONVICTION)
            (left_prison,) = chain(imprisoned, [q_release], FighterFlow.PRISON_RELEASE)
            if shock > 0.0:
                rest = imprisoned if left_prison is None else imprisoned - left_prison
                if rest.any():
                    left_prison = _total(left_prison,
                                         binom(rest, shock, FighterFlow.PRISON_SHOCK))
            (reengaged,) = chain(released, [q_reengage], FighterFlow.REENGAGEMENT)
            recruits = None
            if self.any_recruits[r]:
                lam = self.recruits[r] if recruit_factor is None else (
                    self.recruits[r] * recruit_factor)
                recruits = chance.poisson(lam, month=t,
                                          flow=flow_id(FighterFlow.RECRUITMENT, r))

            _inc(active_local, recruits, reengaged)
            _dec(active_local, killed_local, arrested_local, surrendered_local, deserted)
            _dec(active_foreign, killed_foreign, arrested_foreign, surrendered_foreign,
                 departed_foreign)
            _inc(detained_local, arrested_local, surrendered_local)
            _dec(detained_local, tried_local)
            _inc(detained_foreign, arrested_foreign, surrendered_foreign)
            _dec(detained_foreign, tried_foreign, repatriated)
            _inc(imprisoned, convicted)
            _dec(imprisoned, left_prison)
            _inc(released, left_prison, tried)  # the acquitted, and prisoners at term
            _dec(released, convicted, reengaged)
            _inc(self.departed[r], deserted, went_home, repatriated)
            _inc(self.killed[r], killed_local, killed_foreign)
            _inc(self.returned_home[r], went_home, repatriated)
            _inc(self.recruited[r], recruits)
            if crossed and crossed[0] is not None:
                active_local -= crossed[0]
                if arriving_local is None:
                    arriving_local = np.zeros_like(self.active_local)
                arriving_local[IRAQ] += crossed[0]
                self.moved_out[r] += crossed[0]
                self.arrived[IRAQ] += crossed[0]
            if relocating is not None and relocating.any():
                if arriving_foreign is None:
                    arriving_foreign = np.zeros_like(self.active_foreign)
                assert strength is not None
                self._relocate(chance, t, r, relocating, strength, arriving_foreign)
        if arriving_local is not None:
            self.active_local += arriving_local
            self.live[IRAQ] = self.live[IRAQ] or bool(arriving_local[IRAQ].any())
        if arriving_foreign is not None:
            self.active_foreign += arriving_foreign
        dependant_rate = self.lev["dependant_repatriation_rate"][t]
        if dependant_rate > 0.0 and self.dependants.any():
            went = chance.binomial(self.dependants, dependant_rate, month=t,
                                   flow=flow_id(FighterFlow.DEPENDANT_REPATRIATION))
            self.dependants -= went
            self.dependants_home += went
        self.record(t + 1)

    def _relocate(self, chance: Chance, t: int, r: int, relocating: np.ndarray,
                  strength: np.ndarray, arriving_foreign: np.ndarray) -> None:
        """Send region *r*'s relocators to the other regions, by their active strength
        (destination *d*'s binomial: event *d* of the region's destination flow)."""
        idx = np.flatnonzero(relocating)
        chance_idx = chance[idx]  # the relocating draws' own streams
        left = relocating[idx]
        weights = strength[:, idx].astype(np.float64)
        weights[r] = 0.0
        # Weight still to choose from at each destination: a reverse cumulative sum.
        remaining = np.cumsum(weights[::-1], axis=0)[::-1]
        for d in range(N_REGIONS):
            if d == r or not left.any():
                continue
            q = np.divide(weights[d], remaining[d], out=np.zeros(idx.size),
                          where=remaining[d] > 0)
            np.minimum(q, 1.0, out=q)
            moved = chance_idx.binomial(left, q, month=t, event=d,
                                        flow=flow_id(FighterFlow.RELOCATION_DESTINATION, r))
            left -= moved
            arriving_foreign[d, idx] += moved
            self.arrived[d, idx] += moved
            self.moved_out[r, idx] += moved
        # No other region has fighters left: the relocators go home instead.
        self.departed[r, idx] += left
        self.returned_home[r, idx] += left

"""The compartments of one chunk of draws, stepped one month at a time.

See :mod:`threatsim.models.fighters` for the flows and their probabilities.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from threatsim.models.contract import Chance, FloatArray
from threatsim.models.fighters.custody import Fall, Shock, custody_config
from threatsim.models.fighters.declarations import (
    AFFILIATES,
    COMPARTMENTS,
    EVENT_OUTCOMES,
    FIGHTER_LEVERS,
    FOREIGN,
    IRAQ,
    LOCAL,
    N_REGIONS,
    NATIONALITIES,
    REGIONS,
    SHOCK_KINDS,
    SYRIA,
)
from threatsim.models.fighters.draws import (
    FighterFlow,
    _chain,
    _conditional,
    _dec,
    _inc,
    _total,
    event_word,
    flow_id,
)
from threatsim.models.fighters.families import Camps
from threatsim.models.fighters.origins import origin_shares, split_by_origin

__all__ = ["FighterFlows"]

_REGIONAL_SERIES = ("detained_foreign", "recruited", "arrived", "moved_out", "returned_home")
_BY_ORIGIN = "returned_home_by_origin"
#: (time, region, nationality) series of issue 19.
_NATIONALITY_SERIES = ("dependants_held", "children_held", "dependants_arrived",
                       "dependants_left", "transferred")
_BY_NATIONALITY = "population_by_nationality"
_COLLAPSE, _SURGE, _PRISON_BREAK = (SHOCK_KINDS.index(k)
                                    for k in ("collapse", "surge", "prison_break"))


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
                 out: Mapping[str, np.ndarray] | None = None,
                 chance: Chance | None = None, intake_region: int | None = None) -> None:
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
        # Issue 19 (:mod:`.custody`): with any of the custody tables, the imprisoned and
        # released are kept by nationality (``imprisoned`` and ``released`` are then the
        # local ones); without, the courts are nationality-blind as before.
        self.custody = custody_config(params)
        self.by_nat = self.custody.by_nationality
        self.imprisoned_foreign, self.released_foreign = zeros(), zeros()
        # Nationality of the departed and the killed (the foreign ones), of transfers.
        self.departed_foreign, self.killed_foreign = zeros(), zeros()
        self.transferred = np.zeros((2, N_REGIONS, n), dtype=np.int64)
        self.fall_outcomes = np.zeros((len(EVENT_OUTCOMES), N_REGIONS, n), dtype=np.int64)
        self.shock_outcomes = np.zeros((len(SHOCK_KINDS), N_REGIONS, n), dtype=np.int64)
        self.falls: list[list[Fall]] = [[] for _ in range(N_REGIONS)]
        for fall in self.custody.falls:
            self.falls[fall.region].append(fall)
        self.shocks: list[list[Shock]] = [[] for _ in range(N_REGIONS)]
        for sh in self.custody.shocks:
            self.shocks[sh.region].append(sh)
        self.camps: Camps | None = None
        #: With *intake_region*: the fighters newly detained there in each month (arrests,
        #: surrenders, the surrendered of a fall), (month, nationality local/foreign, draw):
        #: the arrivals of the ``fighters_detention`` model's detention DES. Bookkeeping
        #: only: no number is drawn for it, so every other output is unchanged.
        self.intake_region = intake_region
        self.intake = (np.zeros((n_months, 2, n), dtype=np.int64) if intake_region is not None
                       else None)

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
        # A region's own trial rate and conviction share ([courts.<region>]), else the shared.
        self.trial_rates = [self.custody.trial_rate.get(r, self.trial_rate)
                            for r in range(N_REGIONS)]
        self.conviction_shares = [self.custody.conviction_share.get(r, self.conviction_share)
                                  for r in range(N_REGIONS)]
        self.all_convicted_in = [bool(np.all(c >= 1.0)) for c in self.conviction_shares]
        self.lev = {d.name: (np.asarray(levers[d.name], dtype=np.float64) if d.name in levers
                             else np.full(n_months, d.default)) for d in FIGHTER_LEVERS}
        self.pressure = np.stack([self.lev[f"pressure_{r}"] for r in REGIONS])
        self.regime = np.stack([np.stack([self.lev[f"{what}_{r}"] for r in REGIONS])
                                for what in ("prosecution_capacity", "foreign_trials",
                                             "transfer_rate")])  # (3, region, month)

        self.any_recruits = [bool(self.recruits[i].any()) for i in range(N_REGIONS)]
        self.can_relocate = (bool(np.any(self.relocation_share))
                             and bool(np.any(self.departure_rate)))
        # A region is live once anybody has been in it; the others are all zeros and skipped.
        self.live = [self.any_recruits[i] or any(bool(x[i].any()) for x in (
            self.active_local, self.active_foreign, self.detained_local, self.detained_foreign))
            for i in range(N_REGIONS)]
        for fall in self.custody.falls:  # a fall's destination will have people
            if fall.flee_to is not None:
                self.live[fall.flee_to] = True
        for sh in self.custody.shocks:  # a surge recruits into a region
            self.live[sh.region] = self.live[sh.region] or sh.kind == _SURGE
        self._rates_cache: dict[tuple[float, ...], tuple[Any, ...]] = {}
        self._ones = np.ones(n, dtype=np.int64)

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
        n_nat = len(NATIONALITIES)
        self.rec_nat = {name: self._record_buffer(name, (*shape, N_REGIONS, n_nat, n))
                        for name in _NATIONALITY_SERIES if name in want}
        for buf in self.rec_nat.values():
            buf[...] = 0  # unspecified is never written
        self.rec_by_nat = (self._record_buffer(_BY_NATIONALITY,
                                               (*shape, N_REGIONS, len(COMPARTMENTS), n_nat, n))
                           if _BY_NATIONALITY in want else None)
        if self.rec_by_nat is not None:
            self.rec_by_nat[...] = 0
        self.rec_events = ({"event_outcomes": self._record_buffer(
            "event_outcomes", (*shape, N_REGIONS, len(EVENT_OUTCOMES), n))}
            if "event_outcomes" in want else {})
        if "shock_outcomes" in want:
            self.rec_events["shock_outcomes"] = self._record_buffer(
                "shock_outcomes", (*shape, N_REGIONS, len(SHOCK_KINDS), n))
        if self.custody.families is not None:
            if chance is None:
                raise ValueError("a scenario with [families] needs chance= (the children "
                                 "among the dependants held at the start are drawn)")
            self.camps = Camps(self.custody.families, self.dependants, chance)
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
        if not self.by_nat:
            return (self.active_local, self.active_foreign, self._det, self.imprisoned,
                    self.released, self.departed, self.killed)
        return (self.active_local, self.active_foreign, self._det,
                self.imprisoned + self.imprisoned_foreign, self.released + self.released_foreign,
                self.departed, self.killed)

    def by_nationality(self, r: int) -> list[tuple[np.ndarray, ...]]:
        """Region *r*'s compartments as (local, foreign, unspecified) counts, per draw, in
        :data:`COMPARTMENTS` order."""
        zero = np.zeros(self.n, dtype=np.int64)
        if self.by_nat:
            imprisoned = (self.imprisoned[r], self.imprisoned_foreign[r], zero)
            released = (self.released[r], self.released_foreign[r], zero)
        else:  # nationality-blind courts: whoever is tried loses the nationality tag
            imprisoned = (zero, zero, self.imprisoned[r])
            released = (zero, zero, self.released[r])
        return [(self.active_local[r], zero, zero), (zero, self.active_foreign[r], zero),
                (self.detained_local[r], self.detained_foreign[r], zero), imprisoned, released,
                (self.departed[r] - self.departed_foreign[r], self.departed_foreign[r], zero),
                (self.killed[r] - self.killed_foreign[r], self.killed_foreign[r], zero)]

    def dependants_by_nationality(self) -> dict[str, np.ndarray]:
        """The (time, region, nationality) dependants' series now, as (nationality, region,
        draw) for local and foreign: without ``[families]``, the one stock of (syria,
        foreign) of before."""
        if self.camps is not None:
            camps = self.camps
            return {"dependants_held": camps.held(), "children_held": camps.children,
                    "dependants_arrived": camps.arrived, "dependants_left": camps.left}
        held, left = (np.zeros((2, N_REGIONS, self.n), dtype=np.int64) for _ in range(2))
        held[FOREIGN, SYRIA] = self.dependants
        left[FOREIGN, SYRIA] = self.dependants_home
        zero = np.zeros_like(held)
        return {"dependants_held": held, "children_held": zero, "dependants_arrived": zero,
                "dependants_left": left}

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
        if self.camps is None:
            if "dependants_detained" in self.rec_dep:
                self.rec_dep["dependants_detained"][index] = self.dependants
            if "dependants_repatriated" in self.rec_dep:
                self.rec_dep["dependants_repatriated"][index] = self.dependants_home
        else:  # the dependants of foreign fighters held in north-east Syria, as before
            if "dependants_detained" in self.rec_dep:
                self.rec_dep["dependants_detained"][index] = self.camps.held()[FOREIGN, SYRIA]
            if "dependants_repatriated" in self.rec_dep:
                self.rec_dep["dependants_repatriated"][index] = self.camps.left[FOREIGN, SYRIA]
        if self.rec_nat:
            series = {"transferred": self.transferred}
            if set(self.rec_nat) - {"transferred"}:
                series.update(self.dependants_by_nationality())
            for name, buf in self.rec_nat.items():
                buf[index, :, :2] = series[name].transpose(1, 0, 2)
        if self.rec_by_nat is not None:
            for i in live:
                for c, parts in enumerate(self.by_nationality(i)):
                    for k, part in enumerate(parts):
                        self.rec_by_nat[index, i, c, k] = part
        if "event_outcomes" in self.rec_events:
            self.rec_events["event_outcomes"][index] = self.fall_outcomes.transpose(1, 0, 2)
        if "shock_outcomes" in self.rec_events:
            self.rec_events["shock_outcomes"][index] = self.shock_outcomes.transpose(1, 0, 2)

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
        for name, buf in self.rec_nat.items():
            out[name] = buf.transpose(3, 0, 1, 2)
        if self.rec_by_nat is not None:
            out[_BY_NATIONALITY] = self.rec_by_nat.transpose(4, 0, 1, 2, 3)
        for name, buf in self.rec_events.items():
            out[name] = buf.transpose(3, 0, 1, 2)
        return out

    # -- one month -----------------------------------------------------------------------

    def _rates(self, r: int, t: int, extra_exit: FloatArray | None) -> tuple[Any, ...]:
        """Conditional binomial probabilities of region *r* in month *t* (cached)."""
        lev = self.lev
        press = float(self.pressure[r, t])
        effort, capacity = lev["detention_effort"][t], lev["prosecution_capacity"][t]
        repat, rehab = lev["repatriation_rate"][t], lev["rehabilitation"][t]
        cap_r, foreign_r, transfer = (float(x) for x in self.regime[:, r, t])
        released_home = lev["released_repatriation_rate"][t]
        key = (r, press, effort, capacity, repat, rehab, cap_r, foreign_r, transfer,
               released_home)
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
        trial = self.trial_rates[r] * capacity
        if cap_r != 1.0:  # a region's regime (x 1.0 would change no bit either)
            trial = trial * cap_r
        trial_foreign = trial * foreign_r if foreign_r != 1.0 else trial
        reengage = self.reengagement_rate * (1.0 - rehab)
        rates = (
            _conditional(local, n),
            _conditional([kill, arrest, surrender, depart], n),
            _conditional([trial, transfer], n),  # transfer: the last exit, event 1
            _conditional([trial_foreign, repat, transfer], n),
            _conditional([self.relocation_share], n)[0],
            _conditional([self.release_rate], n)[0],
            _conditional([reengage], n)[0],
            _conditional([reengage, released_home], n) if self.by_nat else None,
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
        newly = (np.zeros((2, N_REGIONS, self.n), dtype=np.int64)
                 if self.camps is not None or self.intake is not None
                 else None)  # newly detained fighters, (nationality, region, draw): families
        for r in [i for i in range(N_REGIONS) if self.live[i]]:
            (q_local, q_foreign, q_detained_local, q_detained_foreign, q_relocate, q_release,
             q_reengage, q_released_foreign) = self._rates(r, t, extra_exit)
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
            tried_local, transferred_local = chain(detained_local, q_detained_local,
                                                   FighterFlow.LOCAL_TRIALS)
            tried_foreign, repatriated, transferred_foreign = chain(
                detained_foreign, q_detained_foreign, FighterFlow.FOREIGN_DETAINED_EXITS)
            released_home = None  # released foreign fighters repatriated (custody tables)
            if self.by_nat:
                reengaged, released_home = self._courts_by_nationality(
                    chance, t, r, tried_local, tried_foreign, q_release, q_reengage,
                    q_released_foreign, shock)
            else:
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
            _dec(detained_local, tried_local, transferred_local)
            _inc(detained_foreign, arrested_foreign, surrendered_foreign)
            _dec(detained_foreign, tried_foreign, repatriated, transferred_foreign)
            if not self.by_nat:
                _inc(imprisoned, convicted)
                _dec(imprisoned, left_prison)
                _inc(released, left_prison, tried)  # the acquitted, and prisoners at term
                _dec(released, convicted, reengaged)
            _inc(self.departed[r], deserted, went_home, repatriated, released_home,
                 transferred_local, transferred_foreign)
            _inc(self.departed_foreign[r], went_home, repatriated, released_home,
                 transferred_foreign)
            _inc(self.killed[r], killed_local, killed_foreign)
            _inc(self.killed_foreign[r], killed_foreign)
            _inc(self.returned_home[r], went_home, repatriated, released_home)
            _inc(self.recruited[r], recruits)
            _inc(self.transferred[LOCAL, r], transferred_local)
            _inc(self.transferred[FOREIGN, r], transferred_foreign)
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
            if newly is not None:
                _inc(newly[LOCAL, r], arrested_local, surrendered_local)
                _inc(newly[FOREIGN, r], arrested_foreign, surrendered_foreign)
            for fall in self.falls[r]:
                if arriving_local is None:
                    arriving_local = np.zeros_like(self.active_local)
                if arriving_foreign is None:
                    arriving_foreign = np.zeros_like(self.active_foreign)
                self._fall(chance, t, fall, (arriving_local, arriving_foreign), newly)
            for sh in self.shocks[r]:
                self._shock(chance, t, sh)
        if arriving_local is not None:
            self.active_local += arriving_local
            self.live[IRAQ] = self.live[IRAQ] or bool(arriving_local[IRAQ].any())
        if arriving_foreign is not None:
            self.active_foreign += arriving_foreign
        if self.intake is not None:
            assert newly is not None
            assert self.intake_region is not None
            self.intake[t] = newly[:, self.intake_region]
        dependant_rate = self.lev["dependant_repatriation_rate"][t]
        if self.camps is not None:
            assert newly is not None
            self.camps.step(t, chance, newly, repatriation=float(dependant_rate))
        elif dependant_rate > 0.0 and self.dependants.any():
            went = chance.binomial(self.dependants, dependant_rate, month=t,
                                   flow=flow_id(FighterFlow.DEPENDANT_REPATRIATION))
            self.dependants -= went
            self.dependants_home += went
        self.record(t + 1)

    # -- issue 19: courts by nationality, falls of holdings, shocks ---------------------

    def _courts_by_nationality(self, chance: Chance, t: int, r: int,
                               tried_local: np.ndarray | None, tried_foreign: np.ndarray | None,
                               q_release: np.ndarray | None, q_reengage: np.ndarray | None,
                               q_released_foreign: list[np.ndarray | None] | None,
                               shock: float) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Region *r*'s trials, prisons and released, local and foreign apart, drawn from
        the state at the start of the month and updated in place. Returns the re-engaged
        local fighters (the caller adds them to ``active_local``) and the released foreign
        fighters repatriated (the caller counts them home); the re-engaged foreign fighters
        rejoin ``active_foreign`` here."""
        assert q_released_foreign is not None
        (reengaged,) = _chain(chance, self.released[r], [q_reengage], month=t,
                              flow=flow_id(FighterFlow.REENGAGEMENT, r))
        rejoined, home = _chain(chance, self.released_foreign[r], q_released_foreign, month=t,
                                flow=flow_id(FighterFlow.RELEASED_FOREIGN_EXITS, r))
        share = self.conviction_shares[r]
        moves = []
        for tried, imprisoned, conviction, release, release_shock in (
                (tried_local, self.imprisoned[r], FighterFlow.CONVICTION,
                 FighterFlow.PRISON_RELEASE, FighterFlow.PRISON_SHOCK),
                (tried_foreign, self.imprisoned_foreign[r], FighterFlow.CONVICTION_FOREIGN,
                 FighterFlow.PRISON_RELEASE_FOREIGN, FighterFlow.PRISON_SHOCK_FOREIGN)):
            convicted = tried
            if tried is not None and not self.all_convicted_in[r]:
                convicted = chance.binomial(tried, share, month=t, flow=flow_id(conviction, r))
            (left_prison,) = _chain(chance, imprisoned, [q_release], month=t,
                                    flow=flow_id(release, r))
            if shock > 0.0:
                rest = imprisoned if left_prison is None else imprisoned - left_prison
                if rest.any():
                    left_prison = _total(left_prison, chance.binomial(
                        rest, shock, month=t, flow=flow_id(release_shock, r)))
            moves.append((tried, convicted, left_prison))
        for (tried, convicted, left_prison), imprisoned, released in zip(
                moves, (self.imprisoned[r], self.imprisoned_foreign[r]),
                (self.released[r], self.released_foreign[r]), strict=True):
            _inc(imprisoned, convicted)
            _dec(imprisoned, left_prison)
            _inc(released, left_prison, tried)  # the acquitted, and prisoners at term
            _dec(released, convicted)
        _dec(self.released[r], reengaged)
        _dec(self.released_foreign[r], rejoined, home)
        _inc(self.active_foreign[r], rejoined)
        return reengaged, home

    def _fall(self, chance: Chance, t: int, fall: Fall,
              arriving: tuple[np.ndarray, np.ndarray], newly: np.ndarray | None) -> None:
        """The fall of a holding, in the draws whose month of it is *t*: its strength (at
        most the region's active fighters after the month's other flows; foreign ones by
        its foreign share) split by one multinomial draw into surrendered (-> detained),
        fled (-> the active fighters of ``flee_to``, or they stay) and killed; the rest
        hold on as active fighters."""
        idx = np.flatnonzero(fall.month == t)
        if not idx.size:
            return
        r = fall.region
        sub = chance[idx]
        strength = fall.strength[idx]
        foreign_target = np.minimum(_count(strength * fall.foreign_share[idx]), strength)
        qs = _conditional([fall.surrender[idx], fall.flee[idx], fall.killed[idx]], idx.size)
        flow = flow_id(FighterFlow.FALL_SPLIT, r)
        for nat, active, detained, target in (
                (LOCAL, self.active_local[r], self.detained_local[r], strength - foreign_target),
                (FOREIGN, self.active_foreign[r], self.detained_foreign[r], foreign_target)):
            take = np.minimum(target, active[idx])
            surrendered, fled, killed = _chain(sub, take, qs, month=t, flow=flow,
                                               event=event_word(fall.name, 4 * nat))
            if surrendered is not None:
                active[idx] -= surrendered
                detained[idx] += surrendered
                self.fall_outcomes[0, r, idx] += surrendered
                if newly is not None:
                    newly[nat, r, idx] += surrendered
            if fled is not None:
                self.fall_outcomes[1, r, idx] += fled
                d = fall.flee_to
                if d is not None and d != r:
                    active[idx] -= fled
                    arriving[nat][d, idx] += fled
                    self.moved_out[r, idx] += fled
                    self.arrived[d, idx] += fled
            if killed is not None:
                active[idx] -= killed
                self.killed[r, idx] += killed
                if nat == FOREIGN:
                    self.killed_foreign[r, idx] += killed
                self.fall_outcomes[2, r, idx] += killed

    def _shock(self, chance: Chance, t: int, sh: Shock) -> None:
        """A shock strikes each draw in month *t* with its probability; where it does, a
        collapse kills its size (a share) of the region's active fighters, a surge brings
        Poisson(size) recruits, a prison break sets its size of the detained and imprisoned
        at large (``released``, keeping their nationality)."""
        if not sh.probability.any():
            return
        r = sh.region
        struck = chance.binomial(self._ones, sh.probability, month=t,
                                 flow=flow_id(FighterFlow.SHOCK_OCCURS, r),
                                 event=event_word(sh.name))
        idx = np.flatnonzero(struck)
        if not idx.size:
            return
        sub, size = chance[idx], sh.size[idx]
        flow = flow_id(FighterFlow.SHOCK_SIZE, r)
        if sh.kind == _SURGE:
            extra = sub.poisson(size, month=t, flow=flow, event=event_word(sh.name))
            self.active_local[r, idx] += extra
            self.recruited[r, idx] += extra
            self.shock_outcomes[_SURGE, r, idx] += extra
            return
        if sh.kind == _COLLAPSE:
            pools = [(self.active_local[r], None), (self.active_foreign[r], None)]
        else:
            pools = [(self.detained_local[r], self.released[r]),
                     (self.detained_foreign[r], self.released_foreign[r]),
                     (self.imprisoned[r], self.released[r]),
                     (self.imprisoned_foreign[r], self.released_foreign[r])]
        for j, (pool, to) in enumerate(pools):
            people = pool[idx]
            if not people.any():
                continue
            moved = sub.binomial(people, size, month=t, flow=flow, event=event_word(sh.name, j))
            pool[idx] -= moved
            self.shock_outcomes[sh.kind, r, idx] += moved
            if to is not None:
                to[idx] += moved
            else:
                self.killed[r, idx] += moved
                if j == FOREIGN:
                    self.killed_foreign[r, idx] += moved

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
        self.departed_foreign[r, idx] += left
        self.returned_home[r, idx] += left

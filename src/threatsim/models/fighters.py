"""Model ``fighters``: people in ISIL's regional networks as monthly compartments.

Regions with a reported strength (S/2019/103): ``iraq`` and ``syria`` (para 17
gives 14,000-18,000 for the two together, up to 3,000 of them foreign; the
split between the two is an assumption, paras 18, 22), ``afghanistan``
(para 38), ``lake_chad`` (ISWAP, para 31), ``greater_sahara`` (ISGS, para 30)
and ``tunisia`` (para 29). Compartments in each region:

``active_local``    fighters from the region
``active_foreign``  foreign terrorist fighters
``detained``        arrested or surrendered, not yet tried (``detained_foreign``
                    counts the foreign fighters among them)
``imprisoned``      convicted, serving a sentence
``released``        out of prison (or acquitted), at large in the region
``departed``        left the fight: foreign fighters who went home (or were
                    repatriated) and local fighters who deserted
``killed``          absorbing

Each month ``t``, in every region, for every draw at once, all transitions are
drawn from the state at the start of the month (binomial and multinomial draws
on integer counts, so every person is in exactly one compartment)::

    active_local   -> killed, detained (detention or surrender), departed
                      (desertion), active_local of iraq (syria only: the net
                      flow of Iraqis across the border, paras 6, 22)
    active_foreign -> killed, detained, departed (home), active_foreign of
                      another region (relocation, para 11)
    detained       -> tried (-> imprisoned if convicted, else released);
                      foreign detainees also -> departed (repatriated)
    imprisoned     -> released (end of sentence; plus a one-off release shock)
    released       -> active_local (re-engagement, para 10)
    recruits ~ Poisson(recruits_<region>) -> active_local

with monthly probabilities ::

    killed      kill_rate      * pressure_<region>[t]
    detained    detention_rate * detention_effort[t] * pressure_<region>[t]
              + surrender_rate * pressure_<region>[t]
    deserted    desertion_rate                         (local fighters)
    departed    departure_rate                         (foreign fighters; a share
                relocation_share relocates to another region, chosen in
                proportion to the other regions' active strength)
    tried       trial_rate * prosecution_capacity[t]   (then conviction_share)
    repatriated repatriation_rate[t]                   (detained foreign fighters)
    released    release_rate                            (1 / mean sentence)
                + prison_release_share[t] of those left (a shock)
    re-engaged  reengagement_rate * (1 - rehabilitation[t])

Competing exits from one compartment are one multinomial draw (as a chain of
conditional binomials). Relocation and the syria -> iraq flow move people
between regions and never create them, so per draw and month the sum over
regions and compartments equals the initial total plus the cumulative
``recruited``; per region it also moves by ``arrived - moved_out``.

A one-month shock (e.g. a mass prison release, paras 10, 35) is a lever set in
a ``[[timeline]]`` entry at its month and reset in the next entry.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from threatsim.errors import ScenarioError
from threatsim.models import FloatArray, LeverDecl, ModelInfo, OutputDecl, ParameterDecl

__all__ = [
    "COMPARTMENTS",
    "FIGHTER_LEVERS",
    "FIGHTER_OUTPUTS",
    "FIGHTER_PARAMETERS",
    "REGIONS",
    "FighterFlows",
    "FightersModel",
    "rate_problems",
]

REGIONS: tuple[str, ...] = ("iraq", "syria", "afghanistan", "lake_chad", "greater_sahara",
                            "tunisia")
COMPARTMENTS: tuple[str, ...] = ("active_local", "active_foreign", "detained", "imprisoned",
                                 "released", "departed", "killed")
AFFILIATES: tuple[str, ...] = REGIONS[2:]
IRAQ, SYRIA = 0, 1
N_REGIONS = len(REGIONS)

_P = ParameterDecl
FIGHTER_PARAMETERS: tuple[ParameterDecl, ...] = (
    # -- the state at the start month ------------------------------------------------
    _P(name="fighters_iraq_syria", unit="people",
       doc="militants ISIL controls in Iraq and Syria, local and foreign (para 17)"),
    _P(name="foreign_iraq_syria", unit="people",
       doc="foreign terrorist fighters among them (para 17)"),
    _P(name="share_in_iraq", unit="share",
       doc="share of the Iraq-Syria militants who are in Iraq (paras 18, 22)"),
    _P(name="foreign_share_in_iraq", unit="share",
       doc="share of the Iraq-Syria foreign fighters who are in Iraq"),
    _P(name="detained_foreign_iraq", unit="people",
       doc="foreign fighters under arrest in Iraq (para 17)"),
    _P(name="detained_foreign_syria", unit="people",
       doc="foreign fighters detained in north-east Syria (para 17)"),
    _P(name="detained_local_iraq", unit="people",
       doc="local fighters detained in Iraq, not yet tried"),
    _P(name="detained_local_syria", unit="people",
       doc="local fighters detained in Syria, not yet tried"),
    _P(name="dependants_detained_syria", unit="people",
       doc="dependants of foreign fighters detained in north-east Syria (para 17)"),
    *(_P(name=f"fighters_{r}", unit="people", doc=f"fighters in {r} ({where})")
      for r, where in zip(AFFILIATES, ("para 38", "ISWAP, para 31", "ISGS, para 30", "para 29"),
                          strict=True)),
    _P(name="foreign_share_affiliates", unit="share",
       doc="share of foreign fighters among the affiliates' fighters (paras 11, 31, 40)"),
    # -- recruitment ---------------------------------------------------------------------
    *(_P(name=f"recruits_{r}", unit="people_per_month",
         doc=f"mean new local recruits a month in {r} (Poisson)") for r in REGIONS),
    # -- monthly rates, shared by all regions ---------------------------------------------
    _P(name="kill_rate", unit="share_per_month",
       doc="probability an active fighter is killed in a month (x pressure)"),
    _P(name="detention_rate", unit="share_per_month",
       doc="probability an active fighter is arrested in a month (x effort x pressure)"),
    _P(name="surrender_rate", unit="share_per_month",
       doc="probability an active fighter surrenders to the authorities (para 40; x pressure)"),
    _P(name="desertion_rate", unit="share_per_month",
       doc="probability a local fighter quits and goes home in a month (para 33)"),
    _P(name="departure_rate", unit="share_per_month",
       doc="probability a foreign fighter leaves the region in a month (para 10)"),
    _P(name="relocation_share", unit="share",
       doc="share of departing foreign fighters who relocate to another region (para 11)"),
    _P(name="syria_to_iraq_rate", unit="share_per_month",
       doc="share of Syria's local fighters crossing into Iraq a month (paras 6, 22)"),
    _P(name="trial_rate", unit="share_per_month",
       doc="probability a detainee's case is tried in a month (x prosecution capacity)"),
    _P(name="conviction_share", unit="share",
       doc="share of trials that end in a prison sentence (the rest are released)"),
    _P(name="release_rate", unit="share_per_month",
       doc="probability a prisoner's sentence ends in a month (1 / mean sentence)"),
    _P(name="reengagement_rate", unit="share_per_month",
       doc="probability a released person rejoins the fight in a month (para 10)"),
)

FIGHTER_LEVERS: tuple[LeverDecl, ...] = (
    LeverDecl(name="detention_effort", default=1.0, low=0.0, high=20.0, unit="multiplier",
              doc="multiplies the detention rate (2 = arrests twice as frequent)"),
    LeverDecl(name="prosecution_capacity", default=1.0, low=0.0, high=20.0, unit="multiplier",
              doc="multiplies the trial rate (0.5 = prosecution capacity halved, paras 56-58)"),
    LeverDecl(name="repatriation_rate", default=0.0, low=0.0, high=1.0, unit="share_per_month",
              doc="share of detained foreign fighters repatriated a month (paras 21, 44)"),
    LeverDecl(name="dependant_repatriation_rate", default=0.0, low=0.0, high=1.0,
              unit="share_per_month",
              doc="share of detained dependants repatriated a month (paras 44, 62-63)"),
    LeverDecl(name="rehabilitation", default=0.0, low=0.0, high=1.0, unit="share",
              doc="share by which rehabilitation cuts re-engagement (paras 59-61)"),
    LeverDecl(name="prison_release_share", default=0.0, low=0.0, high=1.0, unit="share",
              doc="share of prisoners released at once in each month it is in force (a shock: "
                  "set it at the month, reset it the month after; paras 10, 35)"),
    *(LeverDecl(name=f"pressure_{r}", default=1.0, low=0.0, high=20.0, unit="multiplier",
                doc=f"military and security pressure in {r}: multiplies kill, detention and "
                    "surrender rates")
      for r in REGIONS),
)

_RT, _R = ("time", "region"), "region"
FIGHTER_OUTPUTS: tuple[OutputDecl, ...] = (
    OutputDecl(name="population", dims=("time", "region", "compartment"), unit="people",
               doc="people in each compartment of each region at the start of the month"),
    OutputDecl(name="population_total", dims=("time", "compartment"), unit="people",
               doc="people in each compartment, all regions together"),
    OutputDecl(name="detained_foreign", dims=_RT, unit="people",
               doc="foreign fighters among the detained"),
    OutputDecl(name="recruited", dims=_RT, unit="people",
               doc="cumulative local recruits since the start"),
    OutputDecl(name="arrived", dims=_RT, unit="people",
               doc="cumulative arrivals from other regions (relocation, syria -> iraq)"),
    OutputDecl(name="moved_out", dims=_RT, unit="people",
               doc="cumulative departures to other regions (relocation, syria -> iraq)"),
    OutputDecl(name="returned_home", dims=_RT, unit="people",
               doc="cumulative foreign fighters who went home from the region, repatriated "
                   "or on their own"),
    OutputDecl(name="dependants_detained", dims=("time",), unit="people",
               doc="dependants of foreign fighters detained in north-east Syria"),
    OutputDecl(name="dependants_repatriated", dims=("time",), unit="people",
               doc="cumulative dependants repatriated"),
)

INFO = ModelInfo(
    name="fighters",
    doc="ISIL fighters by region and compartment: recruitment, attrition, detention, trial, "
        "release, re-engagement, departure (S/2019/103 paras 6-46)",
    parameters=FIGHTER_PARAMETERS,
    levers=FIGHTER_LEVERS,
    outputs=FIGHTER_OUTPUTS,
    coords={"region": REGIONS, "compartment": COMPARTMENTS},
)

_REGIONAL_SERIES = ("detained_foreign", "recruited", "arrived", "moved_out", "returned_home")


def _count(x: FloatArray) -> np.ndarray:
    """Sampled people (whole-valued floats) as int64 counts."""
    return np.rint(np.asarray(x, dtype=np.float64)).astype(np.int64)


class FighterFlows:
    """The compartments of one chunk of draws, stepped one month at a time.

    Used alone by :class:`FightersModel` and inside the ``coupled`` model,
    which passes ``recruit_factor`` and ``extra_exit`` each month.
    """

    def __init__(self, params: Mapping[str, FloatArray], levers: Mapping[str, FloatArray], *,
                 n_months: int, want: frozenset[str]) -> None:
        self.want = want
        total = _count(params["fighters_iraq_syria"])
        n = total.shape[0]
        self.n = n
        zeros = lambda: np.zeros((N_REGIONS, n), dtype=np.int64)  # noqa: E731
        self.al, self.af, self.dl, self.df = zeros(), zeros(), zeros(), zeros()
        self.im, self.rl, self.dep, self.kil = zeros(), zeros(), zeros(), zeros()
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
            self.af[i] = region_foreign[i]
            self.al[i] = region_total[i] - region_foreign[i]
        self.dl[IRAQ] = _count(params["detained_local_iraq"])
        self.dl[SYRIA] = _count(params["detained_local_syria"])
        self.df[IRAQ] = _count(params["detained_foreign_iraq"])
        self.df[SYRIA] = _count(params["detained_foreign_syria"])
        self.dependants = _count(params["dependants_detained_syria"])
        self.dependants_home = np.zeros(n, dtype=np.int64)

        f64 = lambda name: np.asarray(params[name], dtype=np.float64)  # noqa: E731
        self.recruits = np.stack([f64(f"recruits_{r}") for r in REGIONS])
        self.kill, self.detain, self.surrender = f64("kill_rate"), f64("detention_rate"), \
            f64("surrender_rate")
        self.desert, self.depart = f64("desertion_rate"), f64("departure_rate")
        self.relocate, self.s2i = f64("relocation_share"), f64("syria_to_iraq_rate")
        self.trial, self.convict = f64("trial_rate"), f64("conviction_share")
        self.release, self.reengage = f64("release_rate"), f64("reengagement_rate")
        self.all_convicted = bool(np.all(self.convict >= 1.0))
        self.lev = {name: np.asarray(levers[name], dtype=np.float64)
                    for name in (d.name for d in FIGHTER_LEVERS)}
        self.pressure = np.stack([self.lev[f"pressure_{r}"] for r in REGIONS])

        self.any_recruits = [bool(self.recruits[i].any()) for i in range(N_REGIONS)]
        self.can_relocate = bool(np.any(self.relocate)) and bool(np.any(self.depart))
        # A region is live once anybody has been in it; the others are all zeros and skipped.
        self.live = [self.any_recruits[i] or any(bool(x[i].any()) for x in (
            self.al, self.af, self.dl, self.df)) for i in range(N_REGIONS)]
        self._rates_cache: dict[tuple[float, ...], tuple[Any, ...]] = {}

        shape = (n_months + 1,)
        self._det = np.empty((N_REGIONS, n), dtype=np.int64)
        self.rec_pop = (np.zeros((*shape, N_REGIONS, len(COMPARTMENTS), n), dtype=np.int64)
                        if "population" in want else None)
        self.rec_tot = (np.empty((*shape, len(COMPARTMENTS), n), dtype=np.int64)
                        if "population_total" in want else None)
        self.rec_reg = {name: np.empty((*shape, N_REGIONS, n), dtype=np.int64)
                        for name in _REGIONAL_SERIES if name in want}
        self.rec_dep = {name: np.empty((*shape, n), dtype=np.int64)
                        for name in ("dependants_detained", "dependants_repatriated")
                        if name in want}
        self.record(0)

    # -- state -------------------------------------------------------------------------

    def compartments(self, regions: Sequence[int] = range(N_REGIONS)) -> tuple[np.ndarray, ...]:
        """The seven compartments, each (region, draw), in :data:`COMPARTMENTS` order.

        ``detained`` is up to date only in *regions*.
        """
        for i in regions:
            np.add(self.dl[i], self.df[i], out=self._det[i])
        return (self.al, self.af, self._det, self.im, self.rl, self.dep, self.kil)

    def active(self, regions: Sequence[int]) -> np.ndarray:
        """Active fighters (local + foreign) in *regions*, per draw."""
        out = np.zeros(self.n, dtype=np.int64)
        for i in regions:
            out += self.al[i]
            out += self.af[i]
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
        for name, buf in self.rec_reg.items():
            buf[index] = self.df if name == "detained_foreign" else getattr(self, name)
        if "dependants_detained" in self.rec_dep:
            self.rec_dep["dependants_detained"][index] = self.dependants
        if "dependants_repatriated" in self.rec_dep:
            self.rec_dep["dependants_repatriated"][index] = self.dependants_home

    def outputs(self) -> dict[str, np.ndarray]:
        """Recorded outputs with the draw first: (draw, time, ...)."""
        out: dict[str, np.ndarray] = {}
        if self.rec_pop is not None:
            out["population"] = self.rec_pop.transpose(3, 0, 1, 2)
        if self.rec_tot is not None:
            out["population_total"] = self.rec_tot.transpose(2, 0, 1)
        for name, buf in self.rec_reg.items():
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
        kill = self.kill * press
        arrest = self.detain * (effort * press)
        surrender = self.surrender * press
        desert, depart = self.desert, self.depart
        if extra_exit is not None:
            desert, depart = desert + extra_exit, depart + extra_exit
        local = [kill, arrest, surrender, desert] + ([self.s2i] if r == SYRIA else [])
        trial = self.trial * capacity
        rates = (
            _conditional(local, n),
            _conditional([kill, arrest, surrender, depart], n),
            _conditional([trial], n),
            _conditional([trial, repat], n),
            _conditional([self.relocate], n)[0],
            _conditional([self.release], n)[0],
            _conditional([self.reengage * (1.0 - rehab)], n)[0],
        )
        if extra_exit is None:
            self._rates_cache[key] = rates
        return rates

    def step(self, t: int, rng: np.random.Generator, *,
             recruit_factor: FloatArray | None = None,
             extra_exit: FloatArray | None = None) -> None:
        """Advance month *t* and record month ``t + 1``.

        ``recruit_factor`` (per draw) multiplies the recruitment means;
        ``extra_exit`` (per draw) is added to the desertion and departure
        probabilities (the coupled model's response to empty reserves).
        """
        shock = float(self.lev["prison_release_share"][t])
        binom = rng.binomial
        # Relocators choose among the other regions by their strength at the start of the month.
        strength = self.al + self.af if self.can_relocate else None
        al_in: np.ndarray | None = None
        af_in: np.ndarray | None = None
        for r in [i for i in range(N_REGIONS) if self.live[i]]:
            q_local, q_foreign, q_dl, q_df, q_reloc, q_release, q_reengage = self._rates(
                r, t, extra_exit)
            al, af, dl, df = self.al[r], self.af[r], self.dl[r], self.df[r]
            im, rl = self.im[r], self.rl[r]
            killed_l, det_l, sur_l, des_l, *moved = _chain(binom, al, q_local)
            killed_f, det_f, sur_f, dep_f = _chain(binom, af, q_foreign)
            reloc = _chain(binom, dep_f, [q_reloc])[0] if dep_f is not None else None
            home = dep_f if reloc is None else dep_f - reloc
            (tried_l,) = _chain(binom, dl, q_dl)
            tried_f, repat = _chain(binom, df, q_df)
            tried = _total(tried_l, tried_f)
            convicted = tried
            if tried is not None and not self.all_convicted:
                convicted = binom(tried, self.convict)
            (released,) = _chain(binom, im, [q_release])
            if shock > 0.0:
                rest = im if released is None else im - released
                if rest.any():
                    released = _total(released, binom(rest, shock))
            (reengaged,) = _chain(binom, rl, [q_reengage])
            recruits = None
            if self.any_recruits[r]:
                lam = self.recruits[r] if recruit_factor is None else (
                    self.recruits[r] * recruit_factor)
                recruits = rng.poisson(lam)

            _inc(al, recruits, reengaged)
            _dec(al, killed_l, det_l, sur_l, des_l)
            _dec(af, killed_f, det_f, sur_f, dep_f)
            _inc(dl, det_l, sur_l)
            _dec(dl, tried_l)
            _inc(df, det_f, sur_f)
            _dec(df, tried_f, repat)
            _inc(im, convicted)
            _dec(im, released)
            _inc(rl, released, tried)
            _dec(rl, convicted, reengaged)
            _inc(self.dep[r], des_l, home, repat)
            _inc(self.kil[r], killed_l, killed_f)
            _inc(self.returned_home[r], home, repat)
            _inc(self.recruited[r], recruits)
            if moved and moved[0] is not None:
                al -= moved[0]
                if al_in is None:
                    al_in = np.zeros_like(self.al)
                al_in[IRAQ] += moved[0]
                self.moved_out[r] += moved[0]
                self.arrived[IRAQ] += moved[0]
            if reloc is not None and reloc.any():
                if af_in is None:
                    af_in = np.zeros_like(self.af)
                assert strength is not None
                self._relocate(rng, r, reloc, strength, af_in)
        if al_in is not None:
            self.al += al_in
            self.live[IRAQ] = self.live[IRAQ] or bool(al_in[IRAQ].any())
        if af_in is not None:
            self.af += af_in
        dl_rate = self.lev["dependant_repatriation_rate"][t]
        if dl_rate > 0.0 and self.dependants.any():
            went = binom(self.dependants, dl_rate)
            self.dependants -= went
            self.dependants_home += went
        self.record(t + 1)

    def _relocate(self, rng: np.random.Generator, r: int, reloc: np.ndarray,
                  strength: np.ndarray, af_in: np.ndarray) -> None:
        """Send region *r*'s relocators to the other regions, by their active strength."""
        idx = np.flatnonzero(reloc)
        left = reloc[idx]
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
            moved = rng.binomial(left, q)
            left -= moved
            af_in[d, idx] += moved
            self.arrived[d, idx] += moved
            self.moved_out[r, idx] += moved
        # No other region has fighters left: the relocators go home instead.
        self.dep[r, idx] += left
        self.returned_home[r, idx] += left


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


# -- validation ------------------------------------------------------------------------------


def _upper(partial: Any, name: str) -> float:
    return float(partial.parameters[name].dist.bounds()[1])


def _schedule(partial: Any, name: str, default: float) -> np.ndarray:
    """The lever's value in force each month (as Scenario.lever_schedule builds it)."""
    values = np.full(partial.horizon, float(partial.levers.get(name, default)))
    for entry in sorted(partial.timeline, key=lambda e: e.at):
        if name in entry.levers:
            values[entry.at:] = float(entry.levers[name])
    return values


def rate_problems(partial: Any, *, extra_exit: str | None = None) -> list[ScenarioError]:
    """Competing monthly probabilities out of one compartment must sum to at most 1.

    Checked at the parameters' upper bounds, with the levers in force each
    month. *extra_exit* names a parameter added to desertion and departure
    (the coupled model's ``desertion_rise_when_depleted``).
    """
    names = {d.name for d in FIGHTER_PARAMETERS} | ({extra_exit} if extra_exit else set())
    if not names <= set(partial.parameters):
        return []  # the loader has already named what is missing
    hi = {name: _upper(partial, name) for name in names}
    defaults = {d.name: d.default for d in FIGHTER_LEVERS}
    lever = {name: _schedule(partial, name, defaults[name]) for name in defaults}
    extra = hi[extra_exit] if extra_exit else 0.0
    problems: list[ScenarioError] = []

    def check(key: str, total: np.ndarray, terms: str) -> None:
        worst = int(np.argmax(total))
        if total[worst] > 1.0 + 1e-12:
            problems.append(ScenarioError(
                f"must sum to at most 1 (they are competing monthly probabilities out of one "
                f"compartment; at their upper bounds, in month {worst} from the start: {terms}); "
                "lower those ranges or levers", key=key, value=round(float(total[worst]), 6)))

    effort, capacity = lever["detention_effort"], lever["prosecution_capacity"]
    rise = f" + {extra_exit} {extra:g}" if extra_exit else ""
    for r in REGIONS:
        press = lever[f"pressure_{r}"]
        base = (hi["kill_rate"] * press + hi["detention_rate"] * effort * press
                + hi["surrender_rate"] * press + extra)
        terms = (f"kill_rate {hi['kill_rate']:g} x pressure_{r}, detention_rate "
                 f"{hi['detention_rate']:g} x detention_effort x pressure_{r}, surrender_rate "
                 f"{hi['surrender_rate']:g} x pressure_{r}{rise}")
        local = base + hi["desertion_rate"]
        local_terms = f"{terms}, desertion_rate {hi['desertion_rate']:g}"
        if r == "syria":
            local = local + hi["syria_to_iraq_rate"]
            local_terms += f", syria_to_iraq_rate {hi['syria_to_iraq_rate']:g}"
        check(f"exit rates of active_local in {r}", local, local_terms)
        check(f"exit rates of active_foreign in {r}", base + hi["departure_rate"],
              f"{terms}, departure_rate {hi['departure_rate']:g}")
    check("exit rates of detained", hi["trial_rate"] * capacity + lever["repatriation_rate"],
          f"trial_rate {hi['trial_rate']:g} x prosecution_capacity + levers.repatriation_rate")
    return problems


class FightersModel:
    """Vectorised monthly compartment model over regions (see module docstring)."""

    info = INFO

    def check(self, scenario: Any) -> list[ScenarioError]:
        """Competing rates out of one compartment sum to at most 1 in every month."""
        return rate_problems(scenario)

    def simulate(
        self,
        params: Mapping[str, FloatArray],
        levers: Mapping[str, FloatArray],
        *,
        n_months: int,
        rng: np.random.Generator,
        outputs: frozenset[str] | None = None,
    ) -> dict[str, np.ndarray]:
        """Run one chunk of draws; arrays are (draw, time, ...)."""
        want = outputs if outputs is not None else frozenset(o.name for o in INFO.outputs)
        flows = FighterFlows(params, levers, n_months=n_months, want=want)
        for t in range(n_months):
            flows.step(t, rng)
        return flows.outputs()

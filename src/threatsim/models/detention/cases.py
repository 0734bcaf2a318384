"""The detention model's data: random inputs (cases), lever plan and what happened (trace).

Every random number of a replication is drawn before it runs, from Generators
on the draw's own stream, one per purpose (:class:`DetentionFlow`: arrivals,
their nationality, screening times, trial times, sentences, exemptions,
convictions, dependants), so two runs that differ only in levers see the same
detainees with the same durations and outcomes (common random numbers), a
change in one purpose's parameter moves no other purpose's numbers, and the
SimPy model and the fast path can be fed the very same numbers.
:func:`draw_batch` draws a whole chunk straight into the rows of
``(replications, cases)`` arrays (:class:`CaseBatch`); :func:`draw_cases`
draws one replication with the same code, so both give the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import numpy.typing as npt

from threatsim.models.contract import Chance, FloatArray

__all__ = [
    "ALL_FLOWS",
    "DAYS_PER_MONTH",
    "CaseBatch",
    "Cases",
    "DetentionFlow",
    "GivenArrivals",
    "Plan",
    "Trace",
    "censor",
    "draw_batch",
    "draw_cases",
    "new_arrivals",
]

#: The time unit of the model is the day; a month is a twelfth of a Julian year.
DAYS_PER_MONTH = 365.25 / 12

_INF = math.inf


class DetentionFlow(IntEnum):
    """What each Generator of a replication is for (its counter's flow word).

    Part of every run's identity: never renumber, only append.

    >>> int(DetentionFlow.SCREENING), DetentionFlow(9).name
    (3, 'REPATRIATION')
    """

    ARRIVALS = 1  # how many new detainees, and when (a Poisson process)
    ARRIVALS_FOREIGN = 2  # which new detainees are foreign
    SCREENING = 3  # screening durations
    TRIAL = 4  # trial durations
    SENTENCE = 5  # sentence durations
    EXEMPTION = 6  # the uniforms that decide exemption at the end of screening
    CONVICTION = 7  # who is convicted
    DEPENDANTS = 8  # which dependants are children
    REPATRIATION = 9  # the monthly repatriation rounds (SimPy path): how many, and whom


@dataclass(frozen=True, slots=True, eq=False)
class Cases:
    """One replication's random inputs, detainees in arrival order (days).

    The first ``n_initial`` detainees are the initial stock, held at time 0.
    Dependants are not prosecuted; they are held until repatriated.
    ``u_exempt`` are the uniforms that decide exemption; where the model was
    run with a plan that exempts no one they are not drawn (all 1; they have a
    stream of their own, so nothing else changes).

    >>> row = dict(detained_iraq=3, detained_syria=0, dependants_syria=2,
    ...            arrivals_per_month=0.0, arrivals_foreign_share=0.0,
    ...            dependants_child_share=1.0, screening_days=0.0, trial_days=10.0,
    ...            duration_cv=0.0, conviction_share=1.0, sentence_months=100.0)
    >>> from threatsim.stats.variates import ChanceStreams
    >>> cases = draw_cases(row, 2, ChanceStreams(seed=0, draw_index=[0]))
    >>> cases.n, cases.arrive.tolist(), cases.trial_days.tolist(), cases.child.tolist()
    (3, [0.0, 0.0, 0.0], [10.0, 10.0, 10.0], [True, True])
    """

    arrive: FloatArray
    foreign: np.ndarray
    screen_days: FloatArray
    trial_days: FloatArray
    sentence_days: FloatArray
    u_exempt: FloatArray
    convicted: np.ndarray
    child: np.ndarray
    n_initial: int
    horizon_days: float

    @property
    def n(self) -> int:
        """Number of detainees (dependants not counted)."""
        return int(self.arrive.shape[0])

    @property
    def skip_screening(self) -> bool:
        """No screening station in this replication (all screening times are 0)."""
        return not bool(np.any(self.screen_days))


@dataclass(frozen=True, slots=True, eq=False)
class CaseBatch:
    """Several replications' random inputs as rows of ``(replications, width)`` arrays.

    Row ``k`` holds replication ``k``'s ``n[k]`` detainees in arrival order;
    the rest of the row is padding: ``inf`` arrivals, zero durations, ``False``
    flags and ``u_exempt`` 1 (never exempted).

    >>> row = dict(detained_iraq=3, detained_syria=0, dependants_syria=2,
    ...            arrivals_per_month=0.0, arrivals_foreign_share=0.0,
    ...            dependants_child_share=1.0, screening_days=0.0, trial_days=10.0,
    ...            duration_cv=0.0, conviction_share=1.0, sentence_months=100.0)
    >>> from threatsim.stats.variates import ChanceStreams
    >>> chance = ChanceStreams(seed=0, draw_index=[0, 1])
    >>> batch = draw_batch([row, {**row, "detained_iraq": 1}], 2, chance)
    >>> batch.size, batch.n.tolist(), batch.arrive.tolist()  # the short row is padded
    (2, [3, 1], [[0.0, 0.0, 0.0], [0.0, inf, inf]])
    """

    arrive: FloatArray
    foreign: np.ndarray
    screen_days: FloatArray
    trial_days: FloatArray
    sentence_days: FloatArray
    u_exempt: FloatArray
    convicted: np.ndarray
    child: tuple[np.ndarray, ...]
    n: np.ndarray
    n_initial: np.ndarray
    screens: np.ndarray  # per row: some screening time is above 0
    horizon_days: float

    @property
    def size(self) -> int:
        """Number of replications."""
        return int(self.n.shape[0])

    @property
    def n_dependants(self) -> np.ndarray:
        """Dependants held at the start, per replication."""
        return np.array([c.shape[0] for c in self.child], dtype=np.int64)

    def case(self, k: int) -> Cases:
        """Replication *k* as :class:`Cases` (views into the rows, no copy)."""
        m = int(self.n[k])
        return Cases(arrive=self.arrive[k, :m], foreign=self.foreign[k, :m],
                     screen_days=self.screen_days[k, :m], trial_days=self.trial_days[k, :m],
                     sentence_days=self.sentence_days[k, :m], u_exempt=self.u_exempt[k, :m],
                     convicted=self.convicted[k, :m], child=self.child[k],
                     n_initial=int(self.n_initial[k]), horizon_days=self.horizon_days)

    @classmethod
    def stack(cls, cases: Sequence[Cases]) -> CaseBatch:
        """Rows of a batch from separately drawn replications (copies, padded)."""
        n = np.array([c.n for c in cases], dtype=np.int64)
        width = max(1, int(n.max(initial=0)))

        def rows(name: str, fill: float | bool, dtype: npt.DTypeLike) -> np.ndarray:
            out = np.full((len(cases), width), fill, dtype=dtype)
            for k, c in enumerate(cases):
                out[k, :c.n] = getattr(c, name)
            return out

        return cls(arrive=rows("arrive", _INF, np.float64),
                   foreign=rows("foreign", False, np.bool_),
                   screen_days=rows("screen_days", 0.0, np.float64),
                   trial_days=rows("trial_days", 0.0, np.float64),
                   sentence_days=rows("sentence_days", 0.0, np.float64),
                   u_exempt=rows("u_exempt", 1.0, np.float64),
                   convicted=rows("convicted", False, np.bool_),
                   child=tuple(c.child for c in cases), n=n,
                   n_initial=np.array([c.n_initial for c in cases], dtype=np.int64),
                   screens=np.array([not c.skip_screening for c in cases], dtype=bool),
                   horizon_days=cases[0].horizon_days if cases else 0.0)


@dataclass(frozen=True, slots=True, eq=False)
class Plan:
    """Lever schedules (the value in force during each month) and the horizon.

    >>> levers = {"screening_teams": np.full(2, 1.0), "courts": np.full(2, 1.0),
    ...           "exemption_share": np.zeros(2), "repatriation_rate": np.zeros(2),
    ...           "children_first": np.zeros(2)}
    >>> plan = Plan.from_levers(levers, 2)
    >>> plan.courts.tolist(), plan.grid().tolist()
    ([1, 1], [0.0, 30.4375, 60.875])"""

    n_months: int
    screening_teams: np.ndarray
    courts: np.ndarray
    exemption_share: FloatArray
    repatriation_rate: FloatArray
    children_first: np.ndarray

    @classmethod
    def from_levers(cls, levers: Mapping[str, np.ndarray], n_months: int) -> Plan:
        """Build a plan from the engine's lever schedules (arrays of ``n_months``)."""
        def get(name: str) -> np.ndarray:
            arr = np.asarray(levers[name], dtype=np.float64)
            if arr.shape != (n_months,):
                arr = np.broadcast_to(arr, (n_months,)).copy()
            return arr
        return cls(
            n_months=n_months,
            screening_teams=np.rint(get("screening_teams")).astype(np.int64),
            courts=np.rint(get("courts")).astype(np.int64),
            exemption_share=get("exemption_share"),
            repatriation_rate=get("repatriation_rate"),
            children_first=np.rint(get("children_first")).astype(np.int64),
        )

    @property
    def horizon_days(self) -> float:
        """Length of the run in days."""
        return self.n_months * DAYS_PER_MONTH

    @property
    def exempts(self) -> bool:
        """Some month has an exemption share above 0."""
        return bool(np.any(self.exemption_share > 0.0))

    def grid(self) -> FloatArray:
        """The instants (days) of the monthly grid, ``n_months + 1`` of them."""
        # float64 months (exact whole numbers): the same values, typed as float64
        return np.arange(self.n_months + 1, dtype=np.float64) * DAYS_PER_MONTH


@dataclass(frozen=True, slots=True, eq=False)
class Trace:
    """What happened to each detainee (days; ``inf``: not by the end of the run).

    ``repatriated_from`` is 0 (not repatriated), 1 (from the screening queue) or
    2 (from the trial queue).

    >>> row = dict(detained_iraq=3, detained_syria=0, dependants_syria=2,
    ...            arrivals_per_month=0.0, arrivals_foreign_share=0.0,
    ...            dependants_child_share=1.0, screening_days=0.0, trial_days=10.0,
    ...            duration_cv=0.0, conviction_share=1.0, sentence_months=100.0)
    >>> levers = {"screening_teams": np.full(2, 1.0), "courts": np.full(2, 1.0),
    ...           "exemption_share": np.zeros(2), "repatriation_rate": np.zeros(2),
    ...           "children_first": np.zeros(2)}
    >>> from threatsim.models.detention.fastpath import fifo_traces
    >>> from threatsim.stats.variates import ChanceStreams
    >>> cases = draw_cases(row, 2, ChanceStreams(seed=0, draw_index=[0]))
    >>> (trace,) = fifo_traces([cases], Plan.from_levers(levers, 2))
    >>> trace.trial_start.tolist(), trace.trial_end.tolist()  # one court, 10 days each
    ([0.0, 10.0, 20.0], [10.0, 20.0, 30.0])
    """

    screen_end: FloatArray
    trial_start: FloatArray
    trial_end: FloatArray
    exempt: np.ndarray
    repatriated_at: FloatArray
    repatriated_from: np.ndarray
    dependant_repatriated_at: FloatArray


def censor(trace: Trace, horizon: float) -> Trace:
    """Times after the end of the run become ``inf`` (not seen in the run).

    >>> later = np.array([5.0, 50.0])
    >>> trace = Trace(screen_end=later, trial_start=later, trial_end=later + 1,
    ...               exempt=np.zeros(2, dtype=bool), repatriated_at=np.full(2, np.inf),
    ...               repatriated_from=np.zeros(2, dtype=np.int8),
    ...               dependant_repatriated_at=np.empty(0))
    >>> censor(trace, 30.0).trial_end.tolist()
    [6.0, inf]"""
    def cut(t: FloatArray) -> FloatArray:
        return np.where(t <= horizon, t, _INF)
    se = cut(trace.screen_end)
    ts = cut(trace.trial_start)
    te = np.where(np.isfinite(ts), cut(trace.trial_end), _INF)
    return Trace(screen_end=se, trial_start=ts, trial_end=te,
                 exempt=trace.exempt & np.isfinite(se),
                 repatriated_at=trace.repatriated_at,
                 repatriated_from=trace.repatriated_from,
                 dependant_repatriated_at=trace.dependant_repatriated_at)


# -- drawing ----------------------------------------------------------------------------


#: Makes the Generator of one purpose of the replication being drawn.
GeneratorOf = Callable[[DetentionFlow], np.random.Generator]


def _durations(chance: Chance, gen: GeneratorOf, purpose: DetentionFlow, out: FloatArray,
               mean: float, cv: float) -> bool:
    """Fill *out* with gamma durations of *mean* and coefficient of variation *cv*.

    The same numbers as ``g.exponential(mean, n)`` (cv 1) or
    ``g.gamma(1 / cv**2, mean * cv**2, n)`` of the purpose's Generator ``g`` (*gen* makes
    it, *chance* draws its exponentials): those are
    the standard variates times the scale. False when every duration is 0 (*out* left
    as it is, nothing drawn and no Generator made).
    """
    if out.shape[0] == 0 or mean <= 0.0:
        return False
    if cv <= 0.0:
        out[:] = mean
    elif cv == 1.0:
        chance.standard_exponential_into(gen(purpose), out)
        if mean != 1.0:  # x * 1.0 is x: the same numbers without a pass
            out *= mean
    else:
        shape = 1.0 / (cv * cv)
        gen(purpose).standard_gamma(shape, out=out)
        out *= mean / shape
    return True


def _bernoulli(gen: GeneratorOf, purpose: DetentionFlow, out: np.ndarray, share: float,
               scratch: FloatArray) -> None:
    """``out[:] = g.random(n) < share``; no draw where the answer is sure (share 0 or 1)."""
    if share <= 0.0:
        out[:] = False
    elif share >= 1.0:  # uniforms are below 1
        out[:] = True
    else:
        u = scratch[:out.shape[0]]
        gen(purpose).random(out=u)
        np.less(u, share, out=out)


@dataclass(frozen=True, slots=True, eq=False)
class GivenArrivals:
    """Arrivals another model has counted, instead of the Poisson process.

    ``initial``: (replications, 2) local and foreign detainees held at time 0;
    ``monthly``: (replications, months, 2) local and foreign detainees arriving
    in each month; ``dependants``: (replications,) dependants held at time 0
    (those the origin States may repatriate). The ``fighters_detention`` model
    passes the fighters' newly detained of one region here.

    >>> given = GivenArrivals(initial=np.array([[1, 2]]), monthly=np.array([[[0, 1], [3, 0]]]),
    ...                       dependants=np.array([4]))
    >>> given.total().tolist()
    [7]
    """

    initial: np.ndarray
    monthly: np.ndarray
    dependants: np.ndarray

    def __getitem__(self, part: slice) -> GivenArrivals:
        """The replications of *part* (views)."""
        return GivenArrivals(initial=self.initial[part], monthly=self.monthly[part],
                             dependants=self.dependants[part])

    def total(self) -> np.ndarray:
        """Detainees in all, per replication."""
        total: np.ndarray = (np.asarray(self.initial).sum(axis=1)
                             + np.asarray(self.monthly).sum(axis=(1, 2))).astype(np.int64)
        return total


def _given_arrivals(given: GivenArrivals, k: int, n_months: int, g_times: np.random.Generator,
                    g_nationality: np.random.Generator | None, arrive: FloatArray,
                    foreign: np.ndarray) -> None:
    """Replication *k*'s arrival times and nationalities from counts: the initial stock at
    time 0 (foreign first), then month *t*'s arrivals at uniform times in (t, t + 1] months,
    in time order, their nationalities in random order (the counts are exact; without
    *g_nationality* the new arrivals' nationalities are not drawn)."""
    local0, foreign0 = (int(x) for x in given.initial[k])
    a = local0 + foreign0
    arrive[:a] = 0.0
    foreign[:foreign0] = True
    foreign[foreign0:a] = False
    at = a
    for t in range(n_months):
        n_local, n_foreign = (int(x) for x in given.monthly[k, t])
        m = n_local + n_foreign
        if not m:
            continue
        # Uniform in (t, t + 1] months, in time order: counted at grid index t + 1, as
        # the giving model counts its month t (held at the clip to the grid's instants).
        late = np.sort(g_times.random(m))[::-1]
        low, high = float(t) * DAYS_PER_MONTH, float(t + 1) * DAYS_PER_MONTH
        np.clip((t + 1 - late) * DAYS_PER_MONTH, np.nextafter(low, math.inf), high,
                out=arrive[at:at + m])
        if g_nationality is not None:
            who = np.zeros(m, dtype=bool)
            who[:n_foreign] = True
            foreign[at:at + m] = g_nationality.permutation(who)
        at += m


#: Every purpose's numbers (what :func:`draw_batch` draws by default).
ALL_FLOWS = frozenset(DetentionFlow)


def _draw_row(r: Mapping[str, float], k: int, chance: Chance, g_arr: np.random.Generator,
              a: int, b: int, n_months: int, given: GivenArrivals | None, exempts: bool,
              flows: frozenset[DetentionFlow], arrive: FloatArray, foreign: np.ndarray,
              screen: FloatArray, trial: FloatArray, sentence: FloatArray,
              u_exempt: FloatArray, convicted: np.ndarray, scratch: FloatArray,
              *, spaced: bool = True) -> tuple[bool, np.ndarray]:
    """Draw replication *k*'s ``a`` initial and ``b`` new detainees into the first
    ``a + b`` places of the row buffers; (some screening time above 0, dependants' child
    flags). A purpose left out of *flows* is not drawn (its buffer keeps what it held):
    each purpose has its own Generator, so no other purpose's numbers move. A Generator is
    made only when it draws something (making one draws nothing). With ``spaced=False``
    the new arrivals' ``b + 1`` exponential spacings are left in ``arrive[a:a + b + 1]``
    (*arrive* must hold them) for the caller to turn into times: their cumulative sums,
    in order, each times ``horizon`` over the last."""
    m = a + b
    horizon = n_months * DAYS_PER_MONTH

    def gen(purpose: DetentionFlow) -> np.random.Generator:
        return chance.generator(k, flow=purpose)

    if given is not None:
        _given_arrivals(given, k, n_months, g_arr,
                        gen(DetentionFlow.ARRIVALS_FOREIGN)
                        if DetentionFlow.ARRIVALS_FOREIGN in flows else None,
                        arrive, foreign)
    else:
        arrive[:a] = 0.0
        # A Poisson process on [0, horizon]: given a Poisson count b, the times are the
        # order statistics of b uniforms, i.e. the first b partial sums of b + 1
        # exponentials over their total (no sort needed).
        if spaced:
            sums = scratch[:b + 1]
            chance.standard_exponential_into(g_arr, sums)
            np.cumsum(sums, out=sums)
            np.multiply(sums[:b], horizon / sums[b], out=arrive[a:m])
        else:
            chance.standard_exponential_into(g_arr, arrive[a:m + 1])
        foreign[:a] = True
        if DetentionFlow.ARRIVALS_FOREIGN in flows:
            _bernoulli(gen, DetentionFlow.ARRIVALS_FOREIGN, foreign[a:m],
                       float(r["arrivals_foreign_share"]), scratch)
    cv = float(r["duration_cv"])
    # Screening times are read only where some is above 0 (*screens*); trial and
    # sentence times of 0 are written as such (the buffers may be reused).
    screens = False
    if DetentionFlow.SCREENING in flows:
        screens = (_durations(chance, gen, DetentionFlow.SCREENING, screen[:m],
                              float(r["screening_days"]), cv)
                   and bool(np.any(screen[:m])))
    if DetentionFlow.TRIAL in flows and not _durations(
            chance, gen, DetentionFlow.TRIAL, trial[:m], float(r["trial_days"]), cv):
        trial[:m] = 0.0
    if DetentionFlow.SENTENCE in flows and not _durations(
            chance, gen, DetentionFlow.SENTENCE, sentence[:m],
            float(r["sentence_months"]) * DAYS_PER_MONTH, cv):
        sentence[:m] = 0.0
    if exempts and DetentionFlow.EXEMPTION in flows:
        gen(DetentionFlow.EXEMPTION).random(out=u_exempt[:m])
    if DetentionFlow.CONVICTION in flows:
        _bernoulli(gen, DetentionFlow.CONVICTION, convicted[:m],
                   float(r["conviction_share"]), scratch)
    kids = np.zeros(int(r["dependants_syria"]) if given is None
                    else int(given.dependants[k]), dtype=bool)
    if DetentionFlow.DEPENDANTS in flows:
        _bernoulli(gen, DetentionFlow.DEPENDANTS, kids, float(r["dependants_child_share"]),
                   scratch if scratch.shape[0] >= kids.shape[0] else np.empty(kids.shape[0]))
    return screens, kids


def new_arrivals(r: Mapping[str, float], g_arr: np.random.Generator,
                 horizon: float) -> int:
    """How many new detainees arrive in a replication: Poisson, the first number of its
    arrivals Generator *g_arr* (none drawn when the rate is 0)."""
    rate = float(r["arrivals_per_month"]) / DAYS_PER_MONTH
    return int(g_arr.poisson(rate * horizon)) if rate > 0 else 0


def draw_batch(rows: Sequence[Mapping[str, float]], n_months: int, chance: Chance, *,
               exempts: bool = True, given: GivenArrivals | None = None,
               flows: frozenset[DetentionFlow] = ALL_FLOWS) -> CaseBatch:
    """Draw several replications' detainees and their durations and outcomes.

    ``rows[k]`` holds draw *k*'s parameter values and ``chance[k]`` is its own
    stream; each purpose gets its own Generator on it (:class:`DetentionFlow`), so
    a change in one parameter (say ``trial_days``) leaves the arrival times and
    outcomes as they were. With ``exempts=False`` (no month exempts anyone) the
    exemption uniforms are not drawn (see :class:`Cases`). With *given*, the
    detainees and dependants are those counts (:class:`GivenArrivals`), and the
    rows' initial stocks and arrival rates are not read. Only the purposes in
    *flows* are drawn (the arrivals always are); the others keep the padding's
    values (zero durations, ``False`` flags), and every purpose drawn has the
    numbers it has with all of them.

    >>> row = dict(detained_iraq=3, detained_syria=0, dependants_syria=2,
    ...            arrivals_per_month=0.0, arrivals_foreign_share=0.0,
    ...            dependants_child_share=1.0, screening_days=0.0, trial_days=10.0,
    ...            duration_cv=0.0, conviction_share=1.0, sentence_months=100.0)
    >>> from threatsim.stats.variates import ChanceStreams
    >>> batch = draw_batch([row, {**row, "arrivals_per_month": 5.0}], 12,
    ...                    ChanceStreams(seed=1, draw_index=[0, 1]))
    >>> batch.n_initial.tolist(), bool(batch.n[1] > 3)  # new arrivals in the second row
    ([3, 3], True)
    >>> draw_batch([row], 12, ChanceStreams(seed=1, draw_index=[0]),
    ...            flows=ALL_FLOWS - {DetentionFlow.SENTENCE}).sentence_days.tolist()
    [[0.0, 0.0, 0.0]]
    """
    reps = len(rows)
    if len(chance) != reps:
        raise ValueError(f"chance covers {len(chance)} replications, rows {reps}")
    horizon = n_months * DAYS_PER_MONTH
    g_arrivals = [chance.generator(k, flow=DetentionFlow.ARRIVALS) for k in range(reps)]
    if given is None:
        n0 = np.array([int(r["detained_iraq"]) + int(r["detained_syria"]) for r in rows],
                      dtype=np.int64)
        n_new = np.array([new_arrivals(r, g_arrivals[k], horizon)
                          for k, r in enumerate(rows)], dtype=np.int64).reshape(reps)
    else:
        n0 = np.asarray(given.initial, dtype=np.int64).sum(axis=1)
        n_new = given.total() - n0
    n = n0 + n_new
    width = max(1, int(n.max(initial=0)))
    arrive = np.empty((reps, width))
    foreign = np.zeros((reps, width), dtype=bool)
    screen = np.zeros((reps, width))
    trial = np.zeros((reps, width))
    sentence = np.zeros((reps, width))
    # Not drawn where no one is exempted: a read-only view of ones, no memory.
    u_exempt = np.ones((reps, width)) if exempts else np.broadcast_to(1.0, (reps, width))
    convicted = np.zeros((reps, width), dtype=bool)
    scratch = np.empty(max(width, int(n_new.max(initial=0)) + 1))
    screens = np.zeros(reps, dtype=bool)
    child: list[np.ndarray] = []
    for k, r in enumerate(rows):
        arrive[k, int(n[k]):] = _INF
        screens[k], kids = _draw_row(
            r, k, chance, g_arrivals[k], int(n0[k]), int(n_new[k]), n_months, given,
            exempts, flows, arrive[k], foreign[k], screen[k], trial[k], sentence[k],
            u_exempt[k], convicted[k], scratch)
        child.append(kids)
    return CaseBatch(arrive=arrive, foreign=foreign, screen_days=screen, trial_days=trial,
                     sentence_days=sentence, u_exempt=u_exempt, convicted=convicted,
                     child=tuple(child), n=n, n_initial=n0, screens=screens,
                     horizon_days=horizon)


def draw_cases(row: Mapping[str, float], n_months: int, chance: Chance) -> Cases:
    """Draw one replication's detainees and their durations and outcomes.

    *row* holds one draw's parameter values; *chance* holds that draw's one
    stream (one Generator per purpose on it, see :func:`draw_batch`).

    >>> row = dict(detained_iraq=3, detained_syria=0, dependants_syria=2,
    ...            arrivals_per_month=0.0, arrivals_foreign_share=0.0,
    ...            dependants_child_share=1.0, screening_days=0.0, trial_days=10.0,
    ...            duration_cv=0.0, conviction_share=1.0, sentence_months=100.0)
    >>> from threatsim.stats.variates import ChanceStreams
    >>> a = draw_cases({**row, "duration_cv": 1.0}, 2, ChanceStreams(seed=7, draw_index=[3]))
    >>> b = draw_cases({**row, "duration_cv": 1.0}, 2, ChanceStreams(seed=7, draw_index=[3]))
    >>> bool(np.array_equal(a.trial_days, b.trial_days))  # the same stream, the same cases
    True
    """
    return draw_batch([row], n_months, chance).case(0)

"""How much capacity meets a target: the smallest integer lever value that does.

``solve_capacity(scenario, "courts", target=100, by="2021-01", probability=0.9)``
answers "how many courts keep the trial backlog at or below 100 in January
2021 in at least 90 % of draws?". Every value it tries is run with the same
seed, so all values see the same sampled parameters and the same detainees
with the same durations (common random numbers): the answer does not jump
about with Monte Carlo noise from one value to the next.

The search assumes that more of the lever never hurts. It brackets the answer
by doubling from the scenario's own value (or halving below it), then bisects
the bracket, all within the lever's declared bounds: at most about
``2 * log2(high - low)`` runs, never a hang. A target that even the upper
bound cannot meet raises a :class:`~threatsim.core.errors.ScenarioError` saying the
best value found and its probability. With common random numbers a lever that
never hurts gives probabilities that never fall as it rises; if the values
tried show a fall, a ``RuntimeWarning`` says where and the solution records
``monotone=False``.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import warnings
from dataclasses import dataclass

import numpy as np

from threatsim.core.errors import ScenarioError
from threatsim.engine.executors import ExecutorArg
from threatsim.engine.options import RunOptions
from threatsim.engine.progress import Progress, ProgressArg
from threatsim.engine.runner import run_with
from threatsim.inputs.scenario import Scenario, scenario_from_dict
from threatsim.models.registry import get_model

__all__ = ["CapacitySolution", "solve_capacity"]


@dataclass(frozen=True, slots=True, kw_only=True)
class CapacitySolution:
    """The answer of :func:`solve_capacity`, with the evidence behind it.

    ``tried`` holds ``(value, probability)`` for every value run, in order;
    ``monotone`` says whether those probabilities never fell as the value rose.
    ``probability_below`` is the probability at ``value - 1`` (``None`` when
    ``value`` is the lever's lower bound).

    >>> sol = CapacitySolution(lever="courts", value=12, probability=0.93,
    ...                        probability_below=0.88, output="backlog_trial", target=100,
    ...                        by="2021-01", required=0.9, draws=500, seed=0, tried=())
    >>> int(sol), str(sol).split(";")[0]
    (12, 'courts = 12: P(backlog_trial <= 100 in 2021-01) = 0.930 >= 0.9')
    """

    lever: str
    value: int
    probability: float
    probability_below: float | None
    output: str
    target: float
    by: str
    required: float
    draws: int
    seed: int
    tried: tuple[tuple[int, float], ...]
    monotone: bool = True

    def __int__(self) -> int:
        return self.value

    def __str__(self) -> str:
        text = (f"{self.lever} = {self.value}: P({self.output} <= {self.target:g} in "
                f"{self.by}) = {self.probability:.3f} >= {self.required:g}")
        if self.probability_below is not None:
            text += f"; {self.lever} = {self.value - 1} gives {self.probability_below:.3f}"
        return text + f" ({self.draws:,} draws, seed {self.seed})"


def _with_lever(scenario: Scenario, lever: str, value: int, output: str) -> Scenario:
    """The scenario with *lever* fixed at *value* for the whole run, keeping only *output*."""
    data = copy.deepcopy(dict(scenario.resolved))  # plain, editable (a scenario is read-only)
    data.setdefault("levers", {})[lever] = value
    timeline = []
    for entry in data.get("timeline", []):
        entry = dict(entry)
        changes = {k: v for k, v in entry.get("levers", {}).items() if k != lever}
        if changes:
            entry["levers"] = changes
            timeline.append(entry)
    if "timeline" in data:
        data["timeline"] = timeline
    data.setdefault("outputs", {})["variables"] = [output]
    return scenario_from_dict(data, path=scenario.path, sources=scenario.sources)


def _probability(scenario: Scenario, lever: str, value: int, *, output: str, month: int,
                 target: float, options: RunOptions) -> float:
    """Share of draws (and replicates) with *output* at *month* at or below *target*."""
    ds = run_with(_with_lever(scenario, lever, value, output), options)
    at = ds[output].isel(time=month).values
    return float(np.mean(at <= target))


def _most_runs(low: int, high: int) -> int:
    """A bound on the runs of a search in ``[low, high]`` before it is bracketed: the
    doublings (or halvings) and the bisection after them.

    >>> _most_runs(1, 200)
    17
    """
    return 2 * max(1, math.ceil(math.log2(high - low + 1))) + 1


def solve_capacity(
    scenario: Scenario,
    lever: str = "courts",
    *,
    target: float,
    by: str = "2021-01",
    probability: float = 0.9,
    output: str = "backlog_trial",
    draws: int | None = None,
    seed: int | None = None,
    executor: ExecutorArg = None,
    progress: ProgressArg = None,
) -> CapacitySolution:
    """The smallest whole value of *lever* with P(*output* at *by* <= *target*) >= *probability*.

    Parameters
    ----------
    scenario
        A loaded scenario whose model declares *lever* as a whole-number lever.
    lever
        The capacity to size (``courts``, ``screening_teams``). It is held at
        each tried value for the whole run; the scenario's timeline changes to
        this lever are dropped.
    target, by, output
        The goal: *output* (a monthly series of the model) at month *by*
        (``"YYYY-MM"``) at or below *target*.
    probability
        The share of draws (and replicates) that must meet the goal, in (0, 1].
    draws, seed
        Override the scenario's run settings; one seed serves every tried value.
    executor
        Passed to :func:`threatsim.run` (e.g. a number of worker processes).
    progress
        Counts the values tried (:mod:`threatsim.engine.progress`): ``True``, a
        bar on stderr with a line per value tried (``courts 56: P=0.910
        (target 0.9)``) and each run's draws on a transient bar under it;
        ``None``, that when stderr is a terminal; a callable ``progress(done,
        total, label)``, told each value tried with that line as its label
        (*total*: the values tried so far plus the most the search may still
        need, known once the answer is bracketed); ``False``: nothing. Default ``None``.

    Raises
    ------
    ScenarioError
        Bad arguments, or a target the lever's upper bound cannot meet (the
        message gives the best value found and its probability).

    Warns
    -----
    RuntimeWarning
        The probability fell somewhere as the lever rose (not monotone).

    Examples
    --------
    A scenario that takes the fast path (about a second here; the repatriating
    ``detention_iraq_syria.toml`` takes about 4 s for 100 draws on the compiled event
    loop, docs/detention.md):

    >>> import threatsim
    >>> sc = threatsim.load_scenario("scenarios/whatif/repatriation_stalled.toml")
    >>> lines = []
    >>> sol = solve_capacity(sc, "courts", target=100, by="2021-01", draws=20,
    ...                      progress=lambda done, total, label: lines.append(label))
    >>> sol.value, lines[1]
    (50, 'courts 20: P=0.200 (target 0.9)')
    """
    model = get_model(scenario.model)
    decls = {d.name: d for d in model.info.levers}
    integer = [name for name, d in decls.items() if d.integer]
    if lever not in decls or not decls[lever].integer:
        allowed = ", ".join(integer) or "none"
        raise ScenarioError(f"must be a whole-number lever of model {scenario.model!r} "
                            f"(allowed: {allowed})", key="lever", value=lever)
    series = [o.name for o in model.info.outputs if "time" in o.dims]
    if output not in series:
        raise ScenarioError(f"must be a monthly output of model {scenario.model!r} "
                            f"(allowed: {', '.join(series)})", key="output", value=output)
    if isinstance(target, bool) or not isinstance(target, (int, float)) or not math.isfinite(
            target):
        raise ScenarioError("must be a finite number", key="target", value=target)
    if (isinstance(probability, bool) or not isinstance(probability, (int, float))
            or not 0.0 < probability <= 1.0):
        raise ScenarioError("must be a number in (0, 1]", key="probability", value=probability)
    month = scenario.month_of(by, key="by")
    # One seed (and set of draws) for every value tried: common random numbers.
    options = RunOptions.build(scenario, draws=draws, seed=seed, executor=executor,
                               progress=False)
    draws, seed = options.draws, options.seed
    decl = decls[lever]
    low, high = math.ceil(decl.low), math.floor(decl.high)

    tried: dict[int, float] = {}
    with Progress(_most_runs(low, high), progress=progress,
                  label=f"{lever} for P >= {probability:g}", unit="value") as bar:
        def prob(value: int) -> float:
            if value not in tried:
                inner = dataclasses.replace(options, progress=bar.inner(f"{lever} {value}"))
                tried[value] = _probability(scenario, lever, value, output=output, month=month,
                                            target=target, options=inner)
                bar.advance(line=f"{lever} {value}: P={tried[value]:.3f} "
                                 f"(target {probability:g})")
            return tried[value]

        def bracketed(bad: int, good: int) -> None:
            # at most ceil(log2(good - bad)) bisections left (a value already tried is free)
            left = math.ceil(math.log2(good - bad)) if good - bad > 1 else 0
            bar.set_total(len(tried) + left)

        def meets(value: int) -> bool:
            return prob(value) >= probability

        # Bracket [bad, good]: bad misses (or is below the lower bound), good meets.
        # int(): round() of a numpy scalar gave a numpy float before numpy 2
        start = min(max(int(round(scenario.levers.get(lever, decl.default))), low), high)  # noqa: RUF046
        if meets(start):
            good, bad = start, low - 1
            step = 1
            while good > low:
                candidate = max(low, good - step)
                if meets(candidate):
                    good = candidate
                    step *= 2
                else:
                    bad = candidate
                    break
        else:
            bad = start
            step = max(1, start)
            while True:
                candidate = min(high, bad + step)
                if meets(candidate):
                    good = candidate
                    break
                if candidate == high:
                    best = max(tried, key=lambda v: (tried[v], v))
                    raise ScenarioError(
                        f"cannot be reached within the bounds of {lever} [{low}, {high}]: the best "
                        f"value found, {lever}={best}, gives P({output} <= {target:g} in {by}) = "
                        f"{tried[best]:.3f} < {probability:g} ({draws:,} draws, seed {seed}); "
                        f"raise the target, move the date, or lower the probability",
                        key="target", value=target)
                bad = candidate
                step *= 2
        bracketed(bad, good)
        while good - bad > 1:
            mid = (good + bad) // 2
            if meets(mid):
                good = mid
            else:
                bad = mid
            bracketed(bad, good)

    # Monotone check: with common random numbers a lever that never hurts gives
    # probabilities that never fall as it rises. A fall means the lever is not
    # monotone here (e.g. chance that depends on the state, such as who is
    # repatriated), so the answer is only the smallest value meeting the target
    # among those the bisection could tell apart.
    ordered = sorted(tried.items())
    falls = [(v, pv, w, pw) for i, (v, pv) in enumerate(ordered)
             for w, pw in ordered[i + 1:] if pw < pv]
    if falls:
        v, pv, w, pw = max(falls, key=lambda f: f[1] - f[3])
        warnings.warn(
            f"{output} is not monotone in {lever}: P={pv:.3f} at {lever}={v} but "
            f"P={pw:.3f} at {lever}={w}; the answer {lever}={good} may not be the smallest "
            f"sufficient value (try more draws)", RuntimeWarning, stacklevel=2)
    return CapacitySolution(
        lever=lever, value=good, probability=tried[good],
        probability_below=tried.get(good - 1) if good > low else None,
        output=output, target=float(target), by=scenario.month_label(month),
        required=float(probability), draws=draws, seed=seed,
        tried=tuple(tried.items()), monotone=not falls)

"""Load-time checks of the ``fighters`` rates: competing exits sum to at most 1."""

from __future__ import annotations

from typing import Any

import numpy as np

from threatsim.core.errors import ScenarioError
from threatsim.models.fighters.custody import CUSTODY_FLAG
from threatsim.models.fighters.declarations import (
    FIGHTER_LEVERS,
    FIGHTER_PARAMETERS,
    REGIONS,
    SHOCK_KINDS,
)
from threatsim.models.fighters.draws import event_word

__all__ = ["custody_problems", "rate_problems"]


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

    Any object with ``parameters`` (each with ``dist.bounds()``), ``levers``,
    ``timeline`` and ``horizon`` will do (see :class:`~threatsim.models.contract.ScenarioParts`):

    >>> from types import SimpleNamespace
    >>> def upto(high):
    ...     return SimpleNamespace(dist=SimpleNamespace(bounds=lambda: (0.0, high)))
    >>> rates = {p.name: upto(0.01) for p in FIGHTER_PARAMETERS}
    >>> parts = SimpleNamespace(parameters=rates, levers={}, timeline=[], horizon=2)
    >>> rate_problems(parts)
    []
    >>> rates["kill_rate"] = upto(0.99)
    >>> [p.key for p in rate_problems(parts)][:2]
    ['exit rates of active_local in iraq', 'exit rates of active_foreign in iraq']
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


def custody_problems(partial: Any) -> list[ScenarioError]:
    """Load-time checks of the custody tables' rates (issue 19), as :func:`rate_problems`.

    A region's detainees: ``trial_rate[_<region>] x prosecution_capacity x
    prosecution_capacity_<region> (x foreign_trials_<region>) (+ repatriation_rate)
    + transfer_rate_<region>`` at most 1, checked for the regions whose regime differs
    from the shared one; released foreign fighters: ``reengagement_rate x (1 -
    rehabilitation) + released_repatriation_rate`` at most 1; two events or shocks of
    a region whose names' keys coincide (they would draw the same numbers) are refused.

    >>> from types import SimpleNamespace
    >>> def upto(high):
    ...     return SimpleNamespace(dist=SimpleNamespace(bounds=lambda: (0.0, high)))
    >>> rates = {p.name: upto(0.05) for p in FIGHTER_PARAMETERS}
    >>> parts = SimpleNamespace(parameters=rates, levers={"transfer_rate_syria": 0.99},
    ...                         timeline=[], horizon=2)
    >>> [p.key for p in custody_problems(parts)]
    ['exit rates of detained in syria']
    """
    names = {d.name for d in FIGHTER_PARAMETERS}
    params = partial.parameters
    if not names <= set(params):
        return []
    defaults = {d.name: d.default for d in FIGHTER_LEVERS}
    lever = {name: _schedule(partial, name, defaults[name]) for name in defaults}
    problems: list[ScenarioError] = []

    def check(key: str, total: np.ndarray, terms: str) -> None:
        worst = int(np.argmax(total))
        if total[worst] > 1.0 + 1e-12:
            problems.append(ScenarioError(
                f"must sum to at most 1 (competing monthly probabilities out of one "
                f"compartment; at their upper bounds, in month {worst} from the start: "
                f"{terms}); lower those ranges or levers", key=key,
                value=round(float(total[worst]), 6)))

    capacity, repat = lever["prosecution_capacity"], lever["repatriation_rate"]
    for r in REGIONS:
        regime = [lever[f"{what}_{r}"] for what in ("prosecution_capacity", "foreign_trials",
                                                     "transfer_rate")]
        own = f"trial_rate_{r}" in params
        if not own and all((x == defaults[f"{what}_{r}"]).all() for x, what in zip(
                regime, ("prosecution_capacity", "foreign_trials", "transfer_rate"),
                strict=True)):
            continue
        trial_name = f"trial_rate_{r}" if own else "trial_rate"
        trial = _upper(partial, trial_name) * capacity * regime[0]
        terms = (f"{trial_name} {_upper(partial, trial_name):g} x prosecution_capacity x "
                 f"prosecution_capacity_{r}, transfer_rate_{r}")
        check(f"exit rates of detained in {r}",
              np.maximum(trial, trial * regime[1] + repat) + regime[2],
              f"{terms} (foreign: x foreign_trials_{r}, + repatriation_rate)")
    if CUSTODY_FLAG in params:
        check("exit rates of released foreign fighters",
              _upper(partial, "reengagement_rate") * (1.0 - lever["rehabilitation"])
              + lever["released_repatriation_rate"],
              f"reengagement_rate {_upper(partial, 'reengagement_rate'):g} x (1 - "
              "rehabilitation) + released_repatriation_rate")
    for r in REGIONS:
        keyed: dict[int, str] = {}
        for name in sorted(params):
            for head, tail in ((f"fall_{r}_", "_strength"),
                               *((f"{kind}_{r}_", "_probability") for kind in SHOCK_KINDS)):
                if name.startswith(head) and name.endswith(tail):
                    label = name[len(head):-len(tail)]
                    word = event_word(label)
                    if word in keyed and keyed[word] != label:
                        problems.append(ScenarioError(
                            f"draws the numbers of {keyed[word]!r} (their names' keys "
                            "coincide); rename one",
                            key=f"{'events' if head.startswith('fall_') else 'shocks'}.{label}",
                            value=label))
                    keyed[word] = label
    return problems

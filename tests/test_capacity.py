"""solve_capacity: the smallest lever value that meets a target, with common random numbers."""

from __future__ import annotations

import numpy as np
import pytest

import threatsim
from threatsim.analysis import capacity
from threatsim.cli.main import main
from threatsim.core.errors import ScenarioError
from threatsim.inputs.scenario import scenario_from_dict


def _scenario(**levers: float) -> threatsim.Scenario:
    spec = {
        "detained_iraq": (300, "people"), "detained_syria": (0, "people"),
        "dependants_syria": (0, "people"), "arrivals_per_month": (40, "people_per_month"),
        "arrivals_foreign_share": (0.5, "share"), "dependants_child_share": (0.5, "share"),
        "screening_days": (0, "days"), "duration_cv": (1, "share"),
        "conviction_share": (0.8, "share"), "sentence_months": (6, "months"),
    }
    params = {k: {"dist": "point", "value": v, "unit": u, "assumption": "test"}
              for k, (v, u) in spec.items()}
    params["trial_days"] = {"dist": "uniform", "range": [5, 15], "unit": "days",
                            "assumption": "test"}
    return scenario_from_dict({
        "name": "cap", "model": "detention", "start": "2019-01", "horizon": 12,
        "parameters": params, "levers": {"courts": 4, **levers},
        "run": {"draws": 30, "seed": 17},
    })


def _p(sc: threatsim.Scenario, courts: int, target: float, month: int) -> float:
    ds = threatsim.run(sc.with_values({"levers.courts": courts}), progress=False)
    return float((ds["backlog_trial"].isel(time=month) <= target).mean())


def test_returns_a_value_that_meets_the_target_and_one_less_does_not():
    """The answer meets P(backlog <= 60 in 2019-10) >= 0.8; the answer minus one misses it."""
    sc = _scenario()
    sol = threatsim.solve_capacity(sc, "courts", target=60, by="2019-10", probability=0.8)
    assert isinstance(sol.value, int)
    assert sol.value > 1
    # Checked independently with plain runs at the same seed.
    assert _p(sc, sol.value, 60, 9) >= 0.8
    assert _p(sc, sol.value - 1, 60, 9) < 0.8
    assert sol.probability == pytest.approx(_p(sc, sol.value, 60, 9))
    assert sol.probability_below is not None
    assert sol.probability_below < 0.8
    # Probabilities of the values tried never fall as courts rise (common random numbers).
    probs = [p for _, p in sorted(sol.tried)]
    assert probs == sorted(probs)


def test_same_answer_from_any_starting_value():
    """Searching up from 1 court or down from 200 ends at the same value."""
    a = threatsim.solve_capacity(_scenario(courts=1), target=60, by="2019-10", probability=0.8)
    b = threatsim.solve_capacity(_scenario(courts=200), target=60, by="2019-10",
                                 probability=0.8)
    assert a.value == b.value


def test_unreachable_target_says_the_best_it_found_and_stops(monkeypatch):
    """A target no lever value meets: ScenarioError with the best value and its probability."""
    calls = []
    real = capacity._probability
    monkeypatch.setattr(capacity, "_probability",
                        lambda *a, **k: calls.append(a[2]) or real(*a, **k))
    # Someone is always in trial while detainees keep arriving: backlog 0 is out of reach.
    with pytest.raises(ScenarioError, match=r"cannot be reached within the bounds of courts "
                                            r"\[1, 1000\]: the best value found, courts=1000, "
                                            r"gives P\(backlog_trial <= 0 in 2019-10\) = 0\.000"):
        threatsim.solve_capacity(_scenario(), target=0, by="2019-10", probability=0.9)
    assert len(calls) <= 2 * np.log2(1000) + 2
    assert calls[-1] == 1000


def test_a_lever_that_is_not_monotone_is_reported(monkeypatch):
    """If the probability falls as the lever rises, a RuntimeWarning says where."""
    fake = {4: 0.5, 8: 0.92, 6: 0.95, 5: 0.6}
    monkeypatch.setattr(capacity, "_probability", lambda sc, lever, value, **k: fake[value])
    with pytest.warns(RuntimeWarning, match=r"not monotone in courts: P=0\.950 at courts=6 "
                                            r"but P=0\.920 at courts=8"):
        sol = threatsim.solve_capacity(_scenario(), target=1, by="2019-10", probability=0.9)
    assert sol.value == 6
    assert not sol.monotone


@pytest.mark.parametrize(("kwargs", "key"), [
    ({"lever": "exemption_share"}, "lever='exemption_share'"),
    ({"lever": "judges"}, "lever='judges'"),
    ({"output": "pretrial_wait_median"}, "output='pretrial_wait_median'"),
    ({"probability": 1.5}, "probability=1.5"),
    ({"by": "2030-01"}, "by='2030-01'"),
    ({"target": float("nan")}, "target=nan"),
])
def test_bad_arguments_are_refused(kwargs, key):
    """Bad lever, output, probability, month or target: ScenarioError naming the argument."""
    args = {"target": 10.0, "by": "2019-10", **kwargs}
    lever = args.pop("lever", "courts")
    with pytest.raises(ScenarioError) as err:
        threatsim.solve_capacity(_scenario(), lever, **args)
    assert key in str(err.value)


def test_timeline_changes_to_the_lever_are_dropped_others_kept():
    """The lever is held at the tried value all run; other levers keep their timeline."""
    data = dict(_scenario().resolved)  # a Scenario is read-only: edit a copy
    data["timeline"] = [{"at": "2019-04", "levers": {"courts": 30, "exemption_share": 0.2}}]
    sc = scenario_from_dict(data)
    fixed = capacity._with_lever(sc, "courts", 7, "backlog_trial")
    sched = fixed.lever_schedule()
    assert np.all(sched["courts"] == 7)
    assert sched["exemption_share"][2] == 0
    assert sched["exemption_share"][3] == 0.2
    assert fixed.variables == ("backlog_trial",)


def test_cli_capacity_prints_the_answer_and_fails_cleanly(tmp_path, capsys):
    """`threatsim capacity` prints the answer; an unreachable target exits 2 with one line."""
    from tests.conftest import SCENARIOS

    path = str(SCENARIOS / "whatif" / "repatriation_stalled.toml")
    assert main(["capacity", path, "--target", "400", "--by", "2020-01", "--draws", "8",
                 "--probability", "0.75"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("courts = ")
    assert "P(backlog_trial <= 400 in 2020-01)" in out
    assert main(["capacity", path, "--target", "0", "--by", "2020-01", "--draws", "4"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "cannot be reached" in err[0]

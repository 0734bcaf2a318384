"""Rolling-origin evaluation (issue 20, part 4): calibrate on the figures up to each
origin, score the figures after it, for the prior, the posterior and persistence.

The toy model (tests/analysis_toy.py) keeps its stock at ``stock0`` times the decay
lever's product, so reports of the stock condition ``stock0`` directly: a posterior
learnt from early reports of a known trajectory must forecast its later reports better
than the prior, on average over trajectories (5 standard errors).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from tests.analysis_toy import toy_dict

from threatsim.cli.main import main
from threatsim.core.errors import ScenarioError
from threatsim.engine.runner import run
from threatsim.inputs.scenario import scenario_from_dict
from threatsim.outputs.calibration import calibrate
from threatsim.outputs.leaderboard import leaderboard
from threatsim.outputs.observations import ObservationSet, observations_from_dict
from threatsim.outputs.rolling import rolling_origin, rolling_summary, rolling_table

K_SE = 5.0


def _obs(*entries: dict) -> ObservationSet:
    rows = [{"variable": "stock", "unit": "usd", **e} for e in entries]
    return observations_from_dict({"document": "synthetic (test)", "observation": rows})


def _toy(draws: int = 1000, seed: int = 3, **kw):
    return scenario_from_dict(toy_dict(draws=draws, seed=seed, **kw))


ROWS = (
    {"id": "a", "date": "2020-03", "low": 150.0, "high": 190.0},
    {"id": "b", "date": "2020-03", "point": 170.0},
    {"id": "c", "date": "2020-06", "low": 140.0, "high": 200.0,
     "previous": {"low": 150.0, "high": 190.0}},
    {"id": "d", "date": "2020-10", "low": 120.0},
)


def test_each_origin_scores_only_the_figures_after_it(toy_model):
    sc = _toy(decay=0.01, horizon=12)
    obs = _obs(*ROWS)
    board = rolling_origin(sc, obs, draws=600, seed=4)
    assert board["origin"].values.tolist() == ["2020-03", "2020-06"]
    # months after the origin, counted by hand; NaN: at or before it (not scored)
    expected = {"2020-03": [math.nan, math.nan, 3.0, 7.0],
                "2020-06": [math.nan, math.nan, math.nan, 4.0]}
    for origin, hs in expected.items():
        got = board["horizon"].sel(origin=origin).values
        np.testing.assert_array_equal(got, np.asarray(hs))
        scored = np.isfinite(board["crps"].sel(forecast="posterior", origin=origin).values)
        np.testing.assert_array_equal(scored, np.isfinite(hs))
    # the prior's scores are the leaderboard's of the scenario's own run, figure by figure
    prior_board = leaderboard(run(sc, draws=600, seed=4, progress=False), obs)
    for oid in ("c", "d"):
        np.testing.assert_allclose(
            board["crps"].sel(forecast="prior", origin="2020-03", observation=oid),
            prior_board["crps"].sel(observation=oid), rtol=1e-12)
    # origin 2020-03 learnt from a and b alone: its calibration is calibrate's on them
    prior_run = run(sc, draws=600, seed=4, progress=False)
    alone = calibrate(sc, _obs(*ROWS[:2]), prior=prior_run)
    assert float(board["ess"].sel(origin="2020-03")) == pytest.approx(alone.attrs["ess"],
                                                                       rel=1e-12)
    # persistence: c's previous figure, and d's run's own band at the start (scoring.md)
    persistence = board["crps"].sel(forecast="persistence", origin="2020-03").values
    np.testing.assert_allclose(persistence[2:], prior_board["crps_persistence"].sel(
        observation=["c", "d"]).values, rtol=1e-12)


def _gain(reps: int, draws: int, seed: int) -> tuple[float, float]:
    """Mean and standard error over *reps* known trajectories of (prior - posterior)
    scaled CRPS, averaged over each trajectory's origins and later figures.

    Each trajectory draws its true ``stock0`` from the prior (uniform 100-200) and
    decays 5 % a month; it is reported at months 2, 4, 6 and 8 with a normal reporting
    error of 5 % (what calibrate assumes by default: sd 5 % of the figure).
    """
    rng = np.random.default_rng(seed)
    gains = []
    for i in range(reps):
        sc = _toy(draws=draws, seed=seed * 100 + i, decay=0.05, horizon=10)
        truth = rng.uniform(100.0, 200.0) * 0.95 ** np.arange(11)
        rows = [{"id": f"m{m}", "date": f"2020-{m + 1:02d}",
                 "point": float(truth[m] * (1 + 0.05 * rng.standard_normal()))}
                for m in (2, 4, 6, 8)]
        board = rolling_origin(sc, _obs(*rows), rel_error=0.05)
        s = rolling_summary(board)["by_origin"]
        gains.append(float((s.sel(forecast="prior") - s.sel(forecast="posterior")).mean()))
    g = np.asarray(gains)
    return float(g.mean()), float(g.std(ddof=1) / math.sqrt(reps))


def test_updating_on_earlier_reports_forecasts_later_ones_better(toy_model):
    # 40 trajectories x 3 origins (about 5 s); the gain would be 0 without the posterior
    mean, se = _gain(reps=40, draws=1000, seed=7)
    assert mean > K_SE * se, (mean, se)


def test_the_table_shows_origins_and_horizons(toy_model):
    board = rolling_origin(_toy(decay=0.01), _obs(*ROWS), draws=400, seed=1)
    text = rolling_table(board)
    assert "2020-03" in text
    assert "2020-06" in text
    lines = text.splitlines()
    by_h = lines[lines.index("mean scaled CRPS by horizon (months after the origin)") + 2:]
    assert [int(line.split()[0]) for line in by_h] == [3, 4, 7]


@pytest.mark.parametrize(("rows", "origins", "message"), [
    (ROWS[:2], None, "are all dated in one month"),
    (ROWS, ["2020-10"], "no observation dated after it"),
    (ROWS, ["2020-01"], "no observation dated at or before it"),
    (ROWS, ["March"], "must be a month YYYY-MM"),
])
def test_origins_that_cannot_be_evaluated_say_why(toy_model, rows, origins, message):
    with pytest.raises(ScenarioError, match=message):
        rolling_origin(_toy(), _obs(*rows), origins=origins, draws=100, seed=1)


def _toml_rows(rows) -> str:
    out = ['document = "synthetic (test)"']
    for r in rows:
        out.append("[[observation]]")
        out.append('variable = "stock"\nunit = "usd"')
        for k, v in r.items():
            if isinstance(v, dict):
                inner = ", ".join(f"{a} = {b}" for a, b in v.items())
                out.append(f"{k} = {{ {inner} }}")
            else:
                out.append(f"{k} = {v!r}".replace("'", '"'))
    return "\n".join(out) + "\n"


def test_cli_rolling_end_to_end(toy_model, tmp_path, capsys):
    import tomli_w

    scenario = tmp_path / "toy.toml"
    scenario.write_bytes(tomli_w.dumps(toy_dict(decay=0.01)).encode())
    obs = tmp_path / "obs.toml"
    obs.write_text(_toml_rows(ROWS))
    out = tmp_path / "roll.nc"
    assert main(["rolling", str(scenario), str(obs), "--draws", "300", "--quiet",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "mean scaled CRPS by origin" in printed
    assert out.exists()
    assert main(["rolling", str(scenario), str(obs), "--origin", "2021-05", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "no observation dated after it" in err
    assert "Traceback" not in err


def test_a_figure_over_a_period_is_dated_by_its_last_month(toy_model):
    """A half-year's figure is known only once the half-year is over: it is learnt from
    at origins from its last month on, and scored at the origins before."""
    rows = (
        {"id": "h1", "date": "2020-H1", "low": 120.0, "high": 190.0, "window": "mean"},
        {"id": "jul", "date": "2020-07", "low": 100.0, "high": 190.0},
        {"id": "oct", "date": "2020-10", "low": 90.0, "high": 180.0},
    )
    board = rolling_origin(_toy(decay=0.01), _obs(*rows), draws=300, seed=2)
    assert board["origin"].values.tolist() == ["2020-06", "2020-07"]
    assert board["month"].values.tolist() == ["2020-H1", "2020-07", "2020-10"]
    np.testing.assert_array_equal(board["horizon"].sel(origin="2020-06").values,
                                  [math.nan, 1.0, 4.0])


@pytest.mark.parametrize("command", ["rolling", "calibrate"])
def test_a_sampler_they_would_ignore_is_refused(command, capsys):
    """calibrate and rolling draw their prior with the scenario's sampler: --sampler is
    not an option of theirs (it was accepted and ignored)."""
    with pytest.raises(SystemExit) as stop:
        main([command, "scenarios/financing.toml", "scenarios/observations/synthetic.toml",
              "--sampler", "lhs"])
    assert stop.value.code == 2
    assert "unrecognized arguments: --sampler lhs" in capsys.readouterr().err

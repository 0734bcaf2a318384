"""The calibration chart (issue 20, part 3): prior and posterior bands of what each
figure measures, with the figures on them, and how far each parameter moved.

The checks read the drawn lines back from the figure and compare them with the
calibration Dataset's own summaries, so a chart that draws the wrong band, the wrong
figure or loses a conflict fails.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from tests.analysis_toy import toy_dict, toy_toml  # noqa: F401

from threatsim.cli.main import main
from threatsim.inputs.scenario import scenario_from_dict
from threatsim.outputs.calibration import calibrate
from threatsim.outputs.observations import observations_from_dict
from threatsim.outputs.plotting_calibration import posterior_chart


def _post(toy_model):
    sc = scenario_from_dict(toy_dict(draws=800, seed=2))
    obs = observations_from_dict({"document": "synthetic (test)", "observation": [
        {"id": "range", "variable": "stock", "unit": "usd", "date": "2020-03",
         "low": 150.0, "high": 190.0},
        {"id": "far", "variable": "stock", "unit": "usd", "date": "2020-04",
         "low": 400.0, "high": 500.0},
    ]})
    return calibrate(sc, obs, errors={"range": 0.05, "far": 0.5})


def test_the_bands_and_figures_drawn_are_the_calibrations(toy_model):
    post = _post(toy_model)
    fig = posterior_chart(post)
    ax_obs, ax_par = fig.axes
    assert [t.get_text() for t in ax_obs.get_yticklabels()] == ["far", "range"]
    lines = ax_obs.get_lines()
    grey = [ln for ln in lines if ln.get_color() == "0.6"]
    blue = [ln for ln in lines if ln.get_color() == "tab:blue"]
    for j, ln in enumerate(blue):
        scale = float(post["obs_high"][j])  # the largest bound of a range
        np.testing.assert_allclose(ln.get_xdata(), [float(post["posterior_pred_q05"][j]) / scale,
                                                    float(post["posterior_pred_q95"][j]) / scale])
        np.testing.assert_allclose(grey[j].get_xdata(),
                                   [float(post["prior_pred_q05"][j]) / scale,
                                    float(post["prior_pred_q95"][j]) / scale])
    # the far figure is outside the whole prior (stock0 is at most 200): drawn red
    assert float(post["conflict"].sel(observation="far")) == 1.0
    figure_lines = [ln for ln in lines if ln.get_color() in ("black", "tab:red")]
    assert [ln.get_color() for ln in figure_lines] == ["black", "tab:red"]
    np.testing.assert_allclose(figure_lines[0].get_xdata(), [150 / 190, 1.0])
    # parameters: stock0 moved inside its prior band, on the 0-1 scale of that band
    names = [t.get_text() for t in ax_par.get_yticklabels()]
    assert "stock0" in names
    i = list(post["parameter"].values).index("stock0")
    par_blue = [ln for ln in ax_par.get_lines() if ln.get_color() == "tab:blue"]
    lo, hi = float(post["prior_q05"][i]), float(post["prior_q95"][i])
    want = [(float(post["posterior_q05"][i]) - lo) / (hi - lo),
            (float(post["posterior_q95"][i]) - lo) / (hi - lo)]
    np.testing.assert_allclose(par_blue[i].get_xdata(), want)
    assert want[1] - want[0] < 0.8  # the range observation narrowed it
    plt.close(fig)


def test_cli_calibrate_writes_the_chart(toy_model, tmp_path, capsys):
    import tomli_w

    scenario = tmp_path / "toy.toml"
    scenario.write_bytes(tomli_w.dumps(toy_dict(draws=300, seed=2)).encode())
    obs = tmp_path / "obs.toml"
    obs.write_text('document = "synthetic (test)"\n[[observation]]\nid = "r"\n'
                   'variable = "stock"\nunit = "usd"\ndate = "2020-03"\nlow = 150.0\n'
                   'high = 190.0\n')
    assert main(["calibrate", str(scenario), str(obs), "--quiet", "--plot",
                 str(tmp_path / "plots")]) == 0
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == [
        "calibration_toy.png", "calibration_toy.svg"]
    assert "wrote" in capsys.readouterr().out

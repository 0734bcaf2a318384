"""A scenario's name is a label from the user: shown in titles, legends and the run table
on one line, with its control characters escaped, cut short when very long.

A name holding NUL, a newline or an ESC sequence went into the charts raw: matplotlib
warned "Glyph 0 missing from font(s)" while drawing, the title broke over lines, and a
``$...$`` in it was read as mathtext (a bad one fails to draw).
"""

from __future__ import annotations

import warnings

import matplotlib.pyplot as plt
import pytest
from matplotlib.text import Text
from tests.conftest import SCENARIOS

import threatsim
from threatsim.cli.table import summary_table
from threatsim.core.formatting import LABEL_LIMIT, printable
from threatsim.outputs import plotting
from threatsim.outputs.leaderboard import leaderboard
from threatsim.outputs.observations import load_observations
from threatsim.outputs.plotting_calibration import coverage_plot, pit_histogram

#: NUL, newline, ESC (a terminal colour), a right-to-left override, mathtext, and long.
NASTY = "evil\x00name\n\x1b[31mred\u202e $\\frac$ " + "x" * 300
CONTROL = ("\x00", "\n", "\x1b", "\u202e")


@pytest.fixture(scope="module")
def scenario():
    return threatsim.load_scenario(SCENARIOS / "financing.toml")


@pytest.fixture(scope="module")
def run(scenario):
    ds = threatsim.run(scenario, draws=200, seed=2, progress=False)
    ds.attrs["scenario_name"] = NASTY
    return ds


def _drawn_cleanly(fig) -> list[str]:
    """Draw *fig* with every warning an error; the texts that show the name."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig.canvas.draw()
    shown = [t.get_text() for t in fig.findobj(Text) if "evil" in t.get_text()]
    plt.close(fig)
    return shown


def _assert_label_safe(shown: list[str]) -> None:
    assert shown, "the name is shown"
    for text in shown:
        assert not any(c in text for c in CONTROL), repr(text)
        assert "x" * (LABEL_LIMIT + 1) not in text  # cut short
        assert "…" in text
    assert any(r"evil\x00name\n\x1b[31mred\u202e" in text for text in shown)


def test_printable_escapes_control_characters_and_cuts_long_labels():
    """The escapes are repr's; the result is printable, on one line, within the limit."""
    text = printable(NASTY)
    assert text.isprintable()
    assert len(text) == LABEL_LIMIT
    assert text.startswith(repr(NASTY)[1:30])
    assert text.endswith("…")
    assert printable("baseline") == "baseline"


@pytest.mark.parametrize("chart", ["fan", "exceedance"])
def test_run_charts_show_the_name_escaped_without_warnings(run, chart):
    fig = (plotting.fan_chart(run, "reserves") if chart == "fan"
           else plotting.exceedance_chart(run, "reserves"))
    _assert_label_safe(_drawn_cleanly(fig))


def test_comparison_charts_show_both_names_escaped(scenario):
    cds = threatsim.compare(scenario, scenario.with_values({"levers.seizure_effort": 2.0}),
                            draws=100, progress=False)
    cds.attrs["base_name"] = NASTY
    cds.attrs["whatif_name"] = NASTY
    for fig in (plotting.comparison_chart(cds, "reserves"),
                plotting.exceedance_chart(cds, "reserves")):
        _assert_label_safe(_drawn_cleanly(fig))


def test_tornado_chart_shows_the_name_escaped(scenario):
    sds = threatsim.sensitivity(scenario, "reserves", at="2020-06", n=16, draws=100,
                                n_resamples=9)
    sds.attrs["scenario_name"] = NASTY
    _assert_label_safe(_drawn_cleanly(plotting.tornado_chart(sds)))


def test_calibration_pictures_show_the_name_escaped(run):
    board = leaderboard(run, load_observations(SCENARIOS / "observations" / "synthetic.toml",
                                               against=run))
    board.attrs["scenario_name"] = NASTY
    for fig in (pit_histogram(board), coverage_plot(board)):
        _assert_label_safe(_drawn_cleanly(fig))


def test_the_run_table_head_shows_the_name_on_one_line(run):
    table = summary_table(run, quantiles=[0.05, 0.5, 0.95], report_months=[0, 12])
    head = table.splitlines()[0]
    assert head.startswith("scenario 'evil\\x00name\\n\\x1b[31mred\\u202e $\\frac$ xxx")
    assert "…' (run " in head  # the whole head on its first line, the name cut short
    assert not any(c in table for c in CONTROL if c != "\n")
    assert "x" * (LABEL_LIMIT + 1) not in head


def test_the_planner_charts_show_the_name_escaped(scenario):
    """fan_figure, overview_figure and comparison_figure (threatsim.outputs.charts) name the
    scenario in their subtitles: escaped and cut short like every other chart."""
    from dataclasses import replace

    from threatsim.outputs import charts

    nasty = replace(scenario, name=NASTY)
    ds = threatsim.run(scenario, draws=50, seed=2, progress=False)
    series = charts.headline_series(ds, scenario)
    _assert_label_safe(_drawn_cleanly(charts.fan_figure(ds, series[0], scenario=nasty)))
    _assert_label_safe(_drawn_cleanly(charts.overview_figure(ds, series, scenario=nasty)))
    other = scenario.with_values({"levers.seizure_effort": 2.0})
    cds = threatsim.compare(scenario, other, draws=50, progress=False)
    _assert_label_safe(_drawn_cleanly(charts.comparison_figure(
        cds, series[0], base=nasty, whatif=replace(other, name=NASTY))))

"""The chart rules: one output per figure, its declared title, units with thousands
separators and whole people, the timeline's lever changes and event windows (never the
report months), a footnote citing the scenario's paragraphs and the run; the run's default
picture is a few panels, not a strip of every output; summary runs chart too."""

from __future__ import annotations

import re

import matplotlib.dates as mdates
import matplotlib.image
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.lines import Line2D
from matplotlib.patches import Polygon, Rectangle
from tests.conftest import SCENARIOS

import threatsim
from threatsim.cli.main import main
from threatsim.models.contract import ModelInfo, OutputDecl, SeriesDecl
from threatsim.models.registry import get_model, model_names
from threatsim.outputs import charts


@pytest.fixture(scope="module")
def baseline():
    return threatsim.load_scenario(SCENARIOS / "baseline.toml")


@pytest.fixture(scope="module")
def baseline_run(baseline):
    return threatsim.run(baseline, draws=60, seed=5, progress=False)


@pytest.fixture(scope="module")
def courts():
    return threatsim.load_scenario(SCENARIOS / "whatif" / "courts_doubled.toml")


@pytest.fixture(scope="module")
def courts_run(courts):
    return threatsim.run(courts, draws=20, seed=5, progress=False)


def _series(ds, sc, title):
    return next(s for s in charts.headline_series(ds, sc) if s.title == title)


def _drawn(fig):
    fig.canvas.draw()
    return fig


def _vlines(ax) -> list[Line2D]:
    """Vertical lines: both x the same, y spanning the axes."""
    return [ln for ln in ax.get_lines() if len(set(map(str, ln.get_xdata()))) == 1
            and len(ln.get_xdata()) == 2]


def test_fan_figure_one_axes_titled_people_with_separators_and_whole_ticks(baseline,
                                                                           baseline_run):
    s = _series(baseline_run, baseline, "Active fighters")
    fig = _drawn(charts.fan_figure(baseline_run, s, scenario=baseline))
    assert len(fig.axes) == 1
    ax = fig.axes[0]
    assert ax.get_title(loc="left") == "Active fighters"
    assert "population" not in ax.get_title(loc="left")
    assert ax.get_ylabel() == "people"
    labels = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
    big = [t for t in labels if float(t.replace(",", "")) >= 1000]
    assert big, labels
    assert all(re.fullmatch(r"\d{1,3}(,\d{3})+", t) for t in big), labels
    ticks = ax.get_yticks()
    assert np.allclose(ticks, np.round(ticks))
    plt.close(fig)


def test_few_people_have_no_fractional_ticks(baseline, baseline_run):
    """A handful of people (Tunisia's detained: 0-3 a draw here): whole numbers on the axis."""
    few = baseline_run.assign(population=(baseline_run["population"] % 4).assign_attrs(
        baseline_run["population"].attrs))
    s = charts.Series("population", {"region": ("tunisia",), "compartment": ("detained",)},
                      "Tunisia", "people")
    fig = _drawn(charts.fan_figure(few, s, scenario=baseline))
    ticks = fig.axes[0].get_yticks()
    assert np.allclose(ticks, np.round(ticks)), ticks
    assert all("." not in t.get_text() for t in fig.axes[0].get_yticklabels())
    plt.close(fig)


def test_no_report_month_lines_but_the_event_window(baseline, baseline_run):
    fig = _drawn(charts.fan_figure(baseline_run, charts.headline_series(baseline_run,
                                                                        baseline)[0],
                                   scenario=baseline))
    ax = fig.axes[0]
    assert not [ln for ln in ax.get_lines() if ln.get_linestyle() == ":"]
    assert not _vlines(ax)  # baseline has no timeline: no vertical line at all
    spans = [p for p in ax.patches if isinstance(p, (Polygon, Rectangle))
             and "hajin" in str(p.get_label())]
    assert len(spans) == 1
    xs = np.asarray(spans[0].get_xy())[:, 0] if isinstance(spans[0], Polygon) else \
        np.array([spans[0].get_x(), spans[0].get_x() + spans[0].get_width()])
    x0, x1 = float(xs.min()), float(xs.max())
    assert str(mdates.num2date(x0).date())[:7] == "2019-02"  # window = 2019-02..2019-07
    assert str(mdates.num2date(x1).date())[:7] == "2019-08"  # to the end of July
    plt.close(fig)


def test_a_timeline_lever_change_is_a_labelled_line(courts, courts_run):
    s = charts.headline_series(courts_run, courts)[0]
    fig = _drawn(charts.fan_figure(courts_run, s, scenario=courts))
    ax = fig.axes[0]
    assert s.title == "Trial backlog"
    lines = _vlines(ax)
    assert len(lines) == 1
    assert "from 2019-07: courts 20 -> 40" in lines[0].get_label()
    texts = [t.get_text() for t in ax.texts]
    assert any("courts 20 -> 40" in t for t in texts)
    plt.close(fig)


def test_footnote_cites_the_scenarios_paragraphs_and_the_run(baseline, baseline_run):
    expected = sorted({baseline.sources[p.source].paragraph
                       for p in baseline.parameters.values() if p.source})
    foot = charts.chart_footnote(baseline_run, baseline)
    assert "S/2019/103 paras " + ", ".join(map(str, expected)) + ";" in foot
    assert "analyst assumptions" in foot
    assert baseline_run.attrs["run_id"] in foot
    assert "60 draws" in foot
    fig = _drawn(charts.fan_figure(baseline_run, charts.headline_series(baseline_run,
                                                                        baseline)[0],
                                   scenario=baseline))
    shown = " ".join(t.get_text().replace("\n", " ") for t in fig.texts)
    assert "S/2019/103" in shown
    assert baseline_run.attrs["run_id"] in shown
    plt.close(fig)


def test_overview_at_most_six_panels(baseline, baseline_run):
    series = charts.headline_series(baseline_run, baseline)
    assert 3 <= len(series) <= 6
    fig = charts.overview_figure(baseline_run, series * 3, scenario=baseline)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 6
    assert fig.legends  # on the figure, not on the first panel only
    plt.close(fig)


def test_run_default_png_is_a_page_not_a_strip(baseline, tmp_path, capsys):
    out = tmp_path / "baseline.nc"
    assert main(["run", str(SCENARIOS / "baseline.toml"), "--draws", "40", "--quiet",
                 "--out", str(out)]) == 0
    img = matplotlib.image.imread(out.with_suffix(".png"))
    assert img.shape[0] <= 2000, img.shape  # on main: 7,392 px of 25 panels
    assert img.shape[1] >= 900


def test_summary_runs_chart(baseline):
    ds = threatsim.run(baseline, draws=40, seed=5, keep="summary", progress=False)
    series = charts.headline_series(ds, baseline)
    titles = [s.title for s in series]
    assert "Reserves" in titles
    assert "Dependants held in camps" in titles
    # a sum of two compartments over regions is not in a summary: left out, with a reason
    active = charts.Series("population", {"compartment": ("active_local", "active_foreign")},
                           "Active fighters", "people")
    with pytest.raises(threatsim.ScenarioError, match="keep = \"draws\""):
        charts.series_values(ds, active)
    values = charts.series_values(ds, series[0])
    assert values.dims == ("quantile", "time")
    plt.close(charts.overview_figure(ds, series, scenario=baseline))
    plt.close(charts.fan_figure(ds, series[-1], scenario=baseline))


def test_comparison_figure_two_colours_no_hatching_and_the_better_side(courts):
    base = threatsim.load_scenario(SCENARIOS / "detention_iraq_syria.toml")
    cds = threatsim.compare(base, courts, draws=20, progress=False)
    s = charts.headline_series(cds, base)[0]
    fig = _drawn(charts.comparison_figure(cds, s, base=base, whatif=courts))
    left, right = fig.axes
    assert not any(c.get_hatch() for c in left.collections)
    colours = {tuple(np.round(c.get_facecolor()[0][:3], 3)) for c in left.collections}
    assert len(colours) == 2
    assert "below 0 is better" in right.get_title(loc="left")
    assert any(abs(ln.get_ydata()[0]) == 0 and len(set(ln.get_ydata())) == 1
               for ln in right.get_lines())
    plt.close(fig)


def test_family_figure_one_line_per_entry(baseline, baseline_run):
    family = charts.output_family_series(baseline_run, "population")
    assert [s.title for s in family][:2] == ["active local", "active foreign"]
    fig = charts.family_figure(baseline_run, family, scenario=baseline)
    assert len(fig.axes) == 1
    named = [ln for ln in fig.axes[0].get_lines() if not ln.get_label().startswith("_")
             and "->" not in ln.get_label()]
    assert len(named) == len(family)
    assert fig.axes[0].get_title(loc="left") == "People by region and compartment"
    plt.close(fig)


def test_headline_declarations_are_checked():
    out = OutputDecl(name="stock", dims=("time",), unit="usd", dtype="float64", doc="x")
    with pytest.raises(ValueError, match="no such output"):
        ModelInfo(name="m", doc="", parameters=(), levers=(), outputs=(out,),
                  headline=(SeriesDecl("stok"),))
    with pytest.raises(ValueError, match="no dim 'region'"):
        ModelInfo(name="m", doc="", parameters=(), levers=(), outputs=(out,),
                  headline=(SeriesDecl("stock", {"region": ("north",)}),))


@pytest.mark.parametrize("model", model_names())
def test_every_model_declares_three_to_six_headline_series(model):
    assert 3 <= len(get_model(model).info.headline) <= 6

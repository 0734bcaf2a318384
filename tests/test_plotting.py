"""Pictures: each chart has the panels, bands and lines it promises, and writes PNG and SVG."""

from __future__ import annotations

import matplotlib.image
import numpy as np
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from tests.analysis_toy import toy_scenario, toy_toml

import threatsim
from threatsim.cli.main import main
from threatsim.outputs import plotting


def _polys(ax) -> list:
    return [c for c in ax.collections if isinstance(c, PolyCollection)]


def _lines(ax) -> list:
    return [ln for ln in ax.get_lines() if isinstance(ln, Line2D)]


def _check_files(paths) -> None:
    """PNG: an image with real content (not blank); SVG: a drawing with paths."""
    png, svg = sorted(paths, key=lambda p: p.suffix)
    assert png.suffix == ".png"
    assert svg.suffix == ".svg"
    img = matplotlib.image.imread(png)
    assert img.ndim == 3
    assert img.shape[0] > 200
    assert img.shape[1] > 300
    grey = img[..., :3].mean(axis=2)
    assert grey.std() > 0.05  # not a blank page
    assert (grey < 0.5).mean() > 0.002  # some dark ink: lines and text
    text = svg.read_text()
    assert text.lstrip().startswith("<?xml")
    assert "<svg" in text
    assert text.count("<path") > 10


def test_fan_chart_small_multiples_by_region(toy_model, tmp_path):
    """by='region': one panel per region; two nested bands and a median in each."""
    ds = threatsim.run(toy_scenario(decay=0.05), draws=300)
    fig = plotting.fan_chart(ds, ["by_region", "stock"], by="region",
                             marks=[("2020-07", "report")])
    assert len(fig.axes) == 4  # 2 variables x 2 regions
    for ax in fig.axes:
        assert len(_polys(ax)) == 2
        solid = [ln for ln in _lines(ax) if ln.get_linestyle() == "-"]
        assert len(solid) == 1  # the median
        assert any(ln.get_linestyle() == ":" for ln in _lines(ax))  # the report date
    # The north panel's median lies below the whole stock's (north holds 20-60 %).
    north = fig.axes[0].get_lines()[0].get_ydata()
    whole = fig.axes[2].get_lines()[0].get_ydata()
    assert np.all(north < whole)
    _check_files(plotting.save_figures(fig, tmp_path / "fan"))


def test_comparison_chart_has_both_runs_and_the_difference(toy_model, tmp_path):
    """Left: base bands + hatched what-if band + two medians; right: difference fan + zero."""
    cds = threatsim.compare(toy_scenario(decay=0.01), toy_scenario(decay=0.05, name="fast"),
                            draws=300)
    fig = plotting.comparison_chart(cds, ["stock", "by_region"])
    assert len(fig.axes) == 4
    left, right = fig.axes[0], fig.axes[1]
    polys = _polys(left)
    assert len(polys) == 3
    assert sum(bool(p.get_hatch()) for p in polys) == 1
    styles = sorted(ln.get_linestyle() for ln in _lines(left))
    assert styles == ["-", "--"]
    assert len(_polys(right)) == 2
    # The difference's median is below zero after month 0 (the what-if decays faster).
    median = next(ln for ln in _lines(right) if ln.get_linewidth() == 1.5).get_ydata()
    assert median[0] == 0
    assert np.all(median[1:] < 0)
    _check_files(plotting.save_figures(fig, tmp_path / "compare"))


def test_tornado_chart_bars_and_readings(financing_path, tmp_path):
    """One bar per parameter for rank correlation, two per parameter for Sobol, a readings row."""
    sc = threatsim.load_scenario(financing_path)
    sds = threatsim.sensitivity(sc, "reserves", at="2020-06", n=64, draws=300, n_resamples=49)
    fig = plotting.tornado_chart(sds)
    assert len(fig.axes) == 3
    k = sds.sizes["parameter"]
    assert len([p for p in fig.axes[0].patches if isinstance(p, Rectangle)]) == k
    assert len([p for p in fig.axes[1].patches if isinstance(p, Rectangle)]) == 2 * k
    assert len(fig.axes[2].get_yticks()) == sds.sizes["reading"]
    # Sorted: the top bar (last drawn) is the parameter with the largest total index.
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels[-1] == str(sds["parameter"].values[int(np.nanargmax(sds.total_order.values))])
    _check_files(plotting.save_figures(fig, tmp_path / "tornado"))


def test_sweep_heatmap_grid_and_line(toy_model, tmp_path):
    """Two keys: one image cell per point, each labelled; one key: bands against the values."""
    sc = toy_scenario()
    sw = threatsim.sweep(sc, {"levers.decay": [0.0, 0.05, 0.1],
                              "parameters.shock_rate.value": [0.0, 0.5]}, draws=200)
    fig = plotting.sweep_heatmap(sw, "stock", at="2020-07")
    ax = fig.axes[0]
    assert len(ax.images) == 1
    assert ax.images[0].get_array().shape == (3, 2)
    assert len(ax.texts) == 6
    cells = ax.images[0].get_array()
    assert np.all(np.diff(cells[:, 0]) < 0)  # more decay, less stock
    _check_files(plotting.save_figures(fig, tmp_path / "sweep2"))
    sw1 = threatsim.sweep(sc, {"levers.decay": [0.0, 0.05, 0.1]}, draws=200)
    fig = plotting.sweep_heatmap(sw1, "stock")
    assert len(_polys(fig.axes[0])) == 2
    assert len(fig.axes[0].images) == 0
    _check_files(plotting.save_figures(fig, tmp_path / "sweep1"))


def test_exceedance_chart_curves_fall_from_one_to_zero(toy_model, tmp_path):
    """One curve per month (distinct line styles) for a run, one per scenario for a comparison."""
    ds = threatsim.run(toy_scenario(decay=0.05), draws=300)
    fig = plotting.exceedance_chart(ds, "stock", at=["2020-01", "2020-07", "2021-01"],
                                    levels=[120.0])
    curves = [ln for ln in _lines(fig.axes[0]) if len(ln.get_ydata()) > 2]
    assert len(curves) == 3
    assert len({str(c.get_linestyle()) for c in curves}) == 3
    for c in curves:
        y = np.asarray(c.get_ydata())
        assert y[0] == 1.0
        assert y[-1] == 0.0
        assert np.all(np.diff(y) <= 0)
    _check_files(plotting.save_figures(fig, tmp_path / "exceedance"))
    cds = threatsim.compare(toy_scenario(decay=0.01), toy_scenario(decay=0.05, name="b"),
                            draws=300)
    fig = plotting.exceedance_chart(cds, "stock", at="2020-07")
    curves = [ln for ln in _lines(fig.axes[0]) if len(ln.get_ydata()) > 2]
    assert [c.get_linestyle() for c in curves] == ["-", "--"]


def test_prim_chart_draws_the_trajectory(toy_model, tmp_path):
    """One point per peeling step, the chosen box starred."""
    ds = threatsim.run(toy_scenario(), draws=1000)
    res = threatsim.discover(ds, "stock", below=130.0)
    fig = plotting.prim_chart(res)
    lines = _lines(fig.axes[0])
    assert len(lines[0].get_xdata()) == len(res.trajectory)
    assert lines[1].get_marker() == "*"
    _check_files(plotting.save_figures(fig, tmp_path / "prim"))


def test_cli_plot_writes_png_and_svg(toy_model, tmp_path, capsys):
    """--plot DIR on compare, sweep, sensitivity, discover and run writes PNG + SVG pairs."""
    a = toy_toml(tmp_path / "a.toml", decay=0.01)
    b = toy_toml(tmp_path / "b.toml", decay=0.03)
    out = tmp_path / "pics"
    assert main(["compare", str(a), str(b), "--draws", "100", "--quiet", "--plot", str(out)]) == 0
    assert main(["sweep", str(a), "--set", "levers.decay=0,0.1", "--draws", "100", "--quiet",
                 "--plot", str(out)]) == 0
    assert main(["sensitivity", str(a), "--output", "stock", "--n", "16", "--draws", "100",
                 "--plot", str(out)]) == 0
    assert main(["discover", str(a), "--output", "stock", "--below", "130", "--draws", "500",
                 "--quiet", "--plot", str(out)]) == 0
    assert main(["run", str(a), "--draws", "100", "--quiet", "--no-plot", "--out",
                 str(tmp_path / "r.nc"), "--plot", str(out)]) == 0
    names = sorted(p.name for p in out.iterdir())
    stems = {p.rsplit(".", 1)[0] for p in names}
    # one comparison per headline series (the toy declares none: its two monthly outputs)
    # and one fan per output (stock, by_region) since the chart rules of issue 21, not one
    # strip of every output: compare 2 + exceedance, sweep, tornado, discover, run 2 +
    # exceedance
    assert len(stems) == 9, stems
    assert len(names) == 18
    for stem in stems:
        _check_files([out / f"{stem}.png", out / f"{stem}.svg"])


@pytest.mark.parametrize("keys", [1, 4])
def test_sweep_heatmap_refuses_more_than_three_keys(toy_model, keys):
    """Four swept keys cannot be drawn: ScenarioError; one key is a line chart."""
    grid = {"levers.decay": [0.0, 0.1], "parameters.shock_rate.value": [0.0],
            "parameters.shock_share.value": [0.5], "parameters.stock0.dist": ["uniform"]}
    sw = threatsim.sweep(toy_scenario(), dict(list(grid.items())[:keys]), draws=20)
    if keys == 4:
        with pytest.raises(threatsim.ScenarioError, match="three"):
            plotting.sweep_heatmap(sw, "stock")
    else:
        assert len(plotting.sweep_heatmap(sw, "stock").axes) == 1

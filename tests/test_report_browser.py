"""The brief in a real browser (issue 21, part 5): headless Chromium opens the page that
``threatsim report`` writes and a reader's view is checked: its headings, the numbers it
shows against the run's Dataset, no console error, no network request, a text
alternative on every figure, and a full-page screenshot saved (results/ of the test's
tmp folder; README's picture is made the same way, see docs/brief.md).
"""

from __future__ import annotations

import numpy as np
import pytest
from tests.browser import png_size, render
from tests.conftest import SCENARIOS

import threatsim
from threatsim.outputs.report import brief, write_brief

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def baseline_page(tmp_path_factory):
    """The baseline's brief with its three questions and one what-if, 400 draws."""
    folder = tmp_path_factory.mktemp("brief")
    b = brief(SCENARIOS / "baseline.toml", [SCENARIOS / "whatif" / "repatriation_accelerated.toml"],
              draws=400, seed=7)
    path = write_brief(b, folder / "baseline.html")
    shot = folder / "baseline.png"
    page = render(path, screenshot=shot, width=1100,
                  select=("[data-value]", "[data-question]", "figure", "svg.chart"))
    return b, page, shot


def test_the_reader_sees_the_sections_in_order(baseline_page):
    b, page, _ = baseline_page
    heads = list(page.headings)
    for h in ("Headline questions", "Outlook", "What-ifs", "Sources and assumptions"):
        assert h in heads, (h, heads)
    assert heads.index("Headline questions") < heads.index("Outlook") < heads.index("What-ifs")
    for q in b.scenario.questions:  # each question's own heading, as the scenario words it
        assert q.text in heads


def test_the_numbers_shown_are_the_datasets(baseline_page):
    b, page, _ = baseline_page
    ds = b.dataset
    by_question = {e.attributes["data-question"]: e for e in page.elements("[data-value]")
                   if "data-question" in e.attributes}
    assert set(by_question) == {q.id for q in b.scenario.questions}
    for q in b.scenario.questions:
        da = ds[q.output].isel(time=q.month)
        for dim, label in q.select:
            da = da.sum(dim) if label == "all" else da.sel({dim: label})
        y = da.values
        share = float(np.mean(y < q.level if q.below else y > q.level))
        shown = by_question[q.id]
        assert float(shown.attributes["data-value"]) == share
        assert shown.text.endswith(" %")  # the share as a reader reads it, to its rounding
        assert float(shown.text[:-2]) / 100 == pytest.approx(share, abs=0.00501)
    # a band as the reader reads it: reserves' median in January 2020, in $ millions
    t = np.datetime64("2020-01", "M")
    expected = float(np.quantile(ds["reserves"].sel(time=t).values, 0.5))
    cells = [e for e in page.elements("[data-value]")
             if e.attributes.get("data-series") == "reserves"
             and e.attributes.get("data-month") == "2020-01"
             and e.attributes.get("data-quantile") == "0.5" and "data-kind" not in e.attributes]
    assert cells
    assert float(cells[0].attributes["data-value"]) == pytest.approx(expected, rel=1e-12)
    assert cells[0].text == f"${expected / 1e6:,.1f}M"


def test_no_console_error_no_request_and_every_figure_has_a_text_alternative(baseline_page):
    _, page, _ = baseline_page
    assert page.errors == ()
    assert page.requests == ()
    assert page.images_without_alt == ()
    assert page.broken_images == ()
    assert len(page.elements("svg.chart")) >= 4


def test_a_full_page_screenshot_is_saved(baseline_page):
    _, page, shot = baseline_page
    width, height = png_size(shot)
    assert width == 1100
    assert height == page.height > 2000  # the whole brief, not one screen of it


def test_the_demo_brief_opens_cleanly(tmp_path):
    """What `make demo` writes (threatsim run --brief), at a few draws."""
    from threatsim.cli.main import main

    out = tmp_path / "baseline.nc"
    html = tmp_path / "baseline.html"
    assert main(["run", str(SCENARIOS / "baseline.toml"), "--draws", "300", "--quiet",
                 "--no-plot", "--out", str(out), "--brief", str(html)]) == 0
    page = render(html)
    assert page.errors == ()
    assert page.requests == ()
    assert threatsim.open_results(out).attrs["run_id"] in page.text

"""The headless-Chromium harness (tests/browser.py) finds what it is meant to find.

Each check runs on a small page written here, once where the harness must report
nothing and once where it must report something, so a harness that finds nothing
cannot pass. render() itself skips (or, with THREATSIM_REQUIRE_BROWSER=1, fails)
where Chromium is missing. One browser start per render: it takes about 0.7 s here.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests import browser
from tests.browser import png_size, render

pytestmark = pytest.mark.browser

#: A valid 1x1 GIF: an image that loads without a request.
DOT = "data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"

CLEAN = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Clean</title>
<style>body {{ font-family: sans-serif; }}</style></head><body>
<h1>Threat brief</h1><p>Intro</p><h2>Fighters</h2>
<p>Median <span class="n" data-value="{value}">{value}</span></p>
<h3>Method</h3><h4>Not a heading we list</h4>
<img src="{dot}" alt="a dot">
<svg role="img" aria-label="A chart" width="10" height="10"><rect width="10" height="10"/></svg>
<svg width="10" height="10"><title>Another chart</title><rect width="5" height="5"/></svg>
<span id="cap">Third chart</span>
<svg role="img" aria-labelledby="cap" width="10" height="10"></svg>
<svg aria-hidden="true" width="10" height="10"></svg>
<script>console.log("a log line is not an error"); console.warn("nor a warning");</script>
</body></html>"""


def page(tmp_path: Path, body: str, name: str = "page.html") -> Path:
    path = tmp_path / name
    path.write_text(f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
                    f"<title>t</title></head><body>{body}</body></html>")
    return path


def test_a_clean_page_reports_headings_values_and_nothing_else(tmp_path):
    path = tmp_path / "clean.html"
    path.write_text(CLEAN.format(value="1234.5", dot=DOT))
    got = render(path, select=("[data-value]", "h2"))
    assert got.headings == ("Threat brief", "Fighters", "Method")
    assert "Median 1234.5" in got.text
    assert got.values("[data-value]", "data-value") == ["1234.5"]
    assert [e.text for e in got.elements("h2")] == ["Fighters"]
    assert got.values("h2", "data-value") == []
    assert got.errors == ()
    assert got.requests == ()
    assert got.images_without_alt == ()
    assert got.broken_images == ()
    assert got.url == path.resolve().as_uri()
    with pytest.raises(KeyError, match="not given to render"):
        got.values(".n", "data-value")


def test_console_error_and_uncaught_exceptions_are_errors(tmp_path):
    got = render(page(tmp_path, "<h1>x</h1><script>console.error('bad number');</script>"
                                "<script>throw new Error('broken script');</script>"
                                "<script>Promise.reject(new Error('lost promise'));</script>"))
    joined = "\n".join(got.errors)
    assert len(got.errors) == 3, got.errors
    for text in ("bad number", "broken script", "lost promise"):
        assert text in joined


@pytest.mark.parametrize("markup", [
    '<img src="http://example.invalid/x.png" alt="x">',
    '<link rel="stylesheet" href="https://example.invalid/a.css">',
    "<script>fetch('https://example.invalid/data.json').catch(() => {});</script>",
    '<img src="other.png" alt="a local file that is not the page">',
])
def test_every_request_the_page_tries_is_recorded_even_when_it_fails(tmp_path, markup):
    got = render(page(tmp_path, f"<h1>x</h1>{markup}"))
    assert len(got.requests) == 1, got.requests
    assert "example.invalid" in got.requests[0] or got.requests[0].endswith("/other.png")


@pytest.mark.parametrize(("markup", "flagged"), [
    (f'<img src="{DOT}">', "<img"),
    (f'<img src="{DOT}" alt="  ">', "<img"),
    ('<svg width="10" height="10"><rect width="5" height="5"/></svg>', "<svg"),
    ('<svg role="img" width="10" height="10"></svg>', "<svg"),  # a role but no name
    ('<svg role="img" aria-labelledby="nowhere"></svg>', "<svg"),
])
def test_pictures_without_a_text_alternative_are_flagged(tmp_path, markup, flagged):
    got = render(page(tmp_path, f"<h1>x</h1>{markup}"))
    assert len(got.images_without_alt) == 1
    assert got.images_without_alt[0].startswith(flagged)


def test_an_image_that_does_not_decode_is_broken(tmp_path):
    bad = "data:image/gif;base64,R0lGODlhAQABAAAAACw="  # a GIF cut short
    got = render(page(tmp_path, f'<h1>x</h1><img src="{bad}" alt="a"><img src="{DOT}" alt="b">'))
    assert len(got.broken_images) == 1
    assert 'alt="a"' in got.broken_images[0]
    assert got.errors == ()  # Chromium says nothing of it


def test_screenshot_is_a_png_of_the_full_page(tmp_path):
    short, tall = tmp_path / "short.png", tmp_path / "tall.png"
    render(page(tmp_path, "<h1>short</h1>", "s.html"), screenshot=short, width=600)
    got = render(page(tmp_path, "<h1>tall</h1><div style='height:3000px'></div>", "t.html"),
                 screenshot=tall, width=1000)
    assert png_size(short) == (600, 800)  # never less than the viewport
    width, height = png_size(tall)
    assert width == 1000
    assert height == got.height >= 3000  # beyond the 800-pixel viewport
    with pytest.raises(ValueError, match="not a PNG"):
        png_size(tmp_path / "s.html")


def test_missing_browser_skips_or_fails_when_required(monkeypatch):
    monkeypatch.setenv("THREATSIM_CHROMIUM", "/nonexistent/chromium")
    monkeypatch.delenv("THREATSIM_REQUIRE_BROWSER", raising=False)
    assert not browser.browser_available()
    with pytest.raises(pytest.skip.Exception, match=r"chromium not found at /nonexistent"):
        browser.require_browser()
    monkeypatch.setenv("THREATSIM_REQUIRE_BROWSER", "1")
    with pytest.raises(pytest.fail.Exception, match="THREATSIM_REQUIRE_BROWSER=1"):
        browser.require_browser()

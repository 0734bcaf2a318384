"""Open a local HTML page in headless Chromium and report what a reader would get.

The browser tests (``@pytest.mark.browser``) use :func:`render` to check a page as it
renders: its visible text and headings, console errors and uncaught exceptions, every
network request it tries (a self-contained brief makes none), images that do not
load, images without a text alternative, and attribute values of chosen elements
(the brief puts its numbers in ``data-value`` attributes, so a test compares them
with the Dataset's).

Debian's ``chromium`` and ``chromium-driver`` packages are used (``.ci/run`` installs
them where missing); Selenium is given both paths, so Selenium Manager never runs and
nothing is downloaded. Where they are missing, :func:`require_browser` skips the test,
or fails it when ``THREATSIM_REQUIRE_BROWSER=1`` (set by ``.ci/run``, so CI cannot pass
by skipping). ``THREATSIM_CHROMIUM`` and ``THREATSIM_CHROMEDRIVER`` override the paths.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

#: Without these, headless Chromium on a closed network tries background connections
#: (component updates, sync, QUIC probes, field trials) and as root it refuses to start
#: sandboxed; a fresh --user-data-dir is added per start, so no profile carries over.
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
)

#: Schemes that never leave the machine: the page itself, inline data, and Chromium's
#: own built-in pages (the tab it opens on start loads chrome://new-tab-page).
_LOCAL_SCHEMES = ("data:", "blob:", "about:", "chrome:", "chrome-untrusted:", "devtools:")

_VIEWPORT_HEIGHT = 800


def chromium_path() -> Path:
    return Path(os.environ.get("THREATSIM_CHROMIUM", CHROMIUM))


def chromedriver_path() -> Path:
    return Path(os.environ.get("THREATSIM_CHROMEDRIVER", CHROMEDRIVER))


def missing() -> list[str]:
    """What the browser tests lack here, one item per problem (empty: nothing)."""
    problems = []
    for what, path in (("chromium", chromium_path()), ("chromedriver", chromedriver_path())):
        if not (path.is_file() and os.access(path, os.X_OK)):
            problems.append(f"{what} not found at {path} (Debian package "
                            f"{'chromium' if what == 'chromium' else 'chromium-driver'})")
    if importlib.util.find_spec("selenium") is None:
        problems.append("selenium is not installed (pip install -e '.[test]')")
    return problems


def browser_available() -> bool:
    """Whether :func:`render` can run here (Chromium, its driver and selenium)."""
    return not missing()


def require_browser() -> None:
    """Skip the calling test where the browser is missing, or fail it when
    ``THREATSIM_REQUIRE_BROWSER=1`` (CI), so a missing browser is never a silent pass."""
    problems = missing()
    if not problems:
        return
    reason = "headless Chromium unavailable: " + "; ".join(problems)
    if os.environ.get("THREATSIM_REQUIRE_BROWSER") == "1":
        pytest.fail(reason + " (THREATSIM_REQUIRE_BROWSER=1: .ci/run installs them)",
                    pytrace=False)
    pytest.skip(reason)


@dataclass(frozen=True)
class Element:
    """One element matched by a selector given to :func:`render`."""

    text: str
    attributes: Mapping[str, str]


@dataclass(frozen=True)
class Rendered:
    """What the page showed, once loaded and rendered (the browser is gone by then)."""

    url: str
    text: str  # document.body.innerText
    headings: tuple[str, ...]  # h1-h3, in document order
    errors: tuple[str, ...]  # console messages of level SEVERE and uncaught exceptions
    requests: tuple[str, ...]  # URLs requested other than the page itself and local schemes
    images_without_alt: tuple[str, ...]  # the start of each offending tag's markup
    broken_images: tuple[str, ...]  # <img> that loaded nothing drawable (no console error)
    selected: Mapping[str, tuple[Element, ...]]  # selector -> the elements it matched
    width: int  # the full page, in CSS pixels
    height: int

    def elements(self, selector: str) -> tuple[Element, ...]:
        try:
            return self.selected[selector]
        except KeyError:
            raise KeyError(f"{selector!r} was not given to render(select=...); it was given "
                           f"{sorted(self.selected)}") from None

    def values(self, selector: str, attribute: str) -> list[str]:
        """The *attribute* of every element *selector* matched, in document order
        (elements without it are left out)."""
        return [e.attributes[attribute] for e in self.elements(selector)
                if attribute in e.attributes]


_SNAPSHOT_JS = r"""
const selectors = arguments[0];
const headings = [...document.querySelectorAll('h1, h2, h3')].map(h => h.innerText.trim());
const short = el => el.outerHTML.slice(0, 160);
const unlabelled = [];
for (const img of document.querySelectorAll('img')) {
  if (!(img.getAttribute('alt') || '').trim()) unlabelled.push(short(img));
}
// A data: image that does not decode logs nothing; it is loaded and 0 pixels wide.
const broken = [...document.querySelectorAll('img')]
  .filter(img => img.complete && img.naturalWidth === 0).map(short);
const named = svg => {
  if ((svg.getAttribute('role') || '') === 'img') {
    if ((svg.getAttribute('aria-label') || '').trim()) return true;
    const ids = (svg.getAttribute('aria-labelledby') || '').split(/\s+/).filter(Boolean);
    if (ids.some(id => ((document.getElementById(id) || {}).textContent || '').trim()))
      return true;
  }
  return [...svg.children].some(c => c.tagName.toLowerCase() === 'title'
                                     && c.textContent.trim());
};
for (const svg of document.querySelectorAll('svg')) {
  if (svg.parentElement && svg.parentElement.closest('svg')) continue;  // part of a picture
  if (svg.closest('[aria-hidden="true"]')) continue;  // decoration, hidden from readers
  if (!named(svg)) unlabelled.push(short(svg));
}
const selected = {};
for (const sel of selectors) {
  selected[sel] = [...document.querySelectorAll(sel)].map(el => ({
    text: el.innerText === undefined ? el.textContent : el.innerText,
    attributes: Object.fromEntries([...el.attributes].map(a => [a.name, a.value])),
  }));
}
return {text: document.body ? document.body.innerText : '', headings, unlabelled, broken,
        selected};
"""

# Resolves once web fonts are in and two frames have been painted, so the screenshot
# and innerText are of the page as drawn.
_SETTLE_JS = r"""
const done = arguments[arguments.length - 1];
document.fonts.ready.then(() => requestAnimationFrame(() => requestAnimationFrame(done)));
"""


def render(path: Path, *, screenshot: Path | None = None, width: int = 1200,
           select: Sequence[str] = ("[data-value]",)) -> Rendered:
    """Open *path* (file://) in a fresh headless Chromium *width* CSS pixels wide and
    report it; with *screenshot*, write a PNG of the full page there. Every CSS
    selector in *select* is matched in the rendered DOM (see :meth:`Rendered.values`).
    """
    require_browser()
    os.environ.setdefault("SE_AVOID_STATS", "true")  # Selenium Manager: no usage stats
    os.environ.setdefault("SE_OFFLINE", "true")  # nor downloads, were it ever started
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    url = Path(path).resolve().as_uri()
    with tempfile.TemporaryDirectory(prefix="threatsim-chromium-",
                                     ignore_cleanup_errors=True) as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = str(chromium_path())
        for flag in (*FLAGS, f"--user-data-dir={profile}"):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
        driver = webdriver.Chrome(service=Service(executable_path=str(chromedriver_path())),
                                  options=options)
        try:
            driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
                "width": width, "height": _VIEWPORT_HEIGHT, "deviceScaleFactor": 1,
                "mobile": False})
            # Leave the start tab (chrome://new-tab-page and its own requests), then
            # drop what the logs hold so far: only the page's own entries remain.
            driver.get("about:blank")
            driver.get_log("browser")
            driver.get_log("performance")
            driver.get(url)
            driver.execute_async_script(_SETTLE_JS)
            snap = driver.execute_script(_SNAPSHOT_JS, list(select))
            size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
            full_w, full_h = math.ceil(size["width"]), math.ceil(size["height"])
            if screenshot is not None:
                shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
                    "format": "png", "captureBeyondViewport": True, "fromSurface": True,
                    "clip": {"x": 0, "y": 0, "width": full_w, "height": full_h, "scale": 1}})
                Path(screenshot).write_bytes(base64.b64decode(shot["data"]))
            errors = tuple(f"{e['source']}: {e['message']}" for e in driver.get_log("browser")
                           if e["level"] == "SEVERE")
            requests = []
            for entry in driver.get_log("performance"):
                message = json.loads(entry["message"])["message"]
                if message["method"] != "Network.requestWillBeSent":
                    continue
                target = message["params"]["request"]["url"]
                if target != url and not target.startswith(_LOCAL_SCHEMES):
                    requests.append(target)
        finally:
            driver.quit()
    return Rendered(
        url=url, text=snap["text"], headings=tuple(snap["headings"]), errors=errors,
        requests=tuple(dict.fromkeys(requests)), images_without_alt=tuple(snap["unlabelled"]),
        broken_images=tuple(snap["broken"]),
        selected={sel: tuple(Element(text=e["text"], attributes=e["attributes"])
                             for e in found) for sel, found in snap["selected"].items()},
        width=full_w, height=full_h)


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) of a PNG, from its IHDR chunk; ValueError if it is not a PNG."""
    head = Path(path).read_bytes()[:24]
    if head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        raise ValueError(f"{path}: not a PNG file")
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")

"""Make README's picture of the brief: docs/gallery/brief.png.

The baseline's brief with one what-if, rendered by headless Chromium through the same
harness as the browser tests (tests/browser.py), its top part kept. Run from the
repository root:

    .venv/bin/python scripts/make_brief_screenshot.py [--draws N]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.browser

from matplotlib import image as mpimg  # noqa: E402
from tests.browser import render  # noqa: E402

from threatsim.outputs.report import brief, write_brief  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=2000)
    parser.add_argument("--height", type=int, default=1500, help="pixels kept from the top")
    args = parser.parse_args()
    out = ROOT / "results"
    out.mkdir(exist_ok=True)
    b = brief(ROOT / "scenarios" / "baseline.toml",
              [ROOT / "scenarios" / "whatif" / "repatriation_accelerated.toml"],
              draws=args.draws, seed=20190201)
    page = write_brief(b, out / "baseline_brief.html")
    full = out / "baseline_brief.png"
    shown = render(page, screenshot=full, width=1000)
    if shown.errors or shown.requests:
        raise SystemExit(f"the page is not clean: {shown.errors} {shown.requests}")
    picture = mpimg.imread(full)
    target = ROOT / "docs" / "gallery" / "brief.png"
    mpimg.imsave(target, picture[: args.height])
    print(f"wrote {page}, {full} and {target}")


if __name__ == "__main__":
    main()

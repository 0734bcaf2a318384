"""Write the README's gallery, docs/gallery/*.png, from small runs of the shipped scenarios.

    .venv/bin/python scripts/make_gallery.py [--draws 4000] [--out docs/gallery]

Every picture comes from the public API on the shipped scenario files, with
their seeds, so rerunning the script redraws the same pictures. It takes
about half a minute.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import threatsim
from threatsim.outputs import charts, plotting

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"


def _save(fig, out: Path, name: str) -> Path:
    path = plotting.save_figure(fig, out / f"{name}.png")
    print(f"  wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return path


def main(argv: list[str] | None = None) -> int:
    """Make every gallery picture."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=4000, help="draws per run (default 4000)")
    parser.add_argument("--out", default=str(ROOT / "docs" / "gallery"))
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    n = args.draws
    start = time.perf_counter()

    financing = threatsim.load_scenario(SCENARIOS / "financing.toml")
    base = threatsim.load_scenario(SCENARIOS / "baseline.toml")
    whatif = threatsim.load_scenario(SCENARIOS / "whatif" / "counter_financing_doubled.toml")

    print("fan charts")  # the chart rules of run --plot and the brief (outputs/charts.py)
    ds = threatsim.run(financing, draws=n, progress=False)
    reserves = next(s for s in charts.headline_series(ds, financing) if s.output == "reserves")
    _save(charts.fan_figure(ds, reserves, scenario=financing), out, "fan_financing")
    run = threatsim.run(base, draws=n, progress=False)
    _save(plotting.fan_chart(run, ["detained_foreign"], by="region"), out, "fan_regions")

    print("comparison")
    cds = threatsim.compare(base, whatif, draws=n)
    _save(charts.comparison_figure(cds, reserves, base=base, whatif=whatif), out, "compare")
    _save(plotting.exceedance_chart(cds, "reserves", at="2020-12", levels=[50e6]), out,
          "exceedance")

    print("sweep")
    sw = threatsim.sweep(financing, {"levers.seizure_effort": [0.0, 1.0, 2.0, 4.0],
                                     "levers.revenue_disruption": [0.0, 0.1, 0.2, 0.4]},
                         draws=n // 2)
    _save(plotting.sweep_heatmap(sw, "reserves", at="2020-12"), out, "sweep")

    print("sensitivity")
    sds = threatsim.sensitivity(financing, "reserves", at="2020-06", n=512, draws=n,
                                n_resamples=199)
    _save(plotting.tornado_chart(sds), out, "tornado")

    print("scenario discovery")
    res = threatsim.discover(ds, "reserves", below=50e6, at="2020-12")
    _save(plotting.prim_chart(res), out, "discovery")
    print(f"done in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

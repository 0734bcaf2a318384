"""The bounded path against the full one (issue 23 part 2): W1 with the summary kept
(``keep="summary"``: exact bands from streamed chunks, memory flat in the draws) against
W1 holding every draw (then ``threatsim.bands`` and P(depleted) on the Dataset).

Each measurement runs in a fresh process (``scaling.py --point``: its peak RSS is its
own; each the median of 3 runs after a warm-up). The two are measured back to back in
3 pairs, the order alternating, and the ratio is the median of the pairs' (the machine
is shared; its load drifts over minutes): summary throughput / in-memory throughput,
at least 0.8 is the aim. Then the summary alone at 10^7 draws (every draw would be
4.9 GB per output), for its peak RSS (aim: under 600 MB).

    python benchmarks/bounded_path.py [--sizes 166667,1000000] [--big 10000000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scaling import MONTHS, measure

PAIRS = 3


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="166667,1000000",
                    help="draws, comma-separated (166,667 draws x 60 months = 10^7 draw-months)")
    ap.add_argument("--big", type=int, default=10_000_000,
                    help="draws of the summary-only point (0: none)")
    args = ap.parse_args()
    rows = []
    for n in (int(s) for s in args.sizes.split(",") if s):
        ratios, seconds = [], {"w1-draws": [], "w1-summary": []}
        rss = {"w1-draws": 0.0, "w1-summary": 0.0}
        for pair in range(PAIRS):
            order = ("w1-draws", "w1-summary") if pair % 2 == 0 else ("w1-summary", "w1-draws")
            got = {kind: measure(kind, n, 0, 3) for kind in order}
            if any(rec is None for rec in got.values()):
                sys.exit(f"W1 at {n:,} draws: a measurement failed (see above)")
            for kind, rec in got.items():
                seconds[kind].append(rec["seconds"])
                rss[kind] = max(rss[kind], rec["peak_rss_mb"])
            ratios.append(got["w1-draws"]["seconds"] / got["w1-summary"]["seconds"])
        rows.append((n, statistics.median(seconds["w1-draws"]), rss["w1-draws"],
                     statistics.median(seconds["w1-summary"]), rss["w1-summary"],
                     statistics.median(ratios), ratios))
    print("| W1 draws | every draw kept: s, peak RSS | summary kept: s, peak RSS "
          "| summary / every draw (median of pairs; pairs) |\n|---|---|---|---|")
    for n, s_draws, r_draws, s_sum, r_sum, ratio, ratios in rows:
        pairs = ", ".join(f"{r:.2f}" for r in ratios)
        print(f"| {n:,} ({n * MONTHS:.0e} draw-months) | {s_draws:.3f} s, {r_draws:.0f} MB "
              f"| {s_sum:.3f} s, {r_sum:.0f} MB | {ratio:.2f}x ({pairs}) |")
    if args.big:
        rec = measure("w1-summary", args.big, 0, 1)
        if rec is None:
            sys.exit(f"W1 at {args.big:,} draws, summary kept: failed (see above)")
        print(f"\nW1 at {args.big:,} draws, summary kept: {rec['seconds']:.2f} s "
              f"({rec['throughput'] / 1e6:.1f} M draw-months/s), peak RSS "
              f"{rec['peak_rss_mb']:.0f} MB")


if __name__ == "__main__":
    main()

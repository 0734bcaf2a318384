"""The old home of the scores and the leaderboard, kept as an import path only.

They live in :mod:`threatsim.outputs.scores` (the proper scoring rules) and
:mod:`threatsim.outputs.leaderboard` (a run scored against observations). Nothing
is defined here; this module goes once ``threatsim.cli.main`` imports from those two.

>>> from threatsim.outputs import leaderboard, scoring
>>> scoring.leaderboard is leaderboard.leaderboard
True
"""

from __future__ import annotations

from threatsim.outputs.leaderboard import (
    ORIENTATION,
    leaderboard,
    leaderboard_table,
    leaderboard_to_csv,
    leaderboard_totals,
    rank_scenarios,
    ranking_table,
    reference_forecasts,
)
from threatsim.outputs.scores import (
    coverage,
    crps_ensemble,
    crps_interval,
    interval_score,
    log_score_interval,
    pit_interval,
    score_forecast,
)

__all__ = [
    "ORIENTATION",
    "coverage",
    "crps_ensemble",
    "crps_interval",
    "interval_score",
    "leaderboard",
    "leaderboard_table",
    "leaderboard_to_csv",
    "leaderboard_totals",
    "log_score_interval",
    "pit_interval",
    "rank_scenarios",
    "ranking_table",
    "reference_forecasts",
    "score_forecast",
]

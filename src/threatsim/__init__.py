"""threatsim: scenario modelling of threat estimates.

Published threat assessments give ranges, not numbers. threatsim turns such
ranges, each traced to its paragraph, into Monte Carlo and discrete-event
models of financing and of people's flows, and returns uncertainty bands and
probabilities as ``xarray`` Datasets.

>>> import threatsim
>>> sorted(threatsim.__all__)[:3]
['CapacitySolution', 'DistSpec', 'ModelError']
"""

from __future__ import annotations

__version__ = "0.1.0"

from threatsim.analysis.compare import compare
from threatsim.analysis.convergence import mcse_quantile, run_to_precision
from threatsim.analysis.discovery import discover
from threatsim.analysis.sensitivity import sensitivity
from threatsim.analysis.sweep import sweep
from threatsim.analysis.variance import variance_split
from threatsim.capacity import CapacitySolution, solve_capacity
from threatsim.distributions import DistSpec
from threatsim.engine import run
from threatsim.errors import ModelError, ScenarioError, ThreatsimError
from threatsim.observations import load_observations
from threatsim.results import bands, exceedance, open_results, write_netcdf
from threatsim.scenario import Scenario, load_scenario
from threatsim.scoring import crps_ensemble, crps_interval, leaderboard, rank_scenarios
from threatsim.sources import load_sources

__all__ = [
    "CapacitySolution",
    "DistSpec",
    "ModelError",
    "Scenario",
    "ScenarioError",
    "ThreatsimError",
    "__version__",
    "bands",
    "compare",
    "crps_ensemble",
    "crps_interval",
    "discover",
    "exceedance",
    "leaderboard",
    "load_observations",
    "load_scenario",
    "load_sources",
    "mcse_quantile",
    "open_results",
    "rank_scenarios",
    "run",
    "run_to_precision",
    "sensitivity",
    "solve_capacity",
    "sweep",
    "variance_split",
    "write_netcdf",
]

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

from typing import TYPE_CHECKING, Any

from threatsim.core.version import __version__

# The public names load on first use (PEP 562): ``import threatsim`` and the command
# line's entry point stay light, so that a Ctrl-C in the first second of a command
# meets threatsim's own handler instead of an import's traceback.
_LAZY = {
    "compare": "threatsim.analysis.compare",
    "mcse_quantile": "threatsim.results",
    "run_to_precision": "threatsim.analysis.convergence",
    "discover": "threatsim.analysis.discovery",
    "sensitivity": "threatsim.analysis.sensitivity",
    "sweep": "threatsim.analysis.sweep",
    "variance_split": "threatsim.analysis.variance",
    "CapacitySolution": "threatsim.analysis.capacity",
    "solve_capacity": "threatsim.analysis.capacity",
    "DistSpec": "threatsim.inputs.distributions",
    "run": "threatsim.engine.runner",
    "ModelError": "threatsim.core.errors",
    "ScenarioError": "threatsim.core.errors",
    "ThreatsimError": "threatsim.core.errors",
    "load_observations": "threatsim.outputs.observations",
    "bands": "threatsim.results",
    "exceedance": "threatsim.results",
    "open_results": "threatsim.results",
    "write_netcdf": "threatsim.results",
    "Scenario": "threatsim.inputs.scenario",
    "load_scenario": "threatsim.inputs.scenario",
    "crps_ensemble": "threatsim.outputs.scores",
    "crps_interval": "threatsim.outputs.scores",
    "leaderboard": "threatsim.outputs.leaderboard",
    "rank_scenarios": "threatsim.outputs.leaderboard",
    "load_sources": "threatsim.inputs.sources",
}

if TYPE_CHECKING:  # what type checkers and IDEs see
    from threatsim.analysis.capacity import CapacitySolution, solve_capacity
    from threatsim.analysis.compare import compare
    from threatsim.analysis.convergence import run_to_precision
    from threatsim.analysis.discovery import discover
    from threatsim.analysis.sensitivity import sensitivity
    from threatsim.analysis.sweep import sweep
    from threatsim.analysis.variance import variance_split
    from threatsim.core.errors import ModelError, ScenarioError, ThreatsimError
    from threatsim.engine.runner import run
    from threatsim.inputs.distributions import DistSpec
    from threatsim.inputs.scenario import Scenario, load_scenario
    from threatsim.inputs.sources import load_sources
    from threatsim.outputs.leaderboard import leaderboard, rank_scenarios
    from threatsim.outputs.observations import load_observations
    from threatsim.outputs.scores import crps_ensemble, crps_interval
    from threatsim.results import bands, exceedance, mcse_quantile, open_results, write_netcdf


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'threatsim' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # once loaded, an ordinary attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


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

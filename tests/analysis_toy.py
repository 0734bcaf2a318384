"""A toy model with closed-form outputs, for the analysis tests (not collected by pytest).

``toy`` has one stock, ``stock0`` at the start, shrinking by the ``decay``
lever each month and by Poisson shocks (each takes ``shock_share`` of what is
left) at rate ``shock_rate``:

    stock[t + 1] = stock[t] * (1 - decay[t]) * (1 - shock_share) ** hits[t]

With no shocks, ``stock[t] = stock0 * prod_{s < t} (1 - decay[s])`` exactly.
``by_region`` splits the stock between two regions (``north_share`` north);
``half_month`` is the first month the stock is at most half its start (NaN:
never).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntEnum
from typing import Any

import numpy as np
import pytest

from threatsim.core.errors import ScenarioError
from threatsim.inputs.scenario import Scenario, scenario_from_dict
from threatsim.models import LeverDecl, Model, ModelInfo, OutputDecl, ParameterDecl
from threatsim.models.contract import Chance, ScenarioParts

INFO = ModelInfo(
    name="toy",
    doc="a decaying stock with Poisson shocks (closed form without shocks)",
    parameters=(
        ParameterDecl(name="stock0", unit="usd", doc="stock at the start"),
        ParameterDecl(name="north_share", unit="share", doc="share of the stock in the north"),
        ParameterDecl(name="shock_rate", unit="events_per_month", doc="shocks per month"),
        ParameterDecl(name="shock_share", unit="share", doc="share lost in one shock"),
    ),
    levers=(
        LeverDecl(name="decay", default=0.0, low=0.0, high=1.0, unit="share_per_month",
                  doc="share of the stock lost each month"),
    ),
    outputs=(
        OutputDecl(name="stock", dims=("time",), unit="usd", dtype=np.float64,
                   doc="the stock", better="lower"),
        OutputDecl(name="by_region", dims=("time", "region"), unit="usd", dtype=np.float64,
                   doc="the stock by region", better="lower"),
        OutputDecl(name="half_month", dims=(), unit="months", dtype=np.float64,
                   doc="first month at or below half the start (NaN: never)",
                   better="lower"),
    ),
    coords={"region": ("north", "south")},
)


class ToyFlow(IntEnum):
    """What the toy's random numbers are for (never renumber, only append)."""

    SHOCKS = 1  # Poisson shocks of the month


class ToyModel(Model):
    """See the module docstring."""

    info = INFO
    writes_into_buffers = False
    buffer_dtype = None

    def check(self, scenario: ScenarioParts) -> list[ScenarioError]:
        """No extra rules."""
        return []

    def _simulate(self, params: Mapping[str, np.ndarray], levers: Mapping[str, np.ndarray], *,
                  n_months: int, chance: Chance, want: frozenset[str],
                  out: Mapping[str, np.ndarray] | None) -> dict[str, np.ndarray]:
        """Arrays (n, n_months + 1[, 2]) and (n,)."""
        s0 = np.asarray(params["stock0"], dtype=np.float64)
        n = s0.shape[0]
        keep = 1.0 - np.asarray(params["shock_share"], dtype=np.float64)
        rate = np.asarray(params["shock_rate"], dtype=np.float64)
        stock = np.empty((n, n_months + 1))
        stock[:, 0] = s0
        for t in range(n_months):
            hits = (chance.poisson(rate, month=t, flow=ToyFlow.SHOCKS) if np.any(rate > 0)
                    else 0)
            stock[:, t + 1] = stock[:, t] * (1.0 - levers["decay"][t]) * keep ** hits
        north = np.asarray(params["north_share"], dtype=np.float64)[:, None]
        by_region = np.stack([stock * north, stock * (1.0 - north)], axis=-1)
        below = stock <= s0[:, None] / 2
        half = np.where(below.any(axis=1), below.argmax(axis=1), np.nan).astype(np.float64)
        computed = {"stock": stock, "by_region": by_region, "half_month": half}
        return {k: v for k, v in computed.items() if k in want}

    def conservation_residuals(self, outputs: Mapping[str, np.ndarray],
                               ) -> dict[str, np.ndarray]:
        """The stock never grows (shocks and decay only take) and is never negative."""
        stock = outputs["stock"]
        return {"stock never grows": np.maximum(np.diff(stock, axis=1), 0.0),
                "stock never negative": np.minimum(stock, 0.0)}


def toy_dict(*, decay: float = 0.0, shock_rate: float = 0.0, draws: int = 400,
             horizon: int = 12, seed: int = 3, timeline: list | None = None) -> dict:
    """A toy scenario table: stock0 uniform on [100, 200] $, north share uniform [0.2, 0.6]."""
    data: dict[str, Any] = {
        "name": "toy", "model": "toy", "start": "2020-01", "horizon": horizon,
        "run": {"draws": draws, "seed": seed, "chunk_size": 128},
        "parameters": {
            "stock0": {"dist": "uniform", "range": [100.0, 200.0], "unit": "usd",
                       "assumption": "test"},
            "north_share": {"dist": "uniform", "range": [0.2, 0.6], "unit": "share",
                            "assumption": "test"},
            "shock_rate": {"dist": "point", "value": shock_rate, "unit": "events_per_month",
                           "assumption": "test"},
            "shock_share": {"dist": "point", "value": 0.5, "unit": "share",
                            "assumption": "test"},
        },
        "levers": {"decay": decay},
        "outputs": {"report_months": [m for i, m in ((0, "2020-01"), (6, "2020-07"),
                                                      (12, "2021-01")) if i <= horizon]},
    }
    if timeline:
        data["timeline"] = timeline
    return data


def toy_scenario(**kwargs: Any) -> Scenario:
    """:func:`toy_dict` validated into a Scenario (the toy model must be registered)."""
    name = kwargs.pop("name", "toy")
    data = toy_dict(**kwargs)
    data["name"] = name
    return scenario_from_dict(data)


def toy_toml(path: Any, **kwargs: Any) -> Any:
    """Write :func:`toy_dict` as a TOML file (for the CLI tests); returns the path."""
    data = toy_dict(**kwargs)
    lines = [f'name = "{data["name"]}"', 'model = "toy"', f'start = "{data["start"]}"',
             f"horizon = {data['horizon']}", "[run]"]
    lines += [f"{k} = {v}" for k, v in data["run"].items()]
    for pname, spec in data["parameters"].items():
        lines.append(f"[parameters.{pname}]")
        for k, v in spec.items():
            lines.append(f"{k} = {v!r}".replace("'", '"'))
    lines.append("[levers]")
    lines += [f"{k} = {v}" for k, v in data["levers"].items()]
    lines.append("[outputs]")
    lines.append(f"report_months = {data['outputs']['report_months']!r}".replace("'", '"'))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def toy_model(monkeypatch):
    """Register the toy model for one test."""
    from threatsim import models

    models.model_names()  # fill the registry first
    monkeypatch.setitem(models.MODELS, "toy", ToyModel())
    return ToyModel()

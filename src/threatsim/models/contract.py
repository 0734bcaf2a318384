"""The Model contract: what every model declares and what the engine calls.

A model is a pure function from sampled parameters (arrays over the draws of
one chunk), lever schedules (one value per month) and a random generator to
named arrays whose first axis is the draw. Monte Carlo models step through
time with vectorised numpy; discrete-event models (SimPy) simulate one
replication per draw. Both give arrays of the same shapes, so the engine,
results, comparisons and scores treat them alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

__all__ = ["ORIGIN_REST", "FloatArray", "LeverDecl", "Model", "ModelInfo", "OutputDecl",
           "ParameterDecl",
           "origin_share_parameter"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True, kw_only=True)
class ParameterDecl:
    """A parameter a model needs: its name, its unit and what it means."""

    name: str
    unit: str
    doc: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LeverDecl:
    """A policy setting: not sampled, may change at timeline dates."""

    name: str
    default: float
    low: float
    high: float
    unit: str
    doc: str
    integer: bool = False

    def problem(self, value: Any) -> str | None:
        """Say why *value* is not allowed for this lever, or ``None``."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"must be a number in [{self.low:g}, {self.high:g}] ({self.unit})"
        if not np.isfinite(value) or not self.low <= value <= self.high:
            return f"must be in [{self.low:g}, {self.high:g}] ({self.unit})"
        if self.integer and float(value) != int(value):
            return f"must be a whole number in [{self.low:g}, {self.high:g}] ({self.unit})"
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class OutputDecl:
    """An output: its dims after ``draw`` and its unit.

    ``dims`` is ``("time",)`` for a monthly series, ``()`` for a per-draw
    scalar, ``("time", "region", "compartment")`` for a regional stock.
    """

    name: str
    dims: tuple[str, ...]
    unit: str
    doc: str
    kind: str = "stock"  # "stock" (state at month start) or "flow" (during the month before)


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelInfo:
    """What a model declares about itself (used by the loader and the engine)."""

    name: str
    doc: str
    parameters: tuple[ParameterDecl, ...]
    levers: tuple[LeverDecl, ...]
    outputs: tuple[OutputDecl, ...]
    coords: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


class Model(Protocol):
    """The contract every model fulfils."""

    info: ModelInfo

    def simulate(
        self,
        params: Mapping[str, FloatArray],
        levers: Mapping[str, FloatArray],
        *,
        n_months: int,
        rng: np.random.Generator,
        outputs: frozenset[str] | None = None,
    ) -> dict[str, np.ndarray]:
        """Run the draws of one chunk.

        ``outputs`` names the outputs the run keeps (``None``: all); a model may
        skip recording the others.

        ``params[name]`` has shape ``(n,)``; ``levers[name]`` has shape
        ``(n_months,)``: the value in force during month ``t``. Returns arrays
        of shape ``(n, n_months + 1, ...)`` for series (index 0 is the start;
        a flow at index ``t + 1`` happened during month ``t``; index 0 holds NaN)
        and ``(n,)`` for per-draw scalars.
        """
        ...

    def check(self, scenario: Any) -> list[Any]:
        """Model-specific validation of a scenario; a list of ScenarioErrors."""
        ...


#: The catch-all origin group: what the shares a scenario declares for a region leave over.
ORIGIN_REST = "unspecified"



def origin_share_parameter(region: str, origin: str) -> str:
    """The parameter name under which ``origins.<region>.<origin>`` is sampled."""
    return f"origin_share_{region}_{origin}"

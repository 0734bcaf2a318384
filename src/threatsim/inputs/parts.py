"""The validated parts of a scenario: a parameter with its provenance, the run
settings, a timeline entry.

:mod:`threatsim.inputs.validation` builds them from a scenario's tables and
:class:`threatsim.inputs.scenario.Scenario` holds them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from threatsim.inputs.distributions import DistSpec
from threatsim.inputs.sources import SourceRegistry

__all__ = ["DEFAULT_QUANTILES", "MAX_HORIZON", "SAMPLERS", "Parameter", "RunSettings", "Sampler",
           "TimelineEntry"]

#: The designs parameters are sampled with (:mod:`threatsim.engine.sampling`): declared
#: once here, the lowest layer that names them; every other spelling derives from it.
Sampler = Literal["mc", "lhs", "sobol"]
SAMPLERS: tuple[str, ...] = get_args(Sampler)
DEFAULT_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
MAX_HORIZON = 600


@dataclass(frozen=True, slots=True, kw_only=True)
class Parameter:
    """A named uncertain input: a distribution plus its provenance.

    >>> p = Parameter(name="fee", dist=DistSpec(kind="uniform", low=1.0, high=2.0),
    ...               unit="usd", assumption="analyst judgement")
    >>> p.provenance()
    'assumption: analyst judgement'
    """

    name: str
    dist: DistSpec
    unit: str
    source: str | None = None
    assumption: str | None = None
    range_assumption: str | None = None
    share_of: str | None = None
    description: str = ""

    def provenance(self, sources: SourceRegistry | None = None) -> str:
        """One line saying where the range comes from.

        >>> Parameter(name="x", dist=DistSpec(kind="point", value=3.0), unit="people",
        ...           source="un-2024", range_assumption="rounded").provenance()
        'source un-2024; range: rounded'
        """
        if self.source is not None:
            text = f"source {self.source}"
            if sources is not None and self.source in sources:
                text = f"{sources[self.source].citation()} ({self.source})"
            if self.range_assumption:
                text += f"; range: {self.range_assumption}"
            return text
        return f"assumption: {self.assumption}"


@dataclass(frozen=True, slots=True, kw_only=True)
class RunSettings:
    """How a scenario is run by default; the CLI and ``run()`` may override.

    >>> RunSettings(draws=500).sampler
    'mc'
    """

    draws: int = 10_000
    seed: int = 0
    sampler: str = "mc"
    chunk_size: int = 65_536
    workers: int = 1
    replicates: int = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class TimelineEntry:
    """Lever values that apply from month ``at`` (an index from the start) on.

    >>> TimelineEntry(at=12, levers={"seizure_effort": 2.0}).at
    12
    """

    at: int
    levers: dict[str, float]
    note: str = ""

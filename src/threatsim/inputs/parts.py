"""The validated parts of a scenario: a parameter with its provenance, a rank
correlation between parameters and the group it puts them in, the run settings,
a timeline entry.

:mod:`threatsim.inputs.validation` builds them from a scenario's tables and
:class:`threatsim.inputs.scenario.Scenario` holds them.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NoReturn, TypeVar, get_args

import numpy as np

from threatsim.inputs.distributions import DistSpec
from threatsim.inputs.sources import SourceRegistry

__all__ = ["DEFAULT_QUANTILES", "MAX_HORIZON", "SAMPLERS", "Correlation", "CorrelationGroup",
           "FrozenDict", "FrozenList", "Parameter", "RunSettings", "Sampler", "TimelineEntry",
           "freeze", "normal_score_correlation", "thaw"]

K = TypeVar("K")
V = TypeVar("V")

#: The designs parameters are sampled with (:mod:`threatsim.engine.sampling`): declared
#: once here, the lowest layer that names them; every other spelling derives from it.
Sampler = Literal["mc", "lhs", "sobol"]
SAMPLERS: tuple[str, ...] = get_args(Sampler)
DEFAULT_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
MAX_HORIZON = 600


def _read_only(self: object, *args: object, **kwargs: object) -> NoReturn:
    raise TypeError("a scenario is read-only: edit it with Scenario.with_values({...}), "
                    "which revalidates the change and gives a new run id")


class FrozenDict(dict[K, V]):
    """A read-only dict: what a :class:`~threatsim.inputs.scenario.Scenario` holds, so
    that the scenario, its run id and the stored resolved scenario always describe what
    runs. It is a ``dict`` for every reader (``isinstance``, ``json``, ``==``), pickles
    (process pools, dask), and its copies (``copy.copy``, ``copy.deepcopy``, ``dict(...)``)
    are plain and editable: the start of an edit that goes back through validation.

    >>> levers = FrozenDict({"seizure_effort": 1.0})
    >>> levers["seizure_effort"] = 4.0
    Traceback (most recent call last):
    ...
    TypeError: a scenario is read-only: edit it with Scenario.with_values({...}), ...
    >>> import copy, pickle
    >>> pickle.loads(pickle.dumps(levers)) == levers, type(copy.deepcopy(levers)).__name__
    (True, 'dict')
    """

    __slots__ = ()
    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _read_only
    __ior__ = _read_only

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (dict(self),))

    def __copy__(self) -> dict[K, V]:
        return dict(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[K, V]:
        return {copy.deepcopy(k, memo): copy.deepcopy(v, memo) for k, v in self.items()}


class FrozenList(list[V]):
    """A read-only list (the arrays of a scenario's resolved tables), like :class:`FrozenDict`.

    >>> xs = FrozenList([1, 2])
    >>> xs.append(3)
    Traceback (most recent call last):
    ...
    TypeError: a scenario is read-only: edit it with Scenario.with_values({...}), ...
    >>> xs == [1, 2], repr(xs), type(copy.deepcopy(xs)).__name__
    (True, '[1, 2]', 'list')
    """

    __slots__ = ()
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _read_only
    append = extend = insert = pop = remove = reverse = sort = clear = _read_only

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (list(self),))

    def __copy__(self) -> list[V]:
        return list(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> list[V]:
        return [copy.deepcopy(v, memo) for v in self]


def freeze(value: Any) -> Any:
    """*value* with every table and array made read-only, to any depth (a new object:
    *value* itself is not changed).

    >>> frozen = freeze({"levers": {"a": 1.0}, "timeline": [{"at": "2020-01"}]})
    >>> type(frozen["levers"]).__name__, type(frozen["timeline"][0]).__name__
    ('FrozenDict', 'FrozenDict')
    """
    if isinstance(value, dict):
        return FrozenDict({k: freeze(v) for k, v in value.items()})
    if isinstance(value, list):
        return FrozenList(freeze(v) for v in value)
    return value


def thaw(value: Any) -> Any:
    """A plain, editable deep copy of a (possibly frozen) table.

    >>> thaw(freeze({"a": [1, {"b": 2}]}))
    {'a': [1, {'b': 2}]}
    """
    return copy.deepcopy(value)


def _frozen_map(items: Mapping[K, V] | Iterable[tuple[K, V]]) -> FrozenDict[K, V]:
    return items if isinstance(items, FrozenDict) else FrozenDict(items)


def normal_score_correlation(rho: np.ndarray | float) -> np.ndarray:
    """The Pearson correlation of normal scores whose Spearman rank correlation is *rho*.

    For a bivariate normal with Pearson correlation r, Spearman's rho is
    (6 / pi) arcsin(r / 2) (Pearson 1907; see Kruskal 1958, JASA 53, 814-861);
    its inverse, r = 2 sin(pi rho / 6), is what Iman-Conover must impose on the
    normal scores for the draws' *rank* correlation to be the requested rho.
    It moves rho by at most 0.018 and keeps -1, 0 and 1.

    >>> [round(float(r), 4) for r in normal_score_correlation(np.array([-1.0, 0.0, 0.5, 1.0]))]
    [-1.0, 0.0, 0.5176, 1.0]
    """
    return 2.0 * np.sin(np.pi * np.asarray(rho, dtype=np.float64) / 6.0)


@dataclass(frozen=True, slots=True)
class CorrelationGroup:
    """Parameters whose draws are rank-correlated together (a connected set of
    ``[[correlations]]`` pairs), with their target Spearman matrix.

    ``names`` are sorted, so the group (and the rearrangement that imposes it, see
    :func:`threatsim.engine.sampling.iman_conover`) does not depend on the order of
    the entries in the file. Every parameter of the group holds the same group, so
    sampling any of them alone gives its values in the joint sample.

    >>> g = CorrelationGroup(names=("a", "b"), rho=((1.0, -0.5), (-0.5, 1.0)))
    >>> g.score_matrix().round(4).tolist()
    [[1.0, -0.5176], [-0.5176, 1.0]]
    """

    names: tuple[str, ...]
    rho: tuple[tuple[float, ...], ...]

    def score_matrix(self) -> np.ndarray:
        """The Pearson correlation of normal scores to impose (:func:`normal_score_correlation`)."""
        return normal_score_correlation(np.array(self.rho, dtype=np.float64))


@dataclass(frozen=True, slots=True, kw_only=True)
class Correlation:
    """One ``[[correlations]]`` entry: a Spearman rank correlation between two sampled
    parameters, with its provenance (exactly one of a source id and an assumption).

    >>> c = Correlation(between=("reserves_initial", "extortion_income"), rho=0.5,
    ...                 assumption="richer years bring both")
    >>> c.provenance()
    'assumption: richer years bring both'
    """

    between: tuple[str, str]
    rho: float
    source: str | None = None
    assumption: str | None = None
    description: str = ""

    def provenance(self, sources: SourceRegistry | None = None) -> str:
        """One line saying where the correlation comes from (as :meth:`Parameter.provenance`)."""
        if self.source is not None:
            if sources is not None and self.source in sources:
                return f"{sources[self.source].citation()} ({self.source})"
            return f"source {self.source}"
        return f"assumption: {self.assumption}"

    def record(self, sources: SourceRegistry | None = None) -> dict[str, object]:
        """The entry as the results' provenance stores it (plain JSON types).

        >>> Correlation(between=("a", "b"), rho=0.25, assumption="x").record()
        {'between': ['a', 'b'], 'rho': 0.25, 'provenance': 'assumption: x'}
        """
        return {"between": list(self.between), "rho": self.rho,
                "provenance": self.provenance(sources)}


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
    #: The rank-correlated group this parameter is sampled in, if any (``[[correlations]]``).
    correlated: CorrelationGroup | None = field(default=None, repr=False)

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
    chunk_size: int = 8_192
    workers: int = 1
    replicates: int = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class TimelineEntry:
    """Lever values that apply from month ``at`` (an index from the start) on.

    >>> TimelineEntry(at=12, levers={"seizure_effort": 2.0}).at
    12
    """

    at: int
    levers: Mapping[str, float]
    note: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "levers", _frozen_map(self.levers))

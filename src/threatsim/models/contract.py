"""The Model contract: what every model declares and what the engine calls.

A model is a pure function from sampled parameters (arrays over the draws of
one chunk), lever schedules (one value per month) and the chance of those
draws (:class:`Chance`: counter-based streams, one per draw) to named arrays
whose first axis is the draw. Monte Carlo models step through
time with vectorised numpy; discrete-event models (SimPy) simulate one
replication per draw. Both give arrays of the same shapes, so the engine,
results, comparisons and scores treat them alike.

Everything the engine, the loader and the results use is named on
:class:`Model`, and every model declares it (checked when its class is
defined):

* ``info``: its parameters, levers and outputs (:class:`OutputDecl`: dims,
  unit, dtype) and the labels of its dims;
* ``writes_into_buffers`` and ``buffer_dtype``: whether :meth:`Model.simulate`
  fills the engine's result buffers (``out=``), and their dtype;
* :meth:`Model.simulate` (a template method: it works out which outputs to
  compute and calls the model's :meth:`Model._simulate`);
* :meth:`Model.check`: the model's own rules on a scenario;
* :meth:`Model.conservation_residuals`: the identities its outputs obey
  exactly (optional; none by default).

Chance: every random number a model uses comes from :class:`Chance` (the
engine passes :class:`threatsim.stats.variates.ChanceStreams`), asked for by
what it is for -- the month, a ``flow`` id the model declares once (an
``IntEnum`` per model) and an ``event`` -- so each draw's numbers depend only
on (run seed, draw index, replicate, purpose): never on the other draws of the
chunk, the chunk size, or how many numbers another draw or flow consumed (see
docs/determinism.md).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar, Protocol

import numpy as np
import numpy.typing as npt

from threatsim.core.errors import ScenarioError

__all__ = ["BETTER", "ORIGIN_REST", "Chance", "FloatArray", "LeverDecl", "Model", "ModelInfo",
           "OutputDecl", "ParameterDecl", "ScenarioParts", "SeriesDecl", "origin_share_parameter"]

FloatArray = npt.NDArray[np.float64]
#: The ways an output can be better (:attr:`OutputDecl.better`); None: neither.
BETTER: tuple[str | None, ...] = ("lower", "higher", None)


@dataclass(frozen=True, slots=True, kw_only=True)
class ParameterDecl:
    """A parameter a model needs: its name, its unit and what it means.

    >>> ParameterDecl(name="stock0", unit="usd", doc="stock at the start").unit
    'usd'
    """

    name: str
    unit: str
    doc: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LeverDecl:
    """A policy setting: not sampled, may change at timeline dates.

    >>> decay = LeverDecl(name="decay", default=0.0, low=0.0, high=1.0,
    ...                   unit="share_per_month", doc="share lost each month")
    >>> decay.problem(0.5) is None
    True
    """

    name: str
    default: float
    low: float
    high: float
    unit: str
    doc: str
    integer: bool = False

    def problem(self, value: Any) -> str | None:
        """Say why *value* is not allowed for this lever, or ``None``.

        >>> courts = LeverDecl(name="courts", default=10, low=1, high=1000, integer=True,
        ...                    unit="courts", doc="courts trying cases at once")
        >>> courts.problem(2.5)
        'must be a whole number in [1, 1000] (courts)'
        >>> courts.problem(0)
        'must be in [1, 1000] (courts)'
        """
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"must be a number in [{self.low:g}, {self.high:g}] ({self.unit})"
        if not self.low <= value <= self.high or not np.isfinite(value):  # huge ints: range first
            return f"must be in [{self.low:g}, {self.high:g}] ({self.unit})"
        if self.integer and float(value) != int(value):
            return f"must be a whole number in [{self.low:g}, {self.high:g}] ({self.unit})"
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class OutputDecl:
    """An output: its dims after ``draw``, its unit and the dtype of its values.

    ``dims`` is ``("time",)`` for a monthly series, ``()`` for a per-draw
    scalar, ``("time", "region", "compartment")`` for a regional stock.
    ``dtype`` is what :meth:`Model.simulate` returns and the Dataset holds
    (``int64`` counts of people, ``float64`` money); given as anything
    ``numpy.dtype`` accepts, kept as a ``numpy.dtype``.

    Its support (what :meth:`outside_support` checks, e.g. of a checkpoint's
    chunk read back): values are never infinite; ``nonnegative`` (the default:
    people, money, months) says they are never below 0, ``False`` for an output
    that can be. NaN only where the contract puts it: at index 0 of a flow's
    series and in per-draw outputs (no ``time`` dim), where it means "never"
    (e.g. ``depletion_month``).

    >>> OutputDecl(name="population", dims=("time", "region"), unit="people",
    ...            dtype="int64", doc="people at the start of the month").dtype
    dtype('int64')
    """

    name: str
    dims: tuple[str, ...]
    unit: str
    dtype: np.dtype[Any]
    doc: str
    kind: str = "stock"  # "stock" (state at month start) or "flow" (during the month before)
    nonnegative: bool = True  # never below 0 (see the class docstring)
    #: Which way is better for a planner: "lower", "higher", or None where neither is (more
    #: people convicted is not better or worse in itself). compare, the brief and the
    #: what-if tables read it; an analyst may still say otherwise (compare's ``better``).
    better: str | None = None
    #: Per label of the output's ``compartment`` dim, where the compartments differ (fewer
    #: active fighters is better; the killed and the released have no direction).
    better_by_compartment: Mapping[str, str | None] = field(default_factory=dict)
    #: A short title for a chart or a table ("Active fighters"); default from the name.
    title: str = ""

    # Written out (the dataclass keeps it) so that ``dtype`` may be given as anything
    # numpy.dtype accepts, also to a type checker, while the field is a numpy.dtype.
    def __init__(self, *, name: str, dims: tuple[str, ...], unit: str, dtype: npt.DTypeLike,
                 doc: str, kind: str = "stock", nonnegative: bool = True,
                 better: str | None = None,
                 better_by_compartment: Mapping[str, str | None] | None = None,
                 title: str = "") -> None:
        for way in (better, *(better_by_compartment or {}).values()):
            if way not in BETTER:
                raise ValueError(f"output {name}: better must be one of {BETTER}, not {way!r}")
        if better_by_compartment and "compartment" not in dims:
            raise ValueError(f"output {name}: better_by_compartment needs a compartment dim")
        values = {"name": name, "dims": dims, "unit": unit, "dtype": np.dtype(dtype),
                  "doc": doc, "kind": kind, "nonnegative": nonnegative, "better": better,
                  "better_by_compartment": MappingProxyType(dict(better_by_compartment or {})),
                  "title": title or name.replace("_", " ").capitalize()}
        for key, value in values.items():
            object.__setattr__(self, key, value)  # frozen: set once, here

    def better_for(self, compartment: str | None = None) -> str | None:
        """Which way is better for this output, or for one of its compartments.

        >>> pop = OutputDecl(name="population", dims=("time", "compartment"), unit="people",
        ...                  dtype="int64", doc="people", better_by_compartment={
        ...                      "active": "lower", "killed": None})
        >>> pop.better_for("active"), pop.better_for("killed"), pop.better_for()
        ('lower', None, None)
        """
        if compartment is not None and compartment in self.better_by_compartment:
            return self.better_by_compartment[compartment]
        return self.better

    def outside_support(self, values: np.ndarray) -> str | None:
        """Why *values* (this output as :meth:`Model.simulate` gives it: draws first, then
        any replicate axis, then ``dims``) cannot be the model's, or ``None``.

        >>> revenue = OutputDecl(name="revenue", dims=("time",), unit="usd", kind="flow",
        ...                      dtype=np.float64, doc="revenue during the month before")
        >>> revenue.outside_support(np.array([[np.nan, 2.0, 3.0]])) is None
        True
        >>> revenue.outside_support(np.array([[np.nan, -1e30, 3.0]]))
        'has values below 0 (-1e+30)'
        >>> revenue.outside_support(np.array([[np.nan, np.nan, 3.0]]))
        'has NaN values'
        """
        if values.dtype.kind not in "iubf":
            return f"holds {values.dtype} values, not numbers"
        if values.dtype.kind == "f":
            if np.isinf(values).any():
                return "has infinite values"
            nan = np.isnan(values)
            if "time" not in self.dims:
                nan[...] = False  # per-draw: NaN means "never"
            elif self.kind == "flow":  # index 0 of a flow: no month before it
                nan[(slice(None),) * (values.ndim - len(self.dims) + self.dims.index("time"))
                    + (0,)] = False
            if nan.any():
                return "has NaN values"
        below = values < 0
        if self.nonnegative and below.any():
            return f"has values below 0 ({values[below].min():g})"
        return None


@dataclass(frozen=True, slots=True)
class SeriesDecl:
    """A headline series a model declares: one output, some labels of its dims summed.

    ``select`` maps a dim to the labels summed together (``{"compartment":
    ("active_local", "active_foreign")}``: the active fighters); every other model
    dim except ``time`` is summed whole. ``title`` is the chart's title (default:
    the output's).

    >>> SeriesDecl("population_total", {"compartment": ("detained",)}, "Detained").title
    'Detained'
    """

    output: str
    select: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    title: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "select", MappingProxyType(
            {dim: tuple(labels) for dim, labels in self.select.items()}))

    def problems(self, outputs: Mapping[str, OutputDecl],
                 coords: Mapping[str, tuple[str, ...]]) -> list[str]:
        """Why this series cannot be drawn from a model with *outputs* and *coords*.

        >>> out = OutputDecl(name="stock", dims=("time",), unit="usd", dtype="float64",
        ...                  doc="the stock")
        >>> SeriesDecl("stock", {"region": ("north",)}).problems({"stock": out}, {})
        ["headline stock: the output has no dim 'region'"]
        """
        decl = outputs.get(self.output)
        if decl is None:
            return [f"headline {self.output}: no such output ({', '.join(sorted(outputs))})"]
        found = [] if "time" in decl.dims else [f"headline {self.output}: not monthly"]
        for dim, labels in self.select.items():
            if dim not in decl.dims or dim == "time":
                found.append(f"headline {self.output}: the output has no dim {dim!r}")
                continue
            unknown = [lab for lab in labels if lab not in coords.get(dim, ())]
            if unknown or not labels:
                found.append(f"headline {self.output}: {dim} has no labels {unknown or '()'} "
                             f"({', '.join(coords.get(dim, ()))})")
        return found


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelInfo:
    """What a model declares about itself (used by the loader and the engine).

    >>> info = ModelInfo(name="toy", doc="a stock", parameters=(), levers=(),
    ...                  outputs=(OutputDecl(name="stock", dims=("time",), unit="usd",
    ...                                      dtype=np.float64, doc="the stock"),))
    >>> info.output_names
    frozenset({'stock'})
    """

    name: str
    doc: str
    parameters: tuple[ParameterDecl, ...]
    levers: tuple[LeverDecl, ...]
    outputs: tuple[OutputDecl, ...]
    coords: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: The few series a planner reads first (the run's default chart, the brief's charts,
    #: compare --plot); checked here: the outputs and labels exist.
    headline: tuple[SeriesDecl, ...] = ()
    #: How ``--workers N`` (``executor=N``) runs this model's chunks: ``"threads"``
    #: where a chunk's work is compiled or vectorised numpy that releases the GIL (no
    #: results copied between processes), ``"processes"`` where Python code holds it
    #: (SimPy, per-draw loops). Measured per model in docs/scaling.md.
    parallel: str = "processes"
    #: From this many draws a chunk, ``--workers N`` runs threads even where
    #: :attr:`parallel` says processes: each month's Python work is the same whatever
    #: the chunk, the kernels' work (which releases the GIL) grows with it, and threads
    #: copy no results between processes. None: :attr:`parallel` whatever the chunk.
    threads_from: int | None = None

    def __post_init__(self) -> None:
        if self.parallel not in ("threads", "processes"):
            raise ValueError(f"model {self.name}: parallel must be 'threads' or 'processes'")
        if self.threads_from is not None and self.threads_from < 1:
            raise ValueError(f"model {self.name}: threads_from must be a whole number >= 1")
        outputs = {o.name: o for o in self.outputs}
        problems = [p for s in self.headline for p in s.problems(outputs, self.coords)]
        if problems:
            raise ValueError(f"model {self.name}: " + "; ".join(problems))

    def parallel_for(self, chunk_size: int) -> str:
        """How ``--workers N`` runs chunks of *chunk_size* draws: ``"threads"`` or
        ``"processes"`` (:attr:`parallel`, and :attr:`threads_from`).

        >>> info = ModelInfo(name="toy", doc="", parameters=(), levers=(), outputs=(),
        ...                  threads_from=8192)
        >>> info.parallel_for(2048), info.parallel_for(8192)
        ('processes', 'threads')
        """
        if self.threads_from is not None and chunk_size >= self.threads_from:
            return "threads"
        return self.parallel

    def parallel_words(self) -> str:
        """The rule of :meth:`parallel_for` in words (``threatsim models``).

        >>> ModelInfo(name="toy", doc="", parameters=(), levers=(), outputs=(),
        ...           threads_from=8192).parallel_words()
        'processes; threads for chunks of 8,192 draws or more'
        """
        if self.threads_from is None or self.parallel == "threads":
            return self.parallel
        return f"{self.parallel}; threads for chunks of {self.threads_from:,} draws or more"

    @property
    def output_names(self) -> frozenset[str]:
        """The names of every declared output."""
        return frozenset(o.name for o in self.outputs)


class ScenarioParts(Protocol):
    """What :meth:`Model.check` reads of a scenario: its validated parts.

    The loader passes them before the whole scenario is built (a
    :class:`~threatsim.inputs.scenario.Scenario` has them too). ``parameters``
    maps names to parameters with a ``dist`` (``dist.bounds()``, ``dist.kind``);
    ``timeline`` holds entries with ``at`` (a month index) and ``levers``.

    >>> import threatsim
    >>> parts: ScenarioParts = threatsim.load_scenario("scenarios/financing.toml")  # has them
    >>> parts.horizon, parts.parameters["cache_share"].dist.kind, list(parts.timeline)
    (36, 'uniform', [])
    """

    @property
    def parameters(self) -> Mapping[str, Any]: ...

    @property
    def levers(self) -> Mapping[str, float]: ...

    @property
    def timeline(self) -> Sequence[Any]: ...

    @property
    def horizon(self) -> int: ...


class Chance(Protocol):
    """The chance of a chunk's rows, one stream per row: what :meth:`Model.simulate` gets.

    Implemented by :class:`threatsim.stats.variates.ChanceStreams` (models and
    stats are on one layer and do not import each other, so the contract names
    the methods a model may call). Row ``i`` is the chunk's row ``i`` (draw-major,
    a draw's replicates next to each other); each method returns one variate per
    row, from that row's own stream at counter (event, flow, month). A model uses
    each (month, flow, event) of a row for one call only.

    >>> from threatsim.engine.streams import chance_streams
    >>> chance: Chance = chance_streams(7, np.arange(3), replicates=2)  # a ChanceStreams
    >>> len(chance), chance.poisson(2.0, month=0, flow=1).tolist()
    (6, [0, 3, 1, 3, 1, 1])
    >>> chance[::2].poisson(2.0, month=0, flow=1).tolist()  # some rows: the same numbers
    [0, 1, 1]
    """

    def __len__(self) -> int: ...

    def __getitem__(self, selection: Any) -> Chance:
        """The streams of some rows (a slice, indices or a mask): the same numbers."""
        ...

    def binomial(self, n: Any, p: Any, *, month: int, flow: int,
                 event: int = 0) -> npt.NDArray[np.int64]: ...

    def poisson(self, lam: Any, *, month: int, flow: int,
                event: int = 0) -> npt.NDArray[np.int64]: ...

    def uniforms(self, count: int, *, month: int, flow: int,
                 event: int = 0) -> FloatArray: ...

    def competing_exits(self, n: Any, probs: Sequence[Any], *, month: int,
                        flow: int) -> npt.NDArray[np.int64]: ...

    def generator(self, i: int, *, flow: int, month: int = 0,
                  event: int = 0) -> np.random.Generator:
        """A numpy Generator on row *i*'s stream for (flow, month, event) alone."""
        ...

    def standard_exponential_into(self, gen: np.random.Generator, out: FloatArray) -> None:
        """``gen.standard_exponential(out=out)`` for a Generator :meth:`generator` made:
        the same numbers and the same state after, drawn faster where it can."""
        ...


#: The declarations every concrete model class makes itself (see ``Model.__init_subclass__``).
_DECLARED = ("info", "writes_into_buffers", "buffer_dtype")


class Model(ABC):
    """The contract every model fulfils.

    A model declares, as class attributes, ``info``, ``writes_into_buffers``
    and ``buffer_dtype``, and implements :meth:`_simulate` (one chunk, the
    outputs to compute already worked out) and :meth:`check`. The declarations
    are checked when the class is defined; a model that writes into buffers
    declares one dtype for all its outputs.

    >>> class Constant(Model):
    ...     info = ModelInfo(name="constant", doc="a stock that stays", parameters=(
    ...         ParameterDecl(name="stock0", unit="usd", doc="the stock"),), levers=(),
    ...         outputs=(OutputDecl(name="stock", dims=("time",), unit="usd",
    ...                             dtype=np.float64, doc="the stock"),))
    ...     writes_into_buffers = False
    ...     buffer_dtype = None
    ...     def check(self, scenario):
    ...         return []
    ...     def _simulate(self, params, levers, *, n_months, chance, want, out):
    ...         stock = np.repeat(params["stock0"][:, None], n_months + 1, axis=1)
    ...         return {"stock": stock} if "stock" in want else {}
    >>> from threatsim.stats.variates import ChanceStreams
    >>> got = Constant().simulate({"stock0": np.array([1.0, 2.0])}, {}, n_months=2,
    ...                           chance=ChanceStreams(seed=0, draw_index=[0, 1]))
    >>> got["stock"].tolist()
    [[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]]
    """

    #: The model's parameters, levers, outputs (dims, units, dtypes) and dim labels.
    info: ClassVar[ModelInfo]
    #: Whether :meth:`simulate` accepts ``out=``: the engine's result buffers, one per
    #: wanted output, shaped ``(*dims, chunk draws)`` (draws last), to fill in place.
    writes_into_buffers: ClassVar[bool]
    #: The dtype of those buffers (every output's dtype); ``None`` for a model that
    #: does not write into buffers.
    buffer_dtype: ClassVar[np.dtype[Any] | None]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if getattr(cls._simulate, "__isabstractmethod__", False):
            return  # an intermediate base class: its subclasses declare
        missing = [name for name in _DECLARED
                   if not any(name in vars(k) for k in cls.__mro__ if k is not Model)]
        if missing:
            raise TypeError(f"model class {cls.__name__} must declare {', '.join(missing)}")
        if not isinstance(cls.info, ModelInfo):
            raise TypeError(f"{cls.__name__}.info must be a ModelInfo")
        if not isinstance(cls.writes_into_buffers, bool):
            raise TypeError(f"{cls.__name__}.writes_into_buffers must be True or False")
        undeclared = {d for o in cls.info.outputs for d in o.dims
                      if d != "time" and d not in cls.info.coords}
        if undeclared:
            raise TypeError(f"{cls.__name__}: dims {sorted(undeclared)} need labels in "
                            "info.coords")
        if not cls.writes_into_buffers:
            if cls.buffer_dtype is not None:
                raise TypeError(f"{cls.__name__}.buffer_dtype must be None: it does not "
                                "write into buffers")
            return
        cls.buffer_dtype = np.dtype(cls.buffer_dtype)
        other = sorted(o.name for o in cls.info.outputs if o.dtype != cls.buffer_dtype)
        if other:
            raise TypeError(f"{cls.__name__} writes {cls.buffer_dtype} buffers, but outputs "
                            f"{other} declare another dtype")

    def simulate(
        self,
        params: Mapping[str, FloatArray],
        levers: Mapping[str, FloatArray],
        *,
        n_months: int,
        chance: Chance,
        outputs: frozenset[str] | None = None,
        out: Mapping[str, np.ndarray] | None = None,
    ) -> dict[str, np.ndarray]:
        """Run the draws of one chunk.

        ``params[name]`` has shape ``(n,)``; ``levers[name]`` has shape
        ``(n_months,)``: the value in force during month ``t``. Returns exactly
        the outputs named in ``outputs`` (``None``: every declared one), each
        of its declared dtype, of shape ``(n, n_months + 1, ...)`` for series
        (index 0 is the start; a flow at index ``t + 1`` happened during month
        ``t``; index 0 holds NaN) and ``(n,)`` for per-draw scalars. Asking for
        fewer outputs changes none of them (the same chance is drawn).

        ``chance`` covers exactly the ``n`` rows (row ``i``'s stream is keyed by
        its global draw index and replicate, see :class:`Chance`): row ``i``'s
        outputs depend only on row ``i``'s parameters, the levers and row ``i``'s
        stream.

        ``out`` (only for a model that ``writes_into_buffers``): for every
        wanted output an array ``(*dims, n)`` of ``buffer_dtype`` that the
        model records into; the returned arrays are then views of them.

        >>> from threatsim.models.registry import get_model
        >>> model = get_model("financing")
        >>> params = {p.name: np.full(3, 10.0) for p in model.info.parameters}
        >>> levers = {lever.name: np.full(4, lever.default) for lever in model.info.levers}
        >>> from threatsim.stats.variates import ChanceStreams
        >>> got = model.simulate(params, levers, n_months=4, outputs=frozenset({"reserves"}),
        ...                      chance=ChanceStreams(seed=0, draw_index=np.arange(3)))
        >>> sorted(got), got["reserves"].shape, got["reserves"].dtype
        (['reserves'], (3, 5), dtype('float64'))
        """
        want = self.wanted(outputs)
        if out is not None and not self.writes_into_buffers:
            raise TypeError(f"model {self.info.name!r} does not write into buffers: "
                            "out= must be None")
        rows = {np.shape(v)[0] for v in params.values() if np.ndim(v)}
        if rows and rows != {len(chance)}:
            raise ValueError(f"chance covers {len(chance)} rows, the parameters "
                             f"{sorted(rows)}: one stream per row is needed")
        return self._simulate(params, levers, n_months=n_months, chance=chance, want=want,
                              out=out)

    def wanted(self, outputs: frozenset[str] | None) -> frozenset[str]:
        """The outputs to compute: *outputs*, or every declared one when ``None``.

        >>> from threatsim.models.registry import get_model
        >>> sorted(get_model("financing").wanted(frozenset({"reserves"})))
        ['reserves']
        >>> get_model("financing").wanted(frozenset({"reserve"}))
        Traceback (most recent call last):
        ...
        ValueError: model 'financing' has no outputs ['reserve']
        """
        names = self.info.output_names
        if outputs is None:
            return names
        want = frozenset(outputs)
        if not want <= names:
            raise ValueError(f"model {self.info.name!r} has no outputs {sorted(want - names)}")
        return want

    @abstractmethod
    def _simulate(
        self,
        params: Mapping[str, FloatArray],
        levers: Mapping[str, FloatArray],
        *,
        n_months: int,
        chance: Chance,
        want: frozenset[str],
        out: Mapping[str, np.ndarray] | None,
    ) -> dict[str, np.ndarray]:
        """:meth:`simulate` of the outputs *want* (a set of declared names); *out* is
        ``None`` unless the model ``writes_into_buffers``."""

    @abstractmethod
    def check(self, scenario: ScenarioParts) -> list[ScenarioError]:
        """The model's own rules on a scenario, beyond the loader's: one
        :class:`~threatsim.core.errors.ScenarioError` per problem, naming its key.

        >>> from types import SimpleNamespace
        >>> from threatsim.models.registry import get_model
        >>> trial_days = SimpleNamespace(dist=SimpleNamespace(
        ...     kind="point", value=0.0, bounds=lambda: (0.0, 0.0)))
        >>> parts = SimpleNamespace(parameters={"trial_days": trial_days})
        >>> [p.key for p in get_model("detention").check(parts)]
        ['parameters.trial_days.value']
        """

    def conservation_residuals(self, outputs: Mapping[str, np.ndarray],
                               ) -> dict[str, np.ndarray]:
        """Identities the outputs obey exactly: name -> residual, 0 on every element.

        *outputs* are :meth:`simulate`'s arrays (draw first; every declared
        output). Each residual is an array that is exactly 0 when the identity
        holds (people conserved, money never negative); a model that declares
        none returns ``{}`` (the default).

        >>> from threatsim.models.registry import get_model
        >>> reserves = {"reserves": np.array([[10.0, -1.0]])}  # a stock gone negative
        >>> get_model("financing").conservation_residuals(reserves)["reserves never negative"]
        array([[ 0., -1.]])
        """
        return {}


#: The catch-all origin group: what the shares a scenario declares for a region leave over.
ORIGIN_REST = "unspecified"


def origin_share_parameter(region: str, origin: str) -> str:
    """The parameter name under which ``origins.<region>.<origin>`` is sampled.

    >>> origin_share_parameter("syria", "western_balkans")
    'origin_share_syria_western_balkans'
    """
    return f"origin_share_{region}_{origin}"

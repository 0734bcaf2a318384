"""A run's resources, known before it allocates: its memory estimate, the budget, the CPUs.

Before a run samples a parameter or makes a buffer, :func:`estimate_memory`
adds up the bytes it would hold (:class:`MemoryEstimate`): every trajectory
(outputs x months x model dims x draws x replicates x the dtype's size), the
per-draw outputs, the sampled parameters, and what it works with per chunk
(one chunk's outputs and their copies, the chunks in flight, worker
processes) and, for a streamed run, the summary's fixed structures (the
pilot, the bin counts, the windows: :mod:`threatsim.engine.exact_quantiles`).

The run compares that with its memory budget (:func:`resolve_budget`: the
``memory_budget=`` keyword, else ``THREATSIM_MEMORY_BUDGET``, else
:data:`DEFAULT_SHARE` of the memory this machine has available) and refuses,
with the figure and the remedy, what would not fit
(:func:`threatsim.engine.runner.run_with`); the command line streams the
draws to its output file instead when only keeping them in memory would not.

(Worker processes are capped at the CPUs this process may use, unless forced:
:func:`threatsim.engine.executors.capped_workers`.)

>>> import threatsim
>>> sc = threatsim.load_scenario("scenarios/financing.toml")
>>> from threatsim.engine.options import RunOptions
>>> est = estimate_memory(sc, RunOptions.build(sc, draws=1_000_000))
>>> format_bytes(est.trajectories)  # 4 outputs x 37 months x 8 bytes x 10**6 draws
'1.18 GB'
>>> est.in_memory > est.trajectories > est.streamed
True
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from typing import Protocol

from threatsim.core.errors import ScenarioError
from threatsim.engine import exact_quantiles
from threatsim.engine.exact_quantiles import ExactQuantiles
from threatsim.engine.executors import ProcessPoolChunkExecutor, shares_memory
from threatsim.engine.summary import summary_bins
from threatsim.inputs.scenario import Scenario
from threatsim.models.registry import get_model

__all__ = [
    "BUDGET_ENV",
    "DEFAULT_SHARE",
    "MemoryEstimate",
    "RunShape",
    "available_memory",
    "estimate_memory",
    "format_bytes",
    "parse_size",
    "resolve_budget",
]

#: The environment variable that sets the default memory budget (as ``--memory-budget``).
BUDGET_ENV = "THREATSIM_MEMORY_BUDGET"
#: The default budget: this share of the memory available when the run starts.
DEFAULT_SHARE = 0.5
#: Copies of one chunk's outputs a run works with besides the one it keeps (the model's
#: own temporaries; the transposed or narrowed copy placed, written or reduced).
CHUNK_COPIES = 2
#: The memory of one more Python process that has imported threatsim and run a chunk
#: (a process pool's worker): about 150 MB measured with numba's kernels loaded.
PROCESS_BYTES = 200 * 10**6
#: Bytes per value the summary's pass-1 windows may hold at most, their counts included,
#: before they are consolidated (tests/test_memory.py bounds them the same way).
WINDOW_BYTES_PER_VALUE = 48

_UNITS = {"": 1, "b": 1,
          "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
_SIZE = re.compile(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([A-Za-z]*|%)\s*")
_SIZE_HELP = ("must be a size such as 4GB, 512MB, 2GiB or 50% (of the memory available); "
              "KB, MB, GB, TB are powers of 1000, K, M, G, T and KiB ... TiB of 1024")


def format_bytes(n: float) -> str:
    """*n* bytes for people, in powers of 1000 (``kB``, ``MB``, ``GB``, ``TB``), 3 digits.

    >>> format_bytes(25_160_000_000), format_bytes(512 * 2**20), format_bytes(800)
    ('25.2 GB', '537 MB', '800 B')
    """
    if n < 1000:
        return f"{int(n)} B"
    for unit, scale in (("kB", 1e3), ("MB", 1e6), ("GB", 1e9), ("TB", 1e12)):
        if n < 1000 * scale or unit == "TB":
            value = n / scale
            return f"{value:.3g} {unit}" if value < 100 else f"{value:.0f} {unit}"
    raise AssertionError("unreachable")  # pragma: no cover


def available_memory() -> int | None:
    """The physical memory this machine has available now, in bytes (None: not known).

    ``MemAvailable`` of ``/proc/meminfo`` (what the kernel can give without
    swapping), else free pages (``os.sysconf``).

    >>> m = available_memory()
    >>> m is None or m > 0
    True
    """
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        pages, size = os.sysconf("SC_AVPHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None
    return pages * size if pages > 0 and size > 0 else None


def parse_size(value: object, *, key: str = "memory_budget") -> int:
    """A memory size in bytes from *value*: bytes (a number), or text such as ``"4GB"``,
    ``"512MiB"``, ``"2G"`` or ``"50%"`` (of the memory available now).

    >>> parse_size("4GB"), parse_size("2 GiB"), parse_size("1.5g"), parse_size(10**9)
    (4000000000, 2147483648, 1610612736, 1000000000)
    >>> parse_size("4XB", key="--memory-budget")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    threatsim.core.errors.ScenarioError: --memory-budget='4XB' must be a size such as 4GB, ...
    """
    number: float
    if isinstance(value, bool):
        raise ScenarioError(_SIZE_HELP, key=key, value=value)
    if isinstance(value, (int, float)):
        number, unit = float(value), ""
    elif isinstance(value, str):
        match = _SIZE.fullmatch(value)
        if match is None or len(value) > 40:
            raise ScenarioError(_SIZE_HELP, key=key, value=value[:40])
        number, unit = float(match.group(1)), match.group(2).lower()
        if unit != "%" and unit not in _UNITS:
            raise ScenarioError(_SIZE_HELP, key=key, value=value)
    else:
        raise ScenarioError(_SIZE_HELP, key=key, value=type(value).__name__)
    if unit == "%":
        if not 0 < number <= 100:
            raise ScenarioError("must be a share of the memory available above 0% and at "
                                "most 100%", key=key, value=value)
        available = available_memory()
        if available is None:
            raise ScenarioError("cannot be a share here: this system does not say how much "
                                "memory it has available; give a size such as 4GB",
                                key=key, value=value)
        return max(1, int(available * number / 100))
    size = number * _UNITS[unit]
    if not math.isfinite(size) or size < 1 or size > 2**62:
        raise ScenarioError("must be a size of at least 1 byte (and below 4 EB)", key=key,
                            value=value)
    return int(size)


def resolve_budget(value: object = None) -> int:
    """The memory budget of a run in bytes: *value* (see :func:`parse_size`), else the
    ``THREATSIM_MEMORY_BUDGET`` environment variable, else :data:`DEFAULT_SHARE` of the
    memory available now (unlimited where the system does not say).

    >>> resolve_budget("8GB")
    8000000000
    >>> 0 < resolve_budget() <= 2**62
    True
    """
    if value is not None:
        return parse_size(value)
    env = os.environ.get(BUDGET_ENV)
    if env is not None and env.strip():
        return parse_size(env, key=BUDGET_ENV)
    available = available_memory()
    return 2**62 if available is None else max(1, int(available * DEFAULT_SHARE))


@dataclass(frozen=True, slots=True, kw_only=True)
class MemoryEstimate:
    """The bytes a run would hold (see :func:`estimate_memory`), by what they are.

    >>> est = MemoryEstimate(draws=10, trajectories=800, largest_output=400, per_draw=80,
    ...                      parameters=160, parameters_streamed=80, sampling=160,
    ...                      chunk=100, summary=50, file=1040)
    >>> est.in_memory, est.streamed
    (1700, 470)
    """

    draws: int
    #: Outputs over time, every draw (and replicate): what ``keep="draws"`` holds.
    trajectories: int
    #: The largest of them again: a copy made to write it to a file or to take its bands.
    largest_output: int
    #: Outputs without a time dim, every draw (kept by a summary too).
    per_draw: int
    #: The sampled parameters, every one per draw (a run keeping its draws in memory).
    parameters: int
    #: The parameters a streamed run holds (a ``point`` one is a broadcast of its value).
    parameters_streamed: int
    #: Sampling at its peak: the uniforms and values of the largest group sampled at once.
    sampling: int
    #: Working memory per chunk: the chunks in flight and their copies, worker processes.
    chunk: int
    #: A streamed summary's structures: pilot, bin counts, windows (whatever the draws).
    summary: int
    #: The size of a NetCDF file of every draw (trajectories, per-draw outputs, parameters)
    #: uncompressed: an upper bound of the compressed file threatsim writes (how much
    #: zlib saves is known only once the values are).
    file: int

    @property
    def in_memory(self) -> int:
        """Bytes of a run keeping every draw in memory."""
        return (self.trajectories + self.largest_output + self.per_draw + self.parameters
                + self.sampling + self.chunk)

    @property
    def streamed(self) -> int:
        """Bytes of a streamed run (``keep="summary"``, or the draws streamed to a file)."""
        return (self.per_draw + self.parameters_streamed + self.sampling + self.chunk
                + self.summary)

    def describe(self, *, streamed: bool) -> str:
        """The figure and what it is made of, for a message.

        >>> MemoryEstimate(draws=10, trajectories=8 * 10**9, largest_output=10**9,
        ...                per_draw=0, parameters=10**8, parameters_streamed=10**8,
        ...                sampling=0, chunk=0, summary=0, file=0).describe(streamed=False)
        'about 9.1 GB (trajectories 8 GB, a copy of the largest output 1 GB, parameters 100 MB)'
        """
        parts: tuple[tuple[str, int], ...]
        if streamed:
            total, parts = self.streamed, (("per-draw values", self.per_draw
                                            + self.parameters_streamed + self.sampling),
                                           ("summary", self.summary), ("chunks", self.chunk))
        else:
            total, parts = self.in_memory, (("trajectories", self.trajectories),
                                            ("a copy of the largest output",
                                             self.largest_output),
                                            ("parameters", self.parameters + self.sampling),
                                            ("chunks", self.chunk))
        shown = ", ".join(f"{what} {format_bytes(n)}" for what, n in parts if n > 0)
        return f"about {format_bytes(total)} ({shown})"


class RunShape(Protocol):
    """What an estimate needs of a run's options (a
    :class:`~threatsim.engine.options.RunOptions` has it all; options imports this
    module, so it is described here rather than imported).

    >>> import threatsim
    >>> from threatsim.engine.options import RunOptions
    >>> sc = threatsim.load_scenario("scenarios/financing.toml")
    >>> shape: RunShape = RunOptions.build(sc, draws=10)
    >>> shape.draws
    10
    """

    @property
    def draws(self) -> int: ...
    @property
    def replicates(self) -> int: ...
    @property
    def chunk_size(self) -> int: ...
    @property
    def sampler(self) -> str: ...
    @property
    def executor(self) -> object: ...


def _in_flight(executor: object) -> tuple[int, int]:
    """(chunk results this process may hold at once, worker processes on this machine)."""
    inner = getattr(executor, "inner", None)  # a wrapper (ReuseChunks): its executor's
    if inner is not None:
        return _in_flight(inner)
    if shares_memory(executor):
        return 1, 0
    if isinstance(executor, ProcessPoolChunkExecutor):
        return executor.max_in_flight, executor.workers
    limit = getattr(executor, "max_in_flight", None)  # a cluster's own limit, else a guess
    return (limit if isinstance(limit, int) and limit > 0 else 16), 0


def estimate_memory(scenario: Scenario, options: RunShape) -> MemoryEstimate:
    """What a run of *scenario* with *options* would hold, computed before anything is.

    From the model's declared outputs (dims and dtypes), the scenario's horizon,
    kept variables and parameters, the draws, replicates, chunk size and
    executor; nothing is sampled or run, so an impossible run (10**9 draws)
    costs nothing to estimate. The figures are what numpy would allocate;
    Python itself and the imported libraries (about 200 MB) come on top. An
    executor wrapping another (``inner``: :class:`~threatsim.engine.reuse.ReuseChunks`)
    keeps every chunk it ran: one more run's outputs.

    >>> import threatsim
    >>> from threatsim.engine.options import RunOptions
    >>> sc = threatsim.load_scenario("scenarios/financing.toml")
    >>> est = estimate_memory(sc, RunOptions.build(sc, draws=10**9))
    >>> format_bytes(est.trajectories), format_bytes(est.parameters)
    ('1.18 TB', '96 GB')
    """
    info = get_model(scenario.model).info
    n, reps = options.draws, options.replicates
    rows = n * reps
    sizes = {"time": scenario.horizon + 1, **{d: len(v) for d, v in info.coords.items()}}
    kept = set(scenario.variables)
    trajectories = per_draw = largest = chunk_cell_bytes = 0
    banded: list[int] = []  # cells of each banded key of a summary
    for out in info.outputs:
        if out.name not in kept:
            continue
        cells = math.prod(sizes[d] for d in out.dims)
        itemsize = int(out.dtype.itemsize)
        nbytes = cells * itemsize * rows
        chunk_cell_bytes += cells * itemsize
        if "time" in out.dims:
            trajectories += nbytes
            largest = max(largest, nbytes)
            banded.append(cells)
            if len(out.dims) > 2:  # also the bands of its sum over the dims after time
                banded.append(sizes["time"])
        else:
            per_draw += nbytes
    params = scenario.parameters
    n_params = len(params)
    streamed_params = sum(1 for p in params.values()
                          if not (p.dist.kind == "point" and p.share_of is None))
    if options.sampler == "sobol":  # a joint design: every column at once
        at_once = n_params
    else:
        at_once = max((_sampled_with(scenario, name) for name in params), default=0)
    value = 8  # parameters are float64
    in_flight, processes = _in_flight(options.executor)
    chunk_rows = min(options.chunk_size, n) * reps
    chunk = chunk_rows * chunk_cell_bytes
    working = chunk * (CHUNK_COPIES + in_flight)
    working += processes * (chunk * (CHUNK_COPIES + 1) + PROCESS_BYTES)
    if getattr(options.executor, "inner", None) is not None:
        # an executor that keeps every chunk it ran (ReuseChunks: a run to a precision)
        working += trajectories + per_draw
    first = chunk_rows  # the summary's pilot: whole first chunks up to PILOT_ROWS rows
    pilot_rows = min(rows, -(-exact_quantiles.PILOT_ROWS // first) * first)
    summary = 0
    for cells in banded:
        bins = summary_bins(cells, rows)
        summary += cells * pilot_rows * 8 + 2 * cells * (bins + 3) * 8
    if banded:
        summary += max(banded) * pilot_rows * 8  # the pilot being studied, reordered
        # the pass-1 windows: the share of the sample around each quantile, at most
        # WINDOW_BUDGET values
        share = _window_share(scenario.quantiles, pilot_rows, summary_bins(max(banded), rows))
        summary += WINDOW_BYTES_PER_VALUE * min(ExactQuantiles.WINDOW_BUDGET,
                                                math.ceil(share * rows * sum(banded)))
    file = trajectories + per_draw + n_params * n * value
    return MemoryEstimate(draws=n, trajectories=trajectories, largest_output=largest,
                          per_draw=per_draw, parameters=n_params * n * value,
                          parameters_streamed=streamed_params * n * value,
                          sampling=2 * at_once * n * value, chunk=working, summary=summary,
                          file=file)


def _window_share(quantiles: tuple[float, ...], pilot_rows: int, bins: int) -> float:
    """The share of a cell's values the pass-1 windows hold: +-(5 standard errors + 5)
    pilot ranks around each quantile (the Monte Carlo standard errors' levels lie inside
    their band's window), widened to whole bins (one more bin each side).

    >>> round(_window_share((0.05, 0.5, 0.95), 16384, 512), 3)
    0.087
    """
    m = max(pilot_rows, 1)
    share = sum(2 * (5 * math.sqrt(q * (1 - q) / m) + 5 / m) + 2 / bins for q in quantiles)
    return min(1.0, share)


def _sampled_with(scenario: Scenario, name: str) -> int:
    """How many parameters are sampled together with *name* (its correlated group and the
    parents it is capped by), as :func:`~threatsim.engine.plan.sample_lean` does."""
    params = scenario.parameters
    p = params[name]
    group = list(p.correlated.names) if p.correlated is not None else [name]
    need = set(group)
    for member in group:
        cur = params.get(member)
        while cur is not None and cur.share_of is not None and cur.share_of not in need:
            need.add(cur.share_of)
            cur = params.get(cur.share_of)
    return len(need)

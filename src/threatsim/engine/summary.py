"""A run's summary from streamed chunks: bands, P(= 0), per-draw outputs, in bounded memory.

:class:`StreamingSummary` keeps, for every output with a ``time`` dim, its
exact quantile bands over the sample (:mod:`threatsim.engine.exact_quantiles`)
and never the trajectories. It drives its own passes over the run's chunks
(:meth:`StreamingSummary.collect`) through a :class:`ChunkSource`, which says
how the chunks are had: computed on an executor and reduced where they ran
(each pass's :class:`SummaryPass` travels out, a :class:`SummaryPartial` back),
or whole (read back from a file or checkpoint).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

import numpy as np
import xarray as xr

from threatsim.engine import exact_quantiles
from threatsim.engine.exact_quantiles import ExactQuantiles
from threatsim.engine.quantile_passes import (
    Collected,
    CollectPass,
    Counted,
    CountPass,
    reduce_chunk,
)
from threatsim.inputs.scenario import RunSettings, Scenario
from threatsim.models.registry import get_model
from threatsim.results import Posterior, to_dataset
from threatsim.stats.binning import zeros_per_column
from threatsim.stats.mcse import mcse_levels

__all__ = ["ChunkSource", "StagedSource", "StreamingSummary", "SummaryPartial", "SummaryPass",
           "reduce_for_pass", "summary_bins"]


def summary_bins(cells: int, rows: int) -> int:
    """Bins per cell of a summary's counts: as few as keep each bin small.

    Every chunk's counts (cells x bins) travel from where it ran and are added
    up on the client, so they cost in proportion to the bins, and for nothing:
    the pilot's windows (+-5 standard errors around each quantile, a few
    percent of the values) stay many bins wide with 512 bins, and the bin a
    second pass collects holds about ``rows / bins`` values, which 8,192 rows per
    bin keeps small. At most 8,192 bins, and counts under 2**21 per output
    (16 MiB) for outputs with many cells; at least 512.
    W2's people by compartment (427 cells, 166,667 draws): 512 bins, a chunk's
    counts 0.4 MB instead of 3.5 MB.

    >>> summary_bins(61, 1_000_000), summary_bins(5_000, 100)
    (512, 512)
    """
    by_memory = 2 ** int(np.log2(2**21 / max(cells, 1)))
    by_rows = 2 ** int(np.ceil(np.log2(max(rows, 1) / 8192))) if rows > 8192 else 1
    return int(min(8192, max(512, min(by_memory, by_rows))))



def _as_sample(arr: np.ndarray, lead: int) -> np.ndarray:
    """(n[, R], *cell) -> (n*R, cells)."""
    arr = np.asarray(arr)
    rows = int(np.prod(arr.shape[:lead]))
    if arr.ndim == 2:  # (draw, time): any layout will do, no copy
        return arr
    # Models record months with the draws last: (cells, rows) in memory, seen as a
    # (rows, cells) view without copying (the binning reads either layout).
    moved = np.moveaxis(arr, list(range(lead)), list(range(-lead, 0)))
    if moved.flags.c_contiguous:
        return moved.reshape(-1, rows).T
    return np.ascontiguousarray(arr).reshape(rows, -1)


def _total(arr: np.ndarray, lead: int) -> np.ndarray:
    """Sum over the dims after time, as ``DataArray.sum`` does (NaN skipped for floats)."""
    axes = tuple(range(lead + 1, arr.ndim))
    total: np.ndarray
    if arr.dtype.kind == "f":  # the order of a float sum matters: always the same one
        total = np.nansum(np.ascontiguousarray(arr), axis=axes)
    else:
        total = np.sum(arr, axis=axes)  # integers: exact in any order, no copy first
    return total


@dataclass(frozen=True, slots=True)
class SummaryPass:
    """What every chunk is reduced to in one pass of a summary: small, picklable.

    ``banded``: band key -> (output, whether it is the sum over the dims after
    ``time``); ``quant``: band key -> that band's pass (None: its quantiles are
    known). The first pass also takes the per-draw outputs and the zeros.

    >>> spec = SummaryPass(first=True, lead=1, banded={"reserves": ("reserves", False)},
    ...                    per_draw=[], quant={})
    >>> reduce_for_pass({"reserves": np.array([[0.0, 5.0], [0.0, 0.0]])}, spec).zeros
    {'reserves': array([2, 1])}
    """

    first: bool
    lead: int
    banded: dict[str, tuple[str, bool]]
    per_draw: list[str]
    quant: dict[str, CountPass | CollectPass | None]


@dataclass(frozen=True, slots=True)
class SummaryPartial:
    """One chunk's part of a :class:`SummaryPass` (see :func:`reduce_for_pass`).

    >>> spec = SummaryPass(first=True, lead=1, banded={}, per_draw=["m"], quant={})
    >>> part = reduce_for_pass({"m": np.array([3.0, 4.0])}, spec)
    >>> isinstance(part, SummaryPartial), part.zeros, part.quant
    (True, {}, {})
    """

    per_draw: dict[str, np.ndarray] = field(default_factory=dict)
    zeros: dict[str, np.ndarray] = field(default_factory=dict)
    quant: dict[str, Counted | Collected] = field(default_factory=dict)


def reduce_for_pass(result: Mapping[str, np.ndarray], spec: SummaryPass) -> SummaryPartial:
    """One chunk's contribution to the pass *spec* describes: small, picklable.

    Runs where the chunk was computed (a dask worker), so that only bin
    counts, a few selected values and the per-draw outputs travel.

    >>> spec = SummaryPass(first=True, lead=1, banded={}, per_draw=["m"], quant={})
    >>> reduce_for_pass({"m": np.array([3.0, 4.0])}, spec).per_draw["m"]
    array([3., 4.])
    """
    lead = spec.lead
    out = SummaryPartial()
    if spec.first:
        out.per_draw.update({n: np.asarray(result[n]) for n in spec.per_draw})
    for key, (name, total) in spec.banded.items():
        qspec = spec.quant.get(key)
        if not spec.first and qspec is None:
            continue
        arr = result[name]
        if total:
            arr = _total(arr, lead)
        x = _as_sample(arr, lead)
        if spec.first:
            out.zeros[key] = zeros_per_column(x)
        if qspec is not None:
            out.quant[key] = reduce_chunk(x, qspec)
    return out


def _narrowing_stops(start: int, n_chunks: int, per_chunk: int) -> list[int]:
    """Chunks after which pass 1 narrows its windows: where 4, 16, 64, ... pilots' rows
    have been counted, while at least as many rows are still to come (each narrowing
    halves a window; the values it keeps then cost less than a stretch's barrier).

    >>> _narrowing_stops(1, 62, 16384), _narrowing_stops(1, 610, 16384)
    ([4, 16], [4, 16, 64, 256])
    """
    stops: list[int] = []
    rows = 4 * exact_quantiles.PILOT_ROWS
    while True:
        stop = -(-rows // per_chunk)
        if 2 * stop > n_chunks:
            return stops
        if stop > start and (not stops or stop > stops[-1]):
            stops.append(stop)
        rows *= 4


class ChunkSource(Protocol):
    """How a summary gets the run's chunks: :meth:`StreamingSummary.collect` drives it.

    >>> import contextlib
    >>> from threatsim.engine.plan import run_chunk
    >>> class Computed:  # every chunk whole, computed here in each pass
    ...     reduces = False
    ...     def __init__(self, plan):
    ...         self.plan, self.n_chunks = plan, plan.n_chunks
    ...     def passing(self, number):
    ...         return contextlib.nullcontext()
    ...     def whole(self, indices):
    ...         return (run_chunk(self.plan.task(i)) for i in indices)
    ...     def reduced(self, indices, spec):
    ...         raise NotImplementedError("whole chunks only")
    >>> import threatsim
    >>> from threatsim.engine.options import RunOptions
    >>> from threatsim.engine.plan import Plan
    >>> sc = threatsim.load_scenario("scenarios/financing.toml")
    >>> opts = RunOptions.build(sc, draws=200, chunk_size=100)
    >>> source: ChunkSource = Computed(Plan.for_run(sc, opts))
    >>> StreamingSummary(sc, opts.settings).collect(source).needs_pass
    False
    """

    #: Chunks in the run.
    n_chunks: int
    #: Whether chunks are computed and can be reduced where they run
    #: (:meth:`reduced`); a source that only reads them back gives them whole.
    reduces: bool

    def passing(self, number: int) -> AbstractContextManager[None]:
        """Around pass *number* over the chunks (its progress; what it leaves held)."""
        ...

    def whole(self, indices: Sequence[int]) -> Iterator[tuple[int, Mapping[str, np.ndarray]]]:
        """The results of chunks *indices*, whole (in index order where computed for a
        pilot; in any order otherwise)."""
        ...

    def reduced(self, indices: Sequence[int], spec: SummaryPass,
                ) -> Iterator[tuple[int, SummaryPartial]]:
        """Chunks *indices* reduced for *spec* where they run, in any order."""
        ...


class StagedSource(ChunkSource, Protocol):
    """A :class:`ChunkSource` whose pass 1 goes on across its narrowings (a cluster's:
    :class:`~threatsim.engine.streamed_run.ExecutorChunks`), ``stages`` true."""

    #: Whether it stages pass 1 (:meth:`reduced_staged`); a plain source need not say.
    stages: bool
    #: How many chunks may be on their way while the caller narrows.
    lag: int

    def reduced_staged(self, start: int, version: Callable[[int], int],
                       specs: Sequence[SummaryPass]) -> Iterator[tuple[int, SummaryPartial]]:
        """Chunks *start*.. reduced by ``specs[version(i)]``, each sent once its spec is
        in *specs* (the caller appends them), in any order."""
        ...


class StreamingSummary:
    """Bands, P(= 0) and per-draw outputs of a run, from streamed chunks.

    For each output with a ``time`` dim: exact quantile bands over ``draw``
    and ``replicate`` (named like the output, dims ``quantile, time, ...``),
    and for stock outputs the share of the sample at exactly 0
    (``p_zero_<name>``). Outputs with dims beyond ``time`` (e.g. ``region``)
    also get ``<name>_sum``: the bands of their sum over those dims (what
    the printed table and the fan chart show for such outputs). Per-draw outputs (no time dim)
    are kept whole. The sampled parameters are kept as in a full run.

    >>> import contextlib, threatsim
    >>> from threatsim.engine.options import RunOptions
    >>> from threatsim.engine.plan import Plan, run_chunk
    >>> class Computed:  # a ChunkSource: every chunk whole, computed here
    ...     reduces = False
    ...     def __init__(self, plan):
    ...         self.plan, self.n_chunks = plan, plan.n_chunks
    ...     def passing(self, number):
    ...         return contextlib.nullcontext()
    ...     def whole(self, indices):
    ...         return (run_chunk(self.plan.task(i)) for i in indices)
    ...     def reduced(self, indices, spec):
    ...         raise NotImplementedError
    >>> sc = threatsim.load_scenario("scenarios/financing.toml")
    >>> opts = RunOptions.build(sc, draws=200, chunk_size=100)
    >>> plan = Plan.for_run(sc, opts)
    >>> ds = StreamingSummary(sc, opts.settings).collect(Computed(plan)).dataset(plan.params)
    >>> ds["reserves"].dims, ds["p_zero_reserves"].dims
    (('quantile', 'time'), ('time',))
    """

    def __init__(self, scenario: Scenario, settings: RunSettings,
                 quantiles: Sequence[float] | None = None, *,
                 posterior: Posterior | None = None, **quantile_options: Any) -> None:
        self.scenario = scenario
        self.posterior = posterior
        self.settings = settings
        self.qs = list(quantiles if quantiles is not None else scenario.quantiles)
        model = get_model(scenario.model)
        self.decls = {o.name: o for o in model.info.outputs}
        self.reps = settings.replicates
        self.lead = 2 if self.reps > 1 else 1
        self.banded: dict[str, tuple[str, bool]] = {}  # key -> (output, is_total)
        self.quant: dict[str, ExactQuantiles] = {}
        self.zeros: dict[str, np.ndarray] = {}
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.per_draw: dict[str, np.ndarray] = {}
        self._opts = quantile_options
        #: Rows after which pass 1 first narrows its windows (None: it never does).
        self._narrows_from: int | None = None
        self.pass_no = 1
        self.rows = 0

    @property
    def needs_pass(self) -> bool:
        return self.pass_no == 1 or any(q.needs_pass for q in self.quant.values())

    def _setup(self, result: Mapping[str, np.ndarray]) -> None:
        n = self.settings.draws
        for name in self.scenario.variables:
            decl, arr = self.decls[name], result[name]
            if "time" not in decl.dims:
                self.per_draw[name] = np.empty((n, *arr.shape[1:]), dtype=arr.dtype)
                continue
            cell_shape = arr.shape[self.lead:]
            self.banded[name] = (name, False)
            self.shapes[name] = cell_shape
            if len(cell_shape) > 1:
                total = f"{name}_sum"
                while total in self.decls:
                    total += "_"
                self.banded[total] = (name, True)
                self.shapes[total] = cell_shape[:1]
        for key in self.banded:
            cells = int(np.prod(self.shapes[key]))
            opts = dict(self._opts)
            if "bins" not in opts:
                opts["bins"] = summary_bins(cells, self.settings.draws * self.reps)
            # the bands, then the levels that bracket each by one Monte Carlo standard
            # error: exact quantiles too, inside the bands' own windows
            self.quant[key] = ExactQuantiles(cells, [*self.qs, *self._mcse_levels()], **opts)
            self.quant[key].expected_rows = self.settings.draws * self.reps
            self.quant[key].narrows_from = self._narrows_from
            self.zeros[key] = np.zeros(cells, dtype=np.int64)

    def _mcse_levels(self) -> list[float]:
        """For each band q, the two probabilities :func:`mcse_levels` gives for a cell
        with every row non-NaN (all lows, then all highs)."""
        pairs = [mcse_levels(self.settings.draws * self.reps, q) for q in self.qs]
        return [float(a) for a, _ in pairs] + [float(b) for _, b in pairs]

    def _band_and_mcse(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """``(Q, C)`` bands and their Monte Carlo standard errors: half the distance
        between the sample's quantiles at the two bracketing levels, as
        :func:`threatsim.analysis.convergence.mcse_quantile` gives from every draw.
        NaN for a cell with NaN rows (its levels would be those of fewer rows) or
        fewer than 2 rows."""
        eq = self.quant[key]
        values, nq = eq.result(), len(self.qs)
        se = (values[2 * nq:] - values[nq:2 * nq]) / 2
        rows = self.settings.draws * self.reps
        assert eq.n is not None
        se[:, (np.asarray(eq.n) != rows) | (rows < 2)] = np.nan
        return values[:nq], se

    def _samples(self, result: Mapping[str, np.ndarray]) -> Iterable[tuple[str, np.ndarray]]:
        for key, (name, total) in self.banded.items():
            arr = result[name]
            if total:
                arr = _total(arr, self.lead)
            yield key, _as_sample(arr, self.lead)

    def collect(self, source: ChunkSource) -> StreamingSummary:
        """Every pass over *source*'s chunks, until every band is known; returns self.

        Pass 1 needs whole chunks until every pilot is full (the first ones,
        in index order, so that the passes do not depend on which chunk
        finished first); then, and in every later pass, a source that
        computes the chunks reduces them where they run.
        """
        n = source.n_chunks
        with source.passing(1):
            if not source.reduces:
                for index, result in source.whole(range(n)):
                    self._feed(index, result)
            else:
                # As many whole chunks as it takes to fill the pilot, run at once (every
                # worker busy); then one more at a time if a pilot is still short (rare).
                per_chunk = self.settings.chunk_size * self.reps
                first = min(n, max(1, -(-exact_quantiles.PILOT_ROWS // per_chunk)))
                stops = _narrowing_stops(first, n, per_chunk)
                # windows too wide for the budget at first may fit it once narrowed
                self._narrows_from = stops[0] * per_chunk if stops else None
                pos = 0
                while pos < n and self._pass_spec() is None:
                    batch = range(pos, min(n, pos + first)) if pos == 0 else range(pos, pos + 1)
                    for index, result in source.whole(batch):
                        self._feed(index, result)
                    pos = batch[-1] + 1
                if getattr(source, "stages", False) and pos < n:
                    self._count_staged(cast(StagedSource, source), pos,
                                       _narrowing_stops(pos, n, per_chunk))
                    pos = n
                # The rest in stretches: after each, the windows shrink to where the
                # counts so far put the quantiles (ExactQuantiles.narrow_windows).
                for stop in [*_narrowing_stops(pos, n, per_chunk), n]:
                    if pos >= n:
                        break
                    spec = self._pass_spec()
                    assert spec is not None
                    for index, partial in source.reduced(range(pos, stop), spec):
                        self._merge(index, partial)
                    pos = stop
                    if pos < n:
                        for q in self.quant.values():
                            q.narrow_windows()
        self._end_pass()
        while self.needs_pass:
            with source.passing(self.pass_no):
                if source.reduces:
                    spec = self._pass_spec()
                    assert spec is not None
                    for index, partial in source.reduced(range(n), spec):
                        self._merge(index, partial)
                else:
                    for index, result in source.whole(range(n)):
                        self._feed(index, result)
            self._end_pass()
        return self

    def _count_staged(self, source: StagedSource, pos: int, stops: list[int]) -> None:
        """Pass 1 after its pilot without a barrier at each narrowing: the windows
        narrow at *stops* from the counts of exactly the chunks before each (as in
        stretches), while the next ``source.lag`` chunks, already on their way, are
        reduced with the windows before it and cut to the narrowed ones here
        (:meth:`ExactQuantiles.cut_to_windows`). Which spec reduces which chunk
        depends only on its index, so the windows, hence the passes, do not depend on
        the order the chunks finish in."""
        n, lag = source.n_chunks, source.lag
        first = self._pass_spec()
        assert first is not None
        specs = [first]
        starts = [s + lag for s in stops]  # chunk index from which spec v + 1 reduces

        def version(index: int) -> int:
            return int(np.searchsorted(starts, index, side="right"))

        merged = np.zeros(n, dtype=bool)
        merged[:pos] = True
        below = pos  # every chunk before it merged
        early: dict[int, SummaryPartial] = {}  # past the next stop, before it narrows

        def merge(index: int, partial: SummaryPartial) -> None:
            nonlocal below
            made, now = specs[version(index)], specs[-1]
            if made is not now:
                for key, part in partial.quant.items():
                    if isinstance(part, Counted) and made.quant.get(key) is not now.quant.get(key):
                        partial.quant[key] = self.quant[key].cut_to_windows(part)
            self._merge(index, partial)
            merged[index] = True
            while below < n and merged[below]:
                below += 1

        for index, partial in source.reduced_staged(pos, version, specs):
            if len(specs) <= len(stops) and index >= stops[len(specs) - 1]:
                early[index] = partial  # merged once the narrowing before it is done
                continue
            merge(index, partial)
            while len(specs) <= len(stops) and below >= stops[len(specs) - 1]:
                for q in self.quant.values():
                    q.narrow_windows()
                spec = self._pass_spec()
                assert spec is not None
                specs.append(spec)
                nxt = stops[len(specs) - 1] if len(specs) <= len(stops) else n
                for i in sorted(i for i in early if i < nxt):
                    merge(i, early.pop(i))
        assert not early, "a staged pass left chunks unmerged"
        assert below == n, "a staged pass lost chunks"

    def _feed(self, index: int, result: Mapping[str, np.ndarray]) -> None:
        """Add the whole result of chunk *index* (any order)."""
        if self.pass_no == 1:
            if not self.quant and not self.per_draw:
                self._setup(result)
            cs, n = self.settings.chunk_size, self.settings.draws
            lo, hi = index * cs, min(n, (index + 1) * cs)
            for name, buf in self.per_draw.items():
                buf[lo:hi] = result[name]
        for key, x in self._samples(result):
            q = self.quant[key]
            if self.pass_no == 1:
                self.zeros[key] += np.count_nonzero(x == 0, axis=0)
            if q.needs_pass:
                q.feed(x)

    def _pass_spec(self) -> SummaryPass | None:
        """What each chunk is reduced to in this pass (see :func:`reduce_for_pass`).

        ``None`` while whole chunks are still needed (the first, to learn the
        shapes; the pilots of pass 1).
        """
        if not self.quant and not self.per_draw:
            return None
        qspecs: dict[str, CountPass | CollectPass | None] = {}
        for key, q in self.quant.items():
            sp = q.spec() if q.needs_pass else None
            if q.needs_pass and sp is None:
                return None
            qspecs[key] = sp
        return SummaryPass(first=self.pass_no == 1, lead=self.lead, banded=dict(self.banded),
                           per_draw=list(self.per_draw), quant=qspecs)

    def _merge(self, index: int, partial: SummaryPartial) -> None:
        """Add chunk *index*'s :func:`reduce_for_pass` result of the current pass."""
        if self.pass_no == 1:
            cs, n = self.settings.chunk_size, self.settings.draws
            lo, hi = index * cs, min(n, (index + 1) * cs)
            for name, arr in partial.per_draw.items():
                self.per_draw[name][lo:hi] = arr
            for key, z in partial.zeros.items():
                self.zeros[key] += z
        for key, part in partial.quant.items():
            self.quant[key].merge(part)

    def _end_pass(self) -> None:
        """Close a pass over all chunks."""
        for q in self.quant.values():
            if q.needs_pass:
                q.end_pass()
        self.pass_no += 1

    def dataset(self, params: Mapping[str, np.ndarray]) -> xr.Dataset:
        """The summary Dataset (see the class docstring): *params* are the run's sampled
        parameters, kept as in a full run."""
        sc, st = self.scenario, self.settings
        n = st.draws
        placeholders: dict[str, np.ndarray] = {}
        for name in sc.variables:
            if name in self.per_draw:
                placeholders[name] = self.per_draw[name]
            else:
                shape = (n, *((self.reps,) if self.reps > 1 else ()), *self.shapes[name])
                placeholders[name] = np.broadcast_to(np.zeros((), dtype=np.float64), shape)
        full = to_dataset(sc, placeholders, params, st, posterior=self.posterior)
        total_rows = n * self.reps
        new_vars: dict[str, xr.Variable] = {}
        for key, (name, is_total) in self.banded.items():
            template = full[name]
            cell_dims = template.dims[self.lead:]
            if is_total:
                cell_dims = ("time",)
            shape = self.shapes[key]
            bands, se = self._band_and_mcse(key)
            values = bands.reshape(len(self.qs), *shape)
            attrs = dict(template.attrs)
            summed = ", ".join(map(str, template.dims[self.lead + 1:]))
            what = f"sum over {summed}, " if is_total else ""
            attrs["summary"] = (f"{what}quantiles over draw and replicate, exact "
                                "(streamed, bounded memory)")
            new_vars[key] = xr.Variable(("quantile", *cell_dims), values, attrs=attrs)
            new_vars[f"mcse_{key}"] = xr.Variable(
                ("quantile", *cell_dims), se.reshape(len(self.qs), *shape),
                attrs={"units": attrs.get("units", ""),
                       "long_name": f"Monte Carlo standard error of the {key} bands"})
            if attrs.get("kind") == "stock":
                pz = (self.zeros[key] / total_rows).reshape(shape)
                new_vars[f"p_zero_{key}"] = xr.Variable(
                    cell_dims, pz, attrs={"units": "probability",
                                          "long_name": f"P({key} == 0)"})
        ds = full.drop_vars(list(self.banded.keys() & set(full.data_vars)))
        ds = ds.assign_coords(quantile=("quantile", np.asarray(self.qs, dtype=np.float64)))
        ds = ds.assign(new_vars)
        ds.attrs["keep"] = "summary"
        return ds


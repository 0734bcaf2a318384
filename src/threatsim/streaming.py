"""Bounded memory: bands from streamed chunks, and trajectories streamed to disk.

Exact quantiles without holding the sample
------------------------------------------
:class:`ExactQuantiles` returns, for every cell of an output (a month, or a
month and a region), exactly what ``numpy.nanquantile`` (and so
:func:`threatsim.results.bands`, through xarray) returns on the whole sample,
bit for bit, while holding only a bounded amount of memory. It needs the
chunks more than once; chunk streams are deterministic, so the engine simply
recomputes them (or reads them back from the file or checkpoint).

* Pass 1 keeps the first ``pilot_rows`` values of each cell; from their order
  statistics it fixes, per cell, a range that holds the requested quantiles
  with overwhelming probability, cut into ``bins`` equal bins (plus an
  underflow, an overflow and a NaN bin). It then counts, exactly, the values
  of every chunk in each bin.
* The counts give the number of non-NaN values and, for each order statistic
  the linear interpolation needs (ranks ``floor((n-1) q)`` and the next), the
  bin holding it and how many values lie below that bin.
* Pass 2 keeps only the values that fall in those bins, as distinct values
  with counts (so ties, e.g. many exact zeros, cost one entry) and selects the
  order statistics exactly. numpy's interpolation formula is then applied.
* If a bin turns out to hold more than ``cap`` distinct values (a pilot that
  was far off), its exact minimum and maximum are known after pass 2; further
  passes split that interval by the order-preserving integer key of the
  floats (``2**13`` sub-intervals per pass, so at most a few extra passes)
  until it fits. The answer is exact in every case; only the number of passes
  varies.

Memory: per output, ``cells x (bins + 3)`` counts, the pilot
(``pilot_rows x cells``), and at most ``cap`` distinct values per order
statistic, whatever the number of draws.

Streaming draws to NetCDF
-------------------------
:class:`NetCDFSink` writes every trajectory to a NetCDF file as chunks finish
(in any order), under a temporary name renamed at the end, so an interrupted
run leaves no partial file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from threatsim.models import get_model

if TYPE_CHECKING:
    from threatsim.scenario import RunSettings, Scenario

__all__ = ["ExactQuantiles", "NetCDFSink", "StreamingSummary", "float_keys", "key_floats",
           "quantile_ranks"]

#: Values per cell kept in pass 1 to place the bins (a larger sample needs 2+ passes).
PILOT_ROWS = 16384

_SIGN = np.uint64(0x8000_0000_0000_0000)
_LOW63 = np.uint64(0x7FFF_FFFF_FFFF_FFFF)


def float_keys(x: np.ndarray) -> np.ndarray:
    """Order-preserving ``uint64`` keys of float64 values (NaN: the largest key)."""
    u = np.ascontiguousarray(x, dtype=np.float64).view(np.uint64)
    neg = u >> np.uint64(63)
    keys = u ^ ((neg * _LOW63) | _SIGN)
    nan = np.isnan(x)
    if nan.any():
        keys[nan] = np.uint64(0xFFFF_FFFF_FFFF_FFFF)
    return keys


def key_floats(k: np.ndarray) -> np.ndarray:
    """Inverse of :func:`float_keys` (for non-NaN keys)."""
    k = np.asarray(k, dtype=np.uint64)
    pos = k >> np.uint64(63)  # 1 for keys of non-negative floats
    u = np.where(pos == 1, k ^ _SIGN, ~k)
    return u.view(np.float64)


def quantile_ranks(n: np.ndarray, qs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """numpy's ``linear`` method: the two order statistics and the weight.

    For counts *n* (shape ``(C,)``) and quantiles *qs* (``(Q,)``) returns
    ``prev``, ``next`` (int ranks, ``(Q, C)``) and ``gamma`` (float, ``(Q, C)``),
    computed with the same floating-point operations as numpy 2.x's
    ``_quantile`` so that the interpolated result is bit-identical.
    """
    n = np.asarray(n, dtype=np.int64)
    qs = np.asarray(qs, dtype=np.float64)
    virtual = (n[None, :] - 1) * qs[:, None]
    prev = np.floor(virtual)
    nxt = prev + 1
    above = virtual >= (n[None, :] - 1)
    prev[above] = -1
    nxt[above] = -1
    below = virtual < 0
    prev[below] = 0
    nxt[below] = 0
    gamma = virtual - prev  # numpy takes gamma after the bounds fix
    prev_i = prev.astype(np.int64)
    nxt_i = nxt.astype(np.int64)
    last = np.broadcast_to(n[None, :] - 1, prev_i.shape)
    prev_i = np.where(prev_i < 0, last, prev_i)
    nxt_i = np.where(nxt_i < 0, last, nxt_i)
    return prev_i, nxt_i, gamma


def _lerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """numpy's ``_lerp``, operation for operation."""
    with np.errstate(invalid="ignore"):  # inf - inf -> NaN, as numpy gives
        diff = b - a
        out = np.add(a, diff * t)
        np.subtract(b, diff * (1 - t), out=out, where=t >= 0.5)
    return out


@dataclass
class _Group:
    """Order statistics of one cell known to lie in one bin or key interval."""

    cell: int
    ranks: list[int]
    below: int  # non-NaN values strictly before the bin / interval
    bin1: int | None = None  # pass-1 bin index, or None for a key interval
    ka: int = 0
    kb: int = 0
    mode: str = "collect"  # or "hist"
    shift: int = 0
    hist: np.ndarray | None = None
    vals: list[np.ndarray] = field(default_factory=list)
    cnts: list[np.ndarray] = field(default_factory=list)
    raw: int = 0
    aborted: bool = False
    kmin: int | None = None
    kmax: int | None = None
    seen: int = 0


class ExactQuantiles:
    """Exact quantiles of ``C`` cells over a stream of ``(m, C)`` chunks.

    Feed every chunk of the sample with :meth:`feed` during each pass, call
    :meth:`end_pass`, and repeat while :attr:`needs_pass`; then :meth:`result`
    gives ``(Q, C)`` values equal to ``np.nanquantile(sample, qs, axis=0)``.
    """

    def __init__(self, n_cells: int, quantiles: Sequence[float], *, bins: int = 8192,
                 pilot_rows: int | None = None, cap: int = 1 << 16) -> None:
        self.C = n_cells
        self.qs = np.asarray(list(quantiles), dtype=np.float64)
        self.B = bins
        self.pilot_rows = pilot_rows if pilot_rows is not None else PILOT_ROWS
        self.cap = cap
        self.pass_no = 1
        self.needs_pass = True
        self._pilot: list[np.ndarray] | None = []
        self._pilot_n = 0
        self._lo: np.ndarray | None = None
        self._scale: np.ndarray | None = None
        self._counts: np.ndarray | None = None
        self._groups: list[_Group] = []
        self._gid: np.ndarray | None = None  # pass-1 bin (with cell offset) -> group, or -1
        self._offsets = np.zeros(0, dtype=np.int64)
        self._values: dict[tuple[int, int], float] = {}  # (cell, rank) -> value
        self.n: np.ndarray | None = None  # non-NaN count per cell
        self._result: np.ndarray | None = None

    # -- pass 1 ----------------------------------------------------------------
    def _set_edges(self, pilot: np.ndarray) -> None:
        srt = np.sort(pilot, axis=0)  # NaN last
        nn = np.count_nonzero(~np.isnan(pilot), axis=0)
        pmin, pmax = float(self.qs.min()), float(self.qs.max())
        lo = np.zeros(self.C)
        hi = np.ones(self.C)
        for c in np.nonzero(nn)[0]:
            m = int(nn[c])
            spread = lambda p: 5.0 * np.sqrt(m * p * (1 - p)) + 5.0  # noqa: E731
            r_lo = int(np.clip(np.floor(pmin * (m - 1) - spread(pmin)), 0, m - 1))
            r_hi = int(np.clip(np.ceil(pmax * (m - 1) + spread(pmax)), 0, m - 1))
            a, b = float(srt[r_lo, c]), float(srt[r_hi, c])
            if not np.isfinite(a):
                finite = srt[:m, c][np.isfinite(srt[:m, c])]
                a = float(finite[0]) if finite.size else 0.0
            if not np.isfinite(b):
                finite = srt[:m, c][np.isfinite(srt[:m, c])]
                b = float(finite[-1]) if finite.size else a + 1.0
            lo[c], hi[c] = a, max(a, b)
        width = hi - lo
        bad = ~(np.isfinite(width) & (width > 0))
        width[bad] = np.maximum(np.abs(lo[bad]), 1.0)
        scale = self.B / width
        bad = ~(np.isfinite(scale) & (scale > 0))
        lo[bad], scale[bad] = 0.0, 1.0
        self._lo, self._scale = lo, scale
        self._counts = np.zeros((self.C, self.B + 3), dtype=np.int64)
        self._offsets = np.arange(self.C, dtype=np.int64) * (self.B + 3)

    def _bins(self, x: np.ndarray) -> np.ndarray:
        """Pass-1 bin of every value: 0 under, 1..B, B+1 over, B+2 NaN; plus the cell offset."""
        assert self._lo is not None and self._scale is not None
        t = np.subtract(x, self._lo)
        t *= self._scale
        t += 1.0
        np.clip(t, 0.0, float(self.B + 1), out=t)
        nan = np.isnan(t)
        if nan.any():
            t[nan] = self.B + 2
        idx = t.astype(np.int64)  # truncation is floor here: t >= 0
        idx += self._offsets
        return idx

    def _count(self, x: np.ndarray) -> None:
        assert self._counts is not None
        idx = self._bins(x)
        self._counts += np.bincount(idx.ravel(order="K"),
                                    minlength=self.C * (self.B + 3)).reshape(self.C, self.B + 3)

    def feed(self, x: np.ndarray) -> None:
        """Add one chunk of the sample: shape ``(m, C)``."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.C:
            raise ValueError(f"expected (m, {self.C}) values, got {x.shape}")
        if self.pass_no == 1:
            if self._pilot is not None:
                self._pilot.append(x.copy())
                self._pilot_n += x.shape[0]
                if self._pilot_n >= self.pilot_rows:
                    pilot = np.concatenate(self._pilot)
                    self._pilot = None
                    self._set_edges(pilot)
                    self._count(pilot)
                return
            self._count(x)
            return
        self._feed_groups(x)

    def end_pass(self) -> None:
        """Close the current pass; sets :attr:`needs_pass`."""
        if self.pass_no == 1:
            if self._pilot is not None:  # the whole sample fitted in the pilot: done
                sample = (np.concatenate(self._pilot) if self._pilot
                          else np.empty((0, self.C)))
                self._pilot = None
                self._result = self._direct(sample)
                self.needs_pass = False
                return
            self._plan_from_counts()
        else:
            self._close_groups()
        self._gid = None
        self.pass_no += 1
        self.needs_pass = bool(self._groups)

    def _direct(self, sample: np.ndarray) -> np.ndarray:
        if sample.shape[0] == 0:
            return np.full((self.qs.size, self.C), np.nan)
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN cells give NaN
            return np.asarray(np.nanquantile(sample, self.qs, axis=0), dtype=np.float64)

    def _plan_from_counts(self) -> None:
        counts = self._counts
        assert counts is not None
        self.n = counts[:, : self.B + 2].sum(axis=1)
        prev, nxt, _ = quantile_ranks(self.n, self.qs)
        cum = np.cumsum(counts[:, : self.B + 2], axis=1)
        groups: dict[tuple[int, int], _Group] = {}
        for c in range(self.C):
            if self.n[c] == 0:
                continue
            for r in sorted(set(prev[:, c].tolist()) | set(nxt[:, c].tolist())):
                b = int(np.searchsorted(cum[c], r, side="right"))
                g = groups.get((c, b))
                if g is None:
                    below = int(cum[c, b - 1]) if b > 0 else 0
                    g = groups[(c, b)] = _Group(cell=c, ranks=[], below=below, bin1=b)
                g.ranks.append(r)
        self._groups = list(groups.values())

    # -- passes 2+ --------------------------------------------------------------
    def _feed_groups(self, x: np.ndarray) -> None:
        by_bin = [g for g in self._groups if g.bin1 is not None]
        if by_bin:
            if self._gid is None:
                self._gid = np.full(self.C * (self.B + 3), -1, dtype=np.int32)
                for j, g in enumerate(by_bin):
                    assert g.bin1 is not None
                    self._gid[g.cell * (self.B + 3) + g.bin1] = j
            gid = self._gid[self._bins(x)]
            sel = gid >= 0
            gsel, vsel = gid[sel], x[sel]
            order = np.argsort(gsel, kind="stable")
            gsel, vsel = gsel[order], vsel[order]
            cuts = np.searchsorted(gsel, np.arange(len(by_bin) + 1))
            for j, g in enumerate(by_bin):
                if cuts[j] < cuts[j + 1]:
                    self._take(g, vsel[cuts[j]:cuts[j + 1]], None)
        keys: dict[int, np.ndarray] = {}
        for g in self._groups:
            if g.bin1 is not None:
                continue
            k = keys.get(g.cell)
            if k is None:
                k = keys[g.cell] = float_keys(x[:, g.cell])
            mask = (k >= np.uint64(g.ka)) & (k <= np.uint64(g.kb))
            if mask.any():
                self._take(g, x[:, g.cell][mask], k[mask])

    def _take(self, g: _Group, vals: np.ndarray, k: np.ndarray | None) -> None:
        g.seen += vals.size
        if g.mode == "hist":
            assert k is not None and g.hist is not None
            sub = ((k - np.uint64(g.ka)) >> np.uint64(g.shift)).astype(np.int64)
            g.hist += np.bincount(sub, minlength=g.hist.size)
            return
        kk = float_keys(vals) if k is None else k
        lo, hi = int(kk.min()), int(kk.max())
        g.kmin = lo if g.kmin is None else min(g.kmin, lo)
        g.kmax = hi if g.kmax is None else max(g.kmax, hi)
        if g.aborted:
            return
        u, cnt = np.unique(vals, return_counts=True)
        g.vals.append(u)
        g.cnts.append(cnt)
        g.raw += u.size
        if g.raw > 4 * self.cap:
            self._consolidate(g)

    def _consolidate(self, g: _Group) -> None:
        if len(g.vals) > 1:
            allv = np.concatenate(g.vals)
            allc = np.concatenate(g.cnts)
            u, inv = np.unique(allv, return_inverse=True)
            c = np.bincount(inv, weights=allc, minlength=u.size).astype(np.int64)
            g.vals, g.cnts = [u], [c]
        g.raw = g.vals[0].size if g.vals else 0
        if g.raw > self.cap:
            g.aborted = True
            g.vals, g.cnts, g.raw = [], [], 0

    def _close_groups(self) -> None:
        nxt_groups: list[_Group] = []
        for g in self._groups:
            if g.mode == "hist":
                assert g.hist is not None
                cum = np.cumsum(g.hist)
                split: dict[int, _Group] = {}
                for r in g.ranks:
                    sb = int(np.searchsorted(cum, r - g.below, side="right"))
                    ng = split.get(sb)
                    if ng is None:
                        below = g.below + (int(cum[sb - 1]) if sb > 0 else 0)
                        ka = g.ka + (sb << g.shift)
                        kb = min(g.kb, ka + (1 << g.shift) - 1)
                        ng = split[sb] = _Group(cell=g.cell, ranks=[], below=below, ka=ka, kb=kb)
                    ng.ranks.append(r)
                for ng in split.values():
                    if ng.ka == ng.kb:  # one key: one value, known
                        v = float(key_floats(np.array([ng.ka], dtype=np.uint64))[0])
                        for r in ng.ranks:
                            self._values[(ng.cell, r)] = v
                    else:
                        nxt_groups.append(ng)
                continue
            if not g.aborted:
                self._consolidate(g)
            if g.aborted:
                assert g.kmin is not None and g.kmax is not None
                width = g.kmax - g.kmin
                shift = max(0, width.bit_length() - 13)
                ng = _Group(cell=g.cell, ranks=g.ranks, below=g.below, ka=g.kmin, kb=g.kmax,
                            mode="hist", shift=shift,
                            hist=np.zeros((width >> shift) + 1, dtype=np.int64))
                nxt_groups.append(ng)
                continue
            u, c = g.vals[0], g.cnts[0]
            cum = np.cumsum(c)
            for r in g.ranks:
                j = int(np.searchsorted(cum, r - g.below, side="right"))
                self._values[(g.cell, r)] = float(u[j])
        self._groups = nxt_groups

    def result(self) -> np.ndarray:
        """``(Q, C)`` quantiles, equal to ``np.nanquantile(sample, qs, axis=0)``."""
        if self.needs_pass:
            raise RuntimeError("more passes are needed")
        if self._result is not None:
            return self._result
        assert self.n is not None
        prev, nxt, gamma = quantile_ranks(self.n, self.qs)
        a = np.full(prev.shape, np.nan)
        b = np.full(prev.shape, np.nan)
        for c in range(self.C):
            if self.n[c] == 0:
                continue
            for qi in range(self.qs.size):
                a[qi, c] = self._values[(c, int(prev[qi, c]))]
                b[qi, c] = self._values[(c, int(nxt[qi, c]))]
        out = _lerp(a, b, gamma)
        out[:, self.n == 0] = np.nan
        self._result = out
        return out


# -- a run's summary --------------------------------------------------------------------


def _as_sample(arr: np.ndarray, lead: int) -> np.ndarray:
    """(n[, R], *cell) -> (n*R, cells)."""
    arr = np.asarray(arr)
    rows = int(np.prod(arr.shape[:lead]))
    return np.ascontiguousarray(arr).reshape(rows, -1)


def _total(arr: np.ndarray, lead: int) -> np.ndarray:
    """Sum over the dims after time, as ``DataArray.sum`` does (NaN skipped for floats)."""
    arr = np.ascontiguousarray(arr)
    axes = tuple(range(lead + 1, arr.ndim))
    if arr.dtype.kind == "f":
        return np.nansum(arr, axis=axes)
    return np.sum(arr, axis=axes)


class StreamingSummary:
    """Bands, P(= 0) and per-draw outputs of a run, from streamed chunks.

    For each output with a ``time`` dim: exact quantile bands over ``draw``
    and ``replicate`` (named like the output, dims ``quantile, time, ...``),
    and for stock outputs the share of the sample at exactly 0
    (``p_zero_<name>``). Outputs with dims beyond ``time`` (e.g. ``region``)
    also get ``<name>_sum``: the bands of their sum over those dims (what
    the printed table and the fan chart show for such outputs). Per-draw outputs (no time dim)
    are kept whole. The sampled parameters are kept as in a full run.
    """

    def __init__(self, scenario: Scenario, settings: RunSettings,
                 quantiles: Sequence[float] | None = None, **quantile_options: Any) -> None:
        self.scenario = scenario
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
            if "bins" not in opts:  # counts stay under 2**21 per output (16 MiB)
                opts["bins"] = int(min(8192, max(512, 2 ** int(np.log2(2**21 / cells)))))
            self.quant[key] = ExactQuantiles(cells, self.qs, **opts)
            self.zeros[key] = np.zeros(cells, dtype=np.int64)

    def _samples(self, result: Mapping[str, np.ndarray]) -> Iterable[tuple[str, np.ndarray]]:
        for key, (name, total) in self.banded.items():
            arr = result[name]
            if total:
                arr = _total(arr, self.lead)
            yield key, _as_sample(arr, self.lead)

    def feed(self, index: int, result: Mapping[str, np.ndarray]) -> None:
        """Add the result of chunk *index* (any order)."""
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

    def end_pass(self) -> None:
        """Close a pass over all chunks."""
        for q in self.quant.values():
            if q.needs_pass:
                q.end_pass()
        self.pass_no += 1

    def dataset(self, params: Mapping[str, np.ndarray]) -> xr.Dataset:
        """The summary Dataset (see the class docstring)."""
        from threatsim.results import to_dataset

        sc, st = self.scenario, self.settings
        n = st.draws
        placeholders: dict[str, np.ndarray] = {}
        for name in sc.variables:
            if name in self.per_draw:
                placeholders[name] = self.per_draw[name]
            else:
                shape = (n, *((self.reps,) if self.reps > 1 else ()), *self.shapes[name])
                placeholders[name] = np.broadcast_to(np.zeros((), dtype=np.float64), shape)
        full = to_dataset(sc, placeholders, params, st)
        total_rows = n * self.reps
        new_vars: dict[str, xr.Variable] = {}
        for key, (name, is_total) in self.banded.items():
            template = full[name]
            cell_dims = template.dims[self.lead:]
            if is_total:
                cell_dims = ("time",)
            shape = self.shapes[key]
            values = self.quant[key].result().reshape(len(self.qs), *shape)
            attrs = dict(template.attrs)
            what = "sum over " + ", ".join(template.dims[self.lead + 1:]) + ", " if is_total \
                else ""
            attrs["summary"] = (f"{what}quantiles over draw and replicate, exact "
                                "(streamed, bounded memory)")
            new_vars[key] = xr.Variable(("quantile", *cell_dims), values, attrs=attrs)
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


# -- trajectories to NetCDF --------------------------------------------------------------


class NetCDFSink:
    """Writes a run's trajectories to NetCDF as chunks finish (any order).

    The file is written under a temporary name in the target folder and
    renamed by :meth:`commit`; :meth:`abort` (or leaving the ``with`` block
    with an exception) deletes it, so an interrupted run writes nothing.
    Reading the file gives the same Dataset as writing the in-memory run with
    :func:`threatsim.results.write_netcdf`.
    """

    def __init__(self, path: str | os.PathLike[str], scenario: Scenario,
                 settings: RunSettings, params: Mapping[str, np.ndarray]) -> None:
        self.path = Path(path)
        self.scenario, self.settings, self.params = scenario, settings, params
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp",
                                   dir=self.path.parent)
        os.close(fd)
        self.tmp = Path(tmp)
        self._nc: Any = None
        self._vars: dict[str, Any] = {}
        self._template: xr.Dataset | None = None

    def __enter__(self) -> NetCDFSink:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            self.abort()

    def _open(self, result: Mapping[str, np.ndarray]) -> None:
        import netCDF4

        from threatsim.results import to_dataset

        n = self.settings.draws
        views = {k: np.broadcast_to(np.zeros((), dtype=v.dtype), (n, *v.shape[1:]))
                 for k, v in result.items()}
        template = to_dataset(self.scenario, views, self.params, self.settings)
        outputs = list(self.scenario.variables)
        template.drop_vars(outputs).to_netcdf(self.tmp, engine="netcdf4", format="NETCDF4")
        self._nc = netCDF4.Dataset(self.tmp, "a")
        for dim, size in template.sizes.items():
            if dim not in self._nc.dimensions:
                self._nc.createDimension(dim, size)
        for name in outputs:
            da = template[name]
            dtype = da.dtype
            fill = np.nan if dtype.kind == "f" else None
            var = self._nc.createVariable(name, dtype, da.dims, fill_value=fill)
            var.set_auto_mask(False)
            var.setncatts(da.attrs)
            self._vars[name] = var
        self._template = template

    def write(self, index: int, result: Mapping[str, np.ndarray]) -> None:
        """Write the result of chunk *index*."""
        if self._nc is None:
            self._open(result)
        cs, n = self.settings.chunk_size, self.settings.draws
        lo, hi = index * cs, min(n, (index + 1) * cs)
        for name, var in self._vars.items():
            var[lo:hi] = np.asarray(result[name])

    def read(self, index: int) -> dict[str, np.ndarray]:
        """Read back the result of chunk *index* (for a further pass)."""
        cs, n = self.settings.chunk_size, self.settings.draws
        lo, hi = index * cs, min(n, (index + 1) * cs)
        return {name: np.asarray(var[lo:hi]) for name, var in self._vars.items()}

    def commit(self) -> Path:
        """Close the file and give it its final name."""
        if self._nc is not None:
            self._nc.close()
            self._nc = None
        os.replace(self.tmp, self.path)
        return self.path

    def abort(self) -> None:
        """Close and delete the temporary file."""
        if self._nc is not None:
            try:
                self._nc.close()
            except Exception:
                pass
            self._nc = None
        self.tmp.unlink(missing_ok=True)


# -- printing a summary ------------------------------------------------------------------


def summary_series(ds: xr.Dataset) -> list[str]:
    """The banded series of a summary to draw: one per output, region totals when present."""
    return [n for n, v in ds.data_vars.items()
            if v.dims == ("quantile", "time") and not n.startswith("p_zero_")]


def summary_table_of_summary(ds: xr.Dataset, *, quantiles: Sequence[float],
                             report_months: Sequence[int]) -> str:
    """The table ``threatsim run`` prints, from a summary Dataset (``keep="summary"``)."""
    from threatsim.cli import _fmt

    qs = [q for q in quantiles if q in (0.05, 0.5, 0.95)] or list(quantiles)
    lines = [f"scenario {ds.attrs.get('scenario_name')!r} (run {ds.attrs.get('run_id', '')}): "
             f"{ds.attrs.get('draws', 0):,} draws, seed {ds.attrs.get('seed')}, sampler "
             f"{ds.attrs.get('sampler')} (summary kept: exact bands from streamed chunks)"]
    months = [str(np.datetime64(ds.time.values[i], "M")) for i in report_months]
    banded = set(summary_series(ds))
    for name, da in ds.data_vars.items():
        if da.attrs.get("role") == "parameter" or name.startswith("p_zero_"):
            continue
        unit = da.attrs.get("units", "")
        if name in banded:
            sub = da.isel(time=list(report_months)).sel(quantile=qs)
            header = "  ".join(f"{f'{q:.0%}':>10}" for q in qs)
            pz = ds.get(f"p_zero_{name}")
            lines.append(f"\n{name} ({unit})\n  {'month':<8}{header}"
                         + (f"{'P(=0)':>9}" if pz is not None else ""))
            for i, month in enumerate(months):
                row = "  ".join(f"{_fmt(float(sub.isel(time=i).sel(quantile=q)), unit):>10}"
                                for q in qs)
                tail = f"{float(pz.isel(time=report_months[i])):>9.1%}" if pz is not None \
                    else ""
                lines.append(f"  {month:<8}{row}{tail}")
        elif "draw" in da.dims and "time" not in da.dims:
            finite = da.notnull()
            share = float(finite.mean())
            text = f"\n{name} ({unit}): reached in {share:.1%} of draws"
            if share > 0:
                vals = da.where(finite).quantile(qs, dim=list(da.dims)).values
                text += "; when reached: " + ", ".join(
                    f"{q:.0%} {v:,.1f}" for q, v in zip(qs, vals, strict=True))
            lines.append(text)
    return "\n".join(lines)

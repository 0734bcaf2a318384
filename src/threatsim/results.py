"""Results: the Dataset conventions, bands, probabilities and NetCDF I/O.

A run's Dataset has outputs on ``draw`` (and ``replicate`` when a model has
inner replications of chance), ``time`` (real month-start dates) and model
dims such as ``region``; the sampled parameters as variables on ``draw``;
and ``attrs`` holding the resolved scenario, run id, seed, sampler, package
version and the provenance of every parameter (and of every rank correlation
between parameters, when the scenario has ``[[correlations]]``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import os
import shutil
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from threatsim.core.atomic import atomic_path, publish_folder, temp_folder_beside
from threatsim.core.errors import ScenarioError
from threatsim.core.version import __version__
from threatsim.inputs.scenario import RunSettings, Scenario
from threatsim.models.contract import OutputDecl
from threatsim.models.registry import get_model
from threatsim.stats.mcse import mcse_sorted
from threatsim.stats.quantiles import row_quantiles
from threatsim.stats.rows import count_beyond

__all__ = ["COMPRESSION", "DTYPE_ATTR", "SPLIT_DIMS", "Posterior", "bands", "compact",
           "entry_better", "exceedance", "is_zarr_path", "mcse_quantile", "narrowest_int",
           "open_posterior", "open_results", "output_attrs", "posterior_from_dataset",
           "prior_fingerprint", "restore", "sample_dims", "split_entries", "to_dataset",
           "write_netcdf", "write_results", "write_zarr"]

#: Dims that index the Monte Carlo sample (reduced over by bands and probabilities).
SAMPLE_DIMS = ("draw", "replicate")


def output_attrs(decl: OutputDecl) -> dict[str, str]:
    """The attrs an output's variable carries: units, doc, kind, title and which way is
    better (``"none"`` where neither; per compartment as JSON where they differ), so a
    file read back says all that the model declared.

    >>> from threatsim.models.registry import get_model
    >>> decl = {o.name: o for o in get_model("financing").info.outputs}["seized"]
    >>> output_attrs(decl)["better"], output_attrs(decl)["title"]
    ('higher', 'Seized, frozen or found')
    """
    attrs = {"units": decl.unit, "long_name": decl.doc, "kind": decl.kind,
             "title": decl.title, "better": decl.better or "none"}
    if decl.better_by_compartment:
        attrs["better_by_compartment"] = json.dumps(
            {k: v or "none" for k, v in decl.better_by_compartment.items()})
    return attrs


def to_dataset(scenario: Scenario, outputs: Mapping[str, np.ndarray],
               params: Mapping[str, np.ndarray], settings: RunSettings, *,
               posterior: Posterior | None = None) -> xr.Dataset:
    """Label a run's raw arrays with dims, coords, units and provenance.

    A run on a *posterior* records it (:meth:`Posterior.attrs`), and its run id is
    that of the scenario and the posterior together (:meth:`Posterior.run_id`; the
    scenario's own is kept as ``scenario_run_id``).

    >>> from threatsim.inputs.scenario import load_scenario
    >>> from threatsim.engine.runner import run
    >>> sc = load_scenario("scenarios/financing.toml")
    >>> ds = run(sc, draws=20)  # calls to_dataset with the model's outputs
    >>> ds.attrs["run_id"] == sc.run_id, ds["reserves"].dims
    (True, ('draw', 'time'))
    """
    model = get_model(scenario.model)
    decls = {o.name: o for o in model.info.outputs}
    reps = settings.replicates
    lead = ("draw", "replicate") if reps > 1 else ("draw",)
    # A range index: the draw numbers cost nothing until read (10^7 draws as an array of
    # int64 would be 76 MB, a quarter of a summary run's per-draw memory); int64 all the same.
    coords: dict[str, Any] = {"draw": pd.RangeIndex(settings.draws), "time": scenario.time()}
    if reps > 1:
        coords["replicate"] = np.arange(reps)
    data_vars: dict[str, Any] = {}
    for name in scenario.variables:
        decl = decls[name]
        arr = outputs[name]
        data_vars[name] = xr.Variable(
            (*lead, *decl.dims), arr,
            attrs=output_attrs(decl))
        for dim in decl.dims:
            if dim != "time" and dim not in coords:
                coords[dim] = list(model.info.coords[dim])
    provenance = scenario.provenance()
    for name, values in params.items():
        p = scenario.parameters[name]
        data_vars[name] = xr.Variable(("draw",), values, attrs={
            "units": p.unit, "role": "parameter", "dist": p.dist.kind,
            "provenance": provenance[name]})
    attrs = {
        "title": f"threatsim run of scenario {scenario.name!r}",
        "scenario_name": scenario.name,
        "model": scenario.model,
        "run_id": scenario.run_id,
        "resolved_scenario": scenario.resolved_json,
        "seed": settings.seed,
        "sampler": settings.sampler,
        "draws": settings.draws,
        "chunk_size": settings.chunk_size,
        "replicates": reps,
        "threatsim_version": __version__,
        "provenance": json.dumps(provenance, sort_keys=True),
        "start": scenario.month_label(0),
        "horizon_months": scenario.horizon,
    }
    if scenario.correlations:  # only then, so that other runs' attrs stay as they were
        attrs["correlations"] = json.dumps(scenario.correlation_provenance(), sort_keys=True)
    if posterior is not None:
        attrs["scenario_run_id"] = scenario.run_id
        attrs["run_id"] = posterior.run_id(scenario.run_id)
        attrs.update(posterior.attrs())
    return xr.Dataset(data_vars, coords=coords, attrs=attrs)


def sample_dims(da: xr.DataArray | xr.Dataset) -> list[str]:
    """The Monte Carlo dims present in *da* (``draw``, ``replicate``).

    >>> sample_dims(xr.DataArray(np.zeros((2, 3)), dims=("draw", "time")))
    ['draw']
    """
    return [d for d in SAMPLE_DIMS if d in da.dims]


#: Dims whose entries a planner reads one by one, never added up: a population by
#: compartment (active, detained, imprisoned, killed: a sum is only everybody ever
#: counted), returnees by origin group, people by nationality.
SPLIT_DIMS = ("compartment", "origin", "nationality")
#: Split dims whose empty entries (nobody in them, in any draw) are left out.
_SKIP_EMPTY = ("origin", "nationality")


def split_entries(da: xr.DataArray, keep: Sequence[str] = (*SAMPLE_DIMS, "time", "quantile",
                                                           "scenario")
                  ) -> list[tuple[dict[str, str], xr.DataArray]]:
    """*da* entry by entry of its split dims (:data:`SPLIT_DIMS`), the other model dims
    summed: ``[(labels, series)]``; one entry ``({}, total)`` when it has no split dim.

    Entries of origin or nationality with nobody in them are left out.

    >>> da = xr.DataArray(np.ones((2, 3, 2), dtype=int), dims=("draw", "region", "compartment"),
    ...                   coords={"compartment": ["active", "detained"]})
    >>> [(labels, int(part.sum())) for labels, part in split_entries(da)]
    [({'compartment': 'active'}, 6), ({'compartment': 'detained'}, 6)]
    """
    splits = [d for d in SPLIT_DIMS if d in da.dims]
    extra = [d for d in da.dims if d not in (*keep, *splits)]
    total = da.sum(extra, keep_attrs=True, skipna=False) if extra else da
    if not splits:
        return [({}, total)]
    parts = []
    for combo in itertools.product(*(da[s].values for s in splits)):
        labels = {s: str(c) for s, c in zip(splits, combo, strict=True)}
        parts.append((labels, total.sel(labels, drop=True)))
    if any(s in _SKIP_EMPTY for s in splits):
        parts = [(labels, part) for labels, part in parts if bool(part.fillna(0).any())]
    return parts


def entry_better(da: xr.DataArray, labels: Mapping[str, str]) -> str:
    """Which way is better for one entry of *da* (:func:`split_entries`): its compartment's
    declared direction where the model gives one, else the output's; ``"none"`` where
    neither way is.

    >>> da = xr.DataArray([0], dims="compartment", coords={"compartment": ["active"]},
    ...                   attrs={"better": "none", "better_by_compartment": '{"active": "lower"}'})
    >>> entry_better(da, {"compartment": "active"}), entry_better(da, {})
    ('lower', 'none')
    """
    overall = str(da.attrs.get("better", "none") or "none")
    if "compartment" not in labels:
        return overall
    by = json.loads(str(da.attrs.get("better_by_compartment", "{}")) or "{}")
    return str(by.get(labels["compartment"], overall) or "none")


def bands(da: xr.DataArray, quantiles: Sequence[float] = (0.05, 0.5, 0.95), *,
          workers: int = 1) -> xr.DataArray:
    """Quantile bands over the Monte Carlo sample, with a ``quantile`` dim.

    *workers* threads share the months and entries out (the run's ``--workers``,
    say); the bands are the same whatever their number.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> da = xr.DataArray(np.arange(101.0), dims="draw")
    >>> bands(da, [0.05, 0.5]).values.tolist()
    [5.0, 50.0]
    """
    qs = list(quantiles)
    if not qs or any(not 0 <= q <= 1 for q in qs):
        raise ScenarioError("must be quantiles in [0, 1]", key="quantiles", value=qs)
    dims = sample_dims(da)
    if not dims:
        raise ScenarioError("has no draw dim to take bands over", key="variable",
                            value=da.name)
    other = [d for d in da.dims if d not in dims]
    arr = da.transpose(*other, *dims).values
    rows = arr.reshape(-1, int(np.prod([da.sizes[d] for d in dims])))
    with warnings.catch_warnings():
        # Flows have no value at the first time point (NaN on every draw).
        warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)
        values = row_quantiles(rows, qs, workers=workers)
    coords = {name: c for name, c in da.coords.items() if not set(c.dims) & set(dims)}
    coords["quantile"] = qs
    return xr.DataArray(values.reshape(len(qs), *[da.sizes[d] for d in other]),
                        dims=("quantile", *other), coords=coords, attrs=da.attrs, name=da.name)


def exceedance(da: xr.DataArray, *, below: float | None = None,
               above: float | None = None, workers: int = 1) -> xr.DataArray:
    """Probability, over the Monte Carlo sample, that *da* is below / above a level.

    Exactly one of ``below`` (strictly less than) and ``above`` (strictly
    greater than) is given. NaN values (e.g. "never depleted") count as not
    meeting the condition. *workers* threads share the months and entries out.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> da = xr.DataArray([0.0, 50.0, 150.0, 250.0], dims="draw")
    >>> float(exceedance(da, below=100.0))
    0.5
    >>> exceedance(da.isel(draw=0), below=100.0)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    threatsim.core.errors.ScenarioError: variable has no draw dim to count ...
    """
    if (below is None) == (above is None):
        raise ScenarioError("give exactly one of below= or above=", key="exceedance",
                            value={"below": below, "above": above})
    dims = sample_dims(da)
    if not dims:  # a summary's bands, or one draw's values: no sample to count over
        raise ScenarioError("has no draw dim to count a probability over (a summary Dataset "
                            "holds bands, not draws: run with keep='draws', or read "
                            "P(= 0) from its p_zero_<name> variables)", key="variable",
                            value=da.name)
    level = below if below is not None else above
    assert level is not None  # exactly one of the two, checked above
    n = int(np.prod([da.sizes[d] for d in dims]))
    other = [d for d in da.dims if d not in dims]
    rows = None
    if da.chunks is None:  # in memory (a dask-backed file is counted lazily, below)
        arr = da.transpose(*other, *dims).values
        try:  # the draws along rows, without a copy (a run's outputs are stored draws-last)
            rows = np.reshape(arr, (-1, n), copy=False)
        except ValueError:
            rows = None
    if rows is not None and rows.dtype.kind in "fiu":
        # Count, then divide: a mean over booleans would first cast every element to float.
        counts = count_beyond(rows, level, below=below is not None, workers=workers)
        coords = {name: c for name, c in da.coords.items() if not set(c.dims) & set(dims)}
        out = xr.DataArray(counts.reshape([da.sizes[d] for d in other]) / n, dims=other,
                           coords=coords)
    else:
        hit = da < level if below is not None else da > level
        out = hit.sum(dim=dims) / n
    out.attrs = {"units": "probability",
                 "long_name": f"P({da.name} {'<' if below is not None else '>'} "
                              f"{below if below is not None else above:g})"}
    return out.rename(f"p_{da.name}")


#: The attr a compacted variable carries in a results file: its dtype in memory, which
#: :func:`open_results` restores (and then drops), so that a file reads back identical.
DTYPE_ATTR = "threatsim_dtype"
#: zlib with byte shuffle: people counts stored in two bytes compress several-fold more.
COMPRESSION: dict[str, Any] = {"zlib": True, "shuffle": True, "complevel": 4}
#: Integer types tried, narrowest first (signed before unsigned of the same width).
_INT_TYPES: tuple[tuple[np.dtype[Any], int, int], ...] = tuple(
    (np.dtype(t), int(np.iinfo(t).min), int(np.iinfo(t).max))
    for t in (np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64, np.uint64))


def narrowest_int(values: np.ndarray) -> np.dtype[Any] | None:
    """The narrowest integer dtype that holds every value of *values* exactly, or ``None``
    (empty, not numbers, a NaN or infinity, a fraction, a negative zero, too large).

    Floats qualify only when every value is a whole number (stored as that integer, they
    read back as the same floats).

    >>> narrowest_int(np.array([0, 13_356])), narrowest_int(np.array([-1, 200]))
    (dtype('int16'), dtype('int16'))
    >>> narrowest_int(np.array([0, 255])), narrowest_int(np.array([4.0, 36.0]))
    (dtype('uint8'), dtype('int8'))
    >>> narrowest_int(np.array([1.5])), narrowest_int(np.array([np.nan, 2.0]))
    (None, None)
    """
    arr = np.asarray(values)
    if arr.size == 0 or arr.dtype.kind not in "iuf":
        return None
    if arr.dtype.kind == "f":
        if not bool(np.all(np.isfinite(arr))) or not bool(np.all(np.trunc(arr) == arr)):
            return None
        if bool(np.any(np.signbit(arr) & (arr == 0))):  # -0.0 would read back as 0.0
            return None
        lo, hi = float(arr.min()), float(arr.max())
        if lo < -(2.0 ** 63) or hi >= 2.0 ** 63:
            return None
        lo_i, hi_i = int(lo), int(hi)
    else:
        lo_i, hi_i = int(arr.min()), int(arr.max())
    for t, lowest, highest in _INT_TYPES:
        if lowest <= lo_i and hi_i <= highest:
            return t
    return None


def compact(ds: xr.Dataset) -> tuple[xr.Dataset, dict[str, dict[str, Any]]]:
    """*ds* as a results file stores it, and the encoding to write it with.

    Every integer variable (and every float variable all of whose values are whole
    numbers, with no NaN) is cast to the narrowest integer dtype that holds it
    exactly, its dtype in memory kept in the attr :data:`DTYPE_ATTR`; every numeric
    variable is compressed (:data:`COMPRESSION`). Encodings *ds* came with (from a
    file it was read from) are dropped: they may name a dtype too narrow for new
    values. :func:`restore` undoes it.

    >>> ds = xr.Dataset({"people": ("draw", np.array([3, 40_000], dtype=np.int64))})
    >>> small, enc = compact(ds)
    >>> small["people"].dtype, small["people"].attrs, enc["people"]["zlib"]
    (dtype('uint16'), {'threatsim_dtype': 'int64'}, True)
    >>> restore(small).identical(ds)
    True
    """
    variables: dict[Any, xr.Variable] = {}
    encoding: dict[str, dict[str, Any]] = {}
    for name, var in ds.variables.items():
        attrs = {k: v for k, v in var.attrs.items() if k != DTYPE_ATTR}
        data = var.values if var.dtype.kind in "iuf" else var.data
        narrow = narrowest_int(data) if var.dtype.kind in "iuf" else None
        if narrow is not None and narrow != var.dtype:
            attrs[DTYPE_ATTR] = str(var.dtype)
            data = data.astype(narrow)
        variables[name] = xr.Variable(var.dims, data, attrs=attrs)
        if var.dtype.kind in "iufb" and var.ndim > 0 and var.size > 0:
            encoding[str(name)] = dict(COMPRESSION)
    coords = {k: variables[k] for k in ds.coords}
    data_vars = {k: variables[k] for k in ds.data_vars}
    return xr.Dataset(data_vars, coords=coords, attrs=ds.attrs), encoding


def restore(ds: xr.Dataset, where: str = "results file") -> xr.Dataset:
    """Give each variable :func:`compact` narrowed its dtype in memory back (and drop the
    attr that recorded it).

    >>> ds = xr.Dataset({"x": ("draw", np.array([1, 2], dtype=np.int8), {DTYPE_ATTR: "float64"})})
    >>> restore(ds)["x"].values.tolist(), restore(ds)["x"].attrs
    ([1.0, 2.0], {})
    """
    changed: dict[Any, xr.Variable] = {}
    for name, var in ds.variables.items():
        want = var.attrs.get(DTYPE_ATTR)
        if want is None:
            continue
        try:
            dtype = np.dtype(str(want))
        except TypeError:
            dtype = np.dtype(object)
        if dtype.kind not in "iuf":
            raise ScenarioError("is not a number type (allowed: int8 ... int64, uint8 ... "
                                "uint64, float32, float64)", path=where,
                                key=f"{name}.{DTYPE_ATTR}", value=want)
        attrs = {k: v for k, v in var.attrs.items() if k != DTYPE_ATTR}
        new = xr.Variable(var.dims, var.values.astype(dtype), attrs=attrs)
        new.encoding = dict(var.encoding)
        changed[name] = new
    if not changed:
        return ds
    coords = {k: v for k, v in changed.items() if k in ds.coords}
    data = {k: v for k, v in changed.items() if k not in ds.coords}
    return ds.assign_coords(coords).assign(data)


def write_netcdf(ds: xr.Dataset, path: str | os.PathLike[str]) -> Path:
    """Write *ds* to NetCDF atomically (a temporary name in the same folder, then a
    rename), compacted: integers in their narrowest exact type, zlib-compressed
    (:func:`compact`); :func:`open_results` reads back the same dtypes and values.

    >>> import tempfile
    >>> ds = xr.Dataset({"reserves": ("draw", [1.0, 2.0])}, attrs={"run_id": "abc"})
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = write_netcdf(ds, Path(d) / "run.nc")
    ...     print(open_results(path)["reserves"].values, open_results(path).identical(ds))
    [1. 2.] True
    """
    path = Path(path)
    small, encoding = compact(ds)
    with atomic_path(path) as tmp:
        small.to_netcdf(tmp, engine="netcdf4", format="NETCDF4", encoding=encoding)
    return path


def write_zarr(ds: xr.Dataset, path: str | os.PathLike[str]) -> Path:
    """Write *ds* as a Zarr store (a folder) atomically: a temporary folder beside *path*,
    then a rename (a store already at *path* is replaced only once the new one is
    whole). Compacted as :func:`write_netcdf` compacts; needs the ``zarr`` extra.

    >>> import tempfile
    >>> ds = xr.Dataset({"people": ("draw", np.array([3, 4]))})
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = write_zarr(ds, Path(d) / "run.zarr")
    ...     print(path.is_dir(), open_results(path).identical(ds))
    True True
    """
    path = Path(path)
    _need_zarr("--out", str(path))
    small, _ = compact(ds)  # zarr compresses every chunk by default
    # Zarr format 2: its specification covers the fixed-width strings of the coords
    tmp = temp_folder_beside(path)
    try:
        try:
            small.to_zarr(tmp, mode="w", consolidated=True, zarr_format=2)
        except OSError as exc:  # a full disk: one line naming the store
            raise ScenarioError(f"cannot be written ({exc.strerror or exc})", key="output",
                                value=path) from None
        publish_folder(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def write_results(ds: xr.Dataset, path: str | os.PathLike[str]) -> Path:
    """Write a run to *path*: Zarr for a name ending ``.zarr``, else NetCDF.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     print(write_results(xr.Dataset({"x": ("draw", [1])}), Path(d) / "r.nc").name)
    r.nc
    """
    return write_zarr(ds, path) if is_zarr_path(path) else write_netcdf(ds, path)


def is_zarr_path(path: str | os.PathLike[str]) -> bool:
    """Whether *path* names a Zarr store (its name ends ``.zarr``).

    >>> is_zarr_path("results/run.zarr"), is_zarr_path("results/run.nc")
    (True, False)
    """
    return Path(path).suffix.lower() == ".zarr"


def _need_zarr(key: str, value: str) -> None:
    """Refuse, in one line naming the extra to install, when zarr is missing."""
    try:
        import zarr  # noqa: F401  (optional: only Zarr stores need it)
    except ImportError:
        raise ScenarioError("is a Zarr store, and zarr is not installed: pip install "
                            "'threatsim[zarr]' (or write a .nc file)", key=key,
                            value=value) from None


def open_results(path: str | os.PathLike[str]) -> xr.Dataset:
    """Read a run written by :func:`write_netcdf` or :func:`write_zarr` (fully loaded into
    memory, with the dtypes it had when written).

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = write_netcdf(xr.Dataset({"x": ("draw", [3.0])}), Path(d) / "r.nc")
    ...     print(float(open_results(path)["x"][0]))
    3.0
    >>> open_results("scenarios/financing.toml")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    threatsim.core.errors.ScenarioError: scenarios/financing.toml: is not a NetCDF results file ...
    """
    path = Path(path)
    if path.is_dir() and is_zarr_path(path):
        _need_zarr("results", str(path))
        try:
            with xr.open_zarr(path, consolidated=None) as store:
                return restore(store.load(), str(path))
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
            raise ScenarioError(f"cannot be read as a Zarr results store: {reason}",
                                path=str(path)) from None
    if not path.is_file():
        raise ScenarioError("is a folder, not a results file (a Zarr store's name ends "
                            ".zarr)" if path.is_dir() else "no such results file",
                            path=str(path))
    try:
        with path.open("rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        raise ScenarioError(f"cannot be read: {exc.strerror}", path=str(path)) from None
    if not head.startswith(_NETCDF_MAGIC):
        looks = (" (it looks like text: a scenario or observation file? results files "
                 "are the .nc files that threatsim run writes)"
                 if head and all(b in b"\t\n\r" or 32 <= b < 127 for b in head) else "")
        raise ScenarioError(f"is not a NetCDF results file{looks}", path=str(path))
    try:
        ds = xr.load_dataset(path, engine="netcdf4")
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise ScenarioError(f"cannot be read as a NetCDF results file: {reason}",
                            path=str(path)) from None
    return restore(ds, str(path))


#: How NetCDF files start: classic, 64-bit offset and CDF-5, and HDF5 (netCDF-4).
_NETCDF_MAGIC = (b"CDF\x01", b"CDF\x02", b"CDF\x05", b"\x89HDF\r\n\x1a\n")


def mcse_quantile(da: xr.DataArray, quantiles: Sequence[float] = (0.05, 0.5, 0.95)
                  ) -> xr.DataArray:
    """Monte Carlo standard error of each quantile band of *da* (same layout as ``bands``).

    NaN values (a flow before the first month, "never reached") are left out,
    as :func:`threatsim.bands` leaves them out.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from scipy import stats
    >>> x = stats.norm.ppf((np.arange(40_000) + 0.5) / 40_000)  # an ideal normal sample
    >>> se = mcse_quantile(xr.DataArray(x, dims="draw"), [0.5])
    >>> round(float(se[0] * np.sqrt(40_000)), 1)  # sqrt(pi / 2) = 1.25
    1.3
    """
    qs = [float(q) for q in quantiles]
    if not qs or any(not 0 < q < 1 for q in qs):
        raise ScenarioError("must be quantiles in (0, 1)", key="quantiles", value=qs)
    dims = sample_dims(da)
    if not dims:
        raise ScenarioError("has no draw dim to take bands over", key="variable", value=da.name)
    rest = [d for d in da.dims if d not in dims]
    arr = da.transpose(*dims, *rest).values.astype(np.float64)
    arr = arr.reshape(-1, *arr.shape[len(dims):])
    s = np.sort(arr, axis=0)  # NaN sort last
    m = np.sum(~np.isnan(arr), axis=0)
    out = np.stack([mcse_sorted(s, m, q) for q in qs])
    coords = {d: da.coords[d] for d in rest if d in da.coords}
    return xr.DataArray(out, dims=("quantile", *rest), coords={"quantile": qs, **coords},
                        name=da.name, attrs={"units": da.attrs.get("units", ""),
                                             "long_name": "Monte Carlo standard error"})


# -- posterior samples (threatsim calibrate --out) -----------------------------------


def prior_fingerprint(scenario: Scenario) -> str:
    """What a posterior of *scenario* rests on, as canonical JSON: its model, and each
    sampled parameter's table and distribution (and the rank correlations between them).

    A posterior may drive a run of any scenario with the same fingerprint: the
    calibrated scenario, or a what-if of it that changes levers, timeline entries
    or fixed values but none of the sampled parameters.

    >>> from threatsim.inputs.scenario import load_scenario
    >>> sc = load_scenario("scenarios/financing.toml")
    >>> prior_fingerprint(sc) == prior_fingerprint(sc.with_values({"levers.seizure_effort": 2.0}))
    True
    """
    tables = scenario.resolved.get("parameters", {})
    sampled = {name: {"table": {k: v for k, v in (tables.get(name) or {}).items()
                                if k != "description"},  # words only: not what is sampled
                      "dist": _dist_text(p.dist), "share_of": p.share_of}
               for name, p in scenario.parameters.items() if p.dist.kind != "point"}
    return json.dumps({"model": scenario.model, "sampled": sampled,
                       "correlations": scenario.resolved.get("correlations")},
                      sort_keys=True, separators=(",", ":"), default=str)


def _dist_text(dist: Any) -> str:
    """A distribution as short text, e.g. ``uniform(low=0.2, high=0.6)``."""
    given = [(f.name, getattr(dist, f.name)) for f in dataclasses.fields(dist)
             if f.name != "kind"]
    shown = ", ".join(f"{k}={v!r}" for k, v in given
                      if not (v is None or v is False or (isinstance(v, tuple) and not v)))
    return f"{dist.kind}({shown})"


def _posterior_id(ds: xr.Dataset, names: Sequence[str]) -> str:
    """Content hash of a posterior sample: its parameters' values, weights and what it
    was conditioned on (the same file read twice gives the same id)."""
    h = hashlib.sha256()
    for name in names:
        h.update(name.encode())
        h.update(np.ascontiguousarray(ds[name].values, dtype=np.float64).tobytes())
    h.update(np.ascontiguousarray(ds["weight"].values, dtype=np.float64).tobytes())
    for key in ("observations", "errors", "observation_file", "prior_run_id",
                "prior_fingerprint"):
        h.update(str(ds.attrs.get(key, "")).encode())
    return h.hexdigest()[:12]


@dataclass(frozen=True, slots=True, kw_only=True)
class Posterior:
    """A posterior parameter sample with weights, as a run reads it (:func:`open_posterior`).

    The engine resamples it to a run's draws
    (:func:`threatsim.engine.sampling.posterior_values`).
    """

    #: Where it was read from ("" when made in memory).
    path: str
    #: Content hash of the sample, its weights and its observations.
    id: str
    #: Sampled parameter -> values over the posterior's draws.
    values: Mapping[str, np.ndarray]
    #: Normalised weights over the posterior's draws.
    weights: np.ndarray
    #: The ids of the observations it was conditioned on, and their file.
    observations: tuple[str, ...]
    observation_file: str
    #: Calibration method (importance, smc), and the calibrated scenario's name and run id.
    method: str
    scenario_name: str
    prior_run_id: str
    #: :func:`prior_fingerprint` of the calibrated scenario.
    fingerprint: str

    def run_id(self, scenario_run_id: str) -> str:
        """The run id of a run of a scenario (run id *scenario_run_id*) on this posterior.

        >>> post = posterior_from_dataset(_example_posterior())
        >>> len(post.run_id("abc")), post.run_id("abc") != "abc"
        (12, True)
        """
        return hashlib.sha256(f"{scenario_run_id}+posterior:{self.id}".encode()).hexdigest()[:12]

    def attrs(self) -> dict[str, Any]:
        """The provenance a run on this posterior records (see docs/calibration.md)."""
        return {"posterior_id": self.id, "posterior_file": self.path,
                "posterior_observations": json.dumps(list(self.observations)),
                "posterior_observation_file": self.observation_file,
                "posterior_method": self.method,
                "posterior_scenario": self.scenario_name,
                "posterior_prior_run_id": self.prior_run_id}

    def check(self, scenario: Scenario) -> None:
        """Refuse *scenario* unless this posterior can drive it: the same model and the
        same sampled parameters, each with the same table and distribution.

        >>> from threatsim.inputs.scenario import load_scenario
        >>> post = posterior_from_dataset(_example_posterior())
        >>> post.check(load_scenario("scenarios/financing.toml"))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        threatsim.core.errors.ScenarioError: ...was made from scenario 'toy' (model toy)...
        """
        try:
            have = json.loads(self.fingerprint)
        except ValueError:
            have = None
        want = json.loads(prior_fingerprint(scenario))
        where = self.path or "posterior"
        if not isinstance(have, dict) or have == want:
            if isinstance(have, dict):
                return
            raise ScenarioError("has no record of the scenario it was calibrated from "
                                "(prior_fingerprint): calibrate again with this threatsim",
                                path=where, key="prior_fingerprint")
        if have.get("model") != want["model"]:
            raise ScenarioError(f"was made from scenario {self.scenario_name!r} (model "
                                f"{have.get('model')}), not for scenario {scenario.name!r} "
                                f"(model {want['model']})", path=where, key="model",
                                value=have.get("model"))
        theirs, ours = have.get("sampled", {}), want["sampled"]
        problems = []
        for name in sorted(set(ours) - set(theirs)):
            problems.append(ScenarioError(
                f"is sampled by scenario {scenario.name!r} but the posterior (from scenario "
                f"{self.scenario_name!r}) holds no draws of it: calibrate that scenario",
                key=f"parameters.{name}"))
        for name in sorted(set(theirs) - set(ours)):
            problems.append(ScenarioError(
                f"is sampled in the posterior (from scenario {self.scenario_name!r}) but not "
                f"by scenario {scenario.name!r}", key=f"parameters.{name}"))
        for name in sorted(set(theirs) & set(ours)):
            if theirs[name] != ours[name]:
                problems.append(ScenarioError(
                    f"is not the parameter the posterior was calibrated on (there "
                    f"{theirs[name]['dist']}, in scenario {scenario.name!r} "
                    f"{ours[name]['dist']}; or its table differs): a posterior drives only "
                    "scenarios with the same sampled parameters", key=f"parameters.{name}"))
        if not problems and have.get("correlations") != want["correlations"]:
            problems.append(ScenarioError("differ from those the posterior was calibrated "
                                          "under", key="correlations"))
        if problems:
            raise ScenarioError("cannot drive this scenario", path=where,
                                key="posterior", problems=tuple(problems))


def posterior_from_dataset(ds: xr.Dataset, path: str = "") -> Posterior:
    """A :class:`Posterior` from a calibration's Dataset (what ``calibrate --out`` writes).

    >>> post = posterior_from_dataset(_example_posterior())
    >>> sorted(post.values), post.observations, round(float(post.weights.sum()), 6)
    (['stock0'], ('p',), 1.0)
    >>> posterior_from_dataset(xr.Dataset({"x": ("draw", [1.0])}), "run.nc")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    threatsim.core.errors.ScenarioError: run.nc: weight is missing: not a posterior file ...
    """
    where = path or "posterior"
    if "weight" not in ds.data_vars or "draw" not in ds["weight"].dims:
        raise ScenarioError("is missing: not a posterior file (threatsim calibrate ... "
                            "--out POST.nc writes one)", path=where, key="weight")
    weights = np.asarray(ds["weight"].values, dtype=np.float64)
    if (weights.ndim != 1 or not np.all(np.isfinite(weights)) or np.any(weights < 0)
            or not weights.sum() > 0):
        raise ScenarioError("must be finite, non-negative weights with a positive sum",
                            path=where, key="weight")
    fingerprint = str(ds.attrs.get("prior_fingerprint", ""))
    try:
        sampled = set(json.loads(fingerprint)["sampled"]) if fingerprint else None
    except (ValueError, KeyError, TypeError):
        sampled = None
    names = sorted(str(k) for k, v in ds.data_vars.items()
                   if v.attrs.get("role") == "parameter" and v.dims == ("draw",)
                   and (sampled is None or str(k) in sampled))
    if not names:
        raise ScenarioError("holds no parameter draws (variables with role = 'parameter'): "
                            "not a posterior file", path=where, key="parameters")
    values = {n: np.asarray(ds[n].values, dtype=np.float64) for n in names}
    for n, v in values.items():
        if not np.all(np.isfinite(v)):
            raise ScenarioError("has values that are not finite numbers", path=where,
                                key=n)
    try:
        obs = tuple(str(o) for o in json.loads(str(ds.attrs.get("observations", "[]"))))
    except ValueError:
        obs = ()
    return Posterior(path=path, id=_posterior_id(ds, names), values=values,
                     weights=weights / weights.sum(), observations=obs,
                     observation_file=str(ds.attrs.get("observation_file", "")),
                     method=str(ds.attrs.get("method", "")),
                     scenario_name=str(ds.attrs.get("scenario_name", "")),
                     prior_run_id=str(ds.attrs.get("prior_run_id", "")),
                     fingerprint=fingerprint)


def open_posterior(path: str | os.PathLike[str]) -> Posterior:
    """Read a posterior file (``threatsim calibrate ... --out POST.nc``).

    >>> open_posterior("no/such/post.nc")
    Traceback (most recent call last):
    ...
    threatsim.core.errors.ScenarioError: no/such/post.nc: no such results file
    """
    return posterior_from_dataset(open_results(path), str(path))


def _example_posterior() -> xr.Dataset:
    """A tiny posterior Dataset for the examples above."""
    fp = json.dumps({"model": "toy", "sampled": {"stock0": {}}, "correlations": None})
    ds = xr.Dataset({"stock0": ("draw", [100.0, 150.0, 200.0]),
                     "weight": ("draw", [0.25, 0.5, 0.25])},
                    attrs={"observations": '["p"]', "scenario_name": "toy",
                           "prior_fingerprint": fp, "method": "importance"})
    ds["stock0"].attrs["role"] = "parameter"
    return ds

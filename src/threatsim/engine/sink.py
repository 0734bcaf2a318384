"""Streaming a run's trajectories to NetCDF as chunks finish.

:class:`NetCDFSink` writes every trajectory to a NetCDF file as chunks finish
(in any order), under a temporary name renamed at the end, so an interrupted
run leaves no partial file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from threatsim.core.atomic import publish, temp_beside
from threatsim.inputs.scenario import RunSettings, Scenario
from threatsim.results import COMPRESSION, Posterior, compact, to_dataset

__all__ = ["NetCDFSink"]


class NetCDFSink:
    """Writes a run's trajectories to NetCDF as chunks finish (any order).

    The file is written under a temporary name in the target folder and
    renamed by :meth:`commit`; :meth:`abort` (or leaving the ``with`` block
    with an exception) deletes it, so an interrupted run writes nothing.
    Reading the file with :func:`threatsim.results.open_results` gives the same Dataset
    as writing the in-memory run with :func:`threatsim.results.write_netcdf` (outputs keep
    their dtype, compressed; parameters and coords are compacted as that writes them).

    >>> import pathlib, tempfile, threatsim
    >>> from threatsim.engine.options import RunOptions
    >>> from threatsim.engine.plan import Plan, run_chunk
    >>> sc = threatsim.load_scenario("scenarios/financing.toml")
    >>> opts = RunOptions.build(sc, draws=8, chunk_size=4)
    >>> plan = Plan.for_run(sc, opts)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     with NetCDFSink(pathlib.Path(tmp) / "run.nc", sc, opts.settings, plan.params) as sink:
    ...         for index in (1, 0):  # in any order
    ...             sink.write(*run_chunk(plan.task(index)))
    ...         path = sink.commit()
    ...     with xr.open_dataset(path) as ds:
    ...         print(path.name, dict(ds["reserves"].sizes))
    run.nc {'draw': 8, 'time': 37}
    """

    def __init__(self, path: str | os.PathLike[str], scenario: Scenario,
                 settings: RunSettings, params: Mapping[str, np.ndarray], *,
                 posterior: Posterior | None = None) -> None:
        self.path = Path(path)
        self.posterior = posterior
        self.scenario, self.settings, self.params = scenario, settings, params
        self.tmp = temp_beside(self.path)
        self._nc: Any = None
        self._vars: dict[str, Any] = {}
        self._template: xr.Dataset | None = None

    def __enter__(self) -> NetCDFSink:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            self.abort()

    def _open(self, result: Mapping[str, np.ndarray]) -> None:
        # netCDF4 (a dependency, not a threatsim module) loads only when a run streams
        # to a file: the command line's start stays light.
        import netCDF4

        n = self.settings.draws
        views = {k: np.broadcast_to(np.zeros((), dtype=v.dtype), (n, *v.shape[1:]))
                 for k, v in result.items()}
        template = to_dataset(self.scenario, views, self.params, self.settings,
                              posterior=self.posterior)
        outputs = list(self.scenario.variables)
        small, encoding = compact(template.drop_vars(outputs))  # parameters, coords
        small.to_netcdf(self.tmp, engine="netcdf4", format="NETCDF4", encoding=encoding)
        self._nc = netCDF4.Dataset(self.tmp, "a")
        # Every value is written (by chunks) before the file gets its name: prefilling the
        # variables with the fill value first wrote the whole file twice (25 GB for the
        # baseline's 10**6 draws, before a chunk was computed).
        self._nc.set_fill_off()
        for dim, size in template.sizes.items():
            if dim not in self._nc.dimensions:
                self._nc.createDimension(dim, size)
        for name in outputs:
            da = template[name]
            dtype = da.dtype
            fill = np.nan if dtype.kind == "f" else None
            # The values come later, chunk by chunk: their range is not known here, so
            # each output keeps its dtype in memory (int64 people counts), compressed with
            # byte shuffle (the zero high bytes of small counts then cost almost nothing),
            # in file chunks that whole run chunks fill.
            var = self._nc.createVariable(
                name, dtype, da.dims, fill_value=fill,
                chunksizes=_file_chunks(da.shape, dtype.itemsize, self.settings.chunk_size),
                **COMPRESSION)
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
        return publish(self.tmp, self.path)

    def abort(self) -> None:
        """Close and delete the temporary file."""
        if self._nc is not None:
            try:
                self._nc.close()
            except Exception:
                pass
            self._nc = None
        self.tmp.unlink(missing_ok=True)


#: Largest file chunk (bytes, before compression) the sink asks for.
_CHUNK_BYTES = 4 << 20


def _file_chunks(shape: tuple[int, ...], itemsize: int,
                 chunk_size: int) -> tuple[int, ...] | None:
    """File chunk sizes for an output of *shape* (draws first) written *chunk_size* draws at
    a time: whole rows, and a number of draws that divides *chunk_size* (so no file chunk
    straddles two run chunks, which would make zlib rewrite it) within about 4 MiB.

    >>> _file_chunks((10_000, 37, 6), 8, 2048)
    (2048, 37, 6)
    >>> _file_chunks((10_000, 37, 6, 7, 3), 8, 2048)
    (64, 37, 6, 7, 3)
    """
    if not shape or 0 in shape:
        return None  # nothing to chunk: the library's own layout
    row = max(1, int(np.prod(shape[1:], dtype=np.int64)) * itemsize)
    most = max(1, min(shape[0], chunk_size, _CHUNK_BYTES // row))
    while chunk_size % most:
        most -= 1
    return (most, *shape[1:])

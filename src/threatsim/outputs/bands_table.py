"""The bands of a run's table as plain rows: what ``threatsim run`` prints and what
``threatsim bands`` (and ``run --csv``) exports, from one computation.

Each :class:`BandRow` is one output (one entry of its compartment, origin or
nationality split, other model dims summed) at one report month: its quantile
bands over the draws, their Monte Carlo standard errors and, for a stock, the
share of draws at zero. A per-draw output that may never happen (a wait "never
reached" is NaN) has one row without a month, with the share of draws where it
was reached: its bands are over those draws only.

A run's Dataset holds every draw (the bands are computed here) or a summary
(``keep = "summary"``: the engine computed them while the chunks streamed past).
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from threatsim.core.atomic import atomic_path
from threatsim.core.errors import ScenarioError
from threatsim.core.version import __version__
from threatsim.results import SPLIT_DIMS, bands, mcse_quantile, split_entries

__all__ = ["BandRow", "band_rows", "bands_frame", "check_bands_path", "quantile_column",
           "report_months_of", "split_parts", "table_quantiles", "write_bands"]

#: The bands a table shows when the scenario asks for them.
TABLE_QUANTILES = (0.05, 0.5, 0.95)


@dataclass(frozen=True, slots=True, kw_only=True)
class BandRow:
    """One row of a run's bands: an output (entry) at a report month."""

    #: The output variable, and the entry of its split ("" when it has none).
    output: str
    entry: str
    #: The report month (``YYYY-MM``); "" for a per-draw output with no time.
    month: str
    unit: str
    #: Quantile -> band, and quantile -> its Monte Carlo standard error (NaN: not computed).
    values: Mapping[float, float]
    se: Mapping[float, float]
    #: Share of draws at zero (stocks only), else None.
    p_zero: float | None = None
    #: For a per-draw output that may never happen: the share of draws where it was
    #: reached (its bands are over those draws only); None for the others.
    reached: float | None = None
    #: How many values (draws x replicates) the bands are over.
    draws_over: int | None = None

    @property
    def label(self) -> str:
        """The series' name as the table heads it: ``population active``."""
        return f"{self.output} {self.entry}".strip()

    @property
    def quantiles(self) -> tuple[float, ...]:
        """The quantiles of the bands, in order."""
        return tuple(self.values)


def table_quantiles(quantiles: Sequence[float]) -> list[float]:
    """The bands a table shows: the 5 %, 50 % and 95 % of those asked for, else all of them.

    >>> table_quantiles([0.05, 0.25, 0.5, 0.75, 0.95]), table_quantiles([0.1, 0.9])
    ([0.05, 0.5, 0.95], [0.1, 0.9])
    """
    return [q for q in quantiles if q in TABLE_QUANTILES] or list(quantiles)


def quantile_column(q: float) -> str:
    """The name of a quantile's column in an export: ``p5``, ``p50``, ``p2.5``.

    >>> quantile_column(0.05), quantile_column(0.5), quantile_column(0.025)
    ('p5', 'p50', 'p2.5')
    """
    return f"p{round(100 * q, 6):g}"


def split_parts(da: xr.DataArray, keep: tuple[str, ...]) -> list[tuple[str, xr.DataArray]]:
    """(entry, series) per entry of *da*'s split dims, other model dims summed.

    >>> da = xr.DataArray(np.ones((2, 3, 2)), dims=("draw", "region", "compartment"),
    ...                   coords={"compartment": ["active", "detained"]})
    >>> [(entry, float(part.sum())) for entry, part in split_parts(da, ("draw",))]
    [('active', 6.0), ('detained', 6.0)]
    """
    # One rule for what is split and what is skipped, shared with compare (results).
    return [(" ".join(labels.values()), part) for labels, part in split_entries(da, keep)]


def _items(ds: xr.Dataset) -> list[tuple[str, str, xr.DataArray]]:
    """(output, entry, series) to show, model dims summed; one per split entry."""
    items = []
    for name, da in ds.data_vars.items():
        if da.attrs.get("role") == "parameter":
            continue
        if any(d in da.dims for d in SPLIT_DIMS):  # e.g. population: all regions together
            items += [(str(name), entry, part)
                      for entry, part in split_parts(da, ("draw", "replicate", "time"))]
            continue
        extra = [d for d in da.dims if d not in ("draw", "replicate", "time")]
        items.append((str(name), "", da.sum(extra, keep_attrs=True) if extra else da))
    return items


def _month_label(ds: xr.Dataset, i: int) -> str:
    return str(np.datetime64(ds.time.values[i], "M"))


def _series(output: str, entry: str, unit: str, months: list[str], b: xr.DataArray,
            se: xr.DataArray | None, zero: xr.DataArray | None, qs: list[float],
            count: int) -> list[BandRow]:
    rows = []
    for i, month in enumerate(months):
        values = {q: float(b.isel(time=i).sel(quantile=q)) for q in qs}
        ses = {q: (float(se.isel(time=i).sel(quantile=q)) if se is not None else math.nan)
               for q in qs}
        rows.append(BandRow(output=output, entry=entry, month=month, unit=unit, values=values,
                            se=ses, p_zero=float(zero.isel(time=i)) if zero is not None
                            else None, draws_over=count))
    return rows


def _reached(output: str, entry: str, unit: str, da: xr.DataArray, qs: list[float],
             mcse: bool) -> BandRow:
    """A per-draw scalar that may never happen (NaN): the share reached, its bands over
    the draws where it was."""
    finite = da.notnull()
    count = int(finite.sum())
    share = count / max(1, int(finite.size))
    values = {q: math.nan for q in qs}
    ses = {q: math.nan for q in qs}
    if count:
        vals = da.where(finite).quantile(qs, dim=list(da.dims)).values
        errs = mcse_quantile(da, qs).values if mcse else [math.nan] * len(qs)
        values = {q: float(v) for q, v in zip(qs, vals, strict=True)}
        ses = {q: float(e) for q, e in zip(qs, errs, strict=True)}
    return BandRow(output=output, entry=entry, month="", unit=unit, values=values, se=ses,
                   reached=share, draws_over=count)


def band_rows(ds: xr.Dataset, *, quantiles: Sequence[float], report_months: Sequence[int],
              mcse: bool = True) -> list[BandRow]:
    """The rows of the run table of *ds*: every output (split entry) at every report month,
    then the per-draw outputs that may never happen.

    With *mcse* every band has its Monte Carlo standard error; a summary Dataset gives
    the bands and standard errors it holds.

    >>> import threatsim
    >>> sc = threatsim.load_scenario("scenarios/financing.toml")
    >>> ds = threatsim.run(sc, draws=200, seed=1, progress=False)
    >>> row = band_rows(ds, quantiles=[0.05, 0.5, 0.95], report_months=[0, 12])[1]
    >>> row.output, row.month, row.unit, row.quantiles, row.p_zero
    ('reserves', '2020-01', 'usd', (0.05, 0.5, 0.95), 0.0)
    """
    qs = table_quantiles(quantiles)
    at = list(report_months)
    months = [_month_label(ds, i) for i in at]
    rows: list[BandRow] = []
    if ds.attrs.get("keep") == "summary":  # bands already computed, no draws
        banded = {str(n) for n, v in ds.data_vars.items()
                  if v.dims == ("quantile", "time")
                  and not str(n).startswith(("p_zero_", "mcse_"))}
        count = int(ds.attrs.get("draws", 0)) * int(ds.attrs.get("replicates", 1) or 1)
        for name, da in ds.data_vars.items():
            if da.attrs.get("role") == "parameter" or str(name).startswith(("p_zero_",
                                                                              "mcse_")):
                continue
            unit = str(da.attrs.get("units", ""))
            if name in banded:
                se = ds.get(f"mcse_{name}")
                pz = ds.get(f"p_zero_{name}")
                rows += _series(str(name), "", unit, months,
                                da.isel(time=at).sel(quantile=qs),
                                se.isel(time=at).sel(quantile=qs) if se is not None else None,
                                pz.isel(time=at) if pz is not None else None, qs, count)
            elif "draw" in da.dims and "time" not in da.dims:
                rows.append(_reached(str(name), "", unit, da, qs, mcse=True))
        return rows
    for output, entry, da in _items(ds):
        unit = str(da.attrs.get("units", ""))
        if "time" in da.dims:
            sub = da.isel(time=at)
            dims = [d for d in ("draw", "replicate") if d in sub.dims]
            zero = (sub == 0).mean(dims) if da.attrs.get("kind") == "stock" else None
            count = int(np.prod([sub.sizes[d] for d in dims]))
            rows += _series(output, entry, unit, months, bands(sub, qs),
                            mcse_quantile(sub, qs) if mcse else None, zero, qs, count)
        else:
            rows.append(_reached(output, entry, unit, da, qs, mcse))
    return rows


def report_months_of(ds: xr.Dataset) -> tuple[list[float], list[int]]:
    """The quantiles and report months (indices on ``time``) a results file's run table
    shows: those of the scenario it ran (its ``resolved_scenario``), else the 5 %, 50 %
    and 95 % bands at the first month, every sixth and the last.

    >>> ds = xr.Dataset(coords={"time": np.arange("2019-01", "2020-02", dtype="datetime64[M]")
    ...                         .astype("datetime64[ns]")})
    >>> report_months_of(ds)
    ([0.05, 0.5, 0.95], [0, 6, 12])
    """
    n = ds.sizes.get("time", 0)
    try:
        outputs = json.loads(str(ds.attrs.get("resolved_scenario", "{}"))).get("outputs", {})
    except (ValueError, AttributeError):
        outputs = {}
    qs = [float(q) for q in outputs.get("quantiles", TABLE_QUANTILES)]
    labels = [_month_label(ds, i) for i in range(n)]
    months = [labels.index(str(m)) for m in outputs.get("report_months", []) if str(m)
              in labels]
    if not months and n:
        months = sorted({*range(0, n, 6), n - 1})
    return qs, months


#: Provenance columns every export row carries (the Dataset attr each comes from).
_PROVENANCE = (("run_id", "run_id"), ("scenario", "scenario_name"), ("seed", "seed"),
               ("draws", "draws"), ("sampler", "sampler"),
               ("threatsim_version", "threatsim_version"))


def bands_frame(ds: xr.Dataset, rows: Sequence[BandRow]) -> Any:
    """The rows as a pandas DataFrame: provenance, output, entry, month, unit, each
    quantile's band (``p5``) and standard error (``p5_se``), P(= 0), the share of draws
    reached and how many values each band is over.

    >>> ds = xr.Dataset(attrs={"run_id": "abc", "scenario_name": "x", "seed": 1})
    >>> row = BandRow(output="reserves", entry="", month="2019-01", unit="usd",
    ...               values={0.5: 9e7}, se={0.5: 1e6})
    >>> frame = bands_frame(ds, [row])
    >>> frame.loc[0, "run_id"], frame.loc[0, "output"], float(frame.loc[0, "p50_se"])
    ('abc', 'reserves', 1000000.0)
    """
    import pandas as pd  # xarray's own dependency; only exports need it

    records: list[dict[str, Any]] = []
    for row in rows:
        rec: dict[str, Any] = {col: ds.attrs.get(attr, "") for col, attr in _PROVENANCE}
        rec["threatsim_version"] = rec["threatsim_version"] or __version__
        rec.update(output=row.output, entry=row.entry, month=row.month, unit=row.unit)
        for q in row.quantiles:
            rec[quantile_column(q)] = row.values[q]
            rec[f"{quantile_column(q)}_se"] = row.se[q]
        rec["p_zero"] = math.nan if row.p_zero is None else row.p_zero
        rec["reached"] = math.nan if row.reached is None else row.reached
        rec["draws_over"] = row.draws_over
        records.append(rec)
    return pd.DataFrame.from_records(records)


def check_bands_path(path: str | os.PathLike[str], *, kind: str | None = None,
                     key: str = "bands file") -> Path:
    """*path* if a bands export can be written there (checked before a run starts): it
    ends ``.csv`` or ``.xlsx`` (the one *kind* asks for), is not a folder, and for a
    spreadsheet openpyxl is installed.

    >>> check_bands_path("bands.txt", key="--csv")
    Traceback (most recent call last):
    ...
    threatsim.core.errors.ScenarioError: --csv='bands.txt' must end .csv or .xlsx
    >>> check_bands_path("bands.xlsx", kind="csv", key="--csv")
    Traceback (most recent call last):
    ...
    threatsim.core.errors.ScenarioError: --csv='bands.xlsx' must end .csv
    """
    target = Path(path)
    suffix = target.suffix.lower()
    allowed = (f".{kind}",) if kind else (".csv", ".xlsx")
    if suffix not in allowed:
        raise ScenarioError(f"must end {' or '.join(allowed)}", key=key, value=target)
    if target.is_dir():
        raise ScenarioError("is a folder; name the file to write", key=key, value=target)
    if suffix == ".xlsx" and importlib.util.find_spec("openpyxl") is None:
        raise ScenarioError("is a spreadsheet, and openpyxl is not installed: pip install "
                            "'threatsim[xlsx]' (or write a .csv file)", key=key,
                            value=target)
    return target


def write_bands(ds: xr.Dataset, path: str | os.PathLike[str], *,
                quantiles: Sequence[float] | None = None,
                report_months: Sequence[int] | None = None,
                rows: Sequence[BandRow] | None = None, kind: str | None = None,
                key: str = "bands file") -> Path:
    """Write the run table's bands of *ds* to *path* (``.csv``, or ``.xlsx`` with the
    ``xlsx`` extra), atomically. Quantiles and months default to the run's scenario's
    (:func:`report_months_of`); *rows* already computed are written as they are.
    *kind* (``"csv"``, ``"xlsx"``) is the format asked for (by default, *path*'s suffix),
    and *path* must end with it; *key* names the option in messages.

    >>> import tempfile, threatsim
    >>> ds = threatsim.run(threatsim.load_scenario("scenarios/financing.toml"), draws=50,
    ...                    seed=1, progress=False)
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = write_bands(ds, Path(d) / "bands.csv")
    ...     print(path.read_text().splitlines()[0][:60])
    run_id,scenario,seed,draws,sampler,threatsim_version,output,
    """
    path = check_bands_path(path, kind=kind, key=key)
    if rows is None:
        qs, months = report_months_of(ds)
        rows = band_rows(ds, quantiles=quantiles if quantiles is not None else qs,
                         report_months=report_months if report_months is not None
                         else months)
    frame = bands_frame(ds, rows)
    if path.suffix.lower() == ".xlsx":
        with atomic_path(path, ".xlsx") as tmp:
            frame.to_excel(tmp, index=False, sheet_name="bands", engine="openpyxl")
        return path
    with atomic_path(path, ".csv") as tmp:
        frame.to_csv(tmp, index=False)
    return path

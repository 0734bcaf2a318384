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
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from threatsim.core.atomic import atomic_path
from threatsim.core.errors import ScenarioError
from threatsim.core.version import __version__
from threatsim.inputs.scenario import RunSettings, Scenario
from threatsim.models.contract import OutputDecl
from threatsim.models.registry import get_model
from threatsim.stats.mcse import mcse_sorted
from threatsim.stats.quantiles import row_quantiles

__all__ = ["SPLIT_DIMS", "Posterior", "bands", "entry_better", "exceedance", "mcse_quantile",
           "open_posterior", "open_results", "output_attrs", "posterior_from_dataset",
           "prior_fingerprint", "sample_dims", "split_entries", "to_dataset", "write_netcdf"]

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
    coords: dict[str, Any] = {"draw": np.arange(settings.draws), "time": scenario.time()}
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


def bands(da: xr.DataArray, quantiles: Sequence[float] = (0.05, 0.5, 0.95)) -> xr.DataArray:
    """Quantile bands over the Monte Carlo sample, with a ``quantile`` dim.

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
        values = row_quantiles(rows, qs)
    coords = {name: c for name, c in da.coords.items() if not set(c.dims) & set(dims)}
    coords["quantile"] = qs
    return xr.DataArray(values.reshape(len(qs), *[da.sizes[d] for d in other]),
                        dims=("quantile", *other), coords=coords, attrs=da.attrs, name=da.name)


def exceedance(da: xr.DataArray, *, below: float | None = None,
               above: float | None = None) -> xr.DataArray:
    """Probability, over the Monte Carlo sample, that *da* is below / above a level.

    Exactly one of ``below`` (strictly less than) and ``above`` (strictly
    greater than) is given. NaN values (e.g. "never depleted") count as not
    meeting the condition.

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
    if below is not None:
        hit = da < below
    else:
        assert above is not None  # exactly one of the two, checked above
        hit = da > above
    dims = sample_dims(da)
    if not dims:  # a summary's bands, or one draw's values: no sample to count over
        raise ScenarioError("has no draw dim to count a probability over (a summary Dataset "
                            "holds bands, not draws: run with keep='draws', or read "
                            "P(= 0) from its p_zero_<name> variables)", key="variable",
                            value=da.name)
    # Count, then divide: a mean over booleans would first cast every element to float.
    out = hit.sum(dim=dims) / int(np.prod([da.sizes[d] for d in dims]))
    out.attrs = {"units": "probability",
                 "long_name": f"P({da.name} {'<' if below is not None else '>'} "
                              f"{below if below is not None else above:g})"}
    return out.rename(f"p_{da.name}")


def write_netcdf(ds: xr.Dataset, path: str | os.PathLike[str]) -> Path:
    """Write *ds* to NetCDF atomically: a temporary name in the same folder, then a rename.

    >>> import tempfile
    >>> ds = xr.Dataset({"reserves": ("draw", [1.0, 2.0])}, attrs={"run_id": "abc"})
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = write_netcdf(ds, Path(d) / "run.nc")
    ...     print(open_results(path)["reserves"].values)
    [1. 2.]
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        ds.to_netcdf(tmp, engine="netcdf4")
    return path


def open_results(path: str | os.PathLike[str]) -> xr.Dataset:
    """Read a run written by :func:`write_netcdf` (fully loaded into memory).

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
    if not path.is_file():
        raise ScenarioError("is a folder, not a results file" if path.is_dir()
                            else "no such results file", path=str(path))
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
        return xr.load_dataset(path, engine="netcdf4")
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise ScenarioError(f"cannot be read as a NetCDF results file: {reason}",
                            path=str(path)) from None


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

"""Sensitivity: which input moves an output most, and how much the reading of ranges matters.

Three views of one output at one month (summed over model dims such as
``region``; averaged over replicates):

* **Sobol indices** (variance-based, global): the first-order index of a
  parameter is the share of the output's variance it explains alone, the
  total index adds its interactions. Computed by ``scipy.stats.sobol_indices``
  (Saltelli 2010 estimators) on a scrambled Sobol design of ``(d + 2) n``
  model runs, with percentile bootstrap confidence intervals
  (``scipy.stats.bootstrap`` over the design's rows, seeded, so intervals are
  reproducible; the bootstrap treats the rows as independent, which makes the
  intervals conservative for a Sobol design). SciPy is already a dependency;
  SALib would add one for the same estimators.
* **Spearman rank correlation** of each sampled parameter with the output
  over an ordinary run: cheap, signed, the usual tornado chart.
* **Reading of the ranges**: every parameter that comes from a report
  (``source = ...``) and is read as a range is re-read, all together, as
  uniform, normal90, lognormal90 and pert (mode: the stated one, else the
  midpoint), and the run repeated with the same seed. Where a reading is
  not valid for a parameter (a lognormal needs low > 0; a normal must not put
  mass below zero for a quantity that cannot be negative) that parameter
  keeps its reading, and the notes say so. If the output's bands move little
  between rows, the conclusion rests on the reported figures, not on how
  their ranges were read.

The model's own chance (binomial transitions, Poisson shocks) is held fixed per
row of the Sobol design: row j of every block (A, B and each A with one column
of B) uses the chance of draw j (:mod:`threatsim.engine.evaluate`), so a
parameter's index measures only what changing that parameter does, and a
parameter with no path to the output gets indices of exactly 0. Chance acts as
one more input, independent of the parameters: its total share of the
variance is estimated beside the indices by rerunning block A with the chance
of other draws (Jansen's estimator, as for a parameter), so first-order
indices of a stochastic model sum to less than one, and the table says how
much of the rest is chance.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import xarray as xr
from scipy import stats
from scipy.stats import qmc

from threatsim.analysis._common import model_dims, outcome_series, require_output
from threatsim.core.errors import ScenarioError
from threatsim.core.formatting import format_value
from threatsim.engine.evaluate import evaluate
from threatsim.engine.executors import ExecutorArg
from threatsim.engine.options import RunOptions
from threatsim.engine.progress import Progress, ProgressArg
from threatsim.engine.runner import run_with
from threatsim.engine.streams import sobol_stream
from threatsim.inputs.distributions import RANGED_KINDS, DistSpec
from threatsim.inputs.scenario import Scenario, scenario_from_dict
from threatsim.models.registry import get_model
from threatsim.results import sample_dims

__all__ = [
    "READINGS",
    "SobolIndices",
    "range_readings",
    "rank_correlations",
    "sensitivity",
    "sensitivity_table",
    "sobol",
]

#: Readings of a reported range compared by :func:`range_readings`.
READINGS = ("uniform", "normal90", "lognormal90", "pert")


@dataclass(frozen=True, slots=True)
class SobolIndices:
    """First-order and total Sobol indices with bootstrap confidence intervals.

    >>> from scipy import stats
    >>> res = sobol(lambda x: x[0] + 0 * x[1], [stats.uniform(), stats.uniform()], n=64,
    ...             n_resamples=9)
    >>> res.names, [round(float(s), 2) for s in res.first_order]
    (('x0', 'x1'), [1.0, 0.0])
    """

    names: tuple[str, ...]
    first_order: np.ndarray
    total_order: np.ndarray
    first_order_low: np.ndarray
    first_order_high: np.ndarray
    total_order_low: np.ndarray
    total_order_high: np.ndarray
    confidence: float
    n: int
    evaluations: int
    #: Chance's total share of the variance and its interval (NaN when *func* has no
    #: chance to vary: see :func:`sobol`'s ``chance``).
    chance_total: float = float("nan")
    chance_total_low: float = float("nan")
    chance_total_high: float = float("nan")


def _check_n(n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 4 or n & (n - 1):
        raise ScenarioError("must be a power of 2, at least 4 (the balance of Sobol' points "
                            "needs it), e.g. 1024", key="n", value=n)


class ChanceFunction(Protocol):
    """A function of a design whose rows also draw chance: ``func(x, chance_offset=k)``
    evaluates column j with the chance of draw ``k + j``."""

    def __call__(self, x: np.ndarray, *, chance_offset: int = 0) -> np.ndarray: ...


def sobol(
    func: Callable[[np.ndarray], np.ndarray] | ChanceFunction,
    dists: Sequence[Any],
    *,
    n: int = 1024,
    seed: int = 0,
    names: Sequence[str] | None = None,
    confidence: float = 0.95,
    n_resamples: int = 999,
    chance: bool = False,
) -> SobolIndices:
    """Sobol indices of ``func`` over independent inputs with the given marginals.

    Parameters
    ----------
    func
        Maps an array ``x`` of shape ``(d, m)`` (one column per evaluation)
        to ``m`` output values.
    dists
        One object per input with a ``ppf`` method (a :class:`DistSpec` or a
        frozen scipy distribution).
    n
        Base sample size, a power of 2; ``func`` sees ``(d + 2) n`` columns.
    seed
        Seeds the scrambling of the Sobol design and the bootstrap.
    confidence, n_resamples
        Of the percentile bootstrap intervals.
    chance
        *func* takes ``chance_offset`` (a :class:`ChanceFunction`): column j of
        every block is evaluated with the chance of draw j, and block A once more
        with that of draw ``n + j``; chance's total share of the variance is then
        ``E[(f(A) - f(A, other chance))^2] / (2 Var)`` (Jansen 1999), with its
        bootstrap interval.

    Examples
    --------
    >>> from scipy import stats
    >>> u = stats.uniform(loc=-np.pi, scale=2 * np.pi)
    >>> f = lambda x: np.sin(x[0]) + 7 * np.sin(x[1]) ** 2 + 0.1 * x[2] ** 4 * np.sin(x[0])
    >>> res = sobol(f, [u, u, u], n=1024, n_resamples=99)
    >>> [round(float(s), 1) for s in res.total_order]
    [0.6, 0.4, 0.2]
    """
    _check_n(n)
    d = len(dists)
    if d < 1:
        raise ScenarioError("needs at least one uncertain input", key="parameters", value=[])
    labels = tuple(names) if names is not None else tuple(f"x{i}" for i in range(d))
    design = qmc.Sobol(d=2 * d, scramble=True, rng=sobol_stream(seed), bits=64).random(n)
    a_b = design.T.reshape(2, d, n)
    for j, dist in enumerate(dists):
        a_b[:, j] = dist.ppf(a_b[:, j])
    a, b = a_b[0], a_b[1]

    def evaluate(x: np.ndarray, chance_offset: int = 0) -> np.ndarray:
        if chance_offset:
            y = np.asarray(func(x, chance_offset=chance_offset),  # type: ignore[call-arg]
                           dtype=np.float64).reshape(-1)  # a ChanceFunction: see above
        else:
            y = np.asarray(func(x), dtype=np.float64).reshape(-1)
        if y.shape != (n,):
            raise ValueError(f"func must return {n} values for {n} columns, got {y.shape}")
        return y

    f_a, f_b = evaluate(a), evaluate(b)
    f_ab = np.empty((d, n))
    for i in range(d):
        page = a.copy()
        page[i] = b[i]
        f_ab[i] = evaluate(page)
    f_c = evaluate(a, chance_offset=n) if chance else None  # A again, other draws' chance
    bad = int(np.sum(~np.isfinite(f_a)) + np.sum(~np.isfinite(f_b))
              + np.sum(~np.isfinite(f_ab)) + (np.sum(~np.isfinite(f_c)) if f_c is not None else 0))
    if bad:
        raise ScenarioError(f"is undefined (NaN or infinite) in {bad:,} of {(d + 2) * n:,} "
                            "model runs; Sobol indices need a value in every run",
                            key="output", value="func")

    def indices(fa: np.ndarray, fb: np.ndarray, fab: np.ndarray,
                fc: np.ndarray | None) -> np.ndarray:
        res = stats.sobol_indices(func={"f_A": fa[None], "f_B": fb[None], "f_AB": fab[:, None]},
                                  n=fa.shape[-1])
        rows = [np.atleast_1d(res.first_order), np.atleast_1d(res.total_order)]
        if fc is not None:  # chance as one more input: Jansen's total, scipy's variance
            var = np.var(np.concatenate([fa, fb]))
            share = 0.5 * np.mean((fa - fc) ** 2) / var if var > 0 else np.nan
            rows.append(np.full(d, share))
        return np.stack(rows)

    point = indices(f_a, f_b, f_ab, f_c)
    low = np.full_like(point, np.nan)
    high = np.full_like(point, np.nan)
    if np.var(np.concatenate([f_a, f_b])) > 0:

        def statistic(idx: np.ndarray) -> np.ndarray:
            return indices(f_a[idx], f_b[idx], f_ab[:, idx],
                           f_c[idx] if f_c is not None else None)

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # degenerate resamples of a flat input
            boot = stats.bootstrap((np.arange(n),), statistic, method="percentile",
                                   n_resamples=n_resamples, confidence_level=confidence,
                                   vectorized=False, rng=sobol_stream(seed + 1))
        low, high = boot.confidence_interval.low, boot.confidence_interval.high
    extra = {}
    if chance:
        extra = {"chance_total": float(point[2][0]), "chance_total_low": float(low[2][0]),
                 "chance_total_high": float(high[2][0])}
    return SobolIndices(names=labels, first_order=point[0], total_order=point[1],
                        first_order_low=low[0], first_order_high=high[0],
                        total_order_low=low[1], total_order_high=high[1],
                        confidence=confidence, n=n,
                        evaluations=(d + 2 + (1 if chance else 0)) * n, **extra)


def _varying(scenario: Scenario) -> list[str]:
    out = []
    for name, p in scenario.parameters.items():
        lo, hi = p.dist.bounds()
        if p.dist.kind != "point" and lo < hi:
            out.append(name)
    return out


def _month(scenario: Scenario, output: str, at: str | None) -> int | None:
    decl = {o.name: o for o in get_model(scenario.model).info.outputs}[output]
    if "time" not in decl.dims:
        if at is not None:
            raise ScenarioError(f"output {output!r} has no time axis (one value per draw); "
                                "leave out --at", key="at", value=at)
        return None
    return scenario.horizon if at is None else scenario.month_of(at, key="at")


def _model_function(scenario: Scenario, output: str, t: int | None, names: Sequence[str],
                    options: RunOptions, bar: Progress | None = None) -> ChanceFunction:
    """``x (d, m) -> output at month t`` by running the model on given parameter values.

    The columns run in chunks on the options' executor (:func:`evaluate`); column j
    draws the chance of draw ``chance_offset + j``, whatever the chunking or executor.
    """
    decl = {o.name: o for o in get_model(scenario.model).info.outputs}[output]
    fixed = {n: float(p.dist.ppf(np.array([0.5]))[0]) for n, p in scenario.parameters.items()
             if n not in names}

    def func(x: np.ndarray, *, chance_offset: int = 0) -> np.ndarray:
        m = x.shape[1]
        params = {n: np.full(m, v) for n, v in fixed.items()}
        params.update({n: np.asarray(x[i], dtype=np.float64) for i, n in enumerate(names)})
        out = np.empty(m)
        draws = np.arange(m, dtype=np.int64) + chance_offset
        for lo, result in evaluate(scenario, params, options, outputs=[output],
                                   chance_draws=draws):
            arr = result[output]
            hi = lo + arr.shape[0]
            if options.replicates > 1:
                arr = arr.mean(axis=1)
            if t is not None:
                arr = arr[:, t]
            extra = len(decl.dims) - (1 if "time" in decl.dims else 0)
            if extra:
                arr = arr.reshape(arr.shape[0], -1).sum(axis=1)
            out[lo:hi] = arr
            if bar is not None:
                bar.advance(hi - lo)
        return out

    return func


def rank_correlations(ds: xr.Dataset, output: str, at: str | None = None) -> xr.DataArray:
    """Spearman rank correlation of each sampled parameter with *output* at *at*.

    >>> import threatsim
    >>> sc = threatsim.load_scenario("scenarios/financing.toml")
    >>> ds = threatsim.run(sc, draws=300, progress=False)
    >>> rho = rank_correlations(ds, "reserves")
    >>> rho.dims, bool((abs(rho.fillna(0)) <= 1).all())
    (('parameter',), True)
    """
    y = outcome_series(ds, output, at)
    if "replicate" in y.dims:
        y = y.mean("replicate")
    names = [str(n) for n, v in ds.data_vars.items() if v.attrs.get("role") == "parameter"]
    rho = np.full(len(names), np.nan)
    for i, name in enumerate(names):
        x = ds[name].values
        ok = np.isfinite(y.values) & np.isfinite(x)
        if ok.sum() > 2 and np.ptp(x[ok]) > 0 and np.ptp(y.values[ok]) > 0:
            rho[i] = stats.spearmanr(x[ok], y.values[ok]).statistic
    return xr.DataArray(rho, dims="parameter", coords={"parameter": names}, name="spearman",
                        attrs={"long_name": f"Spearman rank correlation with {output}"})


def _reread(scenario: Scenario, kind: str) -> tuple[Scenario, list[str], list[str]]:
    """The scenario with every sourced ranged parameter read as *kind*."""
    data = copy.deepcopy(scenario.resolved)
    switched, kept = [], []
    for name, p in scenario.parameters.items():
        if p.source is None or p.dist.kind not in RANGED_KINDS:
            continue
        low, high = p.dist.low, p.dist.high
        assert low is not None, "a ranged distribution has both bounds"  # checked on loading
        assert high is not None, "a ranged distribution has both bounds"
        lo, hi = float(low), float(high)
        mode = p.dist.mode if p.dist.mode is not None else (lo + hi) / 2
        try:
            spec = DistSpec(kind=kind, low=lo, high=hi,
                            mode=mode if kind in ("pert", "triangular") else None,
                            integer=p.dist.integer)
            problem = spec.problem(nonnegative=True)
        except ValueError as exc:
            problem = str(exc)
        if problem is not None:
            kept.append(f"{name} kept {p.dist.kind} ({kind}: {problem.split(';')[0]})")
            continue
        table = data["parameters"][name]
        table["dist"] = kind
        table["range"] = [lo, hi]
        if kind == "pert":
            table["mode"] = mode
        else:
            table.pop("mode", None)
        if p.dist.kind != kind:
            switched.append(name)
    return scenario_from_dict(data, path=scenario.path, sources=scenario.sources), switched, kept


def range_readings(scenario: Scenario, output: str, at: str | None = None, *,
                   draws: int | None = None, seed: int | None = None,
                   quantiles: Sequence[float] = (0.05, 0.5, 0.95),
                   executor: ExecutorArg = None) -> xr.DataArray:
    """Bands of *output* at *at* under each reading of the sourced ranges (same seed).

    Returns a DataArray ``(reading, quantile)``; the first reading is
    ``"as given"``. attrs ``notes`` (JSON: reading -> list of notes) say
    which parameters were switched and which kept their reading and why.

    >>> import threatsim
    >>> sc = threatsim.load_scenario("scenarios/financing.toml")
    >>> rd = range_readings(sc, "reserves", draws=200)
    >>> rd.dims, str(rd["reading"].values[0])
    (('reading', 'quantile'), 'as given')
    """
    _refuse_posterior(scenario)
    scenario = require_output(scenario, output)
    _month(scenario, output, at)
    options = RunOptions.build(scenario, draws=draws, seed=seed, executor=executor,
                               progress=False)
    return _readings(scenario, output, at, options, quantiles)


def _refuse_posterior(scenario: Scenario) -> None:
    """Sobol indices and the readings of the ranges need the scenario's own, independent
    parameters; a posterior's are dependent and replace the ranges (docs/calibration.md)."""
    if scenario.posterior is not None:
        raise ScenarioError(
            "is not taken by sensitivity: Sobol indices assume independent parameters and "
            "a posterior's are dependent; run the scenario (threatsim run) and read the "
            "rank correlations of its draws, or drop the posterior key",
            path=scenario.path, key="posterior", value=scenario.posterior)


def _sourced(scenario: Scenario) -> list[str]:
    """The parameters read from a reported range (what the readings read otherwise)."""
    return [n for n, p in scenario.parameters.items()
            if p.source is not None and p.dist.kind in RANGED_KINDS]


def _readings(scenario: Scenario, output: str, at: str | None, options: RunOptions,
              quantiles: Sequence[float], bar: Progress | None = None) -> xr.DataArray:
    """:func:`range_readings` with its run options built (every reading runs with them;
    *bar* counts their draws, with a line per reading)."""
    sourced = _sourced(scenario)
    rows, labels, notes = [], [], {}
    variants: list[tuple[str, Scenario, list[str]]] = [("as given", scenario, [])]
    if sourced:
        for kind in READINGS:
            sc, switched, kept = _reread(scenario, kind)
            variants.append((kind, sc, kept + ([f"switched: {', '.join(switched)}"]
                                               if switched else ["nothing switched"])))
    for label, sc, note in variants:
        if bar is None:
            ds = run_with(sc, options)
        else:
            ds = run_with(sc, dataclasses.replace(options, progress=bar.part()))
            bar.advance(0, line=f"sensitivity: reading {label!r} run")
        y = outcome_series(ds, output, at)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            rows.append(y.quantile(list(quantiles), dim=sample_dims(y)).values)
        labels.append(label)
        notes[label] = note
    return xr.DataArray(np.array(rows), dims=("reading", "quantile"),
                        coords={"reading": labels, "quantile": list(quantiles)},
                        name="readings",
                        attrs={"units": ds[output].attrs.get("units", ""),
                               "sourced": json.dumps(sourced), "notes": json.dumps(notes),
                               "long_name": f"bands of {output} under each reading of the "
                                            "reported ranges"})


def sensitivity(
    scenario: Scenario,
    output: str,
    *,
    at: str | None = None,
    n: int = 1024,
    draws: int | None = None,
    seed: int | None = None,
    confidence: float = 0.95,
    n_resamples: int = 999,
    readings: bool = True,
    executor: ExecutorArg = None,
    progress: ProgressArg = None,
) -> xr.Dataset:
    """Sobol indices, rank correlations and the reading-of-ranges row for *output* at *at*.

    Parameters
    ----------
    output
        An output of the scenario's model.
    at
        Month ``"YYYY-MM"`` (default: the last month); not for per-draw outputs.
    n
        Base sample of the Sobol design (a power of 2): ``(d + 2) n`` model runs.
    draws, seed
        Of the ordinary runs behind the rank correlations and the readings
        (default: the scenario's).
    readings
        Also rerun under each reading of the reported ranges.
    progress
        Counts the model runs: the Sobol design's ``(d + 3) n`` (its ``(d + 2) n``
        and block A again with other draws' chance), then the draws of the
        ordinary run and of each reading, with a line as each part ends
        (:mod:`threatsim.engine.progress`). ``True``: a bar on stderr; ``None``:
        that when stderr is a terminal; a callable ``progress(done, total,
        label)``; ``False``: nothing. Default ``None``.

    Returns
    -------
    xarray.Dataset
        On a ``parameter`` dim: ``first_order``, ``total_order`` and their
        ``_low``/``_high`` bootstrap bounds (NaN when the output has undefined
        values), ``spearman``; on ``reading`` x ``quantile``: ``readings``.

    Raises
    ------
    ScenarioError
        An output the model does not produce, a month outside the run, ``n``
        not a power of 2.

    Examples
    --------
    >>> import threatsim
    >>> sc = threatsim.load_scenario("scenarios/financing.toml")
    >>> sds = sensitivity(sc, "reserves", n=16, draws=200, n_resamples=9, readings=False)
    >>> sds["total_order"].dims
    ('parameter',)
    """
    _check_n(n)
    _refuse_posterior(scenario)
    scenario = require_output(scenario, output)
    t = _month(scenario, output, at)
    seed = scenario.run.seed if seed is None else seed
    names = _varying(scenario)
    if not names:
        raise ScenarioError("has no uncertain parameter (every one is a point value)",
                            path=scenario.path, key="parameters", value=list(scenario.parameters))
    # The ordinary run, the readings and the Sobol design's chunks share these options.
    options = RunOptions.build(scenario, draws=draws, seed=seed, executor=executor,
                               progress=False)
    n_readings = (1 + len(READINGS) if _sourced(scenario) else 1) if readings else 0
    total = (len(names) + 3) * n + (1 + n_readings) * options.draws
    with Progress(total, progress=progress, label=f"sensitivity of {output}") as bar:
        return _sensitivity(scenario, output, at, t, names, options, n=n, seed=seed,
                            confidence=confidence, n_resamples=n_resamples,
                            readings=readings, bar=bar)


def _sensitivity(scenario: Scenario, output: str, at: str | None, t: int | None,
                 names: list[str],
                 options: RunOptions, *, n: int, seed: int, confidence: float,
                 n_resamples: int, readings: bool, bar: Progress) -> xr.Dataset:
    """:func:`sensitivity` once its arguments are checked, counting its runs on *bar*."""
    func = _model_function(scenario, output, t, names, options, bar)
    dists = [scenario.parameters[nm].dist for nm in names]
    note = ""
    res: SobolIndices | None = None
    try:
        res = sobol(func, dists, n=n, seed=seed, names=names, confidence=confidence,
                    n_resamples=n_resamples, chance=True)
        bar.advance(0, line=f"sensitivity: Sobol design of {(len(names) + 3) * n:,} model "
                            "runs done")
    except ScenarioError as exc:
        if exc.key != "output":
            raise
        note = (f"{output} {exc.expected}, so Sobol indices are not computed (e.g. 'never "
                "reached'); see the rank correlations")
        # the design stopped early: its count jumps to its end, where the runs' start
        bar.advance(max(0, (len(names) + 3) * n - bar.done))
    ds_run = run_with(scenario, dataclasses.replace(options, progress=bar.part()))
    bar.advance(0, line=f"sensitivity: run of {options.draws:,} draws done")
    rho = rank_correlations(ds_run, output, at).reindex(parameter=names)
    nan = np.full(len(names), np.nan)
    data: dict[str, Any] = {
        "first_order": ("parameter", res.first_order if res else nan),
        "first_order_low": ("parameter", res.first_order_low if res else nan),
        "first_order_high": ("parameter", res.first_order_high if res else nan),
        "total_order": ("parameter", res.total_order if res else nan),
        "total_order_low": ("parameter", res.total_order_low if res else nan),
        "total_order_high": ("parameter", res.total_order_high if res else nan),
        "spearman": rho,
        "chance_total_order": ((), res.chance_total if res else np.nan, {
            "long_name": "total share of the variance due to the model's own chance"}),
        "chance_total_order_low": ((), res.chance_total_low if res else np.nan),
        "chance_total_order_high": ((), res.chance_total_high if res else np.nan),
    }
    out = xr.Dataset(data, coords={"parameter": names})
    units = {nm: scenario.parameters[nm].unit for nm in names}
    if "time" in ds_run[output].dims:
        month = scenario.month_label(t if t is not None else scenario.horizon)
    else:
        month = ""
    out.attrs = {
        "title": f"threatsim sensitivity of {output} in scenario {scenario.name!r}",
        "scenario_name": scenario.name, "model": scenario.model, "output": output,
        "at": month, "units": ds_run[output].attrs.get("units", ""),
        "model_dims": json.dumps(model_dims(ds_run, output)),
        "seed": seed, "n": n, "evaluations": res.evaluations if res else 0,
        "confidence": confidence, "draws": ds_run.sizes["draw"],
        "parameter_units": json.dumps(units), "note": note,
        "provenance": json.dumps({nm: scenario.parameters[nm].provenance(scenario.sources)
                                  for nm in names}),
    }
    if readings:
        rd = _readings(scenario, output, month or None, options, (0.05, 0.5, 0.95), bar)
        out["readings"] = rd
    return out


def _interval(x: float, lo: float, hi: float) -> str:
    if not np.isfinite(x):
        return "-"
    return f"{x:5.2f} [{lo:5.2f}, {hi:5.2f}]"


def sensitivity_table(sds: xr.Dataset) -> str:
    """The text ``threatsim sensitivity`` prints.

    >>> import threatsim
    >>> sc = threatsim.load_scenario("scenarios/financing.toml")
    >>> sds = sensitivity(sc, "reserves", n=16, draws=200, n_resamples=9, readings=False)
    >>> sensitivity_table(sds).splitlines()[0]  # doctest: +ELLIPSIS
    "sensitivity of reserves (usd) at 2022-01 in 'financing'"
    """
    a = sds.attrs
    when = f" at {a['at']}" if a.get("at") else ""
    summed = json.loads(a.get("model_dims", "[]"))
    lines = [f"sensitivity of {a['output']} ({a['units']}){when} in {a['scenario_name']!r}"
             + (f", summed over {', '.join(summed)}" if summed else "")]
    if a.get("evaluations"):
        lines.append(f"Sobol indices: scipy.stats.sobol_indices, n={a['n']:,} ({a['evaluations']:,}"
                     f" model runs), {a['confidence']:.0%} bootstrap intervals; rank correlation "
                     f"over {a['draws']:,} draws (seed {a['seed']})")
    if a.get("note"):
        lines.append(f"note: {a['note']}")
    order = np.argsort(-np.nan_to_num(sds["total_order"].values, nan=-1.0)
                       - 1e-9 * np.nan_to_num(abs(sds["spearman"].values)))
    lines.append(f"  {'parameter':<28}{'first order':>22}{'total order':>22}{'rank corr.':>12}")
    for i in order:
        p = sds.isel(parameter=i)
        rho = float(p["spearman"])
        first = _interval(float(p.first_order), float(p.first_order_low),
                          float(p.first_order_high))
        total = _interval(float(p.total_order), float(p.total_order_low),
                          float(p.total_order_high))
        corr = f"{rho:+.2f}" if np.isfinite(rho) else "-"
        lines.append(f"  {p['parameter'].values!s:<28}{first:>22}{total:>22}{corr:>12}")
    if "chance_total_order" in sds and np.isfinite(float(sds["chance_total_order"])):
        chance = _interval(float(sds["chance_total_order"]), float(sds["chance_total_order_low"]),
                           float(sds["chance_total_order_high"]))
        lines.append(f"  {'(chance: the model itself)':<28}{'':>22}{chance:>22}{'':>12}")
    if "readings" in sds:
        rd = sds["readings"]
        unit = rd.attrs.get("units", "")
        sourced = json.loads(rd.attrs["sourced"])
        notes = json.loads(rd.attrs["notes"])
        lines.append("\nreading of the report's ranges"
                     + (f" (sourced parameters: {', '.join(sourced)}), same seed:" if sourced
                        else ": no sourced parameter is read as a range"))
        qs = [float(q) for q in rd["quantile"].values]
        lines.append(f"  {'reading':<14}" + "".join(f"{f'{q:.0%}':>12}" for q in qs)
                     + "   notes")
        for r in rd["reading"].values:
            row = rd.sel(reading=r)
            cells = [format_value(float(row.sel(quantile=q)), unit, short=True) for q in qs]
            lines.append(f"  {r!s:<14}" + "".join(f"{c:>12}" for c in cells)
                         + "   " + "; ".join(notes.get(str(r), [])))
        if len(rd["reading"]) > 1 and 0.5 in qs:
            med = rd.sel(quantile=0.5).values
            base = med[0]
            spread = (np.nanmax(med) - np.nanmin(med))
            rel = spread / abs(base) if base else np.inf
            lines.append(f"  the median moves by {format_value(spread, unit, short=True)} "
                         f"({rel:.0%} of the as-given median) across readings")
    return "\n".join(lines)


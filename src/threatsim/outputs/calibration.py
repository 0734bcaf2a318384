r"""Calibration: conditioning a scenario's sampled parameters on reported figures.

A later report's figure -- a point, a range or a one-sided bound (an
:class:`~threatsim.outputs.observations.Observation`) -- says something about
the scenario's parameters. :func:`calibrate` turns a prior sample (a run of the
scenario) into a posterior sample with weights, under the likelihoods below,
and :func:`calibration_report` prints what a planner needs to judge it.

Likelihoods (``x``: the model's value of the observed quantity for one draw;
``r``: the observation's relative reporting error, :data:`DEFAULT_REL_ERROR`
unless set per observation; :math:`\Phi`, :math:`\varphi`: the standard normal
CDF and density):

==============  ==============================================  ============================
figure          likelihood of ``x``                             reporting error ``sigma``
==============  ==============================================  ============================
point ``y``     :math:`\varphi((y - x)/\sigma) / \sigma`        ``r * |y|`` (``r`` if y = 0)
range [a, b]    :math:`\Phi((b-x)/\sigma)-\Phi((a-x)/\sigma)`   ``r * (b - a)``
at least ``a``  :math:`\Phi((x - a)/\sigma)`                    ``r * |a|`` (``r`` if a = 0)
at most ``b``   :math:`\Phi((b - x)/\sigma)`                    ``r * |b|`` (``r`` if b = 0)
==============  ==============================================  ============================

A range is interval-censored: the probability that the reported figure's
quantity lies in [a, b] when the figure is the truth plus a normal reporting
error; with ``r = 0`` it is the indicator of ``a <= x <= b`` (a bound likewise).
A point needs ``r > 0``. Observations are independent given the parameters
(the log-likelihoods add). With replicates, a draw's likelihood is the mean
over its replicates (an unbiased estimate of the likelihood with the chance
integrated out).

Methods: importance reweighting of the prior sample (weights proportional to
the likelihood, Pareto-smoothed with ``arviz.psislw``) when its Pareto ``k``
is at most :data:`PARETO_K_MAX` and its effective sample size at least
``min_ess``; otherwise a sequential Monte Carlo sampler with likelihood
tempering (Del Moral, Doucet and Jasra 2006): the likelihood is raised to
powers 0 < b1 < ... < 1, each chosen so that the reweighting keeps half the
particles' ESS; after each step the particles are resampled and moved by
random-walk Metropolis steps in the normal-score space of the prior (a
Gaussian copula with the scenario's rank correlations; each proposal is a
new run of the model on the engine's executor, with fresh chance). Both
target the same posterior; the choice and its reason are recorded and printed.

>>> import threatsim
>>> from threatsim.outputs.observations import observations_from_dict
>>> sc = threatsim.load_scenario("scenarios/financing.toml")
>>> obs = observations_from_dict({"document": "test", "observation": [
...     {"id": "r", "variable": "reserves", "date": "2019-07", "low": 1e8, "high": 2e8,
...      "unit": "usd"}]})
>>> post = calibrate(sc, obs, draws=400, seed=1)
>>> post.attrs["method"], post.attrs["observations"]
('importance', '["r"]')
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import xarray as xr
from scipy import special, stats

from threatsim.core.errors import ScenarioError
from threatsim.core.version import __version__
from threatsim.engine.evaluate import evaluate
from threatsim.engine.executors import ExecutorArg
from threatsim.engine.options import RunOptions
from threatsim.engine.progress import Progress, ProgressArg
from threatsim.engine.runner import run as run_scenario
from threatsim.engine.streams import parameter_stream
from threatsim.inputs.parts import RunSettings
from threatsim.inputs.scenario import Scenario
from threatsim.outputs.observations import Observation, ObservationSet, check_observations
from threatsim.results import posterior_from_dataset, prior_fingerprint, to_dataset

__all__ = [
    "DEFAULT_REL_ERROR",
    "METHODS",
    "PARETO_K_MAX",
    "calibrate",
    "calibration_report",
    "log_likelihood",
    "posterior_resample",
    "psis",
    "reporting_sigma",
]

FloatArray = npt.NDArray[np.float64]

#: The relative reporting error of an observation not given one (see the module doc):
#: a point's sd is 10 % of it, a range's 10 % of its width, a bound's 10 % of it.
DEFAULT_REL_ERROR = 0.1
#: Above this Pareto k the importance weights are not trusted (Vehtari et al. 2024).
PARETO_K_MAX = 0.7
#: ``method`` values of :func:`calibrate`.
METHODS = ("auto", "importance", "smc")
#: The share of the particles' ESS that each tempering step keeps.
_ESS_KEEP = 0.5
_MAX_STAGES = 60


# -- likelihoods ---------------------------------------------------------------------


def reporting_sigma(obs: Observation, rel_error: float = DEFAULT_REL_ERROR) -> float:
    """The sd of the reporting error of *obs* (see the module doc's table).

    >>> o = Observation(id="x", variable="v", month=np.datetime64("2020-01"), low=10.0,
    ...                 high=30.0, unit="people")
    >>> reporting_sigma(o, 0.1)
    2.0
    """
    if obs.kind == "range":
        scale = obs.high - obs.low
    else:
        value = obs.low if math.isfinite(obs.low) else obs.high
        scale = abs(value) if value != 0 else 1.0
    return float(rel_error) * scale


def _log_interval(a: FloatArray, b: FloatArray) -> FloatArray:
    """``log(Phi(b) - Phi(a))`` for ``a <= b``, accurate in both tails."""
    flip = a > 0  # Phi(b) - Phi(a) = Phi(-a) - Phi(-b): keep the arguments left of 0
    lo = np.where(flip, -b, a)
    hi = np.where(flip, -a, b)
    log_hi = special.log_ndtr(hi)
    log_lo = special.log_ndtr(lo)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = log_hi + np.log1p(-np.exp(log_lo - log_hi))
    return np.asarray(np.where(hi > lo, out, -np.inf), dtype=np.float64)


def log_likelihood(obs: Observation, x: npt.ArrayLike,
                   rel_error: float = DEFAULT_REL_ERROR) -> FloatArray:
    """The log-likelihood of model values *x* under the figure *obs* (module doc).

    >>> o = Observation(id="x", variable="v", month=np.datetime64("2020-01"), low=10.0,
    ...                 high=30.0, unit="people")
    >>> ll = log_likelihood(o, [20.0, 10.0], rel_error=0.1)   # sigma = 2
    >>> np.round(np.exp(ll), 4).tolist()   # Phi(5) - Phi(-5), Phi(10) - Phi(0)
    [1.0, 0.5]
    >>> np.exp(log_likelihood(o, [9.0, 20.0], rel_error=0.0)).tolist()  # hard censoring
    [0.0, 1.0]
    """
    xs = np.asarray(x, dtype=np.float64)
    if not (math.isfinite(rel_error) and rel_error >= 0):
        raise ScenarioError("must be a finite number >= 0", key=f"error.{obs.id}",
                            value=rel_error)
    sigma = reporting_sigma(obs, rel_error)
    with np.errstate(divide="ignore"):
        if obs.kind == "point":
            if sigma <= 0:
                raise ScenarioError("must be > 0 for a point figure (a point without error "
                                    "has likelihood zero almost everywhere)",
                                    key=f"error.{obs.id}", value=rel_error)
            z = (xs - obs.low) / sigma
            return np.asarray(-0.5 * z * z - math.log(sigma) - 0.5 * math.log(2 * math.pi),
                              dtype=np.float64)
        if sigma == 0:
            inside = (xs >= obs.low) & (xs <= obs.high)
            return np.asarray(np.where(inside, 0.0, -np.inf), dtype=np.float64)
        if obs.kind == "at_least":
            return np.asarray(special.log_ndtr((xs - obs.low) / sigma), dtype=np.float64)
        if obs.kind == "at_most":
            return np.asarray(special.log_ndtr((obs.high - xs) / sigma), dtype=np.float64)
        return _log_interval((obs.low - xs) / sigma, (obs.high - xs) / sigma)


def _reported_cdf(obs: Observation, x: FloatArray, w: FloatArray, value: float,
                  rel_error: float) -> float:
    """P(Y <= value) for Y = x + reporting error, x weighted by *w*."""
    if math.isinf(value):
        return 1.0 if value > 0 else 0.0
    sigma = reporting_sigma(obs, rel_error)
    if sigma == 0:
        return float(np.sum(w * (x <= value)))
    return float(np.sum(w * special.ndtr((value - x) / sigma)))


def _p_value(obs: Observation, x: FloatArray, w: FloatArray, rel_error: float) -> float:
    """Predictive p-value of the figure: ``min(1, 2 min(P(Y <= high), P(Y >= low)))``."""
    below = _reported_cdf(obs, x, w, obs.high, rel_error)
    above = 1.0 - _reported_cdf(obs, x, w, obs.low, rel_error)
    return float(min(1.0, 2.0 * min(below, above)))


# -- importance weights --------------------------------------------------------------


def psis(log_weights: npt.ArrayLike) -> tuple[FloatArray, float]:
    """Pareto-smoothed importance weights (normalised, summing to 1) and the Pareto k.

    Uses arviz (``pip install 'threatsim[calibrate]'``). Weights whose largest
    values are all equal (a flat tail) are bounded: they are kept as they are,
    with k reported as 0 (arviz's fit of a Pareto tail is undefined there).

    >>> w, k = psis(stats.norm.ppf(np.linspace(0.0005, 0.9995, 1000)))
    >>> round(float(w.sum()), 6), bool(k < 0.5)
    (1.0, True)
    >>> psis([0.0, 0.0, -np.inf, 0.0])
    (array([0.333..., 0.333..., 0.  , 0.333...]), 0.0)
    """
    lw = np.asarray(log_weights, dtype=np.float64)
    finite = np.isfinite(lw)
    lw = np.where(finite, lw - np.max(lw[finite]), -np.inf)
    try:
        with warnings.catch_warnings():  # arviz 0.2x announces its refactor on import
            warnings.simplefilter("ignore", FutureWarning)
            import arviz
    except ImportError:
        raise ScenarioError("calibration needs arviz for its Pareto-smoothed weights; "
                            "install it with pip install 'threatsim[calibrate]'",
                            key="arviz") from None
    n = int(finite.sum())
    tail = np.sort(lw[finite])[-max(int(min(n / 5, 3 * math.sqrt(n))), 1):]
    if tail[-1] - tail[0] < 1e-9:
        # A flat tail (a censored range with little or no reporting error gives many
        # draws the same largest weight): the weights are bounded and need no smoothing;
        # arviz's fit of a Pareto tail to ties is undefined (inf), the bound means k <= 0.
        w = np.exp(lw)
        return w / w.sum(), 0.0
    smoothed, k = arviz.psislw(np.where(finite, lw, -1e300))
    slw = np.asarray(smoothed, dtype=np.float64).ravel()
    slw = np.where(finite, slw, -np.inf)
    w = np.exp(slw - np.max(slw))
    return w / w.sum(), float(np.asarray(k))


def _ess(w: FloatArray) -> float:
    """Kish's effective sample size of normalised weights."""
    return float(1.0 / np.sum(w * w))


def _systematic(w: FloatArray, n: int, rng: np.random.Generator) -> npt.NDArray[np.int64]:
    """Systematic resampling: *n* indices drawn in proportion to *w*."""
    cdf = np.cumsum(w)
    cdf[-1] = 1.0
    u = (rng.random() + np.arange(n)) / n
    return np.asarray(np.searchsorted(cdf, u, side="right"), dtype=np.int64)


# -- the model on chosen parameter values --------------------------------------------


class _Simulator:
    """Runs the model on parameter values and returns each observation's value per draw."""

    def __init__(self, scenario: Scenario, obs: ObservationSet, options: RunOptions,
                 first_chance: int, bar: Progress) -> None:
        self.scenario, self.bar = scenario, bar
        self.obs = obs
        self.options = options
        self.next_chance = first_chance
        self.outputs = sorted({v for o in obs for v in o.variables})  # a sum reads each
        self.runs = 0

    def __call__(self, params: Mapping[str, FloatArray]) -> FloatArray:
        """``(n draws, replicates, n observations)`` values."""
        n = len(next(iter(params.values())))
        chance = np.arange(self.next_chance, self.next_chance + n, dtype=np.int64)
        self.next_chance += n
        self.runs += n
        parts: dict[str, list[tuple[int, np.ndarray]]] = {v: [] for v in self.outputs}
        for lo, result in evaluate(self.scenario, params, self.options, outputs=self.outputs,
                                   chance_draws=chance):
            for v in self.outputs:
                parts[v].append((lo, result[v]))
        arrays = {v: np.concatenate([a for _, a in sorted(p, key=lambda t: t[0])])
                  for v, p in parts.items()}
        self.bar.advance(n)
        settings = RunSettings(draws=n, seed=self.options.seed,
                               chunk_size=self.options.chunk_size,
                               replicates=self.options.replicates)
        sc = self.scenario
        if set(sc.variables) != set(self.outputs):
            sc = _with_outputs(sc, self.outputs)
        ds = to_dataset(sc, arrays, {k: np.asarray(v) for k, v in params.items()}, settings)
        return _forecasts(self.obs, ds)


def _with_outputs(scenario: Scenario, outputs: Sequence[str]) -> Scenario:
    import dataclasses
    return dataclasses.replace(scenario, variables=tuple(outputs))


def _forecasts(obs: ObservationSet, ds: xr.Dataset) -> FloatArray:
    """``(draws, replicates, observations)``: each observation's value in each draw."""
    n = ds.sizes["draw"]
    reps = ds.sizes.get("replicate", 1)
    out = np.empty((n, reps, len(obs)))
    for j, o in enumerate(obs):
        x = o.forecast(ds)
        if not np.all(np.isfinite(x)):
            raise ScenarioError(f"has no value in {int(np.sum(~np.isfinite(x)))} draws at "
                                f"{o.month_label} (a flow has none at the first month); "
                                "observe a later month", key=f"observation.{o.id}.date",
                                value=o.month_label)
        out[:, :, j] = x.reshape(n, reps)
    return out


def _log_lik(obs: ObservationSet, values: FloatArray,
             errors: Mapping[str, float]) -> FloatArray:
    """``(draws, observations)`` log-likelihoods, each the log of the replicates' mean."""
    n, reps, m = values.shape
    ll = np.empty((n, m))
    for j, o in enumerate(obs):
        per = log_likelihood(o, values[:, :, j], errors[o.id])
        ll[:, j] = special.logsumexp(per, axis=1) - math.log(reps)
    return ll


# -- the prior in normal-score space -------------------------------------------------


class _Prior:
    """The scenario's prior as z ~ N(0, R) mapped through each marginal's ppf."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.names = [n for n, p in scenario.parameters.items()
                      if p.dist.kind != "point" and p.dist.bounds()[0] < p.dist.bounds()[1]]
        d = len(self.names)
        corr = np.eye(d)
        index = {n: i for i, n in enumerate(self.names)}
        for n in self.names:
            group = scenario.parameters[n].correlated
            if group is None:
                continue
            score = group.score_matrix()
            for a, na in enumerate(group.names):
                for b, nb in enumerate(group.names):
                    if na in index and nb in index:
                        corr[index[na], index[nb]] = score[a, b]
        corr = corr + 1e-9 * np.eye(d)  # a singular (valid) matrix stays invertible
        self.chol = np.linalg.cholesky(corr) if d else np.zeros((0, 0))
        self.precision = np.linalg.inv(corr) if d else np.zeros((0, 0))

    def sample(self, n: int, rng: np.random.Generator) -> FloatArray:
        return np.asarray(rng.standard_normal((n, len(self.names))) @ self.chol.T)

    def log_density(self, z: FloatArray) -> FloatArray:
        return np.asarray(-0.5 * np.einsum("ni,ij,nj->n", z, self.precision, z))

    def values(self, z: FloatArray) -> dict[str, FloatArray]:
        n = z.shape[0]
        u = np.clip(special.ndtr(z), 1e-12, 1 - 1e-12)
        out: dict[str, FloatArray] = {}
        for name, p in self.scenario.parameters.items():
            if name in self.names:
                out[name] = p.dist.ppf(u[:, self.names.index(name)])
            else:
                out[name] = p.dist.ppf(np.full(n, 0.5))
        return out


def _smc(prior: _Prior, simulate: _Simulator, obs: ObservationSet,
         errors: Mapping[str, float], n: int, rng: np.random.Generator,
         moves: int) -> tuple[dict[str, FloatArray], FloatArray, FloatArray, dict[str, Any]]:
    """Likelihood-tempered SMC: (values, log-likelihood, observed values, diagnostics)."""
    z = prior.sample(n, rng)
    theta = prior.values(z)
    pred = simulate(theta)
    ll = _log_lik(obs, pred, errors).sum(axis=1)
    if not np.any(np.isfinite(ll)):
        raise _zero_likelihood(obs, pred.mean(axis=1))
    beta = 0.0
    stages: list[dict[str, float]] = []
    d = z.shape[1]
    bar = simulate.bar
    while beta < 1.0:
        if stages:  # another stage: its moves' draws
            bar.set_total(bar.total + n * moves)
        if len(stages) >= _MAX_STAGES:
            raise ScenarioError(f"did not reach the posterior in {_MAX_STAGES} tempering "
                                "stages; the observations are far from the prior: loosen the "
                                "reporting errors (--error ID=REL) or check the figures",
                                key="method", value="smc")

        def ess_at(b: float, beta: float = beta, ll: FloatArray = ll) -> float:
            lw = np.where(np.isfinite(ll), (b - beta) * ll, -np.inf)
            w = np.exp(lw - np.max(lw))
            return _ess(w / w.sum())

        if ess_at(1.0) >= _ESS_KEEP * n:
            new = 1.0
        else:
            lo, hi = beta, 1.0
            for _ in range(50):
                mid = 0.5 * (lo + hi)
                lo, hi = (mid, hi) if ess_at(mid) >= _ESS_KEEP * n else (lo, mid)
            new = max(lo, beta + 1e-12)
        lw = np.where(np.isfinite(ll), (new - beta) * ll, -np.inf)
        w = np.exp(lw - np.max(lw))
        w /= w.sum()
        stage_ess = _ess(w)
        beta = new
        keep = _systematic(w, n, rng)
        z, ll, pred = z[keep], ll[keep], pred[keep]
        # Random-walk Metropolis in z, scaled to the particles' spread.
        cov = np.cov(z, rowvar=False).reshape(d, d) + 1e-9 * np.eye(d)
        step = np.linalg.cholesky(cov * (2.38 ** 2 / max(d, 1)))
        accepted = 0
        for _ in range(moves):
            z_new = z + rng.standard_normal(z.shape) @ step.T
            pred_new = simulate(prior.values(z_new))
            ll_new = _log_lik(obs, pred_new, errors).sum(axis=1)
            with np.errstate(invalid="ignore"):
                log_a = (beta * (ll_new - ll) + prior.log_density(z_new)
                         - prior.log_density(z))
            log_a = np.where(np.isfinite(ll_new), np.nan_to_num(log_a, nan=0.0), -np.inf)
            take = np.log(rng.random(n)) < log_a
            accepted += int(take.sum())
            z = np.where(take[:, None], z_new, z)
            ll = np.where(take, ll_new, ll)
            pred = np.where(take[:, None, None], pred_new, pred)
        stages.append({"beta": beta, "ess": stage_ess,
                       "acceptance": accepted / max(moves * n, 1)})
        bar.advance(0, line=f"SMC stage {len(stages)}: beta {beta:.3f}, ESS {stage_ess:,.0f} "
                            f"of {n:,}, acceptance {stages[-1]['acceptance']:.2f}")
    info = {"stages": len(stages), "stage_ess_min": min(s["ess"] for s in stages),
            "acceptance_last": stages[-1]["acceptance"],
            "betas": [round(s["beta"], 6) for s in stages]}
    return prior.values(z), ll, pred, info


# -- errors for bad input ------------------------------------------------------------


def _zero_likelihood(obs: ObservationSet, values: FloatArray) -> ScenarioError:
    outside = []
    for j, o in enumerate(obs):
        x = values[:, j]
        if o.high < float(np.min(x)) or o.low > float(np.max(x)):
            outside.append(f"{o.id} ({o.truth_text()}; the scenario gives "
                           f"{float(np.min(x)):,.6g} .. {float(np.max(x)):,.6g})")
    where = ("outside everything the scenario allows: " + "; ".join(outside)) if outside \
        else "jointly impossible for every draw"
    return ScenarioError(f"the likelihood is zero for every draw: the observations are "
                         f"{where}; give them a reporting error (--error ID=REL), drop them "
                         "(--only), or widen the scenario's ranges (the model, not the data, "
                         "may be wrong)", key="observations", value=obs.ids())


def _check_errors(obs: ObservationSet, errors: Mapping[str, float] | None,
                  default: float) -> dict[str, float]:
    given = dict(errors or {})
    problems = []
    for key, value in given.items():
        if key not in obs.ids():
            problems.append(ScenarioError(f"is not an observation id; ids: "
                                          f"{', '.join(obs.ids())}", key=f"error.{key}",
                                          value=value))
        elif isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value) or value < 0:
            problems.append(ScenarioError("must be a finite number >= 0 (a relative error)",
                                          key=f"error.{key}", value=value))
    if not (math.isfinite(default) and default >= 0):
        problems.append(ScenarioError("must be a finite number >= 0", key="rel_error",
                                      value=default))
    # --error ID=REL first, then the file's reporting_error, then the default
    out = {o.id: float(given.get(o.id, default if o.reporting_error is None
                                 else o.reporting_error)) for o in obs}
    for o in obs:
        if o.kind == "point" and out[o.id] <= 0 and not problems:
            problems.append(ScenarioError("must be > 0 for a point figure", key=f"error.{o.id}",
                                          value=out[o.id]))
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise ScenarioError("invalid reporting errors", problems=tuple(problems))
    return out


# -- calibrate -----------------------------------------------------------------------


def _weighted_quantiles(x: FloatArray, w: FloatArray, qs: Sequence[float]) -> FloatArray:
    order = np.argsort(x)
    xs, ws = x[order], w[order]
    cdf = np.cumsum(ws) - 0.5 * ws
    cdf /= cdf[-1] + 0.5 * ws[-1]
    return np.asarray(np.interp(qs, cdf, xs), dtype=np.float64)


def calibrate(
    scenario: Scenario,
    observations: ObservationSet,
    *,
    draws: int | None = None,
    seed: int | None = None,
    errors: Mapping[str, float] | None = None,
    rel_error: float = DEFAULT_REL_ERROR,
    method: str = "auto",
    min_ess: float | None = None,
    particles: int | None = None,
    moves: int = 5,
    executor: ExecutorArg = None,
    progress: ProgressArg = None,
    prior: xr.Dataset | None = None,
) -> xr.Dataset:
    """Condition *scenario*'s sampled parameters on *observations* (see the module doc).

    Parameters
    ----------
    draws, seed
        The prior run's draws and seed (default: the scenario's ``[run]``).
    errors
        Relative reporting error by observation id; the others get *rel_error*.
    method
        ``"auto"`` (importance weights unless Pareto k > 0.7 or ESS < *min_ess*,
        then SMC), ``"importance"`` or ``"smc"``.
    min_ess
        Smallest acceptable effective sample size (default: 100, or a tenth
        of the draws when that is smaller).
    particles, moves
        SMC's particles (default: the draws, at most 2,000) and Metropolis
        steps per tempering stage.
    progress
        Counts the draws run (:mod:`threatsim.engine.progress`): the prior
        run's, then SMC's, whose total grows by each tempering stage's as it
        starts, with a line saying the method chosen and one per SMC stage.
        ``True``: a bar on stderr; ``None``: that when stderr is a terminal; a
        callable ``progress(done, total, label)``; ``False``: nothing. Default ``None``.
    prior
        A run of *scenario* (with its draws) to reweight instead of a new one.

    Returns
    -------
    xarray.Dataset
        On ``draw``: each sampled parameter (``role="parameter"``), ``weight``
        (sums to 1), ``log_likelihood`` and ``predicted`` (the observed
        quantities, ``observation`` dim); ``resample_draw`` on ``resample``:
        an equally weighted resample (indices into ``draw``); per parameter
        and per observation the prior and posterior summaries that
        :func:`calibration_report` prints. Attrs: ``method``, ``reason``,
        ``ess``, ``pareto_k``, ``observations`` (JSON ids), ``errors``,
        ``prior_run_id``, ``prior_fingerprint`` (what a run on it is checked
        against, :func:`threatsim.results.prior_fingerprint`) and ``posterior_id``
        (the id runs on it record).

    Raises
    ------
    ScenarioError
        An observation the run cannot score, a bad reporting error, a
        likelihood that is zero for every draw, or too few effective draws
        for ``method="importance"``.

    Examples
    --------
    >>> import threatsim
    >>> from threatsim.outputs.observations import observations_from_dict
    >>> sc = threatsim.load_scenario("scenarios/financing.toml")
    >>> obs = observations_from_dict({"document": "test", "observation": [
    ...     {"id": "r", "variable": "reserves", "date": "2019-07", "low": 1e8, "high": 2e8,
    ...      "unit": "usd"}]})
    >>> post = calibrate(sc, obs, draws=400, seed=1, errors={"r": 0.0})
    >>> bool(((post["predicted"].sel(observation="r") >= 1e8) | (post["weight"] == 0)).all())
    True
    """
    if scenario.posterior is not None:
        raise ScenarioError(
            "is not taken by calibrate: it conditions the scenario's own ranges; calibrate "
            "the scenario without its posterior key on every observation at once",
            path=scenario.path, key="posterior", value=scenario.posterior)
    if method not in METHODS:
        raise ScenarioError(f"must be one of {', '.join(METHODS)}", key="method", value=method)
    errs = _check_errors(observations, errors, rel_error)
    prior_draws = 0 if prior is not None else (draws if draws is not None
                                                else scenario.run.draws)
    with Progress(prior_draws, progress=progress, label=f"calibrate {scenario.name}") as bar:
        return _calibrated(scenario, observations, errs, draws=draws, seed=seed,
                           method=method, min_ess=min_ess, particles=particles, moves=moves,
                           executor=executor, prior=prior, bar=bar)


def _calibrated(scenario: Scenario, observations: ObservationSet, errs: dict[str, float], *,
                draws: int | None, seed: int | None, method: str, min_ess: float | None,
                particles: int | None, moves: int, executor: ExecutorArg,
                prior: xr.Dataset | None, bar: Progress) -> xr.Dataset:
    """:func:`calibrate` once its arguments are checked, counting the draws it runs on
    *bar*: the prior run's, then SMC's (each stage's total added as it starts)."""
    if prior is None:
        prior = run_scenario(scenario, draws=draws, seed=seed, executor=executor,
                             progress=bar.part())
    check_observations(observations, prior)
    options = RunOptions.build(scenario, draws=prior.sizes["draw"],
                               seed=int(prior.attrs.get("seed", 0)), executor=executor,
                               replicates=prior.sizes.get("replicate", 1))
    n = prior.sizes["draw"]
    pri = _Prior(scenario)
    names = pri.names
    prior_theta = {k: np.asarray(prior[k].values, dtype=np.float64)
                   for k in scenario.parameters}
    prior_pred = _forecasts(observations, prior)
    ll_obs = _log_lik(observations, prior_pred, errs)
    ll = ll_obs.sum(axis=1)
    prior_x = prior_pred.mean(axis=1)
    if not np.any(np.isfinite(ll)):
        raise _zero_likelihood(observations, prior_x)
    min_ess = float(min_ess) if min_ess is not None else float(min(100.0, n / 10))
    w, k = psis(ll)
    ess = _ess(w)
    diag = f"Pareto k {k:.2f}, ESS {ess:,.0f} of {n:,} draws"
    if method == "importance" or (method == "auto" and k <= PARETO_K_MAX and ess >= min_ess):
        if ess < min_ess or ess < 2:
            raise ScenarioError(f"leaves an effective sample of {ess:.1f} draws of {n:,} "
                                f"(needs {min_ess:g}): the observations are far from the "
                                "prior; use method='smc' (--method smc), more draws, or "
                                "looser reporting errors (--error ID=REL)",
                                key="method", value="importance")
        chosen = "importance"
        reason = (f"importance reweighting of the prior: {diag} (k <= {PARETO_K_MAX}, "
                  f"ESS >= {min_ess:g})") if method == "auto" else \
            f"importance reweighting, as asked: {diag}"
        theta, weights, pred_x, ll_post = prior_theta, w, prior_x, ll
        bar.advance(0, line=f"calibrate: {reason}")
        extra: dict[str, Any] = {}
        sims = 0
    else:
        chosen = "smc"
        if method == "smc":
            reason = f"sequential Monte Carlo, as asked (importance weights: {diag})"
        else:
            why = f"Pareto k {k:.2f} > {PARETO_K_MAX}" if k > PARETO_K_MAX else \
                f"ESS {ess:,.0f} < {min_ess:g}"
            reason = (f"sequential Monte Carlo (likelihood tempering): the importance "
                      f"weights are not trusted ({why}; ESS {ess:,.0f} of {n:,} draws)")
        rng = parameter_stream(options.seed, "calibration: smc")
        n_part = int(particles) if particles is not None else min(n, 2000)
        if n_part < 10:
            raise ScenarioError("must be at least 10", key="particles", value=n_part)
        bar.advance(0, line=f"calibrate: {reason}")
        # the first stage's draws: the particles' first run and its moves
        bar.set_total(bar.total + n_part * (1 + moves))
        simulate = _Simulator(scenario, observations, options, first_chance=n, bar=bar)
        theta, ll_post, pred, extra = _smc(pri, simulate, observations, errs, n_part, rng,
                                           moves)
        weights = np.full(n_part, 1.0 / n_part)
        pred_x = pred.mean(axis=1)
        sims = simulate.runs
        extra["final_ess"] = extra["stage_ess_min"]
    m = len(weights)
    rng_r = parameter_stream(options.seed, "calibration: resample")
    resample = _systematic(weights, m, rng_r)
    qs = (0.05, 0.95)
    ids = observations.ids()
    data: dict[str, Any] = {}
    for name, p in scenario.parameters.items():
        data[name] = xr.Variable(("draw",), np.asarray(theta[name], dtype=np.float64),
                                 attrs={"units": p.unit, "role": "parameter",
                                        "dist": p.dist.kind})
    data["weight"] = xr.Variable(("draw",), weights)
    data["log_likelihood"] = xr.Variable(("draw",), np.asarray(ll_post, dtype=np.float64))
    data["predicted"] = xr.Variable(("draw", "observation"), pred_x)
    data["resample_draw"] = xr.Variable(("resample",), resample)
    pm = np.empty((len(names), 6))
    uniform = np.full(n, 1.0 / n)
    for i, name in enumerate(names):
        x0 = prior_theta[name]
        x1 = np.asarray(theta[name], dtype=np.float64)
        pm[i] = [float(x0.mean()), *_weighted_quantiles(x0, uniform, qs),
                 float(np.sum(weights * x1)), *_weighted_quantiles(x1, weights, qs)]
    for j, col in enumerate(("prior_mean", "prior_q05", "prior_q95", "posterior_mean",
                             "posterior_q05", "posterior_q95")):
        data[col] = xr.Variable(("parameter",), pm[:, j])
    om = np.empty((len(ids), 8))
    for j, o in enumerate(observations):
        x0, x1 = prior_x[:, j], pred_x[:, j]
        conflict = o.high < float(x0.min()) or o.low > float(x0.max())
        om[j] = [o.low, o.high, errs[o.id], _p_value(o, x0, uniform, errs[o.id]),
                 _p_value(o, x1, weights, errs[o.id]), float(conflict),
                 float(x0.min()), float(x0.max())]
    for j, col in enumerate(("obs_low", "obs_high", "rel_error", "prior_p", "posterior_p",
                             "conflict", "prior_min", "prior_max")):
        data[col] = xr.Variable(("observation",), om[:, j])
    band = np.empty((len(ids), 4))
    for j in range(len(ids)):
        band[j] = [*_weighted_quantiles(prior_x[:, j], uniform, qs),
                   *_weighted_quantiles(pred_x[:, j], weights, qs)]
    for j, col in enumerate(("prior_pred_q05", "prior_pred_q95", "posterior_pred_q05",
                             "posterior_pred_q95")):
        data[col] = xr.Variable(("observation",), band[:, j])
    attrs = {
        "title": f"threatsim calibration of scenario {scenario.name!r}",
        "scenario_name": scenario.name,
        "model": scenario.model,
        "prior_run_id": str(prior.attrs.get("run_id", scenario.run_id)),
        "prior_draws": n,
        "seed": options.seed,
        "method": chosen,
        "reason": reason,
        "ess": float(_ess(weights)) if chosen == "importance" else float(extra["final_ess"]),
        "pareto_k": k,
        "importance_ess": ess,
        "observations": json.dumps(ids),
        "observation_file": observations.path or "",
        "errors": json.dumps(errs, sort_keys=True),
        "likelihood": "point: normal, sd rel_error*|y|; range: Phi((b-x)/s)-Phi((a-x)/s), "
                      "s = rel_error*(b-a); bound: Phi of the distance, s = rel_error*|bound|",
        "simulations": sims,
        "threatsim_version": __version__,
        # what a run on this posterior checks it against (threatsim run --posterior)
        "prior_fingerprint": prior_fingerprint(scenario),
    }
    if chosen == "smc":
        attrs["smc_stages"] = int(extra["stages"])
        attrs["smc_betas"] = json.dumps(extra["betas"])
        attrs["smc_acceptance_last"] = float(extra["acceptance_last"])
    coords = {"draw": np.arange(m), "resample": np.arange(m), "observation": ids,
              "parameter": names}
    post = xr.Dataset(data, coords=coords, attrs=attrs)
    post.attrs["posterior_id"] = posterior_from_dataset(post).id
    return post


def posterior_resample(post: xr.Dataset) -> dict[str, FloatArray]:
    """The equally weighted resample of a calibration: parameter -> values.

    >>> post = xr.Dataset({"a": ("draw", [1.0, 2.0]), "resample_draw": ("resample", [1, 1])})
    >>> post["a"].attrs["role"] = "parameter"
    >>> posterior_resample(post)
    {'a': array([2., 2.])}
    """
    idx = np.asarray(post["resample_draw"].values, dtype=np.int64)
    return {str(k): np.asarray(v.values, dtype=np.float64)[idx]
            for k, v in post.data_vars.items() if v.attrs.get("role") == "parameter"}


# -- report --------------------------------------------------------------------------


def _fmt(x: float) -> str:
    return f"{x:,.4g}"


def calibration_report(post: xr.Dataset) -> str:
    """The diagnostics of a calibration, as a planner reads them.

    Method and why; ESS and Pareto k; each observation's fit (prior and
    posterior predictive p-values) with a warning where the figure is outside
    everything the scenario allows; how far each parameter moved.

    >>> import threatsim
    >>> from threatsim.outputs.observations import observations_from_dict
    >>> sc = threatsim.load_scenario("scenarios/financing.toml")
    >>> obs = observations_from_dict({"document": "test", "observation": [
    ...     {"id": "r", "variable": "reserves", "date": "2019-07", "low": 1e8, "high": 2e8,
    ...      "unit": "usd"}]})
    >>> print(calibration_report(calibrate(sc, obs, draws=400, seed=1)))
    calibration of scenario 'financing' on 1 observation (prior run ...)
    method: importance reweighting of the prior: Pareto k ...
    ...
    """
    ids = [str(i) for i in post["observation"].values]
    a = post.attrs
    lines = [f"calibration of scenario {a['scenario_name']!r} on {len(ids)} observation"
             f"{'s' if len(ids) != 1 else ''} (prior run {a['prior_run_id']}, "
             f"{int(a['prior_draws']):,} draws)",
             f"method: {a['reason']}"]
    if a["method"] == "smc":
        lines.append(f"  {a['smc_stages']} tempering stages, {int(a['simulations']):,} model "
                     f"runs, last acceptance rate {float(a['smc_acceptance_last']):.0%}; "
                     f"smallest ESS at a stage {float(a['ess']):,.0f} of "
                     f"{post.sizes['draw']:,} particles")
    else:
        lines.append(f"  effective sample size {float(a['ess']):,.0f} of "
                     f"{post.sizes['draw']:,} draws; Pareto k {float(a['pareto_k']):.2f}")
    lines += ["", "fit to each observation (predictive p-value: small = poor fit)",
              f"  {'observation':<24} {'figure':>22} {'error':>6} {'prior 90%':>25} "
              f"{'posterior 90%':>25} {'p prior':>8} {'p post':>8}"]
    warnings = []
    for j, oid in enumerate(ids):
        lo, hi = float(post["obs_low"][j]), float(post["obs_high"][j])
        fig = _fmt(lo) if lo == hi else f">= {_fmt(lo)}" if math.isinf(hi) else \
            f"<= {_fmt(hi)}" if math.isinf(lo) else f"{_fmt(lo)} - {_fmt(hi)}"
        pri_b = f"{_fmt(float(post['prior_pred_q05'][j]))} - " \
                f"{_fmt(float(post['prior_pred_q95'][j]))}"
        post_b = f"{_fmt(float(post['posterior_pred_q05'][j]))} - " \
                 f"{_fmt(float(post['posterior_pred_q95'][j]))}"
        pp, qp = float(post["prior_p"][j]), float(post["posterior_p"][j])
        lines.append(f"  {oid:<24} {fig:>22} {float(post['rel_error'][j]):>6.2g} "
                     f"{pri_b:>25} {post_b:>25} {pp:>8.3f} {qp:>8.3f}")
        if float(post["conflict"][j]):
            warnings.append(f"  prior-data conflict: {oid} ({fig}) is outside everything the "
                            f"scenario allows ({_fmt(float(post['prior_min'][j]))} .. "
                            f"{_fmt(float(post['prior_max'][j]))} over the prior's draws): the "
                            "model, not the data, may be wrong")
        elif pp < 0.01:
            warnings.append(f"  prior-data tension: {oid} has prior predictive p = {pp:.3g}")
        if qp < 0.05:
            warnings.append(f"  poor fit after calibration: {oid} has posterior predictive "
                            f"p = {qp:.3g}")
    if warnings:
        lines += ["", "warnings", *warnings]
    lines += ["", "how far each parameter moved (mean, 90% interval; shift in prior sds)",
              f"  {'parameter':<28} {'prior mean':>11} {'prior 90%':>25} {'post mean':>11} "
              f"{'posterior 90%':>25} {'shift':>7} {'width':>6}"]
    for i, name in enumerate(str(p) for p in post["parameter"].values):
        m0, l0, h0 = (float(post[c][i]) for c in ("prior_mean", "prior_q05", "prior_q95"))
        m1, l1, h1 = (float(post[c][i]) for c in ("posterior_mean", "posterior_q05",
                                                  "posterior_q95"))
        sd0 = (h0 - l0) / (2 * stats.norm.ppf(0.95))
        shift = (m1 - m0) / sd0 if sd0 > 0 else 0.0
        width = (h1 - l1) / (h0 - l0) if h0 > l0 else 1.0
        lines.append(f"  {name:<28} {_fmt(m0):>11} {_fmt(l0) + ' - ' + _fmt(h0):>25} "
                     f"{_fmt(m1):>11} {_fmt(l1) + ' - ' + _fmt(h1):>25} {shift:>+7.2f} "
                     f"{width:>6.2f}")
    lines.append("  (shift: posterior minus prior mean over the prior's 90% width / 3.29; "
                 "width: posterior over prior 90% width)")
    return "\n".join(lines)

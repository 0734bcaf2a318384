"""Designs: Monte Carlo, Latin hypercube and scrambled Sobol.

Every sampler makes uniforms in (0, 1) and maps them through each
parameter's inverse CDF (:meth:`DistSpec.ppf`).

* ``mc`` and ``lhs`` draw each parameter's uniforms from its own stream,
  keyed by the parameter's name (:func:`threatsim.engine.streams.parameter_stream`):
  two scenarios with the same seed see the same values for every parameter
  they share, whatever else either one adds (common random numbers).
* ``sobol`` is a joint design over all parameters (scipy.stats.qmc.Sobol,
  scrambled), ordered by parameter name; common random numbers then hold only
  between scenarios with the same set of parameters.

Rank-correlated parameters (``[[correlations]]``, a
:class:`~threatsim.inputs.parts.CorrelationGroup`) get the uniforms of every
design above, then rearranged within the sample by :func:`iman_conover` so that
their rank correlations are the requested ones. It only permutes, so each
parameter's marginal, an LHS column's strata and a Sobol column's points are
exactly kept (the Sobol design's *joint* low-discrepancy among the rearranged
columns is not), and ``share_of`` caps apply after it as before. The
permutation is a function of the group's own uniforms only, so common random
numbers hold for it as for the uniforms: a what-if that leaves the group alone
sees the same values.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np
from scipy import linalg, special

from threatsim.engine.streams import parameter_stream, posterior_stream, sobol_stream
from threatsim.inputs.parts import CorrelationGroup
from threatsim.inputs.scenario import Parameter
from threatsim.results import Posterior

__all__ = ["cap_shares", "correlate", "iman_conover", "posterior_values", "sample_parameters",
           "systematic_resample", "uniforms"]

# Uniforms are kept away from 0 and 1 so that unbounded inverse CDFs stay finite.
_TINY = np.finfo(np.float64).tiny


def uniforms(names: list[str], n: int, *, seed: int, sampler: str,
             first: int = 0) -> dict[str, np.ndarray]:
    """Uniform (0, 1) columns of the design, one per parameter name.

    *first*: with ``mc`` only, the uniforms of draws ``first .. first + n - 1`` of any
    larger sample, without making the ones before: each stream skips ahead
    (:func:`~threatsim.engine.streams.parameter_stream`), so they are the same values.

    >>> u = uniforms(["a", "b"], 1000, seed=0, sampler="lhs")
    >>> sorted(u), u["a"].shape
    (['a', 'b'], (1000,))
    >>> np.bincount((u["a"] * 10).astype(int)).tolist()  # one value per 1/1000 stratum
    [100, 100, 100, 100, 100, 100, 100, 100, 100, 100]
    >>> bool(np.array_equal(uniforms(["a"], 1000, seed=0, sampler="lhs")["a"], u["a"]))
    True
    >>> whole = uniforms(["a"], 1000, seed=0, sampler="mc")["a"]
    >>> bool(np.array_equal(uniforms(["a"], 10, seed=0, sampler="mc", first=990)["a"],
    ...                     whole[990:]))
    True
    """
    if first and sampler != "mc":  # LHS strata and Sobol points depend on the whole sample
        raise ValueError(f"sampler {sampler!r} draws its sample whole: first={first} needs 'mc'")
    if sampler != "mc":  # scipy.stats (40 MB, a second to import) only where a design needs it
        from scipy.stats import qmc
    if sampler == "sobol":
        ordered = sorted(names)
        if not ordered:
            return {}
        engine = qmc.Sobol(d=len(ordered), scramble=True, rng=sobol_stream(seed))
        with warnings.catch_warnings():
            # scipy warns when n is not a power of 2 (the balance properties weaken);
            # the run records n, and the docs say to prefer powers of 2.
            warnings.simplefilter("ignore", UserWarning)
            table = engine.random(n)
        return {name: np.clip(table[:, j], _TINY, 1 - 2**-53) for j, name in enumerate(ordered)}
    out = {}
    for name in names:
        gen = parameter_stream(seed, name, skip=first)
        if sampler == "lhs":
            u = qmc.LatinHypercube(d=1, rng=gen).random(n)[:, 0]
        else:
            u = gen.random(n)
        out[name] = np.maximum(u, _TINY, out=u)
    return out


def sample_parameters(parameters: Mapping[str, Parameter], n: int, *, seed: int,
                      sampler: str = "mc", first: int = 0) -> dict[str, np.ndarray]:
    """Sample every parameter for *n* draws; nested quantities never exceed their parent.

    *first*: the values of draws ``first .. first + n - 1`` of any larger sample
    (``mc`` only, and no rank-correlated group, whose rearrangement needs the whole
    sample; see :func:`uniforms`).

    Returns
    -------
    dict
        Parameter name -> array of shape ``(n,)``.

    >>> import threatsim
    >>> sc = threatsim.load_scenario("scenarios/financing.toml")
    >>> values = sample_parameters(sc.parameters, 5, seed=1)
    >>> sorted(values) == sorted(sc.parameters), values["cache_share"].shape
    (True, (5,))
    >>> bool(((values["cache_share"] >= 0.02) & (values["cache_share"] <= 0.2)).all())
    True
    >>> again = sample_parameters(sc.parameters, 5, seed=1)
    >>> all(np.array_equal(values[k], again[k]) for k in values)  # a function of the seed
    True
    >>> tail = sample_parameters(sc.parameters, 2, seed=1, first=3)  # draws 3 and 4
    >>> all(np.array_equal(tail[k], values[k][3:]) for k in values)
    True
    """
    # A point value needs no uniforms; with per-parameter streams (mc, lhs) skipping
    # them changes no other parameter's values. Sobol is joint: every column is drawn.
    random = [name for name, p in parameters.items()
              if sampler == "sobol" or p.dist.kind != "point"]
    # A correlated parameter's rearrangement needs its whole group's uniforms, also
    # when sampled alone (engine.plan.sample_lean): the others' come from their streams.
    groups = {p.correlated.names: p.correlated for p in parameters.values()
              if p.correlated is not None}
    random += [m for names in groups for m in names if m not in parameters]
    if first and groups:
        raise ValueError(f"a rank-correlated group is rearranged over the whole sample: "
                         f"first={first} cannot sample part of it")
    u = uniforms(list(dict.fromkeys(random)), n, seed=seed, sampler=sampler, first=first)
    for group in groups.values():
        correlate(u, group)
    half = None
    values = {}
    for name, p in parameters.items():
        if name not in u:
            half = np.full(n, 0.5) if half is None else half
            values[name] = p.dist.ppf(half)
        else:  # its uniforms serve it alone: its values may take their place
            values[name] = p.dist.ppf(u.pop(name), overwrite=True)
    cap_shares(parameters, values)
    return values


def cap_shares(parameters: Mapping[str, Parameter], values: dict[str, np.ndarray]) -> None:
    """Cap, in place and draw by draw, every nested quantity (``share_of``) at its
    parent's value, in the order of *parameters* (a parent capped first caps its own).

    >>> values = {"all": np.array([1.0, 5.0]), "part": np.array([2.0, 2.0])}
    >>> class P:  # a parameter, as far as capping goes
    ...     def __init__(self, share_of): self.share_of = share_of
    >>> cap_shares({"all": P(None), "part": P("all")}, values)
    >>> values["part"]
    array([1., 2.])
    """
    for name, p in parameters.items():
        if p.share_of is not None:
            np.minimum(values[name], values[p.share_of], out=values[name])


def correlate(u: dict[str, np.ndarray], group: CorrelationGroup) -> None:
    """Rearrange, in *u*, the uniforms of *group*'s parameters to its rank correlations.

    >>> from scipy.stats import spearmanr
    >>> u = uniforms(["a", "b"], 1000, seed=0, sampler="mc")
    >>> b_before = u["b"].copy()
    >>> correlate(u, CorrelationGroup(names=("a", "b"), rho=((1.0, 0.8), (0.8, 1.0))))
    >>> round(float(spearmanr(u["a"], u["b"]).statistic), 1)
    0.8
    >>> bool(np.array_equal(np.sort(u["b"]), np.sort(b_before)))  # only the pairing changes
    True
    """
    columns = np.column_stack([u[name] for name in group.names])
    rearranged = iman_conover(columns, group.score_matrix())
    for j, name in enumerate(group.names):
        u[name] = np.ascontiguousarray(rearranged[:, j])


def iman_conover(u: np.ndarray, score_correlation: np.ndarray) -> np.ndarray:
    """Each column of *u* (draws x parameters) permuted so that the columns' ranks are
    those of normal scores with Pearson correlation *score_correlation*.

    Iman, R. L. and Conover, W. J. (1982), "A distribution-free approach to inducing
    rank correlation among input variables", Communications in Statistics - Simulation
    and Computation 11(3), 311-334: van der Waerden scores Phi^-1(i / (n + 1)) are
    laid out in the order of each column's own uniforms (a random permutation per
    column, as the paper draws); their chance correlation T = Q Q' is undone and the
    target C = P P' imposed, X Q'^-1 P' having sample correlation exactly C; then
    each column is put in the order of its column of that. Only the pairing of the
    draws changes: every column keeps its values, and the first (the factors being
    lower triangular) its order too. Ask for Spearman rho with
    C = 2 sin(pi rho / 6) (:func:`threatsim.inputs.parts.normal_score_correlation`).

    Ours because neither numpy nor scipy has it, and because the permutation must be
    a pure function of the group's uniforms (no stream of its own) for common
    random numbers to hold. With no more draws than columns (or scores whose
    correlation is singular) nothing can be imposed and *u* is returned as it is.

    >>> from scipy.stats import spearmanr
    >>> from threatsim.inputs.parts import normal_score_correlation
    >>> u = np.column_stack([parameter_stream(0, name).random(2000) for name in ("a", "b")])
    >>> v = iman_conover(u, normal_score_correlation(np.array([[1.0, -0.7], [-0.7, 1.0]])))
    >>> bool(np.array_equal(np.sort(v, axis=0), np.sort(u, axis=0)))
    True
    >>> round(float(spearmanr(v[:, 0], v[:, 1]).statistic), 2)
    -0.7
    """
    n, k = u.shape
    if n <= k:
        return u
    order = np.argsort(u, axis=0, kind="stable")
    scores = special.ndtri(np.arange(1, n + 1) / (n + 1))
    x = np.empty_like(u)
    np.put_along_axis(x, order, np.broadcast_to(scores[:, None], (n, k)), axis=0)
    try:
        q = linalg.cholesky(np.corrcoef(x, rowvar=False), lower=True)
    except linalg.LinAlgError:
        return u
    target = linalg.solve_triangular(q, x.T, lower=True).T @ _factor(score_correlation).T
    out = np.empty_like(u)
    np.put_along_axis(out, np.argsort(target, axis=0, kind="stable"),
                      np.take_along_axis(u, order, axis=0), axis=0)
    return out


def _factor(c: np.ndarray) -> np.ndarray:
    """P with P P' = *c*: Cholesky, or (a singular c, as rho = 1 makes) from its eigenvectors."""
    try:
        factor: np.ndarray = linalg.cholesky(c, lower=True)  # scipy has no type information
    except linalg.LinAlgError:
        values, vectors = linalg.eigh(c)
        factor = vectors * np.sqrt(np.clip(values, 0.0, None))
    return factor


def systematic_resample(weights: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """*n* indices drawn in proportion to *weights* (normalised), systematically: one
    uniform offset, then evenly spaced points on the weights' CDF (each index appears
    ``floor(n w)`` or ``ceil(n w)`` times).

    >>> systematic_resample(np.array([0.5, 0.25, 0.25]), 4, posterior_stream(0)).tolist()
    [0, 0, 1, 2]
    """
    cdf = np.cumsum(np.asarray(weights, dtype=np.float64))
    cdf /= cdf[-1]
    u = (rng.random() + np.arange(n)) / n
    return np.asarray(np.minimum(np.searchsorted(cdf, u, side="right"), cdf.size - 1),
                      dtype=np.int64)


def posterior_values(posterior: Posterior, n: int, *, seed: int) -> dict[str, np.ndarray]:
    """An equally weighted resample of *posterior*, *n* draws: parameter -> values.

    Systematic resampling of the posterior's weighted draws, then shuffled so
    that any stretch of the run's draws (a chunk, the first half) is a sample
    of the whole; both with :func:`~threatsim.engine.streams.posterior_stream`,
    so the values are a function of the seed. Each parameter keeps its joint
    draw with the others (a draw's values all come from one posterior draw).

    >>> from threatsim.results import posterior_from_dataset, _example_posterior
    >>> post = posterior_from_dataset(_example_posterior())  # 100, 150, 200 weighted 1:2:1
    >>> values = posterior_values(post, 4000, seed=1)["stock0"]
    >>> np.unique(values, return_counts=True)[1].tolist()
    [1000, 2000, 1000]
    >>> bool(np.array_equal(values, posterior_values(post, 4000, seed=1)["stock0"]))
    True
    """
    rng = posterior_stream(seed)
    index = systematic_resample(posterior.weights, n, rng)
    index = rng.permutation(index)
    return {name: v[index] for name, v in posterior.values.items()}

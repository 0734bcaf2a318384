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
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np
from scipy.stats import qmc

from threatsim.engine.streams import parameter_stream, sobol_stream
from threatsim.inputs.scenario import Parameter

__all__ = ["cap_shares", "sample_parameters", "uniforms"]

# Uniforms are kept away from 0 and 1 so that unbounded inverse CDFs stay finite.
_TINY = np.finfo(np.float64).tiny


def uniforms(names: list[str], n: int, *, seed: int, sampler: str) -> dict[str, np.ndarray]:
    """Uniform (0, 1) columns of the design, one per parameter name."""
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
        gen = parameter_stream(seed, name)
        if sampler == "lhs":
            u = qmc.LatinHypercube(d=1, rng=gen).random(n)[:, 0]
        else:
            u = gen.random(n)
        out[name] = np.maximum(u, _TINY, out=u)
    return out


def sample_parameters(parameters: Mapping[str, Parameter], n: int, *, seed: int,
                      sampler: str = "mc") -> dict[str, np.ndarray]:
    """Sample every parameter for *n* draws; nested quantities never exceed their parent.

    Returns
    -------
    dict
        Parameter name -> array of shape ``(n,)``.
    """
    # A point value needs no uniforms; with per-parameter streams (mc, lhs) skipping
    # them changes no other parameter's values. Sobol is joint: every column is drawn.
    random = [name for name, p in parameters.items()
              if sampler == "sobol" or p.dist.kind != "point"]
    u = uniforms(random, n, seed=seed, sampler=sampler)
    half = None
    values = {}
    for name, p in parameters.items():
        if name not in u:
            half = np.full(n, 0.5) if half is None else half
            u[name] = half
        values[name] = p.dist.ppf(u[name])
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

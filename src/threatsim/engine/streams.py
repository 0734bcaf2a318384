"""The one place seeds become random streams: every family, and what keys it.

Every stream is a child of the run's seed, keyed by *what it is for*, never
by worker, chunk or order of execution. The families (the first word of each
``numpy.random.SeedSequence`` spawn key tells them apart):

* **parameters** (spawn key ``(0, *name_key(name))``):
  ``parameter_stream(seed, name)`` -- the uniforms behind one sampled
  parameter. Keyed by the parameter's name, so two scenarios with the same
  seed see the same values for the parameters they share (common random
  numbers), whatever other parameters either one adds.
* **sobol** (``(2,)``): ``sobol_stream(seed)`` -- the scrambling of a joint
  Sobol design, one per run.
* **posterior** (``(3,)``): ``posterior_stream(seed)`` -- the systematic
  resampling of a posterior sample to a run's draws, and the shuffle of the
  resampled draws (:func:`threatsim.engine.sampling.posterior_values`), one per run.
* **chance** (``(0x43484E43,)``, "CHNC"): the chance inside a model (binomial
  transitions, Poisson shocks, discrete-event times). ``chance_streams(seed,
  draw_index, replicates)`` gives a chunk's rows their streams
  (:class:`threatsim.stats.variates.ChanceStreams`): Philox4x64-10 keyed by
  (``seed_key(seed)``, draw index, replicate), the counter saying what a number
  is for (block, event, flow, month). A draw's numbers depend only on its own
  key, so neither the chunk size, the executor, the order chunks finish in nor
  the other draws change them (docs/determinism.md). The tag and the key are
  made in :mod:`threatsim.stats.variates` (stats cannot import the engine);
  they are named here so that every family is listed in one place.
* ``(1, chunk index)`` was the chance of a whole chunk before chance became per
  draw; it is retired, never to be reused for another family.
"""

from __future__ import annotations

import hashlib

import numpy as np

from threatsim.stats.variates import ChanceStreams, seed_key

__all__ = [
    "CHANCE",
    "chance_streams",
    "name_key",
    "parameter_stream",
    "posterior_stream",
    "seed_key",
    "sobol_stream",
]

# First element of every spawn key: which family of stream it is. _RETIRED_CHUNK keyed
# one stream per chunk; it stays reserved so that no new family takes its streams.
_PARAMETER, _RETIRED_CHUNK, _SOBOL, _POSTERIOR = 0, 1, 2, 3
#: The chance family's spawn-key tag (the value :func:`seed_key` uses).
CHANCE = 0x43484E43
assert CHANCE not in (_PARAMETER, _RETIRED_CHUNK, _SOBOL, _POSTERIOR)


def name_key(name: str) -> tuple[int, ...]:
    """A stable tuple of 32-bit words from *name* (Python's ``hash`` is salted).

    >>> name_key("fighters") == name_key("fighters"), len(name_key("fighters"))
    (True, 4)
    """
    digest = hashlib.sha256(name.encode("utf-8")).digest()[:16]
    return tuple(int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4))


def parameter_stream(seed: int, name: str, *, skip: int = 0) -> np.random.Generator:
    """Generator for the sampled values of parameter *name*; *skip*: as if that many
    uniforms (64-bit outputs) had been drawn from it already (``PCG64.advance``).

    >>> a, b = parameter_stream(7, "fighters").random(), parameter_stream(7, "fighters").random()
    >>> a == b
    True
    >>> bool(parameter_stream(7, "x", skip=2).random() == parameter_stream(7, "x").random(3)[2])
    True
    """
    ss = np.random.SeedSequence(seed, spawn_key=(_PARAMETER, *name_key(name)))
    bits = np.random.PCG64(ss)
    if skip:
        bits.advance(skip)
    return np.random.Generator(bits)


def sobol_stream(seed: int) -> np.random.Generator:
    """Generator that scrambles a joint Sobol design (one per run).

    >>> int(sobol_stream(3).integers(100)) == int(sobol_stream(3).integers(100))
    True
    """
    ss = np.random.SeedSequence(seed, spawn_key=(_SOBOL,))
    return np.random.Generator(np.random.PCG64(ss))


def posterior_stream(seed: int) -> np.random.Generator:
    """Generator that resamples a posterior to a run's draws (one per run).

    >>> float(posterior_stream(3).random()) == float(posterior_stream(3).random())
    True
    """
    ss = np.random.SeedSequence(seed, spawn_key=(_POSTERIOR,))
    return np.random.Generator(np.random.PCG64(ss))


def chance_streams(seed: int, draw_index: np.ndarray, replicates: int = 1) -> ChanceStreams:
    """The chance of a chunk's rows: draws *draw_index* (global indices), each repeated
    *replicates* times, draw-major (a draw's replicates next to each other, as the
    engine repeats the parameters).

    >>> chance = chance_streams(7, np.array([10, 11]), replicates=2)
    >>> len(chance), (chance.key1 & 0xFF).tolist(), (chance.key1 >> 40).tolist()
    (4, [10, 10, 11, 11], [0, 1, 0, 1])
    >>> bool(chance.key0[0] == seed_key(7))
    True
    """
    draws = np.asarray(draw_index, dtype=np.int64)
    reps = int(replicates)
    if reps == 1:
        return ChanceStreams(seed, draws)
    return ChanceStreams(seed, np.repeat(draws, reps), np.tile(np.arange(reps), draws.size))

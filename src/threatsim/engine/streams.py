"""The one place seeds become random streams.

Every stream is a ``numpy.random.SeedSequence`` child of the run's seed,
keyed by *what it is for*, never by worker or by order of execution:

* ``parameter_stream(seed, name)`` -- the uniforms behind one sampled
  parameter. Keyed by the parameter's name, so two scenarios with the same
  seed see the same values for the parameters they share (common random
  numbers), whatever other parameters either one adds.
* ``chunk_seed_sequence(seed, chunk_index)`` -- the chance inside a model
  (Poisson shocks, binomial transitions, SimPy event times) for one chunk of
  draws (``np.random.Generator(np.random.PCG64(...))`` of it).
  Keyed by the chunk index, so the result does not depend on how many
  workers ran the chunks or in which order they finished.
"""

from __future__ import annotations

import hashlib

import numpy as np

__all__ = [
    "chunk_seed_sequence",
    "name_key",
    "parameter_stream",
    "sobol_stream",
]

# First element of every spawn key: which family of stream it is.
_PARAMETER, _CHUNK, _SOBOL = 0, 1, 2


def name_key(name: str) -> tuple[int, ...]:
    """A stable tuple of 32-bit words from *name* (Python's ``hash`` is salted).

    >>> name_key("fighters") == name_key("fighters"), len(name_key("fighters"))
    (True, 4)
    """
    digest = hashlib.sha256(name.encode("utf-8")).digest()[:16]
    return tuple(int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4))


def parameter_stream(seed: int, name: str) -> np.random.Generator:
    """Generator for the sampled values of parameter *name*.

    >>> a, b = parameter_stream(7, "fighters").random(), parameter_stream(7, "fighters").random()
    >>> a == b
    True
    """
    ss = np.random.SeedSequence(seed, spawn_key=(_PARAMETER, *name_key(name)))
    return np.random.Generator(np.random.PCG64(ss))


def sobol_stream(seed: int) -> np.random.Generator:
    """Generator that scrambles a joint Sobol design (one per run).

    >>> int(sobol_stream(3).integers(100)) == int(sobol_stream(3).integers(100))
    True
    """
    ss = np.random.SeedSequence(seed, spawn_key=(_SOBOL,))
    return np.random.Generator(np.random.PCG64(ss))


def chunk_seed_sequence(seed: int, chunk_index: int) -> np.random.SeedSequence:
    """SeedSequence of chunk *chunk_index*: picklable, cheap to ship to a worker.

    >>> rng = np.random.Generator(np.random.PCG64(chunk_seed_sequence(7, 2)))
    >>> again = np.random.Generator(np.random.PCG64(chunk_seed_sequence(7, 2)))
    >>> rng.random() == again.random()
    True
    """
    return np.random.SeedSequence(seed, spawn_key=(_CHUNK, int(chunk_index)))

"""How arrays travel between processes: integers in the smallest type that holds them.

A chunk's results cross a process boundary (a process pool, a dask worker to
the client) as bytes, and on a machine whose cores all run workers the client's
share of receiving them is taken from the workers. Counts of people and bin
counts are integers far smaller than their 8 bytes, so they travel narrowed:
exact, because the receiver widens them back (or only reads their values).

A result made of many small arrays (a summary chunk's windows: W2's hold
~2,200) travels as a :class:`Bundle`: its arrays packed into one contiguous
array per dtype. dask sends every array of a message as a frame of its own,
and each frame costs the sender and the receiver (here, the client's event
loop) tens of microseconds whatever its size.
"""

from __future__ import annotations

import io
import pickle
from typing import Any

import numpy as np

__all__ = ["Bundle", "narrow_ints", "smallest_int", "unbundled"]

_UNSIGNED = (np.uint8, np.uint16, np.uint32)
_SIGNED = (np.int8, np.int16, np.int32)


def smallest_int(lo: int, hi: int) -> np.dtype | None:
    """The smallest integer type (of 1, 2 or 4 bytes) holding every integer in [lo, hi].

    Unsigned when ``lo >= 0`` (counts are never negative: twice the range, so
    W2's populations, up to ~45,000, fit 2 bytes). None when none does.

    >>> smallest_int(0, 45_000), smallest_int(-5, 5), smallest_int(0, 2**40)
    (dtype('uint16'), dtype('int8'), None)
    """
    for small in (_UNSIGNED if lo >= 0 else _SIGNED):
        info = np.iinfo(small)
        if info.min <= lo and hi <= info.max:
            return np.dtype(small)
    return None


def narrow_ints(values: np.ndarray) -> np.ndarray:
    """*values* (whole numbers: an integer array, or doubles known to hold integers of
    an integer output) in the smallest integer type that holds them; unchanged when
    none is smaller.

    >>> narrow_ints(np.array([0, 300, 45_000])).dtype
    dtype('uint16')
    """
    if values.size == 0:
        return values
    lo, hi = values.min(), values.max()
    small = smallest_int(int(lo), int(hi)) if np.isfinite(lo) and np.isfinite(hi) else None
    if small is None or small.itemsize >= values.dtype.itemsize:
        return values
    return values.astype(small)


class Bundle:
    """*obj* (tuples, lists, dicts, numbers, strings and numpy arrays, nested) on its way
    to another process.

    Pickled as its structure plus one contiguous array per dtype holding every
    array's values; unpickled as *obj* itself (equal values, dtypes and shapes;
    each array a fresh, C-ordered one of its own). In this process, use
    :func:`unbundled` to get *obj* back whether or not it travelled.

    >>> import pickle
    >>> back = pickle.loads(pickle.dumps(Bundle({"a": np.arange(3), "b": [np.ones(2), "x"]})))
    >>> back["a"], back["b"][1]
    (array([0, 1, 2]), 'x')
    """

    __slots__ = ("obj",)

    def __init__(self, obj: Any) -> None:
        self.obj = obj

    def __reduce__(self) -> tuple[Any, tuple[bytes, dict[str, np.ndarray]]]:
        return _unpack, _pack(self.obj)


def unbundled(value: Any) -> Any:
    """The object inside a :class:`Bundle` that did not leave this process; else *value*.

    >>> unbundled(Bundle([1, 2])), unbundled([1, 2])
    ([1, 2], [1, 2])
    """
    return value.obj if isinstance(value, Bundle) else value


def _packable(value: Any) -> bool:
    # Exactly ndarray (a subclass may carry state its values do not); plain numbers only.
    return type(value) is np.ndarray and value.dtype.kind in "biufcmM"


def _pack(obj: Any) -> tuple[bytes, dict[str, np.ndarray]]:
    parts: dict[str, list[np.ndarray]] = {}
    sizes: dict[str, int] = {}

    class _Pickler(pickle.Pickler):
        def persistent_id(self, value: Any) -> Any:
            if not _packable(value):
                return None  # pickled as usual
            key = value.dtype.str
            start = sizes.get(key, 0)
            parts.setdefault(key, []).append(value.reshape(-1))
            sizes[key] = stop = start + value.size
            return key, start, stop, value.shape

    structure = io.BytesIO()
    _Pickler(structure, protocol=pickle.HIGHEST_PROTOCOL).dump(obj)
    blobs = {key: np.concatenate(arrays) if len(arrays) > 1 else np.array(arrays[0])
             for key, arrays in parts.items()}
    return structure.getvalue(), blobs


def _unpack(structure: bytes, blobs: dict[str, np.ndarray]) -> Any:
    class _Unpickler(pickle.Unpickler):
        def persistent_load(self, pid: Any) -> np.ndarray:
            key, start, stop, shape = pid
            # A copy: the receiver may keep a few small arrays (window values) for the
            # whole run, which must not hold every blob alive.
            flat = blobs[key][start:stop].copy()
            return flat if len(shape) == 1 else flat.reshape(shape)

    return _Unpickler(io.BytesIO(structure)).load()

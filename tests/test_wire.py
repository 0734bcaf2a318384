"""What crosses process boundaries: narrowed integers, tasks with constant parameters,
and results of many small arrays packed into a few (Bundle)."""

from __future__ import annotations

import pickle

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from threatsim.core.wire import Bundle, narrow_ints, smallest_int, unbundled
from threatsim.engine.plan import ChunkTask

INT64 = st.integers(min_value=-(2**40), max_value=2**40)


@given(INT64, INT64)
def test_smallest_int_holds_the_range_and_nothing_smaller_does(a, b):
    lo, hi = min(a, b), max(a, b)
    got = smallest_int(lo, hi)
    candidates = ([np.uint8, np.uint16, np.uint32] if lo >= 0 else [])
    candidates += [np.int8, np.int16, np.int32]
    holding = [np.dtype(t) for t in candidates
               if np.iinfo(t).min <= lo and hi <= np.iinfo(t).max]
    if not holding:
        assert got is None
        return
    assert got is not None
    assert np.iinfo(got).min <= lo
    assert hi <= np.iinfo(got).max
    assert got.itemsize == min(t.itemsize for t in holding)


@given(st.lists(INT64, min_size=0, max_size=50), st.sampled_from(["int64", "float64"]))
def test_narrow_ints_is_exact(values, dtype):
    """Whole numbers come back with the same values, in a type no wider than they were."""
    a = np.array(values, dtype=dtype)
    got = narrow_ints(a)
    assert got.dtype.itemsize <= a.dtype.itemsize
    np.testing.assert_array_equal(got.astype(dtype), a)
    if a.size and a.min() >= -(2**31) and a.max() < 2**31:
        assert got.dtype.kind in "iu"
        assert got.dtype.itemsize <= 4


def _task(params: dict[str, np.ndarray]) -> ChunkTask:
    return ChunkTask(index=0, model="financing", params=params, levers={}, n_months=3,
                     seed=1, replicates=1, outputs=frozenset())


def test_a_pickled_task_carries_constant_parameters_as_one_value():
    """Parameters whose values are all the same bits travel as one value and come back as
    equal, writable, contiguous arrays; the rest travel whole. NaN and -0.0 keep their bits,
    and 0.0 beside -0.0 is not 'constant'."""
    n = 4096
    rng = np.random.default_rng(0)
    params = {
        "uniform": rng.uniform(size=n),
        "point": np.full(n, 0.25),
        "point_view": np.broadcast_to(np.array([7.5]), (n,)),
        "nan": np.full(n, np.nan),
        "minus_zero": np.full(n, -0.0),
        "signed_zeros": np.where(np.arange(n) % 2 == 0, 0.0, -0.0),
        "count": np.full(n, 3, dtype=np.int64),
        "last_differs": np.append(np.full(n - 1, 0.5), 0.75),
    }
    task = _task(params)
    data = pickle.dumps(task, protocol=5)
    back = pickle.loads(data)
    buffers: list = []  # out of band, as dask sends them: one per dtype, not per parameter
    pickle.dumps(task, protocol=5, buffer_callback=buffers.append)
    assert len(buffers) == len({v.dtype for v in params.values()})
    for name, values in params.items():
        got = back.params[name]
        assert got.dtype == values.dtype
        assert got.shape == values.shape
        assert got.tobytes() == np.ascontiguousarray(values).tobytes(), name
        assert got.flags.writeable
        assert got.flags.c_contiguous
    whole = sum(v.nbytes for k, v in params.items() if k in ("uniform", "signed_zeros",
                                                        "last_differs"))
    assert whole < len(data) < whole + 4096  # the five constant ones cost next to nothing
    assert back.index == task.index
    assert back.outputs == task.outputs


# -- Bundle ------------------------------------------------------------------------

_DTYPES = st.sampled_from(["float64", "float32", "int64", "int32", "uint16", "uint8", "bool",
                           "complex128", "datetime64[ns]"])


@st.composite
def _arrays(draw):
    dtype = np.dtype(draw(_DTYPES))
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5))
    if dtype.kind in "fc":  # any bits: NaN payloads, -0.0, infinities
        raw = draw(hnp.arrays(np.dtype(f"u{dtype.itemsize // (2 if dtype.kind == 'c' else 1)}"),
                              shape if dtype.kind == "f" else (*shape, 2)))
        arr = raw.view(dtype).reshape(shape)
    elif dtype.kind == "M":
        arr = draw(hnp.arrays(np.int64, shape)).view(dtype)
    else:
        arr = draw(hnp.arrays(dtype, shape))
    layout = draw(st.sampled_from(["c", "fortran", "strided"]))
    if layout == "fortran":
        arr = np.asfortranarray(arr)
    elif layout == "strided" and arr.ndim >= 1:
        arr = np.repeat(arr, 2, axis=0)[::2]  # same values, a non-contiguous view
    return arr


_LEAVES = st.one_of(_arrays(), st.none(), st.integers(), st.floats(allow_nan=False),
                    st.text(max_size=5))
_NESTED = st.recursive(_LEAVES, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.lists(inner, max_size=4).map(tuple),
    st.dictionaries(st.text(max_size=4), inner, max_size=4)), max_leaves=25)


def _same(a, b) -> None:
    """Equal structure; arrays of equal dtype, shape and bits."""
    assert type(a) is type(b)
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype
        assert a.shape == b.shape
        assert np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes()
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _same(x, y)
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            _same(a[k], b[k])
    else:
        assert a == b


def _arrays_in(obj) -> list[np.ndarray]:
    if isinstance(obj, np.ndarray):
        return [obj]
    if isinstance(obj, (list, tuple)):
        return [a for x in obj for a in _arrays_in(x)]
    if isinstance(obj, dict):
        return [a for x in obj.values() for a in _arrays_in(x)]
    return []


@settings(max_examples=200, deadline=None)
@given(_NESTED)
def test_a_bundle_comes_back_as_its_object_bit_for_bit(obj):
    """Unpickled, a Bundle is the object it held: the same structure, and arrays of the
    same dtype, shape and bits (NaN payloads, -0.0), each writable and its own memory
    (not a view keeping the whole packed blob alive); in this process, unbundled()."""
    back = pickle.loads(pickle.dumps(Bundle(obj), protocol=5))
    _same(obj, back)
    for arr in _arrays_in(back):
        assert arr.flags.writeable
        assert arr.flags.c_contiguous
        assert arr.base is None or arr.base.size == arr.size
    assert unbundled(Bundle(obj)) is obj
    assert unbundled(obj) is obj


def test_a_bundle_travels_as_one_buffer_per_dtype():
    """What Bundle is for: a summary chunk's partial holds thousands of small arrays, and
    dask sends each out-of-band buffer as a frame of its own. Packed, there is one buffer
    per dtype, and the bytes are the arrays' bytes plus a small structure."""
    rng = np.random.default_rng(1)
    partial = ("count", rng.integers(0, 9, size=(427, 515)).astype(np.uint16),
               [("collect", rng.integers(0, 3000, size=k).astype(np.uint16),
                 rng.integers(1, 5, size=k).astype(np.uint16), 3, 7)
                for k in rng.integers(0, 40, size=1200)])
    n_arrays = len(_arrays_in(partial))
    plain: list = []
    pickle.dumps(partial, protocol=5, buffer_callback=plain.append)
    packed: list = []
    data = pickle.dumps(Bundle(partial), protocol=5, buffer_callback=packed.append)
    assert len(plain) == n_arrays > 2000
    assert len(packed) == 1  # every array here is uint16
    assert packed[0].raw().nbytes == sum(a.nbytes for a in _arrays_in(partial))
    _same(partial, pickle.loads(data, buffers=packed))

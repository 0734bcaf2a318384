"""What crosses process boundaries: narrowed integers and tasks with constant parameters."""

from __future__ import annotations

import pickle

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from threatsim.engine import ChunkTask
from threatsim.wire import narrow_ints, smallest_int

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
    assert np.iinfo(got).min <= lo and hi <= np.iinfo(got).max
    assert got.itemsize == min(t.itemsize for t in holding)


@given(st.lists(INT64, min_size=0, max_size=50), st.sampled_from(["int64", "float64"]))
def test_narrow_ints_is_exact(values, dtype):
    """Whole numbers come back with the same values, in a type no wider than they were."""
    a = np.array(values, dtype=dtype)
    got = narrow_ints(a)
    assert got.dtype.itemsize <= a.dtype.itemsize
    np.testing.assert_array_equal(got.astype(dtype), a)
    if a.size and -(2**31) <= a.min() and a.max() < 2**31:
        assert got.dtype.kind in "iu" and got.dtype.itemsize <= 4


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
    }
    task = _task(params)
    data = pickle.dumps(task, protocol=5)
    back = pickle.loads(data)
    for name, values in params.items():
        got = back.params[name]
        assert got.dtype == values.dtype and got.shape == values.shape
        assert got.tobytes() == np.ascontiguousarray(values).tobytes(), name
        assert got.flags.writeable and got.flags.c_contiguous
    whole = sum(v.nbytes for k, v in params.items() if k in ("uniform", "signed_zeros"))
    assert whole < len(data) < whole + 4096  # the five constant ones cost next to nothing
    assert back.index == task.index and back.outputs == task.outputs

"""A damaged or forged checkpoint is never trusted: every such chunk is computed again,
with a warning naming its file, and the resumed Dataset is the uninterrupted run's.

The damage is made by hypothesis from one honest checkpoint (financing, 3 chunks):
truncated or flipped bytes, arrays of another shape, dtype or variable set, NaN, inf
and negative values (outside what the model gives), and manifests that are not JSON,
not an object, or lack keys or have them of the wrong type.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conftest import SCENARIOS

import threatsim
from threatsim.core.errors import ScenarioError
from threatsim.engine.checkpoint import IDENTITY, MANIFEST, Checkpoint
from threatsim.engine.executors import InProcessExecutor

RUN = {"draws": 300, "chunk_size": 100, "seed": 11, "progress": False}
N_CHUNKS = 3
#: Hypothesis examples per damage class (each resumes one small run).
EXAMPLES = 25


class Counting(InProcessExecutor):
    """In-process, recording the chunks it computes."""

    def __init__(self) -> None:
        self.computed: list[int] = []

    def map_chunks(self, fn, tasks):
        for task in tasks:
            self.computed.append(task.index)
            yield fn(task)


@pytest.fixture(scope="module")
def scenario():
    return threatsim.load_scenario(SCENARIOS / "financing.toml")


@pytest.fixture(scope="module")
def expected(scenario):
    """The uninterrupted run (no checkpoint)."""
    return threatsim.run(scenario, **RUN)


@pytest.fixture(scope="module")
def honest(scenario, tmp_path_factory) -> Path:
    """A complete checkpoint of the run: the files every example damages a copy of."""
    folder = tmp_path_factory.mktemp("honest") / "ck"
    threatsim.run(scenario, checkpoint=folder, **RUN)
    assert sorted(p.name for p in folder.iterdir()) == [
        *(f"chunk-{i:06d}.npz" for i in range(N_CHUNKS)), MANIFEST]
    return folder


@contextlib.contextmanager
def threatsim_warnings() -> Iterator[list[str]]:
    """The messages logged on the ``threatsim`` logger at WARNING or above."""
    got: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            got.append(record.getMessage())

    logger = logging.getLogger("threatsim")
    handler = Keep(logging.WARNING)
    logger.addHandler(handler)
    try:
        yield got
    finally:
        logger.removeHandler(handler)


def resume(scenario, honest: Path, damage: Callable[[Path], None],
           ) -> tuple[xr.Dataset, list[int], list[str], Path]:
    """Copy the honest checkpoint, *damage* the copy, resume from it: (Dataset, chunks
    computed, warnings, folder)."""
    tmp = Path(tempfile.mkdtemp(prefix="ckpt-damage-"))
    try:
        folder = tmp / "ck"
        shutil.copytree(honest, folder)
        damage(folder)
        counting = Counting()
        with threatsim_warnings() as said:
            ds = threatsim.run(scenario, executor=counting, checkpoint=folder, resume=True,
                               **RUN)
        # A second resume finds every chunk good: the damaged ones were replaced.
        again = Counting()
        with threatsim_warnings() as said_again:
            xr.testing.assert_identical(ds, threatsim.run(
                scenario, executor=again, checkpoint=folder, resume=True, **RUN))
        assert again.computed == []
        assert said_again == []
        return ds, counting.computed, said, folder
    finally:
        shutil.rmtree(tmp)


def arrays_of(path: Path) -> dict[str, np.ndarray] | None:
    """A chunk file's arrays as a plain reader sees them (None: it cannot be read)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except Exception:
        return None


def rewrite(path: Path, change: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]) -> None:
    """Write *path* again as a well-formed .npz of ``change(its arrays)``."""
    arrays = arrays_of(path)
    assert arrays is not None
    buffer = io.BytesIO()
    np.savez(buffer, **change(arrays))
    path.write_bytes(buffer.getvalue())


def assert_recomputed(got, expected, index: int, why: str) -> None:
    """*got* (what :func:`resume` returns) is the uninterrupted run, chunk *index* alone
    computed again, with one warning naming its file and *why*."""
    ds, computed, said, _ = got
    xr.testing.assert_identical(expected, ds)
    assert computed == [index]
    name = f"chunk-{index:06d}.npz"
    assert len(said) == 1, said
    assert name in said[0], said
    assert why in said[0], said


chunks = st.integers(0, N_CHUNKS - 1)
damage_settings = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                           suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                  HealthCheck.too_slow])


@damage_settings
@given(index=chunks, keep=st.floats(0.0, 1.0, exclude_max=True))
def test_a_truncated_chunk_is_recomputed(scenario, expected, honest, index, keep):
    def damage(folder: Path) -> None:
        path = folder / f"chunk-{index:06d}.npz"
        data = path.read_bytes()
        path.write_bytes(data[:int(keep * len(data))])

    assert_recomputed(resume(scenario, honest, damage), expected, index, "cannot be read")


@damage_settings
@given(index=chunks, data=st.data())
def test_flipped_bytes_are_recomputed_unless_harmless(scenario, expected, honest, index, data):
    """Bytes flipped anywhere in a chunk file: recomputed with a warning, unless the
    file still reads as exactly the same arrays (a flip in a zip timestamp, say)."""
    original = arrays_of(honest / f"chunk-{index:06d}.npz")
    size = (honest / f"chunk-{index:06d}.npz").stat().st_size
    flips = data.draw(st.lists(st.tuples(st.integers(0, size - 1), st.integers(1, 255)),
                               min_size=1, max_size=4))
    state: dict[str, bool] = {}

    def damage(folder: Path) -> None:
        path = folder / f"chunk-{index:06d}.npz"
        raw = bytearray(path.read_bytes())
        for at, mask in flips:
            raw[at] ^= mask
        path.write_bytes(bytes(raw))
        now = arrays_of(path)
        state["harmless"] = now is not None and original is not None and (
            sorted(now) == sorted(original) and all(
                now[k].dtype == original[k].dtype and now[k].shape == original[k].shape
                and np.array_equal(now[k], original[k], equal_nan=True) for k in now))

    ds, computed, said, _ = resume(scenario, honest, damage)
    if state["harmless"]:
        xr.testing.assert_identical(expected, ds)
        assert computed == []
        assert said == []
    else:
        assert_recomputed((ds, computed, said, None), expected, index,
                          f"chunk-{index:06d}.npz")


SHAPES = {
    "one draw fewer": lambda a: a[:-1],
    "one draw more": lambda a: np.concatenate([a, a[:1]]),
    "one month fewer": lambda a: a[:, :-1] if a.ndim > 1 else a[:, None],
    "an axis more": lambda a: a[..., None],
    "flattened": lambda a: a.reshape(-1) if a.ndim > 1 else a.reshape(1, -1),
}


@damage_settings
@given(index=chunks, variable=st.sampled_from(["reserves", "revenue", "depletion_month"]),
       how=st.sampled_from(sorted(SHAPES)))
def test_a_chunk_of_another_shape_is_recomputed(scenario, expected, honest, index, variable,
                                                how):
    def damage(folder: Path) -> None:
        rewrite(folder / f"chunk-{index:06d}.npz",
                lambda arrays: {**arrays, variable: SHAPES[how](arrays[variable])})

    assert_recomputed(resume(scenario, honest, damage), expected, index,
                      f"{variable} has shape")


@damage_settings
@given(index=chunks, variable=st.sampled_from(["reserves", "spending", "depletion_month"]),
       dtype=st.sampled_from(["float32", "int64", "int32", ">f8", "complex128", "bool",
                              "float16", "U8"]))
def test_a_chunk_of_another_dtype_is_recomputed(scenario, expected, honest, index, variable,
                                                dtype):
    def damage(folder: Path) -> None:
        def change(arrays):
            values = arrays[variable]
            cast = np.nan_to_num(values) if np.dtype(dtype).kind in "iub" else values
            with np.errstate(over="ignore", invalid="ignore"):
                return {**arrays, variable: cast.astype(dtype)}

        rewrite(folder / f"chunk-{index:06d}.npz", change)

    # "holds reserves as float32, not float64", or for a wider dtype "holds more data for
    # reserves than this run's chunk has" (found before the file is read)
    assert_recomputed(resume(scenario, honest, damage), expected, index, variable)


@damage_settings
@given(index=chunks, drop=st.sampled_from([None, "reserves", "seized", "depletion_month"]),
       extra=st.sampled_from([None, "population", "reserves_2"]))
def test_a_chunk_of_other_variables_is_recomputed(scenario, expected, honest, index, drop,
                                                  extra):
    if drop is None and extra is None:
        drop = "revenue"

    def damage(folder: Path) -> None:
        def change(arrays):
            out = {k: v for k, v in arrays.items() if k != drop}
            if extra is not None:
                out[extra] = arrays["reserves"]
            return out

        rewrite(folder / f"chunk-{index:06d}.npz", change)

    assert_recomputed(resume(scenario, honest, damage), expected, index, "holds the variables")


@damage_settings
@given(index=chunks, variable=st.sampled_from(["reserves", "revenue", "seized", "spending"]),
       draw=st.integers(0, 99), month=st.integers(1, 36),
       value=st.one_of(st.just(float("nan")), st.just(float("inf")),
                       st.just(float("-inf")), st.floats(max_value=-1e-300),
                       st.just(-1e30)))
def test_values_outside_the_model_support_are_recomputed(scenario, expected, honest, index,
                                                         variable, draw, month, value):
    """A well-formed chunk holding NaN, inf or a negative amount of money (e.g. reserves of
    -1e30, a forged file) is not what the model gives: recomputed."""
    def damage(folder: Path) -> None:
        def change(arrays):
            values = arrays[variable].copy()
            values[draw, month] = value
            return {**arrays, variable: values}

        rewrite(folder / f"chunk-{index:06d}.npz", change)

    assert_recomputed(resume(scenario, honest, damage), expected, index,
                      f"{variable} has")


def test_inf_in_a_per_draw_output_is_recomputed(scenario, expected, honest):
    """NaN in depletion_month means "never" (allowed); inf or a negative month is not."""
    for value in (float("inf"), -3.0):
        def damage(folder: Path, value=value) -> None:
            rewrite(folder / "chunk-000001.npz",
                    lambda a: {**a, "depletion_month": np.full_like(a["depletion_month"],
                                                                    value)})

        assert_recomputed(resume(scenario, honest, damage), expected, 1,
                          "depletion_month has")


def test_a_well_formed_forged_chunk_is_recomputed(scenario, expected, honest):
    """Reserves of -1e30 in a chunk of the right shape and dtype: no model gives that."""
    def damage(folder: Path) -> None:
        rewrite(folder / "chunk-000002.npz",
                lambda a: {**a, "reserves": np.full_like(a["reserves"], -1e30)})

    assert_recomputed(resume(scenario, honest, damage), expected, 2,
                      "reserves has values below 0 (-1e+30), which the model never gives")


def _manifest_of(honest: Path) -> dict:
    return json.loads((honest / MANIFEST).read_text())


def _garbage_manifests(honest: Path) -> st.SearchStrategy[bytes]:
    good = _manifest_of(honest)
    # For each identity key, values of another JSON type (or out of range for a count).
    wrong = {key: [None, True, 1.5, [1], {"a": 1}] + (
        [5, "x"] if isinstance(value, list) else [5] if isinstance(value, str)
        else ["4", 0, -1] if key in ("draws", "chunk_size", "replicates") else ["4"])
        for key, value in good.items() if key in IDENTITY}
    wrong_type = st.sampled_from(IDENTITY).flatmap(
        lambda key: st.sampled_from(wrong[key]).map(lambda v: {**good, key: v}))
    missing = st.sampled_from(IDENTITY).map(
        lambda key: {k: v for k, v in good.items() if k != key})
    other = st.one_of(st.lists(st.integers(), max_size=3), st.text(max_size=5),
                      st.integers(), st.none(), st.booleans(), st.just({}))
    as_json = st.one_of(wrong_type, missing, other).map(lambda m: json.dumps(m).encode())
    not_json = st.one_of(st.binary(max_size=40).filter(lambda b: not _is_json(b)),
                         st.just(b""), st.just(json.dumps(good).encode()[:-3]),
                         st.just(b"[1, 2"), st.just(b"\xff\xfe\x00garbage"),
                         st.just(b"[" * 100_000))
    return st.one_of(as_json, not_json)


def _is_json(raw: bytes) -> bool:
    try:
        json.loads(raw)
    except ValueError:
        return False
    return True


@pytest.fixture(scope="module")
def manifests(honest):
    return _garbage_manifests(honest)


@damage_settings
@given(data=st.data())
def test_a_damaged_manifest_starts_afresh(scenario, expected, honest, manifests, data):
    """A manifest.json that is not JSON, not an object, or lacks an identity key or holds
    one of the wrong type: a warning, its chunks deleted (nothing can tell which run they
    are of), every chunk computed; never an AttributeError or ValueError."""
    raw = data.draw(manifests)

    def damage(folder: Path) -> None:
        (folder / MANIFEST).write_bytes(raw)

    ds, computed, said, _folder = resume(scenario, honest, damage)
    xr.testing.assert_identical(expected, ds)
    assert sorted(computed) == list(range(N_CHUNKS))
    assert len(said) == 1, said
    assert MANIFEST in said[0], said
    assert "every chunk computed again" in said[0], said


@pytest.mark.parametrize("raw", [b"[1, 2]", b"{not json", b"\x00\x01"])
def test_a_damaged_manifest_without_resume_is_refused(scenario, honest, tmp_path, raw):
    """Without resume a folder that holds a manifest, even a damaged one, is not
    touched: a ScenarioError, not an AttributeError."""
    folder = tmp_path / "ck"
    shutil.copytree(honest, folder)
    (folder / MANIFEST).write_bytes(raw)
    with pytest.raises(ScenarioError, match="already holds a checkpoint"):
        threatsim.run(scenario, checkpoint=folder, **RUN)
    assert (folder / MANIFEST).read_bytes() == raw
    assert len(list(folder.glob("chunk-*.npz"))) == N_CHUNKS


def test_a_well_formed_manifest_of_another_run_is_still_refused(scenario, honest, tmp_path):
    """A manifest of the right shape with other values is a different run's: refused,
    naming what differs (its chunks are left alone)."""
    folder = tmp_path / "ck"
    shutil.copytree(honest, folder)
    other = {**_manifest_of(honest), "draws": 999}
    (folder / MANIFEST).write_text(json.dumps(other))
    with pytest.raises(ScenarioError, match="different run: draws 999 in the checkpoint"):
        threatsim.run(scenario, checkpoint=folder, resume=True, **RUN)
    assert len(list(folder.glob("chunk-*.npz"))) == N_CHUNKS


def test_chunk_files_are_read_without_pickle(honest, tmp_path):
    """A chunk holding an object array (a pickle) is damaged, and is never unpickled."""
    folder = tmp_path / "ck"
    shutil.copytree(honest, folder)
    path = folder / "chunk-000000.npz"

    class Boom:
        def __reduce__(self):
            return (pytest.fail, ("a pickle in a checkpoint was loaded",))

    arrays = arrays_of(path)
    assert arrays is not None
    arrays["reserves"] = np.array([Boom()], dtype=object)
    with zipfile.ZipFile(path, "w") as zf:
        for name, values in arrays.items():
            buffer = io.BytesIO()
            np.save(buffer, values, allow_pickle=True)
            zf.writestr(f"{name}.npy", buffer.getvalue())
    ckpt = Checkpoint.open(folder, _manifest_of(honest), resume=True)
    with threatsim_warnings() as said:
        assert ckpt.load(0) is None
    assert "chunk-000000.npz" in said[0]
    assert not path.exists()

"""Results files (issue 22, part 1): compact NetCDF and Zarr that read back identical."""

from __future__ import annotations

import netCDF4
import numpy as np
import pytest
import xarray as xr
from tests.conftest import SCENARIOS

import threatsim
from threatsim.core.errors import ScenarioError
from threatsim.results import DTYPE_ATTR, narrowest_int, open_results, write_netcdf, write_zarr


def _mixed() -> xr.Dataset:
    """Every kind of variable a run (or a posterior, or a summary) holds."""
    rng = np.random.default_rng(3)
    people = rng.integers(0, 14_000, size=(50, 4, 3)).astype(np.int64)
    flow = rng.normal(size=(50, 4))
    flow[:, 0] = np.nan  # no flow before the first month
    return xr.Dataset(
        {"population": (("draw", "time", "region"), people, {"units": "people"}),
         "negative": (("draw",), np.arange(-25, 25, dtype=np.int64)),
         "big": (("draw",), np.arange(50, dtype=np.int64) * 2**40),
         "unsigned": (("draw",), np.arange(50, dtype=np.int64) + 200),
         "whole": (("draw",), rng.integers(1, 37, 50).astype(np.float64)),
         "signed_zero": (("draw",), np.r_[-0.0, np.ones(49)]),
         "huge_whole": (("draw",), np.full(50, 2.0**70)),
         "flow": (("draw", "time"), flow, {"units": "usd"}),
         "reached": (("draw",), rng.random(50) < 0.5),
         "empty": (("none",), np.zeros(0, dtype=np.int64)),
         "scalar": ((), np.int64(7))},
        coords={"draw": np.arange(50), "time": np.array(
            ["2019-01-01", "2019-02-01", "2019-03-01", "2019-04-01"], dtype="datetime64[ns]"),
            "region": ["iraq", "syria", "afghanistan"]},
        attrs={"run_id": "abc", "draws": 50})


def test_narrowest_int_from_first_principles():
    """int8 holds -128..127, uint8 0..255, int16 -32768..32767: the first that fits wins."""
    assert narrowest_int(np.array([-128, 127])) == np.int8
    assert narrowest_int(np.array([0, 128])) == np.uint8
    assert narrowest_int(np.array([-1, 128])) == np.int16
    assert narrowest_int(np.array([0, 40_000])) == np.uint16
    assert narrowest_int(np.array([-1, 40_000])) == np.int32
    assert narrowest_int(np.array([0, 2**32])) == np.int64
    assert narrowest_int(np.array([2.0, 3.0])) == np.int8
    for never in ([0.5], [np.nan], [np.inf], [-0.0], [2.0**70], []):
        assert narrowest_int(np.array(never, dtype=np.float64)) is None, never


@pytest.mark.parametrize(("writer", "name"), [(write_netcdf, "run.nc"), (write_zarr, "run.zarr")])
def test_round_trip_keeps_dtypes_and_values(writer, name, tmp_path):
    """Every dtype and value comes back (NaN floats, bool, strings, datetimes, -0.0, empty
    and 0-d variables), though the file stores the narrowest types; nothing else is left."""
    if name.endswith(".zarr"):
        pytest.importorskip("zarr")
    ds = _mixed()
    back = open_results(writer(ds, tmp_path / name))
    xr.testing.assert_identical(back, ds)
    for var in ds.variables:
        assert back[var].dtype == ds[var].dtype, var
    assert np.signbit(back["signed_zero"].values[0])
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_netcdf_stores_narrow_compressed_integers(tmp_path):
    """On disk the people counts are int16 with zlib and shuffle; floats with a NaN stay
    float64; whole-number floats become integers; the in-memory dtype is recorded."""
    write_netcdf(_mixed(), tmp_path / "run.nc")
    with netCDF4.Dataset(tmp_path / "run.nc") as nc:
        pop = nc["population"]
        assert pop.dtype == np.int16
        assert pop.getncattr(DTYPE_ATTR) == "int64"
        assert pop.filters()["zlib"]
        assert pop.filters()["shuffle"]
        assert nc["unsigned"].dtype == np.uint8
        assert nc["negative"].dtype == np.int8
        assert nc["big"].dtype == np.int64
        assert DTYPE_ATTR not in nc["big"].ncattrs()
        assert nc["whole"].dtype == np.int8
        assert nc["whole"].getncattr(DTYPE_ATTR) == "float64"
        assert nc["flow"].dtype == np.float64
        assert DTYPE_ATTR not in nc["flow"].ncattrs()
        assert nc["signed_zero"].dtype == np.float64
        assert nc["huge_whole"].dtype == np.float64


def test_rewriting_a_file_read_back_does_not_reuse_its_narrow_type(tmp_path):
    """A Dataset read from a file carries its encoding (int8 on disk): values too large
    for it written later must not wrap around."""
    ds = xr.Dataset({"x": ("draw", np.array([1, 2], dtype=np.int64))})
    back = open_results(write_netcdf(ds, tmp_path / "a.nc"))
    bigger = back.assign(x=back["x"] * 1000)
    again = open_results(write_netcdf(bigger, tmp_path / "b.nc"))
    assert again["x"].values.tolist() == [1000, 2000]


def test_compact_file_is_several_times_smaller_than_the_uncompressed_one(tmp_path):
    """The baseline (people counts as int64) written as before (plain to_netcdf) and as now:
    a fixed run, so the sizes are deterministic; the demo's target is 5x."""
    sc = threatsim.load_scenario(SCENARIOS / "baseline.toml")
    ds = threatsim.run(sc, draws=200, seed=1, progress=False)
    ds.to_netcdf(tmp_path / "plain.nc", engine="netcdf4")
    write_netcdf(ds, tmp_path / "compact.nc")
    plain, small = ((tmp_path / n).stat().st_size for n in ("plain.nc", "compact.nc"))
    assert plain > 5 * small, (plain, small)
    xr.testing.assert_identical(open_results(tmp_path / "compact.nc"), ds)


def test_a_recorded_dtype_that_is_not_a_number_is_refused(tmp_path):
    """A file whose dtype attr names no number type: one line naming file, key and value."""
    xr.Dataset({"x": ("draw", np.array([1, 2], dtype=np.int8), {DTYPE_ATTR: "str"})}
               ).to_netcdf(tmp_path / "odd.nc", engine="netcdf4")
    with pytest.raises(ScenarioError, match=r"odd.nc: x.threatsim_dtype='str' is not a "
                                            "number type"):
        open_results(tmp_path / "odd.nc")


def test_zarr_store_is_written_whole_and_replaced_atomically(tmp_path, monkeypatch):
    """A failed write leaves the old store as it was and no temporary folder."""
    pytest.importorskip("zarr")
    ds = _mixed()
    path = write_zarr(ds, tmp_path / "run.zarr")

    def boom(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(xr.Dataset, "to_zarr", boom)
    with pytest.raises(ScenarioError, match=r"run.zarr.*cannot be written \(No space left"):
        write_zarr(ds.assign(negative=ds["negative"] * 2), path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.zarr"]
    xr.testing.assert_identical(open_results(path), ds)


def test_missing_zarr_is_a_clear_error(tmp_path, monkeypatch):
    """Without zarr installed, writing or reading a .zarr names the extra to install."""
    import builtins

    real = builtins.__import__

    def no_zarr(name, *args, **kwargs):
        if name == "zarr" or name.startswith("zarr."):
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_zarr)
    with pytest.raises(ScenarioError, match=r"threatsim\[zarr\]"):
        write_zarr(_mixed(), tmp_path / "run.zarr")
    assert list(tmp_path.iterdir()) == []

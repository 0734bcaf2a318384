"""The tests every model passes, inherited by each model's test class (not collected alone).

As scipy's ``QMCEngineTests`` serves every QMC engine, :class:`ModelContract`
holds what the engine, the loader and the results rely on; a model's test
module names a scenario of the model and inherits every test::

    class TestFinancingContract(ModelContract):
        scenario_path = "scenarios/financing.toml"

A new model gets them all the same way. The runs are small (a year, a few
dozen draws) and shared by the tests of a class, so the contract of every
model takes seconds.

What each test catches:

* an output whose names, dims, units or dtype differ from the model's
  declaration (the Dataset's labels and the engine's buffers come from it),
  or a ``simulate`` that returns other outputs than those asked for, or
  values that change when fewer are asked for;
* a model that writes into buffers but records elsewhere (or not what it
  returns), or one that takes ``out=`` without declaring it;
* a run that is not a function of its seed, or that changes with the
  executor (in-process against two worker processes) or with the chunk size;
* a summary run (``keep="summary"``) whose bands are not those of the draws;
* a broken identity the model declares (:meth:`Model.conservation_residuals`:
  people conserved, money never negative);
* a bad value (a lever out of range, a parameter range upside down, the
  model's own rules) that is not refused with a ScenarioError naming its key.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pytest
import xarray as xr
from tests.conftest import ROOT

import threatsim
from threatsim.core.errors import ScenarioError
from threatsim.engine.sampling import sample_parameters
from threatsim.engine.streams import chunk_seed_sequence
from threatsim.inputs.scenario import Scenario
from threatsim.models import MODELS, Model, get_model
from threatsim.results import bands

__all__ = ["ModelContract", "cut_scenario"]

#: Chunk sizes the identities are checked at: one draw a chunk, a few, all in one.
CHUNK_SIZES = (1, 7, 512)

#: Why the chunk size changes a Dataset today, for models that say so.
CHUNK_SIZE_DEFECT = ("known defect, another issue: the chance inside a model comes from one "
                     "stream per chunk, so the chunk size changes the draws")


def cut_scenario(sc: Scenario, horizon: int) -> Scenario:
    """*sc* over its first *horizon* months, every output kept (timeline entries and report
    months after the cut are dropped)."""
    data = sc.resolved
    keep_months = [m for m in data.get("outputs", {}).get("report_months", [])
                   if sc.month_of(m) <= horizon] or [sc.month_label(0)]
    timeline = [e for e in data.get("timeline", []) if sc.month_of(e["at"]) < horizon]
    every = [o.name for o in get_model(sc.model).info.outputs]
    return sc.with_values({"horizon": horizon, "timeline": timeline,
                           "outputs.report_months": keep_months, "outputs.variables": every})


def _problem_keys(err: ScenarioError) -> set[str | None]:
    return {p.key for p in (err.problems or (err,))}


class ModelContract:
    """The contract tests; a subclass sets ``scenario_path`` (or :meth:`make_scenario`)."""

    #: A scenario of the model, relative to the repository root.
    scenario_path: ClassVar[str]
    #: Draws per run (kept small: the contract should take seconds per model).
    draws: ClassVar[int] = 20
    #: Months simulated: the scenario is cut to this horizon.
    horizon: ClassVar[int] = 12
    #: Whether the Dataset is the same whatever the chunk size. When False, the test that
    #: says so is a strict xfail: it fails the day the chunk size stops mattering, as a
    #: reminder to set this True.
    chunk_size_independent: ClassVar[bool] = False
    #: Values the model's own rules (its ``check``) refuse: (override, value, the key the
    #: ScenarioError names), each given to ``Scenario.with_values``.
    bad_values: ClassVar[tuple[tuple[str, Any, str], ...]] = ()
    #: A model to register under its name for the class's tests (one defined in the tests).
    register: ClassVar[Model | None] = None
    seed: ClassVar[int] = 5

    # -- fixtures: one scenario and one set of runs per class -------------------------------

    @classmethod
    def make_scenario(cls) -> Scenario:
        """The scenario the tests run: :attr:`scenario_path`, cut to :attr:`horizon`."""
        return cut_scenario(threatsim.load_scenario(ROOT / cls.scenario_path), cls.horizon)

    @pytest.fixture(scope="class")
    @classmethod
    def registered(cls):
        """:attr:`register` in the model registry while the class's tests run (worker
        processes fork from this one, so they see it too)."""
        if cls.register is None:
            yield
            return
        with pytest.MonkeyPatch.context() as mp:
            mp.setitem(MODELS, cls.register.info.name, cls.register)
            yield

    @pytest.fixture(scope="class")
    @classmethod
    def scenario(cls, registered) -> Scenario:
        return cls.make_scenario()

    @pytest.fixture(scope="class")
    @classmethod
    def model(cls, scenario) -> Model:
        return get_model(scenario.model)

    @pytest.fixture(scope="class")
    @classmethod
    def runs(cls, scenario):
        """``runs(chunk_size=7, workers=None, seed=None)``: a full run (in-process unless
        *workers*), computed once for the class."""
        done: dict[tuple[int, int | None, int], xr.Dataset] = {}

        def get(chunk_size: int = 7, workers: int | None = None,
                seed: int | None = None) -> xr.Dataset:
            key = (chunk_size, workers, cls.seed if seed is None else seed)
            if key not in done:
                done[key] = threatsim.run(scenario, draws=cls.draws, seed=key[2],
                                          chunk_size=chunk_size, executor=workers or 1,
                                          progress=False)
            return done[key]

        return get

    @pytest.fixture(scope="class")
    @classmethod
    def chunk(cls, scenario):
        """The inputs of one chunk of 5 draws, as the engine gives them to ``simulate``."""
        params = sample_parameters(scenario.parameters, 5, seed=cls.seed)
        return params, scenario.lever_schedule(), scenario.horizon

    def _simulate(self, model: Model, chunk: Any, **kw: Any) -> dict[str, np.ndarray]:
        params, levers, months = chunk
        rng = np.random.Generator(np.random.PCG64(chunk_seed_sequence(self.seed, 0)))  # chunk 0's
        return model.simulate({k: v.copy() for k, v in params.items()}, levers,
                              n_months=months, rng=rng, **kw)

    # -- what the model declares ----------------------------------------------------------

    def test_the_model_declares_the_contract(self, model, scenario):
        """A Model (its declarations checked when the class was made), named as registered."""
        assert isinstance(model, Model)
        assert model.info.name == scenario.model
        assert isinstance(model.writes_into_buffers, bool)
        if model.writes_into_buffers:
            assert {o.dtype for o in model.info.outputs} == {model.buffer_dtype}
        else:
            assert model.buffer_dtype is None

    def test_declared_outputs_are_the_outputs_of_a_run(self, model, scenario, runs):
        """Names, dims, units and dtypes of the Dataset's outputs are the declared ones."""
        ds = runs()
        produced = {name for name in ds.data_vars if name not in scenario.parameters}
        assert produced == model.info.output_names
        for decl in model.info.outputs:
            da = ds[decl.name]
            assert da.dims == ("draw", *decl.dims), decl.name
            assert da.attrs["units"] == decl.unit, decl.name
            assert da.attrs["kind"] == decl.kind, decl.name
            assert da.dtype == decl.dtype, decl.name
            for dim in decl.dims:
                if dim != "time":
                    assert list(ds[dim].values) == list(model.info.coords[dim]), dim

    def test_simulate_returns_the_declared_arrays(self, model, chunk):
        """Every declared output, draw first, of its declared dtype and shape."""
        got = self._simulate(model, chunk)
        assert set(got) == model.info.output_names
        months = chunk[2]
        for decl in model.info.outputs:
            sizes = [months + 1 if d == "time" else len(model.info.coords[d]) for d in decl.dims]
            assert got[decl.name].shape == (5, *sizes), decl.name
            assert got[decl.name].dtype == decl.dtype, decl.name

    def test_asking_for_fewer_outputs_changes_none_of_them(self, model, chunk):
        """Each output alone: only it comes back, with the very values of a full call."""
        full = self._simulate(model, chunk)
        for name in sorted(model.info.output_names):
            alone = self._simulate(model, chunk, outputs=frozenset({name}))
            assert set(alone) == {name}
            np.testing.assert_array_equal(alone[name], full[name], err_msg=name)
        with pytest.raises(ValueError, match="has no outputs"):
            self._simulate(model, chunk, outputs=frozenset({"no_such_output"}))

    def test_buffers_are_filled_in_place_or_refused(self, model, chunk):
        """A model that writes into buffers records there what it returns (views of them);
        any other refuses ``out=``."""
        months = chunk[2]
        sizes = {"time": months + 1, **{d: len(v) for d, v in model.info.coords.items()}}
        buffers = {o.name: np.full((*(sizes[d] for d in o.dims), 5), -1,
                                   dtype=model.buffer_dtype or o.dtype)
                   for o in model.info.outputs}
        if not model.writes_into_buffers:
            with pytest.raises(TypeError, match="does not write into buffers"):
                self._simulate(model, chunk, out=buffers)
            return
        plain = self._simulate(model, chunk)
        direct = self._simulate(model, chunk, out=buffers)
        for name, values in direct.items():
            assert np.shares_memory(values, buffers[name]), name
            np.testing.assert_array_equal(values, plain[name], err_msg=name)
            np.testing.assert_array_equal(np.moveaxis(buffers[name], -1, 0), plain[name],
                                          err_msg=name)

    # -- determinism ----------------------------------------------------------------------

    def test_the_same_seed_gives_the_same_dataset(self, model, scenario, runs):
        """Run again: bit-identical. Another seed: some output differs (the seed is used)."""
        again = threatsim.run(scenario, draws=self.draws, seed=self.seed, chunk_size=7,
                              executor=1, progress=False)
        xr.testing.assert_identical(runs(), again)
        other = runs(seed=self.seed + 1)
        assert any(not other[name].equals(again[name]) for name in model.info.output_names)

    @pytest.mark.parametrize("chunk_size", CHUNK_SIZES)
    def test_two_worker_processes_give_the_in_process_dataset(self, runs, chunk_size):
        """At each chunk size, a 2-process pool gives the in-process Dataset, bit for bit."""
        xr.testing.assert_identical(runs(chunk_size), runs(chunk_size, workers=2))

    def test_the_chunk_size_does_not_change_the_dataset(self, runs, request):
        """Chunks of 1, 7 and 512 draws: the same Dataset (but the ``chunk_size`` attribute)."""
        if not self.chunk_size_independent:
            request.applymarker(pytest.mark.xfail(strict=True, reason=CHUNK_SIZE_DEFECT))
        first, *others = (runs(cs).copy() for cs in CHUNK_SIZES)
        for ds in (first, *others):
            del ds.attrs["chunk_size"]
        for ds in others:
            xr.testing.assert_identical(first, ds)

    # -- what a run keeps -----------------------------------------------------------------

    def test_a_summary_run_keeps_the_bands_of_the_full_run(self, scenario, runs):
        """keep='summary': each series' bands are bands() of the draws; per-draw outputs and
        parameters are kept as they are."""
        full = runs()
        summ = threatsim.run(scenario, draws=self.draws, seed=self.seed, chunk_size=7,
                             executor=1, keep="summary", progress=False)
        for name in scenario.variables:
            if "time" not in full[name].dims:
                xr.testing.assert_identical(full[name], summ[name])
                continue
            np.testing.assert_array_equal(summ[name].values,
                                          bands(full[name], scenario.quantiles).values,
                                          err_msg=name)
        for name in scenario.parameters:
            xr.testing.assert_identical(full[name], summ[name])

    def test_declared_identities_hold_exactly(self, model, runs):
        """Every residual the model declares is exactly 0 on every draw, month and cell."""
        ds = runs()
        residuals = model.conservation_residuals(
            {name: ds[name].values for name in model.info.output_names})
        assert residuals, "the model declares no identity"
        for name, residual in residuals.items():
            assert residual.size, name
            bad = residual != 0  # NaN counts as broken
            assert not bad.any(), f"{name}: {int(bad.sum())} cells off, e.g. {residual[bad][:3]}"

    # -- bad values -----------------------------------------------------------------------

    def test_the_shipped_scenario_passes_the_model_check(self, model, scenario):
        assert model.check(scenario) == []

    def test_bad_values_raise_a_scenario_error_naming_their_key(self, model, scenario):
        """A lever out of range, a parameter range upside down, the model's own rules."""
        lever = model.info.levers[0]
        ranged = next(name for name, spec in scenario.resolved["parameters"].items()
                      if isinstance(spec.get("range"), list))
        low, high = scenario.resolved["parameters"][ranged]["range"]
        cases = [(f"levers.{lever.name}", lever.high + 1, f"levers.{lever.name}"),
                 (f"parameters.{ranged}.range", [high + 1.0, low], f"parameters.{ranged}.range"),
                 *self.bad_values]
        for override, value, key in cases:
            with pytest.raises(ScenarioError) as err:
                scenario.with_values({override: value})
            assert key in _problem_keys(err.value), (override, str(err.value))

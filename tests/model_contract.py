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
  executor (in-process against two worker processes), with the chunk size
  (with and without replicates) or with the compiled kernels switched off;
* chance that is not each draw's own: changing one draw's parameters changes
  another draw's outputs; a lever changed from some month on changes an
  earlier month; a lever changes an output the model says it cannot reach
  (:attr:`ModelContract.lever_reaches`: common random numbers between a
  scenario and its what-if on every path the lever cannot reach);
* a summary run (``keep="summary"``) whose bands are not those of the draws;
* a broken identity the model declares (:meth:`Model.conservation_residuals`:
  people conserved, money never negative), or a value outside an output's
  declared support (``OutputDecl.outside_support``);
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
from threatsim.core import compiled
from threatsim.core.errors import ScenarioError
from threatsim.engine.sampling import sample_parameters
from threatsim.inputs.scenario import Scenario
from threatsim.models import MODELS, Model, get_model
from threatsim.results import bands
from threatsim.stats.variates import ChanceStreams

__all__ = ["ModelContract", "cut_scenario", "draw_chance"]

#: Chunk sizes the identities are checked at: one draw a chunk, a few, all in one.
CHUNK_SIZES = (1, 7, 512, 2048)
#: Those a 2-process pool is checked at (above the draws of a run, one chunk is one chunk).
POOL_CHUNK_SIZES = (1, 7, 512)
#: The month from which :meth:`ModelContract.test_a_later_lever_change_leaves_earlier_months`
#: changes a lever.
LATER_MONTH = 6


def draw_chance(seed: int, rows: int) -> ChanceStreams:
    """The chance of draws ``0 .. rows - 1`` of a run with *seed*: what the engine passes a
    first chunk of *rows* draws (one replicate)."""
    return ChanceStreams(seed, np.arange(rows))


def cut_scenario(sc: Scenario, horizon: int) -> Scenario:
    """*sc* over its first *horizon* months, every output kept (timeline entries, report
    months and headline questions after the cut are dropped)."""
    data = sc.resolved
    keep_months = [m for m in data.get("outputs", {}).get("report_months", [])
                   if sc.month_of(m) <= horizon] or [sc.month_label(0)]
    timeline = [e for e in data.get("timeline", []) if sc.month_of(e["at"]) < horizon]
    questions = [q for q in data.get("questions", []) if sc.month_of(q["at"]) <= horizon]
    every = [o.name for o in get_model(sc.model).info.outputs]
    return sc.with_values({"horizon": horizon, "timeline": timeline, "questions": questions,
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
    #: A lever and another value for it, set from :data:`LATER_MONTH` on (it must change
    #: some output after that month).
    later_lever: ClassVar[tuple[str, float]]
    #: Levers and the only outputs they can reach: (lever, another value, outputs). Every
    #: other output must stay bit-identical when the lever takes that value (the same
    #: chance on every path it cannot reach), and some of these must change.
    lever_reaches: ClassVar[tuple[tuple[str, float, frozenset[str]], ...]] = ()
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
        """``runs(chunk_size=7, workers=None, seed=None, replicates=1)``: a full run
        (in-process unless *workers*), computed once for the class."""
        done: dict[tuple[int, int | None, int, int], xr.Dataset] = {}

        def get(chunk_size: int = 7, workers: int | None = None,
                seed: int | None = None, replicates: int = 1) -> xr.Dataset:
            key = (chunk_size, workers, cls.seed if seed is None else seed, replicates)
            if key not in done:
                done[key] = threatsim.run(scenario, draws=cls.draws, seed=key[2],
                                          chunk_size=chunk_size, executor=workers or 1,
                                          replicates=replicates, progress=False)
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
        chance = ChanceStreams(self.seed, np.arange(5))  # draws 0-4, as a run's first chunk
        return model.simulate({k: v.copy() for k, v in params.items()}, levers,
                              n_months=months, chance=chance, **kw)

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

    @pytest.mark.parametrize("chunk_size", POOL_CHUNK_SIZES)
    def test_two_worker_processes_give_the_in_process_dataset(self, runs, chunk_size):
        """At each chunk size, a 2-process pool gives the in-process Dataset, bit for bit."""
        xr.testing.assert_identical(runs(chunk_size), runs(chunk_size, workers=2))

    @pytest.mark.parametrize("replicates", [1, 2])
    def test_the_chunk_size_does_not_change_the_dataset(self, runs, replicates):
        """Chunks of 1, 7, 512 and 2048 draws: the same Dataset (but the ``chunk_size``
        attribute), with and without replicates: each draw's chance is keyed by its global
        index and replicate, never by the chunk it runs in."""
        first, *others = (runs(cs, replicates=replicates).copy() for cs in CHUNK_SIZES)
        for ds in (first, *others):
            del ds.attrs["chunk_size"]
        for ds in others:
            xr.testing.assert_identical(first, ds)

    @pytest.mark.skipif(not compiled.available(), reason="numba not installed")
    def test_the_numpy_path_gives_the_compiled_dataset(self, scenario, runs, monkeypatch):
        """THREATSIM_COMPILED=0 (every kernel and variate on its numpy reference): the
        Dataset of the compiled path, bit for bit."""
        monkeypatch.setenv("THREATSIM_COMPILED", "0")
        numpy_path = threatsim.run(scenario, draws=self.draws, seed=self.seed, chunk_size=7,
                                   executor=1, progress=False)
        xr.testing.assert_identical(runs(), numpy_path)

    def test_changing_one_draw_leaves_every_other_draw(self, model, scenario, chunk):
        """Draw 2 of a chunk gets other parameter values (another sample's draw 2): the
        other draws' outputs are bit-identical, and draw 2's change."""
        params, levers, months = chunk
        other = sample_parameters(scenario.parameters, 5, seed=self.seed + 1)
        changed = {k: v.copy() for k, v in params.items()}
        for k in changed:
            changed[k][2] = other[k][2]
        before = self._simulate(model, chunk)
        after = self._simulate(model, (changed, levers, months))
        rest = [0, 1, 3, 4]
        for name in sorted(before):
            np.testing.assert_array_equal(after[name][rest], before[name][rest], err_msg=name)
        assert any(not np.array_equal(after[n][2], before[n][2], equal_nan=True)
                   for n in before), "draw 2's new parameters changed none of its outputs"

    def test_a_later_lever_change_leaves_earlier_months(self, model, scenario, runs):
        """A lever set to another value from month 6 on: every series is bit-identical up to
        month 6 (the chance of a month does not depend on what comes later), and some output
        differs after it."""
        lever, value = self.later_lever
        timeline = [*scenario.resolved.get("timeline", []),
                    {"at": scenario.month_label(LATER_MONTH), "levers": {lever: value}}]
        timeline.sort(key=lambda e: scenario.month_of(e["at"]))
        changed = threatsim.run(scenario.with_values({"timeline": timeline}), draws=self.draws,
                                seed=self.seed, chunk_size=7, executor=1, progress=False)
        base = runs()
        later = False
        for decl in model.info.outputs:
            a, b = base[decl.name], changed[decl.name]
            if "time" not in decl.dims:
                later |= not a.equals(b)
                continue
            early = {"time": slice(0, LATER_MONTH + 1)}
            xr.testing.assert_identical(a.isel(early), b.isel(early))
            later |= not a.equals(b)
        assert later, f"{lever} = {value} from month {LATER_MONTH} changed no output"

    def test_a_lever_changes_only_the_outputs_it_can_reach(self, model, scenario, runs):
        """Each lever of :attr:`lever_reaches` set to another value: every output it cannot
        reach is bit-identical to the base run's (common random numbers on every path the
        lever does not touch), and some output it reaches differs."""
        if not self.lever_reaches:
            pytest.skip("the model states no output a lever cannot reach")
        base = runs()
        for lever, value, reached in self.lever_reaches:
            assert reached < model.info.output_names, (lever, reached)
            what_if = threatsim.run(scenario.with_values({f"levers.{lever}": value}),
                                    draws=self.draws, seed=self.seed, chunk_size=7, executor=1,
                                    progress=False)
            for name in sorted(model.info.output_names - reached):
                xr.testing.assert_identical(base[name], what_if[name])
            assert any(not base[n].equals(what_if[n]) for n in reached), (lever, value)

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

    def test_outputs_stay_within_their_declared_support(self, model, runs):
        """No value outside what each output declares (``OutputDecl.outside_support``: never
        infinite, NaN only where the contract puts it, never below 0 unless it says it can
        be): what a checkpoint's chunks read back are checked against."""
        for ds in (runs(), runs(replicates=2)):
            for decl in model.info.outputs:
                values = ds[decl.name].values
                if "replicate" in ds[decl.name].dims:
                    values = np.moveaxis(values, ds[decl.name].dims.index("replicate"), 1)
                assert decl.outside_support(values) is None, decl.name

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

"""The Model base class: declarations checked when a model class is made, the template
method, and the contract tests (tests/model_contract.py) on the toy model, with proof that
they catch a model that breaks its declarations."""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np
import pytest
from tests.analysis_toy import INFO as TOY_INFO
from tests.analysis_toy import ToyModel, toy_scenario
from tests.conftest import ROOT
from tests.model_contract import ModelContract

import threatsim
from threatsim.engine.sampling import sample_parameters
from threatsim.inputs.scenario import Scenario
from threatsim.models import Model, ModelInfo, OutputDecl, model_names
from threatsim.models.registry import MODELS
from threatsim.stats.variates import ChanceStreams


def _info(*outputs: OutputDecl, coords: Mapping[str, tuple[str, ...]] | None = None) -> ModelInfo:
    return ModelInfo(name="m", doc="", parameters=(), levers=(), outputs=outputs,
                     coords=coords or {})


_MONEY = OutputDecl(name="money", dims=("time",), unit="usd", dtype=np.float64, doc="")
_PEOPLE = OutputDecl(name="people", dims=("time",), unit="people", dtype=np.int64, doc="")


class _Base(Model):
    """An intermediate base: no declarations needed while ``_simulate`` is abstract."""

    def check(self, scenario):
        return []


def _model_class(**declared) -> type[Model]:
    body = {"_simulate": lambda self, params, levers, **kw: {}, **declared}
    return type("Declared", (_Base,), body)


def test_a_model_must_declare_info_buffers_and_their_dtype():
    """Each declaration missing is refused when the class is made, by name."""
    full = {"info": _info(_MONEY), "writes_into_buffers": False, "buffer_dtype": None}
    _model_class(**full)
    for name in full:
        rest = {k: v for k, v in full.items() if k != name}
        with pytest.raises(TypeError, match=f"must declare {name}"):
            _model_class(**rest)


def test_buffer_dtype_must_be_every_output_dtype_and_none_without_buffers():
    ok = _model_class(info=_info(_MONEY), writes_into_buffers=True, buffer_dtype=np.float64)
    assert ok.buffer_dtype == np.dtype(np.float64)
    with pytest.raises(TypeError, match=r"outputs \['people'\] declare another dtype"):
        _model_class(info=_info(_MONEY, _PEOPLE), writes_into_buffers=True,
                     buffer_dtype=np.float64)
    with pytest.raises(TypeError, match="must be None"):
        _model_class(info=_info(_MONEY), writes_into_buffers=False, buffer_dtype=np.float64)
    with pytest.raises(TypeError, match="True or False"):
        _model_class(info=_info(_MONEY), writes_into_buffers=1, buffer_dtype=np.float64)


def test_dims_need_labels():
    by_region = OutputDecl(name="x", dims=("time", "region"), unit="usd", dtype="float64",
                           doc="")
    with pytest.raises(TypeError, match=r"dims \['region'\] need labels"):
        _model_class(info=_info(by_region), writes_into_buffers=False, buffer_dtype=None)
    _model_class(info=_info(by_region, coords={"region": ("a", "b")}),
                 writes_into_buffers=False, buffer_dtype=None)


def test_simulate_chooses_the_outputs_once_for_every_model():
    """The template method gives ``_simulate`` the wanted names: every declared one for
    ``None``, the given ones otherwise; ``out=`` reaches only a model that writes into
    buffers."""
    seen = []

    class Recording(ToyModel):
        def _simulate(self, params, levers, *, n_months, chance, want, out):
            seen.append((want, out))
            return {}

    chance = ChanceStreams(0, [])
    Recording().simulate({}, {}, n_months=1, chance=chance)
    Recording().simulate({}, {}, n_months=1, chance=chance, outputs=frozenset({"stock"}))
    assert seen == [(TOY_INFO.output_names, None), (frozenset({"stock"}), None)]
    with pytest.raises(TypeError, match="does not write into buffers"):
        Recording().simulate({}, {}, n_months=1, chance=chance, out={})


def test_simulate_refuses_chance_that_does_not_cover_the_rows():
    """One stream per row: chance of 2 rows for 3 draws' parameters is refused (a model
    would otherwise read past its streams or reuse one draw's numbers for another)."""
    params = {"stock0": np.ones(3), "north_share": np.ones(3), "shock_rate": np.ones(3),
              "shock_share": np.ones(3)}
    levers = {"decay": np.zeros(2)}
    with pytest.raises(ValueError, match="chance covers 2 rows"):
        ToyModel().simulate(params, levers, n_months=2, chance=ChanceStreams(0, [0, 1]))
    got = ToyModel().simulate(params, levers, n_months=2, chance=ChanceStreams(0, [0, 1, 2]))
    assert got["stock"].shape == (3, 3)


def test_every_registered_model_inherits_the_contract_tests():
    """A new model is not forgotten: some test class inherits ModelContract with one of its
    scenarios (this file's toy aside)."""
    covered = set()
    for path in (ROOT / "tests").glob("test_*.py"):
        for scenario_path in re.findall(r'scenario_path = "([^"]+\.toml)"', path.read_text()):
            covered.add(threatsim.load_scenario(ROOT / scenario_path).model)
    assert set(model_names()) <= covered, set(model_names()) - covered
    assert all(isinstance(m, Model) for m in MODELS.values())


class TestToyContract(ModelContract):
    """The contract on the toy model, with Poisson shocks (chance drawn per draw)."""

    register = ToyModel()
    later_lever = ("decay", 0.3)

    @classmethod
    def make_scenario(cls) -> Scenario:
        return toy_scenario(decay=0.05, shock_rate=0.2, draws=cls.draws, horizon=cls.horizon,
                            timeline=[{"at": "2020-06", "levers": {"decay": 0.1}}])


class _WrongDtype(ToyModel):
    """Says its stock is int64 but returns float64."""

    info = ModelInfo(name="toy", doc=TOY_INFO.doc, parameters=TOY_INFO.parameters,
                     levers=TOY_INFO.levers, coords=TOY_INFO.coords, outputs=(
                         OutputDecl(name="stock", dims=("time",), unit="usd", dtype=np.int64,
                                    doc="the stock"), *TOY_INFO.outputs[1:]))


class _Growing(ToyModel):
    """Breaks its own identity: the stock grows in the last month."""

    def _simulate(self, params, levers, **kw):
        out = super()._simulate(params, levers, **kw)
        if "stock" in out:
            out["stock"][:, -1] = 2.0 * out["stock"][:, -2]
        return out


@pytest.mark.parametrize("broken", [_WrongDtype(), _Growing()], ids=["wrong dtype", "grows"])
def test_the_contract_catches_a_model_that_breaks_it(broken, toy_model, monkeypatch):
    """A declared dtype the model does not return, a declared identity it breaks: the
    contract's test fails (an AssertionError) where the toy itself passes it."""
    sc = TestToyContract.make_scenario()
    suite = TestToyContract()
    if isinstance(broken, _WrongDtype):
        chunk = (sample_parameters(sc.parameters, 5, seed=1), sc.lever_schedule(), sc.horizon)
        suite.test_simulate_returns_the_declared_arrays(toy_model, chunk)
        with pytest.raises(AssertionError):
            suite.test_simulate_returns_the_declared_arrays(broken, chunk)
        return
    good = threatsim.run(sc, draws=6, seed=1, progress=False)
    suite.test_declared_identities_hold_exactly(toy_model, lambda: good)
    monkeypatch.setitem(MODELS, "toy", broken)
    bad = threatsim.run(sc, draws=6, seed=1, progress=False)
    with pytest.raises(AssertionError, match="stock never grows"):
        suite.test_declared_identities_hold_exactly(broken, lambda: bad)

"""Returnees by origin group: the split conserves people, follows the shares, checks its input."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.conftest import SCENARIOS
from tests.model_contract import draw_chance
from tests.test_fighters import cases, default_levers, zero_params

import threatsim
from threatsim.cli.main import main
from threatsim.core.errors import ScenarioError
from threatsim.engine.executors import ProcessPoolChunkExecutor
from threatsim.models import get_model
from threatsim.models.contract import ORIGIN_REST, origin_share_parameter
from threatsim.models.fighters import ORIGINS, REGIONS
from threatsim.stats.variates import ChanceStreams

MODEL = get_model("fighters")
BY_ORIGIN = "returned_home_by_origin"
GROUPS = ORIGINS[:-1]  # the groups a scenario may declare


@st.composite
def shares(draw, n: int) -> dict[str, np.ndarray]:
    """Origin shares for some regions, per draw; each region's shares sum to at most 1."""
    out: dict[str, np.ndarray] = {}
    for region in draw(st.lists(st.sampled_from(REGIONS), unique=True, max_size=len(REGIONS))):
        groups = draw(st.lists(st.sampled_from(GROUPS), unique=True, min_size=1))
        raw = np.array([draw(st.lists(st.floats(0, 1), min_size=n, max_size=n))
                        for _ in groups])
        raw /= np.maximum(raw.sum(axis=0), 1.0)  # a whole region may be declared (sum 1)
        for origin, s in zip(groups, raw, strict=True):
            out[origin_share_parameter(region, origin)] = np.minimum(s, 1.0)
    return out


@settings(max_examples=60, deadline=None)
@given(cases(), st.data())
def test_the_origin_split_conserves_returnees_exactly(case, data):
    """Property: sum over origin = returned_home over regions; whole, >= 0, non-decreasing."""
    params, levers, months, seed = case
    n = next(iter(params.values())).shape[0]
    declared = data.draw(shares(n))
    plain = MODEL.simulate(params, levers, n_months=months, chance=draw_chance(seed, n))
    out = MODEL.simulate({**params, **declared}, levers, n_months=months,
                         chance=draw_chance(seed, n))
    by = out[BY_ORIGIN]
    assert by.dtype == np.int64
    assert by.shape == (n, months + 1, len(ORIGINS))
    assert (by >= 0).all()
    assert (by[:, 0] == 0).all()
    assert (np.diff(by, axis=1) >= 0).all()
    np.testing.assert_array_equal(by.sum(axis=2), out["returned_home"].sum(axis=2))
    # a group no region declares gets nobody
    for j, origin in enumerate(GROUPS):
        if not any(origin_share_parameter(r, origin) in declared for r in REGIONS):
            assert (by[..., j] == 0).all(), origin
    # the split is drawn last: every other output is what a run without origins gives
    for name, arr in plain.items():
        if name != BY_ORIGIN:
            np.testing.assert_array_equal(out[name], arr, err_msg=name)


class _Recording(ChanceStreams):
    """Chance that records the counter of every call made on it (and on its subsets)."""

    def __init__(self, seed: int, rows: int, calls: list | None = None) -> None:
        super().__init__(seed, np.arange(rows))
        self.calls = [] if calls is None else calls

    def __getitem__(self, selection):
        sub = _Recording(0, 0, self.calls)
        sub.key0, sub.key1 = self.key0[selection], self.key1[selection]
        return sub

    def binomial(self, n, p, *, month, flow, event=0):
        self.calls.append(("binomial", month, flow, event))
        return super().binomial(n, p, month=month, flow=flow, event=event)

    def poisson(self, lam, *, month, flow, event=0):
        self.calls.append(("poisson", month, flow, event))
        return super().poisson(lam, month=month, flow=flow, event=event)


def test_without_origins_nothing_extra_is_drawn():
    """No shares declared: every returnee is unspecified, and asking for the split makes no
    call on chance that the run without it does not make (the same counters, in order)."""
    n, months = 50, 12
    params = zero_params(n)
    params.update(fighters_afghanistan=np.full(n, 400.0), foreign_share_affiliates=np.full(n, 1.0),
                  departure_rate=np.full(n, 0.05))
    calls = {}
    for want in (frozenset({"returned_home"}), frozenset({"returned_home", BY_ORIGIN})):
        chance = _Recording(3, n)
        out = MODEL.simulate(params, default_levers(months), n_months=months, chance=chance,
                             outputs=want)
        calls[want] = chance.calls
    first, second = calls.values()
    assert first
    assert first == second
    assert set(out) == {"returned_home", BY_ORIGIN}
    rest = ORIGINS.index(ORIGIN_REST)
    np.testing.assert_array_equal(out[BY_ORIGIN][..., rest], out["returned_home"].sum(axis=2))
    assert out[BY_ORIGIN][..., :rest].sum() == 0
    assert out["returned_home"][:, -1].sum() > 0


def test_only_the_origin_output_still_splits_the_returnees():
    """Asking for returned_home_by_origin alone records the returnees it needs, and no more."""
    n, months = 20, 6
    params = zero_params(n)
    params.update(fighters_tunisia=np.full(n, 300.0), foreign_share_affiliates=np.full(n, 1.0),
                  departure_rate=np.full(n, 0.1),
                  **{origin_share_parameter("tunisia", "africa"): np.full(n, 1.0)})
    out = MODEL.simulate(params, default_levers(months), n_months=months,
                         chance=draw_chance(4, n), outputs=frozenset({BY_ORIGIN}))
    assert set(out) == {BY_ORIGIN}
    by = out[BY_ORIGIN]
    assert by[..., ORIGINS.index("africa")].sum() == by.sum() > 0


def test_returnees_follow_the_declared_shares(write_scenario):
    """Each group's part of all returnees is its declared share, within 5 Monte Carlo SE."""
    declared = {"western_balkans": 0.25, "europe": 0.45, "middle_east": 0.1}
    body = "".join(f"[origins.{region}.{origin}]\ndist = \"point\"\nvalue = {s}\n"
                   "assumption = \"test\"\n"
                   for region in ("iraq", "syria") for origin, s in declared.items())
    path = write_scenario(f'extends = "{SCENARIOS / "balkans_cohort.toml"}"\n{body}')
    sc = threatsim.load_scenario(path)
    ds = threatsim.run(sc, draws=1000, chunk_size=250, progress=False)
    final = ds[BY_ORIGIN].isel(time=-1).sum("draw")
    total = int(ds["returned_home"].isel(time=-1).sum())
    assert int(final.sum()) == total > 100_000
    expected = {**declared, ORIGIN_REST: 1 - sum(declared.values())}
    for origin in ORIGINS:
        p = expected.get(origin, 0.0)
        got = int(final.sel(origin=origin))
        # given the returnees, a group's count is Binomial(total, p): the closed form
        se = np.sqrt(total * p * (1 - p))
        assert abs(got - total * p) <= 5 * se, (origin, got, total * p, se)


def test_the_balkans_cohort_returns_home_to_the_western_balkans():
    """balkans_cohort.toml: every returnee is counted under western_balkans."""
    sc = threatsim.load_scenario(SCENARIOS / "balkans_cohort.toml")
    short = sc.with_values({"horizon": 24, "outputs.report_months": ["2014-07"]})
    ds = threatsim.run(short, draws=40, chunk_size=20, progress=False)
    by = ds[BY_ORIGIN]
    xr.testing.assert_equal(by.sel(origin="western_balkans", drop=True),
                            ds["returned_home"].sum("region"))
    assert int(by.drop_sel(origin="western_balkans").sum()) == 0


@pytest.mark.parametrize("name", ["fighters.toml", "baseline.toml"])
def test_origin_split_is_bit_identical_across_executors(name):
    """In-process and a 2-process pool give the same Dataset, origins and replicates included."""
    sc = threatsim.load_scenario(SCENARIOS / name)
    sc = sc.with_values({"horizon": 12, "questions": [],
                         "outputs.report_months": [sc.month_label(0)],
                         "outputs.variables": ["returned_home", BY_ORIGIN]})
    run = {"draws": 24, "chunk_size": 8, "replicates": 2, "seed": 11, "progress": False}
    base = threatsim.run(sc, **run)
    pool = threatsim.run(sc, executor=ProcessPoolChunkExecutor(2), **run)
    xr.testing.assert_identical(base, pool)
    assert int(base[BY_ORIGIN].isel(time=-1).sel(origin="western_balkans").sum()) > 0
    np.testing.assert_array_equal(base[BY_ORIGIN].sum("origin"),
                                  base["returned_home"].sum("region"))


def test_shipped_scenarios_give_every_share_a_provenance():
    """fighters.toml and baseline.toml declare the same origin shares, each assumed or sourced."""
    alone = threatsim.load_scenario(SCENARIOS / "fighters.toml")
    base = threatsim.load_scenario(SCENARIOS / "baseline.toml")
    names = [n for n in alone.parameters if n.startswith("origin_share_")]
    assert names
    for n in names:
        p = alone.parameters[n]
        assert p == base.parameters[n]
        assert p.unit == "share"
        assert (p.source is None) != (p.assumption is None)


def test_the_cli_prints_returnees_by_origin(tmp_path, capsys):
    """threatsim run prints one band table per origin group with returnees, and plots them."""
    out = tmp_path / "b.nc"
    assert main(["run", str(SCENARIOS / "balkans_cohort.toml"), "--draws", "40", "--quiet",
                 "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "returned_home_by_origin western_balkans" in text
    assert "returned_home_by_origin unspecified" not in text  # nobody in it: left out
    assert out.with_suffix(".png").is_file()


# -- bad input -----------------------------------------------------------------------------


def _problems(write_scenario, body: str, base: str = "fighters.toml") -> list[ScenarioError]:
    path = write_scenario(f'extends = "{SCENARIOS / base}"\n{body}')
    with pytest.raises(ScenarioError) as info:
        threatsim.load_scenario(path)
    assert str(path) in str(info.value)
    return list(info.value.problems) or [info.value]


_SHARE = 'dist = "point"\nvalue = 0.1\nassumption = "test"\n'


@pytest.mark.parametrize(
    ("body", "key", "fragments"),
    [
        (f"[origins.syria.asia]\n{_SHARE}", "origins.syria.asia",
         ["not an origin group", "allowed: middle_east, africa", "south_east_asia"]),
        (f"[origins.syria.unspecified]\n{_SHARE}", "origins.syria.unspecified",
         ["is the rest", "allowed:"]),
        (f"[origins.yemen.europe]\n{_SHARE}", "origins.yemen",
         ["not a region", "allowed: iraq, syria"]),
        ('[origins.syria.europe]\ndist = "uniform"\nrange = [0.5, 1.5]\nassumption = "t"\n',
         "origins.syria.europe.range", ["[0, 1]"]),
        ('[origins.syria.europe]\ndist = "uniform"\nrange = [0.5, 0.85]\nassumption = "t"\n',
         "origins.syria", ["at most 1", "western_balkans 0.2", "europe 0.85", "unspecified"]),
        ('[origins.syria.europe]\ndist = "point"\nvalue = 0.3\n', "origins.syria.europe",
         ["exactly one of source", "assumption"]),
        (f'[origins.syria.europe]\n{_SHARE}share_of = "fighters_iraq_syria"\n',
         "origins.syria.europe.share_of", ["not a known key", "allowed: dist"]),
        (f'[origins.syria.europe]\n{_SHARE}unit = "people"\n', "origins.syria.europe.unit",
         ["must be 'share'"]),
        ("[origins.syria]\neurope = 0.3\n", "origins.syria.europe", ["must be a table"]),
    ],
)
def test_bad_origin_input_names_the_key_and_what_is_allowed(write_scenario, body, key,
                                                            fragments):
    """Each bad origins table is a ScenarioError naming its key, value and the allowed values."""
    problems = _problems(write_scenario, body)
    match = [p for p in problems if p.key == key]
    assert match, [p.key for p in problems]
    for fragment in fragments:
        assert fragment in str(match[0]), (fragment, str(match[0]))


def test_origins_on_a_model_without_origin_groups_are_refused(write_scenario):
    """[origins] in a financing scenario: the error names the models that take it."""
    (err,) = _problems(write_scenario, f"[origins.syria.europe]\n{_SHARE}",
                       base="financing.toml")
    assert err.key == "origins"
    assert "fighters, coupled" in str(err)


def test_a_declared_share_reaches_the_dataset_with_its_provenance():
    """Each origin share is a parameter on draw in the Dataset, with its assumption."""
    sc = threatsim.load_scenario(SCENARIOS / "balkans_cohort.toml")
    short = sc.with_values({"horizon": 3, "outputs.report_months": ["2014-07"]})
    ds = threatsim.run(short, draws=4, progress=False)
    var = ds[origin_share_parameter("syria", "western_balkans")]
    assert var.dims == ("draw",)
    assert var.attrs["role"] == "parameter"
    assert "western Balkans" in var.attrs["provenance"]
    assert ds[BY_ORIGIN].dims == ("draw", "time", "origin")
    assert list(ds["origin"].values) == list(ORIGINS)


def test_threatsim_models_lists_the_origin_groups(capsys):
    """`threatsim models fighters` names every origin group a scenario may use."""
    assert main(["models", "fighters"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.strip().startswith("origin "))
    assert line.split(None, 1)[1] == ", ".join(ORIGINS)

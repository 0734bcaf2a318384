"""Scenario discovery (PRIM): planted boxes are found; readable rules; bad conditions refused."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from tests.analysis_toy import toy_scenario, toy_toml

import threatsim
from threatsim.analysis.discovery import prim
from threatsim.cli.main import main
from threatsim.core.errors import ScenarioError


def _uniform_cube(n: int, d: int, seed: int) -> dict[str, np.ndarray]:
    gen = np.random.Generator(np.random.PCG64(seed))
    return {f"x{i}": gen.random(n) for i in range(d)}


def _restricted(res) -> set[str]:
    return set(res.box.limits)


def test_prim_recovers_a_planted_box():
    """y = (x0 > 0.6) and (x2 < 0.3) in 5 dims: only x0 and x2 restricted, near 0.6 and 0.3."""
    x = _uniform_cube(4000, 5, seed=1)
    y = (x["x0"] > 0.6) & (x["x2"] < 0.3)
    res = prim(x, y, threshold=0.95)
    assert _restricted(res) == {"x0", "x2"}
    lo0, hi0 = res.box.limits["x0"]
    lo2, hi2 = res.box.limits["x2"]
    assert lo0 == pytest.approx(0.6, abs=0.03)
    assert hi0 == pytest.approx(1.0, abs=1e-3)
    assert hi2 == pytest.approx(0.3, abs=0.03)
    assert lo2 == pytest.approx(0.0, abs=1e-3)
    assert res.box.density >= 0.95
    assert res.box.coverage >= 0.85
    assert res.base_rate == pytest.approx(y.mean())


def test_prim_recovers_a_two_sided_box_through_label_noise():
    """y = 0.3 < x1 < 0.7 with 5 % of labels flipped: x1 alone, both ends near the truth."""
    x = _uniform_cube(4000, 4, seed=2)
    gen = np.random.Generator(np.random.PCG64(3))
    y = ((x["x1"] > 0.3) & (x["x1"] < 0.7)) ^ (gen.random(4000) < 0.05)
    res = prim(x, y, threshold=0.9)
    assert _restricted(res) == {"x1"}
    lo, hi = res.box.limits["x1"]
    assert lo == pytest.approx(0.3, abs=0.05)
    assert hi == pytest.approx(0.7, abs=0.05)
    assert res.box.density >= 0.9


def test_trajectory_trades_coverage_for_density():
    """Along the peeling, coverage never rises and the box shrinks; the first box is everything."""
    x = _uniform_cube(2000, 3, seed=4)
    y = x["x0"] + x["x1"] > 1.4
    res = prim(x, y)
    cov = [b.coverage for b in res.trajectory]
    counts = [b.count for b in res.trajectory]
    assert cov[0] == 1.0
    assert counts[0] == 2000
    assert all(a >= b for a, b in itertools.pairwise(cov))
    assert all(a > b for a, b in itertools.pairwise(counts))
    assert res.trajectory[res.chosen].density >= 0.8


def test_discover_on_a_run_gives_a_readable_rule(toy_model):
    """Toy stock at 2020-07 below $120, no decay: the rule is stock0 <= $120 and nothing else."""
    ds = threatsim.run(toy_scenario(decay=0.0), draws=2000)
    res = threatsim.discover(ds, "stock", below=120.0, at="2020-07", threshold=1.0)
    assert _restricted(res) == {"stock0"}
    assert 115.0 <= res.box.limits["stock0"][1] < 120.0  # within one peel of the truth
    assert res.box.density == 1.0
    assert res.box.coverage >= 0.75
    rule = res.rules()
    assert rule.startswith("stock0 <= $1")
    assert "100% density" in rule
    assert "coverage" in rule
    assert res.condition == "stock < $120 at 2020-07"


def test_discover_refuses_bad_conditions(toy_model):
    """Both / neither of below and above, or a condition no draw meets: ScenarioError."""
    ds = threatsim.run(toy_scenario(), draws=200)
    with pytest.raises(ScenarioError, match="exactly one"):
        threatsim.discover(ds, "stock", below=1.0, above=2.0)
    with pytest.raises(ScenarioError, match="none of the draws"):
        threatsim.discover(ds, "stock", below=1.0)
    with pytest.raises(ScenarioError, match="did you mean 'stock'"):
        threatsim.discover(ds, "stok", below=1.0)


def test_cli_discover(financing_path, tmp_path, capsys):
    """`threatsim discover` on the financing scenario prints the box and the trade-off; --json."""
    out = tmp_path / "box.json"
    assert main(["discover", str(financing_path), "--output", "reserves", "--below", "50e6",
                 "--at", "2020-12", "--draws", "2000", "--quiet", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "reserves < $50.0M at 2020-12" in text
    assert "reserves_initial <=" in text
    assert "density" in text
    assert out.read_text().startswith("{")


@pytest.mark.parametrize(("args", "message"), [
    (["--output", "stock", "--below", "1", "--at", "2031-01"], "must be within the run"),
    (["--output", "stocks", "--below", "1"], "did you mean 'stock'"),
    (["--output", "stock"], "exactly one"),
])
def test_cli_discover_bad_input_exits_2(toy_model, tmp_path, capsys, args, message):
    """Bad month, output or condition: exit 2 with the reason."""
    path = toy_toml(tmp_path / "toy.toml")
    assert main(["discover", str(path), *args, "--draws", "20", "--quiet"]) == 2
    assert message in capsys.readouterr().err

"""A run of uniform and point ranges does without scipy.stats (40 MB of a bounded run's
memory, issue 23's budget of 600 MB at 10^7 draws); what it stood in for is the same."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from scipy import special, stats
from tests.conftest import ROOT

from threatsim.inputs.distributions import Z95
from threatsim.stats import mcse


def test_a_w1_summary_run_never_imports_scipy_stats():
    code = ("import sys, threatsim\n"
            f"sc = threatsim.load_scenario({str(ROOT / 'benchmarks' / 'w1.toml')!r})\n"
            "ds = threatsim.run(sc, draws=3000, keep='summary', progress=False)\n"
            "threatsim.run(sc, draws=3000, progress=False)\n"
            "print('scipy.stats' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT)
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_a_latin_hypercube_or_other_range_still_gets_scipy_stats():
    """The designs and ranges that need scipy.stats import it where they are used."""
    from threatsim.engine.sampling import uniforms
    from threatsim.inputs.distributions import DistSpec

    assert uniforms(["a"], 10, seed=0, sampler="lhs")["a"].shape == (10,)
    got = DistSpec(kind="pert", low=0.0, high=6.0, mode=1.0).ppf(np.array([0.5]))
    assert got[0] == pytest.approx(stats.beta(1 + 4 / 6, 1 + 20 / 6, scale=6.0).ppf(0.5))


@pytest.mark.parametrize("m", [1, 10, 999, 12_345, 10**6, 10**7, 2 * 10**7])
def test_mcse_levels_are_scipy_stats_beta_ppf(m):
    qs = np.linspace(0.0, 1.0, 41)
    lo, hi = mcse.mcse_levels(m, qs)
    a, b = m * qs + 1, m * (1 - qs) + 1
    np.testing.assert_array_equal(lo, stats.beta.ppf(stats.norm.cdf(-1.0), a, b))
    np.testing.assert_array_equal(hi, stats.beta.ppf(stats.norm.cdf(1.0), a, b))


def test_z95_is_the_normal_95th_percentile():
    assert Z95 == stats.norm.ppf(0.95) == special.ndtri(0.95)

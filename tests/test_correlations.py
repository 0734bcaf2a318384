"""Rank-correlated inputs (``[[correlations]]``): the achieved Spearman correlations,
unchanged marginals, share_of caps, every bad input, determinism, common random numbers
with a what-if, extends, and the provenance in the results.

Tolerances: the Spearman correlation of n draws is compared on Fisher's z,
atanh(rho_s), whose standard error is sqrt(1.06 / (n - 3)) (Fieller, Hartley and
Pearson 1957, Biometrika 44, 470-481); a test passes within 5 of them.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

import threatsim
from threatsim.core.errors import ScenarioError
from threatsim.engine.options import RunOptions
from threatsim.engine.plan import sample_lean
from threatsim.engine.sampling import iman_conover, sample_parameters
from threatsim.inputs import correlations, validation
from threatsim.inputs.distributions import DistSpec
from threatsim.inputs.parts import Parameter, normal_score_correlation
from threatsim.inputs.schema import KEYS
from threatsim.inputs.sources import SourceRegistry

N = 2**17  # a power of 2, so the sobol design keeps its balance
SAMPLERS = ("mc", "lhs", "sobol")


def _z_error(achieved: float, target: float, n: int) -> float:
    """|atanh(achieved) - atanh(target)| in standard errors of Fisher's z of Spearman."""
    return abs(math.atanh(achieved) - math.atanh(target)) / math.sqrt(1.06 / (n - 3))


def _spearman(values: dict[str, np.ndarray], a: str, b: str) -> float:
    return float(stats.spearmanr(values[a], values[b]).statistic)


def _entry(a: str, b: str, rho: float, why: str = "a test's assumption") -> str:
    return f'[[correlations]]\nbetween = ["{a}", "{b}"]\nrho = {rho}\nassumption = "{why}"\n'


@pytest.fixture
def correlated(write_scenario, financing_path):
    """Write a what-if of the financing scenario with the given correlation entries."""
    def write(body: str, name: str = "corr.toml", parent=None):
        parent = financing_path if parent is None else parent
        return write_scenario(f'extends = "{parent}"\nname = "{name[:-5]}"\n{body}', name)
    return write


# -- the correlations achieved ------------------------------------------------------


@pytest.mark.parametrize("sampler", SAMPLERS)
@pytest.mark.parametrize("rho", [-0.8, -0.3, 0.5, 0.9])
def test_achieved_spearman_is_the_requested_one(correlated, sampler, rho):
    """One pair (a triangular and a lognormal90): Spearman within 5 standard errors.

    Catches a missing or wrong normal-score conversion (Pearson rho on the scores gives
    Spearman 0.483 for 0.5 and 0.891 for 0.9: 7 and 16 standard errors off) and a
    rearrangement that does not take (Spearman 0).
    """
    sc = threatsim.load_scenario(correlated(_entry("upkeep_per_fighter", "reserves_initial", rho)))
    values = sample_parameters(sc.parameters, N, seed=5, sampler=sampler)
    achieved = _spearman(values, "upkeep_per_fighter", "reserves_initial")
    assert _z_error(achieved, rho, N) < 5, (achieved, rho)


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_a_three_by_three_matrix_is_achieved_pair_by_pair(correlated, sampler):
    """Three parameters, all three pairs given (one negative), plus a fourth parameter
    paired with one of them only: every pair within 5 standard errors, and an
    unlisted pair (the fourth with the other two) at 0."""
    body = (_entry("reserves_initial", "extortion_income", 0.6)
            + _entry("extortion_income", "oil_extortion_income", -0.4)
            + _entry("oil_extortion_income", "reserves_initial", 0.3)
            + _entry("operations_spending", "reserves_initial", 0.2))
    sc = threatsim.load_scenario(correlated(body))
    assert sc.parameters["extortion_income"].correlated.names == (
        "extortion_income", "oil_extortion_income", "operations_spending", "reserves_initial")
    values = sample_parameters(sc.parameters, N, seed=7, sampler=sampler)
    want = {("reserves_initial", "extortion_income"): 0.6,
            ("extortion_income", "oil_extortion_income"): -0.4,
            ("oil_extortion_income", "reserves_initial"): 0.3,
            ("operations_spending", "reserves_initial"): 0.2,
            ("operations_spending", "extortion_income"): 0.0,
            ("operations_spending", "oil_extortion_income"): 0.0,
            ("reserves_initial", "seizure_rate"): 0.0}  # a parameter outside the group
    for (a, b), rho in want.items():
        assert _z_error(_spearman(values, a, b), rho, N) < 5, (a, b, rho)


def test_the_normal_score_conversion_is_spearman_of_a_bivariate_normal():
    """r = 2 sin(pi rho / 6) on a bivariate normal gives Spearman rho (Pearson 1907),
    checked on scipy's multivariate normal, independently of Iman-Conover: catches a
    wrong conversion formula."""
    n = 200_000
    for rho in (-0.7, 0.4, 0.85):
        r = float(normal_score_correlation(rho))
        x = stats.multivariate_normal(cov=[[1, r], [r, 1]]).rvs(n, random_state=3)
        achieved = float(stats.spearmanr(x[:, 0], x[:, 1]).statistic)
        assert _z_error(achieved, rho, n) < 5, (rho, achieved)


def test_perfect_correlation_and_too_few_draws():
    """rho = 1 (a singular target) lines the ranks up exactly; with no more draws than
    columns nothing can be imposed and the uniforms are returned as they are."""
    u = np.random.default_rng(1).random((1000, 2))
    v = iman_conover(u, normal_score_correlation(np.ones((2, 2))))
    assert np.array_equal(np.argsort(v[:, 0]), np.argsort(v[:, 1]))
    w = iman_conover(u, normal_score_correlation(-np.ones((2, 2)) + 2 * np.eye(2)))
    assert np.array_equal(np.argsort(w[:, 0]), np.argsort(w[:, 1])[::-1])
    small = u[:2]
    assert iman_conover(small, np.eye(2)) is small


# -- what stays as it was ------------------------------------------------------------


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_marginals_are_unchanged(correlated, financing_path, sampler):
    """Correlations only re-pair the draws: each correlated parameter has exactly the
    sorted values of the uncorrelated scenario (and passes a KS test against its
    distribution at alpha = 0.001); every other parameter is bit-identical. The group's
    first parameter by name keeps its draws as they were (Iman-Conover's factors are
    lower triangular); the others are re-paired to it."""
    body = _entry("reserves_initial", "extortion_income", 0.7) + _entry(
        "extortion_income", "upkeep_per_fighter", -0.5)
    sc = threatsim.load_scenario(correlated(body))
    base = threatsim.load_scenario(financing_path)
    got = sample_parameters(sc.parameters, N, seed=11, sampler=sampler)
    ref = sample_parameters(base.parameters, N, seed=11, sampler=sampler)
    assert got.keys() == ref.keys()
    for name in ref:
        if name in ("reserves_initial", "extortion_income", "upkeep_per_fighter"):
            first = name == sc.parameters[name].correlated.names[0]
            assert np.array_equal(got[name], ref[name]) == first, name
            assert np.array_equal(np.sort(got[name]), np.sort(ref[name])), name
            cdf = sc.parameters[name].dist.frozen().cdf
            assert stats.kstest(got[name], cdf).pvalue > 0.001, name
        else:
            assert np.array_equal(got[name], ref[name]), name


def test_share_of_caps_still_hold(correlated):
    """A nested quantity correlated (negatively) with its parent is still capped at it on
    every draw, and the cap still binds on some draws."""
    body = ('[parameters.ransom_income]\nrange = [0, 9000000]\nshare_of = "extortion_income"\n'
            + _entry("ransom_income", "extortion_income", -0.6)
            + _entry("reserves_initial", "ransom_income", 0.4))
    sc = threatsim.load_scenario(correlated(body))
    for sampler in SAMPLERS:
        values = sample_parameters(sc.parameters, 4096, seed=2, sampler=sampler)
        assert bool(np.all(values["ransom_income"] <= values["extortion_income"])), sampler
        assert bool(np.any(values["ransom_income"] == values["extortion_income"])), sampler
    ds = threatsim.run(sc, draws=500, seed=3)
    assert bool((ds["ransom_income"] <= ds["extortion_income"]).all())


def test_same_seed_same_values_and_one_at_a_time_is_the_joint_sample(correlated):
    """Deterministic: the same seed gives the same values, another seed others; the
    engine's one-parameter-at-a-time sampling (sample_lean, which runs use) and a
    run's chunking give exactly the joint sample."""
    body = (_entry("reserves_initial", "extortion_income", 0.6)
            + _entry("ransom_income", "extortion_income", -0.3))
    sc = threatsim.load_scenario(correlated(body))
    for sampler in SAMPLERS:
        a = sample_parameters(sc.parameters, 999, seed=4, sampler=sampler)
        b = sample_parameters(sc.parameters, 999, seed=4, sampler=sampler)
        c = sample_parameters(sc.parameters, 999, seed=5, sampler=sampler)
        assert all(np.array_equal(a[k], b[k]) for k in a)
        assert not np.array_equal(a["reserves_initial"], c["reserves_initial"])
        opts = RunOptions.build(sc, draws=999, seed=4, sampler=sampler)
        for views in (False, True):
            lean = sample_lean(sc, opts, constants_as_views=views)
            assert all(np.array_equal(lean[k], a[k]) for k in a), (sampler, views)
    whole = threatsim.run(sc, draws=300, seed=9)
    chunked = threatsim.run(sc, draws=300, seed=9, chunk_size=7)
    for name in sc.parameters:
        assert np.array_equal(whole[name].values, chunked[name].values), name


def test_common_random_numbers_with_a_what_if(correlated):
    """A what-if of a correlated scenario that changes levers sees the same values of
    every parameter, draw by draw; one that changes a correlated parameter's range keeps
    its pairing (the same ranks); one that correlates two other parameters leaves the
    first group alone."""
    base_path = correlated(_entry("reserves_initial", "extortion_income", 0.6), "base.toml")
    levers = correlated("[levers]\nseizure_effort = 2.0\nrevenue_disruption = 0.2\n",
                        "levers.toml", parent=base_path)
    ranged = correlated("[parameters.extortion_income]\nrange = [2_000_000, 8_000_000]\n",
                        "ranged.toml", parent=base_path)
    other = correlated(_entry("ransom_income", "operations_spending", -0.5), "other.toml",
                       parent=base_path)
    base = threatsim.run(threatsim.load_scenario(base_path), draws=400, seed=21)
    whatif = threatsim.run(threatsim.load_scenario(levers), draws=400, seed=21)
    for name in threatsim.load_scenario(base_path).parameters:
        assert np.array_equal(base[name].values, whatif[name].values), name
    assert not np.array_equal(base["reserves"].values, whatif["reserves"].values)
    moved = threatsim.run(threatsim.load_scenario(ranged), draws=400, seed=21)
    assert np.array_equal(np.argsort(moved["extortion_income"].values),
                          np.argsort(base["extortion_income"].values))
    assert np.array_equal(moved["reserves_initial"].values, base["reserves_initial"].values)
    more = threatsim.run(threatsim.load_scenario(other), draws=400, seed=21)
    for name in ("reserves_initial", "extortion_income", "seizure_rate"):
        assert np.array_equal(more[name].values, base[name].values), name


# -- extends, provenance ----------------------------------------------------------


def test_extends_adds_and_overrides_pairs(correlated, financing_path):
    """A child's entry for a pair its parent gives (in either order) replaces it, a new
    pair is added, and rho = 0 makes a pair independent again (the parent's values)."""
    base_path = correlated(_entry("reserves_initial", "extortion_income", 0.6)
                           + _entry("ransom_income", "operations_spending", 0.3), "base.toml")
    child = correlated(_entry("extortion_income", "reserves_initial", -0.2, "changed")
                       + _entry("seizure_rate", "cache_share", 0.5), "child.toml",
                       parent=base_path)
    sc = threatsim.load_scenario(child)
    got = {frozenset(c.between): (c.rho, c.assumption) for c in sc.correlations}
    assert got == {frozenset(("reserves_initial", "extortion_income")): (-0.2, "changed"),
                   frozenset(("ransom_income", "operations_spending")): (0.3,
                                                                          "a test's assumption"),
                   frozenset(("seizure_rate", "cache_share")): (0.5, "a test's assumption")}
    dropped = correlated(_entry("reserves_initial", "extortion_income", 0.0, "independent"),
                         "dropped.toml", parent=base_path)
    sc = threatsim.load_scenario(dropped)
    assert sc.parameters["reserves_initial"].correlated is None
    plain = sample_parameters(threatsim.load_scenario(financing_path).parameters, 500, seed=1)
    values = sample_parameters(sc.parameters, 500, seed=1)
    assert np.array_equal(values["reserves_initial"], plain["reserves_initial"])
    assert not np.array_equal(values["ransom_income"], plain["ransom_income"])


def test_results_carry_the_correlations_and_the_run_id_changes(correlated, financing_path):
    """ds.attrs["correlations"] lists each pair, its rho and provenance (a source's
    citation); a scenario without correlations has no such attr; the run id changes
    when a correlation does."""
    body = ('[[correlations]]\nbetween = ["reserves_initial", "extortion_income"]\nrho = 0.4\n'
            'source = "reserves_usd"\n')
    sc = threatsim.load_scenario(correlated(body))
    for keep in ("draws", "summary"):
        ds = threatsim.run(sc, draws=50, seed=1, keep=keep)
        assert json.loads(ds.attrs["correlations"]) == [
            {"between": ["reserves_initial", "extortion_income"], "rho": 0.4,
             "provenance": "S/2019/103 para 12 (reserves_usd)"}]
    assert "correlations" not in threatsim.run(threatsim.load_scenario(financing_path),
                                               draws=20).attrs
    other = threatsim.load_scenario(correlated(body.replace("0.4", "0.5"), "other.toml"))
    assert other.run_id != sc.run_id


# -- bad input ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "key", "fragments"),
    [
        (_entry("reserves_initial", "extortion_incme", 0.5), "correlations[0].between",
         ["'extortion_incme' is not a parameter", "did you mean 'extortion_income'"]),
        ("[parameters.cache_share]\ndist = 'point'\nvalue = 0.1\n"
         + _entry("cache_share", "reserves_initial", 0.5), "correlations[0].between",
         ["'cache_share' is a point", "cannot be correlated"]),
        (_entry("reserves_initial", "extortion_income", 1.5), "correlations[0].rho",
         ["1.5", "from -1 to 1"]),
        (_entry("reserves_initial", "extortion_income", '"high"'), "correlations[0].rho",
         ["'high'", "from -1 to 1"]),
        (_entry("reserves_initial", "reserves_initial", 0.5), "correlations[0].between",
         ["names 'reserves_initial' twice", "two different parameters"]),
        (_entry("reserves_initial", "extortion_income", 0.5)
         + _entry("extortion_income", "reserves_initial", 0.2), "correlations[1].between",
         ["same pair as correlations[0]"]),
        ('[[correlations]]\nbetween = ["reserves_initial", "extortion_income"]\nrho = 0.5\n',
         "correlations[0]", ["exactly one of source", "assumption"]),
        ('[[correlations]]\nbetween = ["reserves_initial", "extortion_income"]\nrho = 0.5\n'
         'source = "reserves_usd"\nassumption = "both"\n', "correlations[0]",
         ["exactly one of source"]),
        ('[[correlations]]\nbetween = ["reserves_initial", "extortion_income"]\nrho = 0.5\n'
         'source = "reserves_usd_"\n', "correlations[0].source",
         ["not in the source registry", "did you mean 'reserves_usd'"]),
        ('[[correlations]]\nbetween = ["reserves_initial", "extortion_income"]\nrho = 0.5\n'
         'assumption = " "\n', "correlations[0].assumption", ["must be a sentence"]),
        ('[[correlations]]\nbetween = ["reserves_initial"]\nrho = 0.5\nassumption = "x"\n',
         "correlations[0].between", ["must be two parameter names"]),
        ('[[correlations]]\nbetween = ["reserves_initial", "extortion_income"]\nrh0 = 0.5\n'
         'assumption = "x"\n', "correlations[0].rh0", ["did you mean 'rho'"]),
        ("correlations = 5\n", "correlations", ["must be an array of tables"]),
        (_entry("reserves_initial", "extortion_income", 0.9)
         + _entry("extortion_income", "ransom_income", 0.9)
         + _entry("ransom_income", "reserves_initial", -0.9), "correlations",
         ["not positive semi-definite", "smallest eigenvalue -0.8",
          "reserves_initial, extortion_income"]),
    ],
)
def test_bad_correlations_name_file_key_value_and_rule(correlated, body, key, fragments):
    """Each bad entry is a ScenarioError naming the file, the key, the value and what is
    allowed."""
    path = correlated(body)
    with pytest.raises(ScenarioError) as info:
        threatsim.load_scenario(path)
    err = info.value
    assert str(path) in str(err)
    keys = [p.key for p in err.problems] or [err.key]
    assert key in keys, str(err)
    for fragment in fragments:
        assert fragment in str(err), (fragment, str(err))


def test_a_valid_rank_matrix_whose_normal_scores_are_not_psd_is_refused():
    """2 sin(pi rho / 6) can turn a barely valid Spearman matrix into an invalid
    Pearson one; that is refused too, saying so."""
    rho = -0.4999  # three pairs at about -1/2: the Spearman matrix is (barely) PSD
    assert np.linalg.eigvalsh(np.full((3, 3), rho) + (1 - rho) * np.eye(3))[0] > 0
    params = {n: Parameter(name=n, dist=DistSpec(kind="uniform", low=0.0, high=1.0),
                           unit="share", assumption="x") for n in "abc"}
    raw = [{"between": list(pair), "rho": rho, "assumption": "x"}
           for pair in (("a", "b"), ("b", "c"), ("a", "c"))]
    p = validation.Problems()
    assert correlations.check_correlations(p, raw, params, SourceRegistry({}))[0] == ()
    assert [e.key for e in p.items] == ["correlations"]
    assert "normal-score correlations" in str(p.items[0])


def test_the_schema_documents_every_correlation_key():
    """docs/scenario-reference.md (generated from the schema) has a row for each key a
    [[correlations]] entry accepts, and no other."""
    documented = {k.key.split(".", 1)[1] for k in KEYS if k.key.startswith("correlations.")}
    assert documented == set(correlations.CORRELATION_KEYS)
    assert "correlations" in validation.TOP_KEYS

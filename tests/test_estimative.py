"""Probabilities in words that respect Monte Carlo error (issue 21, part 2).

Reference values: the bands as ICD 203 and the IPCC guidance note print them, and
scipy's Wilson interval (binomtest(...).proportion_ci), computed here independently.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from threatsim.core.errors import ScenarioError
from threatsim.outputs.estimative import ICD203, IPCC, describe


def _wilson(p: float, n: int) -> tuple[float, float]:
    ci = stats.binomtest(round(p * n), n).proportion_ci(confidence_level=0.95,
                                                         method="wilson")
    return ci.low, ci.high


@pytest.mark.parametrize(("p", "term"), [
    (0.0, "almost no chance"), (0.03, "almost no chance"), (0.10, "very unlikely"),
    (0.30, "unlikely"), (0.50, "roughly even chance"), (0.70, "likely"),
    (0.90, "very likely"), (0.97, "almost certain"), (1.0, "almost certain"),
])
def test_icd203_bands_as_the_directive_prints_them(p, term):
    assert describe(p, 10**7).words == term


@pytest.mark.parametrize(("p", "term"), [
    (0.005, "exceptionally unlikely"), (0.03, "extremely unlikely"), (0.07, "very unlikely"),
    (0.2, "unlikely"), (0.5, "about as likely as not"), (0.8, "likely"),
    (0.93, "very likely"), (0.97, "extremely likely"), (0.995, "virtually certain"),
])
def test_ipcc_narrowest_term_holds_the_probability(p, term):
    assert describe(p, 10**7, scale="ipcc").words == term


def test_the_interval_is_scipys_wilson_interval():
    e = describe(0.3, 1000)
    low, high = _wilson(0.3, 1000)
    assert e.low == pytest.approx(low, rel=1e-12)
    assert e.high == pytest.approx(high, rel=1e-12)


def test_an_interval_across_an_edge_gives_both_terms_and_the_draws_that_settle_it():
    e = describe(0.79, 400)
    low, high = _wilson(0.79, 400)
    assert low < 0.80 < high  # the interval crosses likely / very likely
    assert e.terms == ("likely", "very likely")
    n = e.draws_to_settle
    assert n is not None
    # at n draws the interval around 0.79 lies inside 55-80 %; one draw fewer, it does not
    low_n, high_n = _wilson(0.79, n)
    assert low_n >= 0.55
    assert high_n < 0.80
    assert _wilson(0.79, n - 1)[1] >= 0.80
    assert f"about {n:,} draws in all would settle the term" in e.text()


def test_an_estimate_on_an_edge_is_never_settled_and_says_so():
    e = describe(0.80, 5000)
    assert e.terms == ("likely", "very likely")
    assert e.draws_to_settle is None
    assert "more draws would not settle it" in e.text()


def test_a_wide_interval_names_the_terms_at_its_two_ends():
    e = describe(0.5, 10)
    low, high = _wilson(0.5, 10)
    assert ICD203.term_of(low) == "unlikely"
    assert ICD203.term_of(high) == "likely"
    assert e.words == "unlikely to likely"
    assert "50 %" in e.text()
    assert "ICD 203 scale" in e.text()


@settings(max_examples=300, deadline=None, derandomize=True)
@given(p=st.floats(0.0, 1.0), n=st.integers(1, 10**6), ipcc=st.booleans())
def test_a_single_term_is_used_only_when_its_band_holds_the_whole_interval(p, n, ipcc):
    scale = IPCC if ipcc else ICD203
    e = describe(p, n, scale=scale)
    low, high = _wilson(p, n)
    if e.settled:
        i = scale.terms.index(e.terms[0])
        assert scale.edges[i] <= low
        assert high <= scale.edges[i + 1]
    else:
        assert e.terms[0] == scale.term_of(low)
        assert scale.terms.index(e.terms[1]) > scale.terms.index(e.terms[0])


@pytest.mark.parametrize(("kwargs", "key"), [
    ({"probability": 1.5, "draws": 10}, "probability"),
    ({"probability": 0.5, "draws": 0}, "draws"),
    ({"probability": 0.5, "draws": 10, "scale": "cia"}, "scale"),
    ({"probability": 0.5, "draws": 10, "confidence": 1.0}, "confidence"),
])
def test_bad_arguments_name_the_key(kwargs, key):
    with pytest.raises(ScenarioError, match=f"^{key}="):
        describe(**kwargs)

"""format_estimate (issue 22, part 5): value and standard error to the same decimal place.

Every expected string is worked out by hand from the rule (the Particle Data Group's):
take the standard error's three leading digits; 100-354 keep two significant digits,
355-949 one, 950-999 round up to the next power of ten and keep two; round the value
to the same place. People are never shown below units; money is in $M, $k or $.
"""

from __future__ import annotations

import math

import pytest

from threatsim.core.formatting import format_estimate, se_place


@pytest.mark.parametrize(("se", "place"), [
    (215.0, 1),     # 215 -> two digits: 2.2e2, last digit the tens
    (354.0, 1),     # the last two-digit case
    (355.0, 2),     # the first one-digit case: 4e2
    (0.4, -1),      # 400 -> one digit, tenths
    (72.0, 1),      # 720 -> one digit, tens
    (0.97, -1),     # 970 -> 1.0: two digits of the next decade, tenths
    (24.0, 0),      # 240 -> two digits, units
    (1.0, -1),      # 100 -> two digits: 1.0
])
def test_se_place_follows_the_three_leading_digits(se, place):
    assert se_place(se) == place


@pytest.mark.parametrize(("value", "se", "unit", "text"), [
    # the cases: 2,442 ±2e+02 (SE 215), $0.0M ±$0M (SE $300), 15 ±72
    (2442.0, 215.0, "people", "2,440 ± 220"),
    (0.0, 300.0, "usd", "$0 ± $300"),
    (15.0, 72.0, "people", "20 ± 70"),
    # $12.34M, SE $0.4M: one digit (400), tenths of a million
    (12.34e6, 0.4e6, "usd", "$12.3M ± $0.4M"),
    # $12M with a $300 SE: in $M it would need four decimals; in $k it is 0.30k
    (12e6, 300.0, "usd", "$12,000.00k ± $0.30k"),
    # people: an SE of 0.4 would round to tenths; people stay whole
    (1900.4, 0.4, "people", "1,900 ± 0"),
    (7880.0, 120.0, "people", "7,880 ± 120"),
    # days, a share: no unit rules, just the SE's place
    (663.5, 24.0, "days", "664 ± 24"),
    (0.1234, 0.0042, "share", "0.123 ± 0.004"),
    (-2.5e6, 1e5, "usd", "-$2.50M ± $0.10M"),
    # no SE: three significant figures (people: units), never an exponent
    (2442.0, None, "days", "2,440"),
    (2442.0, math.nan, "people", "2,442"),
    (90.4e6, None, "usd", "$90.4M"),
    (math.nan, 3.0, "people", "-"),
    (3.0, 0.0, "people", "3 ± 0"),
])
def test_format_estimate_hand_derived(value, se, unit, text):
    assert format_estimate(value, se, unit) == text


def test_no_exponent_and_no_zero_millions_for_a_nonzero_error():
    """Across sizes: never 'e+' and never '$0M' / '$0.0M' beside a nonzero error."""
    for exp in range(-2, 10):
        for se_exp in range(-2, exp + 1):
            for unit in ("people", "usd", "days"):
                text = format_estimate(3.3 * 10.0**exp, 1.7 * 10.0**se_exp, unit)
                assert "e+" not in text, text
                assert "e-" not in text, text
                if unit == "usd":
                    assert "± $0M" not in text, text
                    assert "± $0.0M" not in text, text

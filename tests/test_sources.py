"""The source registry: every figure the foundation issue names, quoted verbatim."""

from __future__ import annotations

import re

import pytest
from tests.conftest import ROOT, SCENARIOS

from threatsim.core.errors import ScenarioError
from threatsim.inputs.sources import load_sources

SEED = ROOT.parent / "shared" / "seeds" / "000_8778ccc53cadbf92.txt"


@pytest.fixture(scope="module")
def registry():
    return load_sources(SCENARIOS / "sources")


# (id, paragraph, low, high, point): read off the report by hand.
REQUIRED = [
    ("reserves_usd", 12, 50e6, 300e6, None),
    ("militants_iraq_syria", 17, 14_000, 18_000, None),
    ("ftf_iraq_syria", 17, None, 3_000, None),
    ("ftf_arrested_iraq", 17, None, None, 1_000),
    ("ftf_detained_ne_syria", 17, None, None, 1_000),
    ("ftf_dependants_detained_ne_syria", 17, 500, None, None),
    ("active_fighters_iraq", 18, None, None, 3_000),
    ("stateless_minors_iraq", 21, None, None, 13_000),
    ("fighters_hajin", 22, 3_000, None, None),
    ("fighters_tunisia", 29, None, None, 30),
    ("fighters_isgs", 30, 100, 200, None),
    ("fighters_iswap", 31, 1_500, 3_500, None),
    ("ftf_travelled_western_balkans", 37, None, None, 1_000),
    ("ftf_killed_western_balkans", 37, None, None, 100),
    ("ftf_returned_western_balkans", 37, None, None, 300),
    ("militants_afghanistan", 38, 2_500, 4_000, None),
    ("attacks_afghanistan_2018", 39, None, None, 38),
    ("fighters_killed_jowzjan", 40, None, None, 200),
    ("fighters_surrendered_government_jowzjan", 40, None, None, 254),
]


@pytest.mark.parametrize(("sid", "para", "low", "high", "point"), REQUIRED)
def test_required_figures_are_registered(registry, sid, para, low, high, point):
    """Each figure the issue lists is in the registry with the report's numbers."""
    s = registry[sid]
    assert (s.paragraph, s.low, s.high, s.point) == (para, low, high, point)
    assert s.document == "S/2019/103"


def _normalise(text: str) -> str:
    return re.sub(r"\s+", "", text).replace("-", "").lower()


@pytest.mark.skipif(not SEED.exists(), reason="seed report not beside the checkout")
def test_every_quote_is_in_the_report(registry):
    """Every quote occurs in the seed report (whitespace and line-break hyphens aside)."""
    report = _normalise(SEED.read_text())
    missing = [s.id for s in registry if _normalise(s.quote) not in report]
    assert missing == []


def test_bad_source_file_is_refused(tmp_path):
    """A wording without its bound, or low > high, names the entry and key."""
    bad = tmp_path / "x.toml"
    bad.write_text('[document]\nsymbol = "X"\nas_of = "2019-01"\n'
                   '[[source]]\nid = "a"\nparagraph = 1\nunit = "people"\nwording = "between"\n'
                   'low = 5\nquote = "q"\n')
    with pytest.raises(ScenarioError, match=r"source\[0\]\.high"):
        load_sources(bad)

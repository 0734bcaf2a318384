"""The scenario reference and the loader's schema cannot drift apart."""

from __future__ import annotations

import re

from tests.conftest import ROOT

from threatsim.inputs import validation
from threatsim.inputs.schema import KEYS

DOC = (ROOT / "docs" / "scenario-reference.md").read_text()


def _documented_keys() -> set[str]:
    section = DOC.split("<!-- keys:begin -->")[1].split("<!-- keys:end -->")[0]
    return set(re.findall(r"^\| `([^`]+)` \|", section, flags=re.M))


def test_every_schema_key_is_documented_with_its_type_default_and_allowed_values():
    """Each schema key has a row with the schema's own type, default and allowed values."""
    section = DOC.split("<!-- keys:begin -->")[1]
    for k in KEYS:
        row = next((line for line in section.splitlines() if line.startswith(f"| `{k.key}` |")),
                   None)
        assert row is not None, k.key
        for cell in (k.type, k.default, k.allowed):
            assert cell.replace("|", "\\|") in row, (k.key, cell)


def test_documented_keys_are_exactly_the_schema_keys():
    """No documented key is missing from the schema, and none is documented twice."""
    assert _documented_keys() == {k.key for k in KEYS}


def test_schema_matches_what_the_loader_accepts():
    """The schema's keys are exactly the keys the loader accepts, table by table."""
    by_table: dict[str, set[str]] = {}
    for k in KEYS:
        head, _, leaf = k.key.rpartition(".")
        by_table.setdefault(head.replace(".<name>", ""), set()).add(leaf)
    top = {k.key.split(".")[0] for k in KEYS}
    assert top == set(validation.TOP_KEYS)
    assert by_table["run"] == set(validation.RUN_KEYS)
    assert by_table["parameters"] == set(validation.PARAM_KEYS)
    assert by_table["timeline"] == set(validation.TIMELINE_KEYS)
    assert by_table["outputs"] == set(validation.OUTPUT_KEYS)

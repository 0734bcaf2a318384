"""With none of issue 19's tables (families, events, court regimes, shocks), the fighters
and coupled models give bit for bit the Datasets of the code before the issue.

The reference hashes in tests/data/fighters_before_issue19.json were written by
tests/data/make_fighters_reference.py run with the source of commit 706311e (the commit
before the issue), not by this code, on that commit's scenarios (copied to
tests/data/before_issue19/); here the same cases run with the current code, keeping
the outputs the model had then.
"""

from __future__ import annotations

import json

import pytest
from tests.conftest import ROOT
from tests.data.make_fighters_reference import ROOT as OLD
from tests.data.make_fighters_reference import run_case, variable_hash

import threatsim
from threatsim.models import get_model

REFERENCE = json.loads((ROOT / "tests" / "data" / "fighters_before_issue19.json").read_text())


@pytest.mark.parametrize("label", sorted(REFERENCE))
def test_old_scenarios_give_the_datasets_of_before(label):
    """Every variable (outputs and sampled parameters) hashes as before, and no variable
    is added or lost."""
    case = REFERENCE[label]
    old = case["hashes"]
    model = get_model(threatsim.load_scenario(OLD / case["path"]).model)
    outputs = [name for name in old if name in model.info.output_names]
    ds = run_case(OLD, case["path"], case["settings"], variables=outputs)
    assert sorted(ds.data_vars) == sorted(old), label
    for name in old:
        assert variable_hash(ds[name]) == old[name], (label, name)

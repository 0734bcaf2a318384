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
import os
import subprocess
import sys

import pytest
from tests.conftest import ROOT

REFERENCE = json.loads((ROOT / "tests" / "data" / "fighters_before_issue19.json").read_text())

#: numpy's AVX-512 kernels of exp, log and the like round some results differently from its
#: AVX2 ones (by an ulp), and the reference was written on a machine without them: money
#: (float64) then differs in the last bit. The cases run with those features switched off
#: (NPY_DISABLE_CPU_FEATURES, in a process of their own), so the comparison is of the
#: model's code, not of the CPU's vector unit.
_WIDE_FEATURES = ("AVX512_SPR", "AVX512_ICL", "AVX512_SKX", "AVX512_CNL", "AVX512_CLX",
                  "AVX512_KNM", "AVX512_KNL", "AVX512CD", "AVX512F", "X86_V4")

_HASH_ALL = """
import json, sys
import threatsim
from threatsim.models import get_model
from tests.data.make_fighters_reference import ROOT as OLD, run_case, variable_hash
reference = json.loads(sys.stdin.read())
out = {}
for label, case in reference.items():
    model = get_model(threatsim.load_scenario(OLD / case["path"]).model)
    outputs = [name for name in case["hashes"] if name in model.info.output_names]
    ds = run_case(OLD, case["path"], case["settings"], variables=outputs)
    out[label] = {str(name): variable_hash(ds[name]) for name in ds.data_vars}
print(json.dumps(out))
"""


def _wide_features_found() -> list[str]:
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as found
    except ImportError:  # numpy 1.x
        from numpy.core._multiarray_umath import __cpu_features__ as found
    return [f for f in _WIDE_FEATURES if found.get(f)]


@pytest.fixture(scope="module")
def hashes_now() -> dict[str, dict[str, str]]:
    """Every case's hashes with the current code, AVX-512 off (see above)."""
    env = {**os.environ, "NPY_DISABLE_CPU_FEATURES": " ".join(_wide_features_found())}
    done = subprocess.run([sys.executable, "-c", _HASH_ALL], input=json.dumps(REFERENCE),
                          capture_output=True, text=True, cwd=ROOT, env=env, check=True,
                          timeout=600)
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("label", sorted(REFERENCE))
def test_old_scenarios_give_the_datasets_of_before(label, hashes_now):
    """Every variable (outputs and sampled parameters) hashes as before, and no variable
    is added or lost."""
    old = REFERENCE[label]["hashes"]
    now = hashes_now[label]
    assert sorted(now) == sorted(old), label
    for name in old:
        assert now[name] == old[name], (label, name)

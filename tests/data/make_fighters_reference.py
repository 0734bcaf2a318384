"""Write tests/data/fighters_before_issue19.json: hashes of the Datasets the fighters and
coupled models gave *before* issue 19 (families, events, regimes, shocks).

The scenarios are those of that commit, copied to tests/data/before_issue19/ (the shipped
ones have gained the new tables since). Run it with the source of the commit before the
issue (706311e) first on the path::

    git archive 706311e | tar -x -C /tmp/base706
    PYTHONPATH=/tmp/base706/src python tests/data/make_fighters_reference.py

tests/test_fighters_before.py runs the same cases with the current code and compares
every variable's hash: with none of the new tables, the Datasets must be bit-identical.
A parameter's ``provenance`` attribute is left out of the hash (it is the source
registry's citation text, not the model's).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

import threatsim
from threatsim.models import get_model

#: (label, scenario path relative to the repository root, run settings)
CASES = (
    ("fighters", "scenarios/fighters.toml", {"draws": 48, "chunk_size": 16}),
    ("fighters_replicates", "scenarios/fighters.toml",
     {"draws": 12, "chunk_size": 5, "replicates": 2}),
    ("baseline", "scenarios/baseline.toml", {"draws": 32, "chunk_size": 16}),
    ("balkans_cohort", "scenarios/balkans_cohort.toml", {"draws": 32, "chunk_size": 32}),
    ("w2", "benchmarks/w2.toml", {"draws": 40, "chunk_size": 13}),
    ("mass_prison_release", "scenarios/whatif/mass_prison_release.toml",
     {"draws": 24, "chunk_size": 24}),
    ("repatriation_accelerated", "scenarios/whatif/repatriation_accelerated.toml",
     {"draws": 24, "chunk_size": 24}),
    ("prosecution_halved", "scenarios/whatif/prosecution_halved.toml",
     {"draws": 24, "chunk_size": 24}),
)


HERE = Path(__file__).resolve().parent
#: The scenarios as they were at 706311e.
ROOT = HERE / "before_issue19"


#: Attrs added to every output after the reference was written (issue 21: the title and
#: the direction the model declares); they describe the output and change no value, so
#: the comparison with the code before issue 19 leaves them out.
LATER_ATTRS = ("provenance", "title", "better", "better_by_compartment")


def variable_hash(da) -> str:
    """sha256 of a variable's dims, dtype, shape, values and attrs (but provenance and the
    attrs added later, LATER_ATTRS)."""
    h = hashlib.sha256()
    h.update(json.dumps([list(da.dims), str(da.dtype), list(da.shape)]).encode())
    h.update(np.ascontiguousarray(da.values).tobytes())
    h.update(json.dumps({k: str(v) for k, v in sorted(da.attrs.items())
                        if k not in LATER_ATTRS}).encode())
    return h.hexdigest()


def run_case(root: Path, path: str, settings: dict, variables: list[str] | None = None):
    """The case's Dataset: every output of the model (or *variables*) kept."""
    sc = threatsim.load_scenario(root / path)
    every = variables or [o.name for o in get_model(sc.model).info.outputs]
    sc = sc.with_values({"outputs.variables": every})
    return threatsim.run(sc, progress=False, executor=1, **settings)


def main() -> None:
    record = {}
    for label, path, settings in CASES:
        ds = run_case(ROOT, path, settings)
        record[label] = {"path": path, "settings": settings,
                         "hashes": {str(name): variable_hash(ds[name]) for name in ds.data_vars}}
        print(label, len(record[label]["hashes"]), "variables")
    target = HERE / "fighters_before_issue19.json"
    target.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    print("wrote", target)


if __name__ == "__main__":
    main()

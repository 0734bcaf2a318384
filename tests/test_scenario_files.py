"""Scenario and source files read robustly (issue 18, items 2, 3, 4, 8 and 9).

Every way a file can be bad - missing, a folder, not UTF-8, binary, a NetCDF results
file, a TOML syntax error, unreadable, too large, nested or chained too deep, a name too
long - is one ScenarioError naming the file (and the key that named it), and the command
line exits 2 with one line. Values from a file the user did not name (a file it
extends, a source registry) are never quoted. A what-if in the user's own folder finds
the registry of the shipped scenario it extends. A Scenario is read-only; with_values()
is the way to edit it. threatsim.run() takes a path. A fuzzer mutates the bytes of the
shipped files: only ScenarioError may come out.
"""

from __future__ import annotations

import contextlib
import copy
import os
import pickle
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conftest import SCENARIOS

import threatsim
from threatsim.cli.main import main
from threatsim.core.errors import ScenarioError
from threatsim.inputs import files as files_module
from threatsim.inputs.files import MAX_NESTING, MAX_TOML_BYTES
from threatsim.inputs.scenario import MAX_EXTENDS, load_scenario, scenario_from_dict
from threatsim.inputs.sources import load_sources

BASELINE = SCENARIOS / "baseline.toml"
FINANCING = SCENARIOS / "financing.toml"
REGISTRY = SCENARIOS / "sources" / "S-2019-103.toml"
SECRET = "tok-7f3a9c1e5b"


def _error(path: Path | str) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    return info.value


def _write(folder: Path, name: str, body: str | bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(body, bytes):
        path.write_bytes(body)
    else:
        path.write_text(body)
    return path


def _cli_error(argv: list[str], capsys) -> str:
    """Run the command line: exit 2, one line on stderr, no traceback; the line."""
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    assert err.count("\n") == 1, err
    return err


# -- reading a file: every failure is a ScenarioError naming it ----------------------


def test_a_latin1_scenario_says_it_is_not_utf8_and_where(tmp_path):
    """A Latin-1 é: the byte, its offset and line, not a UnicodeDecodeError."""
    body = 'name = "x"\ndescription = "caf\xe9"\n'.encode("latin-1")
    path = _write(tmp_path, "s.toml", body)
    err = _error(path)
    assert err.path == str(path)
    assert f"is not UTF-8 text (byte 0xe9 at offset {body.index(0xE9)}, line 2)" in str(err)


def test_extends_naming_a_binary_file_names_it_and_the_key(tmp_path):
    """extends pointing at a binary: the binary file, and 'named by extends in' the child."""
    _write(tmp_path, "blob.bin", bytes(range(256)) * 4)
    child = _write(tmp_path, "child.toml", 'extends = "blob.bin"\n')
    err = _error(child)
    assert err.path == str((tmp_path / "blob.bin").resolve())
    assert "is a binary file" in str(err)
    assert f"named by extends in {child}" in str(err)


def test_extends_naming_a_latin1_parent(tmp_path):
    """A parent that is not UTF-8 is named, with the child that extends it."""
    _write(tmp_path, "parent.toml", 'name = "\xe9"\n'.encode("latin-1"))
    child = _write(tmp_path, "child.toml", 'extends = "parent.toml"\n')
    err = _error(child)
    assert "parent.toml" in err.path
    assert "is not UTF-8 text (byte 0xe9 at offset 8, line 1)" in str(err)
    assert "named by extends in" in str(err)


def test_a_netcdf_results_file_is_not_a_scenario(tmp_path):
    """A real NetCDF file given as a scenario: said so, not a UnicodeDecodeError."""
    nc = tmp_path / "run.nc"
    xr.Dataset({"a": ("x", np.arange(3.0))}).to_netcdf(nc)
    assert "looks like a NetCDF results file, not a scenario" in str(_error(nc))


def test_a_folder_is_not_a_scenario_nor_a_parent(tmp_path):
    """A folder, named directly or by extends: no IsADirectoryError."""
    assert "is a folder, not a scenario file" in str(_error(tmp_path))
    child = _write(tmp_path, "child.toml", 'extends = "."\n')
    err = _error(child)
    assert "is a folder" in str(err)
    assert "named by extends" in str(err)


def test_a_missing_parent_names_the_path_it_looked_for(tmp_path):
    """extends naming nothing: the resolved path looked for, and the key."""
    child = _write(tmp_path, "child.toml", 'extends = "nope/parent.toml"\n')
    err = _error(child)
    assert err.path == str((tmp_path / "nope" / "parent.toml").resolve())
    assert "no such scenario file" in str(err)
    assert f"named by extends in {child}" in str(err)


def test_a_file_larger_than_the_cap_is_refused_before_it_is_parsed(tmp_path):
    """Over MAX_TOML_BYTES: refused with the size and the cap."""
    path = _write(tmp_path, "big.toml", b"# " + b"x" * MAX_TOML_BYTES + b"\n")
    err = _error(path)
    assert "MiB; a scenario file may be at most 10 MiB" in str(err)


def test_an_unreadable_file_says_permission_denied(tmp_path, monkeypatch):
    """A file that cannot be read (simulated: the suite may run as root) is one line."""
    path = _write(tmp_path, "s.toml", 'name = "x"\n')

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(files_module, "open", denied, raising=False)
    err = _error(path)
    assert str(err) == f"{path}: cannot be read: permission denied"


def test_a_toml_syntax_error_in_a_parent_names_the_parent_line_and_column(tmp_path):
    """tomllib's line and column, in the parent, with the key that named it."""
    _write(tmp_path, "parent.toml", 'name = "x"\nhorizon = = 3\n')
    child = _write(tmp_path, "child.toml", 'extends = "parent.toml"\n')
    err = _error(child)
    assert "parent.toml" in err.path
    assert "is not valid TOML" in str(err)
    assert "line 2, column" in str(err)


def test_arrays_nested_thousands_deep_are_a_scenario_error(tmp_path):
    """tomllib recurses into nested arrays: a RecursionError became one line."""
    path = _write(tmp_path, "deep.toml", "a = " + "[" * 3000 + "]" * 3000 + "\n")
    assert "nests arrays or tables too deeply" in str(_error(path))


def test_tables_nested_past_the_cap_are_refused(tmp_path):
    """Dotted keys nest without recursing in tomllib; the cap still holds, naming where."""
    key = ".".join(f"k{i}" for i in range(MAX_NESTING + 5))
    err = _error(_write(tmp_path, "deep.toml", f"{key} = 1\n"))
    assert f"more than {MAX_NESTING} levels deep (at k0.k1." in str(err)


def test_a_chain_of_extends_longer_than_the_cap_is_refused(tmp_path):
    """A chain of MAX_EXTENDS files loads; one more is refused (not a RecursionError)."""
    (tmp_path / "sources").symlink_to(SCENARIOS / "sources")
    _write(tmp_path, "f0.toml", f'extends = "{FINANCING}"\n')
    for i in range(1, MAX_EXTENDS + 1):
        _write(tmp_path, f"f{i}.toml", f'extends = "f{i - 1}.toml"\n')
    assert load_scenario(tmp_path / f"f{MAX_EXTENDS - 2}.toml").model == "financing"
    err = _error(tmp_path / f"f{MAX_EXTENDS}.toml")
    assert err.key == "extends"
    assert f"more than {MAX_EXTENDS} files" in str(err)


def test_a_chain_a_thousand_deep_is_refused_quickly(tmp_path):
    """1,000 files extending one another: the cap, not the interpreter's recursion limit."""
    _write(tmp_path, "f0.toml", 'name = "x"\n')
    for i in range(1, 1000):
        _write(tmp_path, f"f{i}.toml", f'extends = "f{i - 1}.toml"\n')
    assert f"more than {MAX_EXTENDS} files" in str(_error(tmp_path / "f999.toml"))


def test_names_over_255_characters_are_a_scenario_error(tmp_path):
    """A file name too long for the system, in extends or in sources: no OSError."""
    long_name = "a" * 300 + ".toml"
    child = _write(tmp_path, "child.toml", f'extends = "{long_name}"\n')
    err = _error(child)
    assert "file name too long" in str(err)
    assert "named by extends" in str(err)
    assert len(err.path) <= 160  # the path is shortened in the message
    child = _write(tmp_path, "child2.toml", f'extends = "{FINANCING}"\nsources = ["{long_name}"]\n')
    err = _error(child)
    assert "file name too long" in str(err)
    assert "named by sources" in str(err)
    with pytest.raises(ScenarioError, match="file name too long"):
        load_scenario(tmp_path / long_name)


def test_a_date_value_is_refused_when_loading_not_when_hashing(tmp_path):
    """description = 2019-01-01 (a TOML date) used to load and break the run id."""
    (tmp_path / "sources").symlink_to(SCENARIOS / "sources")
    err = _error(_write(tmp_path, "s.toml", f'extends = "{FINANCING}"\n'
                        "description = 2019-01-01\n[parameters.fighters]\n"
                        "description = 12:30:00\n"))
    keys = {p.key for p in err.problems} or {err.key}
    assert {"description", "parameters.fighters.description"} <= keys
    assert "TOML date or time" in str(err)


# -- values from other files are never quoted ----------------------------------------


def test_extending_another_tools_credentials_never_prints_the_secret(tmp_path):
    """The reproducer of item 2: the key and the file are named, the token is not."""
    creds = _write(tmp_path, "creds.toml", f'[registry]\ntoken = "{SECRET}"\n')
    child = _write(tmp_path, "child.toml", f'extends = "{creds}"\n')
    err = _error(child)
    text = str(err)
    assert SECRET not in text
    assert SECRET not in repr([(p.key, p.value, p.expected) for p in err.problems])
    registry = next(p for p in err.problems if p.key == "registry")
    assert f"registry=<not shown: from {creds}> is not a known key" in text
    assert str(registry.value) == f"<not shown: from {creds}>"
    assert pickle.loads(pickle.dumps(err)).problems[0].value == err.problems[0].value


def test_bad_values_of_a_parent_are_not_shown_but_the_childs_are(write_scenario, tmp_path):
    """A bad value inherited from a parent is hidden; one the named file gives is shown."""
    parent = write_scenario(f'extends = "{FINANCING}"\n[run]\ndraws = "{SECRET}"\n'
                            f'sampler = "{SECRET}x"\n', "parent.toml")
    child = write_scenario('extends = "parent.toml"\n[levers]\nseizure_effort = -5.0\n',
                           "child.toml")
    err = _error(child)
    text = str(err)
    assert SECRET not in text
    assert f"run.draws=<not shown: from {parent.resolve()}>" in text
    assert "levers.seizure_effort=-5.0 must be in [0, 100] (multiplier)" in text
    # a hidden number is not scrubbed out of other messages (digits are everywhere)
    write_scenario(f'extends = "{FINANCING}"\n[run]\ndraws = 0\n', "parent.toml")
    text = str(_error(child))
    assert "run.draws=<not shown" in text
    assert "levers.seizure_effort=-5.0 must be in [0, 100] (multiplier)" in text


def test_a_parent_model_name_is_not_quoted_in_other_messages(tmp_path):
    """A hidden value is not quoted elsewhere either (a message naming the model)."""
    parent = _write(tmp_path, "parent.toml", f'model = "{SECRET}"\n')
    child = _write(tmp_path, "child.toml", 'extends = "parent.toml"\nname = "x"\n'
                   'start = "2019-01"\nhorizon = 3\n[outputs]\nquantiles = [2.0]\n')
    text = str(_error(child))
    assert SECRET not in text
    assert "outputs.quantiles=[2.0]" in text  # the child's own value is shown
    assert parent.name in text


def test_a_parents_sources_5_is_clear_and_hides_the_value(tmp_path):
    """A parent's sources = 5: one line naming the parent and the child, value hidden."""
    parent = _write(tmp_path, "parent.toml", f'extends = "{FINANCING}"\nsources = 5\n')
    child = _write(tmp_path, "child.toml", 'extends = "parent.toml"\n')
    err = _error(child)
    assert err.path == str(parent.resolve())
    assert err.key == "sources"
    assert "sources=<not shown> must be a list of paths" in str(err)
    assert f"named by extends in {child}" in str(err)
    # named directly, its own value is shown
    assert "sources=5 must be a list of paths" in str(_error(parent))


def test_extends_must_be_a_string(tmp_path):
    """extends = 5 in the named file (shown) and in a parent (hidden)."""
    assert "extends=5 must be the path" in str(_error(_write(tmp_path, "a.toml",
                                                              "extends = 5\n")))
    _write(tmp_path, "b.toml", f'extends = {{ token = "{SECRET}" }}\n')
    text = str(_error(_write(tmp_path, "c.toml", 'extends = "b.toml"\n')))
    assert "extends=<not shown> must be the path" in text
    assert SECRET not in text


# -- source registry files -------------------------------------------------------------

_GOOD_ENTRY = ('id = "a"\nparagraph = 12\nunit = "people"\nwording = "between"\n'
               'low = 5\nhigh = 10\nquote = "between 5 and 10"\n')
_DOC = '[document]\nsymbol = "X/1"\nas_of = "2019-01"\n'


@pytest.mark.parametrize(
    ("body", "key"),
    [
        (_DOC + "[[source]]\n" + _GOOD_ENTRY.replace("paragraph = 12", 'paragraph = "12a"'),
         "source[0].paragraph"),
        ("source = [1, 2]\n" + _DOC, "source[0]"),
        ("source = 5\n" + _DOC, "source"),
        (_DOC + "[[source]]\n" + _GOOD_ENTRY.replace("low = 5", 'low = "5"'), "source[0].low"),
        (_DOC + "[[source]]\n" + _GOOD_ENTRY.replace('wording = "between"',
                                                     'wording = ["between"]'),
         "source[0].wording"),
        (_DOC + "[[source]]\n" + _GOOD_ENTRY.replace('unit = "people"', 'unit = ["people"]'),
         "source[0].unit"),
        (_DOC + "[[source]]\n" + _GOOD_ENTRY + "parent = 3\n", "source[0].parent"),
        ('document = 3\n[[source]]\n' + _GOOD_ENTRY, "document"),
        (_DOC + f'[registry]\ntoken = "{SECRET}"\n', "registry"),
    ],
)
def test_a_bad_registry_entry_is_one_clear_error(tmp_path, body, key):
    """Each bad registry entry: a ScenarioError naming the entry's key (never a TypeError or
    ValueError); the value is shown when the registry is the file named, not when a
    scenario reads it."""
    registry = _write(tmp_path, "sources/reg.toml", body)
    with pytest.raises(ScenarioError) as info:
        load_sources(registry)
    keys = [p.key for p in info.value.problems] or [info.value.key]
    assert key in keys, str(info.value)
    assert "<not shown>" not in str(info.value)  # the file named: its values are quoted
    scenario = _write(tmp_path, "s.toml", f'extends = "{FINANCING}"\nsources = ["sources"]\n')
    err = _error(scenario)
    assert err.path.startswith(str(registry.resolve()))
    assert key in ([p.key for p in err.problems] or [err.key])
    assert "<not shown>" in str(err)
    assert "named by sources in" in str(err)
    assert SECRET not in str(err)


def test_an_id_reported_differently_by_two_registries_is_refused(tmp_path):
    """A child's registry and its parent's must agree on what an id reports."""
    text = REGISTRY.read_text().replace("low = 50_000_000", "low = 60_000_000", 1)
    assert text != REGISTRY.read_text()
    _write(tmp_path, "sources/mine.toml", text)
    child = _write(tmp_path, "child.toml", f'extends = "{BASELINE}"\n')
    err = _error(child)
    assert err.value == "reserves_usd"
    assert "is defined differently in" in str(err)
    # an identical copy is the same figure: fine
    _write(tmp_path, "sources/mine.toml", REGISTRY.read_text())
    assert load_scenario(child).model == "coupled"


# -- a what-if in the user's own folder ------------------------------------------------


@pytest.mark.parametrize("how", ["absolute", "relative"])
def test_a_whatif_in_its_own_folder_extends_a_shipped_scenario(tmp_path, how):
    """Item 9: the registry is the one beside the file that declares the parameters."""
    parent = BASELINE if how == "absolute" else Path(os.path.relpath(BASELINE, tmp_path))
    mine = _write(tmp_path, "mine.toml",
                  f'extends = "{parent}"\nname = "mine"\n[levers]\nseizure_effort = 2.0\n')
    sc = load_scenario(mine)
    base = load_scenario(BASELINE)
    assert sc.levers["seizure_effort"] == 2.0
    assert sc.parameters == base.parameters
    assert sc.provenance() == base.provenance()


def test_an_unknown_source_says_where_it_looked_and_how_to_name_a_registry(tmp_path):
    """Not in the registry: the folders looked in, and the sources key to name another."""
    mine = _write(tmp_path, "mine.toml", f'extends = "{BASELINE}"\n'
                  '[parameters.fighters_tunisia]\nsource = "no_such_figure"\n')
    text = str(_error(mine))
    assert "parameters.fighters_tunisia.source='no_such_figure' is not in the source " \
           "registry" in text
    assert f"looked in {SCENARIOS / 'sources'}" in text
    assert 'sources = ["path/to/registry.toml"]' in text


def test_a_scenario_with_no_registry_anywhere_says_so(tmp_path):
    """No sources key and no sources/ folder: said, with the remedy."""
    body = FINANCING.read_text()
    text = str(_error(_write(tmp_path, "alone.toml", body)))
    assert "found no registry: no sources/ folder beside" in text
    assert "Name a registry with sources" in text


def test_sources_named_by_a_child_are_added_to_the_parents(tmp_path):
    """A child's own registry adds ids; the parent's parameters still find theirs."""
    extra = (_DOC + "[[source]]\n" + _GOOD_ENTRY.replace('id = "a"', 'id = "my_reserves"')
             .replace('unit = "people"', 'unit = "usd"'))
    _write(tmp_path, "regs/extra.toml", extra)
    mine = _write(tmp_path, "mine.toml", f'extends = "{FINANCING}"\nsources = ["regs"]\n'
                  '[parameters.reserves_initial]\nsource = "my_reserves"\n')
    sc = load_scenario(mine)
    assert sc.parameters["reserves_initial"].source == "my_reserves"
    assert sc.parameters["reserves_initial"].provenance(sc.sources) == "X/1 para 12 (my_reserves)"
    assert sc.parameters["fighters"].source == "militants_iraq_syria"
    assert "S/2019/103 para 17" in sc.parameters["fighters"].provenance(sc.sources)


# -- a Scenario is read-only -------------------------------------------------------------


@pytest.fixture(scope="module")
def financing():
    return load_scenario(FINANCING)


@pytest.mark.parametrize(
    "edit",
    [
        lambda sc: sc.levers.__setitem__("seizure_effort", 4.0),
        lambda sc: sc.levers.update(seizure_effort=-5.0),
        lambda sc: sc.parameters.pop("reserves_initial"),
        lambda sc: sc.resolved["levers"].__setitem__("seizure_effort", 4.0),
        lambda sc: sc.resolved.__setitem__("horizon", 2),
        lambda sc: sc.resolved["parameters"]["fighters"].setdefault("range", [1, 2]),
        lambda sc: sc.with_values({"timeline": [{"at": "2019-06",
                                                  "levers": {"seizure_effort": 2.0}}]}
                                  ).timeline[0].levers.__setitem__("seizure_effort", 9.0),
        lambda sc: sc.with_values({"timeline": [{"at": "2019-06",
                                                  "levers": {"seizure_effort": 2.0}}]}
                                  ).resolved["timeline"].append({}),
    ],
)
def test_a_scenario_cannot_be_edited_in_place(financing, edit):
    """Item 8: every table of a Scenario is read-only, to any depth."""
    before = (financing.run_id, financing.levers["seizure_effort"], financing.resolved_json)
    with pytest.raises(TypeError, match=r"read-only.*with_values"):
        edit(financing)
    assert (financing.run_id, financing.levers["seizure_effort"],
            financing.resolved_json) == before


def test_with_values_revalidates_and_the_run_describes_what_ran(financing):
    """The edit goes through validation; the run id and stored scenario follow it."""
    with pytest.raises(ScenarioError, match=r"levers\.seizure_effort=-5\.0"):
        financing.with_values({"levers.seizure_effort": -5.0})
    edited = financing.with_values({"levers.seizure_effort": 4.0})
    assert edited.run_id != financing.run_id
    ds = threatsim.run(edited, draws=200, seed=1, progress=False)
    stored = ds.attrs["resolved_scenario"]
    assert '"seizure_effort":4.0' in stored.replace(" ", "")
    assert ds.attrs["run_id"] == edited.run_id
    base = threatsim.run(financing, draws=200, seed=1, progress=False)
    assert not np.array_equal(ds["reserves"].values, base["reserves"].values)


def test_copies_of_a_scenarios_tables_are_plain_and_editable(financing):
    """copy.deepcopy gives plain dicts and lists: the start of an edit through validation."""
    data = copy.deepcopy(financing.resolved)
    assert type(data) is dict
    assert type(data["levers"]) is dict
    data["levers"]["seizure_effort"] = 3.0
    assert scenario_from_dict(data, sources=financing.sources).levers["seizure_effort"] == 3.0
    assert financing.levers["seizure_effort"] == 1.0
    assert isinstance(financing.resolved, dict)  # every reader still sees a dict


def test_a_read_only_scenario_pickles_and_runs_in_a_process_pool(financing):
    """Process pools (and dask) pickle the scenario: same run id, still read-only, and the
    same draws as in-process."""
    back = pickle.loads(pickle.dumps(financing))
    assert back.run_id == financing.run_id
    assert back.resolved == financing.resolved
    with pytest.raises(TypeError):
        back.levers["seizure_effort"] = 2.0  # type: ignore[index]
    here = threatsim.run(financing, draws=300, chunk_size=100, seed=2, progress=False)
    pool = threatsim.run(financing, draws=300, chunk_size=100, seed=2, executor=2,
                         progress=False)
    assert np.array_equal(here["reserves"].values, pool["reserves"].values)


# -- threatsim.run takes a path ----------------------------------------------------------


@pytest.mark.parametrize("as_path", [str, Path])
def test_run_takes_the_path_of_a_scenario_file(as_path):
    """threatsim.run("file.toml") was an AttributeError; it now reads the file."""
    ds = threatsim.run(as_path(FINANCING), draws=100, seed=4, progress=False)
    same = threatsim.run(load_scenario(FINANCING), draws=100, seed=4, progress=False)
    assert ds.attrs["run_id"] == same.attrs["run_id"]
    assert np.array_equal(ds["reserves"].values, same["reserves"].values)
    with pytest.raises(ScenarioError, match="no such scenario file"):
        threatsim.run(as_path("no/such.toml"))


# -- the command line: exit 2, one line ----------------------------------------------------


def test_the_cli_gives_one_line_for_every_bad_file(tmp_path, capsys):
    """validate and run: exit 2, one line naming the file, for each kind of bad file."""
    nc = tmp_path / "run.nc"
    xr.Dataset({"a": ("x", np.arange(3.0))}).to_netcdf(nc)
    cases = {
        "latin1": (_write(tmp_path, "l.toml", 'name = "\xe9"\n'.encode("latin-1")),
                   "is not UTF-8 text"),
        "folder": (tmp_path, "is a folder"),
        "netcdf": (nc, "looks like a NetCDF results file"),
        "deep": (_write(tmp_path, "d.toml", "a = " + "[" * 2000 + "]" * 2000), "too deeply"),
        "binary parent": (_write(tmp_path, "b.toml", 'extends = "run.nc"\n'),
                          "named by extends in"),
        "long name": (_write(tmp_path, "n.toml", f'extends = "{"x" * 300}"\n'),
                      "file name too long"),
        "cycle": (_write(tmp_path, "c.toml", 'extends = "c.toml"\n'), "cycle"),
    }
    for path, fragment in cases.values():
        for command in ("validate", "run"):
            argv = [command, str(path)] + (["--no-plot", "--quiet"] if command == "run" else [])
            line = _cli_error(argv, capsys)
            assert fragment in line, line
    assert not list(tmp_path.glob("*.png"))


# -- fuzzing the shipped files' bytes ----------------------------------------------------

_FUZZED = sorted(p.relative_to(SCENARIOS) for p in SCENARIOS.rglob("*.toml")
                 if p.parts[-2] != "observations")


def _targets(rel: Path) -> list[Path]:
    """What to load after mutating *rel*: itself, a file that extends it, or (a
    registry) the scenarios that read it."""
    if rel.parts[0] == "sources":
        return [Path("baseline.toml"), Path("financing.toml")]
    kids = [p.relative_to(SCENARIOS) for p in sorted(SCENARIOS.rglob("*.toml"))
            if re.search(rf'^extends = ".*{re.escape(rel.name)}"', p.read_text(), re.M)]
    return [rel, *kids[:1]]


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """A copy of scenarios/ whose files the fuzzer mutates (and restores)."""
    root = tmp_path_factory.mktemp("fuzz") / "scenarios"
    shutil.copytree(SCENARIOS, root)
    return root


@st.composite
def _mutations(draw) -> tuple[Path, bytes]:
    rel = draw(st.sampled_from(_FUZZED))
    raw = (SCENARIOS / rel).read_bytes()
    at = draw(st.integers(0, len(raw) - 1))
    kind = draw(st.sampled_from(["flip", "truncate", "nul", "latin1", "byte", "drop line",
                                 "double line", "extreme"]))
    if kind == "flip":
        return rel, raw[:at] + bytes([raw[at] ^ (1 << draw(st.integers(0, 7)))]) + raw[at + 1:]
    if kind == "truncate":
        return rel, raw[:at]
    if kind == "nul":
        return rel, raw[:at] + b"\x00" + raw[at:]
    if kind == "latin1":
        text = raw.decode()
        cut = min(at, len(text))
        return rel, (text[:cut] + "\xe9" + text[cut:]).encode("latin-1", "replace")
    if kind == "byte":
        return rel, raw[:at] + bytes([draw(st.integers(0, 255))]) + raw[at + 1:]
    lines = raw.split(b"\n")
    line = at % len(lines)
    if kind == "drop line":
        return rel, b"\n".join(lines[:line] + lines[line + 1:])
    if kind == "double line":
        return rel, b"\n".join(lines[:line + 1] + lines[line:])
    numbers = list(re.finditer(rb"(?<![\w.\"-])\d[\d_.e]*", raw))
    if not numbers:
        return rel, raw
    m = numbers[at % len(numbers)]
    extreme = draw(st.sampled_from([b"1e308", b"-1", b"0", b"1e20", b"99999999999999999999",
                                    b"inf", b"nan", b"-0.0", b"1.5", b'"x"', b"[]", b"{}",
                                    b"2019-01-01", b"true", b"9" * 5000]))
    return rel, raw[:m.start()] + extreme + raw[m.end():]


def _load_mutated(tree: Path, rel: Path, raw: bytes) -> None:
    path = tree / rel
    path.write_bytes(raw)
    try:
        for target in _targets(rel):
            with contextlib.suppress(ScenarioError):  # anything else fails the test
                load_scenario(tree / target)
    finally:
        path.write_bytes((SCENARIOS / rel).read_bytes())


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=_mutations())
def test_mutated_shipped_files_give_only_scenario_errors(tree, case):
    """Byte flips, truncation, Latin-1, NUL, lines dropped or doubled, extreme numbers in
    the shipped scenario and registry files: the loader raises ScenarioError or loads."""
    _load_mutated(tree, *case)


@pytest.mark.slow
@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=_mutations())
def test_mutated_shipped_files_give_only_scenario_errors_at_length(tree, case):
    """The same, 1,500 cases."""
    _load_mutated(tree, *case)

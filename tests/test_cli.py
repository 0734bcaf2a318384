"""The threatsim command end to end: run, validate, sources, and exit status 2 on bad input."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pytest
from tests.conftest import INTERRUPTED, ROOT, SCENARIOS

import threatsim
from threatsim.cli.main import main


def test_run_end_to_end_writes_netcdf_and_fan_chart(financing_path, tmp_path, capsys):
    """`threatsim run` prints the bands table and writes a NetCDF file and a PNG."""
    out = tmp_path / "base.nc"
    code = main(["run", str(financing_path), "--draws", "500", "--seed", "7", "--sampler", "lhs",
                 "--out", str(out), "--quiet"])
    assert code == 0
    text = capsys.readouterr().out
    assert "reserves (usd)" in text
    assert "P(=0)" in text
    assert "95%" in text
    ds = threatsim.open_results(out)
    assert ds.sizes["draw"] == 500
    assert ds.attrs["sampler"] == "lhs"
    assert ds.attrs["seed"] == 7
    # the printed median at the start equals the Dataset's, rounded to its standard error
    from threatsim.core.formatting import format_estimate

    first = ds["reserves"].isel(time=0)
    median0 = float(np.median(first))
    se0 = float(threatsim.mcse_quantile(first, [0.5])[0])
    assert format_estimate(median0, se0, "usd") in text
    png = out.with_suffix(".png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_console_script_runs(financing_path, tmp_path):
    """The installed console script behaves like main()."""
    exe = ROOT / ".venv" / "bin" / "threatsim"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "threatsim.cli"]
    res = subprocess.run([*cmd, "validate", str(financing_path)], capture_output=True, text=True,
                         check=False)
    assert res.returncode == 0, res.stderr
    assert "ok (model" in res.stdout


def test_bad_input_exits_2_with_one_line_and_writes_nothing(write_scenario, financing_path,
                                                            tmp_path, capsys):
    """A bad scenario: one line on stderr naming file, key and value; exit 2; no output file."""
    bad = write_scenario(f'extends = "{financing_path}"\n[run]\ndraws = 0\n')
    out = tmp_path / "out" / "x.nc"
    code = main(["run", str(bad), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert str(bad) in err
    assert "run.draws=0" in err
    assert ">= 1" in err
    assert not out.exists()
    assert not out.with_suffix(".png").exists()


def test_cli_draws_below_one_is_refused(financing_path, capsys):
    """--draws 0 is refused with exit status 2."""
    assert main(["run", str(financing_path), "--draws", "0", "--no-plot"]) == 2
    assert "draws=0" in capsys.readouterr().err


def test_sources_json_lists_the_registry(capsys, monkeypatch):
    """`threatsim sources --json` prints objects with the issue's keys."""
    monkeypatch.chdir(ROOT)
    assert main(["sources", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {"id", "low", "high", "point", "unit", "document", "paragraph", "quote"} <= set(rows[0])
    by_id = {r["id"]: r for r in rows}
    assert by_id["reserves_usd"]["paragraph"] == 12
    assert main(["sources"]) == 0
    assert "militants_iraq_syria" in capsys.readouterr().out


def test_validate_reports_the_whatif(capsys):
    """`threatsim validate` on the shipped what-if succeeds."""
    path = ROOT / "scenarios" / "whatif" / "counter_financing_doubled.toml"
    assert main(["validate", str(path)]) == 0
    assert "ok" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["run", "nope.toml"], ["validate", "nope.toml"]])
def test_missing_file_exits_2(argv, capsys):
    """A missing scenario file is a clear error, exit status 2."""
    assert main(argv) == 2
    assert "no such scenario file" in capsys.readouterr().err


def test_fan_chart_of_a_population_shows_each_compartment():
    """Variables with a compartment dim are plotted one panel per compartment, regions summed."""
    from threatsim.cli.table import split_compartments
    from threatsim.outputs.plotting import fan_chart

    sc = threatsim.load_scenario(ROOT / "scenarios" / "fighters.toml")
    ds = threatsim.run(sc, draws=50, seed=1)
    plot_ds, names = split_compartments(ds, ["population"])
    comps = list(ds["compartment"].values)
    assert names == [f"population_{c}" for c in comps]
    active = plot_ds["population_active_local"]
    np.testing.assert_array_equal(
        active.values, ds["population"].sel(compartment="active_local").sum("region").values)
    fig = fan_chart(plot_ds, names)
    assert len([ax for ax in fig.axes if ax.get_visible()]) == len(comps)


# -- files, interrupts and options (an audit of the command line) -----------------------


def test_files_written_get_the_usual_permissions(financing_path, tmp_path, capsys):
    """mkstemp makes files readable by their owner only; a run's outputs are for sharing:
    they get what the umask gives a new file (e.g. 0644 under umask 022)."""
    import os

    old = os.umask(0o022)
    try:
        code = main(["run", str(financing_path), "--draws", "50", "--out",
                     str(tmp_path / "r.nc"), "--quiet"])
    finally:
        os.umask(old)
    assert code == 0
    for name in ("r.nc", "r.png"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o644, name


@pytest.mark.parametrize("extra", [[], ["--keep", "draws"], ["--checkpoint", "{dir}/ck"]],
                         ids=["out", "streamed-out", "checkpoint"])
def test_an_unwritable_place_is_one_line_and_exit_2(financing_path, tmp_path, capsys, extra):
    """A folder that cannot be created (under a regular file): one line naming it, by the
    end of its path (the names that say which) however long the path is."""
    deep = tmp_path / ("a-folder-with-a-long-name-" * 3)
    deep.mkdir()
    blocker = deep / "a-file"
    blocker.write_text("")
    assert len(str(blocker)) > 80  # longer than a value a message shows whole
    out = blocker / "sub" / "r.nc"
    extra = [e.replace("{dir}", str(blocker)) for e in extra]
    code = main(["run", str(financing_path), "--draws", "50", "--out", str(out), "--quiet",
                 *extra])
    err = capsys.readouterr().err
    assert code == 2, err
    assert str(blocker)[-70:] in err
    assert len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in deep.iterdir()) == ["a-file"]
    assert list(tmp_path.iterdir()) == [deep]


@pytest.mark.parametrize("extra", [["--keep", "summary"], ["--checkpoint", "ck"],
                                   ["--checkpoint", "ck", "--resume"]])
def test_precision_refuses_options_it_would_ignore(financing_path, tmp_path, capsys, extra):
    """--precision doubles draws in memory: --keep/--checkpoint/--resume were ignored."""
    code = main(["run", str(financing_path), "--precision", "0.5", "--out",
                 str(tmp_path / "r.nc"), "--quiet", *extra])
    err = capsys.readouterr().err
    assert code == 2
    assert "does not go with --precision" in err
    assert extra[0] in err
    assert not list(tmp_path.iterdir())


def test_a_ctrl_c_held_back_during_a_write_stops_before_the_rename(tmp_path):
    """Ctrl-C during a NetCDF write is held back (the writer's lock); it used to be
    forgotten and the file written. It is honoured before the file gets its name."""
    import signal

    import xarray as xr

    from threatsim.core.interrupts import InterruptGuard
    from threatsim.results import write_netcdf

    ds = xr.Dataset({"x": ("draw", np.arange(5.0))})
    with InterruptGuard() as guard:
        assert signal.getsignal(signal.SIGINT) == guard._handler
        guard.hit = True  # as the handler leaves it when the signal came inside the writer
        with pytest.raises(KeyboardInterrupt):
            write_netcdf(ds, tmp_path / "x.nc")
    assert not list(tmp_path.iterdir())
    write_netcdf(ds, tmp_path / "x.nc")  # no guard, nothing held back: written
    assert [p.name for p in tmp_path.iterdir()] == ["x.nc"]


def test_ctrl_c_inside_compiled_code_is_an_interrupt():
    """Ctrl-C whose handler ran inside a numba kernel's dispatch surfaces as CPython's
    SystemError "returned a result with an exception set", caused by the
    KeyboardInterrupt: the guard turns it back into the interrupt it is."""
    from threatsim.core.interrupts import InterruptGuard, is_interrupt

    def kernel_hit_by_ctrl_c() -> None:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as exc:
            raise SystemError("CPUDispatcher(...) returned a result with an exception "
                              "set") from exc

    def nested_callbacks_hit_by_ctrl_c() -> None:  # a kernel unpickling its constants
        try:
            kernel_hit_by_ctrl_c()
        except SystemError as exc:
            raise SystemError("CPUDispatcher(...) returned a result with an exception "
                              "set") from exc

    with pytest.raises(KeyboardInterrupt), InterruptGuard():
        kernel_hit_by_ctrl_c()
    with pytest.raises(KeyboardInterrupt), InterruptGuard():
        nested_callbacks_hit_by_ctrl_c()
    with pytest.raises(SystemError), InterruptGuard():  # any other SystemError stays one
        raise SystemError("something else")
    assert not is_interrupt(SystemError("x"))
    assert is_interrupt(KeyboardInterrupt())


def test_output_piped_into_head_still_writes_the_files(financing_path, tmp_path):
    """`threatsim run ... | head -1`: the reader goes away; the run still writes its
    files and exits 0, without a BrokenPipeError traceback."""
    out = tmp_path / "r.nc"
    cmd = (f"{sys.executable} -m threatsim.cli run {financing_path} --draws 100 --out {out} "
           f"--quiet | head -1 >/dev/null; echo rc=${{PIPESTATUS[0]}}")
    res = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, cwd=ROOT,
                         check=False, timeout=120)
    assert "rc=0" in res.stdout, res.stderr
    assert "Traceback" not in res.stderr
    assert "BrokenPipe" not in res.stderr
    assert out.exists()
    assert out.with_suffix(".png").exists()


def test_resume_says_what_it_finds(financing_path, tmp_path, capsys):
    """--resume against a folder with no checkpoint says it starts afresh (a mistyped
    path no longer goes unnoticed); against a checkpoint, how many chunks it found."""
    ck = tmp_path / "ck"
    args = ["run", str(financing_path), "--draws", "40", "--chunk-size", "10", "--out",
            str(tmp_path / "r.nc"), "--no-plot", "--checkpoint", str(ck), "--resume"]
    assert main(args) == 0
    assert f"threatsim: no checkpoint in {ck} yet: starting afresh" in capsys.readouterr().err
    assert main(args) == 0
    assert f"threatsim: resuming from {ck}: 4 of 4 chunks already finished" \
        in capsys.readouterr().err
    assert main([*args, "--quiet"]) == 0
    assert "resuming" not in capsys.readouterr().err


def test_a_refused_resume_says_nothing_about_what_it_found(financing_path, tmp_path, capsys):
    """The checkpoint is checked before the command says what it holds: a resume refused
    for a different seed gives the refusal only, not "resuming from ..." first."""
    ck = tmp_path / "ck"
    args = ["run", str(financing_path), "--draws", "40", "--chunk-size", "10", "--out",
            str(tmp_path / "r.nc"), "--no-plot", "--checkpoint", str(ck), "--resume"]
    assert main(args) == 0
    capsys.readouterr()
    assert main([*args, "--seed", "99"]) == 2
    err = capsys.readouterr().err
    assert "cannot resume" in err
    assert "seed" in err
    assert "resuming" not in err
    assert "finished" not in err


def test_ctrl_c_while_a_cluster_starts_is_honoured_once_it_has_started():
    """A LocalCluster interrupted while its nannies start hung the process on exit: inside
    interrupts_held_back() the guard remembers Ctrl-C, and check_interrupt() raises it
    after (executor_from_options then closes the whole client)."""
    import signal

    from threatsim.core.interrupts import InterruptGuard, check_interrupt, interrupts_held_back

    with InterruptGuard() as guard:
        with interrupts_held_back():
            guard._handler(signal.SIGINT, None)  # as Python calls it on Ctrl-C
        assert guard.hit
        with pytest.raises(KeyboardInterrupt):
            check_interrupt()
    with InterruptGuard() as guard, pytest.raises(KeyboardInterrupt):
        guard._handler(signal.SIGINT, None)  # outside the block: raised at once


def test_the_console_script_loads_light_and_ctrl_c_while_it_loads_is_one_line(tmp_path):
    """The entry point imports nothing heavy before its handler is in place (threatsim's
    public names load on first use), so Ctrl-C in the first second, while numpy, xarray
    and scipy load, is one line and exit 130, not an import's traceback."""
    import signal

    res = subprocess.run([sys.executable, "-c", "import sys, threatsim._entry; "
                          "print(sorted({'numpy', 'xarray', 'scipy'} & set(sys.modules)))"],
                         capture_output=True, text=True, check=True, cwd=ROOT)
    assert res.stdout.strip() == "[]"
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from threatsim._entry import main; "
         "sys.exit(main())", "run", "scenarios/financing.toml", "--draws", "300000", "--out",
         str(tmp_path / "r.nc"), "--quiet", "--no-plot"],  # a run long enough either way
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    time.sleep(0.3)  # inside the imports (about a second)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode in INTERRUPTED, err
    assert err.strip() == "threatsim: interrupted; nothing was written"
    assert not list(tmp_path.iterdir())


def test_python_m_threatsim_cli_is_one_line_on_ctrl_c_while_it_loads(tmp_path):
    """``python -m threatsim.cli`` (what the tests and scripts run) catches Ctrl-C in
    its imports as the console script does: before, SIGINT at 0.3-1.2 s printed
    Python's KeyboardInterrupt traceback and the process died of the signal."""
    import signal

    proc = subprocess.Popen(
        [sys.executable, "-m", "threatsim.cli", "run", "scenarios/financing.toml", "--draws",
         "300000", "--out", str(tmp_path / "r.nc"), "--quiet", "--no-plot"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    time.sleep(0.3)  # inside the imports (about a second)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode in INTERRUPTED, err
    assert err.strip() == "threatsim: interrupted; nothing was written"
    assert not list(tmp_path.iterdir())


# Ctrl-C that a module swallows while it loads, as Python's importlib does when the
# KeyboardInterrupt lands in a module lock's weakref callback ("Exception ignored"), and
# other code does unseen: a finder that, as xarray starts to load, raises SIGINT inside a
# ``try/except BaseException: pass``. The run must still end at once with exit 130; before,
# it went on to its end and exited 0 (2 of 78 timed SIGINTs in a sweep of 0.05-1.6 s).
_SWALLOWED_WHILE_LOADING = """
import importlib.abc, signal, sys

class SwallowCtrlC(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "xarray":
            sys.meta_path.remove(self)
            try:
                signal.raise_signal(signal.SIGINT)
            except BaseException:
                pass  # what lost the Ctrl-C
        return None

sys.meta_path.insert(0, SwallowCtrlC())
"""


@pytest.mark.parametrize("start", [
    "import runpy; runpy.run_module('threatsim.cli', run_name='__main__')",
    "from threatsim._entry import main; sys.exit(main())",
], ids=["python -m threatsim.cli", "console script"])
def test_ctrl_c_swallowed_while_the_cli_loads_is_not_lost(tmp_path, start):
    import signal

    code = _SWALLOWED_WHILE_LOADING + start + "\n"  # sys.argv[1:] is the command
    proc = subprocess.run(
        [sys.executable, "-c", code, "run", "scenarios/financing.toml", "--draws", "300000",
         "--out", str(tmp_path / "r.nc"), "--quiet", "--no-plot"],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert proc.returncode in INTERRUPTED, proc.stderr
    assert proc.stderr.strip() == "threatsim: interrupted; nothing was written"
    assert not list(tmp_path.iterdir())


def test_ctrl_c_after_the_run_finished_says_its_files_are_complete(financing_path, tmp_path,
                                                                   monkeypatch, capsys):
    """Ctrl-C after "wrote ..." (while a cluster closes) used to print "nothing was
    written" beside complete files: it now says the run had finished. Exit 130."""
    import contextlib

    from threatsim.engine import executors

    @contextlib.contextmanager
    def closing_hit_by_ctrl_c(**options):
        yield None  # in-process
        raise KeyboardInterrupt  # as a Ctrl-C while the executor closes ends its block

    monkeypatch.setattr(executors, "executor_from_options", closing_hit_by_ctrl_c)
    out = tmp_path / "r.nc"
    assert main(["run", str(financing_path), "--draws", "50", "--out", str(out)]) == 130
    io = capsys.readouterr()
    assert "wrote" in io.out
    assert "interrupted after the run had finished; its files are complete" in io.err
    assert str(out) in io.err
    assert "nothing was written" not in io.err
    assert out.exists()
    assert out.with_suffix(".png").exists()


def test_version_flag(capsys):
    """`threatsim --version` names the package version (there was none)."""
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"threatsim {threatsim.__version__}"


def test_models_with_an_unknown_name_is_bad_input(capsys):
    """`threatsim models nosuchmodel` printed nothing and exited 0."""
    assert main(["models", "nosuchmodel"]) == 2
    err = capsys.readouterr().err
    assert "model='nosuchmodel' is not a model; allowed: coupled, detention" in err


def test_a_precision_not_reached_exits_non_zero(financing_path, tmp_path, capsys):
    """`run --precision` stopped at --max-draws exited 0 as if the target had been met; it
    still writes the largest run, says so, and exits 3."""
    out = tmp_path / "r.nc"
    code = main(["run", str(financing_path), "--precision", "0.0001", "--draws", "100",
                 "--max-draws", "200", "--out", str(out), "--no-plot", "--quiet"])
    captured = capsys.readouterr()
    assert code == 3
    assert "NOT reached" in captured.out
    assert "precision target was not reached" in captured.err
    assert out.exists()


@pytest.mark.parametrize("name", ["../../escaped/evil", "/../../abs_evil", "a\u0000b"])
def test_a_scenario_name_never_chooses_where_files_land(tmp_path, monkeypatch, capsys, name):
    """Without --out the run goes to results/<name>.nc: a name of "../../escaped/evil"
    wrote outside results/ (making folders), "/../../x" outside --plot DIR, and a NUL
    crashed the run. A name is a label: the file stem is derived from it safely."""
    import shutil

    folder = tmp_path / "scenarios"
    shutil.copytree(SCENARIOS, folder)
    path = folder / "financing.toml"
    text = path.read_text()
    path.write_text(text.replace('name = "financing"', f"name = {json.dumps(name)}", 1))
    work = tmp_path / "work" / "deep"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    before = {p for p in tmp_path.rglob("*") if p.is_file()}
    assert main(["run", str(path), "--draws", "50", "--plot", "figs", "--quiet"]) == 0
    new = {p for p in tmp_path.rglob("*") if p.is_file()} - before
    assert new
    for p in new:  # every file under the working folder's results/ or the --plot folder
        rel = p.relative_to(work)
        assert rel.parts[0] in ("results", "figs"), rel
        assert len(rel.parts) == 2, rel  # no folders made from the name

"""Progress (issue 22 part 3): counted in draws, a callback or a tqdm bar on stderr, off when
stderr is not a terminal and with --quiet; the analyses count their own units, with a line
each. No test depends on timing: a bar's delay is set to 0 where a bar is read."""

from __future__ import annotations

import logging
import re

import pytest
from tests.conftest import SCENARIOS
from tqdm import tqdm  # type: ignore[import-untyped]

import threatsim
from threatsim.analysis.capacity import solve_capacity
from threatsim.analysis.sensitivity import sensitivity
from threatsim.cli.main import main
from threatsim.engine import progress as progress_module
from threatsim.engine.progress import BarSafeHandler, Progress
from threatsim.outputs.calibration import calibrate
from threatsim.outputs.observations import observations_from_dict

FAST_CAPACITY = SCENARIOS / "whatif" / "repatriation_stalled.toml"  # the fast path: ~1 s


class Recorder:
    """A progress callback keeping every (done, total, label) it is told."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int, str]] = []

    def __call__(self, done: int, total: int, label: str) -> None:
        self.calls.append((done, total, label))

    @property
    def done(self) -> list[int]:
        return [d for d, _, _ in self.calls]

    def check_counts(self) -> None:
        """Starts at 0, never falls, never passes its total, ends at its total."""
        assert self.calls, "never called"
        assert self.calls[0][0] == 0
        assert all(b >= a for a, b in zip(self.done, self.done[1:], strict=False)), self.done
        assert all(d <= t for d, t, _ in self.calls), self.calls
        assert self.calls[-1][0] == self.calls[-1][1], self.calls[-1]

    def lines(self, prefix: str) -> list[str]:
        return [label for _, _, label in self.calls if label.startswith(prefix)]


@pytest.fixture
def financing(financing_path):
    return threatsim.load_scenario(financing_path)


@pytest.fixture
def terminal(monkeypatch):
    """stderr taken for a terminal (what progress=None and the commands' default look at),
    and bars drawn at once (no delay), so that what they write can be read."""
    monkeypatch.setattr(progress_module.os, "isatty", lambda fd: True)
    monkeypatch.setattr(progress_module, "DELAY", 0.0)


@pytest.fixture
def no_terminal(monkeypatch):
    monkeypatch.setattr(progress_module.os, "isatty", lambda fd: False)
    monkeypatch.setattr(progress_module, "DELAY", 0.0)


def test_a_run_counts_its_draws_chunk_by_chunk_to_the_end(financing):
    """Chunks of 100, 100 and 50 draws: the count is in draws (a chunk of n advances n),
    its total the draws, and the Dataset is the one a run without progress gives."""
    rec = Recorder()
    ds = threatsim.run(financing, draws=250, chunk_size=100, seed=4, progress=rec)
    rec.check_counts()
    assert rec.done == [0, 100, 200, 250] or rec.done == [0, 100, 150, 250] \
        or rec.done == [0, 50, 150, 250]  # (chunks may finish in any order)
    assert {t for _, t, _ in rec.calls} == {250}
    assert ds.identical(threatsim.run(financing, draws=250, chunk_size=100, seed=4,
                                      progress=False))


@pytest.mark.parametrize(("name", "draws", "replicates"), [
    ("baseline.toml", 60, 1),  # fighters: vectorised, time mostly per piece
    ("detention_iraq_syria.toml", 6, 2),  # SimPy: time per draw
])
def test_a_run_of_one_chunk_is_counted_in_pieces_with_the_same_dataset(name, draws,
                                                                       replicates):
    """Shown, a run of one chunk in this process runs in pieces (two probes at least, then
    the rest in one piece or in more): more than one step, and bit for bit the Dataset of
    the run in one chunk (the pieces the probes choose depend on timing; this does not)."""
    sc = threatsim.load_scenario(SCENARIOS / name)
    rec = Recorder()
    shown = threatsim.run(sc, draws=draws, seed=2, replicates=replicates, progress=rec)
    rec.check_counts()
    assert len(rec.calls) >= 4  # 0, the two probes, the rest
    assert rec.done[1:3] == [-(-draws // 25), 3 * -(-draws // 25)]
    alone = threatsim.run(sc, draws=draws, seed=2, replicates=replicates, progress=False)
    assert shown.identical(alone)


def test_a_summary_run_counts_every_pass_without_going_back(financing):
    rec = Recorder()
    threatsim.run(financing, draws=3000, chunk_size=500, keep="summary", progress=rec)
    rec.check_counts()
    assert rec.calls[-1][1] % 3000 == 0  # the draws once per pass


def test_a_forced_bar_writes_draws_rate_and_total_on_stderr(financing, capsys, no_terminal):
    threatsim.run(financing, draws=250, chunk_size=100, progress=True)
    err = capsys.readouterr().err
    assert "250/250" in err
    assert "draw/s" in err
    assert "financing" in err


def test_the_default_shows_a_bar_only_when_stderr_is_a_terminal(financing, capsys,
                                                                 monkeypatch):
    monkeypatch.setattr(progress_module, "DELAY", 0.0)
    monkeypatch.setattr(progress_module.os, "isatty", lambda fd: False)
    threatsim.run(financing, draws=200, progress=None)
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(progress_module.os, "isatty", lambda fd: True)
    threatsim.run(financing, draws=200, progress=None)
    assert "200/200" in capsys.readouterr().err


def test_a_bar_shorter_than_its_delay_draws_nothing(capsys, monkeypatch):
    monkeypatch.setattr(progress_module, "DELAY", 3600.0)
    with Progress(10, progress=True, label="quick") as bar:
        bar.advance(10)
    assert capsys.readouterr().err == ""


def test_capacity_tells_one_line_per_value_tried_with_its_probability():
    sc = threatsim.load_scenario(FAST_CAPACITY)
    rec = Recorder()
    sol = solve_capacity(sc, "courts", target=100, by="2021-01", draws=20, progress=rec)
    rec.check_counts()
    lines = [label for label in rec.lines("courts ") if ": P=" in label]
    assert lines == [f"courts {v}: P={p:.3f} (target 0.9)" for v, p in sol.tried]
    assert rec.calls[-1][:2] == (len(sol.tried), len(sol.tried))
    # once bracketed, the total is a bound on the runs left: never below what was done
    assert all(t >= d for d, t, _ in rec.calls)


def test_capacity_command_prints_its_lines_on_stderr_and_nothing_with_quiet(capsys, terminal):
    args = ["capacity", str(FAST_CAPACITY), "--target", "100", "--by", "2021-01",
            "--draws", "20"]
    assert main(args) == 0
    out, err = capsys.readouterr()
    assert "courts = 50" in out
    assert "courts 20: P=0.200 (target 0.9)" in err
    assert "courts 50: P=0.950 (target 0.9)" in err
    assert main([*args, "--quiet"]) == 0
    out_quiet, err_quiet = capsys.readouterr()
    assert err_quiet == ""
    assert out_quiet == out


def test_capacity_command_shows_nothing_when_stderr_is_not_a_terminal(capsys, no_terminal):
    assert main(["capacity", str(FAST_CAPACITY), "--target", "100", "--draws", "20"]) == 0
    assert capsys.readouterr().err == ""


def test_sweep_counts_the_draws_of_every_point_with_a_line_each(financing):
    rec = Recorder()
    threatsim.sweep(financing, {"levers.seizure_effort": [1, 2, 3]}, draws=200, progress=rec)
    rec.check_counts()
    assert rec.calls[-1][:2] == (600, 600)
    assert len(rec.lines("sweep point")) == 3


def test_compare_counts_both_runs_or_only_the_whatif_given_the_base(financing):
    whatif = financing.with_values({"levers.seizure_effort": 2.0})
    rec = Recorder()
    threatsim.compare(financing, whatif, draws=200, progress=rec)
    rec.check_counts()
    assert rec.calls[-1][:2] == (400, 400)
    base = threatsim.run(financing, draws=200, progress=False)
    rec = Recorder()
    threatsim.compare(financing, whatif, draws=200, progress=rec, base_run=base)
    rec.check_counts()
    assert rec.calls[-1][:2] == (200, 200)


def test_sensitivity_counts_the_design_the_run_and_the_readings(financing):
    rec = Recorder()
    sds = sensitivity(financing, "reserves", n=16, draws=100, n_resamples=9, progress=rec)
    rec.check_counts()
    d = sds.sizes["parameter"]
    readings = sds.sizes["reading"]
    assert rec.calls[-1][1] == (d + 3) * 16 + (1 + readings) * 100
    assert len(rec.lines("sensitivity: reading")) == readings


def test_calibrate_counts_the_prior_and_every_smc_stage(financing):
    obs = observations_from_dict({"document": "test", "observation": [
        {"id": "r", "variable": "reserves", "date": "2019-07", "low": 1e8, "high": 2e8,
         "unit": "usd"}]})
    rec = Recorder()
    post = calibrate(financing, obs, draws=200, seed=1, method="smc", particles=20, moves=1,
                     progress=rec)
    rec.check_counts()
    stages = int(post.attrs["smc_stages"])
    assert len(rec.lines("SMC stage")) == stages
    assert rec.calls[-1][1] == 200 + 20 * (1 + stages)  # the prior, then each stage's moves
    assert len(rec.lines("calibrate: sequential Monte Carlo")) == 1


def test_the_analyses_default_to_progress_only_when_stderr_is_a_terminal(capsys,
                                                                          monkeypatch):
    """solve_capacity (as compare, sweep, sensitivity, calibrate) defaults to None: lines on
    a terminal, nothing otherwise (the issue: it ran for minutes in Python saying nothing)."""
    sc = threatsim.load_scenario(FAST_CAPACITY)
    monkeypatch.setattr(progress_module, "DELAY", 0.0)
    monkeypatch.setattr(progress_module.os, "isatty", lambda fd: False)
    solve_capacity(sc, "courts", target=100, draws=20)
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(progress_module.os, "isatty", lambda fd: True)
    solve_capacity(sc, "courts", target=100, draws=20)
    assert "courts 50: P=0.950 (target 0.9)" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [
    ["run", "financing.toml", "--draws", "300", "--no-save", "--no-plot"],
    ["compare", "baseline.toml", "whatif/counter_financing_doubled.toml", "--draws", "50"],
    ["sweep", "financing.toml", "--set", "levers.seizure_effort=1,2", "--draws", "200"],
    ["sensitivity", "financing.toml", "--output", "reserves", "--n", "16", "--draws", "100",
     "--no-readings"],
], ids=lambda argv: argv[0])
def test_every_long_command_shows_progress_on_a_terminal_and_none_with_quiet(argv, capsys,
                                                                             terminal):
    argv = [str(SCENARIOS / a) if a.endswith(".toml") else a for a in argv]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert "%|" in err  # a tqdm bar
    assert main([*argv, "--quiet"]) == 0
    out_quiet, err_quiet = capsys.readouterr()
    assert err_quiet == ""
    assert out_quiet == out


def test_a_bar_whose_count_stands_still_is_redrawn(capsys, monkeypatch):
    """A long chunk: the bar is drawn again (its elapsed time goes on) with no advance."""
    import time

    monkeypatch.setattr(progress_module, "DELAY", 0.0)
    monkeypatch.setattr(progress_module, "TICK", 0.01)
    with Progress(10, progress=True, label="slow") as bar:
        first = capsys.readouterr().err
        redrawn = ""
        for _ in range(1000):  # until the ticker draws it again (waits 10 s at most)
            redrawn = capsys.readouterr().err
            if redrawn:
                break
            time.sleep(0.01)
        assert bar.done == 0
    assert "0/10" in first or "0/10" in redrawn
    assert "slow" in redrawn


@pytest.mark.parametrize("handler_class", [BarSafeHandler, logging.StreamHandler])
def test_a_note_logged_while_a_bar_is_drawn_is_a_line_of_its_own(handler_class, capsys):
    """The command line's notes (workers capped, draws streamed over the budget) go
    through BarSafeHandler: a line of its own, not glued onto the end of a bar. A plain
    StreamHandler, what the command line used before, glues it (the second case shows
    that the check can fail)."""
    import sys

    log = logging.getLogger(f"threatsim.test.barsafe.{handler_class.__name__}")
    handler = handler_class(sys.stderr)
    handler.setFormatter(logging.Formatter("threatsim: %(message)s"))
    log.addHandler(handler)
    log.propagate = False
    try:
        bar = tqdm(total=10, file=sys.stderr, ncols=60, mininterval=0)
        bar.update(3)
        log.warning("16 workers asked for")
        bar.update(7)
        bar.close()
    finally:
        log.removeHandler(handler)
    pieces = re.split(r"[\r\n]", capsys.readouterr().err)
    own_line = "threatsim: 16 workers asked for" in pieces
    assert own_line == (handler_class is BarSafeHandler), pieces

"""Checkpoints: finished chunks on disk; --resume gives the uninterrupted Dataset."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import xarray as xr
from tests.conftest import SCENARIOS

import threatsim
from threatsim.core.errors import ScenarioError
from threatsim.engine.checkpoint import MANIFEST
from threatsim.engine.executors import InProcessExecutor

RUN = {"draws": 600, "chunk_size": 100, "seed": 4, "progress": False}


@pytest.fixture(scope="module")
def scenario():
    return threatsim.load_scenario(SCENARIOS / "financing.toml")


class Counting(InProcessExecutor):
    """In-process, counting the chunks it computes; optionally Ctrl-C after some."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.computed: list[int] = []
        self.stop_after = stop_after

    def map_chunks(self, fn, tasks):
        for task in tasks:
            if self.stop_after is not None and len(self.computed) == self.stop_after:
                raise KeyboardInterrupt
            self.computed.append(task.index)
            yield fn(task)


def test_resume_after_an_interruption_gives_the_same_dataset(scenario, tmp_path: Path):
    """Stop after 2 of 6 chunks, resume: only the 4 others are computed; the Dataset is
    identical."""
    expected = threatsim.run(scenario, **RUN)
    first = Counting(stop_after=2)
    with pytest.raises(KeyboardInterrupt):
        threatsim.run(scenario, executor=first, checkpoint=tmp_path / "ck", **RUN)
    assert len(list((tmp_path / "ck").glob("chunk-*.npz"))) == 2
    assert not list((tmp_path / "ck").glob(".*"))  # no half-written file left
    second = Counting()
    got = threatsim.run(scenario, executor=second, checkpoint=tmp_path / "ck", resume=True,
                        **RUN)
    assert sorted(second.computed) == [2, 3, 4, 5]
    xr.testing.assert_identical(expected, got)


def test_manifest_names_the_run(scenario, tmp_path: Path):
    """The manifest holds run id, seed, draws, chunk size, sampler and replicates."""
    threatsim.run(scenario, checkpoint=tmp_path, **RUN)
    m = json.loads((tmp_path / MANIFEST).read_text())
    assert m["run_id"] == scenario.run_id
    assert (m["seed"], m["draws"], m["chunk_size"], m["replicates"]) == (4, 600, 100, 1)
    assert m["sampler"] == scenario.run.sampler
    assert len(list(tmp_path.glob("chunk-*.npz"))) == 6


def test_a_damaged_chunk_file_is_recomputed(scenario, tmp_path: Path):
    """A truncated chunk file is not trusted: that chunk is computed again."""
    expected = threatsim.run(scenario, checkpoint=tmp_path, **RUN)
    (tmp_path / "chunk-000003.npz").write_bytes(b"PK\x03\x04 truncated")
    counting = Counting()
    got = threatsim.run(scenario, executor=counting, checkpoint=tmp_path, resume=True, **RUN)
    assert counting.computed == [3]
    xr.testing.assert_identical(expected, got)


@pytest.mark.parametrize(("change", "named"), [
    ({"seed": 5}, "seed"),
    ({"draws": 700}, "draws"),
    ({"chunk_size": 50}, "chunk_size"),
    ({"sampler": "lhs"}, "sampler"),
])
def test_resume_of_another_run_is_refused_naming_what_differs(scenario, tmp_path: Path,
                                                               change, named):
    """Different seed, draws, chunk size or sampler: refused, the key and both values named."""
    threatsim.run(scenario, checkpoint=tmp_path, **RUN)
    with pytest.raises(ScenarioError, match=named) as info:
        threatsim.run(scenario, checkpoint=tmp_path, resume=True, **{**RUN, **change})
    assert "in the checkpoint" in str(info.value)
    assert str(tmp_path) in str(info.value)


def test_resume_of_another_scenario_is_refused(scenario, tmp_path: Path):
    """A what-if (other lever) has another run id: refused, naming run_id."""
    threatsim.run(scenario, checkpoint=tmp_path, **RUN)
    lever = next(iter(scenario.levers))
    other = scenario.with_values({f"levers.{lever}": scenario.levers[lever] * 0.5 + 0.01})
    with pytest.raises(ScenarioError, match="run_id"):
        threatsim.run(other, checkpoint=tmp_path, resume=True, **RUN)


def test_resume_of_an_edited_scenario_names_the_keys_that_changed(scenario, tmp_path: Path):
    """The same scenario file edited (one parameter's range, a lever): the refusal names
    each key with its two values, not only two run ids."""
    threatsim.run(scenario, checkpoint=tmp_path, **RUN)
    name, param = next((n, p) for n, p in scenario.resolved["parameters"].items()
                       if isinstance(p, dict) and "range" in p)
    lo, hi = param["range"]
    lever = next(iter(scenario.levers))
    edited = scenario.with_values({f"parameters.{name}.range": [lo, hi * 2],
                                   f"levers.{lever}": scenario.levers[lever] + 1})
    with pytest.raises(ScenarioError) as info:
        threatsim.run(edited, checkpoint=tmp_path, resume=True, **RUN)
    text = str(info.value)
    assert f"parameters.{name}.range: {[lo, hi]!r} in the checkpoint, {[lo, hi * 2]!r}" in text
    assert f"levers.{lever}: " in text
    assert "run_id" in text


def test_a_used_checkpoint_folder_needs_resume(scenario, tmp_path: Path):
    """Without resume an existing checkpoint is not silently reused or overwritten."""
    threatsim.run(scenario, checkpoint=tmp_path, **RUN)
    with pytest.raises(ScenarioError, match="resume"):
        threatsim.run(scenario, checkpoint=tmp_path, **RUN)
    with pytest.raises(ScenarioError, match="checkpoint"):
        threatsim.run(scenario, resume=True, **RUN)


def test_summary_passes_read_the_checkpoint(scenario, tmp_path: Path):
    """keep='summary' with a checkpoint computes each chunk once; a resume computes none."""
    counting = Counting()
    a = threatsim.run(scenario, keep="summary", executor=counting, checkpoint=tmp_path, **RUN)
    assert sorted(counting.computed) == list(range(6))
    again = Counting()
    b = threatsim.run(scenario, keep="summary", executor=again, checkpoint=tmp_path,
                      resume=True, **RUN)
    assert again.computed == []
    xr.testing.assert_identical(a, b)


def test_cli_checkpoint_and_resume(tmp_path: Path, capsys):
    """`threatsim run --checkpoint DIR` then `--resume`: same file; another seed: exit 2."""
    from threatsim.cli.main import main

    base = ["run", str(SCENARIOS / "financing.toml"), "--draws", "400", "--chunk-size", "100",
            "--seed", "3", "--no-plot", "--quiet", "--checkpoint", str(tmp_path / "ck")]
    assert main([*base, "--out", str(tmp_path / "a.nc")]) == 0
    assert main([*base, "--resume", "--out", str(tmp_path / "b.nc")]) == 0
    xr.testing.assert_identical(xr.load_dataset(tmp_path / "a.nc"),
                                xr.load_dataset(tmp_path / "b.nc"))
    capsys.readouterr()
    assert main([*base, "--seed", "4", "--resume", "--out", str(tmp_path / "c.nc")]) == 2
    err = capsys.readouterr().err
    assert "seed 3 in the checkpoint, 4 in this run" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "c.nc").exists()

"""Ctrl-C in a terminal during ``threatsim run --cluster local``: one line, exit 130.

A terminal sends SIGINT to every process of its foreground group, the
``LocalCluster``'s worker processes too. Each worker used to die of it printing a
``KeyboardInterrupt`` traceback (63 lines for two workers) before the command's own
line, and one hit while it started made the command fail with "Nanny failed to
start" (exit 1) after a 60 s wait. The workers now have SIGINT blocked (see
``threatsim.core.interrupts.sigint_blocked_for_children``); the command alone handles
it and closes the cluster.

Each test starts the command in a session of its own (its own process group, as a
terminal's foreground job) and signals the whole group with ``os.killpg``, as a
terminal does. It waits for the state it interrupts by watching the processes and
files, never by timing, with generous limits for a loaded 2-core machine.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.conftest import INTERRUPTED, ROOT, SCENARIOS

pytest.importorskip("distributed")
psutil = pytest.importorskip("psutil")  # distributed's dependency

#: Seconds to wait for a state (cluster starting, run streaming) or for the exit.
PATIENCE = 180.0


def _workers_started(pid: int) -> bool:
    """Whether the command (process *pid*) has started a dask worker process yet."""
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return False
    for child in children:
        try:
            line = " ".join(child.cmdline())
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
        if "spawn_main" in line:  # multiprocessing's spawned child (not its tracker)
            return True
    return False


@pytest.mark.parametrize("when", ["while-the-workers-start", "while-chunks-run"])
def test_ctrl_c_to_the_process_group_prints_one_line(tmp_path: Path, when: str):
    """SIGINT to the whole group, while the workers start or while chunks run: exit 130,
    no traceback, the one-line message, nothing written, no worker left behind."""
    out = tmp_path / "big.nc"
    proc = subprocess.Popen(
        [sys.executable, "-m", "threatsim.cli", "run", str(SCENARIOS / "financing.toml"),
         "--draws", "3000000", "--chunk-size", "20000", "--keep", "draws",
         "--out", str(out), "--no-plot", "--quiet", "--cluster", "local", "--workers", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        start_new_session=True,  # its own process group, as a terminal's foreground job
        # A shell starts background jobs with SIGINT ignored, and children inherit that:
        # give the run the default disposition, as a terminal would.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    workers: list = []
    try:
        if when == "while-the-workers-start":
            def ready() -> bool:
                return _workers_started(proc.pid)
        else:
            def ready() -> bool:
                return bool(list(tmp_path.glob(".big.nc.*")))  # streaming chunks to it
        deadline = time.monotonic() + PATIENCE
        while not ready() and time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.02)
        assert ready(), f"the run never reached the state {when}"
        workers = psutil.Process(proc.pid).children(recursive=True)
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=PATIENCE)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode in INTERRUPTED, err
    assert "Traceback" not in err, err
    assert err.strip() == "threatsim: interrupted; nothing was written", err
    assert not list(tmp_path.iterdir())
    _, alive = psutil.wait_procs(workers, timeout=PATIENCE)
    assert not alive, f"left behind: {alive}"


def _sigint_blocked() -> bool:
    return signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, [])


def test_local_cluster_workers_have_sigint_blocked_also_when_restarted():
    """Every worker of a ``local_cluster`` has SIGINT blocked, also one its nanny starts
    again (a worker lost); this process does not."""
    from threatsim.engine.cluster import local_cluster

    with local_cluster(1) as client:
        assert list(client.run(_sigint_blocked).values()) == [True]
        client.restart()
        assert list(client.run(_sigint_blocked).values()) == [True]
    assert not _sigint_blocked()

"""Executors: in-process, process pool and dask.distributed give the same Dataset; faults."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import xarray as xr
from tests.conftest import INTERRUPTED, ROOT, SCENARIOS

import threatsim
from threatsim.core.errors import ScenarioError
from threatsim.engine import exact_quantiles
from threatsim.engine.cluster import (
    DaskExecutor,
    ExecutorError,
    SchedulerUnreachable,
    connect,
    is_dask_client,
    local_cluster,
)
from threatsim.engine.executors import (
    InProcessExecutor,
    ProcessPoolChunkExecutor,
    ThreadPoolChunkExecutor,
    resolve_executor,
)
from threatsim.engine.options import RunOptions
from threatsim.engine.plan import Plan
from threatsim.models import get_model, model_names

distributed = pytest.importorskip("distributed")


def tiny_scenarios() -> dict[str, threatsim.Scenario]:
    """One shipped scenario per registered model (the first that loads), cut to 12 months."""
    found: dict[str, threatsim.Scenario] = {}
    paths = sorted(SCENARIOS.rglob("*.toml")) + sorted((ROOT / "benchmarks").glob("*.toml"))
    for path in paths:
        if "sources" in path.parts or "observations" in path.parts:
            continue
        try:
            sc = threatsim.load_scenario(path)
        except Exception:
            continue
        if sc.model in found:
            continue
        for cut in ({"horizon": 12}, {"horizon": 12, "timeline": [], "questions": [],
                                       "outputs.report_months": [sc.month_label(0)]}):
            try:
                sc = sc.with_values(cut)
                break
            except ScenarioError:
                continue
        found[sc.model] = sc
    return found


SCENARIOS_BY_MODEL = tiny_scenarios()
MODELS = [m for m in model_names() if m in SCENARIOS_BY_MODEL]
SMALL = {"draws": 12, "chunk_size": 4, "replicates": 2, "seed": 5}


@pytest.fixture(scope="module")
def client():
    """One 2-worker LocalCluster (processes, 1 thread each) for the whole module."""
    c = local_cluster(2)
    yield c
    c.close()  # closes its LocalCluster too


def test_there_is_a_scenario_for_every_registered_model():
    """The identity tests below cover every registered model."""
    assert set(MODELS) == set(model_names()), set(model_names()) - set(MODELS)


@pytest.mark.parametrize("model", MODELS)
def test_every_executor_gives_the_same_dataset(model, client):
    """In-process, a 2-process pool and a 2-worker LocalCluster: bit-identical, replicates too."""
    sc = SCENARIOS_BY_MODEL[model]
    base = threatsim.run(sc, progress=False, **SMALL)
    assert base.sizes["replicate"] == 2
    pool = threatsim.run(sc, progress=False, executor=ProcessPoolChunkExecutor(2), **SMALL)
    threads = threatsim.run(sc, progress=False, executor=ThreadPoolChunkExecutor(2), **SMALL)
    dask = threatsim.run(sc, progress=False, executor=client, **SMALL)
    xr.testing.assert_identical(base, pool)
    xr.testing.assert_identical(base, threads)
    xr.testing.assert_identical(base, dask)


@pytest.mark.parametrize("model", MODELS)
def test_workers_run_threads_or_processes_as_the_model_declares(model):
    """executor=2 (--workers 2) is a thread pool for a model whose chunks release the GIL
    (ModelInfo.parallel == "threads"), a process pool for the others, and in-process
    for a run of one chunk (a pool would only add its start-up)."""
    sc = SCENARIOS_BY_MODEL[model]
    declared = get_model(model).info.parallel
    assert declared in ("threads", "processes")
    many = RunOptions.build(sc, executor=2, draws=12, chunk_size=4, force_workers=True)
    expected = ThreadPoolChunkExecutor if declared == "threads" else ProcessPoolChunkExecutor
    assert type(many.executor) is expected
    one = RunOptions.build(sc, executor=2, draws=4, chunk_size=4, force_workers=True)
    assert type(one.executor) is InProcessExecutor
    assert one.workers == 2  # as asked: only the executor differs


def test_fighters_run_on_threads_from_chunks_of_8192_draws():
    """The fighters' rule measured in docs/scaling.md: processes for the shipped
    scenarios' chunks of 2,048 draws, threads from 8,192 (W2's 12,500): the plan
    --workers 2 makes, whatever the chunk's draws are."""
    sc = SCENARIOS_BY_MODEL["fighters"]
    info = get_model("fighters").info
    assert (info.parallel, info.threads_from) == ("processes", 8192)
    for chunk, pool in ((2048, ProcessPoolChunkExecutor), (8191, ProcessPoolChunkExecutor),
                        (8192, ThreadPoolChunkExecutor), (12_500, ThreadPoolChunkExecutor)):
        opts = RunOptions.build(sc, executor=2, draws=2 * chunk, chunk_size=chunk,
                                force_workers=True)
        assert type(opts.executor) is pool, chunk
    w2 = threatsim.load_scenario(ROOT / "benchmarks" / "w2.toml")
    assert type(RunOptions.build(w2, executor=2, force_workers=True).executor) \
        is ThreadPoolChunkExecutor


def test_financing_runs_on_threads_and_detention_on_processes():
    """The declarations measured in docs/scaling.md: financing's compiled loop releases the
    GIL (threads), the SimPy detention model holds it (processes)."""
    assert get_model("financing").info.parallel == "threads"
    assert get_model("detention").info.parallel == "processes"


@pytest.mark.parametrize("model", [m for m in MODELS
                                   if get_model(m).writes_into_buffers])
def test_models_writing_into_the_run_buffers_equal_a_pool(model):
    """In-process, a model that records straight into the run's buffers (no replicates)
    gives the Dataset a process pool assembles from shipped chunks: every output."""
    sc = SCENARIOS_BY_MODEL[model]
    every = [o.name for o in get_model(model).info.outputs]
    sc = sc.with_values({"outputs.variables": every})
    run = {"draws": 30, "chunk_size": 8, "seed": 3, "replicates": 1}
    opts = RunOptions.build(sc, executor=InProcessExecutor(), **run)
    assert Plan.for_run(sc, opts).direct_buffers() is not None
    base = threatsim.run(sc, progress=False, **run)
    pool = threatsim.run(sc, progress=False, executor=ProcessPoolChunkExecutor(2), **run)
    xr.testing.assert_identical(base, pool)
    assert set(every) <= set(base.data_vars)


@pytest.mark.parametrize("model", MODELS)
def test_summary_on_every_executor_equals_in_process(model, client, monkeypatch):
    """keep='summary' is the same in a process pool and on the cluster (any bound), for
    every model: chunks reduced where they ran, pilots and windows' values of counts
    narrowed on the way, replicates too."""
    monkeypatch.setattr(exact_quantiles, "PILOT_ROWS", 16)  # a pilot, then windows, for 24 rows
    sc = SCENARIOS_BY_MODEL[model]
    a = threatsim.run(sc, keep="summary", progress=False, **SMALL)
    pool = threatsim.run(sc, keep="summary", progress=False,
                         executor=ProcessPoolChunkExecutor(2), **SMALL)
    threads = threatsim.run(sc, keep="summary", progress=False,
                            executor=ThreadPoolChunkExecutor(2), **SMALL)
    xr.testing.assert_identical(a, threads)
    dask = threatsim.run(sc, keep="summary", executor=DaskExecutor(client, max_in_flight=2),
                         progress=False, **SMALL)
    xr.testing.assert_identical(a, pool)
    xr.testing.assert_identical(a, dask)


def test_summary_holds_chunks_ahead_of_the_pilot_and_survives_a_killed_worker(
        client, monkeypatch):
    """On a cluster, the chunks after the pilot start before the client has studied it
    (their results held where they ran, reduced there later); with a worker killed
    right after they start, the summary is still the in-process one, bit for bit."""
    monkeypatch.setattr(exact_quantiles, "PILOT_ROWS", 16)  # a pilot of 4 chunks, then 46 more
    sc = SCENARIOS_BY_MODEL["fighters"]
    run = {"draws": 200, "chunk_size": 4, "seed": 12, "replicates": 1}
    expected = threatsim.run(sc, keep="summary", progress=False, **run)
    pids = client.run(os.getpid)
    held_counts: list[int] = []

    class HoldThenKill(DaskExecutor):
        def hold(self, fn, tasks):
            held = super().hold(fn, tasks)
            held_counts.append(len(held))
            if len(held_counts) == 2:  # the chunks held ahead of the pilot's analysis
                os.kill(next(iter(pids.values())), signal.SIGKILL)
            return held

    got = threatsim.run(sc, keep="summary", executor=HoldThenKill(client), progress=False,
                        **run)
    assert held_counts[0] == 4
    assert held_counts[1] >= 1
    xr.testing.assert_identical(expected, got)
    client.wait_for_workers(2, timeout=30)


def test_a_summary_of_many_small_chunks_runs_several_to_a_cluster_task(client, monkeypatch):
    """Each cluster task costs the client process (which also runs a LocalCluster's
    scheduler) about as much CPU as a small W1 chunk costs its worker: a summary pass of
    many chunks sends them in batches (chunks_per_task), each pickled once, smaller
    towards the end. The same summary as in-process, bit for bit; every chunk reduced
    exactly once."""
    from threatsim.engine import shipping

    monkeypatch.setattr(exact_quantiles, "PILOT_ROWS", 16)  # a pilot of 4 chunks, then 76
    sc = SCENARIOS_BY_MODEL["financing"]
    run = {"draws": 320, "chunk_size": 4, "seed": 5}
    expected = threatsim.run(sc, keep="summary", progress=False, **run)
    batches: list[list[int]] = []
    of = shipping.ReducedBatch.of.__func__

    def counted(cls, tasks):
        batches.append([t.index for t in tasks])
        return of(cls, tasks)

    monkeypatch.setattr(shipping.ReducedBatch, "of", classmethod(counted))
    executor = DaskExecutor(client, max_in_flight=4)
    got = threatsim.run(sc, keep="summary", progress=False, executor=executor, **run)
    xr.testing.assert_identical(expected, got)
    # 76 chunks after the pilot (0-3), 4 of them held (4-7): the others, in the stretches
    # of at least 16 (4 in flight) the summary asks for, in tasks of half of what is left
    # for 2 tasks, at most 8, down to single chunks at the end
    first_pass = batches[:next((k for k in range(1, len(batches))  # a further pass, if
                                if batches[k][0] < batches[k - 1][0]), len(batches))]  # any
    batched = [index for batch in first_pass for index in batch]
    assert set(batched) <= set(range(8, 80))  # never the pilot's chunks nor a held one
    assert len(batched) == len(set(batched))
    assert max(map(len, first_pass)) == shipping.MAX_CHUNKS_PER_TASK
    assert min(map(len, first_pass)) == 1
    assert len(first_pass) < len(batched) / 2
    assert all(b == list(range(b[0], b[0] + len(b))) for b in batches)  # consecutive chunks


def test_a_cluster_task_holds_at_most_max_draws_per_task(monkeypatch):
    """Tasks of several chunks hold no more draws than MAX_DRAWS_PER_TASK, so that what a
    cluster keeps in flight stays that of chunks of that size (large chunks: fewer to a
    task), and every chunk goes exactly once, in order."""
    from threatsim.engine import shipping
    from threatsim.engine.summary import SummaryPass

    monkeypatch.setattr(shipping, "MAX_DRAWS_PER_TASK", 250)
    sc = SCENARIOS_BY_MODEL["financing"]
    plan = Plan.for_run(sc, RunOptions.build(sc, draws=4_000, chunk_size=100))
    spec = SummaryPass(first=True, lead=1, banded={}, per_draw=[], quant={})
    tasks = [shipping.ReducedChunkTask(plan.task(i), spec) for i in range(plan.n_chunks)]
    batches = [[t.index for t in b.tasks]
               for b in shipping.in_batches(tasks, 4)]
    assert [i for b in batches for i in b] == list(range(40))
    assert max(map(len, batches)) == 2  # 250 draws: two chunks of 100 (8 without the cap)


def test_local_cluster_workers_reuse_their_memory(client):
    """The workers threatsim starts get glibc settings that keep chunk-sized arrays on the
    heap (not distributed's MALLOC_TRIM_THRESHOLD_=65536, which maps every one afresh)."""
    from threatsim.engine.cluster import WORKER_MALLOC

    for name, value in WORKER_MALLOC.items():
        assert set(client.run(os.environ.get, name).values()) == {value}
    assert int(WORKER_MALLOC["MALLOC_TRIM_THRESHOLD_"]) > 65536


def test_local_cluster_housekeeping_is_quieter_and_only_there(client):
    """The LocalCluster threatsim starts runs distributed's periodic callbacks less often
    (they share the client's cores), also in workers restarted after one was killed (the
    tests above kill some), and the caller's own dask config is left alone."""
    import dask

    from threatsim.engine.cluster import LOCAL_CLUSTER_HOUSEKEEPING

    for key, value in LOCAL_CLUSTER_HOUSEKEEPING.items():
        assert set(client.run(dask.config.get, key).values()) == {value}
        assert dask.config.get(key) != value  # distributed's default, here
    # The scheduler runs in this process: its callbacks were made with the quieter config.
    times = client.run_on_scheduler(lambda dask_scheduler: {
        name: pc.callback_time for name, pc in dask_scheduler.periodic_callbacks.items()})
    assert times["tick"] == 500
    assert times["monitor"] == 2000
    # Results come straight from the workers, not relayed through that scheduler.
    assert client.direct_to_workers is True
    assert client.run_on_scheduler(
        lambda dask_scheduler: dask_scheduler.WORKER_SATURATION) == float("inf")


def _held_chunks_run_late(client) -> list[int]:
    """Held chunks that ran after every later chunk, in a run shaped like W2's summary
    on two workers: 8 chunks held while the client studies the pilot, a pause for
    that study, quick reductions of the held ones, later chunks a little slower than
    the held ones (model and reduction). Sleeping tasks: only their order matters."""
    import dataclasses
    import time as _time

    from distributed import get_task_stream

    @dataclasses.dataclass(frozen=True)
    class Task:  # defined here: pickled by value, nothing to import on the workers
        index: int
        seconds: float
        held: object = None

    def compute(task, computed=None):
        _time.sleep(task.seconds)
        return task.index

    ex = DaskExecutor(client)
    held_ones, later_ones = range(2, 10), range(10, 21)
    with get_task_stream(client) as stream:
        held = ex.hold(compute, [Task(i, 0.1) for i in held_ones])
        _time.sleep(0.2)  # the client studies the pilot
        tasks = [Task(i, 0.02, held[i]) for i in held_ones]
        tasks += [Task(i, 0.15) for i in later_ones]
        assert sorted(ex.map_chunks(compute, tasks)) == [*held_ones, *later_ones]
    start = {}
    for task in stream.data:
        name, index = re.fullmatch(r"threatsim[-_](chunk|held)[-_](\d+)-.*", task["key"]).groups()
        start[name, int(index)] = min(s["start"] for s in task["startstops"]
                                      if s["action"] == "compute")
    last_later = max(start["chunk", i] for i in later_ones)
    return [i for i in held_ones if start["held", i] > last_later]


def test_chunks_held_for_the_pilot_run_before_later_chunks(client):
    """A summary on the cluster computes the chunks after its pilot while the client
    studies the pilot, and holds them there (DaskExecutor.hold); the pass then reduces
    them where they are and submits later chunks as results come. Held chunks must run
    in their turn: under dask's root-task queuing the last of them waited behind every
    later chunk and ran last, their reductions after them (W2: both workers' last
    0.3 s)."""
    assert not _held_chunks_run_late(client)


def test_held_chunks_run_in_their_turn_on_a_scheduler_that_queues():
    """The same on a scheduler with dask's defaults (root-task queuing on), as a
    cluster someone else started: each held chunk is a task group of its own, never
    'root-ish', so it is never queued behind the later chunks."""
    import dask
    from distributed import Client, LocalCluster

    with dask.config.set({"distributed.scheduler.worker-saturation": 1.1}), \
            LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                         dashboard_address=":0") as cluster, Client(cluster) as plain:
        assert plain.run_on_scheduler(
            lambda dask_scheduler: dask_scheduler.WORKER_SATURATION) == 1.1
        late = _held_chunks_run_late(plain)
    assert not late, f"held chunks {late} ran after every later chunk"


def test_comparisons_and_sweeps_on_the_cluster_equal_in_process(client):
    """compare() and sweep() with executor=client: the same Datasets as in-process."""
    sc = SCENARIOS_BY_MODEL["financing"]
    lever = next(iter(sc.levers))
    whatif = sc.with_values({f"levers.{lever}": sc.levers[lever] * 0.5 + 0.01})
    run = {"draws": 40, "chunk_size": 8, "seed": 6}
    xr.testing.assert_identical(threatsim.compare(sc, whatif, **run),
                                threatsim.compare(sc, whatif, executor=client, **run))
    grid = {f"levers.{lever}": [sc.levers[lever], sc.levers[lever] * 0.5 + 0.01]}
    xr.testing.assert_identical(threatsim.sweep(sc, grid, **run),
                                threatsim.sweep(sc, grid, executor=client, **run))


def test_a_killed_worker_loses_nothing(client):
    """SIGKILL a worker holding chunks mid-run: they are recomputed, the Dataset is identical."""
    sc = SCENARIOS_BY_MODEL["financing"]
    settings = {"draws": 24_000, "chunk_size": 1_000, "seed": 9}
    expected = threatsim.run(sc, progress=False, **settings)
    pids = client.run(os.getpid)
    killed: list[tuple[str, int]] = []

    class KillOneWorker:
        """Runs on the cluster; after the first result, kills a worker that has work."""

        def map_chunks(self, fn, tasks):
            for i, result in enumerate(DaskExecutor(client).map_chunks(fn, tasks)):
                if i == 0:
                    deadline = time.monotonic() + 5
                    while not killed and time.monotonic() < deadline:
                        busy = {a: len(t) for a, t in client.processing().items() if t}
                        if busy:
                            addr = max(busy, key=busy.__getitem__)
                            os.kill(pids[addr], signal.SIGKILL)
                            killed.append((addr, busy[addr]))
                yield result

    got = threatsim.run(sc, progress=False, executor=KillOneWorker(), **settings)
    assert killed, "no worker was killed"
    assert killed[0][1] >= 1, "no worker had chunks in flight when killed"
    xr.testing.assert_identical(expected, got)
    client.wait_for_workers(2, timeout=30)  # the nanny restarts it for the next tests


def test_work_in_flight_is_bounded(client):
    """At most max_in_flight chunks are submitted ahead of the results collected."""
    pulled = 0

    def tasks():
        nonlocal pulled
        for i in range(30):
            pulled += 1
            yield i

    ahead = []
    for done, _ in enumerate(DaskExecutor(client, max_in_flight=3).map_chunks(abs, tasks()),
                             start=1):
        ahead.append(pulled - done)
    assert len(ahead) == 30
    assert max(ahead) <= 3 - 1 + 1  # one new task is pulled just before a result is yielded
    assert max(ahead) >= 1


def test_stopping_early_cancels_the_queued_chunks(client):
    """Closing the result stream (Ctrl-C, an error) cancels what is still on the cluster."""
    scheduler = client.cluster.scheduler
    results = DaskExecutor(client, max_in_flight=4).map_chunks(time.sleep, [0.3] * 20)
    next(results)
    assert len(scheduler.tasks) >= 1
    results.close()
    deadline = time.monotonic() + 10
    while scheduler.tasks and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not scheduler.tasks


def test_a_client_is_recognised_without_importing_dask(client):
    """run() takes a distributed.Client as it is; junk is refused with a ScenarioError."""
    assert is_dask_client(client)
    assert isinstance(resolve_executor(client, 1), DaskExecutor)
    with pytest.raises(ScenarioError, match="executor"):
        resolve_executor("tcp://nowhere", 1)


def test_the_in_process_default_needs_no_dask():
    """With dask and distributed made unimportable, a plain run (and its summary) still works."""
    code = ("import sys\n"
            "sys.modules['dask'] = sys.modules['distributed'] = None  # as if not installed\n"
            "import threatsim\n"
            "sc = threatsim.load_scenario(sys.argv[1])\n"
            "threatsim.run(sc, draws=50, progress=False)\n"
            "threatsim.run(sc, draws=50, progress=False, keep='summary')\n"
            "assert sys.modules['dask'] is None and sys.modules['distributed'] is None\n")
    subprocess.run([sys.executable, "-c", code, str(SCENARIOS / "baseline.toml")], check=True,
                   cwd=ROOT)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_scheduler_fails_within_the_timeout_naming_the_address():
    """No scheduler at the address: SchedulerUnreachable (a ScenarioError) in about the timeout."""
    address = f"tcp://127.0.0.1:{_free_port()}"
    t0 = time.monotonic()
    with pytest.raises(SchedulerUnreachable) as info:
        connect(address, timeout=1.0)
    assert time.monotonic() - t0 < 6.0
    assert address in str(info.value)
    assert "1 s" in str(info.value)
    assert isinstance(info.value, ScenarioError)


def test_cli_unreachable_scheduler_exits_2_with_one_line(tmp_path: Path, capsys):
    """`threatsim run --scheduler ADDR` with nothing there: exit 2, the address named."""
    from threatsim.cli.main import main

    address = f"tcp://127.0.0.1:{_free_port()}"
    code = main(["run", str(SCENARIOS / "financing.toml"), "--draws", "100", "--scheduler",
                 address, "--scheduler-timeout", "1", "--out", str(tmp_path / "x.nc"),
                 "--no-plot", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert address in err
    assert len(err.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("where", [[], ["--cluster", "local", "--workers", "2"]],
                         ids=["in-process", "local-cluster"])
def test_ctrl_c_writes_nothing_and_says_so(tmp_path: Path, where):
    """SIGINT during a streamed run: exit 130, 'interrupted; nothing was written', no files."""
    out = tmp_path / "big.nc"
    proc = subprocess.Popen(
        [sys.executable, "-X", "faulthandler", "-m", "threatsim.cli", "run",
         str(SCENARIOS / "financing.toml"), "--draws", "3000000", "--chunk-size", "20000",
         "--keep", "draws", "--out", str(out), "--no-plot", "--quiet", *where],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        # A shell starts background jobs with SIGINT ignored, and children inherit
        # that (then Python installs no KeyboardInterrupt handler): give the run
        # the default disposition, as a terminal would.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 30
        while not list(tmp_path.glob(".big.nc.*")) and time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        assert list(tmp_path.glob(".big.nc.*")), "the run never started writing"
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        try:
            # 90 s: a fresh clone's CI once took over 30 s here on a busy machine
            _, err = proc.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            # where each thread waits (faulthandler), for whoever reads the failure
            proc.send_signal(signal.SIGABRT)
            _, err = proc.communicate(timeout=30)
            pytest.fail(f"no exit 90 s after Ctrl-C; its threads:\n{err[-6000:]}")
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode in INTERRUPTED, err
    assert "interrupted; nothing was written" in err
    assert "Traceback" not in err
    assert not list(tmp_path.iterdir())


def test_local_cluster_refuses_a_bad_worker_count():
    """--workers 0 with --cluster local is bad input, before anything starts."""
    with pytest.raises(ScenarioError, match="workers"):
        local_cluster(0)


def _silent_listener() -> tuple[socket.socket, str]:
    """A TCP port that accepts connections and never says a word (not a dask server)."""
    import threading

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    held: list = []

    def accept() -> None:
        try:
            while True:
                held.append(srv.accept())
        except OSError:  # closed by the test
            pass

    threading.Thread(target=accept, daemon=True).start()
    return srv, f"tcp://127.0.0.1:{srv.getsockname()[1]}"


def test_a_silent_listener_is_not_a_scheduler_and_fails_within_the_timeout():
    """Something that accepts the connection and never answers (a wrong port, a proxy)
    held Client(address, timeout=...) for ever: dask bounds only the TCP connect."""
    srv, address = _silent_listener()
    try:
        t0 = time.monotonic()
        with pytest.raises(SchedulerUnreachable) as info:
            connect(address, timeout=1.0)
        assert time.monotonic() - t0 < 4.0
    finally:
        srv.close()
    assert address in str(info.value)
    assert "1 s" in str(info.value)


def test_a_worker_address_is_refused_as_not_a_scheduler(client):
    """The address of a dask worker answers dask's protocol, but is no scheduler."""
    worker = next(iter(client.scheduler_info()["workers"]))
    with pytest.raises(SchedulerUnreachable, match="is a dask Worker, not a scheduler"):
        connect(worker, timeout=5.0)
    got = connect(client.scheduler.address, timeout=5.0)  # and the scheduler's is fine
    got.close()


def test_a_string_that_is_no_address_says_so():
    """No port: refused at once as no scheduler address (was also a __del__ traceback)."""
    t0 = time.monotonic()
    with pytest.raises(SchedulerUnreachable, match="is not a scheduler address"):
        connect("notanaddress", timeout=5.0)
    assert time.monotonic() - t0 < 4.0


@pytest.mark.parametrize("timeout", [0, -1, float("nan")])
def test_a_scheduler_timeout_must_be_positive(timeout):
    with pytest.raises(ScenarioError, match="scheduler-timeout"):
        connect("tcp://127.0.0.1:1", timeout=timeout)


def test_workers_with_a_scheduler_address_is_refused(capsys):
    """--workers means nothing with --scheduler (its cluster has the workers it has):
    refused, not silently ignored."""
    from threatsim.cli.main import main

    code = main(["run", str(SCENARIOS / "financing.toml"), "--scheduler",
                 "tcp://127.0.0.1:1", "--workers", "3", "--no-plot", "--quiet"])
    assert code == 2
    assert "workers=3" in capsys.readouterr().err


def test_chunks_the_scheduler_dropped_stop_the_run_with_an_executor_error(client):
    """Futures cancelled by no one here (the scheduler closed, or the connection to it
    was lost) were yielded as if their FutureCancelledError were a chunk's result."""
    import threading

    from distributed import Future

    scheduler = client.cluster.scheduler

    def drop_everything() -> None:
        keys = [k for k in list(scheduler.tasks) if str(k).startswith("threatsim-chunk")]
        client.cancel([Future(k, client) for k in keys], force=True)

    results = DaskExecutor(client, max_in_flight=4).map_chunks(time.sleep, [0.4] * 12)
    next(results)
    timer = threading.Timer(0.1, drop_everything)
    timer.start()
    with pytest.raises(ExecutorError, match=re.escape(client.scheduler.address)):
        for _ in results:
            pass
    timer.join()


def test_a_summary_keeps_its_tasks_on_the_cluster_bounded(client, monkeypatch):
    """A pilot of many small chunks was submitted all at once (chunks of 10 rows: 1,647
    tasks on the scheduler). With L in flight, a summary's pilot phase has at most 2 L
    there: a pilot of up to L chunks plus L held after it (a larger pilot goes through
    the bounded stream); then each held chunk is released once reduced, beside at most
    L + 1 reductions submitted. 3 L whatever the number of chunks (the old code: 35)."""
    from distributed.diagnostics.plugin import SchedulerPlugin

    class Peak(SchedulerPlugin):
        def __init__(self, scheduler) -> None:
            self.scheduler, self.peak = scheduler, 0

        def transition(self, key, start, finish, *args, **kwargs) -> None:
            live = sum(1 for ts in self.scheduler.tasks.values()
                       if ts.state not in ("released", "forgotten"))
            self.peak = max(self.peak, live)

    scheduler = client.cluster.scheduler
    sc = SCENARIOS_BY_MODEL["financing"]
    run = {"draws": 240, "chunk_size": 2, "seed": 3}
    limit = 3
    expected = {}
    for pilot_rows in (64, 4):  # a pilot of 32 chunks (> L), then of 2 (<= L)
        monkeypatch.setattr(exact_quantiles, "PILOT_ROWS", pilot_rows)
        expected[pilot_rows] = threatsim.run(sc, keep="summary", progress=False, **run)
        peak = Peak(scheduler)
        scheduler.add_plugin(peak, name=f"threatsim-test-peak-{pilot_rows}")
        try:
            got = threatsim.run(sc, keep="summary", progress=False,
                                executor=DaskExecutor(client, max_in_flight=limit), **run)
        finally:
            scheduler.remove_plugin(name=f"threatsim-test-peak-{pilot_rows}")
        xr.testing.assert_identical(expected[pilot_rows], got)
        assert 1 <= peak.peak <= 3 * limit, (pilot_rows, peak.peak)


def test_a_scheduler_killed_mid_run_stops_it_with_one_line(tmp_path: Path):
    """`threatsim run --scheduler ADDR` whose scheduler is killed (kill -9) mid-run: exit
    2, one line naming the scheduler, no output file; not a TypeError from a cancelled
    future taken for a chunk's result, nor dask's reconnection tracebacks."""
    bindir = Path(sys.executable).parent
    dask_cli = [str(bindir / "dask")] if (bindir / "dask").exists() else [
        sys.executable, "-m", "distributed.cli.dask_scheduler"]
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    scheduler = subprocess.Popen([*dask_cli, "scheduler", "--port", str(port),
                                  "--no-dashboard"], **quiet)
    worker = None
    run = None
    try:
        client = None
        deadline = time.monotonic() + 60
        while client is None:
            try:
                client = connect(address, timeout=2)
            except SchedulerUnreachable:
                assert time.monotonic() < deadline, "the scheduler never came up"
        worker = subprocess.Popen([*dask_cli, "worker", address, "--nthreads", "1",
                                   "--no-dashboard"], **quiet)
        client.wait_for_workers(1, timeout=60)
        client.close()
        out = tmp_path / "lost.nc"
        run = subprocess.Popen(
            [sys.executable, "-m", "threatsim.cli", "run", str(ROOT / "benchmarks/w2.toml"),
             "--draws", "1000000", "--chunk-size", "4096", "--keep", "draws", "--out",
             str(out), "--scheduler", address, "--no-plot", "--quiet"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        deadline = time.monotonic() + 60
        while not list(tmp_path.glob(".lost.nc.*")) and time.monotonic() < deadline:
            assert run.poll() is None, run.communicate()
            time.sleep(0.05)
        assert list(tmp_path.glob(".lost.nc.*")), "the run never started writing"
        scheduler.kill()
        _, err = run.communicate(timeout=120)
    finally:
        for proc in (run, worker, scheduler):
            if proc is not None and proc.poll() is None:
                proc.kill()
    assert run.returncode == 2, err
    assert f"the dask scheduler at {address} dropped the run's chunks" in err
    assert len(err.strip().splitlines()) == 1, err
    assert not list(tmp_path.iterdir())


def test_closing_a_cluster_is_not_cut_short_by_ctrl_c(monkeypatch):
    """Ctrl-C while the command's client closed cut close() short; the client's finaliser
    then closed it again at exit, waited 60 s and printed a TimeoutError. The close now
    finishes, and the interrupt is raised after it."""
    from threatsim.core.interrupts import InterruptGuard
    from threatsim.engine import executors
    from threatsim.engine.executors import executor_from_options

    class Client:
        closed = False

        def close(self) -> None:
            guard._handler(signal.SIGINT, None)  # as Python calls it on Ctrl-C
            self.closed = True

    client = Client()
    monkeypatch.setattr(executors, "local_cluster", lambda workers: client)
    with (InterruptGuard() as guard, pytest.raises(KeyboardInterrupt),
          executor_from_options(cluster="local", workers=1) as got):
        assert got is client
    assert client.closed

"""Where a LocalCluster run's CPU goes: the client process, the workers, dask's tasks.

``scaling.py`` times one worker against two; this says why the ratio is what it is.
For each number of workers it runs one of scaling.py's jobs (the same code the
bench times) and reads, per run:

* the wall time;
* the client process's CPU time (``resource.getrusage``): on a LocalCluster it
  holds threatsim's own work (sampling, the pilot study, merging every chunk's
  counts and windows) and also dask's scheduler, client and the workers' nannies;
* the workers' CPU time, summed (``getrusage`` in each worker, through ``client.run``);
* from one more run under ``distributed.get_task_stream`` (not timed: the plugin
  costs the scheduler CPU), the tasks the run sent and the seconds they computed.

Where every process shares the machine's cores, a run can take no less than its
CPU time over the cores (and no less than its workers' CPU over the workers); the
last column divides the one-worker run's median wall time by that bound of the
run with more workers: the most it could gain over one worker while it uses this
much CPU. Nothing here is a target; ``make bench`` measures the targets.

    .venv/bin/python benchmarks/cluster_accounting.py                      # W1, 10^8 draw-months
    .venv/bin/python benchmarks/cluster_accounting.py --job w2-summary --draws 166666 --chunk 8192
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time

import numpy as np
import scaling  # this folder's module (the script's own folder is on sys.path): the bench's jobs


def _cpu_seconds() -> float:
    use = resource.getrusage(resource.RUSAGE_SELF)
    return use.ru_utime + use.ru_stime


def _workers_cpu(client) -> float:
    return float(sum(client.run(_cpu_seconds).values()))


def account(job: str, draws: int, chunk: int, workers: int, repeat: int) -> dict:
    """Median wall, client CPU and workers' CPU of *repeat* runs on a LocalCluster of
    *workers*, and the tasks of one more run (see the module's docstring)."""
    from distributed import get_task_stream

    from threatsim.engine.cluster import local_cluster

    with local_cluster(workers) as client:
        run = scaling.job(job, draws, client, chunk)
        scaling.warm_up(job, client)
        walls, client_cpu, workers_cpu = [], [], []
        for _ in range(repeat):
            c0, w0, t0 = _cpu_seconds(), _workers_cpu(client), time.perf_counter()
            run()
            walls.append(time.perf_counter() - t0)
            client_cpu.append(_cpu_seconds() - c0)
            workers_cpu.append(_workers_cpu(client) - w0)
        with get_task_stream(client) as stream:
            run()
        computed = sum(part["stop"] - part["start"] for task in stream.data
                       for part in task["startstops"] if part["action"] == "compute")
    return {"workers": workers, "wall": statistics.median(walls),
            "walls": walls, "client_cpu": statistics.median(client_cpu),
            "workers_cpu": statistics.median(workers_cpu), "tasks": len(stream.data),
            "computed": computed}


def least_wall(rec: dict, cores: int) -> float:
    """The shortest wall time this much CPU allows: all of it over the cores, the
    workers' share over the workers."""
    return max((rec["client_cpu"] + rec["workers_cpu"]) / cores,
               rec["workers_cpu"] / rec["workers"])


def table(records: list[dict], cores: int) -> str:
    one = next((r for r in records if r["workers"] == 1), None)
    lines = ["| workers | wall (runs) | client CPU | workers' CPU | tasks | tasks' compute "
             f"| least wall on {cores} cores | 1 worker's wall / that |",
             "|---|---|---|---|---|---|---|---|"]
    for r in records:
        bound = least_wall(r, cores)
        cap = f"{one['wall'] / bound:.2f}x" if one is not None and r is not one else "-"
        runs = ", ".join(f"{w:.3f}" for w in r["walls"])
        lines.append(f"| {r['workers']} | {r['wall']:.3f} s ({runs}) | {r['client_cpu']:.3f} s "
                     f"| {r['workers_cpu']:.3f} s | {r['tasks']} | {r['computed']:.3f} s "
                     f"| {bound:.3f} s | {cap} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--job", default="w1-summary", choices=["w1", "w1-summary", "w2",
                                                             "w2-summary"])
    ap.add_argument("--draws", type=int, default=1_666_666,
                    help="draws (default 1,666,666: 10^8 draw-months)")
    ap.add_argument("--chunk", type=int, default=16_384,
                    help="draws per chunk (default 16,384, what scaling.py gives W1 at 10^8)")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    if args.draws < 1 or args.chunk < 1 or args.repeat < 1 or min(args.workers) < 1:
        ap.error("--draws, --chunk, --repeat and --workers must be whole numbers >= 1")
    np.seterr(all="ignore")
    cores = os.cpu_count() or 1
    records = []
    for workers in args.workers:
        records.append(account(args.job, args.draws, args.chunk, workers, args.repeat))
        print(f"  {workers} worker(s): {records[-1]['wall']:.3f} s", file=sys.stderr)
    print(f"{args.job}, {args.draws:,} draws in chunks of {args.chunk:,}, medians of "
          f"{args.repeat} runs, {cores} cores:\n")
    print(table(records, cores))


if __name__ == "__main__":
    main()

"""Calibrating scenarios/baseline.toml on 20 observations (issue 20's speed section).

The observations are synthetic: a known trajectory (draw 0 of a run of the
baseline with another seed) seen at 5 months in 4 outputs (reserves,
population, detained_foreign, returned_home), each as a range of +-20 % around
the trajectory's value, with the default reporting error. Times a prior run of
``--draws`` draws (default 10^5) and the calibration on it (``method="auto"``:
importance weights, or SMC when they are not trusted, whose proposals are more
model runs), and reports the seconds and the share spent simulating (the prior
run plus every model run inside the calibration). Nothing is asserted.

    python benchmarks/bench_calibrate.py [--draws 100000] [--seed 1] [--workers 1]

With ``--rolling`` it times the rolling-origin evaluation instead
(:func:`threatsim.outputs.rolling.rolling_origin`) over 8 origins: ranges of
reserves and population at 9 months (every third month), so each origin
calibrates on the months up to it and scores the rest; the share simulating
counts the prior run, the model runs inside each calibration and each origin's
posterior run.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import threatsim
from threatsim.outputs import calibration
from threatsim.outputs.calibration import calibrate
from threatsim.outputs.observations import observations_from_dict

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _record import emit

HERE = Path(__file__).resolve().parent
SCENARIO = HERE.parent / "scenarios" / "baseline.toml"
OUTPUTS = ("reserves", "population", "detained_foreign", "returned_home")
MONTHS = (6, 12, 18, 24, 30)


def synthetic_observations(sc: threatsim.Scenario, seed: int,
                           outputs: tuple[str, ...] = OUTPUTS,
                           months: tuple[int, ...] = MONTHS) -> Any:
    """Ranges around draw 0 of a run with *seed* + 1 (a known trajectory): 20 by default."""
    truth = threatsim.run(sc, draws=8, seed=seed + 1, progress=False)
    rows = []
    for name in outputs:
        da = truth[name].isel(draw=0)
        extra = [d for d in da.dims if d != "time"]
        if extra:
            da = da.sum(extra)
        where = {d: "all" for d in extra}  # summed over model dims such as region
        for m in months:
            x = float(da.isel(time=m))
            rows.append({**where, "id": f"{name}_{m}", "variable": name, "date": sc.month_label(m),
                         "low": 0.8 * x, "high": 1.2 * x + 1.0,
                         "unit": truth[name].attrs["units"],
                         "assumption": "synthetic: a known trajectory of the baseline"})
    return observations_from_dict({"document": "synthetic (benchmark)", "observation": rows})


class _Timer:
    """Seconds spent inside one function of a module, while installed."""

    def __init__(self, module: Any, name: str, generator: bool = False) -> None:
        self.module, self.name, self.seconds = module, name, 0.0
        self.original = getattr(module, name)
        self.generator = generator

    def __enter__(self) -> _Timer:
        original = self.original

        def timed(*a: Any, **kw: Any) -> Any:
            t = time.perf_counter()
            try:
                return original(*a, **kw)
            finally:
                self.seconds += time.perf_counter() - t

        def timed_iter(*a: Any, **kw: Any) -> Iterator[Any]:
            it = original(*a, **kw)
            while True:
                t = time.perf_counter()
                try:
                    item = next(it)
                except StopIteration:
                    self.seconds += time.perf_counter() - t
                    return
                self.seconds += time.perf_counter() - t
                yield item

        setattr(self.module, self.name, timed_iter if self.generator else timed)
        return self

    def __exit__(self, *exc: object) -> None:
        setattr(self.module, self.name, self.original)


def bench_rolling(sc: threatsim.Scenario, draws: int, seed: int, workers: int) -> None:
    """Rolling-origin evaluation over 8 origins (see the module docstring)."""
    from threatsim.outputs import rolling

    obs = synthetic_observations(sc, seed, ("reserves", "population"),
                                 tuple(range(3, 28, 3)))
    with _Timer(calibration, "evaluate", generator=True) as inner, \
            _Timer(rolling, "run_scenario") as runs:
        t0 = time.perf_counter()
        board = rolling.rolling_origin(sc, obs, draws=draws, seed=seed, executor=workers)
        total = time.perf_counter() - t0
    simulating = inner.seconds + runs.seconds
    methods = ", ".join(sorted(set(board["method"].values.tolist())))
    print(f"baseline, rolling origin: {board.sizes['origin']} origins, {len(obs)} "
          f"observations, {draws:,} draws: {total:.1f} s ({runs.seconds:.1f} s prior and "
          f"posterior runs, {inner.seconds:.1f} s model runs inside the calibrations); "
          f"{simulating / total:.0%} simulating; methods {methods}")
    emit("rolling_origin_baseline", "threatsim", draws, [total], draws, "prior draws/s",
         checked=True, share_simulating=round(simulating / total, 3),
         origins=int(board.sizes["origin"]), observations=len(obs))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--rolling", action="store_true",
                    help="time the rolling-origin evaluation over 8 origins instead")
    args = ap.parse_args()
    sc = threatsim.load_scenario(SCENARIO)
    if args.rolling:
        bench_rolling(sc, args.draws, args.seed, args.workers)
        return
    obs = synthetic_observations(sc, args.seed)
    t0 = time.perf_counter()
    prior = threatsim.run(sc, draws=args.draws, seed=args.seed, executor=args.workers,
                          progress=False)
    t_prior = time.perf_counter() - t0
    with _Timer(calibration, "evaluate", generator=True) as inner:
        t1 = time.perf_counter()
        post = calibrate(sc, obs, prior=prior, executor=args.workers)
        t_cal = time.perf_counter() - t1
    total = t_prior + t_cal
    simulating = t_prior + inner.seconds
    print(f"baseline, {len(obs)} observations, prior of {args.draws:,} draws: "
          f"{total:.1f} s ({t_prior:.1f} s prior run, {t_cal:.1f} s calibration, of which "
          f"{inner.seconds:.1f} s model runs); {simulating / total:.0%} simulating; "
          f"method {post.attrs['method']}, ESS {float(post.attrs['ess']):,.0f}")
    emit("calibrate_baseline", "threatsim", args.draws, [total], args.draws, "prior draws/s",
         checked=True, share_simulating=round(simulating / total, 3),
         prior_seconds=round(t_prior, 3), calibration_seconds=round(t_cal, 3),
         method=post.attrs["method"], ess=float(post.attrs["ess"]),
         simulations=int(post.attrs["simulations"]), observations=len(obs))


if __name__ == "__main__":
    main()

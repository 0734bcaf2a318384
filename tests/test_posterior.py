"""Runs on a posterior sample (issue 20 part 2): run, compare, sweep, score on ``--posterior``.

The toy model (tests/analysis_toy.py) keeps its stock at ``stock0`` times the
decay lever's product, so a range observation of the stock conditions
``stock0`` directly. Tolerances are Monte Carlo errors, 5 standard errors
(two-sided chance of a false failure ~6e-7 per check).
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import xarray as xr
from tests.analysis_toy import toy_dict, toy_toml

from threatsim.analysis.compare import compare
from threatsim.analysis.sweep import sweep
from threatsim.cli.main import main
from threatsim.core.errors import ScenarioError
from threatsim.engine.runner import run
from threatsim.inputs.scenario import load_scenario, scenario_from_dict
from threatsim.outputs.calibration import calibrate
from threatsim.outputs.observations import ObservationSet, observations_from_dict
from threatsim.outputs.scores import crps_ensemble
from threatsim.results import open_posterior, posterior_from_dataset, write_netcdf

K_SE = 5.0


def _obs(*entries: dict) -> ObservationSet:
    rows = [{"variable": "stock", "unit": "usd", **e} for e in entries]
    return observations_from_dict({"document": "synthetic (test)", "observation": rows})


def _toy(draws: int = 2000, seed: int = 3, **kw):
    return scenario_from_dict(toy_dict(draws=draws, seed=seed, **kw))


def _posterior(sc, low: float = 150.0, high: float = 190.0, seed: int = 3) -> xr.Dataset:
    return calibrate(sc, _obs({"id": "r", "date": "2020-03", "low": low, "high": high}),
                     seed=seed, errors={"r": 0.05})


def test_a_run_on_a_posterior_draws_its_parameters_from_it(toy_model):
    sc = _toy(shock_rate=0.0)
    post = _posterior(sc)
    n = 4000
    ds = run(sc, draws=n, seed=11, posterior=posterior_from_dataset(post), progress=False)
    w = post["weight"].values
    for name in ("stock0", "north_share"):
        x = post[name].values
        mean = float(np.sum(w * x))
        sd = math.sqrt(float(np.sum(w * (x - mean) ** 2)))
        # the resample's mean has sd at most sd / sqrt(n) (systematic resampling: less)
        got = float(ds[name].mean())
        assert abs(got - mean) < K_SE * sd / math.sqrt(n), (name, got, mean)
    # the prior's mean of stock0 is 150; the posterior's (range 150-190) is well above
    assert float(ds["stock0"].mean()) > 160
    # each draw is one posterior draw: its parameters together, never mixed
    pairs = set(zip(post["stock0"].values.tolist(), post["north_share"].values.tolist(),
                    strict=True))
    got_pairs = zip(ds["stock0"].values.tolist(), ds["north_share"].values.tolist(),
                    strict=True)
    assert all(p in pairs for p in got_pairs)
    # fixed values stay the scenario's, and the model ran on the resampled values
    assert np.all(ds["shock_share"].values == 0.5)
    np.testing.assert_array_equal(ds["stock"].isel(time=0).values, ds["stock0"].values)


def test_the_resample_is_a_function_of_the_seed_and_is_shuffled(toy_model):
    sc = _toy()
    post = posterior_from_dataset(_posterior(sc))
    a = run(sc, draws=1000, seed=5, posterior=post, progress=False)
    b = run(sc, draws=1000, seed=5, posterior=post, progress=False, chunk_size=77)
    c = run(sc, draws=1000, seed=6, posterior=post, progress=False)
    assert a.identical(b.assign_attrs(chunk_size=a.attrs["chunk_size"]))
    assert not np.array_equal(a["stock0"].values, c["stock0"].values)
    # shuffled: with the posterior's draws in increasing order, the first half of the
    # run is still a sample of the whole (systematic resampling alone keeps the order)
    ordered = posterior_from_dataset(_posterior(sc).sortby("stock0"))
    x = run(sc, draws=1000, seed=5, posterior=ordered, progress=False)["stock0"].values
    assert abs(x[:500].mean() - x.mean()) < K_SE * x.std() / math.sqrt(500)


def test_provenance_and_run_id_record_the_posterior(toy_model, tmp_path):
    sc = _toy()
    p1 = _posterior(sc)
    p2 = _posterior(sc, low=110.0, high=140.0)
    f1 = write_netcdf(p1, tmp_path / "p1.nc")
    post1 = open_posterior(f1)
    assert post1.id == p1.attrs["posterior_id"]  # read back, the same id
    plain = run(sc, draws=200, progress=False)
    on1 = run(sc, draws=200, posterior=f1, progress=False)
    on2 = run(sc, draws=200, posterior=posterior_from_dataset(p2), progress=False)
    assert plain.attrs["run_id"] == sc.run_id
    assert len({plain.attrs["run_id"], on1.attrs["run_id"], on2.attrs["run_id"]}) == 3
    assert on1.attrs["scenario_run_id"] == sc.run_id
    assert on1.attrs["posterior_id"] == post1.id
    assert on1.attrs["posterior_observations"] == '["r"]'
    assert on1.attrs["posterior_file"] == str(f1)
    assert "posterior_id" not in plain.attrs
    # a summary run and a run streamed to a file record it too
    summ = run(sc, draws=200, posterior=post1, keep="summary", progress=False)
    assert summ.attrs["run_id"] == on1.attrs["run_id"]
    streamed = run(sc, draws=200, posterior=post1, out=tmp_path / "d.nc", progress=False)
    assert xr.open_dataset(streamed.attrs["draws_file"]).attrs["posterior_id"] == post1.id


def test_a_checkpoint_made_without_a_posterior_is_not_resumed_with_one(toy_model, tmp_path):
    sc = _toy()
    post = posterior_from_dataset(_posterior(sc))
    run(sc, draws=300, checkpoint=tmp_path / "ck", progress=False)
    with pytest.raises(ScenarioError, match="cannot resume"):
        run(sc, draws=300, checkpoint=tmp_path / "ck", resume=True, posterior=post,
            progress=False)


def test_compare_on_a_posterior_stays_paired_draw_by_draw(toy_model):
    # shocks on: chance matters; the what-if changes only the decay lever
    base = _toy(shock_rate=0.3)
    whatif = base.with_values({"levers.decay": 0.1})
    post = posterior_from_dataset(_posterior(base))
    cds = compare(base, whatif, draws=1000, seed=9, posterior=post)
    for name in ("stock0", "north_share"):
        np.testing.assert_array_equal(cds[name].sel(scenario="base").values,
                                      cds[name].sel(scenario="whatif").values)
    # both arms are the runs on the posterior, so their values are the posterior's
    alone = run(base, draws=1000, seed=9, posterior=post, progress=False)
    np.testing.assert_array_equal(cds["stock0"].sel(scenario="base").values,
                                  alone["stock0"].values)
    # equal chance: the number of shocks each month (stock ratio = (1 - decay) 0.5^hits)
    # is the same in both arms, draw by draw
    s = cds["stock"].values  # (scenario, draw, time)
    hits_base = np.log2(s[0, :, :-1] / s[0, :, 1:])
    hits_whatif = np.log2(0.9 * s[1, :, :-1] / s[1, :, 1:])
    np.testing.assert_allclose(hits_base, hits_whatif, atol=1e-9)
    assert hits_base.max() >= 1  # there were shocks to pair
    # the what-if's arm records the posterior too
    assert cds.attrs["posterior_id"] == post.id
    assert cds.attrs["whatif_run_id"] == post.run_id(whatif.run_id)


def test_sweep_on_a_posterior_gives_every_point_the_same_draws(toy_model):
    sc = _toy()
    post = posterior_from_dataset(_posterior(sc))
    ds = sweep(sc, {"levers.decay": [0.0, 0.2]}, draws=500, posterior=post)
    x = ds["stock0"].values
    np.testing.assert_array_equal(x[0], x[1])
    assert ds.attrs["run_id"] == post.run_id(sc.run_id)
    with pytest.raises(ScenarioError, match=r"parameters\.north_share"):
        sweep(sc, {"parameters.north_share.range": [[0.1, 0.5]]}, draws=50, posterior=post)


def test_a_what_if_that_extends_the_calibrated_scenario_is_allowed(toy_model, tmp_path):
    base = toy_toml(tmp_path / "toy.toml", draws=500)
    whatif = tmp_path / "faster.toml"
    whatif.write_text(f'extends = "{base.name}"\nname = "faster"\n[levers]\ndecay = 0.1\n')
    post = posterior_from_dataset(_posterior(load_scenario(base)))
    ds = run(load_scenario(whatif), posterior=post, progress=False)
    assert ds.attrs["posterior_scenario"] == "toy"


@pytest.mark.parametrize(("change", "message"), [
    ({"parameters.north_share.range": [0.1, 0.5]},
     "parameters.north_share is not the parameter the posterior was calibrated on"),
    ({"parameters.shock_rate": {"dist": "uniform", "range": [0.0, 0.1],
                                "unit": "events_per_month", "assumption": "test"}},
     "parameters.shock_rate is sampled by scenario 'toy' but the posterior"),
    ({"parameters.north_share": {"dist": "point", "value": 0.4, "unit": "share",
                                 "assumption": "test"}},
     "parameters.north_share is sampled in the posterior"),
])
def test_a_scenario_whose_sampled_parameters_differ_is_refused(toy_model, change, message):
    sc = _toy()
    post = posterior_from_dataset(_posterior(sc))
    with pytest.raises(ScenarioError) as err:
        run(sc.with_values(change), draws=10, posterior=post, progress=False)
    assert message in str(err.value)


# -- the command line ---------------------------------------------------------------


OBS_TOML = """document = "synthetic (test)"
[[observation]]
id = "stock_march"
variable = "stock"
date = "2020-03"
low = 150.0
high = 190.0
unit = "usd"
assumption = "synthetic, for the test"
"""


@pytest.fixture
def calibrated(toy_model, tmp_path):
    sc_path = toy_toml(tmp_path / "toy.toml", draws=1000)
    obs = tmp_path / "obs.toml"
    obs.write_text(OBS_TOML)
    post = tmp_path / "post.nc"
    assert main(["calibrate", str(sc_path), str(obs), "--out", str(post), "--quiet"]) == 0
    return sc_path, obs, post


def test_cli_run_compare_sweep_score_on_a_posterior(calibrated, tmp_path, capsys):
    sc_path, obs, post = calibrated
    capsys.readouterr()
    out = tmp_path / "run.nc"
    assert main(["run", str(sc_path), "--posterior", str(post), "--out", str(out),
                 "--no-plot", "--quiet"]) == 0
    said = capsys.readouterr().out
    assert f"parameters drawn from posterior {open_posterior(post).id} ({post}; " in said
    assert f"conditioned on 1 observation of {obs}: stock_march" in said
    ds = xr.open_dataset(out)
    assert ds.attrs["posterior_observations"] == '["stock_march"]'
    assert ds.attrs["posterior_observation_file"] == str(obs)
    assert ds.attrs["run_id"] != load_scenario(sc_path).run_id
    assert float(ds["stock0"].min()) > 140  # the posterior of a 150-190 range
    ds.close()
    whatif = tmp_path / "faster.toml"
    whatif.write_text(f'extends = "{sc_path.name}"\nname = "faster"\n[levers]\ndecay = 0.1\n')
    cmp_out = tmp_path / "cmp.nc"
    assert main(["compare", str(sc_path), str(whatif), "--posterior", str(post),
                 "--out", str(cmp_out), "--quiet"]) == 0
    said = capsys.readouterr().out
    assert (f"both runs draw their parameters from posterior {open_posterior(post).id} "
            "(conditioned on 1 observation: stock_march), the same draw by draw") in said
    cds = xr.open_dataset(cmp_out)
    np.testing.assert_array_equal(cds["stock0"].values[0], cds["stock0"].values[1])
    cds.close()
    sw_out = tmp_path / "sw.nc"
    assert main(["sweep", str(sc_path), "--set", "levers.decay=0,0.1", "--posterior",
                 str(post), "--out", str(sw_out), "--quiet"]) == 0
    assert xr.open_dataset(sw_out).attrs["posterior_id"] == open_posterior(post).id
    # score takes the posterior run's file as any run's, or runs scenarios on it
    assert main(["score", str(out), str(obs)]) == 0
    assert main(["score", "--scenarios", str(sc_path), str(whatif), "--obs", str(obs),
                 "--posterior", str(post), "--draws", "300"]) == 0
    assert "stock_march" in capsys.readouterr().out


@pytest.mark.parametrize(("args", "message"), [
    (["run", "{sc}", "--posterior", "{tmp}/none.nc"], "none.nc: no such results file"),
    (["run", "{sc}", "--posterior", "{sc}"], "is not a NetCDF results file"),
    (["run", "{sc}", "--posterior", "{tmp}/plain.nc"],
     "plain.nc: weight is missing: not a posterior file"),
    (["run", "scenarios/financing.toml", "--posterior", "{post}", "--draws", "10"],
     "was made from scenario 'toy' (model toy), not for scenario 'financing'"),
    (["run", "{tmp}/wider.toml", "--posterior", "{post}"],
     "parameters.north_share is not the parameter the posterior was calibrated on"),
    (["run", "{sc}", "--posterior", "{post}", "--precision", "0.1"],
     "--posterior='"),
    (["sensitivity", "{sc}", "--output", "stock", "--posterior", "{post}"],
     "Sobol indices (Saltelli designs) assume independent parameters"),
    (["score", "{tmp}/plain.nc", "{obs}", "--posterior", "{post}"],
     "--posterior='"),
])
def test_cli_bad_posteriors_exit_2(calibrated, tmp_path, capsys, args, message):
    sc_path, obs, post = calibrated
    write_netcdf(run(load_scenario(sc_path), draws=20, progress=False), tmp_path / "plain.nc")
    (tmp_path / "wider.toml").write_text(
        f'extends = "{sc_path.name}"\n[parameters.north_share]\nrange = [0.1, 0.6]\n')
    capsys.readouterr()
    argv = [a.format(sc=sc_path, tmp=tmp_path, post=post, obs=obs) for a in args]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


# -- calibrating helps forecast the same trajectory later ----------------------------


def _crps_gain(reps: int, draws: int, seed: int) -> tuple[float, float]:
    """Mean and standard error, over *reps* known trajectories, of the prior run's CRPS
    minus the posterior run's, for a later observation of the same trajectory.

    Each replication draws a true ``stock0`` from the prior (uniform 100-200) and a
    decay of 5 % a month; it reports the stock at months 2 and 4 with a normal
    reporting error of 5 % (the likelihood calibrate assumes, sd 5 % of the figure),
    calibrates on them, and scores the runs' stock at month 10 against the truth.
    """
    rng = np.random.default_rng(seed)
    gains = []
    for i in range(reps):
        sc = _toy(draws=draws, seed=seed * 100 + i, decay=0.05, horizon=12)
        truth = rng.uniform(100.0, 200.0) * 0.95 ** np.arange(13)
        rows = []
        for m in (2, 4):
            y = truth[m] / (1 + 0.05 * rng.standard_normal())
            rows.append({"id": f"m{m}", "date": f"2020-{m + 1:02d}", "point": float(y)})
        post = calibrate(sc, _obs(*rows), rel_error=0.05)
        prior_run = run(sc, progress=False)
        post_run = run(sc, posterior=posterior_from_dataset(post), progress=False)
        later = 10
        gains.append(float(crps_ensemble(prior_run["stock"].isel(time=later).values,
                                         truth[later]))
                     - float(crps_ensemble(post_run["stock"].isel(time=later).values,
                                           truth[later])))
    g = np.asarray(gains)
    return float(g.mean()), float(g.std(ddof=1) / math.sqrt(reps))


def test_calibrating_lowers_the_crps_of_later_observations(toy_model):
    # 100 replications (about 3 s): measured gain 8.3 $ with a standard error of 0.5 $
    # (seed 2); without the posterior the gain would be 0
    mean, se = _crps_gain(reps=100, draws=2000, seed=2)
    assert mean > K_SE * se, (mean, se)


# -- the scenario file's posterior key ------------------------------------------------


def _with_top_line(path, line: str):
    """Put a top-level key first in a TOML file (after a table it would belong to it)."""
    path.write_text(line + "\n" + path.read_text())
    return path


def _files_with_posterior(tmp_path, folder: str = "a"):
    """A toy scenario, its posterior in results/, and a what-if naming it by a relative
    path through extends (the parent names it; the child sits elsewhere)."""
    sc = _toy(draws=400, seed=3, shock_rate=0.1)
    post = _posterior(sc)
    base = tmp_path / folder
    (base / "results").mkdir(parents=True)
    (base / "whatifs").mkdir()
    write_netcdf(post, base / "results" / "post.nc")
    _with_top_line(toy_toml(base / "toy.toml", draws=400, seed=3, shock_rate=0.1),
                   'posterior = "results/post.nc"')
    (base / "whatifs" / "faster.toml").write_text(
        'extends = "../toy.toml"\nname = "faster"\n[levers]\ndecay = 0.05\n')
    return base, post


def test_a_posterior_key_runs_as_the_flag_does_relative_to_its_file(toy_model, tmp_path,
                                                                    monkeypatch):
    base, post = _files_with_posterior(tmp_path)
    monkeypatch.chdir(tmp_path)  # not the scenario's folder: the path is the file's
    keyed = load_scenario(base / "toy.toml")
    assert keyed.posterior == str((base / "results" / "post.nc").resolve())
    by_key = run(keyed, progress=False)
    plain = _toy(draws=400, seed=3, shock_rate=0.1)
    by_flag = run(plain, posterior=posterior_from_dataset(post), progress=False)
    for name in ("stock0", "stock"):
        np.testing.assert_array_equal(by_key[name].values, by_flag[name].values)
    assert by_key.attrs["run_id"] == by_flag.attrs["run_id"]
    # the what-if inherits it through extends, from a folder of its own
    child = load_scenario(base / "whatifs" / "faster.toml")
    assert child.posterior == keyed.posterior
    cds = compare(keyed, child, progress=False)
    assert "posterior_id" in cds.attrs


def test_the_run_id_does_not_depend_on_where_the_files_lie(toy_model, tmp_path):
    one, _ = _files_with_posterior(tmp_path, "one")
    two, _ = _files_with_posterior(tmp_path, "two")
    a = run(load_scenario(one / "toy.toml"), progress=False)
    b = run(load_scenario(two / "toy.toml"), progress=False)
    assert a.attrs["run_id"] == b.attrs["run_id"]
    bare = _toy(draws=400, seed=3, shock_rate=0.1)
    assert load_scenario(one / "toy.toml").run_id == bare.run_id


def test_what_refuses_a_posterior_key_says_why(toy_model, tmp_path):
    from threatsim.analysis.sensitivity import sensitivity

    base, _ = _files_with_posterior(tmp_path)
    keyed = load_scenario(base / "toy.toml")
    with pytest.raises(ScenarioError, match=r"posterior=.* is not taken by sensitivity"):
        sensitivity(keyed, "stock", n=8, draws=50)
    with pytest.raises(ScenarioError, match=r"posterior=.* is not taken by calibrate"):
        calibrate(keyed, _obs({"id": "r", "date": "2020-03", "low": 150.0, "high": 190.0}))
    with pytest.raises(ScenarioError, match="must name the posterior the base names"):
        compare(_toy(draws=400, seed=3, shock_rate=0.1), keyed, progress=False)


@pytest.mark.parametrize(("value", "message"), [
    ("5", "posterior=5 must be the path (a string) of a posterior file"),
    ('""', "posterior='' must be the path"),
])
def test_a_bad_posterior_key_is_a_clear_error(toy_model, tmp_path, value, message):
    path = _with_top_line(toy_toml(tmp_path / "toy.toml"), f"posterior = {value}")
    with pytest.raises(ScenarioError, match=re.escape(message)):
        load_scenario(path)


def test_a_posterior_key_naming_no_file_exits_2(toy_model, tmp_path, capsys):
    path = _with_top_line(toy_toml(tmp_path / "toy.toml"), 'posterior = "results/none.nc"')
    assert main(["run", str(path), "--quiet", "--out", str(tmp_path / "r.nc")]) == 2
    err = capsys.readouterr().err
    assert "none.nc: no such results file" in err
    assert not (tmp_path / "r.nc").exists()


def test_a_run_to_a_precision_refuses_a_scenarios_posterior(toy_model, tmp_path, capsys):
    from threatsim.analysis.convergence import run_to_precision

    base, _ = _files_with_posterior(tmp_path)
    with pytest.raises(ScenarioError, match="does not go with a run to a precision"):
        run_to_precision(load_scenario(base / "toy.toml"), 0.1, draws=100)
    assert main(["run", str(base / "toy.toml"), "--precision", "0.1", "--quiet"]) == 2
    assert "does not go with a run to a precision" in capsys.readouterr().err

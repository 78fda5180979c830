"""Scale-out sweeps: packing, local vs Dask equality, worker and client deaths, failures, SLURM, CLI."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import supdyn.sweep as sweep_mod
import supdyn.sweep.cluster as cluster_mod
import supdyn.sweep.tasks as tasks_mod
from supdyn.cli import main
from supdyn.cli.sweep import executor_from_args
from supdyn.config import from_dict
from supdyn.store import Store
from supdyn.sweep import SlurmOptions, build_slurm_cluster, make_tasks, run_steps, run_sweep, submit_kwargs


def _cfg(**kw):
    base = {"n_features": 32, "d_hidden": 8, "t_max": 10.0, "batch": 64, "eval_size": 256}
    base.update(kw)
    return from_dict(base)


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Train in this process with 1 intra-op thread, like a Dask worker (and fast on 2 shared cores).

    The equality test thus compares like with like; on these tiny tensors (below torch's parallel
    grain size) the thread count does not change the bits anyway.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _stored_runs(store, configs):
    return {c.run_id: store.load(c) for c in configs}


# -- packing and plumbing --------------------------------------------------------------------------
def test_tasks_group_by_shape_sort_by_steps_and_balance():
    cfgs = [_cfg(seed=s, t_max=float(10 + 10 * (s % 3))) for s in range(17)]
    cfgs += [_cfg(seed=s, d_hidden=4) for s in range(3)]
    tasks = make_tasks(cfgs, max_models=16)
    assert sorted(len(t) for t in tasks) == [3, 5, 6, 6]  # 6 + 6 + 5 runs of 10, 20, 30 steps; 3 of K = 4
    for task in tasks:
        assert len({(c.model.d_hidden) for c in task}) == 1
        assert len({run_steps(c) for c in task}) == 1  # a task runs as long as its longest member
    assert [len(t) for t in make_tasks(cfgs[:17], max_models=4)] == [3, 3, 3, 3, 3, 2]  # balanced halves
    assert sorted(c.run_id for t in tasks for c in t) == sorted(c.run_id for c in cfgs)
    assert [len(t) for t in make_tasks(cfgs[:5], max_models=1)] == [1] * 5
    with pytest.raises(ValueError, match="max_models"):
        make_tasks(cfgs, max_models=0)


def test_cuda_packs_every_run_of_a_shape_by_memory(monkeypatch):
    """On CUDA a shape's runs share tasks whatever their step counts (finished models freeze and are
    shed), sorted by steps; ``auto`` takes as many models as 80 % of the free memory holds."""
    cfgs = [_cfg(seed=s, t_max=float(10 + 10 * (s % 3))) for s in range(17)] + [_cfg(seed=s, d_hidden=4) for s in range(3)]
    tasks = make_tasks(cfgs, max_models=16, device="cuda")
    assert sorted(len(t) for t in tasks) == [3, 17 // 2, 17 - 17 // 2]  # 17 runs of K = 8 cut in two halves
    for task in tasks:
        assert [run_steps(c) for c in task] == sorted(run_steps(c) for c in task)
    from supdyn.train.memory import EVAL_BUDGET, model_bytes
    per = model_bytes(cfgs[0], eval_chunk=0)
    monkeypatch.setattr(tasks_mod.torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(tasks_mod.torch.cuda, "mem_get_info", lambda dev: ((EVAL_BUDGET + 10 * per) / 0.8, 0))
    assert tasks_mod.resolve_max_models("auto", "cuda", cfgs[0]) == 10
    assert [len(t) for t in make_tasks(cfgs[:17], max_models="auto", device="cuda")] == [9, 8]
    assert tasks_mod.resolve_max_models("auto", "cpu", cfgs[0]) == 16
    assert tasks_mod.resolve_max_models(5, "cuda", cfgs[0]) == 5
    with pytest.raises(ValueError, match="^max_models: got 'many'; allowed: an integer >= 1 or 'auto'$"):
        make_tasks(cfgs, max_models="many")


def test_lanes_train_tasks_at_once_and_record_failures(tmp_path, monkeypatch):
    """Tasks in concurrent lanes (threads; CUDA streams on a GPU) store the same runs as one after the
    other, and a failing run is retried alone, then recorded."""
    from supdyn.sweep.lanes import run_lanes
    from supdyn.sweep.tasks import Tracker

    real_train = tasks_mod.train
    threads = set()

    def flaky(configs, **kw):
        threads.add(threading.current_thread().name)
        if any(c.seed == 13 for c in configs):
            raise FloatingPointError("injected failure for seed 13")
        return real_train(configs, **kw)

    monkeypatch.setattr(tasks_mod, "train", flaky)
    cfgs = [_cfg(seed=s, d_hidden=k) for s, k in [(1, 8), (2, 4), (13, 4), (4, 2), (5, 8)]]
    store, ref = Store(tmp_path / "lanes"), Store(tmp_path / "ref")
    bar = SimpleNamespace(update=lambda n: None)
    track = Tracker(store, 1, bar)
    run_lanes(make_tasks(cfgs, max_models=4), str(store.root), "cpu", track, lanes=3)
    assert len(threads) >= 2 and all(t.startswith("supdyn-lane-") for t in threads)
    assert [rid for rid, _ in track.failed] == [cfgs[2].run_id]
    run_sweep([c for c in cfgs if c.seed != 13], ref, progress=False)
    for c in cfgs:
        if c.seed != 13:
            np.testing.assert_array_equal(store.load(c).loss, ref.load(c).loss)


def test_submit_kwargs_request_a_gpu_for_cuda_tasks():
    assert submit_kwargs("cpu", "k") == {"pure": False, "key": "k"}
    assert submit_kwargs("cuda", "k")["resources"] == {"GPU": 1}
    assert submit_kwargs("cuda:1", "k")["resources"] == {"GPU": 1}


def test_executor_from_args_merges_slurm_table_and_flags():
    args = SimpleNamespace(executor=None, workers=3, scheduler=None, slurm=True, slurm_queue=None,
                           slurm_walltime="00:10:00", slurm_memory=None, slurm_cores=None, slurm_gpus=None,
                           slurm_account=None, slurm_max_jobs=4, device="cpu", max_models=8, retries=1)
    kw = executor_from_args(args, {"queue": "short", "memory": "8GB", "walltime": "05:00:00"})
    assert kw["executor"] == "dask" and kw["max_models"] == 8 and kw["retries"] == 1
    assert kw["slurm"] == SlurmOptions(queue="short", walltime="00:10:00", memory="8GB", max_jobs=4)
    with pytest.raises(ValueError, match="slurm.qeue"):
        executor_from_args(args, {"qeue": "short"})
    plain = dict(executor=None, workers=2, scheduler=None, slurm=False, device="cpu", max_models=None,
                 retries=2)
    with pytest.raises(ValueError, match="--executor"):
        executor_from_args(SimpleNamespace(**{**plain, "executor": "local", "scheduler": "tcp://h:8786"}))
    assert executor_from_args(SimpleNamespace(**{**plain, "scheduler": "tcp://h:8786"}))["executor"] == "dask"
    assert executor_from_args(SimpleNamespace(**plain))["max_models"] == "auto"  # 16 on the CPU, by memory on CUDA


def test_slurm_job_script_holds_the_options():
    opts = SlurmOptions(queue="gpuq", walltime="02:30:00", memory="16GB", cores=4, gpus=2, account="proj7",
                        max_jobs=3)
    cluster = build_slurm_cluster(opts, device="cuda")  # starts a scheduler here, submits no job
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    for part in ("-p gpuq", "-A proj7", "-t 02:30:00", "--cpus-per-task=4", "--mem=15G", "--gres=gpu:2",
                 "--resources GPU=2"):
        assert part in script, part
    cluster = build_slurm_cluster(SlurmOptions(cores=2))
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    assert "--gres" not in script and "--nworkers 2" in script and "--nthreads 1" in script


def test_slurm_sweep_scales_adaptively(tmp_path, monkeypatch):
    """The SLURM path of run_sweep, with an in-process cluster standing in for the SLURMCluster."""
    from distributed import LocalCluster

    made = {}

    def fake_build(opts, *, device, **kw):
        cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0")
        cluster.adapt = lambda **kw: made.update(adapt=kw, opts=opts, device=device)
        return cluster

    monkeypatch.setattr(cluster_mod, "build_slurm_cluster", fake_build)
    cfgs = [_cfg(seed=s) for s in range(3)]
    report = run_sweep(cfgs, tmp_path, slurm={"queue": "short", "max_jobs": 3}, progress=False)
    assert made["adapt"] == {"minimum_jobs": 0, "maximum_jobs": 3}  # slurm implies the dask executor
    assert made["opts"].queue == "short" and made["device"] == "cpu"
    assert report.n_computed == 3 and report.failed == []


# -- executors -------------------------------------------------------------------------------------
def test_local_cluster_matches_local_executor_bitwise(tmp_path):
    cfgs = [_cfg(seed=s, lr=lr) for s in range(8) for lr in (0.5, 1.0)]
    local = run_sweep(cfgs, tmp_path / "local", max_models=4, progress=False)
    dask = run_sweep(cfgs, tmp_path / "dask", executor="dask", workers=2, max_models=4, progress=False)
    for rep in (local, dask):
        assert (rep.n_runs, rep.n_cached, rep.n_computed, rep.failed, rep.n_tasks) == (16, 0, 16, [], 4)
    a, b = _stored_runs(Store(tmp_path / "local"), cfgs), _stored_runs(Store(tmp_path / "dask"), cfgs)
    for rid in a:
        np.testing.assert_array_equal(a[rid].loss, b[rid].loss)
        np.testing.assert_array_equal(a[rid].t, b[rid].t)
    again = run_sweep(cfgs, tmp_path / "dask", executor="dask", max_models=4, progress=False)
    assert (again.n_cached, again.n_computed, again.n_tasks) == (16, 0, 0)  # no cluster needed


@pytest.fixture
def cluster():
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cl:
        with Client(cl) as client:
            yield cl, client


def test_killed_worker_loses_nothing(tmp_path, cluster):
    cl, client = cluster
    store = Store(tmp_path / "store")
    cfgs = [_cfg(seed=s, t_max=600.0) for s in range(4)]
    killed = {}

    def killer():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not killed:
            busy = [w for w, keys in client.processing().items() if keys]
            if any(c in store for c in cfgs) and busy:
                pid = client.run(os.getpid, workers=busy[:1])[busy[0]]
                killed["stored"] = sum(c in store for c in cfgs)
                os.kill(pid, signal.SIGKILL)
                killed["pid"] = pid
            time.sleep(0.05)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    report = run_sweep(cfgs, store, executor="dask", scheduler=cl.scheduler_address, max_models=1,
                       progress=False)
    thread.join(5)
    assert killed and 1 <= killed["stored"] < len(cfgs)  # killed mid-sweep
    assert report.failed == [] and report.n_computed == len(cfgs)
    assert all(c in store for c in cfgs)
    assert killed["pid"] not in client.run(os.getpid).values()


def test_failing_run_is_retried_alone_then_recorded(tmp_path, monkeypatch):
    real_train = tasks_mod.train
    calls = []

    def flaky(configs, **kw):
        calls.append(sorted(c.seed for c in configs))
        if any(c.seed == 13 for c in configs):
            raise FloatingPointError("injected failure for seed 13")
        return real_train(configs, **kw)

    monkeypatch.setattr(tasks_mod, "train", flaky)
    cfgs = [_cfg(seed=s) for s in (1, 2, 13, 4)]
    store = Store(tmp_path)
    report = run_sweep(cfgs, store, max_models=4, retries=2, progress=False)
    bad = cfgs[2]
    assert report.failed == [(bad.run_id, "FloatingPointError: injected failure for seed 13")]
    assert (report.n_computed, report.n_tasks) == (3, 1)
    assert calls.count([13]) == 2 and calls[0] == [1, 2, 4, 13]  # batch, then retried alone twice
    assert all(c in store for c in cfgs if c is not bad) and bad not in store
    rec = store.failure(bad.run_id)
    assert rec["error"].startswith("FloatingPointError") and rec["attempts"] == 1
    assert sweep_mod.plan_sweep(cfgs, store).n_tasks == 1  # a later sweep tries it again


# -- CLI -------------------------------------------------------------------------------------------
SPEC = """
[base]
n_features = 32
d_hidden = 8
t_max = {t_max}
batch = 64
eval_size = 256

[grid]
seed = {seeds}
lr = [0.5, 1.0]

[slurm]
queue = "short"
"""


def _spec(tmp_path, seeds, t_max=10.0):
    path = tmp_path / "spec.toml"
    path.write_text(SPEC.format(seeds=list(seeds), t_max=t_max))
    return str(path)


def test_cli_dry_run_and_local_sweep(tmp_path, capsys):
    spec, store = _spec(tmp_path, range(3)), str(tmp_path / "store")
    assert main(["sweep", spec, "--store", store, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "runs:        6" in out and "stored:      0" in out and "2 task(s)" in out  # lr 0.5 and 1: 20 and 10 steps
    assert "model-steps: 90" in out  # 3 × (20 + 10)
    assert main(["sweep", spec, "--store", store, "--max-models", "2", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert (rep["n_runs"], rep["n_computed"], rep["n_tasks"], rep["failed"]) == (6, 6, 4, [])  # 3 + 3 runs: 2 + 2
    assert main(["sweep", spec, "--store", store, "--dry-run", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n_cached"] == 6
    assert main(["sweep", str(tmp_path / "nope.toml"), "--store", store]) == 2
    assert main(["sweep", spec, "--executor", "local", "--scheduler", "tcp://x:1"]) == 2


def test_cli_exit_1_lists_failed_runs(tmp_path, capsys, monkeypatch):
    def boom(configs, **kw):
        raise RuntimeError("no luck")

    monkeypatch.setattr(tasks_mod, "train", boom)
    spec = _spec(tmp_path, [0])
    assert main(["sweep", spec, "--store", str(tmp_path / "s"), "--retries", "0", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert err.count("RuntimeError: no luck") == 2 and "2 run(s) failed" in err


# `supdyn sweep` without importing the other verbs (scipy, matplotlib): two interpreter starts here
DRIVER = ("import argparse, sys; from supdyn.cli import sweep; p = argparse.ArgumentParser(); "
          "sweep.add_parser(p.add_subparsers()); a = p.parse_args(sys.argv[1:]); sys.exit(a.func(a))")


def test_killed_client_restart_computes_only_the_missing(tmp_path):
    spec, root = _spec(tmp_path, range(3), t_max=300.0), tmp_path / "store"
    cmd = [sys.executable, "-c", DRIVER, "sweep", spec, "--store", str(root), "--max-models", "1",
           "--no-progress"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    store = Store(root)
    log = tmp_path / "first.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while len(store.run_ids()) < 2 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        proc.kill()  # SIGKILL
        proc.wait()
    before = {rid: (store.load(rid).meta["created"], os.stat(store.path(rid) / "meta.json").st_mtime_ns)
              for rid in store.run_ids()}
    assert 2 <= len(before) < 6, log.read_text()
    done = subprocess.run(cmd + ["--json"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    rep = json.loads(done.stdout)
    assert rep["n_cached"] == len(before) and rep["n_computed"] == 6 - len(before)
    assert len(store.run_ids()) == 6
    for rid, (created, mtime) in before.items():
        assert store.load(rid).meta["created"] == created
        assert os.stat(store.path(rid) / "meta.json").st_mtime_ns == mtime


@pytest.mark.slow
def test_killed_dask_client_takes_its_workers_along_and_resumes(tmp_path):
    """kill -9 of a client that started a LocalCluster: its worker processes exit, a rerun completes."""
    spec, root = _spec(tmp_path, range(3), t_max=600.0), tmp_path / "store"
    cmd = [sys.executable, "-c", DRIVER, "sweep", spec, "--store", str(root), "--max-models", "1",
           "--executor", "dask", "--workers", "2", "--no-progress"]
    marker = f"supdyn-test-{os.getpid()}-{time.time_ns()}"
    env = dict(os.environ, SUPDYN_TEST_MARKER=marker)  # inherited by the spawned workers
    store = Store(root)
    with open(tmp_path / "first.log", "wb") as fh:
        proc = subprocess.Popen(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while not store.run_ids() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        proc.kill()
        proc.wait()
    n_before = len(store.run_ids())
    assert 1 <= n_before < 6, (tmp_path / "first.log").read_text()

    def orphans():
        found = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/environ", "rb") as fh:
                    if f"SUPDYN_TEST_MARKER={marker}".encode() in fh.read():
                        found.append(int(pid))
            except OSError:
                pass
        return found

    deadline = time.monotonic() + 30
    while orphans() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert orphans() == []
    done = subprocess.run(cmd + ["--json"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    rep = json.loads(done.stdout)
    assert (rep["n_cached"], rep["n_computed"], rep["failed"]) == (n_before, 6 - n_before, [])


def test_task_cost_orders_long_and_wide_tasks_first():
    from supdyn.sweep import task_cost

    short, long_ = [_cfg(seed=0, t_max=10.0)], [_cfg(seed=1, t_max=30.0)]
    wide = [_cfg(seed=2, t_max=10.0, d_hidden=16)]
    assert task_cost(long_) == 3 * task_cost(short) and task_cost(wide) == 2 * task_cost(short)
    assert task_cost(short * 4) == 4 * task_cost(short)


def test_estimate_phases_follow_the_shedding_rule():
    from supdyn.sweep.estimate import phases, schedule

    assert phases([10, 10, 10, 100]) == [(4, 10), (1, 90)]
    assert phases([10, 20, 30, 40]) == [(4, 10), (4, 10), (2, 10), (1, 10)]
    assert phases([5, 5]) == [(2, 5)]
    assert schedule([5, 4, 3, 3], 2) == 8 and schedule([5, 4, 3, 3], 1) == 15


def test_static_probe_times_every_phase():
    """The static-engine probe (run on CPU tensors here) times both pack sizes of its phases (3 runs of 20
    steps and 1 of 40: 4 models for 20 steps, then 1 for 20) and returns a positive time."""
    import supdyn.sweep.estimate as est_mod

    sizes = []
    real = est_mod._static_step
    est_mod._static_step = lambda configs, dev: (sizes.append(len(configs)), real(configs, dev))[1]
    try:
        cfgs = [_cfg(seed=s, t_max=20.0) for s in range(3)] + [_cfg(seed=9, t_max=40.0)]
        est = est_mod.probe_static(cfgs, torch.device("cpu"))
    finally:
        est_mod._static_step = real
    assert sizes == [4, 1] and est.seconds > 0 and np.isfinite(est.seconds)

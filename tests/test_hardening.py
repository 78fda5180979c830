"""Edges found by trying supdyn as a new user and as a hostile tester would (issue 21): grid specs
validated point by point, damage that is never silent, run-id prefixes, the thread default of the
training verbs, ``--version``, and a divergence hint that does not blame the learning rate wrongly."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
import torch

import supdyn
import supdyn.sweep.tasks as store_mod
from supdyn.cli import main
from supdyn.config import ConfigError, expand_grid, from_dict, load_spec, load_toml
from supdyn.store import Store, meta_checksum
from supdyn.train import train

TINY = ["--N", "32", "--K", "8", "--t-max", "5", "--batch", "64", "--eval-size", "256", "--no-progress"]
SMALL = {"n_features": 32, "t_max": 5.0, "batch": 64, "eval_size": 256}


# -- grid specs ----------------------------------------------------------------------------------------
def test_base_is_validated_with_each_grid_point_not_alone(tmp_path):
    """[base] n_features = 128 with [[grid]] d_hidden = [16, 32]: the base alone (K = 256 by default)
    is no run, its grid points are; each point is validated whole, a bad one is still named."""
    spec = tmp_path / "spec.toml"
    spec.write_text("[base]\nn_features = 128\nt_max = 5.0\nbatch = 64\neval_size = 256\n"
                    "[[grid]]\nd_hidden = [16, 32]\n[[grid]]\nd_hidden = [128]\nvariant = [\"none\"]\n")
    cfgs, _ = load_spec(spec)
    assert [(c.data.n_features, c.model.d_hidden, c.variant) for c in cfgs] == [
        (128, 16, "fixed"), (128, 32, "fixed"), (128, 128, "none")]
    assert cfgs[0] == from_dict({"n_features": 128, "d_hidden": 16, "t_max": 5.0, "batch": 64, "eval_size": 256})
    with pytest.raises(ConfigError, match="^d_hidden: got 256; allowed: 1 <= K <= n_features = 128"):
        expand_grid({"base": {"n_features": 128}, "grid": {"seed": [0, 1]}})
    with pytest.raises(ConfigError, match="^base: got"):
        expand_grid({"base": [1, 2]})
    with pytest.raises(ConfigError, match="^grid: got"):
        expand_grid({"grid": [1]})


# -- damage is never silent ----------------------------------------------------------------------------
@pytest.fixture
def two_runs(tmp_path, capsys):
    root = tmp_path / "store"
    ids = []
    for seed in (0, 1):
        assert main(["train", *TINY, "--seed", str(seed), "--store", str(root), "--json"]) == 0
        ids.append(json.loads(capsys.readouterr().out)["run_id"])
    return Store(root), ids


def test_runs_names_a_corrupt_run_and_fails(two_runs, capsys):
    store, (good, bad) = two_runs
    (store.path(bad) / "arrays.npz").write_bytes(b"garbage")
    assert main(["runs", "--store", str(store.root)]) == 1
    cap = capsys.readouterr()
    assert good[:12] in cap.out and bad[:12] not in cap.out and "1 run(s)" in cap.out
    (line,) = cap.err.splitlines()
    assert line.startswith(f"supdyn runs: error: run {bad}: corrupt (") and "moved to" in line
    assert main(["fit", bad[:10], "--store", str(store.root)]) == 2  # later: where it went, not "not found"
    (line,) = capsys.readouterr().err.splitlines()
    assert f"'{bad[:10]}' was found corrupt and moved to {store.root / '_corrupt' / bad}." in line
    assert "train its config again" in line


def test_an_edited_meta_field_is_detected(two_runs, capsys):
    store, (rid, _) = two_runs
    path = store.path(rid) / "meta.json"
    meta = json.loads(path.read_text())
    assert meta["meta_sha256"] == meta_checksum(meta)
    meta["wall_time"] = 0.001  # still valid JSON, still a plausible value
    path.write_text(json.dumps(meta))
    assert not Store(store.root).verify(rid)
    with pytest.raises(KeyError, match="was found corrupt"):
        Store(store.root).load(rid)
    assert len(list((store.root / "_corrupt").iterdir())) == 1


def test_runs_of_an_older_supdyn_without_meta_checksum_still_load(two_runs):
    store, (rid, _) = two_runs
    path = store.path(rid) / "meta.json"
    meta = json.loads(path.read_text())
    del meta["meta_sha256"]
    path.write_text(json.dumps(meta))
    assert Store(store.root).verify(rid) and Store(store.root).load(rid).meta["wall_time"] == meta["wall_time"]


def test_run_id_prefixes_any_case_and_ambiguous_ones_listed(two_runs, tmp_path, capsys):
    store, ids = two_runs
    assert store.resolve(ids[0][:10].upper()) == ids[0]
    assert main(["fit", ids[0][:10].upper(), "--store", str(store.root), "--window", "1", "5", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["source"] == f"run {ids[0]}"
    fake = tmp_path / "fake"
    for rid in ("ab" + "1" * 62, "ab" + "2" * 62, "cd" + "3" * 62):
        (fake / rid).mkdir(parents=True)
        (fake / rid / "meta.json").write_text("{}")
    with pytest.raises(KeyError) as exc:
        Store(fake).resolve("AB")
    msg = exc.value.args[0]
    assert msg.startswith("run id: prefix 'AB' is ambiguous (2 runs: ab11111111111111, ab22222222222222)")


def test_empty_store_paths_are_errors_not_the_current_directory(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SUPDYN_STORE", "")
    assert main(["train", *TINY]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line == "supdyn train: error: SUPDYN_STORE: got ''; allowed: a store directory (unset it for ./runs)"
    assert main(["runs"]) == 2
    assert list(tmp_path.iterdir()) == []  # nothing written into the current directory
    monkeypatch.delenv("SUPDYN_STORE")
    assert main(["runs", "--store", " "]) == 2 and "store: got ''" in capsys.readouterr().err


def test_an_unreadable_store_fails_with_one_line(two_runs, capsys):
    store, _ = two_runs
    assert main(["runs", "--store", str(store.path(_[0]) / "meta.json")]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.endswith("meta.json is not a directory; allowed: a store directory")


# -- defaults and small things -------------------------------------------------------------------------
def test_training_verbs_use_one_torch_thread_unless_omp_num_threads(tmp_path, monkeypatch):
    """On a loaded 2-core machine two threads per process were 46x slower than one: train (and sweep,
    reproduce) train with one thread by default, OMP_NUM_THREADS chooses otherwise; restored after."""
    seen = []
    real = store_mod.train

    def spy(*a, **k):
        seen.append(torch.get_num_threads())
        return real(*a, **k)

    monkeypatch.setattr(store_mod, "train", spy)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        assert main(["train", *TINY, "--store", str(tmp_path / "a")]) == 0
        assert seen == [1] and torch.get_num_threads() == 2
        monkeypatch.setenv("OMP_NUM_THREADS", "2")
        assert main(["train", *TINY, "--store", str(tmp_path / "b")]) == 0
        assert seen == [1, 2]
    finally:
        torch.set_num_threads(before)


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0 and capsys.readouterr().out.strip() == f"supdyn {supdyn.__version__}"


def test_an_initial_overflow_is_not_blamed_on_the_learning_rate(tmp_path, capsys):
    """init_scale = 1e30: the loss is inf at t = 0, before any step; no lr helps, so no lr is suggested."""
    assert main(["train", *TINY, "--init-scale", "1e30", "--store", str(tmp_path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["diverged"] and out["loss"][0] is None
    assert "before any step, so the learning rate is not the cause" in out["hint"] and "--lr" not in out["hint"]


def test_all_zero_and_huge_teachers_are_rejected_where_the_config_is_built():
    p = [0.0] * 32
    with pytest.raises(ConfigError, match="^p: every p_i is 0"):
        from_dict({**SMALL, "d_hidden": 8, "law": "user", "p": p})
    big = [1e300] + [1.0] * 31
    with pytest.raises(ConfigError, match=r"^teacher_diag\[0\]: got 1e\+300; allowed: abs\(A_ii\) <= "):
        from_dict({**SMALL, "d_hidden": 8, "teacher": "user", "teacher_diag": big})
    bound = math.sqrt(float(np.finfo(np.float32).max) / (32 * 64))  # N * batch * A^2 finite in float32
    ok = from_dict({**SMALL, "d_hidden": 8, "teacher": "user", "teacher_diag": [0.99 * bound] + [1.0] * 31})
    (res,) = train([ok.replace(t_max=1.0)], progress=False)
    assert np.isfinite(res.loss[0])  # the largest teacher allowed still has a finite loss at t = 0
    with pytest.raises(ConfigError, match="teacher_diag"):
        ok.replace(teacher_diag=[1.01 * bound] + [1.0] * 31)
    assert ok.replace(dtype="float64", teacher_diag=[1e100] + [1.0] * 31).train.dtype == "float64"


def test_theory_of_a_law_that_underflows_is_an_error(capsys):
    assert main(["theory", "--N", "32", "--law", "exponential", "--kappa", "1000", "--normalize", "none"]) == 2
    assert "every p_i is 0" in capsys.readouterr().err


def test_corrupt_copy_is_recomputed_by_train(two_runs, capsys):
    """After `runs` moved a damaged run aside, `train` with its config stores it anew (the same curve)."""
    store, (rid, _) = two_runs
    before = store.load(rid).loss.copy()
    shutil.copy(store.path(rid) / "config.json", store.path(rid) / "meta.json")  # meta.json replaced
    assert main(["runs", "--store", str(store.root)]) == 1
    capsys.readouterr()
    assert main(["train", *TINY, "--seed", "0", "--store", str(store.root), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["run_id"] == rid and out["cached"] is False and out["loss"] == before.tolist()


# -- found by trying it (issue 21's closing list) -----------------------------------------------------
def test_byte_order_marks_are_accepted(tmp_path, capsys):
    """Editors on some systems start text files with a UTF-8 byte-order mark: TOML and CSV still read."""
    toml = tmp_path / "run.toml"
    toml.write_bytes(b"\xef\xbb\xbf[data]\nn_features = 32\n[model]\nd_hidden = 8\n")
    assert load_toml(toml) == from_dict({"n_features": 32, "d_hidden": 8})
    csv = tmp_path / "c.csv"
    csv.write_bytes(b"\xef\xbb\xbft,loss\n" + b"".join(b"%g,%g\n" % (x, 2 / x) for x in np.logspace(0, 4, 41)))
    assert main(["fit", str(csv), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["alpha"] == pytest.approx(1.0, abs=1e-4)


def test_a_corrupt_directory_that_cannot_be_made_is_one_line(two_runs, capsys):
    store, (rid, _) = two_runs
    (store.path(rid) / "meta.json").write_text("garbage")
    (store.root / "_corrupt").write_text("a file in the way")
    assert main(["runs", "--store", str(store.root)]) == 1
    err = capsys.readouterr().err
    assert f"store: run {rid[:12]} is damaged and cannot be moved aside to {store.root / '_corrupt'} (" in err


def test_fit_of_a_diverged_run_names_the_divergence(tmp_path, capsys):
    assert main(["train", *TINY, "--t-max", "500", "--lr", "100", "--store", str(tmp_path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["diverged"]
    assert main(["fit", out["run_id"][:10], "--store", str(tmp_path), "--window", "1", "500"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert f"diverged at t = {out['diverged_t']:g}, its loss is NaN from there; allowed: a window before" in line


def test_an_invalid_omp_num_threads_is_no_choice(tmp_path, monkeypatch):
    seen = []
    real = store_mod.train
    monkeypatch.setattr(store_mod, "train", lambda *a, **k: seen.append(torch.get_num_threads()) or real(*a, **k))
    monkeypatch.setenv("OMP_NUM_THREADS", "abc")
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        assert main(["train", *TINY, "--store", str(tmp_path)]) == 0
    finally:
        torch.set_num_threads(before)
    assert seen == [1]


def test_a_local_cluster_gets_no_more_workers_than_tasks(tmp_path, monkeypatch):
    import supdyn.sweep as sweep_mod

    seen = {}
    monkeypatch.setattr(sweep_mod, "run_dask", lambda tasks, *a, workers, **k: seen.update(workers=workers))
    cfgs = [from_dict({**SMALL, "d_hidden": 8, "seed": s}) for s in range(3)]
    sweep_mod.run_sweep(cfgs, tmp_path, executor="dask", workers=1000, max_models=16, progress=False)
    assert seen == {"workers": 1}  # one task of 3 runs: one worker, not 1000 processes


def test_snapshots_count_in_the_memory_estimate():
    """5000 snapshots of a 1024 x 1024 B are ~20 GB as taken and as many again when stacked for storing."""
    from supdyn.config import resources

    cfg = from_dict({"n_features": 1024, "d_hidden": 1024, "t_max": 5000.0,
                     "snapshots": [float(i) for i in range(1, 5001)]})
    assert resources.run_bytes(cfg) > 2 * 5000 * 1024 * 1024 * 4

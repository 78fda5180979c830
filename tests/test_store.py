import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import supdyn.sweep.tasks as tasks_mod
from supdyn.config import from_dict
from supdyn.store import CorruptRunError, OtherSchemaError, Store, pack
from supdyn.sweep import ensure
from supdyn.train import train


def _cfg(**kw):
    base = {"n_features": 32, "d_hidden": 8, "t_max": 5.0, "batch": 64, "eval_size": 256, "per_feature": True}
    base.update(kw)
    return from_dict(base)


def test_roundtrip_and_table(tmp_path):
    st = Store(tmp_path)
    cfg = _cfg(snapshots=(5.0,))
    (res,) = train([cfg], progress=False)
    assert st.save(res) is True
    assert st.save(res) is False  # first writer wins
    run = st.load(cfg.run_id[:10])
    assert run.config == cfg and run.run_id == cfg.run_id
    np.testing.assert_array_equal(run.loss, res.loss)
    np.testing.assert_array_equal(run.arrays["per_feature"], res.per_feature)
    np.testing.assert_array_equal(run.arrays["snapshot_B"], res.snapshots["B"])
    assert run.meta["torch"] and run.meta["supdyn"] and run.meta["diverged"] is False
    assert run.meta["engine"] == "sparse" and run.meta["device"] == "cpu"
    df = st.table()
    assert len(df) == 1 and df.loc[0, "a"] == 1.1 and df.loc[0, "final_loss"] == pytest.approx(res.loss[-1])


def test_ensure_computes_once(tmp_path, monkeypatch):
    st = Store(tmp_path)
    cfgs = [_cfg(seed=s) for s in range(3)]
    first = ensure(cfgs, st, progress=False)

    def boom(*a, **k):
        raise AssertionError("recomputed a stored run")

    monkeypatch.setattr(tasks_mod, "train", boom)
    again = ensure(cfgs, st, progress=False)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a.loss, b.loss)


def test_runs_of_another_schema_are_kept_but_not_reused(tmp_path):
    """A run written by a supdyn with another SCHEMA_VERSION (other random streams) has another
    identity: the same config is computed afresh, the old directory stays in place (not moved to
    _corrupt), is not listed, and loading it by id says why."""
    import hashlib
    import json
    import shutil

    from supdyn.config import SCHEMA_VERSION

    st = Store(tmp_path)
    cfg = _cfg()
    (res,) = train([cfg], progress=False)
    st.save(res)
    old_id = hashlib.sha256(f"supdyn-schema-{SCHEMA_VERSION - 1}\n{cfg.canonical_json()}".encode()).hexdigest()
    shutil.copytree(st.path(cfg.run_id), st.path(old_id))
    doc = json.loads((st.path(old_id) / "config.json").read_text())
    doc["schema_version"] = SCHEMA_VERSION - 1
    (st.path(old_id) / "config.json").write_text(json.dumps(doc))
    assert old_id != cfg.run_id and st.missing([cfg]) == []
    assert list(st.table()["run_id"]) == [cfg.run_id]
    with pytest.raises(OtherSchemaError, match=f"schema version {SCHEMA_VERSION - 1}"):
        st.load(old_id)
    assert st.path(old_id).is_dir() and not (tmp_path / "_corrupt").exists()


def test_unknown_id(tmp_path):
    with pytest.raises(KeyError, match="not found"):
        Store(tmp_path).load("abc123")


def test_corruption_is_detected_moved_aside_and_recomputed(tmp_path):
    st = Store(tmp_path)
    cfg = _cfg()
    (good,) = ensure([cfg], st, progress=False)
    path = st.path(cfg.run_id) / "arrays.npz"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # truncated
    with pytest.raises(CorruptRunError, match=cfg.run_id):
        st.load(cfg)
    assert cfg not in st and any((tmp_path / "_corrupt").iterdir())
    (again,) = ensure([cfg], st, progress=False)
    np.testing.assert_array_equal(again.loss, good.loss)


def test_killed_writer_leaves_no_visible_run(tmp_path):
    """A writer SIGKILLed between writing its files and the rename leaves only _tmp/ behind."""
    script = textwrap.dedent(f"""
        import os, signal
        from supdyn.config import from_dict
        from supdyn.store import Store
        from supdyn.train import train
        cfg = from_dict({_cfg().to_dict()!r})
        (res,) = train([cfg], progress=False)
        def die(*a, **k):
            os.kill(os.getpid(), signal.SIGKILL)
        os.rename = die
        Store({str(tmp_path)!r}).save(res)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert proc.returncode == -signal.SIGKILL
    st = Store(tmp_path)
    assert st.run_ids() == [] and _cfg() not in st
    assert len(list((tmp_path / "_tmp").iterdir())) == 1
    assert st.clean_tmp(max_age=0) == 1
    assert list((tmp_path / "_tmp").iterdir()) == []


def test_unwritable_store(tmp_path):
    target = tmp_path / "ro"
    target.mkdir()
    os.chmod(target, 0o500)
    try:
        if os.access(target, os.W_OK):  # running as root: make the path a file instead
            os.chmod(target, 0o700)
            target.rmdir()
            target.write_text("not a directory")
        (res,) = train([_cfg()], progress=False)
        with pytest.raises(ValueError, match="store: cannot write to"):
            Store(target).save(res)
    finally:
        if target.is_dir():
            os.chmod(target, 0o700)


def test_failures_are_recorded(tmp_path):
    st = Store(tmp_path)
    cfg = _cfg()
    assert st.mark_failed(cfg, "boom")["attempts"] == 1
    assert st.mark_failed(cfg, "boom again")["attempts"] == 2
    assert st.failure(cfg.run_id)["error"] == "boom again"
    ensure([cfg], st, progress=False)
    assert st.failure(cfg.run_id) is None


def test_pack_groups_compatible_runs():
    cfgs = [_cfg(seed=s) for s in range(5)] + [_cfg(d_hidden=4)] + [_cfg(batch=32, seed=9)]
    groups = pack(cfgs, max_models=2)
    assert sorted(len(g) for g in groups) == [1, 1, 1, 2, 2]
    assert all(len({(c.model.d_hidden, c.train.batch) for c in g}) == 1 for g in groups)


def test_pack_keeps_runs_of_different_lengths_apart():
    """A task runs until its longest member is done: runs with different step counts (t_max / lr)
    go to different tasks; equal step counts reached through different (t_max, lr) share one."""
    cfgs = [_cfg(seed=0), _cfg(seed=1, lr=_cfg().train.lr / 2), _cfg(seed=2, t_max=_cfg().train.t_max / 2),
            _cfg(seed=3, t_max=_cfg().train.t_max / 2, lr=_cfg().train.lr / 2)]
    groups = pack(cfgs, max_models=16)
    steps = [{round(c.train.t_max / c.train.lr) for c in g} for g in groups]
    assert all(len(s) == 1 for s in steps)
    assert sorted(sorted(c.seed for c in g) for g in groups) == [[0, 3], [1], [2]]


def test_ensure_raises_when_a_run_fails_and_records_it(tmp_path, monkeypatch):
    st = Store(tmp_path)
    cfg = _cfg(seed=7)

    def boom(*a, **k):
        raise RuntimeError("no memory left")

    monkeypatch.setattr(tasks_mod, "train", boom)
    with pytest.raises(ValueError, match=f"run {cfg.run_id[:12]}: training failed .*no memory left"):
        ensure([cfg], st, progress=False)
    assert cfg not in st and st.failure(cfg.run_id)["attempts"] == 1


def test_a_run_of_the_first_correlated_sampler_is_read_as_another_schemas(tmp_path):
    """Correlated runs carry the version of the correlated draws in their identity (CORRELATED_STREAM):
    a run stored by version 1 (same config, other batches) is not reused, not moved to _corrupt, and
    loading it says why; an independent run's identity does not depend on that version."""
    import shutil

    from supdyn.config import CORRELATED_STREAM

    st = Store(tmp_path)
    cfg = _cfg(correlation="exclusive", group_size=2)
    (res,) = train([cfg], progress=False)
    st.save(res)
    old_id = cfg.run_id_at(correlated_stream=1)
    assert CORRELATED_STREAM > 1 and old_id != cfg.run_id
    shutil.copytree(st.path(cfg.run_id), st.path(old_id))
    assert st.missing([cfg]) == [] and list(st.table()["run_id"]) == [cfg.run_id]
    with pytest.raises(OtherSchemaError, match="correlated-feature sampler version 1"):
        st.load(old_id)
    assert st.path(old_id).is_dir() and not (tmp_path / "_corrupt").exists()
    plain = _cfg()
    assert plain.run_id_at(correlated_stream=1) == plain.run_id

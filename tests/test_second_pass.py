"""A second hostile pass over inputs and faults outside the catalogue of docs/errors.md (issue 21's last
step): integers too large for a float, numpy scalars, flags over a file's invalid values, sections given
as scalars, booleans as frequencies, empty and enormous grid specs, a bad OMP_NUM_THREADS, stored runs
whose schema version or meta fields have the wrong type, unreadable (not corrupt) runs, fit windows
outside the data, ``plot --window 1 inf``, ``theory --law user``, a full stdout and a dangling store link.
Each case failed (traceback, silence, a misleading line or a wrong action) before its fix."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from supdyn.cli import main
from supdyn.config import ConfigError, DataConfig, ModelConfig, RunConfig, expand_grid, from_dict
from supdyn.store import Store, meta_checksum

TINY = ["--N", "32", "--K", "8", "--t-max", "5", "--batch", "64", "--eval-size", "256", "--no-progress"]
SMALL = "[data]\nn_features = 32\n[model]\nd_hidden = 8\n[train]\nt_max = 5.0\nbatch = 64\neval_size = 256\n"
SUPDYN = [sys.executable, "-m", "supdyn"]


def _one_line(capsys, start: str) -> str:
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith(start), lines[0]
    return lines[0]


# -- configs -------------------------------------------------------------------------------------------
def test_integers_too_large_for_a_float_are_one_line(tmp_path, capsys, monkeypatch):
    """TOML integers have no size limit: a 300-digit ``a`` (or one inside ``p``) raised OverflowError."""
    monkeypatch.chdir(tmp_path)
    huge = "1" + "0" * 400  # beyond the largest float (1.8e308)
    (tmp_path / "a.toml").write_text(SMALL.replace("[model]", f"a = {huge}\n[model]"))
    assert main(["train", "a.toml", "--store", "s"]) == 2
    line = _one_line(capsys, "supdyn train: error: a: got 1000")
    assert line.endswith("…000000000000 (401 characters); allowed: a finite number") and len(line) < 160
    p = ", ".join([huge] + ["0.0"] * 31)
    (tmp_path / "p.toml").write_text(SMALL.replace("[model]", f'law = "user"\np = [{p}]\n[model]'))
    assert main(["train", "p.toml", "--store", "s"]) == 2
    assert _one_line(capsys, "supdyn train: error: p[0]: got 1000").endswith("allowed: a finite number")
    with pytest.raises(ConfigError, match="^b: got 1000"):
        DataConfig(b=10**400)
    assert not (tmp_path / "s").exists()


def test_numpy_scalars_are_integers_and_numbers():
    """``np.int64(32)`` was refused as "not an integer >= 1"; numpy scalars are stored as Python ones,
    so the run is the same run (same id) as with plain ints and floats."""
    plain = RunConfig(data=DataConfig(n_features=32, a=1.5), model=ModelConfig(d_hidden=8), seed=3)
    np_cfg = RunConfig(data=DataConfig(n_features=np.int64(32), a=np.float32(1.5)),
                       model=ModelConfig(d_hidden=np.int32(8)), seed=np.uint8(3))
    assert np_cfg.run_id == plain.run_id and np_cfg == plain
    assert type(np_cfg.data.n_features) is int and type(np_cfg.seed) is int and type(np_cfg.data.a) is float
    assert plain.replace(batch=np.int64(64)).train.batch == 64
    with pytest.raises(ConfigError, match=r"^n_features: got (np\.)?True"):
        DataConfig(n_features=np.bool_(True))
    with pytest.raises(ConfigError, match=r"^d_hidden: got (np\.float64\()?8\.0"):
        ModelConfig(d_hidden=np.float64(8.0))


def test_flags_override_a_file_value_before_it_is_validated(tmp_path, capsys):
    """`train --help`: flags override the file. A file's t_max = 1e30 (invalid) with --t-max 5 was
    refused for the file's value."""
    f = tmp_path / "run.toml"
    f.write_text(SMALL.replace("t_max = 5.0", "t_max = 1e30"))
    assert main(["train", str(f), *TINY, "--store", str(tmp_path / "s"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["config"]["train"]["t_max"] == 5.0


def test_a_section_given_as_a_scalar_is_named_as_such(tmp_path, capsys):
    f = tmp_path / "run.toml"
    f.write_text("data = 5\n")
    assert main(["train", str(f), "--store", str(tmp_path / "s")]) == 2
    assert _one_line(capsys, "supdyn train: error: data: got 5; allowed: a [data] table")
    with pytest.raises(ConfigError, match=r"^config: got list; allowed: a table"):
        from_dict([1, 2])


def test_booleans_are_not_frequencies(tmp_path, capsys):
    f = tmp_path / "run.toml"
    f.write_text(SMALL.replace("[model]", 'law = "user"\np = [true' + ", false" * 31 + "]\n[model]"))
    assert main(["train", str(f), "--store", str(tmp_path / "s")]) == 2
    assert _one_line(capsys, "supdyn train: error: p[0]: got True; allowed: a finite number")
    f.write_text(SMALL.replace("batch = 64", 'batch = 64\nsnapshots = "12"'))  # was the times 1 and 2
    assert main(["train", str(f), "--store", str(tmp_path / "s")]) == 2
    assert _one_line(capsys, "supdyn train: error: snapshots: got '12'; allowed: a list of numbers")
    with pytest.raises(ConfigError, match=r"^p\[1\]: got '0.5'; allowed: a finite number"):
        DataConfig(n_features=2, law="user", p=[0.5, "0.5"])  # a string is no number, in a list or alone


def test_a_spec_without_runs_is_an_error(tmp_path, capsys):
    """An empty spec file was one full-size default run (N = 1024, K = 256, t_max = 1e4) without a word;
    ``grid = []`` was a sweep of nothing, exit 0."""
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    assert main(["sweep", str(empty), "--store", str(tmp_path / "s"), "--no-progress"]) == 2
    assert _one_line(capsys, f"supdyn sweep: error: {empty}: no [base] or [grid] table; allowed:")
    with pytest.raises(ConfigError, match=r"^grid: got \[\]; allowed: a \[grid\] table or \[\[grid\]\] tables"):
        expand_grid({"base": {"n_features": 32, "d_hidden": 8}, "grid": []})
    assert not (tmp_path / "s").exists()


def test_an_enormous_grid_is_refused_at_once():
    """A 199 × 200⁴ grid (3.2e11 runs) hung while its configs were built."""
    grid = {"seed": list(range(199)), **{k: [1.0 + i / 1000 for i in range(200)] for k in ("a", "lr", "b", "init_scale")}}
    start = time.perf_counter()
    with pytest.raises(ConfigError, match=r"^grid: got 318400000000 runs \(199 × 200 × 200 × 200 × 200\); allowed: "
                                          r"at most 1000000 runs per spec"):
        expand_grid({"base": {"n_features": 32, "d_hidden": 8}, "grid": grid})
    assert time.perf_counter() - start < 5.0
    two = [{"seed": list(range(1000))}, {"seed": list(range(1000, 2000)), "a": list(range(1, 1001))}]
    with pytest.raises(ConfigError, match=r"^grid: got 1001000 runs \(1000 \+ 1000 × 1000\)"):
        expand_grid({"grid": two})  # [[grid]] tables add up


def test_an_invalid_omp_num_threads_prints_no_library_lines(tmp_path):
    """OMP_NUM_THREADS=0 or garbage: libgomp printed a blank line and `libgomp: Invalid value ...` on
    stderr of every verb. It is no choice (one torch thread, as before), said in one line."""
    for value in ("0", "abc"):
        env = {**os.environ, "OMP_NUM_THREADS": value}
        proc = subprocess.run([*SUPDYN, "train", *TINY, "--store", str(tmp_path / value)], env=env,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        assert proc.stderr.splitlines() == [f"supdyn train: warning: OMP_NUM_THREADS: got {value!r}; allowed: an "
                                            "integer >= 1 (ignored)"]


# -- the store -----------------------------------------------------------------------------------------
@pytest.fixture
def one_run(tmp_path, capsys):
    root = tmp_path / "store"
    assert main(["train", *TINY, "--store", str(root), "--json"]) == 0
    return Store(root), json.loads(capsys.readouterr().out)["run_id"]


def _edit(path: Path, **changes) -> None:
    doc = json.loads(path.read_text())
    doc.update(changes)
    path.write_text(json.dumps(doc))


def test_a_schema_version_that_is_no_version_is_corruption(one_run, capsys):
    """``"schema_version": [2]`` hid the run (``no runs``, exit 0)."""
    store, rid = one_run
    _edit(store.path(rid) / "config.json", schema_version=[2])
    assert main(["runs", "--store", str(store.root)]) == 1
    assert _one_line(capsys, f"supdyn runs: error: run {rid}: corrupt (")
    assert not store.path(rid).exists() and any((store.root / "_corrupt").iterdir())


def test_a_schema_version_edited_in_a_current_run_is_corruption_and_recomputed(one_run, capsys):
    """The config still hashes to its directory under this schema: the version was altered, not written
    by another supdyn. `supdyn train` of the config failed for ever ("run its config again")."""
    store, rid = one_run
    _edit(store.path(rid) / "config.json", schema_version=1)
    assert main(["train", *TINY, "--store", str(store.root), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["run_id"] == rid and not out["cached"] and any((store.root / "_corrupt").iterdir())


def test_meta_fields_of_the_wrong_type_are_corruption(one_run, capsys):
    """A run without meta_sha256 (stored before it existed) is read unchecked: its fields must at least
    have their types (``"wall_time": "abc"`` was listed as such)."""
    store, rid = one_run
    meta = json.loads((store.path(rid) / "meta.json").read_text())
    del meta["meta_sha256"]
    for field, bad in (("wall_time", "abc"), ("diverged", "yes"), ("diverged_step", 1.5), ("arrays_sha256", 5)):
        (store.path(rid) / "meta.json").write_text(json.dumps({**meta, field: bad}))
        assert not store.verify(rid), field
        assert any(p.name.startswith(rid) for p in (store.root / "_corrupt").iterdir())
        shutil.move(str(next((store.root / "_corrupt").iterdir())), store.path(rid))
    (store.path(rid) / "meta.json").write_text(json.dumps(meta))
    assert Store(store.root).verify(rid)  # the old run itself is still read
    full = {**meta, "diverged": 1}
    full["meta_sha256"] = meta_checksum(full)
    (store.path(rid) / "meta.json").write_text(json.dumps(full))
    assert not Store(store.root).verify(rid)  # a checksum does not make a wrong type right


def _without_dac() -> list[str] | None:
    """A prefix that runs a command without the power to ignore file modes (root ignores chmod 000)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search"] if setpriv else None


def test_an_unreadable_run_is_an_io_error_not_corruption(one_run):
    """arrays.npz mode 000: the intact run was moved to _corrupt/ as if damaged."""
    prefix = _without_dac()
    if prefix is None:
        pytest.skip("running as root without setpriv: file modes cannot be enforced")
    store, rid = one_run
    arrays = store.path(rid) / "arrays.npz"
    arrays.chmod(0)
    try:
        proc = subprocess.run([*prefix, *SUPDYN, "fit", rid, "--store", str(store.root), "--window", "1", "5"],
                              capture_output=True, text=True, timeout=300)
    finally:
        arrays.chmod(0o644)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.splitlines() == [f"supdyn fit: error: {arrays}: Permission denied"]
    assert store.verify(rid) and not (store.root / "_corrupt").exists()


def test_a_dangling_store_link_is_named(tmp_path, capsys):
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "gone" / "store")
    assert main(["train", *TINY, "--store", str(link)]) == 2
    assert _one_line(capsys, f"supdyn train: error: store: cannot write to {link} (a symbolic link to a missing "
                             f"{tmp_path / 'gone' / 'store'}); allowed: a writable directory")


# -- verbs ---------------------------------------------------------------------------------------------
def test_fit_windows_outside_the_data_are_catalogue_lines(tmp_path, capsys):
    csv = tmp_path / "c.csv"
    csv.write_text("t,loss\n" + "".join(f"{t:g},{1 / t:g}\n" for t in np.logspace(0, 1, 11)))
    assert main(["fit", str(csv)]) == 2
    assert _one_line(capsys, "supdyn fit: error: window: got [1000, 10000], which does not overlap the data range "
                             "[1, 10]; allowed: a window inside the data range with at least 5 points")
    assert main(["fit", str(csv), "--window", "1", "1.5"]) == 2
    assert _one_line(capsys, "supdyn fit: error: window: got [1, 1.5], which holds only 2 point(s); allowed: a "
                             "window with at least 5 points")
    csv.write_text("t,loss\n" + "".join(f"{t:g},{0 if t > 2e3 else 1 / t:g}\n" for t in np.logspace(0, 4, 41)))
    assert main(["fit", str(csv)]) == 2
    assert _one_line(capsys, "supdyn fit: error: loss: got 0 non-finite and 7 non-positive value(s) in the window "
                             "[1000, 10000]; allowed: finite loss > 0")


def test_plot_window_must_be_finite(one_run, tmp_path, capsys):
    store, rid = one_run
    assert main(["plot", rid, "--store", str(store.root), "--window", "1", "inf", "--out", str(tmp_path / "c.png")]) == 2
    assert _one_line(capsys, "supdyn plot: error: --window: got 1 inf; allowed: 0 < LO < HI (finite)")
    assert not (tmp_path / "c.png").exists()


def test_theory_offers_no_user_law(capsys):
    """``theory --law user`` asked for a list of frequencies that theory has no option for."""
    with pytest.raises(SystemExit) as exc:
        main(["theory", "--N", "32", "--law", "user"])
    assert exc.value.code == 2
    assert _one_line(capsys, "supdyn theory: error: --law: got 'user'; allowed: one of power, exponential, algebraic")


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full")
def test_a_full_stdout_is_named(one_run):
    store, _ = one_run
    with open("/dev/full", "w") as full:
        proc = subprocess.run([*SUPDYN, "runs", "--store", str(store.root)], stdout=full, stderr=subprocess.PIPE,
                              text=True, timeout=300)
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == ["supdyn runs: error: stdout: No space left on device"]


def test_a_closed_stdout_is_named(one_run):
    """``supdyn runs >&-`` was a traceback (AttributeError: 'NoneType' object has no attribute 'flush')."""
    store, _ = one_run
    proc = subprocess.run([*SUPDYN, "runs", "--store", str(store.root)], stderr=subprocess.PIPE, text=True,
                          timeout=300, preexec_fn=lambda: os.close(1))
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == ["supdyn runs: error: stdout: Bad file descriptor"]


def test_reproduce_into_a_store_that_is_a_file_is_one_line(tmp_path, capsys):
    """The plan's line came first, then the error: two lines on stderr for one bad input."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert main(["reproduce", "--smoke", "--only", "fig3", "--out", str(tmp_path / "out"), "--store", str(blocker),
                 "--no-progress"]) == 2
    assert _one_line(capsys, f"supdyn reproduce: error: store: cannot write to {blocker} (Not a directory)")

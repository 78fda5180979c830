"""I/O failures while running: one line naming the path and the cause (exit 1), nothing half-written,
nothing left behind that the next run trips over, and the same command afterwards works.

A full disk is made two ways: a 1 MiB tmpfs filled to the last block (real ENOSPC; where this process
may mount, i.e. as root with CAP_SYS_ADMIN, else skipped) and RLIMIT_FSIZE (EFBIG on any write past
the limit; works everywhere). Also: Ctrl-C of a sweep is one line (and the sweep resumes)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import supdyn.store as store_mod
from supdyn.cli import main
from supdyn.store import Store, StoreWriteError
from supdyn.train import train

ROOT = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT / "src"))
TINY = ["--N", "32", "--K", "8", "--t-max", "5", "--batch", "64", "--eval-size", "256", "--no-progress"]
SPEC = "[base]\nn_features = 32\nd_hidden = 8\nt_max = {t_max}\nbatch = 64\neval_size = 256\n[grid]\nseed = {seeds}\n"
# `supdyn` with writes capped at LIMIT bytes per file (EFBIG instead of SIGXFSZ)
CAPPED = ("import resource, signal, sys\nif __name__ == '__main__':\n    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
          "    resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))\n    from supdyn.cli import main\n"
          "    sys.exit(main(sys.argv[1:]))\n")


def _fill(path: Path) -> None:
    """Write zeros to ``path`` until its file system is full."""
    with open(path, "wb", buffering=0) as fh:
        try:
            while True:
                fh.write(b"\0" * 4096)
                fh.flush()
        except OSError:
            pass


@pytest.fixture
def full_disk(tmp_path):
    """A directory on a 1 MiB tmpfs with no free block left (skipped where mounting is not allowed)."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN)")
    try:
        _fill(mnt / "filler")
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def _run(argv: list[str], capped: bool) -> subprocess.CompletedProcess:
    head = [sys.executable, "-c", CAPPED] if capped else [sys.executable, "-m", "supdyn"]
    return subprocess.run(head + argv, capture_output=True, text=True, env=ENV, timeout=300)


def _left_behind(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and p.name != "filler")


def _store_root(kind: str, tmp_path: Path, request) -> Path:
    if kind == "enospc":
        return request.getfixturevalue("full_disk") / "store"
    return tmp_path / "store"


@pytest.mark.parametrize("kind", ["enospc", "efbig"])
def test_disk_full_during_train_is_one_line_and_leaves_nothing(kind, tmp_path, request, capsys):
    root = _store_root(kind, tmp_path, request)
    proc = _run(["train", *TINY, "--store", str(root)], capped=kind == "efbig")
    assert proc.returncode == 1, proc.stderr[-3000:]
    (line,) = proc.stderr.splitlines()
    cause = "No space left on device" if kind == "enospc" else "File too large"
    assert line.startswith("supdyn train: error: store: cannot write run ") and f"{root}" in line
    assert f"({cause})" in line and "nothing of it was kept" in line
    assert _left_behind(root) == []  # no half-written run, no temporary file
    if kind == "enospc":
        (root.parent / "filler").unlink()  # space again: the same command stores the run
    assert main(["train", *TINY, "--store", str(root), "--json"]) == 0
    assert Store(root).verify(json.loads(capsys.readouterr().out)["run_id"])


@pytest.mark.parametrize("kind, executor", [("enospc", "local"), ("efbig", "local"), ("efbig", "dask")])
def test_disk_full_during_sweep_is_one_line_and_leaves_nothing(kind, executor, tmp_path, request, capsys):
    root = _store_root(kind, tmp_path, request)
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC.format(t_max=5.0, seeds=[0, 1, 2]))
    argv = ["sweep", str(spec), "--store", str(root), "--no-progress", "--executor", executor, "--max-models", "1"]
    proc = _run(argv, capped=kind == "efbig")
    assert proc.returncode == 1, proc.stderr[-3000:]
    (line,) = proc.stderr.splitlines()
    assert line.startswith("supdyn sweep: error: store: cannot write run "), line
    assert _left_behind(root) == []  # in particular nothing in _failed/: the runs did not fail, the disk did
    if kind == "enospc":
        (root.parent / "filler").unlink()
    assert main([*argv, "--json"]) == 0 and json.loads(capsys.readouterr().out)["n_computed"] == 3


def test_a_failure_record_that_cannot_be_written_leaves_no_file(full_disk):
    from supdyn.config import from_dict

    store = Store(full_disk / "store")
    (full_disk / "filler").unlink()
    store.ensure_writable()
    _fill(full_disk / "filler")  # full again
    with pytest.raises(StoreWriteError, match=r"^store: cannot record the failure of run \w{12} in .*_failed "
                                              r"\(No space left on device\)$"):
        store.mark_failed(from_dict({"n_features": 32, "d_hidden": 8}), "boom " * 2000)
    assert _left_behind(store.root) == []


def test_a_failing_save_inside_the_library_raises_one_line(tmp_path, monkeypatch):
    """The store's own write error, not numpy's: the run, the path and the cause; _tmp is empty after."""
    from supdyn.config import from_dict

    (res,) = train([from_dict({"n_features": 32, "d_hidden": 8, "t_max": 5.0, "batch": 64, "eval_size": 256})],
                   progress=False)
    store = Store(tmp_path / "s")
    real = store_mod.np.savez

    def enospc(path, **arrays):
        real(path, **arrays)
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(store_mod.np, "savez", enospc)
    with pytest.raises(StoreWriteError) as exc:
        store.save(res)
    assert str(exc.value).startswith(f"store: cannot write run {res.config.run_id[:12]} to ")
    assert str(exc.value).endswith("arrays.npz (No space left on device); nothing of it was kept")
    assert list((store.root / "_tmp").iterdir()) == [] and res.config not in store


def test_plot_out_on_a_read_only_filesystem_is_one_line(tmp_path, capsys):
    assert main(["train", *TINY, "--store", str(tmp_path / "s"), "--json"]) == 0
    rid = json.loads(capsys.readouterr().out)["run_id"]
    rc = main(["plot", rid, "--store", str(tmp_path / "s"), "--out", "/proc/supdyn-curves.png", "--no-fit"])
    (line,) = capsys.readouterr().err.splitlines()
    assert rc == 2 and line.startswith("supdyn plot: error: --out: cannot write to /proc (")


# -- Ctrl-C ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("executor", ["local", "dask"])
def test_ctrl_c_of_a_sweep_is_one_line_and_it_resumes(executor, tmp_path):
    """SIGINT to the whole process group (what Ctrl-C in a terminal does): the Dask workers say nothing,
    the client prints the one "interrupted" line, exit 130; the same command then computes the rest."""
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC.format(t_max=1500.0, seeds=list(range(6))))
    root = tmp_path / "store"
    argv = [sys.executable, "-m", "supdyn", "sweep", str(spec), "--store", str(root), "--no-progress",
            "--max-models", "1", "--executor", executor]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
                            start_new_session=True)
    deadline = time.monotonic() + 180
    while not Store(root).run_ids() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, proc.communicate()[1][-3000:]
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-3000:]
    assert err.splitlines() == ["interrupted: finished runs are stored; run the same command again to compute "
                                "the rest"], err[-3000:]
    n_before = len(Store(root).run_ids())
    done = subprocess.run([*argv, "--json"], capture_output=True, text=True, env=ENV, timeout=300)
    rep = json.loads(done.stdout)
    assert done.returncode == 0 and rep["n_cached"] == n_before and rep["n_cached"] + rep["n_computed"] == 6

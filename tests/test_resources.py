"""Runs that are valid but cannot fit are refused before anything is allocated: one line with the
estimate, the limit and the override (``--max-memory``, ``--max-steps``), exit 2. The memory estimate
(``supdyn.config.resources.run_bytes``) is checked against the measured peak RSS of real runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import supdyn.sweep.tasks as tasks_mod
from supdyn.cli import main
from supdyn.config import ResourceError, from_dict, limits, resources
from supdyn.sweep import SlurmOptions
from supdyn.sweep.cluster import check_tasks_fit

ROOT = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT / "src"))

# peak RSS of train() in a fresh process, minus the RSS before it (after the imports): the kernel's
# high-water mark VmHWM, reset just before training (clear_refs 5), so that an earlier peak (imports)
# does not count
MEASURE = """
import json, sys, torch
from supdyn.config import from_dict, resources
from supdyn.train import train
torch.set_num_threads(1)
cfg = from_dict(json.loads(sys.argv[1]))
def status(key):
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) * 1024 for line in fh if line.startswith(key + ":"))
with open("/proc/self/clear_refs", "w") as fh:
    fh.write("5")
before = status("VmRSS")
train([cfg], progress=False)
print(json.dumps({"measured": status("VmHWM") - before, "estimate": resources.run_bytes(cfg)}))
"""


@pytest.mark.parametrize("kw", [
    {"n_features": 4096, "d_hidden": 64, "batch": 4096, "t_max": 3.0},  # ReLU student, sampled loss
    {"n_features": 2000, "d_hidden": 256, "variant": "linear", "t_max": 3.0},  # exact loss: N x N maps
    # no superposition: B is N x N. N = 2048 so that the N^2 terms, not the machine-dependent first-call
    # allocations (76-127 MB measured at N = 1024 on two machines), decide the ratio
    {"n_features": 2048, "d_hidden": 2048, "t_max": 3.0},
    {"n_features": 1024, "d_hidden": 64, "batch": 65536, "lr": 0.1, "t_max": 0.2},  # a large batch
    # importance weights square and weight the step's errors out of place: two more rows x N arrays
    {"n_features": 1024, "d_hidden": 64, "batch": 65536, "lr": 0.1, "t_max": 0.2, "importance": "power",
     "importance_exponent": 1.0},
    {"n_features": 1024, "d_hidden": 64, "batch": 65536, "lr": 0.1, "t_max": 0.2, "dtype": "float64"},
], ids=["fixed", "linear", "none", "batch", "weighted", "float64"])
def test_memory_estimate_brackets_the_measured_peak(kw):
    """The estimate is within [0.7, 2.5] x the measured peak of the run (an overestimate refuses less
    than it should allow only near the limit; an underestimate would let a run be killed)."""
    proc = subprocess.run([sys.executable, "-c", MEASURE, json.dumps(kw)], capture_output=True, text=True,
                          env=ENV, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(proc.stdout)
    ratio = got["estimate"] / got["measured"]
    assert 0.7 <= ratio <= 2.5, (got, ratio)


def _one_line(capsys, argv: list[str], rc: int = 2) -> str:
    assert main(argv) == rc
    cap = capsys.readouterr()
    lines = cap.err.splitlines()
    assert len(lines) == 1 and "Traceback" not in cap.err, cap.err
    return lines[0]


@pytest.fixture
def no_training(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("a run that cannot fit reached training")

    monkeypatch.setattr(tasks_mod, "train", refuse)


@pytest.mark.parametrize("argv, what", [
    (["train", "--N", "1000000000", "--K", "8"], "this run (N = 1000000000, K = 8"),
    (["train", "--N", "10000000", "--K", "10000000"], "this run (N = 10000000, K = 10000000"),
    (["train", "--batch", "1000000000"], "batch = 1000000000"),
    (["train", "--eval-size", "1000000000"], "eval_size = 1000000000"),
    (["theory", "--N", "1000000000"], "the exact theory of N = 1000000000 features"),
])
def test_huge_sizes_are_refused_with_estimate_limit_and_override(argv, what, tmp_path, capsys, no_training):
    t0 = time.perf_counter()
    extra = ["--store", str(tmp_path)] if argv[0] == "train" else []
    line = _one_line(capsys, [*argv, *extra, "--max-memory", "8G"])
    assert line.startswith(f"supdyn {argv[0]}: error: memory: ") and what in line, line
    assert "needs about" in line and "more than the 8 GB of --max-memory" in line and "--max-memory none" in line
    assert time.perf_counter() - t0 < 10  # refused from the sizes alone, nothing allocated


def test_the_default_limit_is_the_memory_available_here(tmp_path):
    """Without --max-memory: refused against MemAvailable, in a process whose address space is capped
    at 6 GB, so a run that allocated first would fail with MemoryError instead of this line."""
    cap = ("import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30)); "
           "from supdyn.cli import main; sys.exit(main(sys.argv[1:]))")
    proc = subprocess.run([sys.executable, "-c", cap, "train", "--N", "1000000000", "--K", "8", "--store",
                           str(tmp_path)], capture_output=True, text=True, env=ENV, timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    (line,) = proc.stderr.splitlines()
    have = resources.available_bytes()
    assert line.startswith("supdyn train: error: memory: this run") and "available here" in line
    assert have is not None and have < 1 << 50


def test_override_lets_the_run_train(tmp_path, capsys):
    """A run over an explicit limit is refused; --max-memory above its estimate, or none, trains it."""
    argv = ["train", "--N", "1024", "--K", "8", "--batch", "65536", "--lr", "0.1", "--t-max", "0.1",
            "--eval-size", "256", "--store", str(tmp_path), "--json"]
    need = resources.run_bytes(from_dict({"n_features": 1024, "d_hidden": 8, "batch": 65536, "lr": 0.1,
                                          "t_max": 0.1, "eval_size": 256}))
    assert need > resources.CHECK_FLOOR
    line = _one_line(capsys, [*argv, "--max-memory", "200M"])
    assert "more than the 200 MB of --max-memory" in line
    assert main([*argv, "--max-memory", str(need + (1 << 20))]) == 0
    assert json.loads(capsys.readouterr().out)["cached"] is False
    assert main([*argv, "--max-memory", "none", "--seed", "1"]) == 0


def test_step_limit_refuses_and_its_override_passes(capsys, tmp_path, no_training):
    line = _one_line(capsys, ["train", "--t-max", "1e12", "--store", str(tmp_path)])
    assert line.startswith("supdyn train: error: steps: this run takes 1e+12 SGD steps") and "--max-steps N" in line
    with limits(steps=10**13, memory=None):
        assert from_dict({"t_max": 1e12}).train.t_max == 1e12
    with limits(), pytest.raises(ResourceError, match="more than the limit of 1e\\+09"):
        from_dict({"t_max": 1e12})
    assert from_dict({"t_max": 1e12}).train.t_max == 1e12  # the library checks nothing unless asked


def test_sweep_dry_run_of_a_huge_spec_is_refused(tmp_path, capsys, no_training):
    spec = tmp_path / "huge.toml"
    spec.write_text("[base]\nn_features = 1000000000\nd_hidden = 8\n[grid]\nseed = [0, 1]\n")
    line = _one_line(capsys, ["sweep", str(spec), "--dry-run", "--store", str(tmp_path / "s"), "--max-memory", "8G"])
    assert line.startswith("supdyn sweep: error: memory: this run (N = 1000000000")


def _task(n: int, **kw):
    return [from_dict({"n_features": 16384, "d_hidden": 2048, "t_max": 1.0, "seed": s, **kw}) for s in range(n)]


def test_packed_tasks_are_checked_where_they_run():
    """A task of 16 runs needs ~16x one run: refused in this process (local executor), on a 2-worker
    LocalCluster (two such tasks at once) and in a SLURM worker with too little memory per job."""
    one = resources.run_bytes(_task(1)[0])
    limit = 6 * one
    with limits(memory=limit, steps=None):
        check_tasks_fit([_task(4)], executor="local", workers=2, scheduler=None, slurm=None)
        with pytest.raises(ResourceError, match=r"^memory: a task of 16 run\(s\) .*--max-models packs them"):
            check_tasks_fit([_task(16)], executor="local", workers=2, scheduler=None, slurm=None)
        with pytest.raises(ResourceError, match=r"^memory: 2 worker\(s\) at once"):
            check_tasks_fit([_task(4), _task(4, a=1.5)], executor="dask", workers=2, scheduler=None, slurm=None)
        check_tasks_fit([_task(16)], executor="dask", workers=2, scheduler="tcp://elsewhere:8786", slurm=None)
        with pytest.raises(ResourceError, match=r"more than the .* of a SLURM worker \(4GB per job over 1 "
                                                r"worker\(s\)\); allowed: --slurm-memory SIZE"):
            check_tasks_fit([_task(4)], executor="dask", workers=2, scheduler=None, slurm=SlurmOptions(memory="4GB"))
        check_tasks_fit([_task(4)], executor="dask", workers=2, scheduler=None, slurm=SlurmOptions(memory="64GB"))
    with limits(memory=None):
        check_tasks_fit([_task(16)], executor="local", workers=2, scheduler=None, slurm=None)


def test_sweep_cli_refuses_a_slurm_job_too_small_before_any_job(tmp_path, capsys, no_training):
    spec = tmp_path / "spec.toml"
    spec.write_text("[base]\nn_features = 8192\nd_hidden = 1024\nt_max = 1.0\n[grid]\nseed = [0, 1, 2, 3]\n"
                    "[slurm]\nmemory = \"1GB\"\n")
    line = _one_line(capsys, ["sweep", str(spec), "--slurm", "--store", str(tmp_path / "s"), "--no-progress"])
    assert line.startswith("supdyn sweep: error: memory: a task of 4 run(s)") and "SLURM worker (1GB" in line


@pytest.mark.parametrize("text, expected", [("8G", 8 << 30), ("512MB", 512 << 20), ("2e9", 2_000_000_000),
                                            ("1.5k", 1536), ("none", None), ("OFF", None)])
def test_parse_size(text, expected):
    assert resources.parse_size(text) == expected


@pytest.mark.parametrize("text", ["3x", "-1G", "0", "", "G"])
def test_parse_size_rejects(text):
    with pytest.raises(ValueError, match="^--max-memory: got"):
        resources.parse_size(text)

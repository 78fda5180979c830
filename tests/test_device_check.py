"""benchmarks/device_check.sh, the one-command GPU check, run here without a GPU: every stage starts,
the CUDA tests it names exist and are collected (then skipped), and the stages that need a GPU say so."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present: run the script itself")
def test_device_check_runs_every_stage_without_a_gpu(tmp_path):
    env = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(["bash", str(ROOT / "benchmarks" / "device_check.sh"), str(tmp_path / "out")],
                          capture_output=True, text=True, env=env, timeout=600)
    out = tmp_path / "out"
    summary = (out / "summary.txt").read_text().splitlines()
    assert [line.split(":")[0] for line in summary] == ["env", "engine", "sampler", "tests", "reproduce", "full"], summary
    codes = {line.split(":")[0]: line.split("exit ")[1].split()[0] for line in summary}
    assert codes == {"env": "1", "engine": "0", "sampler": "0", "tests": "0", "reproduce": "2", "full": "2"}, summary
    assert proc.returncode == 3  # the number of failed stages
    assert len(list(out.iterdir())) <= 9
    tests = (out / "tests.txt").read_text()
    assert "cuda: no CUDA GPU on this machine" in tests and " passed" not in tests and "error" not in tests.lower()
    n_skipped = int(tests.split(" skipped")[0].split()[-1])
    assert n_skipped >= 30  # the CUDA variants of the device-parametrized tests, collected
    assert "CUDA is not available" in (out / "engine.txt").read_text()
    assert "CUDA is not available" in (out / "sampler.txt").read_text()
    assert "no CUDA GPU is available here" in (out / "reproduce.txt").read_text()
    assert "no CUDA GPU is available here to time the tasks" in (out / "full.txt").read_text()

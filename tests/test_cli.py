"""`supdyn train` and `supdyn runs` (other verbs are tested beside their modules)."""

import json

from supdyn.cli import main
from supdyn.config import load_toml
from supdyn.store import Store

TINY = ["--N", "32", "--K", "8", "--t-max", "5", "--batch", "64", "--eval-size", "256"]


def test_train_json_then_cached(tmp_path, capsys):
    args = ["train", *TINY, "--a", "1.5", "--per-feature", "--snapshots", "1", "5", "--store", str(tmp_path),
            "--json"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"run_id", "t", "loss", "diverged"} <= set(out)
    assert out["t"][0] == 0 and out["t"][-1] == 5 and len(out["t"]) == len(out["loss"])
    assert out["cached"] is False and out["diverged"] is False
    run = Store(tmp_path).load(out["run_id"])
    assert run.config.data.a == 1.5 and run.arrays["snapshot_B"].shape == (2, 8, 8)
    assert main(args) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["cached"] is True and again["loss"] == out["loss"]


def test_train_from_toml_with_flag_override(tmp_path, capsys):
    f = tmp_path / "run.toml"
    f.write_text("seed = 4\n[data]\nn_features = 32\na = 2.0\n[model]\nd_hidden = 8\n"
                 "[train]\nt_max = 3.0\nbatch = 32\neval_size = 128\n")
    assert main(["train", str(f), "--b", "0.5", "--store", str(tmp_path / "s"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    cfg = load_toml(f).replace(b=0.5)
    assert out["run_id"] == cfg.run_id and out["config"]["seed"] == 4


def test_train_human_output_and_runs_table(tmp_path, capsys):
    assert main(["train", *TINY, "--store", str(tmp_path), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "loss =" in text and "stored in" in text
    assert main(["runs", "--store", str(tmp_path)]) == 0
    table = capsys.readouterr().out
    assert "1 run(s)" in table and "fixed" in table
    assert main(["runs", "--store", str(tmp_path), "--csv"]) == 0
    assert capsys.readouterr().out.startswith("run_id,")
    assert main(["runs", "--store", str(tmp_path / "empty")]) == 0
    assert "no runs" in capsys.readouterr().out


def test_python_dash_m_supdyn_is_the_command(tmp_path, capsys):
    """`python -m supdyn` (the package on PYTHONPATH only, e.g. on a GPU machine) trains and stores a
    run exactly as `supdyn train` in this process does."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    src = str(Path(__file__).resolve().parents[1] / "src")
    env = {**os.environ, "PYTHONPATH": src, "OMP_NUM_THREADS": "1"}
    args = ["train", *TINY, "--store", str(tmp_path / "a"), "--json"]
    proc = subprocess.run([sys.executable, "-m", "supdyn", *args], capture_output=True, text=True, env=env,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    capsys.readouterr()
    assert main(["train", *TINY, "--store", str(tmp_path / "b"), "--json"]) == 0
    here = json.loads(capsys.readouterr().out)
    assert here["run_id"] == out["run_id"] and here["loss"] == out["loss"]  # same CPU: bit for bit
    bad = subprocess.run([sys.executable, "-m", "supdyn", "train", "--K", "0"], capture_output=True, text=True,
                         env=env, timeout=300)
    assert bad.returncode == 2 and "d_hidden" in bad.stderr
    assert Store(tmp_path / "a").load(out["run_id"]).config == Store(tmp_path / "b").load(out["run_id"]).config
    assert bad.stdout == ""


def test_closed_stdout_pipe_ends_quietly(tmp_path):
    """`supdyn runs | head`: a reader that went away ends the command with 141 and no traceback."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    assert main(["train", *TINY, "--store", str(tmp_path), "--json"]) == 0
    src = str(Path(__file__).resolve().parents[1] / "src")
    r, w = os.pipe()
    os.close(r)  # the reader is gone before the command writes
    try:
        proc = subprocess.run([sys.executable, "-m", "supdyn", "runs", "--store", str(tmp_path)], stdout=w,
                              stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": src},
                              timeout=300)
    finally:
        os.close(w)
    assert proc.returncode == 141 and "Traceback" not in proc.stderr and "Exception" not in proc.stderr, proc.stderr


def test_train_flags_for_optimizers_schedules_and_the_tied_student(tmp_path, capsys):
    flags = ["--variant", "tied", "--optimizer", "adamw", "--schedule", "cosine", "--warmup", "20", "--lr", "0.01",
             "--t-max", "0.5", "--lr-final", "0.05", "--weight-decay", "-0.5", "--value-max", "2",
             "--embedding-init", "gaussian", "--bias-init-scale", "1", "--loss-reduction", "mean", "--beta2", "0.99"]
    assert main(["train", *TINY[:-4], "--batch", "64", "--eval-size", "256", *flags, "--store", str(tmp_path),
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    cfg = Store(tmp_path).load(out["run_id"]).config
    assert (cfg.variant, cfg.train.optimizer, cfg.train.schedule, cfg.train.warmup) == ("tied", "adamw", "cosine", 20)
    assert (cfg.train.weight_decay, cfg.data.value_max, cfg.model.embedding_init, cfg.train.beta2) == \
        (-0.5, 2.0, "gaussian", 0.99)
    assert out["t"][-1] < 0.5 and len(out["t"]) == len(out["loss"]) and not out["diverged"]  # t = Σ lr_k < t_max
    assert Store(tmp_path).load(out["run_id"]).arrays["steps"][-1] == 50

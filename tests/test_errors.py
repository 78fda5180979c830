"""The catalogue of bad inputs (docs/errors.md): each is answered through the CLI by exit code 2 and
one line ``supdyn <verb>: error: <field>: ...`` naming the allowed range, no traceback (unless
``--debug``). Also: the stability estimate ``stable_lr_bound`` and the divergence hint of ``train``.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch

import supdyn.sweep.tasks as sweep_mod
from supdyn.cli import main
from supdyn.config import ConfigError, DataConfig, from_dict
from supdyn.data import frequencies, max_eigenvalue, second_moment, stable_lr_bound

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--N", "32", "--K", "8", "--t-max", "5", "--batch", "64", "--eval-size", "256", "--no-progress"]
HAS_CUDA = torch.cuda.is_available()

TOML_BASE = "[data]\nn_features = 32\n{data}\n[model]\nd_hidden = 8\n{model}\n[train]\nt_max = 5.0\nbatch = 64\n" \
            "eval_size = 256\n"
SPEC = "[base]\nn_features = 32\nd_hidden = 8\nt_max = 5.0\nbatch = 64\neval_size = 256\n{base}\n[grid]\n{grid}\n"
CSV = "t,loss\n" + "".join(f"{t:g},{2.0 / t:g}\n" for t in np.logspace(0, 4, 41))


def _toml(tmp: Path, data: str = "", model: str = "") -> str:
    f = tmp / "run.toml"
    f.write_text(TOML_BASE.format(data=data, model=model))
    return str(f)


def _spec(tmp: Path, base: str = "", grid: str = "seed = [0]") -> str:
    f = tmp / "spec.toml"
    f.write_text(SPEC.format(base=base, grid=grid))
    return str(f)


def _write(path: Path, text: str) -> str:
    path.write_text(text)
    return path.name  # relative: the test runs in the tmp directory


def _csv(tmp: Path) -> str:
    f = tmp / "curve.csv"
    f.write_text(CSV)
    return str(f)


def _user_toml(tmp: Path, p: str = "0.5" + ", 0.01" * 31, teacher: str = "") -> str:
    data = f'law = "user"\np = [{p}]\n' + (f'teacher = "user"\nteacher_diag = [{teacher}]\n' if teacher else "")
    return _toml(tmp, data)


def _csv_text(tmp: Path, text: str) -> str:
    return _write(tmp / "c.csv", text)


def _binary(tmp: Path, name: str) -> str:
    (tmp / name).write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe")
    return name


def _a_file(tmp: Path) -> str:
    f = tmp / "a-file"
    f.write_text("not a directory")
    return str(f)


def _not_a_dir(tmp: Path) -> str:
    blocker = tmp / "blocker"
    blocker.write_text("a file, so nothing can be created below it (works as root, unlike chmod)")
    return str(blocker / "store")


# id: (argv builder (tmp dir → argv after the verb's store option is added), verb, field, phrases the
# message must contain). Each id has a row in docs/errors.md.
CATALOGUE = {
    "N<1": (lambda t: ["train", *TINY, "--N", "0"], "train", "n_features", ["an integer >= 1"]),
    "K<1": (lambda t: ["train", *TINY, "--K", "0"], "train", "d_hidden", ["an integer >= 1"]),
    "K>N": (lambda t: ["train", *TINY, "--K", "64"], "train", "d_hidden", ["1 <= K <= n_features = 32"]),
    "K!=N-none": (lambda t: ["train", *TINY, "--variant", "none"], "train", "d_hidden",
                  ["K = n_features = 32 for variant 'none'"]),
    "a-nan": (lambda t: ["train", *TINY, "--a", "nan"], "train", "a", ["a finite number"]),
    "a-inf": (lambda t: ["train", *TINY, "--a", "inf"], "train", "a", ["a finite number"]),
    "b-inf": (lambda t: ["train", *TINY, "--b", "inf"], "train", "b", ["a finite number"]),
    "b<0": (lambda t: ["train", *TINY, "--b", "-0.5"], "train", "b", ["b >= 0"]),
    "density<=0": (lambda t: ["train", *TINY, "--density", "0"], "train", "density", ["> 0"]),
    "p>1-normalized": (lambda t: ["train", *TINY, "--a", "3", "--density", "2"], "train", "density",
                       ["normalized p_1 = 1.66447 exceeds 1 by 0.664", "every p_i in [0, 1]"]),
    "p>1-unnormalized": (lambda t: ["train", *TINY, "--law", "algebraic", "--normalize", "none", "--a", "1"],
                         "train", "a", ["p_1 = 32 exceeds 1 by 31", "every p_i in [0, 1]"]),
    "law-not-normalizable": (lambda t: ["train", *TINY, "--a", "-800"], "train", "a",
                             ["cannot be normalized", "a finite positive sum"]),
    "user-p-length": (lambda t: ["train", _toml(t, 'law = "user"\np = [0.5, 0.25, 0.125]'), "--no-progress"],
                      "train", "p", ["length n_features = 32"]),
    "user-p-nan": (lambda t: ["train", _toml(t, 'law = "user"\np = [0.5, 0.25, nan' + ", 0.1" * 29 + "]"),
                              "--no-progress"], "train", "p[2]", ["a finite number"]),
    "user-p>1": (lambda t: ["train", _toml(t, 'law = "user"\np = [0.5, 0.25, 1.5' + ", 0.1" * 29 + "]"),
                            "--no-progress"], "train", "p", ["p_3 = 1.5 exceeds 1 by 0.5", "every p_i in [0, 1]"]),
    "user-p-missing": (lambda t: ["train", _toml(t, 'law = "user"'), "--no-progress"], "train", "p",
                       ["a list of 32 frequencies in [0, 1]"]),
    "lr=0": (lambda t: ["train", *TINY, "--lr", "0"], "train", "lr", ["lr > 0"]),
    "lr<0": (lambda t: ["train", *TINY, "--lr", "-1"], "train", "lr", ["lr > 0"]),
    "batch<1": (lambda t: ["train", *TINY, "--batch", "0"], "train", "batch", ["an integer >= 1"]),
    "t_max<=0": (lambda t: ["train", *TINY, "--t-max", "0"], "train", "t_max", ["t_max > 0"]),
    "seed<0": (lambda t: ["train", *TINY, "--seed", "-1"], "train", "seed", ["an integer >= 0"]),
    "snapshots-not-increasing": (lambda t: ["train", *TINY, "--snapshots", "3", "2"], "train", "snapshots",
                                 ["strictly increasing times"]),
    "snapshot>t_max": (lambda t: ["train", *TINY, "--snapshots", "1", "30"], "train", "snapshots[1]",
                       ["0 <= t <= t_max = 5"]),
    "warmup-constant": (lambda t: ["train", *TINY, "--warmup", "3"], "train", "warmup",
                        ["0 with schedule 'constant'"]),
    "warmup>=steps": (lambda t: ["train", *TINY, "--schedule", "cosine", "--warmup", "5"], "train", "warmup",
                      ["0 <= warmup < round(t_max / lr) = 5"]),
    "lr_final>1": (lambda t: ["train", *TINY, "--schedule", "cosine", "--lr-final", "2"], "train", "lr_final",
                   ["0 <= lr_final <= 1"]),
    "decay_every-step": (lambda t: ["train", *TINY, "--schedule", "step"], "train", "decay_every",
                         ["an integer >= 1 (steps between decays) with schedule 'step'"]),
    "beta1-sgd": (lambda t: ["train", *TINY, "--beta1", "0.8"], "train", "beta1",
                  ["the default 0.9 unless optimizer is 'adam' or 'adamw'"]),
    "beta2>=1": (lambda t: ["train", *TINY, "--optimizer", "adam", "--beta2", "1"], "train", "beta2",
                 ["0 <= beta2 < 1"]),
    "weight_decay-fixed": (lambda t: ["train", *TINY, "--weight-decay", "0.1"], "train", "weight_decay",
                           ["0 for variant 'fixed' (no learned embedding"]),
    "weight_decay_B<0": (lambda t: ["train", *TINY, "--weight-decay-B", "-1"], "train", "weight_decay_B",
                         ["weight_decay_B >= 0"]),
    "weight_decay_B-tied": (lambda t: ["train", *TINY, "--variant", "tied", "--weight-decay-B", "0.1"], "train",
                            "weight_decay_B", ["0 for variant 'tied' (no B"]),
    "value_max<=0": (lambda t: ["train", *TINY, "--value-max", "0"], "train", "value_max", ["value_max > 0"]),
    "bias_init_scale-linear": (lambda t: ["train", *TINY, "--variant", "linear", "--bias-init-scale", "1"],
                               "train", "bias_init_scale", ["0 for variant 'linear' (no bias)"]),
    "law-unknown": (lambda t: ["train", _toml(t, 'law = "pwr"'), "--no-progress"], "train", "law",
                    ["one of power, exponential, algebraic, user", "did you mean 'power'"]),
    "variant-unknown": (lambda t: ["train", _toml(t, model='variant = "fix"'), "--no-progress"], "train",
                        "variant", ["one of auto, none, linear, fixed, learnable, tied", "did you mean 'fixed'"]),
    "toml-unknown-key": (lambda t: ["train", _toml(t, "aa = 1.5"), "--no-progress"], "train", "[data] aa",
                         ["unknown key; did you mean 'a'?", "valid: a, b, cooccur"]),
    "toml-unknown-top-key": (lambda t: ["train", _toml(t, model="[trian]\nlr = 1.0"), "--no-progress"],
                             "train", "trian", ["unknown key; did you mean 'train'?", "valid:"]),
    "toml-wrong-type": (lambda t: ["train", _toml(t, model='init_scale = "big"'), "--no-progress"],
                        "train", "init_scale", ["got 'big'; allowed: a finite number"]),
    "toml-missing-file": (lambda t: ["train", "nope.toml"], "train", "nope.toml", ["cannot read"]),
    "toml-invalid": (lambda t: ["train", _write(t / "bad.toml", "[data\nn_features = 32\n")], "train", "bad.toml",
                     ["not valid TOML", "allowed: a TOML file"]),
    "device-invalid": (lambda t: ["train", *TINY, "--device", "gpu"], "train", "device",
                       ["cpu, cuda or cuda:N"]),
    "device-cuda-train": (lambda t: ["train", *TINY, "--device", "cuda"], "train", "device",
                          ["no CUDA GPU is available here; allowed: cpu"]),
    "store-unwritable-train": (lambda t: ["train", *TINY, "--store", _not_a_dir(t)], "train", "store",
                               ["cannot write to", "a writable directory"]),
    "theory-t-not-increasing": (lambda t: ["theory", "--N", "32", "--t", "10", "5"], "theory", "--t",
                                ["strictly increasing finite times t >= 0"]),
    "theory-t-negative": (lambda t: ["theory", "--N", "32", "--t", "-1", "5"], "theory", "--t",
                          ["strictly increasing finite times t >= 0"]),
    "theory-p>1": (lambda t: ["theory", "--N", "32", "--a", "3", "--density", "2"], "theory", "density",
                   ["exceeds 1 by 0.664", "every p_i in [0, 1]"]),
    "theory-law-not-normalizable": (lambda t: ["theory", "--N", "32", "--a", "-800"], "theory", "a",
                                    ["cannot be normalized", "a finite positive sum"]),
    "theory-b<0": (lambda t: ["theory", "--N", "32", "--b", "-1"], "theory", "b", ["b >= 0"]),
    "fit-at-not-increasing": (lambda t: ["fit", _csv(t), "--window", "10", "1000", "--at", "100", "10"], "fit",
                              "--at", ["strictly increasing finite times t > 0"]),
    "fit-unknown-run-id": (lambda t: ["fit", "abcdef0123", "--store", str(t / "store")], "fit", "run id",
                           ["'abcdef0123' not found", "listed by `supdyn runs`"]),
    "fit-not-a-source": (lambda t: ["fit", "nope.csv"], "fit", "SOURCE", ["no such file, and not a run id"]),
    "sweep-unknown-grid-key": (lambda t: ["sweep", _spec(t, grid="aa = [1.0, 2.0]"), "--store", str(t / "s")],
                               "sweep", "aa", ["unknown key; did you mean 'a'?"]),
    "sweep-p>1": (lambda t: ["sweep", _spec(t, grid="density = [1.0, 4.0]\na = [3.0]"), "--store", str(t / "s")],
                  "sweep", "density", ["exceeds 1 by", "every p_i in [0, 1]"]),
    "sweep-device-cuda": (lambda t: ["sweep", _spec(t), "--store", str(t / "s"), "--device", "cuda"], "sweep",
                          "device", ["no CUDA GPU is available here; allowed: cpu"]),
    "sweep-device-cuda-dask": (lambda t: ["sweep", _spec(t), "--store", str(t / "s"), "--device", "cuda",
                                          "--executor", "dask"], "sweep", "device",
                               ["no CUDA GPU is available here; allowed: cpu"]),
    "sweep-store-unwritable": (lambda t: ["sweep", _spec(t), "--store", _not_a_dir(t), "--no-progress"], "sweep",
                               "store", ["cannot write to", "a writable directory"]),
    "sweep-workers<1": (lambda t: ["sweep", _spec(t), "--workers", "0"], "sweep", "workers",
                        ["an integer >= 1"]),
    "plot-nothing": (lambda t: ["plot", "--store", str(t / "s")], "plot", "RUN",
                     ["none given", "stored run ids"]),
    "plot-spec-not-stored": (lambda t: ["plot", "--spec", _spec(t), "--store", str(t / "s")], "plot", "--spec",
                             ["1 of 1 runs of", "are not in store", "run `supdyn sweep"]),
    "plot-unknown-run-id": (lambda t: ["plot", "abcdef0123", "--store", str(t / "s")], "plot", "run id",
                            ["'abcdef0123' not found"]),
    "plot-window": (lambda t: ["plot", "abcdef0123", "--window", "1000", "10"], "plot", "--window",
                    ["got 1000 10", "0 < LO < HI"]),
    "plot-out-suffix": (lambda t: ["plot", "abcdef0123", "--out", "c.svg"], "plot", "--out",
                        ["a path ending in .png or .pdf"]),
    # -- steps, sizes and other inputs that are valid one by one (issue 21) --
    "steps<1": (lambda t: ["train", *TINY, "--t-max", "0.4"], "train", "t_max / lr",
                ["got 0.4", "1 <= round(t_max / lr) <= 2^53 SGD steps"]),
    "steps-overflow-t_max": (lambda t: ["train", *TINY, "--t-max", "1e30"], "train", "t_max / lr",
                             ["got 1e+30", "<= 2^53 SGD steps"]),
    "steps-overflow-lr": (lambda t: ["train", *TINY, "--lr", "1e-30"], "train", "t_max / lr",
                          ["got 5e+30", "lr = 1e-30"]),
    "user-p-all-zero": (lambda t: ["train", _user_toml(t, ", ".join(["0.0"] * 32)), "--no-progress"], "train", "p",
                        ["every p_i is 0", "at least one p_i > 0"]),
    "law-underflows-to-zero": (lambda t: ["train", *TINY, "--law", "exponential", "--kappa", "1000", "--normalize",
                                          "none"], "train", "a", ["every p_i is 0"]),
    "teacher-overflows": (lambda t: ["train", _user_toml(t, teacher="1e300" + ", 1.0" * 31), "--no-progress"],
                          "train", "teacher_diag[0]", ["got 1e+300", "for dtype float32", "use float64"]),
    "toml-binary": (lambda t: ["train", _binary(t, "bin.toml")], "train", "bin.toml",
                    ["not valid TOML (byte 0x89 at offset 0 is not UTF-8 text)"]),
    "max-memory-invalid": (lambda t: ["train", *TINY, "--max-memory", "3x"], "train", "--max-memory",
                           ["got '3x'", "8G, 512M or 2e9"]),
    "max-steps-invalid": (lambda t: ["train", *TINY, "--max-steps", "-5"], "train", "--max-steps",
                          ["an integer >= 1, or none"]),
    "memory-train": (lambda t: ["train", *TINY, "--N", "1000000", "--max-memory", "1G"], "train", "memory",
                     ["this run (N = 1000000, K = 8", "more than the 1 GB of --max-memory", "--max-memory none"]),
    "memory-theory": (lambda t: ["theory", "--N", "1000000000", "--max-memory", "8G"], "theory", "memory",
                      ["the exact theory of N = 1000000000 features", "more than the 8 GB of --max-memory"]),
    "memory-sweep-task": (lambda t: ["sweep", _write(t / "big.toml", "[base]\nn_features = 8192\nd_hidden = 1024\n"
                                                    f"t_max = 1.0\n[grid]\nseed = {list(range(16))}\n"),
                                     "--max-memory", "2G"], "sweep", "memory",
                          ["a task of 16 run(s)", "--max-models packs them", "more than the 2 GB of --max-memory"]),
    "steps-limit": (lambda t: ["train", *TINY, "--t-max", "1e12"], "train", "steps",
                    ["1e+12 SGD steps", "more than the limit of 1e+09", "--max-steps N"]),
    "sweep-grid-point-invalid": (lambda t: ["sweep", _spec(t, grid="d_hidden = [8, 64]")], "sweep", "d_hidden",
                                 ["got 64", "1 <= K <= n_features = 32"]),
    "fit-window": (lambda t: ["fit", _csv(t), "--window", "0", "100"], "fit", "--window", ["0 < LO < HI"]),
    "fit-smooth": (lambda t: ["fit", _csv(t), "--smooth", "-1"], "fit", "--smooth", ["a width in decades >= 0"]),
    "fit-csv-t-nan": (lambda t: ["fit", _csv_text(t, "t,loss\n1,1\nnan,0.5\n10,0.1\n")], "fit",
                      "c.csv", ["line 3: t = nan", "strictly increasing"]),
    "fit-csv-t-negative": (lambda t: ["fit", _csv_text(t, "t,loss\n-1,1\n1,0.5\n")], "fit", "c.csv",
                           ["line 2: t = -1", "finite times t >= 0"]),
    "fit-csv-t-repeated": (lambda t: ["fit", _csv_text(t, "t,loss\n1,1\n1,0.5\n10,0.1\n")], "fit", "c.csv",
                           ["line 3: t = 1 after t = 1", "strictly increasing"]),
    "fit-csv-binary": (lambda t: ["fit", _binary(t, "bin.csv")], "fit", "bin.csv",
                       ["not a text file (byte 0x89 at offset 0 is not UTF-8)", "a CSV file with columns t,loss"]),
    "fit-constant-loss": (lambda t: ["fit", _csv_text(t, "t,loss\n" + "".join(f"{x:g},0.5\n" for x in
                                                                              np.logspace(0, 4, 41)))], "fit",
                          "loss", ["constant on the window [1000, 10000]", "a curve that decreases"]),
    "store-empty": (lambda t: ["train", *TINY, "--store", ""], "train", "store", ["got ''", "a store directory"]),
    "runs-store-is-a-file": (lambda t: ["runs", "--store", _a_file(t)], "runs", "store",
                             ["is not a directory", "a store directory"]),
    "plot-out-under-a-file": (lambda t: ["plot", "abcdef0123", "--out", _a_file(t) + "/c.png"], "plot", "--out",
                              ["cannot write to", "(not a directory)", "a writable directory"]),
    "max-memory-infinite": (lambda t: ["train", *TINY, "--max-memory", "1e400"], "train", "--max-memory",
                            ["got '1e400'", "a size such as 8G"]),
    "max-memory-below-a-byte": (lambda t: ["train", *TINY, "--max-memory", "0.5"], "train", "--max-memory",
                                ["got '0.5'"]),
    "slurm-memory-none": (lambda t: ["sweep", _write(t / "s.toml", "[base]\nn_features = 32\nd_hidden = 8\n"
                                                     "t_max = 5.0\n[grid]\nseed = [0]\n[slurm]\nmemory = \"none\"\n"),
                                     "--slurm"], "sweep", "slurm.memory", ["got 'none'", "8G, 512M or 2e9 (bytes)"]),
    "sweep-scheduler-garbage": (lambda t: ["sweep", _spec(t), "--scheduler", "garbage", "--no-progress"], "sweep",
                                "scheduler", ["cannot connect to 'garbage'", "tcp://host:8786"]),
    "reproduce-out-is-a-file": (lambda t: ["reproduce", "--smoke", "--only", "fig3", "--out", _a_file(t),
                                           "--store", str(t / "s"), "--no-progress"], "reproduce", "--out",
                                ["cannot write to", "a writable directory"]),
}
NEEDS_NO_CUDA = {"device-cuda-train", "sweep-device-cuda", "sweep-device-cuda-dask"}


@pytest.mark.parametrize("case", list(CATALOGUE))
def test_bad_input_is_one_clear_line(case, tmp_path, capsys, monkeypatch):
    if case in NEEDS_NO_CUDA and HAS_CUDA:
        pytest.skip("this machine has a CUDA GPU")
    build, verb, field, phrases = CATALOGUE[case]

    def no_training(*a, **k):
        raise AssertionError("bad input reached training")

    monkeypatch.setattr(sweep_mod, "train", no_training)  # every error comes before any training
    monkeypatch.chdir(tmp_path)  # a default ./runs store would land here
    argv = build(tmp_path)
    if "--store" not in argv and verb in ("train", "sweep"):
        argv += ["--store", str(tmp_path / "store")]
    rc = main(argv)
    cap = capsys.readouterr()
    lines = cap.err.splitlines()
    assert rc == 2, cap.err
    assert len(lines) == 1, cap.err
    line = lines[0]
    assert line.startswith(f"supdyn {verb}: error: {field}"), line
    for phrase in phrases:
        assert phrase in line, (phrase, line)
    assert ("allowed" in line or "valid:" in line or "did you mean" in line), line
    assert "Traceback" not in cap.err + cap.out
    assert cap.out == "" or (verb == "sweep" and cap.out.startswith("sweep: "))  # sweep's header line


def test_catalogue_has_at_least_15_distinct_fields():
    fields = {field.split("[")[0].strip() for _, _, field, _ in CATALOGUE.values()}
    assert len(CATALOGUE) >= 15 and len(fields) >= 15, sorted(fields)


def test_docs_list_every_catalogued_error():
    doc = (ROOT / "docs" / "errors.md").read_text()
    missing = [case for case in CATALOGUE if f"`{case}`" not in doc]
    assert not missing, f"docs/errors.md lacks {missing}"


def test_debug_reraises(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="^n_features: got 0"):
        main(["--debug", "train", *TINY, "--N", "0"])
    with pytest.raises(ConfigError, match="exceeds 1 by"):
        main(["--debug", "train", *TINY, "--a", "3", "--density", "2"])
    with pytest.raises(KeyError, match="not found"):
        main(["--debug", "fit", "abcdef", "--store", str(tmp_path)])
    with pytest.raises(ValueError, match="^--t: "):
        main(["--debug", "theory", "--N", "8", "--t", "2", "1"])


ARGPARSE = [  # argv, the one line on stderr
    (["train", "--law", "pwr"], "supdyn train: error: --law: got 'pwr'; allowed: one of power, exponential, "
                                "algebraic, user (did you mean 'power'?)"),
    (["train", "--N", "x"], "supdyn train: error: --N: got 'x'; allowed: an integer"),
    (["theory", "--a", "one"], "supdyn theory: error: --a: got 'one'; allowed: a number"),
    (["train", "--batchsize", "3"], "supdyn train: error: --batchsize: unknown option; did you mean --batch? "
                                    "(allowed: the options of `supdyn train --help`)"),
    (["fit"], "supdyn fit: error: SOURCE: none given; allowed: see `supdyn fit --help`"),
    (["tran"], "supdyn: error: COMMAND: got 'tran'; allowed: one of train, runs, sweep, plot, reproduce, theory, "
               "fit (did you mean 'train'?)"),
]


@pytest.mark.parametrize("argv, line", ARGPARSE, ids=[" ".join(a) for a, _ in ARGPARSE])
def test_argparse_errors_are_one_line_of_the_verb(argv, line, capsys):
    """argparse's own errors: exit 2 and one line in the catalogue's form, under the verb that failed
    (not the top-level usage block)."""
    with pytest.raises(SystemExit) as exc:
        main(argv)
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.splitlines() == [line], err


def test_law_is_checked_when_the_config_is_built():
    """p_i > 1 is a ConfigError of RunConfig itself (every entry point), with the same message as
    data.frequencies, which still checks a bare DataConfig (the theory's entry point)."""
    with pytest.raises(ConfigError, match=r"^density: normalized p_1 = 1\.66447 exceeds 1 by 0\.664 "):
        from_dict({"n_features": 32, "d_hidden": 8, "a": 3.0, "density": 2.0})
    cfg = from_dict({"n_features": 32, "d_hidden": 8, "a": 3.0})
    with pytest.raises(ConfigError) as exc:
        cfg.replace(density=2.0)
    with pytest.raises(ConfigError) as exc2:
        frequencies(DataConfig(n_features=32, a=3.0, density=2.0))
    assert str(exc.value) == str(exc2.value)


# -- divergence: the stability estimate and the hint ---------------------------------------------
@pytest.mark.parametrize("kw", [{"d_hidden": 32}, {"d_hidden": 8}, {"d_hidden": 8, "variant": "linear"},
                                {"d_hidden": 4, "a": 0.5, "density": 3.0}])
def test_stable_lr_bound_formula(kw):
    cfg = from_dict({"n_features": 32, **kw})
    lam = np.linalg.eigvalsh(second_moment(frequencies(cfg.data)))[-1]
    assert max_eigenvalue(frequencies(cfg.data)) == pytest.approx(lam, rel=1e-12)
    gain = 1.0 if cfg.variant == "none" else (1 + math.sqrt(32 / cfg.model.d_hidden)) ** 2
    assert stable_lr_bound(cfg) == pytest.approx(2.0 / (lam * gain), rel=1e-12)


@pytest.mark.parametrize("kw", [{"d_hidden": 32}, {"d_hidden": 8, "variant": "linear"}, {"d_hidden": 8},
                                {"d_hidden": 8, "variant": "learnable", "a": 0.5, "density": 3.0}])
def test_below_the_bound_is_stable_far_above_diverges(kw):
    from supdyn.train import train

    cfg = from_dict({"n_features": 32, "batch": 64, "eval_size": 256, **kw})
    bound = stable_lr_bound(cfg)
    below = [cfg.replace(lr=0.9 * bound, t_max=0.9 * bound * 60, seed=s) for s in range(2)]
    above = [cfg.replace(lr=10 * bound, t_max=10 * bound * 60, seed=s) for s in range(2)]
    assert not any(r.diverged for r in train(below, progress=False))
    for r in train(above, progress=False):
        # far above the bound SGD does not learn: it diverges, or (a ReLU student) its first huge step
        # switches every unit off and the loss stays at its initial value (seen for 1 of 8 seeds with
        # the learnable student at 10x; all 8 diverge at 30x)
        dead = cfg.variant in ("fixed", "learnable") and np.nanmin(r.loss[1:]) >= 0.99 * r.loss[0]
        assert r.diverged or dead


def test_train_reports_divergence_with_a_quantitative_hint(tmp_path, capsys):
    base = ["train", "--N", "32", "--K", "8", "--batch", "64", "--eval-size", "256", "--no-progress",
            "--store", str(tmp_path)]
    bound = stable_lr_bound(from_dict({"n_features": 32, "d_hidden": 8}))
    lr = 10 * bound
    assert main([*base, "--lr", f"{lr!r}", "--t-max", f"{100 * lr!r}", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["diverged"] is True and out["diverged_step"] >= 0
    assert out["stable_lr_bound"] == pytest.approx(bound)
    hint = out["hint"]
    assert f"at step {out['diverged_step']} (t = {out['diverged_t']:g})" in hint
    m = re.search(r"2/h_max = ([0-9.e+-]+) .*try --lr ([0-9.e+-]+)$", hint)
    assert m and float(m.group(1)) == pytest.approx(bound, rel=1e-2) and float(m.group(2)) < bound
    assert main([*base, "--lr", f"{lr!r}", "--t-max", f"{100 * lr!r}"]) == 0  # cached: the human output
    text = capsys.readouterr().out
    assert "loss = nan" in text and hint in text
    assert main([*base, "--t-max", "5", "--json"]) == 0  # a stable run: the bound, no hint
    out = json.loads(capsys.readouterr().out)
    assert out["diverged"] is False and out["hint"] is None and out["stable_lr_bound"] == pytest.approx(bound)

"""`supdyn plot` and supdyn.figures.curves: stored curves grouped over seeds, fitted, drawn."""

import json

import matplotlib.image as mpimg
import numpy as np
import pytest

from supdyn.cli import main
from supdyn.config import from_dict
from supdyn.figures.curves import collect, label, varying_fields
from supdyn.fit import fit_power_law
from supdyn.store import Store
from supdyn.sweep import ensure
from supdyn.theory.exact import ExactTheory

BASE = {"n_features": 64, "d_hidden": 16, "t_max": 300.0, "batch": 256, "eval_size": 1024}
SPEC = """[base]
n_features = 64
d_hidden = 16
t_max = 300.0
batch = 256
eval_size = 1024
[grid]
a = [1.1, 1.5]
seed = [0, 1, 2]
"""


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    d = tmp_path_factory.mktemp("plot")
    (d / "grid.toml").write_text(SPEC)
    assert main(["sweep", str(d / "grid.toml"), "--store", str(d / "s"), "--no-progress", "--json"]) == 0
    return d


def test_spec_curves_fit_every_seed(swept, capsys):
    """One curve per a, three seeds each; α and its spread are those of the stored curves fitted one
    by one (the oracle: fit_power_law on each run read back from the store)."""
    capsys.readouterr()
    out = swept / "fig" / "c.png"
    assert main(["plot", "--spec", str(swept / "grid.toml"), "--store", str(swept / "s"), "--window", "30", "300",
                 "--out", str(out), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [c["label"] for c in doc["curves"]] == ["a=1.1", "a=1.5"] and doc["window"] == [30.0, 300.0]
    store = Store(swept / "s")
    for a, c in zip((1.1, 1.5), doc["curves"]):
        assert c["n_seeds"] == 3 and len(c["fits"]) == 3 and not c["fit_errors"] and not c["has_theory"]
        runs = [store.load(rid) for rid in c["run_ids"]]
        alphas = [fit_power_law(r.t, r.loss, (30, 300)).alpha for r in runs]
        assert {r.config.data.a for r in runs} == {a}
        assert c["alpha"] == pytest.approx(np.mean(alphas), rel=1e-12)
        assert c["alpha_uncertainty"] == pytest.approx(np.std(alphas, ddof=1), rel=1e-9)
    assert doc["figure"] == [str(out), str(out.with_suffix(".pdf"))]
    img = mpimg.imread(out)
    assert img.ndim == 3 and img.shape[0] > 300 and img.shape[1] > 400 and img.std() > 0.05
    assert out.with_suffix(".pdf").read_bytes().startswith(b"%PDF")


def test_text_summary_names_window_and_uncertainty(swept, capsys):
    capsys.readouterr()
    rid = Store(swept / "s").run_ids()[0]
    assert main(["plot", rid[:10], "--store", str(swept / "s"), "--window", "30", "300",
                 "--out", str(swept / "one.png")]) == 0
    text = capsys.readouterr().out
    assert "1 seed(s)" in text and "(standard error; 1 fitted) on [30, 300]" in text
    assert (swept / "one.png").is_file() and (swept / "one.pdf").is_file()


def test_labels_name_only_what_varies():
    cfgs = [from_dict({**BASE, "a": 1.1}), from_dict({**BASE, "a": 1.5, "d_hidden": 32}),
            from_dict({**BASE, "a": 1.1, "seed": 4})]
    assert varying_fields(cfgs) == ["a", "d_hidden"]
    assert label(cfgs[1], ["a", "d_hidden"]) == "a=1.5, K=32"
    assert label(cfgs[0], []) == "variant=fixed, K=16, a=1.1, b=0"


def test_theory_for_linear_students_only(tmp_path):
    """The drawn theory of a variant-none run is ExactTheory at the run's times; ReLU runs get none;
    and the SGD curve (lr 1, B(0) = 0) follows it within 10 % (same check as tests/test_sgd_theory)."""
    none = from_dict({**BASE, "d_hidden": 64, "init_scale": 0.0, "a": 1.5, "t_max": 100.0})
    relu = from_dict({**BASE, "a": 1.5, "t_max": 100.0})
    store = Store(tmp_path)
    ensure([none, relu], store, progress=False)
    curves = collect([store.load(none), store.load(relu)], window=(10, 100))
    t = curves[0].t
    np.testing.assert_allclose(curves[0].theory, ExactTheory.from_config(none.data).loss(t), rtol=1e-12)
    assert curves[1].theory is None
    keep = t >= 1
    assert np.max(np.abs(curves[0].loss[0][keep] / curves[0].theory[keep] - 1)) < 0.10


def test_diverged_runs_are_drawn_but_not_fitted(tmp_path, capsys):
    """Two seeds that both diverge (lr 500): one curve, no fit, each seed named, no warning."""
    rids = []
    for seed in ("1", "2"):
        args = ["train", "--N", "64", "--K", "16", "--batch", "128", "--lr", "500", "--t-max", "5000",
                "--seed", seed, "--store", str(tmp_path), "--json"]
        assert main(args) == 0
        rids.append(json.loads(capsys.readouterr().out)["run_id"])
        assert Store(tmp_path).load(rids[-1]).diverged
    assert main(["plot", *rids, "--store", str(tmp_path), "--out", str(tmp_path / "d.png"), "--json"]) == 0
    (c,) = json.loads(capsys.readouterr().out)["curves"]
    assert c["n_seeds"] == 2 and c["fits"] == [] and c["alpha"] is None
    assert c["fit_errors"] == [f"{r[:12]}: diverged" for r in rids]
    assert main(["plot", *rids, "--store", str(tmp_path), "--out", str(tmp_path / "d.png")]) == 0
    assert "final L = nan" in capsys.readouterr().out


def test_missing_runs_write_no_figure(tmp_path):
    """Bad input (the catalogue of tests/test_errors.py) leaves no figure behind: here a spec whose runs
    are not stored."""
    (tmp_path / "g.toml").write_text(SPEC)
    assert main(["plot", "--spec", str(tmp_path / "g.toml"), "--store", str(tmp_path / "s"),
                 "--out", str(tmp_path / "c.png")]) == 2
    assert not list(tmp_path.glob("c.*"))

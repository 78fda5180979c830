"""The ``optimizers`` experiment: its grid, its analysis against synthetic curves with known exponents on
the integrated time of each schedule, its figure and report section, and its place in ``reproduce``
(run only on request in quick and full mode)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from supdyn import experiments as ex
from supdyn import figures
from supdyn.cli.reproduce import _clean, _json_default, selected
from supdyn.report.optimizers import section
from supdyn.store import StoredRun
from supdyn.train import eval_steps, run_steps, times_of


def _fake(cfg, alpha: float, seed_scale: float = 1.0) -> StoredRun:
    """A run whose loss is c t^−α exactly on its own evaluation times (integrated t)."""
    steps = eval_steps(cfg)
    t = times_of(cfg, steps)
    loss = np.where(t > 0, 0.05 * seed_scale * np.maximum(t, 1e-12) ** -alpha, 0.2)
    return StoredRun(cfg.run_id, cfg, {"t": t, "loss": loss, "steps": steps}, {"wall_time": 1.0})


def test_quick_grid_is_the_issue_s():
    cfgs = ex.get("optimizers").configs("quick")
    assert {c.data.a for c in cfgs} == {1.1, 2.0} and {c.model.d_hidden for c in cfgs} == {256}
    assert {c.seed for c in cfgs} == {0, 1, 2} and {c.train.optimizer for c in cfgs} == {"sgd", "adam", "adamw"}
    assert {run_steps(c) for c in cfgs} == {10_000} and len(cfgs) == 30
    assert {c.train.weight_decay for c in cfgs if c.variant == "learnable"} == {-3e-4, 3e-4}
    fig5 = {c.run_id for c in ex.get("fig5").configs("quick")}
    assert sum(c.run_id in fig5 for c in cfgs) == 2  # SGD seed 0 at a = 1.1 and 2.0 is fig5's run


def test_analysis_recovers_known_exponents_on_integrated_time(tmp_path):
    exp = ex.get("optimizers")
    cfgs = exp.configs("quick")
    truth = {}
    runs = []
    for c in cfgs:
        alpha = {"sgd": 1.0, "adam": 0.8, "adamw": 1.2}[c.train.optimizer] + (0.1 if c.variant == "learnable" else 0)
        truth[(c.data.a, exp_label(c))] = alpha
        runs.append(_fake(c, alpha, 1.0 + 0.05 * c.seed))
    result = _clean(json.loads(json.dumps(exp.analyze(runs, "quick"), default=_json_default)))
    assert len(result["rows"]) == 10
    for r in result["rows"]:
        want = truth[(r["a"], r["label"])]
        assert r["fit"]["alpha"] == pytest.approx(want, abs=1e-3)
        assert r["local_mid"] == pytest.approx(want, abs=1e-3)
        assert r["dalpha_sgd"] == pytest.approx(want - 1.0, abs=2e-3)
        cfg = next(c for c in cfgs if (c.data.a, exp_label(c)) == (r["a"], r["label"]))
        assert r["window"] == pytest.approx(list(times_of(cfg, np.array([1000, 10000]))))
    cosine = next(r for r in result["rows"] if r["schedule"] == "cosine")
    assert cosine["window"][1] == pytest.approx(1e-3 * (0.05 * 1e4 + 0.95 * 1e4 / 2), rel=1e-3)  # Σ lr_k
    files = figures.draw("optimizers", result, tmp_path)
    assert {f.suffix for f in files} == {".png", ".pdf"} and all(f.stat().st_size > 5000 for f in files)
    title, body = section(result)
    assert "our checks" in title and body.count("<tr>") == 11 and "Adam, lr 0.001" in body
    assert exp.claims(result) == []  # checks, not claims of the paper


def exp_label(cfg):
    from supdyn.experiments.optimizers import setting_label

    return setting_label(cfg)


def test_it_runs_only_on_request_in_quick_and_full_mode():
    assert "optimizers" in ex.NAMES and "optimizers" in ex.ON_REQUEST
    assert "optimizers" not in selected(None, "quick") and "optimizers" not in selected(None, "full")
    assert "optimizers" in selected(None, "smoke") and selected("optimizers", "quick") == ["optimizers"]
    assert set(selected(None, "quick")) == set(ex.NAMES) - set(ex.ON_REQUEST)
    assert {"optimizers", "geometry", "universality"} <= set(ex.ON_REQUEST)

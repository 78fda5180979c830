"""Experiments fig4, fig5, fig6, window, fig12, appendix: smoke end-to-end runs and the analysis logic against
synthetic curves with known exponents, ratios and gaps (oracles independent of the fits)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from supdyn import experiments as ex
from supdyn import figures
from supdyn.cli.reproduce import _clean, _json_default
from supdyn.config import RunConfig
from supdyn.experiments.base import VERDICTS
from supdyn.experiments.common import safe_fit, seed_fit
from supdyn.store import Store, StoredRun
from supdyn.sweep import ensure
from supdyn.theory.exact import ExactTheory

NAMES = ["fig4", "fig5", "fig6", "window", "fig12", "appendix"]
T = np.concatenate([[0.0], np.logspace(0, 4, 41)])  # (n_times,) like a run: t = 0 then 10 per decade


@pytest.fixture(scope="module")
def smoke_store(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("store"))
    configs = {c.run_id: c for n in NAMES for c in ex.get(n).configs("smoke")}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: one thread is faster, and much faster on a busy machine
    try:
        ensure(list(configs.values()), store, progress=False)
    finally:
        torch.set_num_threads(threads)
    return store


@pytest.mark.parametrize("name", NAMES)
def test_smoke_end_to_end(name, smoke_store, tmp_path):
    exp = ex.get(name)
    runs = ensure(exp.configs("smoke"), smoke_store, progress=False)
    result = _clean(json.loads(json.dumps(exp.analyze(runs, "smoke"), default=_json_default)))
    claims = exp.claims(result)
    assert claims
    for c in claims:
        d = c.to_dict()
        assert d["verdict"] in VERDICTS and d["rule"] and d["window"]
        json.dumps(d)
    files = figures.draw(name, result, tmp_path)
    assert {f.suffix for f in files} == {".png", ".pdf"}
    assert all(f.is_file() and f.stat().st_size > 0 for f in files)


def fake_run(cfg: RunConfig, loss: np.ndarray, t: np.ndarray = T) -> StoredRun:
    return StoredRun(cfg.run_id, cfg, {"t": np.asarray(t, float), "loss": np.asarray(loss, float)},
                     {"wall_time": 1.0, "diverged": False})


def power(alpha: float, c: float = 10.0, l0: float = 1e-3, t: np.ndarray = T) -> np.ndarray:
    return np.where(t > 0, c * np.where(t > 0, t, 1.0) ** -alpha + l0, c + l0)


def cfg(**kw) -> RunConfig:
    base = dict(n_features=1024, d_hidden=256, a=1.1, b=0.0, t_max=1e4, lr=1.0)
    return RunConfig().replace(**{**base, **kw})


# -- helpers --------------------------------------------------------------------------------------

def test_safe_fit_recovers_exponent_and_reports_failure():
    f = safe_fit(T, power(0.8, l0=2e-3), (1e3, 1e4))
    assert f["alpha"] == pytest.approx(0.8, abs=1e-6) and f["L0"] == pytest.approx(2e-3, rel=1e-5)
    assert f["lo"] <= 0.8 <= f["hi"]
    bad = safe_fit(T[:20], power(1.0)[:20], (1e3, 1e4))  # window not reached
    assert math.isnan(bad["alpha"]) and "window" in bad["error"]


def test_seed_fit_bootstrap_interval_covers_truth():
    rng = np.random.default_rng(0)
    losses = np.stack([power(1.0) * np.exp(0.01 * rng.standard_normal(T.size)) for _ in range(6)])
    f = seed_fit(T, losses, (1e3, 1e4), n_boot=100)
    assert "bootstrap" in f["interval_method"] and f["lo"] < f["alpha"] < f["hi"]
    assert abs(f["alpha"] - 1.0) < 0.05 and f["hi"] - f["lo"] < 0.2


# -- experiments on synthetic runs ------------------------------------------------------------------

def test_fig5_alpha_and_acceleration():
    exp = ex.get("fig5")
    pts = [(1.1, 0.0), (2.0, 0.0), (1.1, 0.5)]
    runs = [fake_run(cfg(a=a, b=b, d_hidden=k), power(1.0 + 0.02 * i)) for i, (a, b) in enumerate(pts)
            for k in (128, 256)]
    res = exp.analyze(runs, "quick")
    alphas = {(p["a"], p["b"], p["K"]): p["fit"]["alpha"] for p in res["points"]}
    assert alphas[(2.0, 0.0, 128)] == pytest.approx(1.02, abs=1e-6)
    c = {x.id: x for x in exp.claims(res)}
    # one seed per point and no replicated point: the intervals hold no seed-to-seed variation, so the
    # equivalence test cannot pass (tests/test_verdicts.py has the replicated cases)
    assert c["fig5_alpha_universal_a"].verdict == "inconclusive"
    assert any("seed" in r for r in c["fig5_alpha_universal_a"].reasons)
    assert c["fig5_alpha_universal_a"].measured == pytest.approx(1.01, abs=1e-6)  # mean of 1.0 (x2), 1.02 (x2)
    assert c["fig5_alpha_universal_b"].measured == pytest.approx(1.02, abs=1e-6)
    # oracle for the no-superposition exponent: the exact theory's own log-log slope on the window
    th = ExactTheory.from_config(cfg().data)
    tw = T[(T >= 1e3) & (T <= 1e4)]
    slope = -np.polyfit(np.log(tw), np.log(th.loss(tw)), 1)[0]
    acc = c["fig5_superposition_accelerates_exponent_finite_n"]
    assert acc.measured == pytest.approx(1.0 / slope, rel=0.02)
    assert acc.verdict == "not reproduced"  # the finite-N theory has α ≈ 0.7, not 0.09
    paper = c["fig5_superposition_accelerates_exponent"]  # against eq. 8's (a − 1)/a = 0.0909: 1.0/0.0909 = 11
    assert paper.measured == pytest.approx(11.0, rel=1e-3)
    bad = exp.claims(exp.analyze([fake_run(cfg(a=2.0), power(0.5))], "quick"))
    assert bad[0].verdict == "not reproduced"


def test_fig4_ratio_and_speedup():
    exp = ex.get("fig4")
    th = ExactTheory.from_config(cfg().data)
    sup = fake_run(cfg(d_hidden=512), th.loss(2.0 * T))  # L_sup(t) = L_nosup(2t): speed-up 2, ratio < 1
    res = exp.analyze([sup], "quick")
    c = res["curves"][0]
    assert c["speedup"] == pytest.approx(2.0, rel=0.02)
    assert c["ratio_at"] == pytest.approx(th.loss([2e4])[0] / th.loss([1e4])[0], rel=1e-3)
    cl = exp.claims(res)[0]
    assert cl.verdict == "reproduced" and cl.measured < 1
    slow = exp.analyze([fake_run(cfg(d_hidden=512), th.loss(0.5 * T))], "quick")
    assert exp.claims(slow)[0].verdict == "not reproduced"


def test_window_spread_oracle():
    exp = ex.get("window")
    t = np.concatenate([[0.0], np.logspace(0, 4.5, 46)])
    pure = fake_run(cfg(d_hidden=128, t_max=10**4.5), power(1.0, l0=0.0, t=t), t)
    res = exp.analyze([pure], "quick")
    assert exp.claims(res)[0].measured == pytest.approx(0.0, abs=1e-6)
    assert res["curves"][0]["n_in_range"] >= 3
    le = np.asarray(res["curves"][0]["local_exponent"])
    assert np.allclose(le[2:-2], 1.0, atol=1e-9)
    # two power laws 10 t^-1 + 0.2 t^-0.3 cross at t ≈ 270: the windowed α drifts from ≈ 0.7 to 0.5
    mixed = fake_run(cfg(d_hidden=128, t_max=10**4.5),
                     power(1.0, c=10.0, l0=0.0, t=t) + 0.2 * np.where(t > 0, t, 1.0) ** -0.3, t)
    out = exp.claims(exp.analyze([mixed], "quick"))[0]
    assert out.kind == "check"
    assert 0.18 < out.measured < 0.3 and out.verdict == "failed"  # above 0.15 by more than the 0.03 allowance
    # theory local exponent equals −d log L / d log t of the theory (finite differences)
    th = res["theory"]
    lt, ll = np.log(th["t"]), np.log(th["loss"])
    fd = -np.gradient(ll, lt)
    assert np.allclose(np.asarray(th["local_exponent"])[5:-5], fd[5:-5], atol=2e-3)


def test_fig12_gap_and_alpha():
    exp = ex.get("fig12")
    runs = []
    for k in (128, 256):
        fixed = power(1.0)
        runs += [fake_run(cfg(d_hidden=k), fixed), fake_run(cfg(d_hidden=k, variant="learnable"), 0.95 * fixed)]
    res = exp.analyze(runs, "quick")
    c = {x.id: x for x in exp.claims(res)}
    assert c["fig12_learnable_gap_small"].measured == pytest.approx(0.05, rel=1e-6)
    assert c["fig12_learnable_gap_small"].verdict == "reproduced"  # 0.05 < 0.316 - 0.05
    assert res["pairs"][0]["frac_positive"] == 1.0
    assert c["fig12_learnable_lower_loss"].verdict == "reproduced"  # ΔL/L = 0.05 > 0 + 0.01 everywhere
    assert c["fig12_alpha_unchanged_by_learning"].measured == pytest.approx(0.0, abs=1e-6)
    # one seed each: no seed-to-seed variation, the equivalence tests cannot pass
    assert c["fig12_alpha_unchanged_by_learning"].verdict == "inconclusive"
    assert c["fig12_learnable_alpha_one"].verdict == "inconclusive"


# -- appendix and Fig. 11's printed values: the rules on hand-made results -------------------------

def _linear(alpha: float, decay: float, ratio: float = 0.5) -> dict:
    return {"a": 1.1, "K": 128, "N": 1024, "seed": 0, "fit": {"alpha": alpha, "lo": alpha, "hi": alpha},
            "decay": decay, "ratio_max": ratio, "rate_fraction": 0.9, "rate_max": 2.0}


@pytest.mark.parametrize("alpha,decay,ratio,verdicts", [
    (0.5, 1.0, 0.5, ("reproduced", "reproduced")),       # loss falls, α outside the band; ratio well below 1
    (1.05, 1.0, 1.5, ("not reproduced", "not reproduced")),  # loss falls, α ≈ 1; ReLU worse than linear
    (0.5, 0.01, 0.95, ("inconclusive", "inconclusive")),  # plateau: α decides nothing; ratio within allowance
])
def test_appendix_linear_rows_follow_their_rules(alpha, decay, ratio, verdicts):
    result = {"rules": {"alpha_target": 1.0, "alpha_margin": 0.15, "decay_min": 0.5, "ratio_allowance": 0.1,
                        "iso_factor": 2.0, "iso_min_fraction": 0.8, "tail_min": 0.5, "cluster_tol": 0.01},
              "fit_window": [1e3, 1e4], "fit_offset": True, "linear": [_linear(alpha, decay, ratio)]}
    exp = ex.get("appendix")
    assert (exp._alpha_row(result).verdict, exp._relu_row(result).verdict) == verdicts


@pytest.mark.parametrize("alphas,verdict", [
    ([0.9769, 0.977, 0.9768], "reproduced"),       # every window within 2 SE: the window does not matter
    ([0.9769, 1.0, 1.01], "inconclusive"),         # some windows do, others do not
    ([1.0, 1.01, 0.95], "not reproduced"),         # none does
])
def test_fig11_printed_values_rule(alphas, verdict):
    alg = [1.9834 + (a - 0.9769) for a in alphas]  # the same pattern around the algebraic value
    fig11 = {law: {"scan": {"windows": [(0.0, 1.0 + i, v) for i, v in enumerate(vals)], "n_scanned": 3, "step": 1}}
             for law, vals in (("exponential", alphas), ("algebraic", alg))}
    row = ex.get("fig10_11")._printed_row({"rules": {"printed_se_factor": 2.0}, "fig11": fig11, "fit_offset": True})
    assert row.verdict == verdict and row.interval_kind == "none: deterministic theory"

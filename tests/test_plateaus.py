"""fig13's plateau rows on synthetic curves of known plateau: fig4_two_regimes (a non-zero plateau with
superposition, none at K = N) and fig12_learnable_lower_plateau (the learnable plateau below the fixed
one). Curves L = A/t + P·e^(σ z_seed): the plateau P of each seed is known in closed form; the
no-superposition reference is the exact theory, whose slope is checked against a finite difference of
its own loss on a wide step (an independent evaluation) and against eq. 8 at large N."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from supdyn import experiments as ex
from supdyn import figures
from supdyn.cli.reproduce import _clean, _json_default
from supdyn.config import RunConfig
from supdyn.experiments.fig13 import nosup_slope
from supdyn.figures.fig13 import fig13_figure
from supdyn.store import StoredRun
from supdyn.theory.exact import ExactTheory

N, A = 256, 1.0
PLATEAU = {8: 0.09, 16: 0.045, 32: 0.018}


def curve(t: np.ndarray, plateau: float) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.where(t > 0, A / np.maximum(t, 1e-300) + plateau, 1.0)


def runs(t_max: float = 1e7, variant: str = "auto", scale: float = 1.0, seeds=(0, 1, 2), noise: float = 0.02,
         plateaus=PLATEAU, rng_seed: int = 0) -> list[StoredRun]:
    """One run per (K, seed): the seed's plateau is P_K · scale · exp(noise · z)."""
    t = np.concatenate([[0.0], np.logspace(math.log10(t_max) - 7, math.log10(t_max), 141)])
    rng = np.random.default_rng(rng_seed)
    out = []
    for K, p in plateaus.items():
        for s in seeds:
            c = RunConfig().replace(n_features=N, d_hidden=K, a=1.1, b=0.0, t_max=t_max, seed=s, variant=variant,
                                    lr=min(1.0, t_max))
            loss = curve(t, p * scale * math.exp(noise * rng.standard_normal()))
            out.append(StoredRun(c.run_id, c, {"t": t, "loss": loss}, {"wall_time": 1.0, "diverged": False}))
    return out


def claims(run_list: list[StoredRun]) -> dict[str, object]:
    exp = ex.get("fig13")
    result = _clean(json.loads(json.dumps(exp.analyze(run_list, "quick"), default=_json_default)))
    return {c.id: c for c in exp.claims(result)} | {"result": result}


# --------------------------------------------------------------------------------- fig4_two_regimes

def test_nosup_slope_is_the_theorys_own_log_derivative():
    data = RunConfig().replace(n_features=N, d_hidden=N, a=1.1, b=0.0).data
    th = ExactTheory.from_config(data)
    for t in (10.0, 1e3, 1e4):
        lo, hi = th.loss(np.array([t / 1.5, t * 1.5]))
        assert nosup_slope(data, t) == pytest.approx(-math.log(hi / lo) / (2 * math.log(1.5)), rel=0.05)
    # at large N and mid-training the local slope is eq. 8's (a + 2b − 1)/a, 0.5 at a = 2
    big = RunConfig().replace(n_features=4096, d_hidden=4096, a=2.0, b=0.0).data
    assert nosup_slope(big, 1e3) == pytest.approx(0.5, rel=0.02)


def test_plateaus_with_superposition_and_none_without_reproduce():
    out = claims(runs())
    c = out["fig4_two_regimes"]
    assert c.verdict == "reproduced"
    regimes = {r["K"]: r for r in out["result"]["regimes"]}
    assert set(regimes) == set(PLATEAU)
    for K, p in PLATEAU.items():  # L0 of A/t + P on the last two decades is the seeds' mean plateau
        assert regimes[K]["L0"] == pytest.approx(p, rel=0.05)
        assert regimes[K]["L0_interval"][0] > 0
    # measured: L0 at the K whose interval reaches lowest (the smallest plateau)
    assert c.measured == pytest.approx(PLATEAU[32], rel=0.05)
    assert "N = 256" in c.window


def test_still_falling_superposition_curves_are_inconclusive():
    c = claims(runs(t_max=30.0))["fig4_two_regimes"]  # A/t ≫ every plateau on the final window
    assert c.verdict == "inconclusive"
    assert any("still falling" in r for r in c.reasons)


def test_the_theory_member_fails_before_the_no_superposition_loss_falls():
    """At t_max = 0.03 the K = N theory has hardly moved (slope ≪ ½ eq. 8): the claim fails there."""
    c = claims(runs(t_max=0.03))["fig4_two_regimes"]
    assert c.verdict == "not reproduced"
    assert any("theory" in r and "is not >" in r for r in c.reasons)


# ----------------------------------------------------------------------- fig12_learnable_lower_plateau

def test_learnable_plateau_below_fixed_reproduces():
    c = claims(runs() + runs(variant="learnable", scale=0.8, rng_seed=1))["fig12_learnable_lower_plateau"]
    assert c.verdict == "reproduced"
    assert c.measured == pytest.approx(0.2, abs=0.05)  # (P − 0.8 P)/P
    assert c.interval[0] > 0


def test_learnable_plateau_above_fixed_does_not_reproduce():
    c = claims(runs() + runs(variant="learnable", scale=1.2, rng_seed=1))["fig12_learnable_lower_plateau"]
    assert c.verdict == "not reproduced"
    assert c.interval[1] < 0


def test_overlapping_plateaus_are_inconclusive():
    c = claims(runs(noise=0.1) + runs(variant="learnable", scale=0.97, noise=0.1, rng_seed=1))
    assert c["fig12_learnable_lower_plateau"].verdict == "inconclusive"


def test_a_still_falling_fixed_curve_cannot_pass():
    """Learnable lower, but fixed still falling at t_max: its L_∞ may lie lower, so no pass."""
    c = claims(runs(t_max=30.0) + runs(t_max=30.0, variant="learnable", scale=0.5, rng_seed=1))
    c = c["fig12_learnable_lower_plateau"]
    assert c.verdict == "inconclusive" and any("still falling" in r for r in c.reasons)


def test_one_seed_has_no_interval_and_cannot_decide():
    c = claims(runs(seeds=(0,)) + runs(variant="learnable", scale=0.8, seeds=(0,)))["fig12_learnable_lower_plateau"]
    assert c.verdict == "inconclusive" and c.interval is None


def test_figure_draws_the_learnable_plateaus_and_the_theory(tmp_path):
    res = claims(runs() + runs(variant="learnable", scale=0.8, rng_seed=1))["result"]
    fig = fig13_figure(res)
    try:
        labels = [t.get_text() for ax in fig.axes for t in (ax.get_legend().get_texts() if ax.get_legend() else [])]
        assert any("learnable" in s for s in labels)
        assert any("K = N" in s for s in labels)
        # panel (b): one learnable plateau marker per K, at the seeds' mean plateau
        (pts,) = [c for c in fig.axes[1].containers if c.get_label() == "learnable E, D: plateau"]
        assert np.allclose(pts.lines[0].get_ydata(), [0.8 * p for p in PLATEAU.values()], rtol=0.05)
        assert pts.has_yerr  # the 95% interval over seeds
    finally:
        import matplotlib.pyplot as plt
        plt.close(fig)
    assert all(f.is_file() for f in figures.draw("fig13", res, tmp_path))

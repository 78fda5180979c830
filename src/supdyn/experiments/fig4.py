"""Fig. 4: mid-training acceleration — superposition (K = 512) against the no-superposition theory.

Superposition student y = ReLU(Wᵀ B W x + b), N = 1024, K = 512, a = 1.1, b = 0 (online SGD; the seed
mean L_sup(t)); no-superposition reference: the exact gradient-flow theory at N = K = 1024 with the
same a, b (paper eqs. 5–7 with the full second moment, :class:`supdyn.theory.exact.ExactTheory`),
L_nosup(t); the no-superposition SGD run (K = N, shared with fig3) is drawn as a check of the theory.

Measured:

* the loss ratio R(t) = L_sup(t) / L_nosup(t) on the run's evaluation times (log–log interpolation,
  :func:`supdyn.fit.loss_ratio`), its value at ``ratio_time`` (95% interval: percentile bootstrap over
  seeds when ≥ 2, else none), its maximum over ``window`` and the range of t where R < 1;
* the speed-up T_nosup / T_sup to reach the superposition loss at ``speedup_ref_time``
  (:func:`supdyn.fit.speedup`; the theory is evaluated up to t_max × ``theory_t_factor``).

Claim: superposition is faster than sequential learning in mid-training — a claim about every t of the
window, decided on its largest ratio: reproduced if max_t R(t) < 1 (the whole 95% interval over seeds
with ≥ 3 seeds; with one seed, below 1 − ``ratio_allowance``).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from supdyn.experiments.base import STATED, Claim, Experiment, Reading
from supdyn.experiments.rules import CI_SEEDS, NO_INTERVAL, rule_threshold, threshold
from supdyn.fit.intervals import mean_interval
from supdyn.experiments.common import (group_runs, nosup_loss, num, run_meta, seed_groups, seed_losses, window_of,
                                       window_text)
from supdyn.fit import bootstrap_statistic, loss_ratio, speedup


def interp_loglog(t: np.ndarray, loss: np.ndarray, at: float) -> float:
    """L(at) interpolated linearly in log–log (NaN outside the curve's t range)."""
    return float(loss_ratio(t, loss, t, np.ones_like(loss), at))


class Fig4(Experiment):
    name = "fig4"
    title = "Fig. 4 — superposition (K = 512) vs no-superposition theory: mid-training acceleration"

    def analyze(self, runs: Sequence[Any], mode: str, reading: Reading = STATED) -> dict[str, Any]:
        an = self.analysis(mode)
        win = window_of(an, "window")
        t_ratio = float(an.get("ratio_time", 1e4))
        t_ref = float(an.get("speedup_ref_time", 1e3))
        n_boot = int(an.get("n_boot", 500))
        nosup = [g for g in group_runs(runs) if g[0].config.variant == "none"]
        curves = []
        for cfg, members, t, losses in seed_groups(runs):
            if cfg.variant == "none":
                continue
            ok = t > 0
            t, losses = t[ok], losses[:, ok]
            mean = losses.mean(axis=0)
            t_max = cfg.train.t_max
            t_th = np.logspace(0.0, math.log10(t_max * float(an.get("theory_t_factor", 1e4))), 241)
            th_dense = nosup_loss(cfg.data, t_th)
            th = nosup_loss(cfg.data, t)
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = mean / th
            inw = (t >= win[0]) & (t <= win[1]) & np.isfinite(ratio)
            below = t[np.isfinite(ratio) & (ratio < 1)]
            r_at = float(loss_ratio(t, mean, t, th, t_ratio)) if t[0] <= t_ratio <= t[-1] else float("nan")
            r_lo = r_hi = float("nan")
            r_method = "no interval (1 seed)"
            if losses.shape[0] >= 2 and math.isfinite(r_at):
                def stat(rows: np.ndarray) -> float:
                    return float(loss_ratio(t, rows.mean(axis=0), t, th, t_ratio))
                bs = bootstrap_statistic(losses, stat, n_resamples=n_boot)
                r_lo, r_hi = float(bs.lo), float(bs.hi)
                r_method = f"percentile bootstrap over {losses.shape[0]} seeds ({n_boot} resamples)"
            target, sp, t_sup, t_nos = float("nan"), float("nan"), float("nan"), float("nan")
            if t[0] <= t_ref <= t[-1]:
                target = interp_loglog(t, mean, t_ref)
                sp = float(speedup(t_th, th_dense, t, mean, target))
                t_sup, t_nos = t_ref, sp * t_ref if math.isfinite(sp) else float("nan")
            nos_runs = [g for g in nosup if g[0].config.data.a == cfg.data.a and g[0].config.data.b == cfg.data.b]
            sgd_nosup = None
            if nos_runs:
                tn, ln = seed_losses(nos_runs[0])
                okn = tn > 0
                sgd_nosup = {**run_meta(nos_runs[0]), "t": tn[okn], "loss_mean": ln[:, okn].mean(axis=0)}
            with np.errstate(divide="ignore", invalid="ignore"):
                seed_max = [float(np.max((row / th)[inw])) if inw.any() else float("nan") for row in losses]
            curves.append({**run_meta(members), "t": t, "loss_mean": mean, "loss_seeds": losses,
                           "ratio_max_seeds": seed_max,
                           "theory": th, "t_theory": t_th, "theory_dense": th_dense, "ratio": ratio,
                           "ratio_at": r_at, "ratio_lo": r_lo, "ratio_hi": r_hi, "ratio_method": r_method,
                           "ratio_max_window": float(np.max(ratio[inw])) if inw.any() else float("nan"),
                           "ratio_min_window": float(np.min(ratio[inw])) if inw.any() else float("nan"),
                           "frac_below_window": float(np.mean(ratio[inw] < 1)) if inw.any() else float("nan"),
                           "n_window": int(inw.sum()),
                           "t_below": [float(below.min()), float(below.max())] if below.size else None,
                           "speedup": sp, "speedup_target_loss": target, "t_sup": t_sup, "t_nosup": t_nos,
                           "sgd_nosup": sgd_nosup})
        return {"mode": mode, "reading": reading.name, "window": list(win), "ratio_time": t_ratio,
                "speedup_ref_time": t_ref, "curves": curves,
                "rules": {"ratio_allowance": float(an.get("ratio_allowance", 0.1)),
                          "speedup_allowance": float(an.get("speedup_allowance", 1.0))}}

    def claims(self, result: dict[str, Any]) -> list[Claim]:
        win = result["window"]
        allowance = float(result.get("rules", {}).get("ratio_allowance", 0.1))
        rule = rule_threshold("max over the window's evaluated t of L_sup/L_nosup", 1.0, above=False,
                              allowance=allowance)
        stmt = "Superposition learns faster than sequential (no-superposition) learning in mid-training"
        if not result["curves"]:
            return [Claim.decided("fig4_superposition_faster_mid_training", "4", stmt, "L_sup < L_nosup",
                                  float("nan"), None, window_text(win),
                                  threshold(float("nan"), None, None, 1.0, above=False), rule, "no superposition run")]
        c = result["curves"][0]
        frac, n = num(c["frac_below_window"]), c["n_window"]
        seeds = [x for x in c.get("ratio_max_seeds", []) if math.isfinite(x)]
        if len(seeds) >= 3:
            iv = mean_interval(seeds, 0.95)
            meas, lo, hi, kind = iv.estimate, iv.lo, iv.hi, CI_SEEDS
        else:
            meas, lo, hi, kind = num(c["ratio_max_window"]), None, None, NO_INTERVAL
        dec = threshold(meas, lo, hi, 1.0, above=False, allowance=allowance, label="max L_sup/L_nosup in the window")
        tb = c["t_below"]
        below = f"[{tb[0]:.3g}, {tb[1]:.3g}]" if tb else "nowhere"
        details = (f"K = {c['K']} (N = {c['N']}, a = {c['a']:g}, b = {c['b']:g}, seeds {c['seeds']}) vs exact "
                   f"no-superposition theory (N = K = {c['N']}). measured: the largest L_sup/L_nosup over the "
                   f"{n} evaluated t in the window (ratio < 1 at {frac * 100 if math.isfinite(frac) else float('nan'):.0f}% "
                   f"of them; min {num(c['ratio_min_window']):.3g}); at t = {result['ratio_time']:g}: "
                   f"{num(c['ratio_at']):.3g} ({c['ratio_method']}). Ratio < 1 for t in {below} (first and last such "
                   f"t). Speed-up T_nosup/T_sup to reach L_sup({result['speedup_ref_time']:g}) = "
                   f"{num(c['speedup_target_loss']):.3g}: {num(c['speedup']):.3g}.")
        sp_allow = float(result.get("rules", {}).get("speedup_allowance", 1.0))
        sp = num(c["speedup"])
        sp_dec = threshold(sp, None, None, 10.0, above=True, allowance=sp_allow, label="T_nosup / T_sup")
        return [Claim.decided("fig4_superposition_faster_mid_training", "4", stmt,
                              "L_sup < L_nosup (ratio < 1) throughout mid-training", meas,
                              (lo, hi) if lo is not None else None, window_text(win), dec, rule, details,
                              interval_kind=kind),
                Claim.decided(
                    "fig4_time_to_loss_speedup", "4 / Sec. 4.2, abstract",
                    "Superposition reaches a given loss over 10× sooner than sequential learning (the abstract's "
                    "\"up to tenfold acceleration\" read as time to a loss)", "> 10× (up to tenfold)", sp, None,
                    f"L_sup(t = {result['speedup_ref_time']:g})", sp_dec,
                    rule_threshold("T_nosup / T_sup to reach L_sup(speedup_ref_time)", 10.0, above=True,
                                   allowance=sp_allow),
                    f"target loss L_sup({result['speedup_ref_time']:g}) = {num(c['speedup_target_loss']):.3g}, reached "
                    f"by the superposition run at t = {num(c['t_sup']):.3g} and by the exact no-superposition theory "
                    f"at t = {num(c['t_nosup']):.3g} (theory evaluated up to t_max × 1e4). The exponent reading of "
                    "\"over 10×\" is fig5_superposition_accelerates_exponent. 1 seed: no interval.",
                    interval_kind=NO_INTERVAL)]


EXPERIMENT = Fig4()

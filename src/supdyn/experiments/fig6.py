"""Fig. 6: mid-training loss curves of the superposition student are power laws with α ≈ 1.

Student y = ReLU(Wᵀ B W x + b), N = 1024, K = 256, online SGD, for (a, b) across a ∈ [0.5, 1.5],
b ∈ [0, 0.5]. Each seed-mean curve is fitted with L(t) = c t^−α + L0 (L0 ≥ 0; the paper's eq. 9) on
``fit_window``; the fitted curve is drawn over the window and α is printed in the legend. The 95%
interval of α: percentile bootstrap over seeds (≥ 2 seeds) or ± 1.96 SE of the fit. The fit's RMS
log-residual measures how well a power law describes the window.

Claim: every fitted α ≈ 1 (the band rule of :func:`supdyn.experiments.common.band_verdict`).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from supdyn.experiments.base import STATED, Claim, Experiment, Reading
from supdyn.experiments.common import (band_rule, band_verdict, envelope, fit_warnings, mean_alpha, num, rules_of,
                                       run_meta, seed_fit, seed_groups, warnings_text, window_text)
from supdyn.theory.asymptotics import asymptote_for


class Fig6(Experiment):
    name = "fig6"
    title = "Fig. 6 — example superposition loss curves with their power-law fits"

    def analyze(self, runs: Sequence[Any], mode: str, reading: Reading = STATED) -> dict[str, Any]:
        an, fw, n_boot = self.fit_settings(mode)
        curves = []
        for cfg, members, t, losses in seed_groups(runs):
            ok = t > 0
            fit = seed_fit(t, losses, fw, reading.fit_offset, n_boot)
            curves.append({**run_meta(members), "t": t[ok], "loss_mean": losses[:, ok].mean(axis=0),
                           "fit": fit, "warnings": fit_warnings(t, losses, fit, fw),
                           "alpha_nosup_asym": asymptote_for(cfg.data).alpha})
        rules = rules_of(an, {"alpha_target": 1.0, "alpha_tol": 0.15, "alpha_partly": 0.3})
        return {"mode": mode, "reading": reading.name, "fit_window": list(fw), "fit_offset": reading.fit_offset,
                "curves": curves, "rules": rules}

    def claims(self, result: dict[str, Any]) -> list[Claim]:
        curves, rules, fw = result["curves"], result["rules"], result["fit_window"]
        tgt, tol, partly = rules["alpha_target"], rules["alpha_tol"], rules["alpha_partly"]
        fits = [c["fit"] for c in curves]
        vals = [num(f["alpha"]) for f in fits if math.isfinite(num(f["alpha"]))]
        rng = f"range [{min(vals):.3f}, {max(vals):.3f}]" if vals else "no fit possible"
        per = "; ".join(f"(a={c['a']:g}, b={c['b']:g}): α = {num(c['fit']['alpha']):.3f} "
                        f"[{num(c['fit']['lo']):.3f}, {num(c['fit']['hi']):.3f}], L0 = {num(c['fit']['L0']):.3g}, "
                        f"RMS log-residual {num(c['fit'].get('rms')):.3g}" for c in curves)
        ks = sorted({c["K"] for c in curves})
        method = fits[0].get("interval_method", "") if fits else ""
        return [Claim(
            "fig6_power_law_alpha_one", "6",
            "Mid-training loss curves are power laws with α ≈ 1 across a ∈ [0.5, 1.5], b ∈ [0, 0.5]",
            "≈ 1", mean_alpha(fits), envelope(fits), window_text(fw), band_verdict(fits, tgt, tol, partly),
            band_rule(tgt, tol, partly),
            f"K = {ks}; measured: mean of {len(vals)} fitted α ({rng}); interval: envelope of the per-curve 95% "
            f"intervals ({method}). Per curve: {per}." + warnings_text(curves))]


EXPERIMENT = Fig6()

"""Fig. 6: mid-training loss curves of the superposition student are power laws with α ≈ 1.

Student y = ReLU(Wᵀ B W x + b), N = 1024, K = 256, online SGD, for (a, b) across a ∈ [0.5, 1.5],
b ∈ [0, 0.5]. Each seed-mean curve is fitted with L(t) = c t^−α + L0 (L0 ≥ 0; the paper's eq. 9) on
``fit_window``; the fitted curve is drawn over the window and α is printed in the legend. The 95%
interval of α: percentile bootstrap over seeds (≥ 2 seeds) or ± 1.96 SE of the fit. The fit's RMS
log-residual measures how well a power law describes the window.

Claim: every fitted α ≈ 1: an equivalence test (TOST at the spec's margin) per curve on an interval
with seed-to-seed variation (:func:`supdyn.experiments.common.alpha_set_decision`), every curve must pass.
"""

from __future__ import annotations

from typing import Any, Sequence

from supdyn.experiments.base import STATED, Claim, Experiment, Reading
from supdyn.experiments.common import (alpha_set_decision, fit_warnings, num, pooled_seed_sd, pooled_text, rules_of,
                                       run_meta, seed_fit, seed_groups, warnings_text, window_text)
from supdyn.experiments.rules import ENVELOPE, rule_equivalence
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
        rules = rules_of(an, {"alpha_target": 1.0, "alpha_margin": 0.15})
        return {"mode": mode, "reading": reading.name, "fit_window": list(fw), "fit_offset": reading.fit_offset,
                "curves": curves, "rules": rules}

    def claims(self, result: dict[str, Any]) -> list[Claim]:
        curves, rules, fw = result["curves"], result["rules"], result["fit_window"]
        tgt, margin = rules["alpha_target"], rules["alpha_margin"]
        pooled = pooled_seed_sd([c["fit"] for c in curves])
        res = alpha_set_decision([(f"a={c['a']:g}, b={c['b']:g}", c["fit"]) for c in curves], tgt, margin, pooled)
        fits = "; ".join(f"(a={c['a']:g}, b={c['b']:g}): L0 = {num(c['fit']['L0']):.3g}, RMS log-residual "
                         f"{num(c['fit'].get('rms')):.3g}" for c in curves)
        ks = sorted({c["K"] for c in curves})
        return [Claim.decided(
            "fig6_power_law_alpha_one", "6",
            "Mid-training loss curves are power laws with α ≈ 1 across a ∈ [0.5, 1.5], b ∈ [0, 0.5]",
            "≈ 1", res["measured"], res["interval"], window_text(fw), res["decision"],
            rule_equivalence("every curve's fitted α", tgt, margin, "(one TOST per curve; all must pass)"),
            f"K = {ks}; measured: mean of the curves' α; interval: envelope of their 90% CIs; {pooled_text(pooled)}. "
            f"Per curve: {res['per']}. Fits: {fits}." + warnings_text(curves),
            interval_kind=ENVELOPE, reasons=res["member_reasons"])]


EXPERIMENT = Fig6()

"""Fig. 6: mid-training loss curves of the superposition student are power laws with α ≈ 1.

Student y = ReLU(Wᵀ B W x + b), N = 1024, K = 256, online SGD, for (a, b) across a ∈ [0.5, 1.5],
b ∈ [0, 0.5]. Each seed-mean curve is fitted with L(t) = c t^−α + L0 (L0 ≥ 0; the paper's eq. 9) on
``fit_window``; the fitted curve is drawn over the window and α is printed in the legend. The 95%
interval of α: percentile bootstrap over seeds (≥ 2 seeds) or ± 1.96 SE of the fit. The fit's RMS
log-residual measures how well a power law describes the window.

Claims (every curve must pass; a curve whose loss does not fall on the window, L(t_lo)/L(t_hi) − 1 <
``min_drop``, is inconclusive: :func:`supdyn.experiments.rules.must_fall`):

* every fitted α ≈ 1: an equivalence test (TOST at the spec's margin) per curve on an interval with
  seed-to-seed variation (:func:`supdyn.experiments.common.alpha_set_decision`);
* the loss on the window is a power law plus offset ("accurately modeled by a power law"): each run's
  own fit leaves max |ln(L/fit)| < ``max_res`` on the window — a threshold per curve on the mean over its
  seeds (Student-t interval over ≥ 2 seeds; one seed decides only by ``max_res_allowance``).
"""

from __future__ import annotations

from typing import Any, Sequence

from supdyn.experiments.base import STATED, Claim, Experiment, Reading
from supdyn.experiments.common import (alpha_set_decision, fit_warnings, num, pooled_seed_sd, pooled_text, rules_of,
                                       run_meta, seed_fit, seed_groups, seed_summary, warnings_text, window_text)
from supdyn.experiments.rules import (CI_SEEDS, ENVELOPE, NO_INTERVAL, all_members, must_fall, rule_equivalence,
                                      rule_must_fall, rule_threshold, threshold)
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
        rules = rules_of(an, {"alpha_target": 1.0, "alpha_margin": 0.15, "min_drop": 0.5, "max_res": 0.02,
                              "max_res_allowance": 0.005})
        return {"mode": mode, "reading": reading.name, "fit_window": list(fw), "fit_offset": reading.fit_offset,
                "curves": curves, "rules": rules}

    def claims(self, result: dict[str, Any]) -> list[Claim]:
        curves, rules, fw = result["curves"], result["rules"], result["fit_window"]
        tgt, margin = rules["alpha_target"], rules["alpha_margin"]
        pooled = pooled_seed_sd([c["fit"] for c in curves])
        res = alpha_set_decision([(f"a={c['a']:g}, b={c['b']:g}", c["fit"]) for c in curves], tgt, margin, pooled,
                                 min_drop=rules["min_drop"])
        fits = "; ".join(f"(a={c['a']:g}, b={c['b']:g}): L0 = {num(c['fit']['L0']):.3g}, RMS log-residual "
                         f"{num(c['fit'].get('rms')):.3g}" for c in curves)
        ks = sorted({c["K"] for c in curves})
        return [Claim.decided(
            "fig6_power_law_alpha_one", "6",
            "Mid-training loss curves are power laws with α ≈ 1 across a ∈ [0.5, 1.5], b ∈ [0, 0.5]",
            "≈ 1", res["measured"], res["interval"], window_text(fw), res["decision"],
            rule_equivalence("every curve's fitted α", tgt, margin, "(one TOST per curve; all must pass)")
            + rule_must_fall(rules["min_drop"]),
            f"K = {ks}; measured: mean of the curves' α; interval: envelope of their 90% CIs; {pooled_text(pooled)}. "
            f"Per curve: {res['per']}. Fits: {fits}." + warnings_text(curves),
            interval_kind=ENVELOPE, reasons=res["member_reasons"]), self._fit_quality(result)]

    @staticmethod
    def _fit_quality(result: dict[str, Any]) -> Claim:
        """Each curve's loss is c t^−α + L0 on the window to within max_res in ln L (per run's own fit)."""
        curves, rules, fw = result["curves"], result["rules"], result["fit_window"]
        lim, allow = rules["max_res"], rules["max_res_allowance"]
        decs, names, per, vals = [], [], [], []
        for c in curves:
            f, name = c["fit"], f"(a={c['a']:g}, b={c['b']:g})"
            runs = f.get("seed_max_res") or [num(f.get("max_res"))]
            m, iv, how = seed_summary(runs)
            d = threshold(m, *(iv or (None, None)), lim, above=False, allowance=allow, label=f"max |ln(L/fit)|{name}")
            decs.append(must_fall(d, num(f.get("drop")), rules["min_drop"], f"loss of {name}"))
            names.append(name)
            vals.append((m, iv))
            per.append(f"{name}: {', '.join(f'{x:.4f}' for x in runs)} ({how}), L0 = {num(f.get('L0')):.3g}, "
                       f"RMS {num(f.get('rms')):.4f}, L(t_lo)/L(t_hi) − 1 = {num(f.get('drop')):.3g}")
        dec = all_members(decs, names, "curve")
        fin = [v for v in vals if v[0] == v[0]]
        worst = max(fin, key=lambda v: v[0]) if fin else (float("nan"), None)
        return Claim.decided(
            "fig6_power_law_fit_quality", "6",
            "The mid-training loss is accurately modeled by a power law: c t^-α + L0 fits each curve on the window",
            "\"accurately modeled by a power law\"", worst[0], tuple(worst[1]) if worst[1] else None, window_text(fw),
            dec, rule_threshold("each curve's max |ln(L/fit)| over the window (each run's own fit, mean over seeds)",
                                lim, above=False, allowance=allow) + rule_must_fall(rules["min_drop"]),
            "measured: the largest per-curve value; interval: its 95% CI over seeds (none with 1 seed). The residuals "
            f"are those of the fit of eq. 9 (L0 ≥ 0 free: {result['fit_offset']}). Per curve (per run): "
            + "; ".join(per) + ".",
            interval_kind=CI_SEEDS if worst[1] else NO_INTERVAL, reasons=[d.reason for d in decs])


EXPERIMENT = Fig6()

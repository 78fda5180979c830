"""Fig. 14: the compute-optimal width grows as a power of compute, K_opt ∝ C^γ.

Same runs as Fig. 7 (a = 1.1, b = 0, superposition students of width K, one seed-mean curve per K),
same cost model C = t · K^p (p = 2 in the paper). From the frontier of
:func:`supdyn.fit.compute_frontier`: at each C of a log grid, the discrete argmin K* of the
iso-compute loss, and the continuous K_opt = vertex of the parabola in log K through log L at K*
and its two neighbouring widths (defined only where the argmin is interior). Fit

    log K_opt = log k0 + γ log C      (least squares over the C values with an interior argmin),

paper (Sec. 4.3): γ ≈ 0.2702 ("K doubles roughly as C increases tenfold"). 95% interval of γ:
percentile bootstrap over seeds (the seeds of each K resampled independently) when every width has
≥ 2 seeds, else the regression interval (OLS SE rescaled to the number of distinct argmin widths,
Student t) — the claim says which. Also reported: the C range where the argmin is interior.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from supdyn.config import RunConfig
from supdyn.experiments.base import STATED, Claim, Experiment, Reading
from supdyn.experiments.rules import BOOTSTRAP, NO_INTERVAL, Decision, equivalence, rule_equivalence
from supdyn.fit.intervals import t_interval, tost
from supdyn.experiments.fig7 import EXPERIMENT as FIG7
from supdyn.experiments.common import (cost_model, curve_rows, frontier, iso_table, n_of, no_frontier, num,
                                       rules_of, sci, width_curves)


def interior_segments(C: Sequence[float], interior: Sequence[bool]) -> list[list[float]]:
    """Contiguous [C_lo, C_hi] stretches of the grid where the argmin is interior."""
    out: list[list[float]] = []
    prev = False
    for c, i in zip(C, interior):
        if i and not prev:
            out.append([float(c), float(c)])
        elif i:
            out[-1][1] = float(c)
        prev = bool(i)
    return out


class Fig14(Experiment):
    name = "fig14"
    title = "Fig. 14 — compute-optimal width K_opt ∝ C^γ (a = 1.1, b = 0)"

    def configs(self, mode: str, reading: Reading = STATED) -> list[RunConfig]:
        """Fig. 7's runs."""
        return FIG7.configs(mode, reading)

    def analyze(self, runs: Sequence[Any], mode: str, reading: Reading = STATED) -> dict[str, Any]:
        an = {**FIG7.analysis(mode), **self.analysis(mode)}
        cost, cost_text = cost_model(an)
        curves = width_curves(runs)
        seeds = [len(c["seeds"]) for c in curves]
        n_boot = int(an.get("n_boot", 500)) if seeds and min(seeds) >= 2 else 0
        fr = frontier(curves, an, n_boot=n_boot) if len(curves) >= 3 else no_frontier("fewer than 3 widths")
        segs = interior_segments(fr.get("C", []), fr.get("interior", []))
        # per grid C: interior / edge / undetermined (a neighbour of the argmin has no data there)
        status = iso_table(curves, np.asarray(fr["C"]), cost)["status"] if len(fr.get("C", [])) else []
        rules = rules_of(an, {"gamma_target": 0.27, "gamma_margin": 0.05})
        return {"mode": mode, "reading": reading.name, "cost": cost_text, "curves": curve_rows(curves, cost),
                "frontier": fr, "status": status, "interior_segments": segs, "n_boot": n_boot, "rules": rules,
                "paper_gamma": float(an.get("paper_gamma", 0.2702))}

    def claims(self, result: dict[str, Any]) -> list[Claim]:
        fr, rules = result["frontier"], result["rules"]
        g = num(fr.get("gamma"))
        lo, hi = (num(x) for x in fr.get("gamma_interval", [None, None]))
        iv = (lo, hi) if math.isfinite(lo) and math.isfinite(hi) else None
        tgt, margin = rules["gamma_target"], rules["gamma_margin"]
        n_eff = int(fr.get("n_eff", 0) or 0)
        if fr.get("gamma_method") == "regression" and n_eff > 2:
            i90 = t_interval(g, num(fr.get("gamma_se")), n_eff - 2, 0.90)
            lo90, hi90 = i90.lo, i90.hi
            p = tost(g, num(fr.get("gamma_se")), n_eff - 2, tgt, margin).p
        else:  # bootstrap: the 95% percentile interval stands in (conservatively) for the 90%
            lo90, hi90 = iv if iv else (None, None)
            p = None
        dec = equivalence(g, lo90, hi90, tgt, margin, label="γ", p_tost=p)
        if iv is None and math.isfinite(g):
            dec = Decision("inconclusive", f"γ = {g:.3g} has no interval: {n_eff} distinct interior argmin width(s), "
                           "need ≥ 3 (1 seed) or ≥ 2 seeds per width")
        segs = result["interior_segments"]
        rng = "; ".join(f"[{sci(a)}, {sci(b)}]" for a, b in segs) or "none"
        method = {"bootstrap": f"percentile bootstrap over seeds ({result['n_boot']} resamples, the seeds of "
                               "each K resampled independently)",
                  "regression": "regression interval (OLS SE over the interior grid points rescaled to the "
                                "number of distinct argmin widths n_eff, Student t on n_eff − 2 dof; 1 seed)",
                  "none": "none"}.get(fr.get("gamma_method", "none"), fr.get("gamma_method"))
        kstar = sorted({float(f"{num(k):.6g}") for k, i in zip(fr.get("K_star", []), fr.get("interior", [])) if i})
        why = f" Frontier not fitted: {fr['error']}." if fr.get("error") else ""
        ks = [c["K"] for c in result["curves"]]
        t_max = {c["K"]: c["t_max"] for c in result["curves"]}
        details = (f"γ = slope of log K_opt on log C over the {fr.get('n_fit', 0)} grid values of C (of "
                   f"{len(fr.get('C', []))}, log-spaced) with an interior argmin; distinct interior argmin widths "
                   f"{kstar} (n_eff = {fr.get('n_eff', 0)}). Interval: {method}. C range(s) with an interior "
                   f"argmin: {rng}. N = {n_of(result['curves'])}, widths {ks}, t_max per K {t_max}; "
                   f"{result['cost']}. "
                   f"Paper: {result['paper_gamma']:g}."
                   + why)
        window = f"C ∈ {rng} ({result['cost']})" if segs else result["cost"]
        kind = {"bootstrap": BOOTSTRAP, "regression": "CI 95% of the regression (Student t on n_eff − 2 dof)"}.get(
            fr.get("gamma_method", "none"), NO_INTERVAL) if iv else NO_INTERVAL
        return [Claim.decided(
            "fig14_kopt_compute_exponent", "14",
            "The compute-optimal width grows as a power of compute, K_opt ∝ C^γ with γ ≈ 0.27 (K doubles "
            "roughly as C grows tenfold)", "≈ 0.2702", g, iv, window, dec,
            rule_equivalence("γ", tgt, margin, "(90% CI: regression on n_eff − 2 dof, or the 95% bootstrap interval "
                                               "over seeds as a conservative stand-in)")
            + "; inconclusive without an interval (fewer than 3 distinct optimal widths and 1 seed); not tested if "
            "fewer than 2 compute values have an interior optimum",
            details, interval_kind=kind)]


EXPERIMENT = Fig14()

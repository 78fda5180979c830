"""Fig. 13 (App. A.4): the width-limited plateau loss scales as L_∞(K) ∝ K^−β.

Superposition students of width K ∈ [32, 512] at a = 1.1, b = 0 (the runs of Fig. 7, widths outside
``k_range`` dropped). The plateau of each width is the mean loss over the last ``final_fraction`` of
its curve in log t (:func:`supdyn.fit.plateau_loss`; seed means averaged, SE across seeds), and

    log L_∞ = log c − β log K       (:func:`supdyn.fit.fit_width_scaling`, least squares),

paper: β = 1.30 ± 0.01. A plateau is only a plateau if the curve has stopped falling: over the same
final window the log–log slope s = −d log L / d log t (least-squares line through the seed-mean curve)
must satisfy |s| ≤ ``plateau_slope_tol`` (0.05: the loss changes by < 11% per decade of t). β is
fitted over the widths that pass (needs ≥ 3); the fit over every width, plateau or not, is reported
beside it (not-yet-flat curves overstate L_∞ the more the larger K, which biases β low).

95% interval of β: percentile bootstrap over seeds (each width's seeds resampled independently, the
fit redone) when every width has ≥ 2 seeds, else the Student-t regression interval of the fit.
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
from supdyn.experiments.common import n_of, num, width_curves
from supdyn.fit import fit_width_scaling, plateau_loss


def final_slope(t: np.ndarray, loss: np.ndarray, t_lo: float) -> float:
    """s = −d log L / d log t: minus the least-squares slope of log L on log t over t ≥ t_lo (NaN if
    fewer than 2 points). A pure power law t^−α gives s = α; a flat curve s = 0."""
    ok = (t >= t_lo) & np.isfinite(loss) & (loss > 0)
    if ok.sum() < 2:
        return float("nan")
    x, y = np.log(t[ok]), np.log(loss[ok])
    xc = x - x.mean()
    return -float(xc @ (y - y.mean()) / (xc @ xc))


def width_fit(K: Sequence[float], L: Sequence[float]) -> dict[str, Any]:
    """:func:`supdyn.fit.fit_width_scaling` as a dict (β NaN and ``error`` when it cannot be fitted)."""
    try:
        d = fit_width_scaling(np.asarray(K, dtype=float), np.asarray(L, dtype=float)).to_dict()
        d.pop("residuals", None)
        return d
    except ValueError as exc:
        return {"beta": float("nan"), "beta_interval": [float("nan")] * 2, "n_points": len(K), "error": str(exc)}


def bootstrap_beta(losses: Sequence[np.ndarray], t: Sequence[np.ndarray], K: Sequence[float], fraction: float,
                   n_boot: int, seed: int = 0) -> tuple[float, float]:
    """95% percentile interval of β, resampling each width's seeds independently (rows of its losses)."""
    rng = np.random.default_rng(seed)
    reps = []
    for _ in range(n_boot):
        L = [plateau_loss(tt, ll[rng.integers(0, ll.shape[0], ll.shape[0])], final_fraction=fraction).mean
             for tt, ll in zip(t, losses)]
        try:
            reps.append(fit_width_scaling(np.asarray(K, dtype=float), np.asarray(L)).beta)
        except ValueError:
            continue
    if not reps:
        return float("nan"), float("nan")
    lo, hi = np.quantile(reps, [0.025, 0.975])
    return float(lo), float(hi)


class Fig13(Experiment):
    name = "fig13"
    title = "Fig. 13 — plateau loss against width, L_∞ ∝ K^−β (a = 1.1, b = 0)"

    def configs(self, mode: str, reading: Reading = STATED) -> list[RunConfig]:
        """Fig. 7's runs with K in ``k_range`` (see the spec)."""
        lo, hi = self.analysis(mode).get("k_range", [32, 512])
        return [c for c in FIG7.configs(mode, reading) if lo <= c.model.d_hidden <= hi]

    def analyze(self, runs: Sequence[Any], mode: str, reading: Reading = STATED) -> dict[str, Any]:
        an = self.analysis(mode)
        lo, hi = (float(x) for x in an.get("k_range", [32, 512]))
        frac = float(an.get("final_fraction", 0.2))
        tol = float(an.get("plateau_slope_tol", 0.05))
        curves = width_curves(runs, (lo, hi))
        points = []
        for c in curves:
            try:
                p = plateau_loss(c["t"], c["losses"], final_fraction=frac)
            except ValueError:  # e.g. a run that diverged at once: no finite points
                continue
            s = final_slope(c["t"], c["loss_mean"], p.t_lo)
            points.append({**{k: v for k, v in c.items() if k != "losses"}, "plateau": p.mean,
                           "plateau_se": p.se, "t_lo": p.t_lo, "t_hi": p.t_hi, "n_points": p.n_points,
                           "final_slope": s, "reached": bool(math.isfinite(s) and abs(s) <= tol)})
        flat = [p for p in points if p["reached"]]
        fit_flat = width_fit([p["K"] for p in flat], [p["plateau"] for p in flat])
        fit_all = width_fit([p["K"] for p in points], [p["plateau"] for p in points])
        seeds = [len(p["seeds"]) for p in flat]
        n_boot = int(an.get("n_boot", 500))
        method = "regression (Student t on n − 2 dof, 1 seed)"
        if len(flat) >= 3 and min(seeds) >= 2 and math.isfinite(num(fit_flat["beta"])):
            sel = [c for c in curves if c["K"] in {p["K"] for p in flat}]
            fit_flat["beta_interval"] = list(bootstrap_beta([c["losses"] for c in sel], [c["t"] for c in sel],
                                                            [c["K"] for c in sel], frac, n_boot))
            method = f"percentile bootstrap over seeds ({n_boot} resamples)"
        rules = {"beta_target": float(an.get("beta_target", 1.30)), "beta_margin": float(an.get("beta_margin", 0.15)),
                 "plateau_slope_tol": tol,
                 "min_widths": int(an.get("min_widths", 3))}
        return {"mode": mode, "reading": reading.name, "final_fraction": frac, "k_range": [lo, hi],
                "points": points, "fit": fit_flat, "fit_all": fit_all, "interval_method": method, "rules": rules}

    def claims(self, result: dict[str, Any]) -> list[Claim]:
        pts, rules, fit, fit_all = result["points"], result["rules"], result["fit"], result["fit_all"]
        flat = [p for p in pts if p["reached"]]
        not_flat = [p["K"] for p in pts if not p["reached"]]
        tgt = rules["beta_target"]
        per = "; ".join(f"K={p['K']}: L_∞ = {p['plateau']:.4g} on t ∈ [{p['t_lo']:.3g}, {p['t_hi']:.3g}], final "
                        f"slope {num(p['final_slope']):.3f} ({'plateau' if p['reached'] else 'NOT a plateau'})"
                        for p in pts)
        b_all = num(fit_all.get("beta"))
        ia = fit_all.get("beta_interval", [None, None])
        all_text = (f"β over all {len(pts)} widths (plateau or not; biased low when the large widths are "
                    f"still further from their plateau): {b_all:.3f} [{num(ia[0]):.3f}, {num(ia[1]):.3f}] "
                    "(regression interval)")
        margin = rules["beta_margin"]
        if len(flat) < rules["min_widths"]:
            measured, iv, kind = b_all, None, NO_INTERVAL
            dec = Decision("untested" if len(pts) < rules["min_widths"] else "inconclusive",
                           f"only {len(flat)} width(s) reached the plateau (need {rules['min_widths']}): no plateau for "
                           f"K = {not_flat} within their t_max")
            head = "measured = the apparent β over all widths, not a plateau estimate. "
        else:
            measured = num(fit["beta"])
            lo, hi = (num(x) for x in fit["beta_interval"])
            iv = (lo, hi) if math.isfinite(lo) and math.isfinite(hi) else None
            if "bootstrap" in result["interval_method"]:
                lo90, hi90, p = lo, hi, None  # the 95% percentile interval stands in (conservatively) for the 90%
                kind = BOOTSTRAP
            else:
                i90 = t_interval(measured, num(fit.get("beta_se")), len(flat) - 2, 0.90)
                lo90, hi90, kind = i90.lo, i90.hi, "CI 95% of the regression (Student t on n − 2 dof)"
                p = tost(measured, num(fit.get("beta_se")), len(flat) - 2, tgt, margin).p if len(flat) > 2 else None
            dec = equivalence(measured, lo90, hi90, tgt, margin, label="β", p_tost=p)
            head = f"β fitted over the {len(flat)} widths that reached the plateau ({result['interval_method']}). "
            if not_flat and dec.outcome == "pass":
                dec = Decision("inconclusive", f"{dec.reason}, but K = {not_flat} did not reach the plateau: the "
                               "sweep's law is not established over all its widths")
        ks = [p["K"] for p in flat]
        return [Claim.decided(
            "fig13_plateau_width_exponent", "13 / App. A.4",
            "The final plateau loss falls with width as a power law L_∞ ∝ K^−β with β ≈ 1.3",
            "1.30 ± 0.01", measured, iv,
            f"last {result['final_fraction']:g} of each curve in log t; K ∈ {ks if ks else [p['K'] for p in pts]}, "
            f"N = {n_of(pts)}",
            dec,
            f"a width has reached its plateau if |d log L / d log t| ≤ {rules['plateau_slope_tol']:g} over the "
            f"averaging window; with ≥ {rules['min_widths']} such widths: "
            + rule_equivalence("β", tgt, margin, "(90% CI: regression on n − 2 dof, or the 95% bootstrap interval "
                                                 "over seeds as a conservative stand-in)")
            + f"; inconclusive with fewer than {rules['min_widths']} plateaus or when a width of the sweep did not "
            "reach its plateau (it can then fail, not pass)",
            head + all_text + ". Per width: " + per + ".", interval_kind=kind)]


EXPERIMENT = Fig13()

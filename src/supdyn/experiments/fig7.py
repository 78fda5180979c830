"""Fig. 7: the compute-optimal frontier of superposition students of different width K.

Students y = ReLU(Wᵀ B W x + b) (fixed random W, K < N; K = N = 1024 with variant "fixed" set
explicitly so that it keeps the bottleneck) trained by online SGD at a = 1.1, b = 0. Each seed-mean
loss curve L_K(t) is redrawn against compute (paper Sec. 4.3)

    C = t · K^p        (p = ``cost_exponent`` in the spec's [analysis]; the paper's C = t × K², p = 2),

panel (a): the curves and their envelope L*(C) = min_K L_K(C) (:func:`supdyn.fit.compute_frontier`,
log–log interpolation, no extrapolation); panel (b): iso-compute curves L(K) at ``n_iso`` fixed C,
log-uniform (the centres of equal log-bins) over the C range where at least 3 widths have data
(:func:`supdyn.fit.iso_compute`).

Claims: "iso-compute curves have interior minima (a trade-off between K and C)" at every one of the
levels — a level passes when its argmin over K is interior (both neighbouring widths of the sweep have
data at that C, and so a larger loss), fails when the argmin is K = N (no trade-off up to the widest
student), and is undecided when it sits at an edge of the sweep or next to a width with no data there
(its run ends at a smaller C); and
"the optimal model size increases with compute" (the argmin K along the levels).

Fig. 13 and Fig. 14 analyze the same runs (their ``configs`` are this experiment's); the helpers of
the three (curves by width, cost model, frontier, iso-compute table) are in
:mod:`supdyn.experiments.common`.
"""

from __future__ import annotations

from typing import Any, Sequence

from supdyn.experiments.base import STATED, Claim, Experiment, Reading
from supdyn.experiments.rules import NO_INTERVAL, Decision, all_members
from supdyn.experiments.common import (cost_model, curve_rows, defined_range, frontier, iso_levels, iso_table, n_of,
                                       num, sci, width_curves)


class Fig7(Experiment):
    name = "fig7"
    title = "Fig. 7 — compute-optimal frontier and iso-compute curves (a = 1.1, b = 0)"

    def analyze(self, runs: Sequence[Any], mode: str, reading: Reading = STATED) -> dict[str, Any]:
        an = self.analysis(mode)
        cost, cost_text = cost_model(an)
        curves = width_curves(runs)
        n_iso = int(an.get("n_iso", 4))
        rng = defined_range(curves, cost, int(an.get("iso_min_widths", 3))) if len(curves) >= 3 else None
        if rng is not None:
            iso = iso_table(curves, iso_levels(rng[0], rng[1], n_iso), cost)
        else:
            iso = {"C": [], "K": [c["K"] for c in curves], "loss": [], "argmin_K": [], "status": [],
                   "interior": [], "n_defined": []}
        rules = {"n_iso": n_iso}
        return {"mode": mode, "reading": reading.name, "cost": cost_text,
                "cost_exponent": float(an.get("cost_exponent", 2.0)), "curves": curve_rows(curves, cost),
                "frontier": frontier(curves, an) if len(curves) >= 3 else {"error": "fewer than 3 widths"},
                "iso": iso, "iso_range": list(rng) if rng else None, "rules": rules}

    def claims(self, result: dict[str, Any]) -> list[Claim]:
        iso = result["iso"]
        n_lv = len(iso["C"])
        ks = [c["K"] for c in result["curves"]]
        levels = [f"C={sci(c)}" for c in iso["C"]]
        per = "; ".join(f"C = {sci(c)}: argmin K = {num(k):g} ({s}; {d} widths with data)"
                        for c, k, s, d in zip(iso["C"], iso["argmin_K"], iso["status"], iso["n_defined"]))
        n_feat = max((int(c["N"]) for c in result["curves"]), default=0)
        why = {"interior": "interior minimum (both neighbouring widths have data there, and a larger loss)",
               "edge": "minimum at the smallest or largest width of the sweep: the trade-off, if any, lies outside it",
               "undetermined": "a neighbouring width has no data at that C: the trade-off cannot be seen"}

        def level(lv: str, k: Any, s: str) -> Decision:
            if s == "edge" and num(k) >= n_feat:
                return Decision("fail", f"{lv}: argmin K = {num(k):g} = N: the loss falls with K up to the widest "
                                "possible student, no trade-off")
            return Decision("pass" if s == "interior" else "inconclusive", f"{lv}: argmin K = {num(k):g}, {why[s]}")

        decs = [level(lv, k, s) for lv, k, s in zip(levels, iso["argmin_K"], iso["status"])]
        dec = all_members(decs, levels, "compute level")
        rng = result["iso_range"]
        window = f"C ∈ [{sci(rng[0])}, {sci(rng[1])}] ({result['cost']})" if rng else result["cost"]
        seeds = sorted({len(c["seeds"]) for c in result["curves"]})
        t_max = {c["K"]: c["t_max"] for c in result["curves"]}
        common = (f"N = {n_of(result['curves'])}, widths K = {ks}, seeds per width {seeds}, t_max per K {t_max}; "
                  "seed-mean curves interpolated log–log in C (no extrapolation)")
        rows = [Claim.decided(
            "fig7_iso_compute_interior_minimum", "7b",
            "At fixed compute C the loss against width K has an interior minimum (a trade-off between "
            f"K and training time), at each of {result['rules']['n_iso']} log-uniform compute levels",
            "a minimum in each of 4 levels", float(iso["status"].count("interior")), None, window, dec,
            f"a claim about every level: each of the {result['rules']['n_iso']} log-uniform C levels (centres of "
            "equal log-bins of the range where ≥ 3 widths have data) passes if its argmin over K is interior (both "
            "neighbouring widths have data there), fails if the argmin is K = N (the loss falls with K up to the "
            "widest student: no trade-off), is undecided if the argmin is at an edge of the sweep (the trade-off "
            "may lie outside it) or next to a width with no data at that C; reproduced if every level passes, "
            "not reproduced if one fails, else inconclusive (measured: the number of interior levels)",
            f"{common}; a count, no interval. Per level: {per}.",
            interval_kind=NO_INTERVAL, reasons=[d.reason for d in decs])]
        # the optimal width grows with compute: argmin K along the decided levels
        dec_k = [(c, num(k)) for c, k, s in zip(iso["C"], iso["argmin_K"], iso["status"]) if s != "undetermined"]
        if len(dec_k) < 2:
            d = Decision("untested", f"{len(dec_k)} decided level(s) of {n_lv}: need 2")
            meas = float("nan")
        else:
            kk = [k for _, k in dec_k]
            meas = kk[-1] / kk[0]
            mono = all(b >= a for a, b in zip(kk, kk[1:]))
            if mono and kk[-1] > kk[0]:
                d = Decision("pass", f"argmin K over increasing C: {kk}: non-decreasing and larger at the largest C")
            elif kk[-1] < kk[0]:
                d = Decision("fail", f"argmin K over increasing C: {kk}: smaller at the largest C")
            else:
                d = Decision("inconclusive", f"argmin K over increasing C: {kk}: not monotone or unchanged")
        rows.append(Claim.decided(
            "fig7_kopt_increases_with_compute", "7a",
            "The optimal model size increases with the compute budget", "K_opt grows with C", meas, None, window, d,
            "the argmin K of the decided iso-compute levels (interior or edge), in order of C: reproduced if "
            "non-decreasing and larger at the largest C than at the smallest; not reproduced if smaller there; "
            "else inconclusive; not tested with < 2 decided levels (measured: K*(largest C) / K*(smallest C); a "
            "ratio of grid widths, no interval)",
            f"{common}. Per level: {per}.", interval_kind=NO_INTERVAL))
        return rows


EXPERIMENT = Fig7()

"""Fig. 7: the compute-optimal frontier of superposition students of different width K.

Students y = ReLU(Wᵀ B W x + b) (fixed random W, K < N; K = N = 1024 with variant "fixed" set
explicitly so that it keeps the bottleneck) trained by online SGD at a = 1.1, b = 0. Each seed-mean
loss curve L_K(t) is redrawn against compute (paper Sec. 4.3)

    C = t · K^p        (p = ``cost_exponent`` in the spec's [analysis]; the paper's C = t × K², p = 2),

panel (a): the curves and their envelope L*(C) = min_K L_K(C) (:func:`supdyn.fit.compute_frontier`,
log–log interpolation, no extrapolation); panel (b): iso-compute curves L(K) at ``n_iso`` fixed C,
log-uniform (the centres of equal log-bins) over the C range where at least 3 widths have data
(:func:`supdyn.fit.iso_compute`).

Claim: "iso-compute curves have interior minima (a trade-off between K and C)". Measured: the
number of C levels whose argmin over K is interior — both neighbouring widths of the sweep have data
at that C (and so a larger loss). A level whose argmin sits next to a width with no data there (its
run ends at a smaller C) is "undetermined" and cannot count against the claim; rule in the spec's
[analysis] and in the claim row.

The helpers here (curves by width, cost model, frontier, iso-compute table) are shared with fig13
and fig14, which analyze the same runs (their ``configs`` are this experiment's).
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np

from supdyn.experiments.base import STATED, Claim, Experiment, Reading
from supdyn.fit import compute_frontier, iso_compute

# ---------------------------------------------------------------------------------------------------
# shared helpers (fig7, fig13, fig14)


def num(x: Any) -> float:
    """A float from a result entry (None → NaN)."""
    return float("nan") if x is None else float(x)


def cost_model(an: dict[str, Any]) -> tuple[Callable[[np.ndarray, float], np.ndarray], str]:
    """(C(t, K) = t · K^p, its text) with p = ``an["cost_exponent"]`` (default 2, the paper's)."""
    p = float(an.get("cost_exponent", 2.0))

    def cost(t: np.ndarray, K: float) -> np.ndarray:
        return np.asarray(t, dtype=float) * float(K) ** p
    return cost, f"C = t·K^{p:g}"


def width_curves(runs: Sequence[Any], k_range: tuple[float, float] | None = None) -> list[dict[str, Any]]:
    """One entry per width K (sorted): ``t`` (t > 0), ``losses`` (n_seeds, n_t), ``loss_mean`` and the
    runs' metadata. Runs that differ only by seed are averaged; if a width appears with several
    configs (e.g. two t_max), the one reaching the largest t is kept."""
    groups: dict[str, list[Any]] = {}
    for r in runs:
        groups.setdefault(r.config.replace(seed=0).run_id, []).append(r)
    by_k: dict[int, dict[str, Any]] = {}
    for members in groups.values():
        cfg = members[0].config
        K = int(cfg.model.d_hidden)
        if k_range is not None and not k_range[0] <= K <= k_range[1]:
            continue
        t = np.asarray(members[0].t, dtype=float)
        losses = np.stack([np.asarray(r.loss, dtype=float) for r in members])
        ok = np.isfinite(t) & (t > 0)
        entry = {"K": K, "variant": cfg.variant, "a": cfg.data.a, "b": cfg.data.b, "N": cfg.data.n_features,
                 "lr": cfg.train.lr, "t_max": cfg.train.t_max, "seeds": [r.config.seed for r in members],
                 "diverged": any(bool(r.meta.get("diverged", False)) for r in members),
                 "wall_time": float(sum(float(r.meta.get("wall_time") or 0.0) for r in members)),
                 "t": t[ok], "losses": losses[:, ok], "loss_mean": losses[:, ok].mean(axis=0)}
        if K not in by_k or entry["t_max"] > by_k[K]["t_max"]:
            by_k[K] = entry
    return [by_k[k] for k in sorted(by_k)]


def curve_input(curves: Sequence[dict[str, Any]]) -> list[tuple[float, np.ndarray, np.ndarray]]:
    """``(K, t, losses)`` triples for :mod:`supdyn.fit.scaling` (diverged runs are NaN after divergence
    and are left out of the interpolation there)."""
    return [(float(c["K"]), c["t"], c["losses"]) for c in curves]


def frontier(curves: Sequence[dict[str, Any]], an: dict[str, Any], n_boot: int = 0) -> dict[str, Any]:
    """:func:`supdyn.fit.compute_frontier` as a dict (``error`` set and γ NaN when it cannot be
    computed, e.g. fewer than 3 widths or fewer than 2 compute values with an interior optimum)."""
    cost, _ = cost_model(an)
    n_grid = int(an.get("n_grid", 200))
    try:
        f = compute_frontier(curve_input(curves), cost=cost, n_grid=n_grid, n_resamples=n_boot)
    except ValueError as exc:
        out = {"gamma": float("nan"), "gamma_interval": [float("nan")] * 2, "gamma_method": "none",
               "n_fit": 0, "n_eff": 0, "error": str(exc)}
        if len(curves) >= 3:  # the envelope is still defined: recompute it without the γ fit
            out.update(envelope_only(curves, cost, n_grid))
        return out
    return f.to_dict()


def envelope_only(curves: Sequence[dict[str, Any]], cost: Callable, n_grid: int) -> dict[str, Any]:
    """L*(C) and the discrete argmin K on a log grid when compute_frontier has no γ to fit."""
    lo = min(float(np.min(cost(c["t"], c["K"]))) for c in curves)
    hi = max(float(np.max(cost(c["t"], c["K"]))) for c in curves)
    C = np.exp(np.linspace(math.log(lo), math.log(hi), n_grid))
    table = iso_compute(curve_input(curves), C, cost=cost)
    L = np.where(np.isfinite(table["loss"]), table["loss"], np.inf)
    j = np.argmin(L, axis=1)
    best = L[np.arange(C.size), j]
    ok = np.isfinite(best)
    return {"C": C, "L_star": np.where(ok, best, np.nan), "K_star": np.where(ok, table["K"][j], np.nan),
            "K_opt": np.full(C.size, np.nan), "interior": np.zeros(C.size, dtype=bool), "K": table["K"]}


def defined_range(curves: Sequence[dict[str, Any]], cost: Callable, min_curves: int = 3
                  ) -> tuple[float, float] | None:
    """[lo, hi] of the C values where at least ``min_curves`` widths have data (None if nowhere)."""
    spans = sorted((float(np.min(cost(c["t"], c["K"]))), float(np.max(cost(c["t"], c["K"])))) for c in curves)
    edges = sorted({e for s in spans for e in s})
    inside = [e for e in edges if sum(lo <= e <= hi for lo, hi in spans) >= min_curves]
    return (inside[0], inside[-1]) if inside and inside[-1] > inside[0] else None


def iso_levels(lo: float, hi: float, n: int) -> np.ndarray:
    """``n`` log-uniform compute levels: the centres of n equal log-bins of [lo, hi]."""
    edges = np.linspace(math.log(lo), math.log(hi), n + 1)
    return np.exp(0.5 * (edges[1:] + edges[:-1]))


def iso_table(curves: Sequence[dict[str, Any]], levels: np.ndarray, cost: Callable) -> dict[str, Any]:
    """Iso-compute losses (n_C, n_K) with, per level, the argmin K, the number of widths with data and
    its ``status``: "interior" (both neighbouring widths of the sweep have data at that C, and so a
    larger loss), "edge" (the argmin is the smallest or largest width of the sweep and its one neighbour
    has data: no trade-off within the sweep) or "undetermined" (a neighbouring width has no data at
    that C: its run ends before, or starts after)."""
    table = iso_compute(curve_input(curves), levels, cost=cost)
    L = table["loss"]
    nk = L.shape[1]
    argmin, status, n_def = [], [], []
    for row in L:
        ok = np.isfinite(row)
        n_def.append(int(ok.sum()))
        if not ok.any():
            argmin.append(float("nan"))
            status.append("undetermined")
            continue
        j = int(np.argmin(np.where(ok, row, np.inf)))
        argmin.append(float(table["K"][j]))
        lower, upper = (j > 0 and ok[j - 1]), (j < nk - 1 and ok[j + 1])  # neighbours with data
        if lower and upper:
            status.append("interior")
        elif (j == 0 and upper) or (j == nk - 1 and lower):
            status.append("edge")
        else:
            status.append("undetermined")
    return {"C": table["C"], "K": table["K"], "loss": L, "argmin_K": argmin, "status": status,
            "interior": [s == "interior" for s in status], "n_defined": n_def}


def curve_rows(curves: Sequence[dict[str, Any]], cost: Callable) -> list[dict[str, Any]]:
    """JSON-able per-width entries (the seed losses dropped, C added)."""
    return [{**{k: v for k, v in c.items() if k != "losses"}, "C": cost(c["t"], c["K"])} for c in curves]


def n_of(curves: Sequence[dict[str, Any]]) -> str:
    """The number of features N of the width sweep, as text (e.g. "256"; several joined by "/")."""
    return "/".join(str(n) for n in sorted({int(c["N"]) for c in curves})) or "n/a"


def sci(x: float) -> str:
    return f"{x:.3g}" if math.isfinite(x) else "n/a"


# ---------------------------------------------------------------------------------------------------


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
        rules = {"n_iso": n_iso, "min_interior": int(an.get("min_interior", 2)),
                 "partly_interior": int(an.get("partly_interior", 1))}
        return {"mode": mode, "reading": reading.name, "cost": cost_text,
                "cost_exponent": float(an.get("cost_exponent", 2.0)), "curves": curve_rows(curves, cost),
                "frontier": frontier(curves, an) if len(curves) >= 3 else {"error": "fewer than 3 widths"},
                "iso": iso, "iso_range": list(rng) if rng else None, "rules": rules}

    def claims(self, result: dict[str, Any]) -> list[Claim]:
        iso, rules = result["iso"], result["rules"]
        n_lv = len(iso["C"])
        n_int = iso["status"].count("interior")
        n_und = iso["status"].count("undetermined")
        need, partly = rules["min_interior"], rules["partly_interior"]
        ks = [c["K"] for c in result["curves"]]
        per = "; ".join(f"C = {sci(c)}: argmin K = {num(k):g} ({s}; {d} widths with data)"
                        for c, k, s, d in zip(iso["C"], iso["argmin_K"], iso["status"], iso["n_defined"]))
        if n_int >= need:
            verdict = "reproduced"
        elif n_int >= partly:
            verdict = "partly"
        elif n_lv and not n_und:
            verdict = "not reproduced"
        else:
            verdict = "not tested"
        rng = result["iso_range"]
        window = f"C ∈ [{sci(rng[0])}, {sci(rng[1])}] ({result['cost']})" if rng else result["cost"]
        seeds = sorted({len(c["seeds"]) for c in result["curves"]})
        t_max = {c["K"]: c["t_max"] for c in result["curves"]}
        return [Claim(
            "fig7_iso_compute_interior_minimum", "7b",
            "At fixed compute C the loss against width K has an interior minimum (a trade-off between "
            "K and training time), for each of four log-uniform compute levels",
            "a minimum in each of 4 levels", float(n_int), None, window, verdict,
            f"measured = number of the {rules['n_iso']} log-uniform C levels (centres of equal log-bins of the "
            "range where ≥ 3 widths have data) whose argmin over K is interior (both neighbouring widths "
            f"have data there); reproduced if ≥ {need}, partly if ≥ {partly}; with none: not reproduced if "
            "every level is decided (argmin at the smallest or largest width of the sweep), else not tested "
            "(argmin next to a width whose curve ends before that C: the trade-off cannot be seen)",
            (f"NOT TESTED: {n_und} of {n_lv} levels undetermined (a neighbouring width's run is too short to "
             "reach that C). " if verdict == "not tested" and n_lv else "") +
            f"N = {n_of(result['curves'])}, widths K = {ks}, seeds per width {seeds}, t_max per K {t_max}; "
            f"seed-mean curves interpolated log–log in C (no extrapolation), no interval (a count). Per level: {per}.")]


EXPERIMENT = Fig7()

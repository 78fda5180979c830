"""Helpers shared by the experiments: grouping runs over seeds, fits with intervals, the reference
theory, the rules of the claims, and the width sweeps of Figs. 7, 13 and 14.

Every experiment module imports what it shares from here (never from another experiment module); an
experiment module imports a sibling only to reuse its runs (fig13 and fig14 reuse fig7's).

Results are JSON-able dicts: a fit is :func:`safe_fit`'s dict (``alpha``, ``alpha_se``, ``c``, ``L0``,
``lo``/``hi`` = its 95% interval, ``rms`` log-residual, ``window``, ``n_points``, ``interval_method``;
α = NaN and ``error`` when the window cannot be fitted).
"""

from __future__ import annotations

import math
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from supdyn.config import DataConfig, RunConfig
from supdyn.data import frequencies, teacher_diagonal
from supdyn.fit import bootstrap_fit, bootstrap_statistic, compute_frontier, fit_power_law, iso_compute, time_to_loss
from supdyn.theory.exact import ExactTheory

# -- values, windows and rules ----------------------------------------------------------------------


def num(x: Any) -> float:
    """A float from a result entry (None → NaN)."""
    return float("nan") if x is None else float(x)


def window_of(an: dict[str, Any], key: str = "fit_window", default: tuple[float, float] = (1e3, 1e4)
              ) -> tuple[float, float]:
    """The (lo, hi) window ``an[key]`` of an analysis table as floats."""
    lo, hi = (float(x) for x in an.get(key, default))
    return lo, hi


def window_text(w: Sequence[float]) -> str:
    return f"t ∈ [{w[0]:g}, {w[1]:g}]"


def rules_of(an: dict[str, Any], defaults: dict[str, float]) -> dict[str, float]:
    """The rule thresholds of a claim: ``an[k]`` as float, else its default, for every k of defaults."""
    return {k: float(an.get(k, d)) for k, d in defaults.items()}


def sci(x: float) -> str:
    return f"{x:.3g}" if math.isfinite(x) else "n/a"


# -- runs over seeds ---------------------------------------------------------------------------------


def group_runs(runs: Sequence[Any]) -> list[list[Any]]:
    """Runs grouped by config up to the seed, in order of first appearance."""
    groups: dict[str, list[Any]] = {}
    for r in runs:
        groups.setdefault(r.config.replace(seed=0).run_id, []).append(r)
    return list(groups.values())


def seed_losses(members: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """(t (n_times,), losses (n_seeds, n_times)) of runs that share their evaluation times."""
    t = np.asarray(members[0].t, dtype=float)
    losses = np.stack([np.asarray(r.loss, dtype=float) for r in members])
    return t, losses


def seed_groups(runs: Sequence[Any]) -> Iterator[tuple[RunConfig, list[Any], np.ndarray, np.ndarray]]:
    """(config of the first seed, the runs, t, losses (n_seeds, n_times)) per :func:`group_runs` group."""
    for members in group_runs(runs):
        t, losses = seed_losses(members)
        yield members[0].config, members, t, losses


def run_meta(members: Sequence[Any]) -> dict[str, Any]:
    """What a result records of a group of runs: a, b, K, N, variant, lr, seeds, divergence, wall time."""
    cfg = members[0].config
    return {"a": cfg.data.a, "b": cfg.data.b, "K": cfg.model.d_hidden, "N": cfg.data.n_features,
            "variant": cfg.variant, "lr": cfg.train.lr, "seeds": [r.config.seed for r in members],
            "diverged": any(bool(r.meta.get("diverged", False)) for r in members),
            "wall_time": float(sum(float(r.meta.get("wall_time") or 0.0) for r in members))}


def seed_summary(values: list[float]) -> tuple[float, tuple[float, float] | None, str]:
    """Mean over seeds; 95% percentile bootstrap over seeds when ≥ 2, else no interval."""
    v = np.asarray([x for x in values if math.isfinite(x)], dtype=float)
    if v.size == 0:
        return float("nan"), None, "no finite value"
    if v.size < 2:
        return float(v[0]), None, "1 seed: no interval"
    bs = bootstrap_statistic(v, np.mean, n_resamples=500)
    return float(v.mean()), (float(bs.lo), float(bs.hi)), f"bootstrap over {v.size} seeds"


# -- fits ------------------------------------------------------------------------------------------


def safe_fit(t: np.ndarray, loss: np.ndarray, window: tuple[float, float], offset: bool = True
             ) -> dict[str, Any]:
    """:func:`supdyn.fit.fit_power_law` as a JSON-able dict with ``lo``/``hi`` = α ± 1.96 SE;
    α = NaN and the reason in ``error`` when the window cannot be fitted (e.g. not reached)."""
    nan = float("nan")
    try:
        f = fit_power_law(t, loss, window, offset=offset)
    except ValueError as exc:
        return {"alpha": nan, "alpha_se": nan, "c": nan, "L0": nan, "lo": nan, "hi": nan, "rms": nan,
                "window": list(window), "n_points": 0, "error": str(exc)}
    d = f.to_dict()
    res = d.pop("residuals", [])
    d["rms"] = float(np.sqrt(np.mean(np.square(np.asarray(res, dtype=float))))) if res else nan
    d["lo"], d["hi"] = f.alpha - 1.96 * f.alpha_se, f.alpha + 1.96 * f.alpha_se
    d["interval_method"] = "± 1.96 SE of the fit (1 seed)"
    return d


def seed_fit(t: np.ndarray, losses: np.ndarray, window: tuple[float, float], offset: bool = True,
             n_boot: int = 500) -> dict[str, Any]:
    """Fit of the seed-mean curve; 95% interval by percentile bootstrap over seeds (≥ 2 seeds, the
    mean curve of resampled seeds refitted) or ± 1.96 SE of the fit (1 seed)."""
    out = safe_fit(t, losses.mean(axis=0), window, offset)
    if losses.shape[0] >= 2 and math.isfinite(out["alpha"]):
        try:
            bs = bootstrap_fit(t, losses, window, offset=offset, n_resamples=n_boot)
            out["lo"], out["hi"] = float(bs.alpha.lo), float(bs.alpha.hi)
            out["interval_method"] = f"percentile bootstrap over {losses.shape[0]} seeds ({n_boot} resamples)"
        except ValueError:
            pass
    return out


def nosup_loss(data: DataConfig, t: np.ndarray) -> np.ndarray:
    """Exact no-superposition gradient-flow loss from B(0) = 0 (K = N; paper eqs. 5–7 with the full
    second moment) at times t, for the frequencies and teacher of ``data``."""
    return ExactTheory.from_config(data).loss(np.asarray(t, dtype=float))


def fit_warnings(t: np.ndarray, losses: np.ndarray, fit: dict[str, Any], window: Sequence[float],
                 rms_tol: float = 0.05, plateau_frac: float = 0.5) -> list[str]:
    """Informational flags (they do not change a verdict): the fit's RMS log-residual above rms_tol (not
    a power law on the window), or the loss at the window's start still above plateau_frac × L(t = 0)
    (the run has not left its initial plateau, e.g. a dominant feature not yet learned)."""
    out = []
    rms = num(fit.get("rms"))
    if math.isfinite(rms) and rms > rms_tol:
        out.append(f"RMS log-residual {rms:.3g} > {rms_tol:g}")
    mean = losses.mean(axis=0)
    ok = (t > 0) & np.isfinite(mean) & (mean > 0)
    if ok.sum() >= 2 and t[ok][0] <= window[0] <= t[ok][-1] and t[0] == 0 and mean[0] > 0:
        l_start = float(np.exp(np.interp(np.log(window[0]), np.log(t[ok]), np.log(mean[ok]))))
        if l_start > plateau_frac * mean[0]:
            out.append(f"L(t={window[0]:g}) = {l_start / mean[0]:.2f} × L(0): still on the initial plateau")
    return out


def warnings_text(points: Sequence[dict[str, Any]]) -> str:
    """' Warnings: (a=.., b=.., K=..): ...' for the points with warnings ('' if none)."""
    w = [f"(a={p['a']:g}, b={p['b']:g}, K={p['K']}): {', '.join(p['warnings'])}" for p in points if p.get("warnings")]
    return (" Warnings (informational, not used by the rule): " + "; ".join(w) + ".") if w else ""


# -- per-feature half-loss times (Fig. 8, universality) ------------------------------------------------


def half_times(t: np.ndarray, ratio: np.ndarray, half: float) -> np.ndarray:
    """t_half,i = first t > 0 with ratio[:, i] ≤ half (inf if never), shape (n_features,)."""
    out = np.full(ratio.shape[1], np.inf)
    for i in range(ratio.shape[1]):
        col = ratio[:, i]
        if np.isfinite(col).sum() >= 2:
            th = time_to_loss(t, col, half)
            out[i] = th if math.isfinite(th) else np.inf
    return out


def spread(th: np.ndarray, t_max: float, q: tuple[float, float] = (10.0, 90.0)) -> tuple[float, bool]:
    """(p90 − p10 of log10 t_half in decades, censored). Censored times (inf: never half-learned) count
    as t_max; when the upper percentile reaches into the censored features (their fraction exceeds
    1 − q_hi/100) the value is a lower bound (censored = True); NaN when the lower percentile does too
    (fraction ≥ 1 − q_lo/100) or the set is empty. (Percentiles interpolate between neighbours, so a
    censored time must never enter them as a huge number: one such feature among a few would inflate
    the spread without being flagged.)"""
    if th.size == 0:
        return float("nan"), False
    frac = float(np.mean(~np.isfinite(th)))
    if frac >= 1.0 - q[0] / 100.0 - 1e-12:
        return float("nan"), True
    lt = np.log10(np.minimum(th, t_max))
    lo, hi = np.percentile(lt, q)
    return float(hi - lo), bool(frac > 1.0 - q[1] / 100.0 + 1e-12)


def per_feature_ratio(run: Any, min_count: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(t, L_i(t)/L_i(0) (n_times, N), resolved mask (N,)) for one stored run; a feature is resolved
    when its loss is exact or eval_size·p_i ≥ min_count (its expected number of active eval samples)."""
    cfg = run.config
    t = np.asarray(run.t, dtype=float)
    pf = np.asarray(run.arrays["per_feature"], dtype=float)  # (n_times, n_features)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = pf / pf[0]
    if cfg.eval_exact:
        resolved = np.ones(pf.shape[1], dtype=bool)
    else:
        p = frequencies(cfg.data)
        exact0 = 0.5 * teacher_diagonal(cfg.data) ** 2 * p / 3.0
        resolved = (cfg.train.eval_size * p >= min_count) & (pf[0] >= 0.1 * exact0)
    resolved &= np.isfinite(pf[0]) & (pf[0] > 0)
    return t, ratio, resolved


# -- the band rule on many fitted exponents ----------------------------------------------------------


def band_verdict(fits: Sequence[dict[str, Any]], target: float, tol: float, partly: float) -> str:
    """The band rule: reproduced if every α lies in [target ± tol] or its 95% interval reaches that
    band; partly if every one does so for [target ± partly]; else not reproduced. Points whose fit
    failed are ignored; no fitted point at all → not tested."""
    rows = [(num(f.get("alpha")), num(f.get("lo")), num(f.get("hi"))) for f in fits]
    rows = [r for r in rows if math.isfinite(r[0])]
    if not rows:
        return "not tested"

    def dist(al: float, lo: float, hi: float) -> float:
        if not (math.isfinite(lo) and math.isfinite(hi)):
            lo = hi = al
        return 0.0 if lo <= target <= hi else min(abs(lo - target), abs(hi - target))

    worst = max(min(abs(al - target), dist(al, lo, hi)) for al, lo, hi in rows)
    return "reproduced" if worst <= tol else "partly" if worst <= partly else "not reproduced"


def band_rule(target: float, tol: float, partly: float) -> str:
    return (f"reproduced if every fitted α lies in [{target - tol:g}, {target + tol:g}] (or its 95% "
            f"interval reaches that band); partly if all lie in [{target - partly:g}, {target + partly:g}]; "
            "else not reproduced; not tested if no window could be fitted")


def envelope(fits: Sequence[dict[str, Any]]) -> tuple[float, float] | None:
    """[min lo, max hi] over the fits' 95% intervals (None if none is finite)."""
    lo = [num(f.get("lo")) for f in fits if math.isfinite(num(f.get("lo")))]
    hi = [num(f.get("hi")) for f in fits if math.isfinite(num(f.get("hi")))]
    return (min(lo), max(hi)) if lo and hi else None


def mean_alpha(fits: Sequence[dict[str, Any]]) -> float:
    vals = [num(f.get("alpha")) for f in fits if math.isfinite(num(f.get("alpha")))]
    return float(np.mean(vals)) if vals else float("nan")


# -- width sweeps (Figs. 7, 13, 14): loss against compute ---------------------------------------------


def cost_model(an: dict[str, Any]) -> tuple[Callable[[np.ndarray, float], np.ndarray], str]:
    """(C(t, K) = t · K^p, its text) with p = ``an["cost_exponent"]`` (default 2, the paper's)."""
    p = float(an.get("cost_exponent", 2.0))

    def cost(t: np.ndarray, K: float) -> np.ndarray:
        return np.asarray(t, dtype=float) * float(K) ** p
    return cost, f"C = t·K^{p:g}"


def width_curves(runs: Sequence[Any], k_range: tuple[float, float] | None = None) -> list[dict[str, Any]]:
    """One entry per width K (sorted): ``t`` (t > 0), ``losses`` (n_seeds, n_t), ``loss_mean``, ``t_max``
    and the runs' :func:`run_meta`. Runs that differ only by seed are averaged; if a width appears with
    several configs (e.g. two t_max), the one reaching the largest t is kept."""
    by_k: dict[int, dict[str, Any]] = {}
    for cfg, members, t, losses in seed_groups(runs):
        K = int(cfg.model.d_hidden)
        if k_range is not None and not k_range[0] <= K <= k_range[1]:
            continue
        ok = np.isfinite(t) & (t > 0)
        entry = {**run_meta(members), "K": K, "t_max": cfg.train.t_max,
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
        out = no_frontier(str(exc))
        if len(curves) >= 3:  # the envelope is still defined: recompute it without the γ fit
            out.update(envelope_only(curves, cost, n_grid))
        return out
    return f.to_dict()


def no_frontier(error: str) -> dict[str, Any]:
    """The frontier entry of a result when γ cannot be fitted (the reason in ``error``)."""
    return {"gamma": float("nan"), "gamma_interval": [float("nan")] * 2, "gamma_method": "none",
            "n_fit": 0, "n_eff": 0, "error": error}


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

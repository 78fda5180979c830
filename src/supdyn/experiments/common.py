"""Helpers shared by the experiments: grouping runs over seeds, fits with intervals, the reference
theory, the rules of the claims, and the width sweeps of Figs. 7, 13 and 14.

Every experiment module imports what it shares from here (never from another experiment module); an
experiment module imports a sibling only to reuse its runs (fig13 and fig14 reuse fig7's).

Results are JSON-able dicts: a fit is :func:`safe_fit`'s dict (``alpha``, ``alpha_se``, ``c``, ``L0``,
``lo``/``hi`` = its 95% interval, ``rms`` and ``max_res`` = RMS and max |ln(L/fit)|, ``drop`` =
L(t_lo)/L(t_hi) − 1 of the data on the window (:func:`window_drop`), ``window``, ``n_points``,
``interval_method``; α = NaN and ``error`` when the window cannot be fitted).
"""

from __future__ import annotations

import math
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from supdyn.config import DataConfig, RunConfig
from supdyn.experiments.rules import CI_SEEDS, FIT_SE, POOLED, all_members, equivalence, must_fall
from supdyn.fit import bootstrap_fit, bootstrap_statistic, compute_frontier, fit_power_law, iso_compute
from supdyn.fit.intervals import mean_interval, t_interval, tost
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
    """Mean over seeds; 95% Student-t interval over seeds when ≥ 2 (:func:`supdyn.fit.intervals.mean_interval`),
    else no interval."""
    v = [float(x) for x in values if math.isfinite(x)]
    if not v:
        return float("nan"), None, "no finite value"
    if len(v) < 2:
        return v[0], None, "1 seed: no interval"
    iv = mean_interval(v, 0.95)
    return iv.estimate, (iv.lo, iv.hi), iv.method


# -- fits ------------------------------------------------------------------------------------------


def window_drop(t: np.ndarray, loss: np.ndarray, window: Sequence[float]) -> float:
    """L(t_lo)/L(t_hi) − 1: how far the loss falls on the window, t_lo and t_hi its first and last evaluated
    t with a finite positive loss (NaN with fewer than 2 such points) — the condition of
    :func:`supdyn.experiments.rules.must_fall`."""
    t, loss = np.asarray(t, dtype=float), np.asarray(loss, dtype=float)
    with np.errstate(invalid="ignore"):
        ok = (t >= window[0]) & (t <= window[1]) & np.isfinite(loss) & (loss > 0)
    if ok.sum() < 2:
        return float("nan")
    tt, ll = t[ok], loss[ok]
    with np.errstate(over="ignore"):  # a deep theory window can fall by more than float64 holds: inf
        return float(np.expm1(np.log(ll[np.argmin(tt)]) - np.log(ll[np.argmax(tt)])))


def safe_fit(t: np.ndarray, loss: np.ndarray, window: tuple[float, float], offset: bool = True
             ) -> dict[str, Any]:
    """:func:`supdyn.fit.fit_power_law` as a JSON-able dict with ``lo``/``hi`` = α ± 1.96 SE and the
    window's ``drop`` (:func:`window_drop`); α = NaN and the reason in ``error`` when the window cannot be
    fitted (e.g. not reached)."""
    nan = float("nan")
    drop = window_drop(t, loss, window)
    try:
        f = fit_power_law(t, loss, window, offset=offset)
    except ValueError as exc:
        return {"alpha": nan, "alpha_se": nan, "c": nan, "L0": nan, "lo": nan, "hi": nan, "rms": nan,
                "max_res": nan, "drop": drop, "window": list(window), "n_points": 0, "error": str(exc)}
    d = f.to_dict()
    res = np.asarray(d.pop("residuals", []), dtype=float)
    d["rms"] = float(np.sqrt(np.mean(np.square(res)))) if res.size else nan
    d["max_res"] = float(np.max(np.abs(res))) if res.size else nan
    d["drop"] = drop
    d["lo"], d["hi"] = f.alpha - 1.96 * f.alpha_se, f.alpha + 1.96 * f.alpha_se
    d["interval_method"] = "± 1.96 SE of the fit (1 seed)"
    return d


def seed_fit(t: np.ndarray, losses: np.ndarray, window: tuple[float, float], offset: bool = True,
             n_boot: int = 500) -> dict[str, Any]:
    """Fit of the seed-mean curve; 95% interval by percentile bootstrap over seeds (≥ 2 seeds, the
    mean curve of resampled seeds refitted) or ± 1.96 SE of the fit (1 seed). With ≥ 2 seeds
    ``seed_alphas`` and ``seed_max_res`` hold each seed's own fitted α (for :func:`alpha_test`) and max
    |ln(L/fit)|."""
    out = safe_fit(t, losses.mean(axis=0), window, offset)
    if losses.shape[0] >= 2:  # per-seed fits: the sample of the Student-t interval over seeds
        per = [safe_fit(t, row, window, offset) for row in losses]
        out["seed_alphas"] = [num(f["alpha"]) for f in per]
        out["seed_max_res"] = [num(f["max_res"]) for f in per]
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


# -- exponents over seeds: the statistic of the equivalence test ------------------------------------


def pooled_seed_sd(fits: Sequence[dict[str, Any]], min_seeds: int = 3) -> dict[str, Any] | None:
    """Seed-to-seed standard deviation of α pooled over the fits with ≥ ``min_seeds`` per-seed α
    (``seed_alphas`` of :func:`seed_fit`): s² = Σ_j (n_j − 1) s_j² / Σ_j (n_j − 1), dof = Σ_j (n_j − 1).
    None when no fit has that many seeds."""
    num_, dof, n_pts = 0.0, 0, 0
    for f in fits:
        v = np.asarray([x for x in (f.get("seed_alphas") or []) if x is not None and math.isfinite(x)], dtype=float)
        if v.size >= min_seeds:
            num_ += float(v.var(ddof=1)) * (v.size - 1)
            dof += v.size - 1
            n_pts += 1
    if dof == 0:
        return None
    return {"sd": math.sqrt(num_ / dof), "dof": dof, "n_points": n_pts}


def alpha_test(fit: dict[str, Any], pooled: dict[str, Any] | None, target: float, margin: float) -> dict[str, Any]:
    """The equivalence statistic of one fitted α: estimate, its 90% (TOST) and 95% intervals, their kind.

    ≥ 3 seeds: the mean of the per-seed α with the Student-t interval over seeds; fewer, with a pooled
    seed SD s (:func:`pooled_seed_sd`): the seed-mean fit's α with se = √(SE_fit² + s²) on the pooled
    dof; else the fit's own SE on n_points − 3 dof (no seed-to-seed variation: it cannot pass)."""
    seeds = [x for x in (fit.get("seed_alphas") or []) if x is not None and math.isfinite(x)]
    al, se_fit = num(fit.get("alpha")), num(fit.get("alpha_se"))
    if len(seeds) >= 3:
        iv = mean_interval(seeds, 0.95)
        kind, seed_var, how = CI_SEEDS, True, iv.method
    elif pooled is not None and math.isfinite(al) and math.isfinite(se_fit):
        se = math.hypot(se_fit, pooled["sd"])
        iv = t_interval(al, se, pooled["dof"], 0.95, len(seeds) or 1)
        kind, seed_var = POOLED, True
        how = (f"fit SE {se_fit:.3g} ⊕ seed SD {pooled['sd']:.3g} pooled from {pooled['n_points']} replicated "
               f"point(s), {pooled['dof']} dof")
    else:
        dof = max(int(fit.get("n_points", 0) or 0) - 3, 0)
        iv = t_interval(al, se_fit, dof, 0.95, 1)
        kind, seed_var, how = FIT_SE, False, f"fit SE on {dof} dof (1 seed)"
    iv90 = iv.at(0.90)
    p = tost(iv.estimate, iv.se, iv.dof, target, margin).p if iv.dof > 0 else float("nan")
    return {"estimate": iv.estimate, "lo90": iv90.lo, "hi90": iv90.hi, "lo95": iv.lo, "hi95": iv.hi, "se": iv.se,
            "dof": iv.dof, "p_tost": p, "kind": kind, "seed_variation": seed_var, "method": how,
            "n_seeds": max(len(seeds), 1)}


def alpha_set_decision(members: Sequence[tuple[str, dict[str, Any]]], target: float, margin: float,
                       pooled: dict[str, Any] | None, label: str = "α", *, min_drop: float) -> dict[str, Any]:
    """Every member's α ≈ target (TOST at margin, :func:`supdyn.experiments.rules.equivalence`), counted only
    where its loss falls on the window (its fit's ``drop`` ≥ ``min_drop``,
    :func:`supdyn.experiments.rules.must_fall`), and the set rule over them. Returns ``decision``,
    ``measured`` (mean estimate), ``interval`` (envelope of the
    members' 90% CIs), ``tests`` (per member) and ``per`` (text)."""
    tests, decs, names = [], [], []
    for name, fit in members:
        st = alpha_test(fit, pooled, target, margin)
        d = equivalence(st["estimate"], st["lo90"], st["hi90"], target, margin, seed_variation=st["seed_variation"],
                        label=f"{label}({name})", p_tost=st["p_tost"])
        d = must_fall(d, num(fit.get("drop")), min_drop, f"loss of {name}")
        tests.append({"name": name, **st, "drop": num(fit.get("drop")), "outcome": d.outcome})
        decs.append(d)
        names.append(name)
    dec = all_members(decs, names, "point")
    vals = [t["estimate"] for t in tests if math.isfinite(t["estimate"])]
    lo = [t["lo90"] for t in tests if math.isfinite(t["lo90"])]
    hi = [t["hi90"] for t in tests if math.isfinite(t["hi90"])]
    per = "; ".join(f"{t['name']}: {t['estimate']:.3f} [90% CI {t['lo90']:.3f}, {t['hi90']:.3f}; {t['method']}], "
                    f"L(t_lo)/L(t_hi) − 1 = {t['drop']:.3g} → {t['outcome']}" for t in tests)
    return {"decision": dec, "measured": float(np.mean(vals)) if vals else float("nan"),
            "interval": (min(lo), max(hi)) if lo and hi else None, "tests": tests, "per": per,
            "member_reasons": [d.reason for d in decs]}


def pooled_text(pooled: dict[str, Any] | None) -> str:
    if pooled is None:
        return "no point has ≥ 3 seeds: single-seed intervals hold no seed-to-seed variation"
    return (f"seed SD of α = {pooled['sd']:.3g} pooled over {pooled['n_points']} point(s) with ≥ 3 seeds "
            f"({pooled['dof']} dof), added to single-seed points' fit SE")


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

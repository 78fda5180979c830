"""Is α ≈ 1 universal? A pre-registered test of the paper's headline and of its proposed mechanism (ours).

The paper states that with superposition the mid-training exponent is α ≈ 1 "for any a, b and K" (fit
c·t^−α + L0 on t ∈ [1e3, 1e4], eq. 9), and explains it by random embeddings equalizing the features'
effective learning rates. Here, with the analysis and the decision rule fixed in ``specs/universality.toml``
before any run (the rule: :func:`decide`, below):

* students: the ReLU student with fixed random W and bias (``fixed``, K = N/4, and K = N/8 at the smaller
  N), the ``linear`` student y = Wᵀ B W x (control: no ReLU, no bias) and the exact sequential theory
  without superposition (:class:`supdyn.theory.exact.ExactTheory`, K = N, gradient flow, L∞ = 0);
* per group of seeds: the plateau L∞ from the late curve (:func:`supdyn.fit.late_plateau`), the local
  exponent α(t) = −d log(L − L∞)/d log t (:func:`supdyn.fit.excess_exponent`), its longest range of at
  least one decade within ±0.1 (:func:`supdyn.fit.longest_range`) with the mean over that range per seed
  (95 % percentile bootstrap over seeds), and the paper's window fit for comparison;
* the mechanism: per-feature half-loss times t_half,i (first t with L_i ≤ ½ L_i(0)) with superposition
  (the runs' per-feature losses) and without (the exact theory), their spread (10–90 % range of
  log10 t_half, decades), and the rank correlation of spread and exponent over the points.

Time is t = lr × steps (lr = 1 here). The verdict ("universal", "refuted", "inconclusive") is in the
result's ``decision`` and the report section; the claims table gets one row (see :meth:`claims`).
"""

from __future__ import annotations

import itertools
import math
from typing import Any, Iterable, Sequence

import numpy as np

from supdyn.experiments.base import STATED, Claim, Experiment, Reading
from supdyn.experiments.common import num, run_meta, seed_fit, seed_groups, seed_summary, window_of
from supdyn.experiments.halftimes import half_times, per_feature_ratio, spread
from supdyn.fit import excess_exponent, late_plateau, longest_range, mean_over, spearman
from supdyn.theory.exact import ExactTheory

HIST_STEP = 0.25
"""Bin width (decades) of the stored histograms of log10 t_half."""


# -- the pre-registered decision rule ---------------------------------------------------------------------
#
# Input: one *point* per (a, b, normalization, N) of the ReLU student with fixed random W at K = N/4: a dict
# with a, b, normalize, N, value (mean local exponent over its longest constant range, NaN without one),
# lo/hi (its 95 % interval over seeds, NaN with one seed) and bound (plateau not reached: a lower bound).
# "universal": the points cover the pre-registered grid, every one has a range in the band with its plateau
# reached, and the value drifts by less than drift_tol from the smaller to the larger N; "refuted": both
# required N present and some (a, b) has, at both N under both normalizations, a seed interval entirely
# outside the band (a lower bound counts only above it); "inconclusive" otherwise, with what would decide it.


def _f(x: Any) -> float:
    return float("nan") if x is None else float(x)


DECISIONS = ("universal", "refuted", "inconclusive")


def point_status(p: dict[str, Any], band: Sequence[float]) -> str:
    """One of ``no range``, ``in band`` (value in the band, plateau reached), ``in band (bound)``
    (value in the band but a lower bound), ``above``/``below`` (seed interval entirely outside the band),
    ``above (bound)`` (a lower bound whose interval is above the band: clearly outside too), ``below
    (bound)`` (a lower bound below the band: undecided), ``outside (straddles)`` (value outside, interval
    reaching the band or no interval)."""
    v, lo, hi = _f(p.get("value")), _f(p.get("lo")), _f(p.get("hi"))
    bound = bool(p.get("bound"))
    if not math.isfinite(v):
        return "no range"
    inside = band[0] <= v <= band[1]
    has_iv = math.isfinite(lo) and math.isfinite(hi)
    if has_iv and lo > band[1]:
        return "above (bound)" if bound else "above"
    if inside:
        return "in band (bound)" if bound else "in band"
    if v < band[0] and bound:
        return "below (bound)"  # a lower bound below the band says nothing about the exponent
    if has_iv and hi < band[0]:
        return "below"
    return "outside (straddles)"


def _clearly_outside(status: str) -> bool:
    return status in ("above", "below", "above (bound)")


def decide(points: Iterable[dict[str, Any]], *, band: Sequence[float], drift_tol: float,
           required_keys: Iterable[tuple[float, float, str]], required_ns: Sequence[int]) -> dict[str, Any]:
    """The decision (see the module docstring): ``{"decision", "reasons", "to_decide", "rows"}``;
    ``rows`` one per (a, b, normalization) with the status and value at each N and the drift."""
    pts = list(points)
    band = (float(band[0]), float(band[1]))
    n_lo, n_hi = (int(min(required_ns)), int(max(required_ns))) if required_ns else (0, 0)
    by: dict[tuple[float, float, str], dict[int, dict[str, Any]]] = {}
    for p in pts:
        by.setdefault((float(p["a"]), float(p["b"]), str(p["normalize"])), {})[int(p["N"])] = p
    required = sorted({(float(a), float(b), str(n)) for a, b, n in required_keys})
    keys = sorted(set(by) | set(required))
    rows = []
    for key in keys:
        at = by.get(key, {})
        row: dict[str, Any] = {"a": key[0], "b": key[1], "normalize": key[2], "required": key in required}
        for n in sorted(set(at) | {n_lo, n_hi} - {0}):
            p = at.get(n)
            row[f"N{n}"] = None if p is None else {"value": _f(p.get("value")), "lo": _f(p.get("lo")),
                                                   "hi": _f(p.get("hi")), "bound": bool(p.get("bound")),
                                                   "status": point_status(p, band)}
        lo_p, hi_p = at.get(n_lo), at.get(n_hi)
        row["drift"] = (_f(hi_p.get("value")) - _f(lo_p.get("value"))) if lo_p and hi_p else float("nan")
        rows.append(row)

    reasons: list[str] = []
    to_decide: list[str] = []
    have_ns = sorted({int(p["N"]) for p in pts})
    missing_ns = [n for n in (n_lo, n_hi) if n and n not in have_ns]
    missing_keys = [k for k in required if not all(n in by.get(k, {}) for n in (n_lo, n_hi))]
    complete = not missing_ns and not missing_keys and n_lo != n_hi
    if missing_ns:
        reasons.append(f"N = {', '.join(map(str, missing_ns))} not in the data (the rule compares N = {n_lo} "
                       f"and {n_hi})")
    if missing_keys:
        reasons.append(f"{len(missing_keys)} of {len(required)} pre-registered (a, b, normalization) points lack "
                       "one or both N")
    if missing_ns or missing_keys:
        to_decide.append("run the pre-registered grid: `supdyn reproduce --full --only universality` (halves: "
                         "examples/universality_n1024.toml, examples/universality_n4096.toml)")

    def status(key: tuple[float, float, str], n: int) -> str:
        p = by.get(key, {}).get(n)
        return "missing" if p is None else point_status(p, band)

    # universal
    universal = complete
    drifts = []
    for key in required:
        sts = [status(key, n) for n in (n_lo, n_hi)]
        if any(s != "in band" for s in sts):
            universal = False
        if all(s != "missing" for s in sts):
            d = _f(by[key][n_hi].get("value")) - _f(by[key][n_lo].get("value"))
            if not (math.isfinite(d) and abs(d) < drift_tol):
                universal = False
                if math.isfinite(d):
                    drifts.append(f"(a={key[0]:g}, b={key[1]:g}, {key[2]}): {d:+.3f}")
    # refuted: some (a, b) clearly outside at both N under both normalizations
    refuting = []
    if n_lo and n_hi and n_lo != n_hi and not missing_ns:
        for a, b in sorted({(k[0], k[1]) for k in keys}):
            norms = ("sum", "none")
            if all(_clearly_outside(status((a, b, nm), n)) for nm in norms for n in (n_lo, n_hi)):
                refuting.append(f"(a={a:g}, b={b:g})")
    if universal:
        decision = "universal"
    elif refuting:
        decision = "refuted"
        reasons.append("clearly outside the band at both N under both normalizations: " + ", ".join(refuting))
    else:
        decision = "inconclusive"
        counts: dict[str, list[str]] = {}
        for key in keys:
            for n in (n_lo, n_hi):
                s = status(key, n)
                if s not in ("in band", "missing"):
                    counts.setdefault(s, []).append(f"(a={key[0]:g}, b={key[1]:g}, {key[2]}, N={n})")
        for s, where in counts.items():
            reasons.append(f"{s}: {', '.join(where)}")
        if drifts:
            reasons.append(f"drift from N = {n_lo} to {n_hi} ≥ {drift_tol:g}: " + ", ".join(drifts))
        if any("bound" in s for s in counts):
            to_decide.append("longer runs, past the width plateau (it was not reached: those exponents are "
                             "lower bounds)")
        if "no range" in counts:
            to_decide.append("longer runs or a less noisy curve (more seeds, a larger evaluation set) where "
                             "no range of constant exponent spans the minimum")
        if "outside (straddles)" in counts:
            to_decide.append("more seeds where the interval reaches the band's edge")
        if counts.get("above") or counts.get("below"):
            to_decide.append("the same points under the other normalization and at the other N (a refutation "
                             "needs both)")
    return {"decision": decision, "reasons": reasons, "to_decide": to_decide, "rows": rows,
            "band": list(band), "drift_tol": float(drift_tol), "N_pair": [n_lo, n_hi], "complete": complete}


def rule_text(band: Sequence[float], drift_tol: float, ns: Sequence[int], min_decades: float, tol: float) -> str:
    """The rule in one paragraph, with its numbers (for the report and the page)."""
    lo, hi = band
    n1, n2 = min(ns), max(ns)
    return (f"On the ReLU student with fixed random W at K = N/4, per (a, b, normalization, N): the longest "
            f"range of at least {min_decades:g} decade(s) on which the local exponent −d log(L − L∞)/d log t "
            f"stays within ±{tol:g} of one value, and that value. \"universal\" if every (a, b, normalization) "
            f"of the pre-registered grid has such a range with value in [{lo:g}, {hi:g}] (plateau reached, not "
            f"a bound) at N = {n1} and at N = {n2}, and the value drifts by less than {drift_tol:g} from "
            f"N = {n1} to {n2}; \"refuted\" if some (a, b) has such a range whose 95 % interval over seeds lies "
            f"entirely outside [{lo:g}, {hi:g}] at both N under both normalizations (a lower bound counts only "
            "above the band); \"inconclusive\" otherwise, saying what would decide it.")


# -- the analysis ---------------------------------------------------------------------------------------


def params(an: dict[str, Any]) -> dict[str, Any]:
    """The analysis settings of the spec as numbers (defaults: the pre-registered values)."""
    band = [float(x) for x in an.get("band", (0.85, 1.15))]
    out = {k: float(an.get(k, d)) for k, d in (("range_tol", 0.1), ("min_decades", 1.0), ("smooth", 0.3),
                                                ("plateau_decades", 0.3), ("flat_tol", 0.02),
                                                ("min_excess", 0.5), ("drift_tol", 0.1), ("half", 0.5),
                                                ("min_count", 1.0))}
    out.update(band=band, fit_window=list(window_of(an)), n_boot=int(an.get("n_boot", 500)))
    return out


def exponent_curve(t: np.ndarray, loss: np.ndarray, P: dict[str, Any]) -> dict[str, Any]:
    """Plateau, local exponent above it and its longest range for one curve (t > 0)."""
    try:
        pl = late_plateau(t, loss, decades=P["plateau_decades"], flat_tol=P["flat_tol"], smooth=P["smooth"])
    except ValueError as exc:
        return {"plateau": None, "L_inf": 0.0, "bound": True, "alpha": np.full(t.shape, np.nan), "range": None,
                "error": str(exc)}
    l_inf = pl.value if pl.reached else 0.0
    alpha = excess_exponent(t, loss, l_inf, smooth=P["smooth"], min_excess=P["min_excess"])
    rng = longest_range(t, alpha, tol=P["range_tol"], min_decades=P["min_decades"])
    return {"plateau": pl.to_dict(), "L_inf": l_inf, "bound": not pl.reached, "alpha": alpha,
            "range": None if rng is None else rng.to_dict()}


def halftime_stats(t: np.ndarray, ratio: np.ndarray, mask: np.ndarray, half: float, t_max: float
                   ) -> dict[str, Any]:
    """Spread (decades, censored flag), quantiles and histogram of log10 t_half over the masked features."""
    th = half_times(t, ratio, half)[mask]
    sp, cens = spread(th, t_max)
    fin = th[np.isfinite(th)]
    lt = np.log10(fin) if fin.size else np.zeros(0)
    edges = np.arange(-1.0, math.log10(t_max) + HIST_STEP + 1e-9, HIST_STEP)
    hist = np.histogram(lt, bins=edges)[0] if lt.size else np.zeros(edges.size - 1, dtype=int)
    q = np.percentile(np.log10(np.minimum(np.where(np.isfinite(th), th, np.inf), t_max)), [10, 50, 90]) \
        if th.size else [math.nan] * 3
    return {"spread": sp, "censored": cens, "n_features": int(th.size),
            "censored_fraction": float(np.mean(~np.isfinite(th))) if th.size else math.nan,
            "log10_q10_q50_q90": [float(x) for x in q], "hist_edges": edges, "hist": hist}


def group_entry(cfg: Any, members: Sequence[Any], t: np.ndarray, losses: np.ndarray, P: dict[str, Any],
                offset: bool) -> dict[str, Any]:
    ok = t > 0
    t, L = t[ok], losses[:, ok]
    mean = L.mean(axis=0)
    cur = exponent_curve(t, mean, P)
    per_seed = [exponent_curve(t, row, P) for row in L]
    rng = cur["range"]
    if rng is not None:
        vals = [mean_over(t, s["alpha"], rng["t_lo"], rng["t_hi"]) for s in per_seed]
        m, iv, how = seed_summary(vals)
    else:
        vals, m, iv, how = [], math.nan, None, "no range"
    entry = {**run_meta(members), "normalize": cfg.data.normalize, "t_max": cfg.train.t_max, "t": t,
             "loss_mean": mean, "loss_min": L.min(axis=0), "loss_max": L.max(axis=0), "alpha": cur["alpha"],
             "plateau": cur["plateau"], "L_inf": cur["L_inf"], "bound": cur["bound"], "range": rng,
             "value": rng["value"] if rng else math.nan, "seed_values": vals, "seed_mean": m,
             "lo": iv[0] if iv else math.nan, "hi": iv[1] if iv else math.nan, "interval_method": how,
             "seed_plateau_reached": [bool(s["plateau"] and s["plateau"]["reached"]) for s in per_seed],
             "window_fit": seed_fit(t, L, tuple(P["fit_window"]), offset, P["n_boot"])}
    entry["peak"] = peak_slope(t, mean, L, P)
    stats, first_resolved = [], None
    for r in members:
        if "per_feature" not in r.arrays:
            continue
        tr, ratio, resolved = per_feature_ratio(r, P["min_count"])
        first_resolved = resolved if first_resolved is None else first_resolved
        pos = tr > 0
        stats.append(halftime_stats(tr[pos], ratio[pos], resolved, P["half"], float(cfg.train.t_max)))
    sm, siv, _ = seed_summary([s["spread"] for s in stats])
    entry["halftimes"] = {"spread": sm, "spread_interval": siv, "censored": any(s["censored"] for s in stats),
                          "seed0": stats[0] if stats else None,
                          "resolved": first_resolved}
    return entry


def peak_slope(t: np.ndarray, mean: np.ndarray, L: np.ndarray, P: dict[str, Any]) -> dict[str, Any]:
    """EXPLORATORY (not pre-registered; the rule does not read it): the largest raw local exponent
    s(t) = −d log L/d log t of the seed-mean curve, where it occurs, and the per-seed maxima (interval over
    seeds). For any plateau 0 ≤ L∞ < L(t) the exponent above it is s·L/(L − L∞) ≥ s, so the peak is a
    lower bound on the exponent above the plateau at that t; with L∞ ≤ L(t_max) (the curve still falls)
    ``upper`` = s·L(t)/(L(t) − L(t_max)) bounds it from above. ``at_end``: the peak lies in the last
    ``smooth`` decades (the slope was still rising when the run stopped)."""
    raw = excess_exponent(t, mean, 0.0, smooth=P["smooth"], min_excess=P["min_excess"])
    if not np.isfinite(raw).any():
        return {"value": math.nan, "t": math.nan, "upper": math.nan, "at_end": False, "lo": math.nan,
                "hi": math.nan, "seed_values": []}
    i = int(np.nanargmax(raw))
    seeds = [float(np.nanmax(excess_exponent(t, row, 0.0, smooth=P["smooth"], min_excess=P["min_excess"])))
             for row in L]
    m, iv, how = seed_summary(seeds)
    last = float(mean[-1])
    upper = float(raw[i] * mean[i] / (mean[i] - last)) if mean[i] > last else math.inf
    return {"value": float(raw[i]), "t": float(t[i]), "upper": upper,
            "at_end": bool(t[i] >= t[-1] / 10 ** P["smooth"]), "seed_values": seeds,
            "lo": iv[0] if iv else math.nan, "hi": iv[1] if iv else math.nan, "interval_method": how}


def theory_entry(data: Any, t: np.ndarray, resolved: np.ndarray | None, P: dict[str, Any]) -> dict[str, Any]:
    """The exact sequential theory (K = N, L∞ = 0) on the grid t > 0: curve, exact local exponent, its
    longest range, and the half-time statistics over all features and over ``resolved`` (the runs' set)."""
    th = ExactTheory.from_config(data)
    loss = th.loss(t)
    alpha = th.local_exponent(t)
    rng = longest_range(t, alpha, tol=P["range_tol"], min_decades=P["min_decades"])
    pf = th.per_feature_loss(np.concatenate([[0.0], t]))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = pf[1:] / pf[0]
    t_max = float(t.max())
    every = np.ones(data.n_features, dtype=bool)
    return {"N": data.n_features, "a": data.a, "b": data.b, "normalize": data.normalize, "t": t, "loss": loss,
            "alpha": alpha, "range": None if rng is None else rng.to_dict(),
            "value": rng.value if rng else math.nan,
            "halftimes_all": halftime_stats(t, ratio, every, P["half"], t_max),
            "halftimes_resolved": halftime_stats(t, ratio, resolved if resolved is not None else every,
                                                 P["half"], t_max)}


def required_grid(spec: dict[str, Any]) -> tuple[list[tuple[float, float, str]], list[int]]:
    """The (a, b, normalization) points and the N of the ReLU student at K = N/4 in the [full] grid."""
    keys: set[tuple[float, float, str]] = set()
    ns: set[int] = set()
    for g in spec.get("full", {}).get("grid", []):
        if "fixed" not in g.get("variant", ["fixed"]):
            continue
        for n in g.get("n_features", [1024]):
            if n // 4 in g.get("d_hidden", []):
                ns.add(int(n))
                for a, b, nm in itertools.product(g.get("a", [1.1]), g.get("b", [0.0]), g.get("normalize", ["sum"])):
                    keys.add((float(a), float(b), str(nm)))
    return sorted(keys), sorted(ns)


def interim_text(result: dict[str, Any]) -> str:
    """' (INTERIM: k of n runs stored)' for a result analyzed from part of its grid, else ''."""
    it = result.get("interim")
    return f" (INTERIM: {it['stored']} of {it['planned']} runs of the grid stored)" if it else ""


class Universality(Experiment):
    name = "universality"
    title = "Is α ≈ 1 universal? Local exponents above the plateau, pre-registered (our test)"
    partial_ok = True  # the rule reports missing points as missing: an interim look says "inconclusive"

    def analyze(self, runs: Sequence[Any], mode: str, reading: Reading = STATED) -> dict[str, Any]:
        P = params(self.analysis(mode))
        groups = [group_entry(cfg, m, t, losses, P, reading.fit_offset) for cfg, m, t, losses in seed_groups(runs)]
        theory = []
        for g in groups:
            if g["variant"] != "fixed" or any((x["N"], x["a"], x["b"], x["normalize"]) ==
                                              (g["N"], g["a"], g["b"], g["normalize"]) for x in theory):
                continue
            data = next(r.config.data for r in runs if r.config.data.n_features == g["N"] and r.config.data.a == g["a"]
                        and r.config.data.b == g["b"] and r.config.data.normalize == g["normalize"])
            theory.append(theory_entry(data, g["t"], g["halftimes"]["resolved"], P))
        points = [{"a": g["a"], "b": g["b"], "normalize": g["normalize"], "N": g["N"], "value": g["value"],
                   "lo": g["lo"], "hi": g["hi"], "bound": g["bound"]}
                  for g in groups if g["variant"] == "fixed" and 4 * g["K"] == g["N"]]
        keys, ns = required_grid(self.spec())
        decision = decide(points, band=P["band"], drift_tol=P["drift_tol"], required_keys=keys, required_ns=ns)
        # the theory's spread over the features resolved in the runs (comparable with theirs)
        xs = [num(g["halftimes"]["spread"]) for g in groups] + [num(x["halftimes_resolved"]["spread"])
                                                                for x in theory]
        ys = [num(g["value"]) for g in groups] + [num(x["value"]) for x in theory]
        mechanism = {"spearman_all": spearman(xs, ys),
                     "spearman_fixed": spearman([num(g["halftimes"]["spread"]) for g in groups
                                                 if g["variant"] == "fixed"],
                                                [num(g["value"]) for g in groups if g["variant"] == "fixed"])}
        for g in groups:
            g["halftimes"].pop("resolved", None)
        return {"mode": mode, "reading": reading.name, "params": P, "groups": groups, "theory": theory,
                "decision": decision, "mechanism": mechanism, "required_grid": {"keys": keys, "N": ns},
                "pilot": mode != "full",
                "rule": rule_text(P["band"], P["drift_tol"], ns or [0], P["min_decades"], P["range_tol"])}

    def claims(self, result: dict[str, Any]) -> list[Claim]:
        d = result["decision"]
        band = d["band"]
        pts = [(c, r) for r in d["rows"] for k, c in r.items() if k.startswith("N") and isinstance(c, dict)]
        finite = [(c, r) for c, r in pts if math.isfinite(num(c["value"]))]
        worst = max(finite, key=lambda cr: abs(num(cr[0]["value"]) - 1.0), default=None)
        verdict = {"universal": "reproduced", "refuted": "not reproduced"}.get(
            d["decision"], "inconclusive")
        measured = num(worst[0]["value"]) if worst else math.nan
        iv = (num(worst[0]["lo"]), num(worst[0]["hi"])) if worst else None
        where = (f" at (a={worst[1]['a']:g}, b={worst[1]['b']:g}, {worst[1]['normalize']})" if worst else "")
        return [Claim(
            "universality_alpha", "ours (headline)",
            "With superposition the mid-training exponent is ≈ 1 for any a, b (and K), at larger N and longer t",
            "α ≈ 1", measured, iv if iv and all(math.isfinite(x) for x in iv) else None,
            "longest ≥ 1-decade range of constant local exponent above L∞", verdict,
            result["rule"] + " In this table: universal → reproduced, refuted → not reproduced, inconclusive → "
            "inconclusive.",
            f"Decision: {d['decision']}{' (PILOT grid, not the pre-registered one)' if result.get('pilot') else ''}"
            f"{interim_text(result)}. "
            f"Measured: the exponent farthest from 1{where}; band [{band[0]:g}, {band[1]:g}]. "
            + " ".join(d["reasons"]) + (" To decide: " + "; ".join(d["to_decide"]) if d["to_decide"] else ""),
            kind="claim", interval_kind="CI 95% over seeds (bootstrap of the per-seed range means)" if iv else "none",
            reasons=tuple(d["reasons"]) + tuple(f"To decide: {x}" for x in d["to_decide"]))]


EXPERIMENT = Universality()

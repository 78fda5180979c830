"""Feature geometry of learned embeddings against a, weight decay and correlation (our addition; reported
as checks, not as claims of the paper).

The learnable student y = ReLU(D B E x + b) (encoder E ∈ R^{K×N} and decoder D trained with SGD, started
from the fixed W, Wᵀ with unit-norm columns) at K = 128, N = 1024 (``specs/geometry.toml``), over
a ∈ {1.1, 1.5, 2.0}, weight decay on E and D (0 and 3e-4 at lr 1: Σ lr·wd = 3 over 1e4 steps) and the
correlation of features in groups of two (independent; co-activation with strength 1, the rarer member
firing only with its partner; exclusive, never both), every p_i the same across correlations. Time is
t = lr × steps. Per setting (seeds pooled; see :mod:`supdyn.fit.geometry` for the measures):

    represented features  n(t) = #{i : ‖E_i‖ ≥ 0.5} at each snapshot time (and of D at the last one)
    dimensionality        D_i = ‖E_i‖² / Σ_j (Ê_i · E_j)² of the represented features at the last
                          snapshot: mean and median; the fraction with D_i ≥ ``own_direction`` (a direction
                          of its own) and with D_i < ``shared_below`` (shared); Σ_i D_i (≤ K)
    α                     of L = c t^−α + L0 on ``fit_window`` (seed-mean curve; 95 % percentile
                          bootstrap over seeds)

Seed means carry a 95 % Student-t interval over seeds (:func:`supdyn.experiments.common.seed_summary`; with 2
seeds it has 1 degree of freedom and is wide).
Checks (ours, :meth:`Geometry.checks`) are decided per (a, correlation) by the seed ranges: a difference
"holds" where the seeds of the two settings do not overlap, is "inconclusive" where the means order as
stated but the ranges overlap, and "does not hold" otherwise.

Run only on request (``supdyn reproduce --only geometry``), outside the quick reproduction's budget.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from supdyn.experiments.base import STATED, Experiment, Reading
from supdyn.experiments.common import run_meta, seed_fit, seed_groups, seed_summary
from supdyn.fit.geometry import REPRESENTED_NORM, run_geometries

D_BINS = np.linspace(0.0, 1.0, 21)
"""Bins of the D_i histogram of the represented features (the last bin holds D_i = 1)."""

CORRELATION_LABELS = {"none": "independent", "cooccur": "co-activation", "exclusive": "exclusive"}


def correlation_label(cfg: Any) -> str:
    """``independent``, ``co-activation (ρ = 1, groups of 2)`` or ``exclusive (groups of 2)``."""
    d = cfg.data
    if d.correlation == "none":
        return "independent"
    if d.correlation == "cooccur":
        return f"co-activation (ρ = {d.cooccur:g}, groups of {d.group_size})"
    return f"exclusive (groups of {d.group_size})"


def run_geometry(run: Any, which: str, own: float, shared: float) -> dict[str, Any] | None:
    """The measures of one stored run (None if it diverged or has no snapshot): represented features
    against t, and D_i statistics of the represented features at the last snapshot, for embedding
    ``which`` (``E`` or ``D``); the other embedding's final count as ``n_rep_other``."""
    if run.diverged or run.meta.get("masked") or len(run.snapshot_t) == 0:
        return None
    geoms = {g.which: g for g in run_geometries(run.config, run.snapshot_t, run.snapshots)}
    g = geoms[which]
    other = next((h for k, h in geoms.items() if k != which), None)
    dims, norms = g.dims[-1], g.norms[-1]
    rep = norms >= REPRESENTED_NORM
    d = dims[rep]
    return {"t": g.t, "n_rep": g.n_represented.astype(float), "n_rep_end": float(g.n_represented[-1]),
            "n_rep_other": float(other.n_represented[-1]) if other is not None else math.nan,
            "d_mean": float(d.mean()) if d.size else math.nan, "d_median": float(np.median(d)) if d.size else math.nan,
            "frac_own": float(np.mean(d >= own)) if d.size else math.nan,
            "frac_shared": float(np.mean(d < shared)) if d.size else math.nan,
            "sum_d": float(dims.sum()), "dims": dims, "norms": norms, "d_rep": d}


def _summary(values: Sequence[float]) -> dict[str, Any]:
    mean, iv, how = seed_summary(list(values))
    vals = [float(v) for v in values]
    return {"mean": mean, "lo": iv[0] if iv else math.nan, "hi": iv[1] if iv else math.nan, "method": how,
            "seeds": vals, "min": min(vals) if vals else math.nan, "max": max(vals) if vals else math.nan}


class Geometry(Experiment):
    name = "geometry"
    title = "Feature geometry of learned embeddings against a, weight decay and correlation (our checks)"

    def analyze(self, runs: Sequence[Any], mode: str, reading: Reading = STATED) -> dict[str, Any]:
        an, window, n_boot = self.fit_settings(mode)
        own, shared = float(an.get("own_direction", 0.9)), float(an.get("shared_below", 0.6))
        which = str(an.get("embedding", "E"))
        rows = []
        for cfg, members, t, losses in seed_groups(runs):
            geos = [g for g in (run_geometry(r, which, own, shared) for r in members) if g is not None]
            fit = seed_fit(t, losses, window, reading.fit_offset, n_boot)
            ok = t > 0
            row = {**run_meta(members), "correlation": cfg.data.correlation, "corr_label": correlation_label(cfg),
                   "weight_decay": cfg.train.weight_decay, "embedding": which, "n_geometry": len(geos),
                   "fit": fit, "window": list(window), "t": t[ok], "loss_mean": losses[:, ok].mean(axis=0),
                   "final_loss": float(losses[:, -1].mean())}
            if geos:
                row["snapshot_t"] = geos[0]["t"]
                row["n_rep_t"] = np.mean([g["n_rep"] for g in geos], axis=0)
                row["n_rep_t_min"] = np.min([g["n_rep"] for g in geos], axis=0)
                row["n_rep_t_max"] = np.max([g["n_rep"] for g in geos], axis=0)
                for key in ("n_rep_end", "n_rep_other", "d_mean", "d_median", "frac_own", "frac_shared", "sum_d"):
                    row[key] = _summary([g[key] for g in geos])
                pooled = np.concatenate([g["d_rep"] for g in geos])
                row["d_hist"] = np.histogram(np.clip(pooled, 0.0, 1.0), bins=D_BINS)[0]
                row["dims_mean"] = np.mean([g["dims"] for g in geos], axis=0)
                row["norms_mean"] = np.mean([g["norms"] for g in geos], axis=0)
            rows.append(row)
        result = {"mode": mode, "reading": reading.name, "window": list(window), "fit_offset": reading.fit_offset,
                  "own_direction": own, "shared_below": shared, "represented_norm": REPRESENTED_NORM,
                  "embedding": which, "d_bins": D_BINS, "rows": rows}
        result["checks"] = self.checks(result)
        return result

    @staticmethod
    def checks(result: dict[str, Any]) -> list[dict[str, Any]]:
        """Our checks (measured facts, not claims of the paper), each with its rule and outcome:
        bounds (n ≤ N, Σ D_i ≤ K), weight decay vs none, exclusive vs co-activation."""
        rows = [r for r in result["rows"] if "n_rep_end" in r]
        out = []
        if rows:
            worst_n = max(max(r["n_rep_t_max"]) / r["N"] for r in rows)
            worst_d = max(r["sum_d"]["max"] / r["K"] for r in rows)
            out.append({"id": "geometry_bounds", "statement": "represented features ≤ N and Σ_i D_i ≤ K in every run",
                        "measured": f"max n/N = {worst_n:.3g}, max Σ D/K = {worst_d:.3g}",
                        "outcome": "holds" if worst_n <= 1 and worst_d <= 1 + 1e-6 else "does not hold",
                        "rule": "holds if max over runs and snapshots of n/N ≤ 1 and of Σ D_i / K ≤ 1"})
        out += _pairwise(rows, "weight_decay_fewer", "weight decay leaves fewer features represented at the "
                         "end than none, at the same a and correlation",
                         lambda r: r["weight_decay"] > 0, lambda r: r["weight_decay"] == 0,
                         ("a", "correlation"), "n_rep_end", smaller=True)
        out += _pairwise(rows, "exclusive_more", "exclusive groups leave more features represented at the end "
                         "than co-activation, at the same a and weight decay (same p_i)",
                         lambda r: r["correlation"] == "exclusive", lambda r: r["correlation"] == "cooccur",
                         ("a", "weight_decay"), "n_rep_end", smaller=False)
        return out

    def claims(self, result: dict[str, Any]) -> list:
        return []  # checks of ours, not claims of the paper: reported in their own section


def _pairwise(rows: list[dict[str, Any]], cid: str, statement: str, first: Any, second: Any,
              keys: tuple[str, ...], metric: str, smaller: bool) -> list[dict[str, Any]]:
    """One check comparing ``metric`` of the rows picked by ``first`` with those picked by ``second`` at
    equal ``keys``: per pair, "holds" if every seed of first is beyond every seed of second in the stated
    direction (smaller or larger), "inconclusive" if only the seed means are, else "does not hold"; the
    check holds if every pair holds, does not hold if any pair does not, else is inconclusive."""
    pairs = []
    for r in rows:
        if not first(r):
            continue
        for q in rows:
            if second(q) and all(q[k] == r[k] for k in keys):
                pairs.append((r, q))
    if not pairs:
        return []
    outcomes, parts = [], []
    for r, q in pairs:
        x, y = r[metric], q[metric]
        apart = x["max"] < y["min"] if smaller else x["min"] > y["max"]
        ordered = x["mean"] < y["mean"] if smaller else x["mean"] > y["mean"]
        if apart:
            o = "holds"
        elif ordered:
            o = "inconclusive"
        else:
            o = "does not hold"
        outcomes.append(o)
        where = ", ".join(f"{k} = {r[k]:g}" if isinstance(r[k], float) else f"{k} = {r[k]}" for k in keys)
        parts.append(f"{where}: {x['mean']:.4g} vs {y['mean']:.4g} ({o})")
    verdict = ("does not hold" if "does not hold" in outcomes else
               "holds" if all(o == "holds" for o in outcomes) else "inconclusive")
    rule = ("per pair: holds if every seed of the first setting is " + ("below" if smaller else "above")
            + " every seed of the second, inconclusive if only the seed means are, else does not hold; the "
            "check holds if every pair holds, does not hold if any pair does not")
    return [{"id": cid, "statement": statement, "measured": "; ".join(parts), "outcome": verdict, "rule": rule,
             "n_pairs": len(pairs)}]


EXPERIMENT = Geometry()

"""Fig. 8: per-feature loss L_i(t) without superposition (K = N) and with superposition (K < N).

L_i(t) is the loss of output i, ½ E[(y*_i − y_i)²], recorded by every run (``per_feature``): exactly
(closed form) for the linear student without superposition, on the run's fixed evaluation set for
the ReLU superposition student. The heatmaps show L_i(t)/L_i(0). The paper's claim (Sec. 5.1): without
superposition features are learned one after the other (a travelling wave front in i), with
superposition all at once. Measured, per run:

* f_half(t_probe): the fraction of features with L_i(t_probe) ≤ ½ L_i(0);
* t_half,i: the first t with L_i(t) ≤ ½ L_i(0) (log–log interpolation; censored at t_max), and the
  spread of log10 t_half,i over features between the 10th and 90th percentiles (decades).

Sampled per-feature losses exist only for features active in the evaluation set, so statistics use
the features resolved in every run compared (the "common" set, stated in the result): exact losses,
or eval_size·p_i ≥ ``min_count`` and a measured L_i(0) of at least a tenth of the exact ½ a_i² p_i/3
(at least one active evaluation sample). For rare features the ratio is the loss on their few active
samples (plus the interference on all samples) — noisy per feature, unbiased in the fraction. The
wave front itself is summarized by the median of L_i(t_probe)/L_i(0) in log-spaced bins of i. The
exact theory's L_i(t) (:class:`supdyn.theory.exact.ExactTheory`) is the oracle without superposition.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from supdyn.experiments.base import STATED, Claim, Experiment, Reading
from supdyn.experiments.common import num, rules_of, seed_summary
from supdyn.experiments.halftimes import half_times, per_feature_ratio, spread
from supdyn.experiments.rules import CI_SEEDS, NO_INTERVAL, Decision, all_members, rule_threshold, threshold
from supdyn.theory.exact import ExactTheory


def binned_median(values: np.ndarray, mask: np.ndarray, n_bins: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """(bin centres in i, median of values[mask] per log-spaced bin of the feature index i = 1..N)."""
    n = values.size
    edges = np.unique(np.round(np.logspace(0, math.log10(n + 1), n_bins + 1)).astype(int))
    centres, med = [], []
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = np.zeros(n, dtype=bool)
        sel[lo - 1:hi - 1] = True
        sel &= mask & np.isfinite(values)
        centres.append(math.sqrt(lo * (hi - 1)) if hi - 1 >= lo else float(lo))
        med.append(float(np.median(values[sel])) if sel.any() else float("nan"))
    return np.asarray(centres), np.asarray(med)


def value_at(t: np.ndarray, t_probe: float) -> int:
    """Index of the evaluation time closest to t_probe in log t."""
    tt = np.where(t > 0, t, np.nan)
    return int(np.nanargmin(np.abs(np.log(tt / t_probe))))


class Fig8(Experiment):
    name = "fig8"
    title = "Fig. 8 — per-feature loss: sequential (no superposition) vs parallel (superposition)"

    def analyze(self, runs: Sequence[Any], mode: str, reading: Reading = STATED) -> dict[str, Any]:
        an = self.analysis(mode)
        t_probe, half = float(an.get("t_probe", 1e3)), float(an.get("half", 0.5))
        min_count = float(an.get("min_count", 1.0))
        per_run = []
        for r in runs:
            if "per_feature" not in r.arrays:
                continue
            t, ratio, resolved = per_feature_ratio(r, min_count)
            per_run.append({"run": r, "t": t, "ratio": ratio, "resolved": resolved,
                            "t_half": half_times(t, ratio, half)})
        nosup = [p for p in per_run if p["run"].config.variant == "none"]
        sup = [p for p in per_run if p["run"].config.variant != "none"]
        common = np.ones(per_run[0]["ratio"].shape[1], dtype=bool) if per_run else np.zeros(0, dtype=bool)
        for p in per_run:
            common &= p["resolved"]
        out: dict[str, Any] = {"mode": mode, "reading": reading.name, "t_probe": t_probe, "half": half,
                               "min_count": min_count, "n_common": int(common.sum()),
                               "n_features": int(common.size), "common": common}
        out["rules"] = rules_of(an, {"f_sup_min": 0.8, "f_nosup_max": 0.5, "f_allowance": 0.05,
                                     "spread_ratio_max": 0.5, "spread_allowance": 0.1})
        for key, group in (("nosup", nosup), ("sup", sup)):
            stats = []
            for p in group:
                k = value_at(p["t"], t_probe)
                learned = p["ratio"][k] <= half
                t_max = float(p["run"].config.train.t_max)
                sp, cens = spread(p["t_half"][common], t_max)
                sp_own, cens_own = spread(p["t_half"][p["resolved"]], t_max)
                stats.append({"seed": p["run"].config.seed, "K": p["run"].config.model.d_hidden,
                              "t_probe_actual": float(p["t"][k]),
                              "f_half_common": float(np.mean(learned[common])) if common.any() else float("nan"),
                              "f_half_own": float(np.mean(learned[p["resolved"]])) if p["resolved"].any()
                              else float("nan"),
                              "n_resolved": int(p["resolved"].sum()),
                              "spread_common": sp, "spread_common_censored": cens,
                              "spread_own": sp_own, "spread_own_censored": cens_own,
                              "censored_fraction": float(np.mean(~np.isfinite(p["t_half"][common])))
                              if common.any() else float("nan"),
                              "bin_median": binned_median(p["ratio"][k], common)[1]})
            first = group[0] if group else None
            block: dict[str, Any] = {"runs": stats}
            for s in ("f_half_common", "spread_common", "f_half_own"):
                m, iv, how = seed_summary([x[s] for x in stats])
                block[s] = m
                block[s + "_interval"] = iv
                block["interval_method"] = how
            block["spread_common_censored"] = any(x["spread_common_censored"] for x in stats)
            if first is not None:
                cfg = first["run"].config
                with np.errstate(divide="ignore"):
                    heat = np.log10(np.where(first["resolved"], first["ratio"], np.nan))
                block["bin_i"] = binned_median(first["ratio"][0], common)[0]
                block["bin_median"] = stats[0]["bin_median"]
                block.update({"K": cfg.model.d_hidden, "variant": cfg.variant, "exact_eval": cfg.eval_exact,
                              "eval_size": cfg.train.eval_size, "t": first["t"], "log10_ratio": heat,
                              "t_half": first["t_half"], "resolved": first["resolved"]})
            out[key] = block
        if nosup:
            cfg = nosup[0]["run"].config
            t = nosup[0]["t"]
            th = ExactTheory.from_config(cfg.data).per_feature_loss(t)
            ratio = th / th[0]
            k = value_at(t, t_probe)
            out["theory"] = {"t_half": half_times(t, ratio, half),
                             "bin_median": binned_median(ratio[k], common)[1],
                             "bin_median_all": binned_median(ratio[k], np.ones(common.size, dtype=bool))[1],
                             "f_half_common": float(np.mean(ratio[k][common] <= half)) if common.any()
                             else float("nan"),
                             "f_half_all": float(np.mean(ratio[k] <= half))}
        return out

    def claims(self, result: dict[str, Any]) -> list[Claim]:
        rules, half, tp = result["rules"], result["half"], result["t_probe"]
        ns, sp = result.get("nosup", {}), result.get("sup", {})

        f_ns, f_sp = num(ns.get("f_half_common")), num(sp.get("f_half_common"))
        s_ns, s_sp = num(ns.get("spread_common")), num(sp.get("spread_common"))
        c_ns, c_sp = bool(ns.get("spread_common_censored")), bool(sp.get("spread_common_censored"))
        th = result.get("theory", {})
        common = (f"{result['n_common']} of {result['n_features']} features (eval_size·p_i ≥ {result['min_count']:g} "
                  "and active in the evaluation set)")
        allow = rules["f_allowance"]

        def iv_of(block: dict[str, Any], key: str) -> tuple[float | None, float | None]:
            iv = block.get(key + "_interval")
            n = len(block.get("runs", []))
            return (iv[0], iv[1]) if iv and n >= 3 else (None, None)

        d_sup = threshold(f_sp, *iv_of(sp, "f_half_common"), rules["f_sup_min"], above=True, allowance=allow,
                          label="f_sup")
        d_ns = threshold(f_ns, *iv_of(ns, "f_half_common"), rules["f_nosup_max"], above=False, allowance=allow,
                         label="f_nosup")
        v1 = all_members([d_sup, d_ns], ["with superposition", "without"], "side")
        # spread ratio: a censored spread is a lower bound; decide only what the bounds allow
        ratio = s_sp / s_ns if math.isfinite(s_sp) and math.isfinite(s_ns) and s_ns > 0 else float("nan")
        lim = rules["spread_ratio_max"]
        v2 = threshold(ratio, None, None, lim, above=False, allowance=rules["spread_allowance"],
                       label="spread_sup / spread_nosup")
        if c_sp and v2.outcome == "pass":
            v2 = Decision("inconclusive", f"{v2.reason}, but spread_sup is censored at t_max (a lower bound)")
        if c_ns and v2.outcome == "fail":
            v2 = Decision("inconclusive", f"{v2.reason}, but spread_nosup is censored at t_max (a lower bound)")
        k_sup = sp.get("K", "?")
        return [
            Claim.decided(
                "fig8_parallel_learning", "8",
                "With superposition all features are learned in parallel; without, only the frequent "
                "ones (sequentially)", "≈ all learned with superposition, few without",
                f_sp, sp.get("f_half_common_interval"), f"t = {tp:g}", v1,
                f"fraction f of features with L_i(t) ≤ {half:g}·L_i(0) at t = {tp:g}: reproduced if f_sup > "
                f"{rules['f_sup_min']:g} and f_nosup < {rules['f_nosup_max']:g} (both sides; the whole 95% CI over "
                f"≥ 3 seeds, or with 1 seed by the allowance {allow:g}); not reproduced if either is on the wrong side "
                "(likewise); else inconclusive",
                f"measured f_sup (K = {k_sup}) = {f_sp:.3f}, f_nosup (K = N) = {f_ns:.3f} over {common}; "
                f"exact theory without superposition: {num(th.get('f_half_common')):.3f} on that set, "
                f"{num(th.get('f_half_all')):.3f} over all features; f_sup over its own resolved "
                f"features {num(sp.get('f_half_own')):.3f}. Interval: {sp.get('interval_method', '')}.",
                interval_kind=CI_SEEDS if sp.get("f_half_common_interval") else NO_INTERVAL,
                reasons=[d_sup.reason, d_ns.reason]),
            Claim.decided(
                "fig8_halftime_spread", "8",
                "Without superposition half-loss times spread over decades (a wave front in i); with "
                "superposition they cluster", "narrower with superposition",
                ratio, None, "t ≤ t_max, half-loss times", v2,
                rule_threshold("spread_sup / spread_nosup of the 10–90% range of log10 t_half,i", lim, above=False,
                               allowance=rules["spread_allowance"])
                + "; a spread censored at t_max is a lower bound and decides only what it can (else inconclusive)",
                f"spread with superposition {s_sp:.2f} decades{' (lower bound, censored)' if c_sp else ''}, "
                f"without {s_ns:.2f}{' (lower bound, censored)' if c_ns else ''}, over {common}; 1 seed per side "
                "in quick mode: no interval.", interval_kind=NO_INTERVAL),
        ]


EXPERIMENT = Fig8()

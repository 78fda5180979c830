"""Per-feature half-loss times: when each feature's loss first halves, and their spread in decades.

Shared by Fig. 8 (sequential against parallel learning) and the universality experiment (the paper's
mechanism: random embeddings equalize the features' effective learning rates). Times are t = lr × steps.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from supdyn.data import frequencies, teacher_diagonal
from supdyn.fit import time_to_loss

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

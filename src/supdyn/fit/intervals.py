"""Confidence intervals over seeds and the equivalence test (pure NumPy/SciPy).

Every verdict of the claims table that says "≈", "equal" or "indistinguishable" rests on these:

* :func:`mean_interval` — Student-t confidence interval of a mean over n seeds,
  x̄ ± t_{1−(1−level)/2, n−1} · s/√n, with s the sample standard deviation (n − 1 in the denominator);
* :func:`welch_interval` — interval of a difference of two means from independent samples,
  (x̄ − ȳ) ± t_{1−(1−level)/2, ν} · √(s_x²/n_x + s_y²/n_y), with the Welch–Satterthwaite degrees of
  freedom ν = (s_x²/n_x + s_y²/n_y)² / [(s_x²/n_x)²/(n_x − 1) + (s_y²/n_y)²/(n_y − 1)];
  a *paired* difference (same seed on both sides) is :func:`mean_interval` of the differences;
* :func:`tost` — two one-sided tests (Schuirmann 1987) of H0: |μ − target| ≥ margin against
  H1: |μ − target| < margin, from an estimate m, its standard error se and ν degrees of freedom:
  p = max(P(T_ν ≥ (m − (target − margin))/se), P(T_ν ≤ (m − (target + margin))/se)). Equivalence is
  declared at level α when p < α, which is the same as the (1 − 2α) interval m ± t_{1−α, ν}·se lying
  inside [target − margin, target + margin] (e.g. the 90% interval for a 5% test).

An :class:`Interval` carries its estimate, bounds, level, standard error, degrees of freedom and how
it was made, so that a rule can refuse an interval without degrees of freedom.
:func:`spearman` — Spearman's rank correlation of the finite pairs, with its p-value.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class Interval:
    """An estimate with its two-sided ``level`` confidence interval [lo, hi].

    se: standard error of the estimate; dof: degrees of freedom of its t distribution (0: none, the
    interval is undefined and lo = hi = NaN); n: number of samples; method: how it was computed.
    """

    estimate: float
    lo: float
    hi: float
    level: float
    se: float
    dof: float
    n: int
    method: str

    @property
    def defined(self) -> bool:
        return self.dof > 0 and math.isfinite(self.lo) and math.isfinite(self.hi)

    def at(self, level: float) -> "Interval":
        """The same estimate with a ``level`` interval (same se and dof)."""
        return t_interval(self.estimate, self.se, self.dof, level, self.n, self.method)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def t_interval(estimate: float, se: float, dof: float, level: float = 0.95, n: int = 0,
               method: str = "") -> Interval:
    """estimate ± t_{1−(1−level)/2, dof} · se (NaN bounds when dof ≤ 0 or se is not finite)."""
    _check_level(level)
    if not (dof > 0 and math.isfinite(se) and math.isfinite(estimate)):
        return Interval(float(estimate), math.nan, math.nan, level, float(se), float(max(dof, 0)), n, method)
    q = float(stats.t.ppf(0.5 + level / 2.0, dof))
    return Interval(float(estimate), float(estimate - q * se), float(estimate + q * se), level, float(se),
                    float(dof), n, method)


def mean_interval(values: Sequence[float], level: float = 0.95) -> Interval:
    """Student-t interval of the mean of ``values`` (non-finite values dropped): x̄ ± t_{n−1}·s/√n.

    With fewer than 2 values the interval is undefined (dof = 0)."""
    v = np.asarray([x for x in values if math.isfinite(x)], dtype=float)
    n = int(v.size)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, level, math.nan, 0.0, 0, "no finite value")
    m = float(v.mean())
    if n < 2:
        return Interval(m, math.nan, math.nan, level, math.nan, 0.0, 1, "1 value: no interval")
    se = float(v.std(ddof=1) / math.sqrt(n))
    return t_interval(m, se, n - 1, level, n, f"Student t over {n} seeds ({n - 1} dof)")


def welch_interval(x: Sequence[float], y: Sequence[float], level: float = 0.95) -> Interval:
    """Welch interval of mean(x) − mean(y) for independent samples (each needs ≥ 2 finite values)."""
    a = np.asarray([v for v in x if math.isfinite(v)], dtype=float)
    b = np.asarray([v for v in y if math.isfinite(v)], dtype=float)
    d = float(a.mean() - b.mean()) if a.size and b.size else math.nan
    if a.size < 2 or b.size < 2:
        return Interval(d, math.nan, math.nan, level, math.nan, 0.0, int(a.size + b.size),
                        "Welch: fewer than 2 values on a side, no interval")
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    se = math.sqrt(va + vb)
    if se == 0.0:
        return t_interval(d, 0.0, a.size + b.size - 2, level, int(a.size + b.size), "Welch (zero variance)")
    nu = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    return t_interval(d, se, nu, level, int(a.size + b.size),
                      f"Welch t over {a.size} + {b.size} seeds ({nu:.1f} dof)")


def paired_interval(x: Sequence[float], y: Sequence[float], level: float = 0.95) -> Interval:
    """Student-t interval of the mean paired difference x_i − y_i (pairs with a non-finite side dropped)."""
    if len(x) != len(y):
        raise ValueError(f"paired_interval: x and y must have the same length, got {len(x)} and {len(y)}")
    diffs = [a - b for a, b in zip(x, y) if math.isfinite(a) and math.isfinite(b)]
    iv = mean_interval(diffs, level)
    return Interval(iv.estimate, iv.lo, iv.hi, iv.level, iv.se, iv.dof, iv.n,
                    iv.method.replace("over", "of paired differences over"))


@dataclass(frozen=True)
class TostResult:
    """Two one-sided tests: p = max of the two one-sided p-values; equivalent when p < alpha."""

    p: float
    p_lower: float
    p_upper: float
    alpha: float
    low: float
    high: float
    equivalent: bool


def tost(estimate: float, se: float, dof: float, target: float, margin: float, alpha: float = 0.05) -> TostResult:
    """TOST of |μ − target| < margin (see the module docstring); p = NaN (not equivalent) without dof."""
    if margin <= 0:
        raise ValueError(f"margin: got {margin!r}; allowed: > 0")
    if not 0 < alpha < 0.5:
        raise ValueError(f"alpha: got {alpha!r}; allowed: 0 < alpha < 0.5")
    low, high = target - margin, target + margin
    if not (dof > 0 and math.isfinite(se) and math.isfinite(estimate)):
        return TostResult(math.nan, math.nan, math.nan, alpha, low, high, False)
    if se == 0.0:
        inside = low < estimate < high
        p = 0.0 if inside else 1.0
        return TostResult(p, p, p, alpha, low, high, inside)
    p_lower = float(stats.t.sf((estimate - low) / se, dof))   # H0: μ ≤ low
    p_upper = float(stats.t.cdf((estimate - high) / se, dof))  # H0: μ ≥ high
    p = max(p_lower, p_upper)
    return TostResult(p, p_lower, p_upper, alpha, low, high, p < alpha)


def _check_level(level: float) -> None:
    if not 0 < level < 1:
        raise ValueError(f"level: got {level!r}; allowed: 0 < level < 1")


__all__ = ["Interval", "TostResult", "mean_interval", "paired_interval", "spearman", "t_interval", "tost",
           "welch_interval"]


def spearman(x: Sequence[float], y: Sequence[float]) -> dict[str, Any]:
    """Spearman's rank correlation of the finite pairs (NaN with fewer than 3)."""
    pairs = [(a, b) for a, b in zip(x, y) if math.isfinite(a) and math.isfinite(b)]
    if len(pairs) < 3:
        return {"rho": math.nan, "p": math.nan, "n": len(pairs)}
    res = stats.spearmanr([p[0] for p in pairs], [p[1] for p in pairs])
    return {"rho": float(res.statistic), "p": float(res.pvalue), "n": len(pairs)}

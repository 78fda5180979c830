"""Asymptotic training exponents of the diagonal theory (paper Sec. 3.2 and App. A.1).

With λ(z) = p(z)/3 and teacher a(z) = z^−b, the loss of eq. 7 in the continuum limit is
L(t) ≈ ½ ∫ λ(z) z^−2b e^{−2λ(z) t} dz, dominated by the unlearned features beyond the critical
index z_c(t), λ(z_c) t = 1 (eq. 11).  Mid-training (1 ≪ z_c ≪ N), L ∝ t^−α (log t)^δ with:

power       p_i ∝ i^−a:            α = (a + 2b − 1)/a, δ = 0   (eq. 8).  Needs a + 2b > 1 (the tail
            integral ∫ z^−(a+2b) dz converges) and, for Σ p_i = 1 at N → ∞, a > 1 (the paper's
            conditions).  Without normalization (p_i = i^−a, eq. 7 literally) a > 0 suffices.
exponential p_i ∝ exp(−κ i^a):     α = 1 with a log correction.  Substituting u = 2λ(z)t,
            z = (ln(2λ₀t/u)/κ)^{1/a} (λ₀ = λ(z=0) = p(0)/3), and ∫₀^∞ e^{−u} (L₀ − ln u)^δ du ≈
            (L₀ + γ_E)^δ:
                L(t) ≈ κ^{(2b−1)/a} / (4 a t) · [ln(2 e^{γ_E} λ₀ t)]^δ,   δ = (1 − 2b)/a − 1,
            so the local exponent is α(t) = −d ln L/d ln t = 1 − δ / ln(2 e^{γ_E} λ₀ t)
            (b = 0: δ = 1/a − 1, the paper's eq. 19; a = 1, b = 0: exactly 1/t).
algebraic   p_i ∝ (N + 1 − i)^a (vanishing at the edge z* = N + 1): α = 1 + 1/a (eq. 20), any b
            (the teacher is smooth at the edge), a > 0.

Time is t = lr × steps throughout.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from supdyn.config import DataConfig
from supdyn.theory import _numerics as nm


@dataclass(frozen=True)
class Asymptote:
    """Mid-training asymptote L ∝ t^−alpha (ln t)^log_power; alpha is NaN when it does not apply."""

    law: str
    alpha: float
    log_power: float
    valid: bool
    reason: str


def power_validity(a: float, b: float = 0.0, *, normalizable: bool = True) -> tuple[bool, str]:
    """(valid, reason) for α = (a + 2b − 1)/a: a + 2b > 1 and a > 1 (normalizable) or a > 0."""
    if normalizable and not a > 1:
        return False, (f"a = {a:g} <= 1: sum of i^-a diverges as N grows, so normalized p_i -> 0 "
                       "(needs a > 1; with unnormalized p, a > 0 suffices)")
    if not a > 0:
        return False, f"a = {a:g} <= 0: p_i does not decay, no power-law regime (needs a > 0)"
    if not a + 2 * b > 1:
        return False, f"a + 2b = {a + 2 * b:g} <= 1: the tail sum of i^-(a+2b) diverges (needs a + 2b > 1)"
    return True, "valid for 1 << i_c(t) << N"


def alpha_power(a: float, b: float = 0.0, *, normalizable: bool = True) -> float:
    """α = (a + 2b − 1)/a (eq. 8); NaN outside the validity conditions (see :func:`power_validity`)."""
    valid, _ = power_validity(a, b, normalizable=normalizable)
    return (a + 2 * b - 1) / a if valid else math.nan


def exponential_log_power(a: float, b: float = 0.0) -> float:
    """δ = (1 − 2b)/a − 1 in L ∝ t^−1 (ln t)^δ for p ∝ exp(−κ i^a) (eq. 19 generalized to b)."""
    if not a > 0:
        raise ValueError(f"a: got {a!r}; allowed: a > 0 for the exponential law")
    return (1 - 2 * b) / a - 1


def exponential_local_exponent(t: object, a: float, b: float, lam0: float) -> np.ndarray:
    """α(t) = 1 − δ / ln(2 e^{γ_E} λ₀ t), λ₀ = p(z=0)/3 (= 1/(3Z) for p_i = e^{−κ i^a}/Z).

    Valid for 1 ≪ z_c(t) = (ln(2λ₀t)/κ)^{1/a} ≪ N; NaN where 2 e^{γ_E} λ₀ t <= 1.
    """
    t = nm.as_times(t)
    delta = exponential_log_power(a, b)
    arg = 2.0 * math.exp(np.euler_gamma) * lam0 * t
    out = np.full(t.shape, np.nan)
    ok = arg > 1
    out[ok] = 1.0 - delta / np.log(arg[ok])
    return out


def exponential_loss(t: object, a: float, b: float, kappa: float, lam0: float) -> np.ndarray:
    """L(t) ≈ κ^{(2b−1)/a} / (4 a t) · [ln(2 e^{γ_E} λ₀ t)]^δ (leading order, t > 0)."""
    t = nm.as_times(t)
    delta = exponential_log_power(a, b)
    arg = 2.0 * math.exp(np.euler_gamma) * lam0 * t
    out = np.full(t.shape, np.nan)
    ok = arg > 1
    out[ok] = kappa ** ((2 * b - 1) / a) / (4 * a * t[ok]) * np.log(arg[ok]) ** delta
    return out


def alpha_algebraic(a: float) -> float:
    """α = 1 + 1/a for p ∝ (N + 1 − i)^a (eq. 20/23); NaN for a <= 0."""
    return 1.0 + 1.0 / a if a > 0 else math.nan


def asymptote(law: str, a: float, b: float = 0.0, *, normalizable: bool = True) -> Asymptote:
    """The mid-training asymptote of the diagonal theory for a frequency law (power, exponential,
    algebraic); ``user`` laws have none (alpha NaN)."""
    if law == "power":
        valid, reason = power_validity(a, b, normalizable=normalizable)
        return Asymptote(law, alpha_power(a, b, normalizable=normalizable), 0.0, valid, reason)
    if law == "exponential":
        if not a > 0:
            return Asymptote(law, math.nan, math.nan, False, f"a = {a:g} <= 0 (needs a > 0)")
        delta = exponential_log_power(a, b)
        return Asymptote(law, 1.0, delta, True,
                         f"L ~ t^-1 (ln t)^{delta:.6g}: local exponent 1 - delta/ln(2 e^gamma lambda0 t)")
    if law == "algebraic":
        if not a > 0:
            return Asymptote(law, math.nan, 0.0, False, f"a = {a:g} <= 0: p does not vanish at the edge")
        return Asymptote(law, alpha_algebraic(a), 0.0, True, "valid for 1 << N + 1 - i_c(t) << N")
    return Asymptote(law, math.nan, math.nan, False, f"no asymptote for law {law!r}")


def asymptote_for(cfg: DataConfig) -> Asymptote:
    """:func:`asymptote` of a DataConfig (normalizable = normalize is 'sum')."""
    return asymptote(cfg.law, cfg.a, cfg.b, normalizable=cfg.normalize == "sum")


def critical_index_power(t: object, a: float, p1: float = 1.0) -> np.ndarray:
    """Continuous critical index of p_i = p1 i^−a: λ_{i_c} t = 1 ⇒ i_c(t) = (p1 t / 3)^{1/a} (eq. 13)."""
    t = nm.as_times(t)
    if not a > 0:
        raise ValueError(f"a: got {a!r}; allowed: a > 0")
    return (p1 * t / 3.0) ** (1.0 / a)


def critical_index(p: np.ndarray, t: object) -> np.ndarray:
    """i_c(t) = #{i : λ_i t >= 1}, λ_i = p_i/3 — for decreasing p, λ_{i_c} t >= 1 > λ_{i_c+1} t."""
    lam = np.sort(nm.as_frequencies(p)) / 3.0
    t = nm.as_times(t)
    cut = np.where(t > 0, 1.0 / np.where(t > 0, t, 1.0), np.inf)
    return (lam.size - np.searchsorted(lam, cut, "left")).astype(np.int64)

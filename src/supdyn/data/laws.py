"""Feature frequencies, the teacher and the exact input moments (paper Sec. 2.1, eqs. 1, 2).

x_i = u_i v_i with u_i ~ Bernoulli(p_i) and v_i ~ U(0, 1), so
    E[x_i] = p_i / 2,   E[x_i²] = p_i / 3,   E[x_i x_j] = p_i p_j / 4  (i ≠ j);
teacher y* = A x with A = diag(a_i), a_i = i^-b.
"""

from __future__ import annotations

import math

import numpy as np

from supdyn.config import ConfigError, DataConfig, RunConfig
from supdyn.config.checks import zero_law
from supdyn.data.correlated import Groups, second_moment_correlated


def frequencies(cfg: DataConfig) -> np.ndarray:
    """Feature frequencies p_i, i = 1..N, float64, shape (n_features,).

    power:       p_i ∝ i^-a
    exponential: p_i ∝ exp(-kappa i^a)
    algebraic:   p_i ∝ (N + 1 - i)^a
    user:        cfg.p as given (never renormalized)
    With ``normalize = 'sum'`` the law is scaled so that Σ p_i = density (E); with ``'none'`` the
    unnormalized law is used (p_1 = 1 for the power law). Raises ConfigError if any p_i ∉ [0, 1].
    """
    n = cfg.n_features
    i = np.arange(1, n + 1, dtype=np.float64)
    if cfg.law == "user":
        p = np.asarray(cfg.p, dtype=np.float64)
        scaled = False
    else:
        with np.errstate(over="ignore", invalid="ignore"):  # overflow → inf: reported below, no warning
            if cfg.law == "power":
                p = i ** (-cfg.a)
            elif cfg.law == "exponential":
                logp = -cfg.kappa * i**cfg.a
                p = np.exp(logp - logp.max()) if cfg.normalize == "sum" else np.exp(logp)
            else:  # algebraic
                p = (n + 1.0 - i) ** cfg.a
        scaled = cfg.normalize == "sum"
        if scaled:
            total = p.sum()
            if not np.isfinite(total) or total <= 0:
                raise ConfigError(f"a: the {cfg.law} law with a={cfg.a:g} cannot be normalized "
                                  f"(sum of p_i = {total:g}); allowed: a law with a finite positive sum")
            p = p * (cfg.density / total)
    bad = np.flatnonzero(~np.isfinite(p) | (p < 0) | (p > 1))
    if bad.size:
        j = int(bad[0])
        where = "normalized " if scaled else ""
        field = "p" if cfg.law == "user" else ("density" if scaled else "a")
        raise ConfigError(f"{field}: {where}p_{j + 1} = {p[j]:.6g} exceeds 1 by {p[j] - 1:.3g} "
                          f"({bad.size} of {n} features outside [0, 1]); allowed: every p_i in [0, 1]"
                          if np.isfinite(p[j]) and p[j] > 1 else
                          f"{field}: p_{j + 1} = {float(p[j])!r}; allowed: every p_i finite and in [0, 1]")
    if not np.any(p > 0):
        raise ConfigError(zero_law("p" if cfg.law == "user" else ("density" if scaled else "a")))
    return p


def teacher_diagonal(cfg: DataConfig) -> np.ndarray:
    """Teacher diagonal a_i = A_ii, float64, shape (n_features,): i^-b or the user's diagonal."""
    if cfg.teacher == "user":
        return np.asarray(cfg.teacher_diag, dtype=np.float64)
    i = np.arange(1, cfg.n_features + 1, dtype=np.float64)
    return i ** (-cfg.b)


def moments(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact input moments: (mean μ_i = p_i/2, diagonal second moment E[x_i²] = p_i/3).

    The full second moment is Σ = diag(p/3 − p²/4) + μ μᵀ.
    """
    p = np.asarray(p, dtype=np.float64)
    return p / 2.0, p / 3.0


def importance_weights(cfg: DataConfig) -> np.ndarray | None:
    """Loss weights w_i of the outputs, (n_features,) float64, or None for the uniform default (w = 1)."""
    if cfg.importance == "uniform":
        return None
    if cfg.importance == "user":
        return np.asarray(cfg.importance_diag, dtype=np.float64)
    return np.arange(1, cfg.n_features + 1, dtype=np.float64) ** (-cfg.importance_exponent)


def second_moment(p: np.ndarray) -> np.ndarray:
    """Full second moment Σ = E[x xᵀ] = diag(p/3 − p²/4) + μμᵀ, shape (n_features, n_features)."""
    mu, d = moments(p)
    sigma = np.outer(mu, mu)
    sigma[np.diag_indices_from(sigma)] = d
    return sigma


def groups_of(configs: "list[RunConfig]") -> Groups | None:
    """The feature groups of a pack of runs (shared kind and size, per-run strength), None if independent."""
    d0 = configs[0].data
    if d0.correlation == "none":
        return None
    return Groups(d0.correlation, d0.group_size, tuple(c.data.cooccur for c in configs))


def second_moment_of(cfg: DataConfig) -> np.ndarray:
    """Σ = E[x xᵀ] of a run's inputs, (N, N): independent (:func:`second_moment`) or correlated features."""
    p = frequencies(cfg)
    if cfg.correlation == "none":
        return second_moment(p)
    return second_moment_correlated(p, Groups(cfg.correlation, cfg.group_size, (cfg.cooccur,)))


def max_eigenvalue(p: np.ndarray) -> float:
    """λ_max of Σ = diag(p/3 − p²/4) + μμᵀ (μ = p/2) in O(N): no N × N matrix is formed.

    λ_max is the largest root of the secular equation 1 = Σ_i μ_i² / (λ − d_i), d = p/3 − p²/4,
    which lies in [max d, max d + ‖μ‖²]; found by bisection to float64 precision.
    """
    p = np.asarray(p, dtype=np.float64)
    mu, d = p / 2.0, p / 3.0 - p * p / 4.0
    mu2 = mu * mu
    lo = float(d.max())
    hi = lo + float(mu2.sum())
    if hi <= lo:
        return lo
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mid <= lo or mid >= hi:
            break
        with np.errstate(divide="ignore"):
            f = float(np.sum(mu2 / (mid - d)))
        lo, hi = (mid, hi) if f > 1.0 else (lo, mid)
    return hi


def stable_lr_bound(cfg: RunConfig) -> float:
    """Learning rate below which (online) SGD of ``cfg`` is expected to be stable: 2 / h_max.

    h_max is the largest curvature of the loss in B: λ_max(Σ) of the input second moment
    Σ = diag(p/3 − p²/4) + μμᵀ without superposition, times λ_max(WWᵀ) ≈ (1 + √(N/K))²
    (→ N/K for N ≫ K: the Marchenko–Pastur edge of a random unit-column W) with it.
    An estimate: ReLU students tolerate somewhat more, large-noise small batches somewhat less. With
    correlated features λ_max is that of their full Σ, with loss weights it is multiplied by max w_i.
    """
    if cfg.data.correlation == "none":
        lam = max_eigenvalue(frequencies(cfg.data))
    else:
        lam = float(np.linalg.eigvalsh(second_moment_of(cfg.data))[-1])
    w = importance_weights(cfg.data)
    if w is not None:
        lam *= float(w.max())
    if cfg.spec.superposition:
        lam *= (1.0 + math.sqrt(cfg.data.n_features / cfg.model.d_hidden)) ** 2
    return 2.0 / lam if lam > 0 else math.inf

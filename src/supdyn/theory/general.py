"""Gradient-flow theory of the student without superposition for any input second moment and loss weights.

Student y = B x, teacher y* = A x (A = diag(a)), weighted loss L(B) = ½ Σ_i w_i E[((B − A) x)_i²]
= ½ Tr(W (B − A) Σ (B − A)ᵀ), W = diag(w), with Σ = E[x xᵀ] any positive semi-definite second moment
(independent features: :func:`supdyn.data.second_moment`; correlated features: the data layer's
``second_moment_of``). Gradient flow in t = lr × steps from B(0) = 0: dB/dt = −W (B − A) Σ, so row i of B
evolves alone with rate w_i:

    b_i(t) = a_i e_iᵀ (I − e^{−w_i Σ t}),
    L_i(t) = ½ w_i a_i² [e^{−w_i Σ t} Σ e^{−w_i Σ t}]_ii = ½ w_i a_i² Σ_k V_ik² σ_k e^{−2 w_i σ_k t},
    L(t) = Σ_i L_i(t),   Σ = V diag(σ) Vᵀ.

With w = 1 and the independent-feature Σ this is :class:`supdyn.theory.exact.ExactTheory` (tested equal).
One dense eigendecomposition: N ≤ 8192.
"""

from __future__ import annotations

import numpy as np

from supdyn.theory import _numerics as nm

DENSE_MAX = 8192


class GeneralTheory:
    """Exact gradient flow for second moment ``sigma`` (N, N), teacher diagonal ``teacher`` (N,) and loss
    weights ``weights`` (N,) or None (w = 1). Times t = lr × steps (any order, ≥ 0); the first axis of
    every result is n_times."""

    def __init__(self, sigma: np.ndarray, teacher: np.ndarray, weights: np.ndarray | None = None) -> None:
        sigma = np.asarray(sigma, dtype=np.float64)
        n = sigma.shape[0]
        if sigma.shape != (n, n) or not np.all(np.isfinite(sigma)):
            raise ValueError(f"sigma: got shape {sigma.shape}; allowed: a finite square (N, N) matrix")
        if n > DENSE_MAX:
            raise ValueError(f"sigma: N = {n}; allowed: N <= {DENSE_MAX} (one dense eigendecomposition)")
        self.teacher = nm.as_vector(teacher, "teacher", n)
        w = np.ones(n) if weights is None else nm.as_vector(weights, "weights", n)
        if np.any(w < 0):
            raise ValueError("weights: got a negative weight; allowed: weights >= 0")
        self.weights = w
        sym = 0.5 * (sigma + sigma.T)
        self.sigma_eig, self.vectors = np.linalg.eigh(sym)
        self.sigma_eig = np.clip(self.sigma_eig, 0.0, None)  # rounding below 0: no growth
        self.n_features = n

    def per_feature_loss(self, t: object) -> np.ndarray:
        """L_i(t), shape (n_times, N)."""
        t = nm.as_times(t)
        v2 = self.vectors ** 2  # (N, N): V_ik²
        coef = 0.5 * self.weights * self.teacher ** 2  # (N,)
        rate = 2.0 * self.weights[:, None] * self.sigma_eig[None, :]  # (N, K): 2 w_i σ_k
        out = np.empty((t.size, self.n_features))
        for a, tt in enumerate(t):
            out[a] = coef * np.sum(v2 * self.sigma_eig[None, :] * np.exp(-rate * tt), axis=1)
        return out

    def loss(self, t: object) -> np.ndarray:
        """L(t), shape (n_times,)."""
        return self.per_feature_loss(t).sum(axis=1)

    def student(self, t: object) -> np.ndarray:
        """B(t), shape (n_times, N, N)."""
        t = nm.as_times(t)
        out = np.empty((t.size, self.n_features, self.n_features))
        for a, tt in enumerate(t):
            decay = np.exp(-self.weights[:, None] * self.sigma_eig[None, :] * tt)  # (N, K)
            rows = (self.vectors * decay) @ self.vectors.T  # row i: e_iᵀ e^{−w_i Σ t}
            out[a] = self.teacher[:, None] * (np.eye(self.n_features) - rows)
        return out

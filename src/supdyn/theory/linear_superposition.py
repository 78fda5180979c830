"""Linear superposition model, solved exactly (paper App. A.2), and its two limits.

Student y = Wᵀ B W x with a fixed embedding W ∈ R^{K×N} (d_hidden × n_features, unit-norm columns in
the paper) and B ∈ R^{K×K}; no ReLU, no bias.  Teacher y* = A x, A = diag(a_i).  Loss (eq. 24)

    L(B) = ½ Tr(M Σ Mᵀ),  M = Wᵀ B W − A
         = ½ [Tr(A Σ A) + Tr(Bᵀ P B C) − 2 Tr(S B)]                     (eq. 25)

with P = W Wᵀ, C = W Σ Wᵀ (K×K, symmetric) and S = W Σ A Wᵀ (the paper's S).  The gradient is

    ∂L/∂B = W M Σ Wᵀ = P B C − G,   G = W A Σ Wᵀ = Sᵀ,

so gradient flow in time t = lr × steps is dB/dt = −(P B C − G).  With the exact second moment
Σ = diag(p/3 − p²/4) + μμᵀ, A Σ ≠ Σ A and G = Sᵀ ≠ S; with a diagonal Σ (the paper's approximation,
``mean_term=False``) G = S.  The paper's eq. 26 writes the symmetrized form −(PBC + CBP − S − Sᵀ)/2,
which is the gradient restricted to symmetric B; the flow of an unconstrained B is the one above
(the paper's "leading order" −(PBC − S) coincides with it when Σ is diagonal).

Closed form: P = U_P diag(π) U_Pᵀ, C = U_C diag(c) U_Cᵀ; B̃ = U_Pᵀ B U_C decouples entrywise,
dB̃_kl/dt = −π_k c_l B̃_kl + G̃_kl with G̃ = U_Pᵀ G U_C, so from B(0) = 0

    B̃_kl(t) = G̃_kl (1 − e^{−π_k c_l t}) / (π_k c_l)      (= G̃_kl t when π_k c_l = 0),
    L(t)    = L_∞ + Σ_kl G̃_kl² e^{−2 π_k c_l t} / (2 π_k c_l),

where L_∞ = L(B_∞) is evaluated directly (no cancellation).  Directions with π_k or c_l below
``zero_tol`` × max are null directions of W or Σ^{1/2}Wᵀ: there G̃ vanishes exactly and is set to 0.
"""

from __future__ import annotations

import numpy as np

from supdyn.theory import _numerics as nm
from supdyn.theory.diagonal import local_exponent


def _sigma_parts(p: np.ndarray, mean_term: bool) -> tuple[np.ndarray, np.ndarray]:
    """(d, μ) with Σ = diag(d) + μμᵀ (exact) or (p/3, 0) (diagonal Σ)."""
    if mean_term:
        return p / 3.0 - p * p / 4.0, p / 2.0
    return p / 3.0, np.zeros_like(p)


def _check_embedding(w: np.ndarray, n: int) -> np.ndarray:
    w = np.asarray(w, dtype=np.float64)
    if w.ndim != 2 or w.shape[1] != n:
        raise ValueError(f"W: got shape {w.shape}; allowed: (d_hidden, n_features = {n})")
    if not np.all(np.isfinite(w)):
        raise ValueError("W: got non-finite entries; allowed: finite numbers")
    return w


class LinearSuperpositionTheory:
    """Exact gradient flow of y = Wᵀ B W x for embedding W (d_hidden, n_features), p and teacher a.

    mean_term: exact Σ (True) or Σ = diag(p/3) (False, the paper's A.2 approximation).
    sigma: any other second moment (N, N), e.g. of correlated features (``supdyn.data.second_moment_of``);
    it replaces the diagonal-plus-rank-one Σ of independent features (``mean_term`` is then ignored).
    """

    def __init__(self, w: np.ndarray, p: np.ndarray, teacher: np.ndarray, *, mean_term: bool = True,
                 zero_tol: float = 1e-12, sigma: np.ndarray | None = None) -> None:
        self.p = nm.as_frequencies(p)
        self.n_features = self.p.size
        self.teacher = nm.as_vector(teacher, "teacher", self.n_features)
        self.w = _check_embedding(w, self.n_features)
        self.d_hidden = self.w.shape[0]
        self.mean_term = bool(mean_term)
        d, mu = _sigma_parts(self.p, self.mean_term)
        self._d, self._mu = d, mu
        w, a = self.w, self.teacher
        self._sigma = None if sigma is None else np.asarray(sigma, dtype=np.float64)
        if self._sigma is not None and self._sigma.shape != (self.n_features, self.n_features):
            raise ValueError(f"sigma: got shape {self._sigma.shape}; allowed: (N, N) with N = {self.n_features}")
        self.P = w @ w.T
        if self._sigma is None:
            wmu = w @ mu  # (d_hidden,)
            self.C = (w * d) @ w.T + np.outer(wmu, wmu)
            self.G = (w * (a * d)) @ w.T + np.outer(w @ (a * mu), wmu)  # W A Σ Wᵀ = Sᵀ
        else:
            ws = w @ self._sigma  # (d_hidden, N): W Σ
            self.C, self.G = ws @ w.T, (w * a) @ ws.T
        pi, self._up = np.linalg.eigh(self.P)
        c, self._uc = np.linalg.eigh(self.C)
        pi = np.where(pi > zero_tol * max(pi.max(), 0.0), pi, 0.0)
        c = np.where(c > zero_tol * max(c.max(), 0.0), c, 0.0)
        self._rho = np.outer(pi, c)  # (d_hidden, d_hidden) decay rates π_k c_l
        gt = self._up.T @ self.G @ self._uc
        self._gt = np.where(self._rho > 0, gt, 0.0)
        diag = self.p / 3.0 if self._sigma is None else np.diag(self._sigma)
        self.loss_at_zero = float(0.5 * np.sum(a * a * diag))  # ½ Tr(A Σ A)
        rho = self._rho.ravel()
        keep = rho > 0
        rho, g2 = rho[keep], self._gt.ravel()[keep] ** 2
        order = np.argsort(rho, kind="stable")
        self._x = 2.0 * rho[order]
        self._wts = np.vstack([g2[order] / (2.0 * rho[order]), -g2[order]])
        b_inf = np.zeros_like(self._gt)
        np.divide(self._gt, self._rho, out=b_inf, where=self._rho > 0)
        self.loss_limit = self.loss_of(self._up @ b_inf @ self._uc.T)

    @property
    def rates(self) -> np.ndarray:
        """The relaxation rates of the flow, the eigenvalues of C ⊗ P: every product π_k c_l of an
        eigenvalue of P = W Wᵀ and one of C = W Σ Wᵀ (B̃_kl relaxes as e^{−π_k c_l t}; the isotropic limit,
        eq. 33, replaces them all by ρ_iso); (d_hidden²,), null directions included as 0."""
        return self._rho.ravel().copy()

    # ------------------------------------------------------------------ the quadratic itself

    def _residual_rows(self, bw: np.ndarray, rows: slice) -> np.ndarray:
        """Rows of M = Wᵀ B W − A from bw = B W, shape (len(rows), n_features)."""
        m = self.w[:, rows].T @ bw
        idx = np.arange(self.n_features)[rows]
        m[np.arange(idx.size), idx] -= self.teacher[idx]
        return m

    def per_feature_loss_of(self, b: np.ndarray) -> np.ndarray:
        """L_i(B) = ½ [M Σ Mᵀ]_ii = ½ (Σ_j M_ij² d_j + (M μ)_i²), shape (n_features,)."""
        out = np.empty(self.n_features)
        bw = b @ self.w
        for r0 in range(0, self.n_features, 1024):
            rows = slice(r0, min(r0 + 1024, self.n_features))
            m = self._residual_rows(bw, rows)
            if self._sigma is None:
                out[rows] = 0.5 * ((m * m) @ self._d + (m @ self._mu) ** 2)
            else:
                out[rows] = 0.5 * np.sum((m @ self._sigma) * m, axis=1)
        return out

    def loss_of(self, b: np.ndarray) -> float:
        """L(B) = ½ Tr((WᵀBW − A) Σ (WᵀBW − A)ᵀ) (eq. 24) for any B (d_hidden, d_hidden)."""
        return float(np.sum(self.per_feature_loss_of(np.asarray(b, dtype=np.float64))))

    def gradient(self, b: np.ndarray) -> np.ndarray:
        """∂L/∂B = P B C − G (G = W A Σ Wᵀ); the flow is dB/dt = −gradient."""
        return self.P @ b @ self.C - self.G

    def velocity(self, b: np.ndarray) -> np.ndarray:
        """dB/dt = −(P B C − W A Σ Wᵀ)."""
        return -self.gradient(b)

    # ------------------------------------------------------------------ closed form in time

    def student(self, t: object) -> np.ndarray:
        """B(t) from B(0) = 0, shape (n_times, d_hidden, d_hidden)."""
        t = nm.as_times(t)
        out = np.empty((t.size, self.d_hidden, self.d_hidden))
        for j, tj in enumerate(t):
            bt = self._gt * tj * nm.phi1(self._rho * tj)
            out[j] = self._up @ bt @ self._uc.T
        return out

    def loss_and_derivative(self, t: object) -> tuple[np.ndarray, np.ndarray]:
        """(L(t), dL/dt) with dL/dt = −Σ_kl G̃_kl² e^{−2π_k c_l t}; each (n_times,)."""
        t = nm.as_times(t)
        s = nm.exp_sums(self._x, self._wts, t)
        return self.loss_limit + s[0], s[1]

    def loss(self, t: object) -> np.ndarray:
        """L(t), shape (n_times,)."""
        return self.loss_and_derivative(t)[0]

    def local_exponent(self, t: object) -> np.ndarray:
        """−d log L / d log t (including the plateau L_∞), shape (n_times,)."""
        t = nm.as_times(t)
        loss, dloss = self.loss_and_derivative(t)
        return local_exponent(t, loss, dloss)

    def per_feature_loss(self, t: object) -> np.ndarray:
        """L_i(t) = ½ [M(t) Σ M(t)ᵀ]_ii, shape (n_times, n_features) (O(N² K) per time)."""
        return np.stack([self.per_feature_loss_of(b) for b in self.student(t)])


# ---------------------------------------------------------------------- clustered limit (eqs. 27–30)


def cluster_embedding(assignment: np.ndarray, d_hidden: int) -> np.ndarray:
    """W_ji = 1 if feature i is in cluster j, else 0 (eq. 27); shape (d_hidden, n_features)."""
    g = np.asarray(assignment)
    if g.ndim != 1 or g.size == 0 or not np.issubdtype(g.dtype, np.integer) or g.min() < 0 or g.max() >= d_hidden:
        raise ValueError(f"assignment: allowed: a 1-D integer array with values in [0, d_hidden = {d_hidden})")
    w = np.zeros((d_hidden, g.size))
    w[g, np.arange(g.size)] = 1.0
    return w


def _cluster_sums(p: np.ndarray, teacher: np.ndarray, assignment: np.ndarray, d_hidden: int,
                  sigma2: np.ndarray | None) -> tuple[np.ndarray, ...]:
    p = nm.as_frequencies(p)
    a = nm.as_vector(teacher, "teacher", p.size)
    s2 = p / 3.0 if sigma2 is None else nm.as_vector(sigma2, "sigma2", p.size)
    g = np.asarray(assignment)
    cluster_embedding(g, d_hidden)  # validates
    n = np.bincount(g, minlength=d_hidden).astype(np.float64)
    c = np.bincount(g, weights=s2, minlength=d_hidden)
    s = np.bincount(g, weights=a * s2, minlength=d_hidden)
    return a, s2, g, n, c, s


def clustered_student(p: np.ndarray, teacher: np.ndarray, assignment: np.ndarray, t: object, *,
                      d_hidden: int | None = None, sigma2: np.ndarray | None = None) -> np.ndarray:
    """b_j(t) = S_jj / (n_j C_jj) (1 − e^{−n_j C_jj t}) (eq. 30), shape (n_times, d_hidden).

    Hard clusters (eq. 27): n_j = |G_j|, C_jj = Σ_{i∈G_j} σ_i², S_jj = Σ_{i∈G_j} a_i σ_i² with the
    diagonal Σ = diag(σ²) of the paper (default σ_i² = p_i/3).  With a diagonal Σ this is the exact
    flow of the linear model with W = cluster_embedding(assignment) (B stays diagonal).
    """
    k = int(np.max(assignment)) + 1 if d_hidden is None else d_hidden
    _, _, _, n, c, s = _cluster_sums(p, teacher, assignment, k, sigma2)
    t = nm.as_times(t)
    rate = n * c
    return s * t[:, None] * nm.phi1(np.outer(t, rate))


def clustered_loss(p: np.ndarray, teacher: np.ndarray, assignment: np.ndarray, t: object, *,
                   d_hidden: int | None = None, sigma2: np.ndarray | None = None) -> np.ndarray:
    """L(t) = ½ Σ_j [(n_j − 1) b_j² C_jj + Σ_{i∈G_j} σ_i² (b_j − a_i)²] for b_j(t) of eq. 30."""
    k = int(np.max(assignment)) + 1 if d_hidden is None else d_hidden
    a, s2, g, n, c, _ = _cluster_sums(p, teacher, assignment, k, sigma2)
    b = clustered_student(p, teacher, assignment, t, d_hidden=k, sigma2=sigma2)  # (n_times, K)
    own = np.bincount(g, weights=s2 * a * a, minlength=k)  # Σ σ² a²
    cross = np.bincount(g, weights=s2 * a, minlength=k)  # Σ σ² a
    per_cluster = (n - 1) * b * b * c + b * b * c - 2 * b * cross + own
    return 0.5 * per_cluster.sum(axis=1)


# ---------------------------------------------------------------------- isotropic limit (eqs. 31–33)


def isotropic_rate(p: np.ndarray, d_hidden: int, *, sigma2: np.ndarray | None = None) -> float:
    """ρ_iso = (N/K)² σ̄² (eq. 33): E[P] = (N/K) I (eq. 31), E[C] = (N/K) σ̄² I (eq. 32), σ̄² = mean σ_i²."""
    p = nm.as_frequencies(p)
    s2 = p / 3.0 if sigma2 is None else nm.as_vector(sigma2, "sigma2", p.size)
    n = p.size
    return float((n / d_hidden) ** 2 * np.mean(s2))


def isotropic_student(w: np.ndarray, p: np.ndarray, teacher: np.ndarray, t: object, *,
                      mean_term: bool = False) -> np.ndarray:
    """B(t) = G (1 − e^{−ρ_iso t}) / ρ_iso: the flow dB/dt = −ρ_iso B + G of eq. 33 (P, C replaced
    by their expectations, G = W A Σ Wᵀ from the given W); shape (n_times, d_hidden, d_hidden)."""
    p = nm.as_frequencies(p)
    a = nm.as_vector(teacher, "teacher", p.size)
    w = _check_embedding(w, p.size)
    d, mu = _sigma_parts(p, mean_term)
    g = (w * (a * d)) @ w.T + np.outer(w @ (a * mu), w @ mu)
    rho = isotropic_rate(p, w.shape[0], sigma2=d + mu * mu)
    t = nm.as_times(t)
    return g[None] * (t * nm.phi1(rho * t))[:, None, None]


def isotropic_loss(p: np.ndarray, teacher: np.ndarray, d_hidden: int, t: object) -> np.ndarray:
    """Loss in the isotropic limit: L(t) = L0 − E‖G‖² (1 − e^{−2ρ t}) / (2ρ), ρ = ρ_iso.

    Everything replaced by its average over random unit columns (E[(w_iᵀ w_j)²] = 1/K, i ≠ j) with
    Σ = diag(σ²), σ² = p/3: L0 = ½ Σ a_i² σ_i², E‖G‖² = Σ a_i² σ_i⁴ + ((Σ a_i σ_i²)² − Σ a_i² σ_i⁴)/K.
    A single rate for every entry of B — the paper's universality argument.  An approximation for
    N ≫ K only (for K ~ N the plateau L0 − E‖G‖²/(2ρ) can even turn negative).
    """
    p = nm.as_frequencies(p)
    a = nm.as_vector(teacher, "teacher", p.size)
    s2 = p / 3.0
    rho = isotropic_rate(p, d_hidden)
    l0 = 0.5 * float(np.sum(a * a * s2))
    own = float(np.sum(a * a * s2 * s2))
    g2 = own + (float(np.sum(a * s2)) ** 2 - own) / d_hidden
    t = nm.as_times(t)
    return l0 - g2 * t * nm.phi1(2 * rho * t)


def linear_superposition_loss(w: np.ndarray, p: np.ndarray, teacher: np.ndarray, t: object, *,
                              mean_term: bool = True) -> np.ndarray:
    """L(t) of the linear superposition model y = Wᵀ B W x (exact closed form), shape (n_times,)."""
    return LinearSuperpositionTheory(w, p, teacher, mean_term=mean_term).loss(t)


def linear_superposition_student(w: np.ndarray, p: np.ndarray, teacher: np.ndarray, t: object, *,
                                 mean_term: bool = True) -> np.ndarray:
    """B(t) of the linear superposition model, shape (n_times, d_hidden, d_hidden)."""
    return LinearSuperpositionTheory(w, p, teacher, mean_term=mean_term).student(t)

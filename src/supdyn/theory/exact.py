"""Exact theory of the model without superposition: gradient flow with the full second moment.

Student y = B x, teacher y* = A x, A = diag(a_i), loss L(B) = ½ E‖(B − A) x‖² = ½ Tr((B − A) Σ (B − A)ᵀ)
with the exact second moment of the inputs (paper eq. 1)

    Σ = E[x xᵀ] = D + μ μᵀ,   D = diag(p/3 − p²/4),   μ = p/2      (diag Σ = p/3).

Gradient flow in time t = lr × steps from B(0) = 0: dB/dt = −∂L/∂B = −(B − A) Σ, so

    B(t) = A (I − e^{−Σ t}),   L(t) = ½ Tr(A² Σ e^{−2Σ t}) = ½ Σ_k σ_k w_k e^{−2σ_k t},
    L'(t) = −Σ_k σ_k² w_k e^{−2σ_k t},   Σ = V diag(σ) Vᵀ,  w_k = Σ_i a_i² V_ik².

Per output i: L_i(t) = ½ a_i² [Σ e^{−2Σt}]_ii, student diagonal s_i(t) = a_i (1 − [e^{−Σt}]_ii).  The
paper's eqs. 5–7 (:mod:`supdyn.theory.diagonal`) keep diag Σ only; with ``mean_term=False`` this class
uses Σ = diag(p/3) and reproduces them.

Two methods, same numbers (agreement ~1e-12 relative, checked in the tests):

``eigh``     one dense eigendecomposition of Σ (N ≤ 8192; O(N³), memory O(N²)); also gives the full B(t).
``laplace``  uses that Σ is diagonal + rank one.  With R(s) = (s + 2D)^−1, Sherman–Morrison gives
             the Laplace transform of the loss in O(N) per s:
                 L̂(s) = ½ Σ_i a_i² d_i / (s + 2d_i) + (s/2) g_A(s) / (1 + 2 g(s)),
                 g(s) = Σ_i μ_i² / (s + 2d_i),   g_A(s) = Σ_i a_i² μ_i² / (s + 2d_i)².
             The first term is inverted exactly (L_D(t) = ½ Σ a_i² d_i e^{−2d_i t}, an exponential
             sum); the mean-term correction is inverted numerically on a Talbot contour (24 nodes),
             after the shift s → s − 2 min d_i that keeps late times (t ≳ 1/σ_min) accurate.  The sums
             g, g_A at all nodes of all times cost O(N · 32) in total (series for the features far
             from the node, explicit sums near it), so N = 2^20 with 200 times takes ~1 s and N = 2^24
             works in bounded memory.  Per-feature quantities use [(s + Σ)^−1]_ii =
             1/(s + d_i) − μ_i² / ((s + d_i)² (1 + Σ_j μ_j²/(s + d_j))) and cost O(N · n_times · 12).
``auto``     eigh for N ≤ 512, laplace above.

Accuracy.  eigh: eigenvalue errors ~ε‖Σ‖ in absolute terms, i.e. relative ~ε p_1/p_i for the rare
features.  laplace: exact rates d_i; the Talbot step has absolute error ~1e-14 × the size of the
mean-term correction near |s| ~ 1/t, so relative errors stay ~1e-11 for power laws (checked against
eigh up to t = 1e7) but grow where L(t) has fallen many decades below the contribution of
already-learned frequent features (e.g. p split into 0.9 and 1e-9: ~1e-7 at t ~ 1e3).
Features with p_i = 0 have eigenvalue 0 and never learn (both methods treat them exactly).
"""

from __future__ import annotations

import math

import numpy as np

from supdyn.config import DataConfig
from supdyn.data import frequencies, teacher_diagonal
from supdyn.theory import _numerics as nm
from supdyn.theory.diagonal import LEARNED_THRESHOLD, DiagonalTheory, _check_threshold, local_exponent

METHODS = ("auto", "eigh", "laplace")
AUTO_DENSE_MAX = 512
T_EARLY = 1e-140
T_EARLY_RATE = 1e-5
DENSE_MAX = 8192


class ExactTheory:
    """Exact gradient-flow theory for frequencies p and teacher diagonal a (both (n_features,)).

    mean_term: use Σ = D + μμᵀ (True, the true second moment) or Σ = diag(p/3) (False: the diagonal
    theory, eqs. 5–7).  method: ``auto`` | ``eigh`` | ``laplace`` (see the module docstring).
    All methods take times t = lr × steps (vector, any order, >= 0); the first axis of every result is
    n_times.
    """

    def __init__(self, p: np.ndarray, teacher: np.ndarray, *, mean_term: bool = True,
                 method: str = "auto") -> None:
        if method not in METHODS:
            raise ValueError(f"method: got {method!r}; allowed: one of {', '.join(METHODS)}")
        self.p = nm.as_frequencies(p)
        self.n_features = self.p.size
        self.teacher = nm.as_vector(teacher, "teacher", self.n_features)
        self._diagonal: DiagonalTheory | None = None
        self.mean_term = bool(mean_term)
        if method == "auto":
            method = "eigh" if self.n_features <= AUTO_DENSE_MAX else "laplace"
        if method == "eigh" and self.n_features > DENSE_MAX:
            raise ValueError(f"method: 'eigh' needs N <= {DENSE_MAX} (dense N x N); got N = {self.n_features}; "
                             "allowed: method 'laplace'")
        self.method = method
        p = self.p
        self._d = p / 3.0 - p * p / 4.0 if self.mean_term else p / 3.0  # (n_features,)
        self._mu = p / 2.0 if self.mean_term else np.zeros_like(p)
        self._eig: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        if method == "laplace":
            self._setup_laplace()

    @property
    def diagonal(self) -> DiagonalTheory:
        """The diagonal theory (Σ → diag(p/3)) of the same p and teacher."""
        if self._diagonal is None:
            self._diagonal = DiagonalTheory(self.p, self.teacher)
        return self._diagonal

    @classmethod
    def from_config(cls, cfg: DataConfig, *, mean_term: bool = True, method: str = "auto") -> "ExactTheory":
        """From a DataConfig (normalized or not, as configured)."""
        return cls(frequencies(cfg), teacher_diagonal(cfg), mean_term=mean_term, method=method)

    # ------------------------------------------------------------------ set-up

    def second_moment(self) -> np.ndarray:
        """Σ = D + μμᵀ (or diag(p/3) without the mean term), shape (n_features, n_features)."""
        sigma = np.outer(self._mu, self._mu)
        sigma[np.diag_indices_from(sigma)] += self._d
        return sigma

    def spectrum(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(σ ascending, V, w) of Σ = V diag(σ) Vᵀ with w_k = Σ_i a_i² V_ik² (dense; N ≤ 8192)."""
        if self._eig is None:
            if self.n_features > DENSE_MAX:
                raise ValueError(f"spectrum: dense eigendecomposition needs N <= {DENSE_MAX}; got {self.n_features}")
            # features with p_i = 0 decouple exactly (eigenvalue 0, eigenvector e_i): keep them out of
            # eigh, whose absolute eigenvalue error ~ ε‖Σ‖ would otherwise let them "learn"
            active = np.flatnonzero(self.p > 0)
            sub = self.second_moment()[np.ix_(active, active)]
            s_act, v_act = np.linalg.eigh(sub)
            n_idle = self.n_features - active.size
            sigma = np.r_[np.zeros(n_idle), np.maximum(s_act, 0.0)]
            v = np.zeros((self.n_features, self.n_features))
            v[np.flatnonzero(self.p <= 0), np.arange(n_idle)] = 1.0
            v[np.ix_(active, np.arange(n_idle, self.n_features))] = v_act
            self._eig = (sigma, v, (self.teacher**2) @ (v * v))
        return self._eig

    def _setup_laplace(self) -> None:
        a2 = self.teacher**2
        self._ld_x, self._ld_w = self._exp_weights(self._d, a2 * self._d)
        mask = (self.p > 0) & (self._mu != 0)  # features without a mean (p_i = 0) decouple
        self._has_correction = bool(mask.any())
        if not self._has_correction:
            return
        if mask.all():
            d = self._d
            idx = nm.ascending(d)  # feature index of every sorted entry (a view when monotone)
        else:
            active = np.flatnonzero(mask)
            d = self._d[active]
            idx = active[nm.ascending(d)]
        self._gamma = float(d.min())
        self._idx = idx
        self._xs = self._d[idx] - self._gamma  # shifted rates d_i − γ, ascending, >= 0
        mu2 = self._mu[idx] ** 2
        self._w1 = mu2[None, :]
        self._w2 = (a2[idx] * mu2)[None, :]
        # Taylor coefficients of ΔL = L − L_D at t = 0: L^(k)(0) = ½ (−2)^k Tr(A² Σ^{k+1}), and
        # (Σ²)_ii = d_i² + 2 d_i μ_i² + |μ|² μ_i², (Σ³)_ii = d_i³ + 2 d_i² μ_i² + μ_i² μᵀDμ + μ_i² (d_i + |μ|²)²
        d, mu2 = self._d, self._mu**2
        m2, mdm = float(np.sum(mu2)), float(np.sum(self._d * mu2))
        self._dl0 = 0.5 * float(np.sum(a2 * mu2))
        self._ddl0 = -float(np.sum(a2 * (2 * d * mu2 + m2 * mu2)))
        self._d2dl0 = 2.0 * float(np.sum(a2 * (2 * d * d * mu2 + mu2 * mdm + mu2 * (d + m2) ** 2)))
        self._t_early = T_EARLY_RATE / (2.0 * (float(d.max()) + m2))  # t · (fastest loss rate) below this
        self._z, self._dz = nm.talbot_contour()

    @staticmethod
    def _exp_weights(rate: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Ascending loss decay rates 2·rate and weights [½ c, −c·rate] for L and L'."""
        order = nm.ascending(rate)
        r = rate[order]
        return 2.0 * r, np.vstack([0.5 * c[order], -c[order] * r])

    # ------------------------------------------------------------------ loss

    @property
    def loss_at_zero(self) -> float:
        """L(0) = ½ aᵀ diag(Σ) a = ½ Σ_i a_i² p_i / 3 (= ½ Tr(A Σ A))."""
        return float(0.5 * np.sum(self.teacher**2 * self.p) / 3.0)

    def loss_and_derivative(self, t: object) -> tuple[np.ndarray, np.ndarray]:
        """(L(t), dL/dt), each of shape (n_times,)."""
        t = nm.as_times(t)
        if self.method == "eigh":
            sigma, _, w = self.spectrum()
            s = nm.exp_sums(2.0 * sigma, np.vstack([0.5 * sigma * w, -sigma * sigma * w]), t)
            return s[0], s[1]
        s = nm.exp_sums(self._ld_x, self._ld_w, t)
        loss, dloss = s[0].copy(), s[1].copy()
        if self._has_correction:
            early, pos = self._talbot_times(t, 2.0, self._t_early)
            te = t[early]  # ΔL(t) by its Taylor series (t · rate < 1e-5: error < 1e-15 relative)
            loss[early] += self._dl0 + te * (self._ddl0 + 0.5 * te * self._d2dl0)
            dloss[early] += self._ddl0 + te * self._d2dl0
            if pos.size:
                tp = t[pos]
                z, dz, g = self._z, self._dz, self._gamma
                sp = z[None, :] / tp[:, None]  # shifted Laplace variable s' = s + 2γ at the nodes
                g1, g2 = nm.stieltjes_sums(2.0 * self._xs, self._w1, self._w2, tp, z)
                f = 0.5 * (sp - 2 * g) * g2[0] / (1.0 + 2.0 * g1[0])
                h = nm.talbot_invert(f, tp, z, dz)
                # L̂' = s L̂ − L(0): the constant only changes the (t = 0) delta function, so drop it
                # where it would dominate the integrand (late times) and keep it where it cancels
                # the large-|s| limit (early times) — whichever leaves the smaller integrand.
                sf = sp * f
                sub = np.max(np.abs(sf - self._dl0), axis=1) < np.max(np.abs(sf), axis=1)
                dh = nm.talbot_invert(sf - np.where(sub, self._dl0, 0.0)[:, None], tp, z, dz)
                damp = np.exp(-2 * g * tp)
                loss[pos] += damp * h
                dloss[pos] += damp * (dh - 2 * g * h)
        return loss, dloss

    def loss(self, t: object) -> np.ndarray:
        """L(t) = ½ Tr(A² Σ e^{−2Σt}), shape (n_times,)."""
        return self.loss_and_derivative(t)[0]

    def loss_derivative(self, t: object) -> np.ndarray:
        """dL/dt = −Tr(A² Σ² e^{−2Σt}), shape (n_times,)."""
        return self.loss_and_derivative(t)[1]

    def local_exponent(self, t: object) -> np.ndarray:
        """−d log L / d log t = −t L'(t) / L(t) (analytic L'), shape (n_times,)."""
        t = nm.as_times(t)
        loss, dloss = self.loss_and_derivative(t)
        return local_exponent(t, loss, dloss)

    def _talbot_times(self, t: np.ndarray, rate: float, t_early: float = T_EARLY) -> tuple[np.ndarray, np.ndarray]:
        """(mask of early times, indices of times that need the Talbot inversion).

        Early: t · 2(max d + |μ|²) < 1e-5 — the loss correction is taken from its Taylor series there
        (the Talbot derivative loses ~ε/(t·rate)); per-feature corrections are O(t) there and
        evaluated as at t = 0 only below t = 1e-140 (where |s| = |z|/t would overflow).  Once
        rate·γ·t > 745 the shifted correction carries e^{−rate γ t} = 0 exactly and is skipped.
        """
        early = t < t_early
        return early, np.flatnonzero(~early & (rate * self._gamma * t <= nm.EXP_ZERO))

    # ------------------------------------------------------------------ per feature

    def _denominators(self, t: np.ndarray, kind: str) -> np.ndarray:
        """1 / (1 + r g_r(s')) at the nodes of every time (t > 0), g_r(s') = Σ_j μ_j² / (s' + r (d_j − γ)).

        r = 1 for e^{−Σt} (kind 'fraction'), r = 2 for Σ e^{−2Σt} (kind 'loss'); shape (n_times, n_nodes).
        """
        rate = 1.0 if kind == "fraction" else 2.0
        g1, _ = nm.stieltjes_sums(rate * self._xs, self._w1, self._w2[:0], t, self._z)
        return 1.0 / (1.0 + rate * g1[0])

    def _diag_correction(self, tj: float, denom: np.ndarray, cols: np.ndarray, kind: str) -> np.ndarray:
        """Mean-term corrections of diagonal entries at one time tj > 0 for sorted entries ``cols``.

        kind 'fraction': c_i with [e^{−Σt}]_ii = e^{−d_i t} − c_i   (Laplace: μ_i² R_i² / (1 + g̃));
        kind 'loss':     ΔL_i with L_i = ½ a_i² d_i e^{−2 d_i t} + ΔL_i  (Laplace: (s/2) a_i² μ_i² R_i² / (1 + 2g)).
        Shape (len(cols),).
        """
        z, g = self._z, self._gamma
        rate = 1.0 if kind == "fraction" else 2.0
        sp = z / tj
        pre = denom * np.exp(z) * self._dz
        if kind == "loss":
            pre = pre * 0.5 * (sp - 2 * g)
        x = rate * self._xs[cols]
        num = self._w1[0, cols] if kind == "fraction" else self._w2[0, cols]
        out = np.empty(cols.size)
        for c0 in range(0, cols.size, nm.CHUNK):
            r = 1.0 / (sp[:, None] + x[None, c0:c0 + nm.CHUNK])  # (n_nodes, chunk)
            out[c0:c0 + nm.CHUNK] = np.imag(pre @ (r * r))
        return out * num * (math.exp(-rate * g * tj) / (z.size * tj))

    def learned_fraction(self, t: object) -> np.ndarray:
        """s_i(t) / a_i = 1 − [e^{−Σt}]_ii, shape (n_times, n_features)."""
        t = nm.as_times(t)
        if self.method == "eigh":
            sigma, v, _ = self.spectrum()
            return 1.0 - np.exp(-np.outer(t, sigma)) @ (v * v).T
        out = -np.expm1(-np.outer(t, self._d))
        if self._has_correction:
            _, pos = self._talbot_times(t, 1.0)
            if pos.size:
                denom = self._denominators(t[pos], "fraction")
                cols = np.arange(self._xs.size)
                for k, j in enumerate(pos):
                    out[j, self._idx] += self._diag_correction(t[j], denom[k], cols, "fraction")
        return out

    def student_diagonal(self, t: object) -> np.ndarray:
        """s_i(t) = B_ii(t) = a_i (1 − [e^{−Σt}]_ii), shape (n_times, n_features)."""
        return self.learned_fraction(t) * self.teacher

    def per_feature_loss(self, t: object) -> np.ndarray:
        """L_i(t) = ½ [(B − A) Σ (B − A)ᵀ]_ii = ½ a_i² [Σ e^{−2Σt}]_ii, shape (n_times, n_features)."""
        t = nm.as_times(t)
        a2 = self.teacher**2
        if self.method == "eigh":
            sigma, v, _ = self.spectrum()
            return 0.5 * a2 * ((sigma * np.exp(-2.0 * np.outer(t, sigma))) @ (v * v).T)
        out = 0.5 * a2 * self._d * np.exp(-2.0 * np.outer(t, self._d))
        if self._has_correction:
            early, pos = self._talbot_times(t, 2.0)
            out[early] += 0.5 * a2 * self._mu**2
            if pos.size:
                denom = self._denominators(t[pos], "loss")
                cols = np.arange(self._xs.size)
                for k, j in enumerate(pos):
                    out[j, self._idx] += self._diag_correction(t[j], denom[k], cols, "loss")
        return out

    def n_learned(self, t: object, threshold: float = LEARNED_THRESHOLD) -> np.ndarray:
        """Number of features with s_i(t)/a_i = 1 − [e^{−Σt}]_ii >= threshold, shape (n_times,).

        By Jensen, [e^{−Σt}]_ii = Σ_k V_ik² e^{−σ_k t} >= e^{−Σ_ii t}, so only features that the
        diagonal theory counts (λ_i t >= −ln(1 − threshold)) can count here; only those are computed.
        """
        threshold = _check_threshold(threshold)
        t = nm.as_times(t)
        if self.method == "eigh":
            return np.sum(self.learned_fraction(t) >= threshold, axis=1).astype(np.int64)
        need = -math.log1p(-threshold)
        out = np.zeros(t.size, dtype=np.int64)
        lam = self.p / 3.0
        talbot = np.zeros(t.size, dtype=bool)
        if self._has_correction:
            _, pos = self._talbot_times(t, 1.0)
            talbot[pos] = True
            denom = np.zeros((t.size, self._z.size), dtype=np.complex128)
            if pos.size:
                denom[pos] = self._denominators(t[pos], "fraction")
            sorted_pos = np.full(self.n_features, -1)
            sorted_pos[self._idx] = np.arange(self._xs.size)
        for j in np.flatnonzero(t > 0):
            cand = np.flatnonzero(lam * t[j] >= need)
            frac = -np.expm1(-self._d[cand] * t[j])
            if talbot[j] and cand.size:
                cols = sorted_pos[cand]
                ok = cols >= 0
                frac[ok] += self._diag_correction(t[j], denom[j], cols[ok], "fraction")
            out[j] = int(np.sum(frac >= threshold))
        return out

    def critical_index(self, t: object) -> np.ndarray:
        """i_c(t): number of features with λ_i t >= 1, λ_i = p_i/3 (as in the diagonal theory)."""
        return self.diagonal.critical_index(t)

    def student(self, t: object) -> np.ndarray:
        """B(t) = A (I − e^{−Σt}), shape (n_times, n_features, n_features) (dense; N ≤ 8192)."""
        t = nm.as_times(t)
        sigma, v, _ = self.spectrum()
        out = np.empty((t.size, self.n_features, self.n_features))
        for j, tj in enumerate(t):
            out[j] = -(v * np.exp(-sigma * tj)) @ v.T
            out[j][np.diag_indices(self.n_features)] += 1.0
            out[j] *= self.teacher[:, None]
        return out


def exact_loss(p: np.ndarray, teacher: np.ndarray, t: object, *, mean_term: bool = True,
               method: str = "auto") -> np.ndarray:
    """L(t) = ½ Tr(A² Σ e^{−2Σt}) of the exact theory, shape (n_times,)."""
    return ExactTheory(p, teacher, mean_term=mean_term, method=method).loss(t)


def exact_local_exponent(p: np.ndarray, teacher: np.ndarray, t: object, *, mean_term: bool = True,
                         method: str = "auto") -> np.ndarray:
    """−d log L / d log t of the exact theory, shape (n_times,)."""
    return ExactTheory(p, teacher, mean_term=mean_term, method=method).local_exponent(t)


MODES = ("exact", "diagonal")


def theory_from_config(cfg: DataConfig, *, mode: str = "exact", paper_eq7: bool = False,
                       method: str = "auto") -> DiagonalTheory | ExactTheory:
    """The no-superposition theory of a DataConfig: ``exact`` (full Σ) or ``diagonal`` (eqs. 5–7).

    paper_eq7 (diagonal only): the literal eq. 7, p_i = i^−a unnormalized (see DiagonalTheory.from_config).
    """
    if mode not in MODES:
        raise ValueError(f"mode: got {mode!r}; allowed: one of {', '.join(MODES)}")
    if mode == "diagonal":
        return DiagonalTheory.from_config(cfg, paper_eq7=paper_eq7)
    if paper_eq7:
        raise ValueError("paper_eq7: eq. 7 is the diagonal theory; allowed: mode 'diagonal' "
                         "(for the exact theory of p_i = i^-a use normalize 'none')")
    return ExactTheory.from_config(cfg, method=method)

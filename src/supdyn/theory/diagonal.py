"""Diagonal theory of the model without superposition (paper Sec. 3.1, eqs. 5–7).

Student y = B x with B ∈ R^{N×N}, teacher y* = A x, A = diag(a_i), gradient flow from B(0) = 0 in
time t = lr × steps.  Keeping only the diagonal of the input second moment, Σ ≈ diag(λ_i) with
λ_i = E[x_i²] = p_i / 3, B stays diagonal, B = diag(s_i), and each entry relaxes independently:

    s_i(t) = a_i (1 − e^{−λ_i t})                                 (eq. 6)
    L(t)   = ½ Σ_i λ_i (s_i − a_i)² = ½ Σ_i λ_i a_i² e^{−2 λ_i t}  (eqs. 5, 7)
    L'(t)  = −Σ_i λ_i² a_i² e^{−2 λ_i t}

With p normalized (Σ p_i = E, the paper's Sec. 2.1) this is eq. 7 with p_i = i^−a / Σ_j j^−a.  The
paper prints eq. 7 with the *unnormalized* i^−a in the exponent and the prefactor,
L = (1/6) Σ_i i^−(a+2b) exp(−(2/3) t i^−a); that literal form is :func:`paper_eq7_loss` (and
``DiagonalTheory.from_config(cfg, paper_eq7=True)``): it is exactly this theory with p_i = i^−a
(``normalize='none'``, p_1 = 1), and it relates to the normalized theory (Σ p_i = 1, Z = Σ_j j^−a) by
L_normalized(t) = L_eq7(t / Z) / Z — a shift in log t and log L that leaves the exponent unchanged.

Accuracy: float64, relative error ~1e-15 for every t (see ``_numerics.exp_sums``); any N (features
are processed in chunks; N = 2^20 with 200 times takes ~0.3 s, 2^24 a few seconds).
"""

from __future__ import annotations

import math

import numpy as np

from supdyn.config import DataConfig
from supdyn.data import frequencies, teacher_diagonal
from supdyn.theory import _numerics as nm

LEARNED_THRESHOLD = 0.5


LOSS_FLOOR = 1e-280  # below this L(t) sits in float64 underflow and its exponent is meaningless


def local_exponent(t: np.ndarray, loss: np.ndarray, dloss: np.ndarray) -> np.ndarray:
    """α(t) = −d log L / d log t = −t L'(t) / L(t); NaN where L(t) < 1e-280 (float64 underflow)."""
    out = np.full(t.shape, np.nan)
    ok = loss > LOSS_FLOOR
    out[ok] = -t[ok] * dloss[ok] / loss[ok]
    return out


def _check_threshold(threshold: float) -> float:
    if not 0 < threshold < 1:
        raise ValueError(f"threshold: got {threshold!r}; allowed: 0 < threshold < 1 (fraction s_i/a_i)")
    return float(threshold)


class DiagonalTheory:
    """The diagonal theory for frequencies p (n_features,) and teacher diagonal a (n_features,).

    ``rates`` overrides λ_i (default p_i / 3).  All methods take a vector of times t = lr × steps
    (any order, t >= 0) and return arrays whose first axis is n_times.
    """

    def __init__(self, p: np.ndarray, teacher: np.ndarray, *, rates: np.ndarray | None = None) -> None:
        self.p = nm.as_frequencies(p)
        self.n_features = self.p.size
        self.teacher = nm.as_vector(teacher, "teacher", self.n_features)
        lam = self.p / 3.0 if rates is None else nm.as_vector(rates, "rates", self.n_features)
        if np.any(lam < 0):
            raise ValueError("rates: got negative entries; allowed: rates >= 0")
        self.rates = lam
        order = nm.ascending(lam)
        self._x = 2.0 * lam[order]  # ascending decay rates of the loss terms
        a2 = self.teacher[order] ** 2
        lam_s = lam[order]
        # rows: L weights ½ λ a², L' weights −λ² a²
        self._w = np.vstack([0.5 * lam_s * a2, -(lam_s * lam_s) * a2])
        self._lam_sorted = 0.5 * self._x

    @classmethod
    def from_config(cls, cfg: DataConfig, *, paper_eq7: bool = False) -> "DiagonalTheory":
        """From a DataConfig (frequencies and teacher as configured).

        paper_eq7=True: the literal eq. 7 — p_i = i^−a unnormalized (p_1 = 1) whatever
        ``cfg.normalize`` and ``cfg.density`` say; only for ``law='power'``.
        """
        teacher = teacher_diagonal(cfg)
        if paper_eq7:
            if cfg.law != "power":
                raise ValueError(f"paper_eq7: got law {cfg.law!r}; allowed: law 'power' (eq. 7 is the power law)")
            i = np.arange(1, cfg.n_features + 1, dtype=np.float64)
            return cls(i ** (-cfg.a), teacher)
        return cls(frequencies(cfg), teacher)

    @property
    def loss_at_zero(self) -> float:
        """L(0) = ½ Σ_i a_i² p_i / 3."""
        return float(0.5 * np.sum(self.rates * self.teacher**2))

    def loss(self, t: object) -> np.ndarray:
        """L(t) = ½ Σ_i λ_i a_i² e^{−2λ_i t} (eq. 7), shape (n_times,)."""
        return nm.exp_sums(self._x, self._w[:1], nm.as_times(t))[0]

    def loss_derivative(self, t: object) -> np.ndarray:
        """dL/dt = −Σ_i λ_i² a_i² e^{−2λ_i t}, shape (n_times,)."""
        return nm.exp_sums(self._x, self._w[1:], nm.as_times(t))[0]

    def loss_and_derivative(self, t: object) -> tuple[np.ndarray, np.ndarray]:
        s = nm.exp_sums(self._x, self._w, nm.as_times(t))
        return s[0], s[1]

    def local_exponent(self, t: object) -> np.ndarray:
        """−d log L / d log t = t Σ λ² a² e^{−2λt} / (½ Σ λ a² e^{−2λt}), shape (n_times,)."""
        t = nm.as_times(t)
        loss, dloss = self.loss_and_derivative(t)
        return local_exponent(t, loss, dloss)

    def learned_fraction(self, t: object) -> np.ndarray:
        """s_i(t) / a_i = 1 − e^{−λ_i t}, shape (n_times, n_features)."""
        t = nm.as_times(t)
        return -np.expm1(-np.outer(t, self.rates))

    def student_diagonal(self, t: object) -> np.ndarray:
        """s_i(t) = a_i (1 − e^{−λ_i t}) (eq. 6), shape (n_times, n_features)."""
        return self.learned_fraction(t) * self.teacher

    def per_feature_loss(self, t: object) -> np.ndarray:
        """L_i(t) = ½ λ_i a_i² e^{−2λ_i t} (the loss of output i), shape (n_times, n_features)."""
        t = nm.as_times(t)
        return 0.5 * self.rates * self.teacher**2 * np.exp(-2.0 * np.outer(t, self.rates))

    def n_learned(self, t: object, threshold: float = LEARNED_THRESHOLD) -> np.ndarray:
        """Number of features with s_i(t)/a_i >= threshold, i.e. λ_i t >= −ln(1 − threshold).

        The default threshold 1/2 counts features with λ_i t >= ln 2.  Shape (n_times,), int.
        """
        threshold = _check_threshold(threshold)
        t = nm.as_times(t)
        need = -math.log1p(-threshold)
        # λ t >= need  <=>  λ >= need / t (t = 0: nothing learned)
        cut = np.where(t > 0, need / np.where(t > 0, t, 1.0), np.inf)
        return (self.n_features - np.searchsorted(self._lam_sorted, cut, "left")).astype(np.int64)

    def critical_index(self, t: object) -> np.ndarray:
        """i_c(t): number of features with λ_i t >= 1 (the learned/unlearned boundary, paper eq. 11)."""
        t = nm.as_times(t)
        cut = np.where(t > 0, 1.0 / np.where(t > 0, t, 1.0), np.inf)
        return (self.n_features - np.searchsorted(self._lam_sorted, cut, "left")).astype(np.int64)


    def tail_share(self, t: object) -> np.ndarray:
        """Share of L(t) from the unlearned features, those with λ_i t < 1 (i > i_c(t), paper eq. 11):
        Σ_{λ_i t < 1} L_i(t) / L(t) with L_i of :meth:`per_feature_loss` (paper Sec. 5.1: "the total loss
        is dominated by the accumulated error of the … unlearned features in the tail"); shape (n_times,)."""
        t = nm.as_times(t)
        per = self.per_feature_loss(t)
        tail = np.outer(t, self.rates) < 1.0
        return np.sum(per * tail, axis=1) / np.sum(per, axis=1)


def paper_eq7_loss(a: float, b: float, n_features: int, t: object) -> np.ndarray:
    """The paper's eq. 7 verbatim: L(t) = (1/6) Σ_{i=1}^{N} i^−(a+2b) exp(−(2/3) t i^−a).

    Unnormalized frequencies i^−a (p_1 = 1) in both the exponent and the prefactor; direct evaluation
    in chunks (O(N · n_times)), used as an independent check of :class:`DiagonalTheory`.
    """
    t = nm.as_times(t)
    out = np.zeros(t.size)
    for c0 in range(0, n_features, nm.CHUNK):
        i = np.arange(c0 + 1, min(c0 + nm.CHUNK, n_features) + 1, dtype=np.float64)
        out += np.exp(-(2.0 / 3.0) * np.outer(t, i ** (-a))) @ (i ** (-(a + 2 * b)) / 6.0)
    return out


def diagonal_loss(p: np.ndarray, teacher: np.ndarray, t: object) -> np.ndarray:
    """L(t) = ½ Σ_i (p_i/3) a_i² e^{−2 p_i t/3} (eq. 7 with the given p), shape (n_times,)."""
    return DiagonalTheory(p, teacher).loss(t)


def diagonal_local_exponent(p: np.ndarray, teacher: np.ndarray, t: object) -> np.ndarray:
    """−d log L / d log t of the diagonal theory, shape (n_times,)."""
    return DiagonalTheory(p, teacher).local_exponent(t)

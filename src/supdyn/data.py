"""Sparse features, teacher and the batched sampler.

Features (paper Sec. 2.1, eq. 1): x_i = u_i v_i with u_i ~ Bernoulli(p_i) and v_i ~ U(0, 1), so
    E[x_i] = p_i / 2,   E[x_i²] = p_i / 3,   E[x_i x_j] = p_i p_j / 4  (i ≠ j).
Teacher (eq. 2): y* = A x with A = diag(a_i), a_i = i^-b.

Dimension names used everywhere: ``n_models`` (independent models trained together), ``batch``,
``n_features`` (N) and ``d_hidden`` (K).

The sampler draws, for each model, the active set of a (batch × n_features) Bernoulli grid without
touching every cell: per feature the number of active samples is Binomial(batch, p_i), and the
active samples are a uniform subset of that size (drawn with replacement, duplicates redrawn — a
permutation-invariant procedure, hence exactly uniform). Cost O(n_features + batch·E) per model.
Every model draws from its own ``torch.Generator``, so a model's data do not depend on which other
models it is trained with. On the CPU the duplicate bookkeeping runs in NumPy (small-array torch ops
cost ~5 µs each); the random draws, their order and hence the samples are the same bit for bit as
the torch version used on other devices.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from supdyn.config import ConfigError, DataConfig, RunConfig


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


def second_moment(p: np.ndarray) -> np.ndarray:
    """Full second moment Σ = E[x xᵀ] = diag(p/3 − p²/4) + μμᵀ, shape (n_features, n_features)."""
    mu, d = moments(p)
    sigma = np.outer(mu, mu)
    sigma[np.diag_indices_from(sigma)] = d
    return sigma


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
    An estimate: ReLU students tolerate somewhat more, large-noise small batches somewhat less.
    """
    lam = max_eigenvalue(frequencies(cfg.data))
    if cfg.variant != "none":
        lam *= (1.0 + math.sqrt(cfg.data.n_features / cfg.model.d_hidden)) ** 2
    return 2.0 / lam if lam > 0 else math.inf


@dataclass(frozen=True)
class SparseBatch:
    """Samples of ``n_models`` models in coordinate form.

    row:    (nnz,) int64, flattened sample index  m * batch + s  in [0, n_models * batch)
    col:    (nnz,) int64, feature index j in [0, n_features)
    value:  (nnz,) float, x_{m,s,j} ∈ (0, 1)
    """

    row: torch.Tensor
    col: torch.Tensor
    value: torch.Tensor
    n_models: int
    batch: int
    n_features: int

    @property
    def model(self) -> torch.Tensor:
        """(nnz,) model index of every entry."""
        return torch.div(self.row, self.batch, rounding_mode="floor")

    @property
    def flat_col(self) -> torch.Tensor:
        """(nnz,) index m * n_features + j into a per-model feature axis flattened over models."""
        return self.model * self.n_features + self.col

    def dense(self) -> torch.Tensor:
        """Dense x, shape (n_models, batch, n_features)."""
        x = torch.zeros(self.n_models * self.batch * self.n_features, dtype=self.value.dtype,
                        device=self.value.device)
        x[self.row * self.n_features + self.col] = self.value
        return x.view(self.n_models, self.batch, self.n_features)  # (n_models, batch, n_features)

    def select(self, start: int, stop: int) -> "SparseBatch":
        """Samples start..stop-1 of every model (used to evaluate in chunks)."""
        s = self.row % self.batch
        keep = (s >= start) & (s < stop)
        m = self.row[keep] // self.batch
        row = m * (stop - start) + (s[keep] - start)
        return SparseBatch(row, self.col[keep], self.value[keep], self.n_models, stop - start,
                           self.n_features)


DENSE_FILL = 0.75
"""A feature active in more than this fraction of a batch's samples has its *inactive* samples drawn
instead (then complemented): rejection sampling of distinct positions is a coupon-collector loop that
gets slow as the fill approaches 1 (p_1 = 1 with unnormalized p_i = i^-a)."""


def _active_set(p: torch.Tensor, batch: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Active (sample, feature) pairs of a batch × N Bernoulli(p_j) grid for one model.

    Returns (pos (nnz,), col (nnz,)), int64, sorted by feature. On the CPU the bookkeeping runs in
    NumPy (same random draws from ``gen``, same result, bit for bit; about 2× faster).
    """
    if p.device.type == "cpu":
        return _active_set_numpy(p, batch, gen)
    return _active_set_torch(p, batch, gen)


def _active_set_torch(p: torch.Tensor, batch: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`_active_set` in torch ops, for any device (used off the CPU)."""
    n = p.numel()
    counts = torch.binomial(torch.full_like(p, float(batch)), p, generator=gen).long()  # (n_features,)
    dense = counts > DENSE_FILL * batch
    drawn = torch.where(dense, batch - counts, counts)  # dense features: draw their inactive samples
    col = torch.repeat_interleave(torch.arange(n, device=p.device), drawn)
    pos = torch.randint(batch, col.shape, generator=gen, device=p.device)
    while True:  # redraw duplicate (feature, sample) pairs until the subset of each feature is distinct
        key = col * batch + pos
        order = torch.argsort(key, stable=True)
        k_sorted = key[order]
        dup = torch.zeros_like(key, dtype=torch.bool)
        dup[order[1:]] = k_sorted[1:] == k_sorted[:-1]  # every repeat of a key after its first
        n_dup = int(dup.sum())
        if n_dup == 0:
            break
        pos[dup] = torch.randint(batch, (n_dup,), generator=gen, device=p.device)
    if not bool(dense.any()):
        return pos, col
    # dense features: the active samples are the complement of the drawn ones, in increasing order
    keep = torch.repeat_interleave(dense, drawn)  # (nnz_drawn,) drawn entry belongs to a dense feature
    dense_cols = torch.nonzero(dense).squeeze(1)  # (n_dense,)
    slot = torch.cumsum(dense.long(), 0) - 1  # feature → row of `free` (for dense features)
    free = torch.ones(dense_cols.numel(), batch, dtype=torch.bool, device=p.device)  # (n_dense, batch)
    free[slot[col[keep]], pos[keep]] = False
    r, dpos = torch.nonzero(free, as_tuple=True)  # sorted by (feature, sample)
    dcol = dense_cols[r]
    col, pos = torch.cat([col[~keep], dcol]), torch.cat([pos[~keep], dpos])
    order = torch.argsort(col, stable=True)
    return pos[order], col[order]


def _active_set_numpy(p: torch.Tensor, batch: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`_active_set` for the CPU: identical draws, bookkeeping in NumPy (fewer op overheads)."""
    counts = torch.binomial(torch.full_like(p, float(batch)), p, generator=gen).long().numpy()
    dense = counts > DENSE_FILL * batch
    drawn = np.where(dense, batch - counts, counts)  # dense features: draw their inactive samples
    col = np.repeat(np.arange(p.numel(), dtype=np.int64), drawn)  # (nnz_drawn,) sorted by feature
    pos_t = torch.randint(batch, (col.size,), generator=gen)
    pos = pos_t.numpy()  # (nnz,) shares memory with pos_t
    dup = np.zeros(col.size, dtype=bool)
    while True:
        key = col * batch + pos
        order = np.argsort(key, kind="stable")
        k_sorted = key[order]
        dup[:] = False
        dup[order[1:]] = k_sorted[1:] == k_sorted[:-1]  # every repeat of a key after its first
        n_dup = int(np.count_nonzero(dup))
        if n_dup == 0:
            break
        pos[dup] = torch.randint(batch, (n_dup,), generator=gen).numpy()
    if not dense.any():
        return pos_t, torch.from_numpy(col)
    # dense features: the active samples are the complement of the drawn ones, in increasing order
    keep = np.repeat(dense, drawn)  # (nnz_drawn,) drawn entry belongs to a dense feature
    cols, poss = [col[~keep]], [pos[~keep]]
    for j in np.flatnonzero(dense):
        free = np.ones(batch, dtype=bool)
        free[pos[keep & (col == j)]] = False
        act = np.flatnonzero(free)
        cols.append(np.full(act.size, j, dtype=np.int64))
        poss.append(act.astype(np.int64))
    col, pos = np.concatenate(cols), np.concatenate(poss)
    order = np.argsort(col, kind="stable")
    return torch.from_numpy(pos[order]), torch.from_numpy(col[order])


def sample(p: torch.Tensor, batch: int, generators: list[torch.Generator],
           dtype: torch.dtype = torch.float32) -> SparseBatch:
    """Draw ``batch`` samples for each model.

    p: (n_models, n_features) float64 frequencies; one generator per model (its data stream).
    """
    n_models, n_features = p.shape
    rows, cols, vals = [], [], []
    for m in range(n_models):
        gen = generators[m]
        pos, col = _active_set(p[m], batch, gen)
        vals.append(torch.rand(col.shape, generator=gen, dtype=torch.float64, device=p.device).to(dtype))
        rows.append(pos + m * batch)
        cols.append(col)
    return SparseBatch(torch.cat(rows), torch.cat(cols), torch.cat(vals), n_models, batch, n_features)


def teacher_output(x: SparseBatch, teacher: torch.Tensor) -> torch.Tensor:
    """Values of y* = A x at the active entries: (nnz,) = a_{m, j} x_{m, s, j}.

    teacher: (n_models, n_features). y* is zero wherever x is.
    """
    return teacher.reshape(-1)[x.flat_col] * x.value  # flat (n_models * n_features,) lookup


def torch_generator(seed: int, device: str | torch.device = "cpu") -> torch.Generator:
    """A fresh ``torch.Generator`` seeded with ``seed`` (no global RNG is touched)."""
    gen = torch.Generator(device=device)
    gen.manual_seed(int(seed) % (2**63))
    return gen


STREAMS = ("embedding", "init", "train", "eval")


def stream_seed(seed: int, stream: str) -> int:
    """Seed of one named random stream of a run (embedding W, init, train data, eval data).

    Derived by hashing, so streams are independent of each other and of the other runs' seeds.
    """
    if stream not in STREAMS:
        raise ValueError(f"stream: got {stream!r}; allowed: one of {', '.join(STREAMS)}")
    import hashlib

    digest = hashlib.sha256(f"supdyn:{int(seed)}:{stream}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1
